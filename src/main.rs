use std::process::ExitCode;

use clap::Parser;
use idgate::cli::{self, Cli, Command};
use idgate::clock::Clock;
use idgate::{Application, telemetry};

fn main() -> ExitCode {
    let cli = Cli::parse();
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
