//! The command line. Every subcommand works on the store directly; a running server sees the
//! changes at once because it reads org settings and tokens from the store per request.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

mod account;
mod api_key;
mod oidc;
mod org;
mod saml;
mod saml_attributes;
mod saml_keys;
mod saml_url;
mod token;
mod webhook;

pub use api_key::{SCOPES as API_KEY_SCOPES, new_key as new_api_key};
pub use org::{OrgCommand, SetArgs};
pub use token::{TokenCommand, new_token};

use crate::clock::{Clock, timestamp};
use crate::config::{Config, Overrides};
use crate::error::{Error, Result};
use crate::store::Store;

#[derive(Parser, Debug)]
#[command(
    name = "idgate",
    version,
    about = "SAML SP and SCIM 2.0 server for Microsoft Entra ID and other IdPs"
)]
pub struct Cli {
    /// Configuration file (default: ./gateway.toml when present).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Directory of the SQLite store.
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Log format: pretty or json.
    #[arg(long, global = true, value_name = "FORMAT")]
    pub log_format: Option<String>,
    /// The public base URL (`serve`: the one to serve under; other commands: the one the
    /// values to paste into Entra are built from, instead of the running server's).
    #[arg(long, global = true, value_name = "URL")]
    pub public_url: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve HTTP (SCIM, SAML sign-in, sessions, health, metrics).
    Serve {
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
    },
    /// Create or upgrade the store's schema, then exit.
    Migrate,
    /// Check the configuration and list every problem (exit 1 if any).
    CheckConfig,
    /// Ask a running server's /healthz (exit 0 when healthy).
    Healthcheck,
    /// Write a consistent copy of the store to PATH (VACUUM INTO).
    Backup { path: PathBuf },
    /// Manage organizations.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Manage SCIM tokens.
    #[command(subcommand, name = "scim-token")]
    ScimToken(TokenCommand),
    /// Manage local password accounts.
    #[command(subcommand)]
    User(account::UserCommand),
    /// Manage the session signing keys.
    #[command(subcommand)]
    Keys(account::KeysCommand),
    /// Manage OAuth clients (client credentials) for the SCIM API.
    #[command(subcommand, name = "oauth-client")]
    OauthClient(account::ClientCommand),
    /// Manage operator admins of the admin web UI.
    #[command(subcommand)]
    Admin(account::AdminCommand),
    /// Manage the product API's keys (directory, event feed).
    #[command(subcommand, name = "api-key")]
    ApiKey(api_key::ApiKeyCommand),
    /// Manage the product's webhook endpoints (Standard Webhooks).
    #[command(subcommand)]
    Webhook(webhook::WebhookCommand),
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum OnOff {
    On,
    Off,
}

impl From<OnOff> for bool {
    fn from(v: OnOff) -> bool {
        matches!(v, OnOff::On)
    }
}

/// Loads the layered configuration for `cli`, with `serve`'s own flags on top.
pub fn load_config(cli: &Cli) -> std::result::Result<Config, Vec<String>> {
    let mut flags = Overrides {
        data_dir: cli.data_dir.clone(),
        log_format: cli.log_format.clone(),
        public_url: cli.public_url.clone(),
        ..Overrides::default()
    };
    if let Command::Serve { listen } = &cli.command {
        flags.listen.clone_from(listen);
    }
    let env: Vec<(String, String)> = std::env::vars().collect();
    Config::load(cli.config.as_deref(), &env, &flags)
}

fn open_store(config: &Config) -> Result<Store> {
    Store::open_config(config, 2)
}

/// Runs every subcommand except `serve`; returns the process exit code.
pub fn run(cli: &Cli, config: &Config) -> Result<i32> {
    match &cli.command {
        Command::Serve { .. } => Err(Error::internal("serve is run by main")),
        Command::CheckConfig => {
            eprintln!(
                "configuration OK (store: {})",
                config.database_path().display()
            );
            Ok(0)
        }
        Command::Migrate => {
            open_store(config)?;
            eprintln!(
                "store at {} is up to date",
                config.database_path().display()
            );
            Ok(0)
        }
        Command::Healthcheck => healthcheck(config.listen),
        Command::Backup { path } => {
            open_store(config)?.backup(path)?;
            eprintln!("backup written to {}", path.display());
            Ok(0)
        }
        Command::Org(cmd) => with_served_url(cli, config, |s, c| org::org_command(s, c, cmd)),
        Command::ScimToken(cmd) => {
            with_served_url(cli, config, |s, c| token::token_command(s, c, cmd))
        }
        Command::User(cmd) => account::user_command(&open_store(config)?, cmd),
        Command::Keys(cmd) => account::keys_command(&open_store(config)?, config, cmd),
        Command::OauthClient(cmd) => {
            with_served_url(cli, config, |s, c| account::client_command(s, c, cmd))
        }
        Command::Admin(cmd) => {
            with_served_url(cli, config, |s, c| account::admin_command(s, c, cmd))
        }
        Command::ApiKey(cmd) => api_key::api_key_command(&open_store(config)?, cmd),
        Command::Webhook(cmd) => webhook::webhook_command(&open_store(config)?, config, cmd),
    }
}

/// Runs a command that may print values to paste into Entra (or a URL to open), built from
/// `public_url`: `--public-url` when given, else the one the server on this store last
/// started with (what Entra must reach), else this command's configuration. Says which on
/// stderr, so that the values never silently assume another URL than the server's.
fn with_served_url(
    cli: &Cli,
    config: &Config,
    command: impl FnOnce(&Store, &Config) -> Result<i32>,
) -> Result<i32> {
    let store = open_store(config)?;
    let served = store.read_now(|c| crate::store::server::get(c, crate::app::PUBLIC_URL))?;
    let mut config = config.clone();
    let why = match (&cli.public_url, served) {
        (Some(_), _) => "from --public-url".to_string(),
        (None, Some(s)) if s.value == config.public_url => {
            format!("the server on this store started with it at {}", s.updated)
        }
        (None, Some(s)) => {
            let why = format!(
                "the server on this store started with it at {}; this command's configuration \
                 says {} (use --public-url to choose)",
                s.updated, config.public_url
            );
            config.public_url = s.value;
            why
        }
        (None, None) => {
            "this command's configuration; no server has started on this store yet".to_string()
        }
    };
    if shows_urls(&cli.command) {
        eprintln!("public_url: {} ({why})", config.public_url);
    }
    command(&store, &config)
}

/// The commands whose output contains URLs built from `public_url`.
fn shows_urls(command: &Command) -> bool {
    matches!(
        command,
        Command::Org(OrgCommand::Show { .. } | OrgCommand::Saml(_) | OrgCommand::Oidc(_))
            | Command::ScimToken(TokenCommand::Create { .. })
            | Command::OauthClient(account::ClientCommand::Create { .. })
            | Command::Admin(
                account::AdminCommand::Create { .. } | account::AdminCommand::SetPassword { .. }
            )
    )
}

fn healthcheck(listen: SocketAddr) -> Result<i32> {
    let mut addr = listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let probe = || -> std::io::Result<String> {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(3))?;
        s.set_read_timeout(Some(Duration::from_secs(3)))?;
        s.write_all(b"GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
        let mut out = String::new();
        s.read_to_string(&mut out)?;
        Ok(out)
    };
    match probe() {
        Ok(resp) if resp.starts_with("HTTP/1.0 200") || resp.starts_with("HTTP/1.1 200") => {
            eprintln!("healthy: {addr}");
            Ok(0)
        }
        Ok(resp) => {
            eprintln!("unhealthy: {}", resp.lines().next().unwrap_or(""));
            Ok(1)
        }
        Err(e) => {
            eprintln!("unreachable: {addr}: {e}");
            Ok(1)
        }
    }
}

/// Revokes a named credential of an org (SCIM token, OAuth client) with an audit row.
/// `say` = (what to add after "revoked NAME", what the credential is called).
fn revoke_named(
    store: &Store,
    org: &str,
    name: &str,
    action: &str,
    revoke: fn(&crate::store::db::Conn, i64, &str, &str) -> Result<bool>,
    say: (&str, &str),
) -> Result<i32> {
    let revoked = store.write_now(|c| {
        let o = crate::store::orgs::require_org(c, org)?;
        let revoked = revoke(c, o.id, name, &now())?;
        if revoked {
            crate::store::orgs::audit(c, Some(o.id), &now(), "cli", action, Some(name), None)?;
        }
        Ok(revoked)
    })?;
    if revoked {
        eprintln!("revoked {name:?}{}", say.0);
        Ok(0)
    } else {
        eprintln!("no live {} named {name:?} in {org}", say.1);
        Ok(1)
    }
}

pub(crate) fn now() -> String {
    timestamp(Clock::System.now())
}
