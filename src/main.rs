use std::process::ExitCode;

use clap::Parser;
use idgate::cli::{self, Cli, Command};
use idgate::clock::Clock;
use idgate::{Application, telemetry};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if matches!(cli.command, Command::Serve { .. }) {
        bound_malloc_arenas();
    }
    let config = match cli::load_config(&cli) {
        Ok(c) => c,
        Err(problems) => {
            eprintln!("configuration problems:");
            for p in problems {
                eprintln!("  - {p}");
            }
            return ExitCode::from(1);
        }
    };
    telemetry::init(config.log_format, &config.log_level);
    if !matches!(cli.command, Command::Serve { .. }) {
        return match cli::run(&cli, &config) {
            Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(1)
            }
        };
    }
    // libxml2 and xmlsec start on the main thread, before any worker exists.
    if let Err(e) = idgate::saml::sp::init() {
        eprintln!("error: {e}");
        return ExitCode::from(1);
    }
    let result = actix_web::rt::System::new().block_on(async move {
        let app = Application::build(config.clone(), Clock::System)?;
        eprintln!(
            "idgate is serving on http://{}:{} (public URL {}, store {})",
            config.listen.ip(),
            app.port(),
            config.public_url,
            match &config.store_url {
                Some(_) => "PostgreSQL (store_url)".to_string(),
                None => config.database_path().display().to_string(),
            }
        );
        eprintln!(
            "next: in another terminal, create an operator admin (password on stdin) and sign in \
             to the admin UI at {}/admin:\n  \
             ./target/release/idgate admin create you@example.com\n\
             or work from the command line:\n  \
             ./target/release/idgate org create acme --name \"Acme\" --domain acme.com\n  \
             ./target/release/idgate scim-token create --org acme --name entra\n\
             then point Entra's provisioning at {} with that token (see README).",
            config.public_url,
            config.scim_base_url()
        );
        app.run_until_stopped()
            .await
            .map_err(idgate::error::Error::internal)
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

/// glibc's malloc gives every thread that allocates an arena of its own, up to eight per
/// core, and each arena keeps much of what was freed in it. The server's blocking threads
/// (reads, one per pooled connection) each built pages of users in their own arena: at
/// 1,000,000 users the paging benchmark peaked at 96-112 MiB, over the 100 MiB target, and
/// at 77-88 MiB with four arenas (docs/PERFORMANCE.md). glibc reads `MALLOC_ARENA_MAX`
/// when the process starts, and setting it from inside (`mallopt`, or `set_var` once
/// running) takes `unsafe`, which this crate forbids: so `serve` starts itself again once,
/// same process id and arguments, with the variable set. A value the operator set is kept.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn bound_malloc_arenas() {
    use std::os::unix::process::CommandExt;
    const ARENAS: &str = "4";
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    // Returns only if the exec failed: serve as we are.
    let err = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env("MALLOC_ARENA_MAX", ARENAS)
        .exec();
    eprintln!("warning: could not restart with MALLOC_ARENA_MAX={ARENAS} ({err}); serving without");
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn bound_malloc_arenas() {}
