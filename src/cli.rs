//! The command line. Every subcommand works on the store directly; a running server sees the
//! changes at once because it reads org settings and tokens from the store per request.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::clock::{Clock, timestamp};
use crate::config::{Config, Overrides};
use crate::error::{Error, Result};
use crate::identity;
use crate::store::{Store, orgs};

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
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve HTTP (SCIM, health, metrics).
    Serve {
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
        #[arg(long, value_name = "URL")]
        public_url: Option<String>,
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

#[derive(Subcommand, Debug)]
pub enum OrgCommand {
    /// Create an organization.
    Create {
        slug: String,
        #[arg(long)]
        name: String,
        /// A domain of the org's email addresses (repeatable).
        #[arg(long = "domain", value_name = "DOMAIN")]
        domains: Vec<String>,
    },
    /// List organizations.
    List,
    /// Show an organization's settings, domains, role mappings and tokens.
    Show { slug: String },
    /// Change an organization's settings.
    Set(SetArgs),
    /// Map an IdP role value to a role (the value is trimmed and lowercased).
    RoleMap {
        slug: String,
        idp_value: String,
        role: String,
    },
    /// Remove a role mapping.
    RoleUnmap { slug: String, idp_value: String },
}

#[derive(Args, Debug)]
pub struct SetArgs {
    pub slug: String,
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long)]
    pub scim: Option<OnOff>,
    #[arg(long)]
    pub group_sync: Option<OnOff>,
    #[arg(long)]
    pub strict_attributes: Option<OnOff>,
    /// `roles`, or a custom attribute such as `roleName` or `urn:…:User:roleName`.
    #[arg(long, value_name = "roles|NAME")]
    pub role_attribute: Option<String>,
    /// Role for users whose value has no mapping (`none` clears it).
    #[arg(long, value_name = "ROLE")]
    pub default_role: Option<String>,
    /// An attribute every user must carry (repeatable; replaces the list). `--require none` clears it.
    #[arg(long = "require", value_name = "ATTRIBUTE")]
    pub require: Vec<String>,
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create a token; prints it alone on stdout (shown once).
    Create {
        #[arg(long)]
        org: String,
        #[arg(long)]
        name: String,
    },
    /// List an org's tokens (never the secrets).
    List {
        #[arg(long)]
        org: String,
    },
    /// Revoke a token by name; it fails at once.
    Revoke {
        #[arg(long)]
        org: String,
        name: String,
    },
}

/// Loads the layered configuration for `cli`, with `serve`'s own flags on top.
pub fn load_config(cli: &Cli) -> std::result::Result<Config, Vec<String>> {
    let mut flags = Overrides {
        data_dir: cli.data_dir.clone(),
        log_format: cli.log_format.clone(),
        ..Overrides::default()
    };
    if let Command::Serve { listen, public_url } = &cli.command {
        flags.listen.clone_from(listen);
        flags.public_url.clone_from(public_url);
    }
    let env: Vec<(String, String)> = std::env::vars().collect();
    Config::load(cli.config.as_deref(), &env, &flags)
}

fn open_store(config: &Config) -> Result<Store> {
    Store::open(&config.database_path(), 2, 1)
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
        Command::Org(cmd) => org_command(&open_store(config)?, config, cmd),
        Command::ScimToken(cmd) => token_command(&open_store(config)?, config, cmd),
    }
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

fn now() -> String {
    timestamp(Clock::System.now())
}

fn org_command(store: &Store, config: &Config, cmd: &OrgCommand) -> Result<i32> {
    match cmd {
        OrgCommand::Create {
            slug,
            name,
            domains,
        } => {
            if !identity::is_slug(slug) {
                return Err(Error::Invalid(format!(
                    "slug {slug:?}: use 1-63 lowercase letters, digits and hyphens"
                )));
            }
            let domains = domains
                .iter()
                .map(|d| {
                    identity::normalize_domain(d)
                        .ok_or_else(|| Error::Invalid(format!("{d:?} is not a domain name")))
                })
                .collect::<Result<Vec<_>>>()?;
            let org = store.write_now(|c| {
                let org = orgs::create_org(c, slug, name, &domains, &now())?;
                orgs::audit(
                    c,
                    Some(org.id),
                    &now(),
                    "cli",
                    "org.create",
                    Some(slug),
                    None,
                )?;
                Ok(org)
            })?;
            println!("{}", org.slug);
            eprintln!(
                "created org {:?}. Next: idgate scim-token create --org {} --name entra",
                org.name, org.slug
            );
            Ok(0)
        }
        OrgCommand::List => {
            let list = store.read_now(orgs::list_orgs)?;
            for org in list {
                let domains = store.read_now(|c| orgs::domains(c, org.id))?;
                let names: Vec<_> = domains.iter().map(|d| d.domain.as_str()).collect();
                println!("{}\t{}\t{}", org.slug, org.name, names.join(","));
            }
            Ok(0)
        }
        OrgCommand::Show { slug } => {
            let (org, domains, maps, tokens) = store.read_now(|c| {
                let org = orgs::require_org(c, slug)?;
                Ok((
                    org.clone(),
                    orgs::domains(c, org.id)?,
                    orgs::role_mappings(c, org.id)?,
                    orgs::list_tokens(c, org.id)?,
                ))
            })?;
            print_org(config, &org, &domains, &maps, &tokens);
            Ok(0)
        }
        OrgCommand::Set(args) => set_org(store, args),
        OrgCommand::RoleMap {
            slug,
            idp_value,
            role,
        } => {
            let key = idp_value.trim().to_lowercase();
            if key.is_empty() || role.trim().is_empty() {
                return Err(Error::Invalid(
                    "the IdP value and the role must not be empty".into(),
                ));
            }
            let n = store.write_now(|c| {
                let org = orgs::require_org(c, slug)?;
                orgs::set_role_mapping(c, org.id, &key, role.trim())?;
                orgs::audit(
                    c,
                    Some(org.id),
                    &now(),
                    "cli",
                    "org.role-map",
                    Some(&key),
                    Some(role),
                )?;
                orgs::reresolve_roles(c, org.id)
            })?;
            eprintln!("{key:?} → {:?}; {n} users re-resolved", role.trim());
            Ok(0)
        }
        OrgCommand::RoleUnmap { slug, idp_value } => {
            let key = idp_value.trim().to_lowercase();
            let removed = store.write_now(|c| {
                let org = orgs::require_org(c, slug)?;
                let removed = orgs::remove_role_mapping(c, org.id, &key)?;
                orgs::audit(
                    c,
                    Some(org.id),
                    &now(),
                    "cli",
                    "org.role-unmap",
                    Some(&key),
                    None,
                )?;
                orgs::reresolve_roles(c, org.id)?;
                Ok(removed)
            })?;
            if removed {
                eprintln!("removed the mapping of {key:?}");
                Ok(0)
            } else {
                eprintln!("no mapping for {key:?}");
                Ok(1)
            }
        }
    }
}

fn print_org(
    config: &Config,
    org: &orgs::Org,
    domains: &[orgs::Domain],
    maps: &[(String, String)],
    tokens: &[orgs::TokenInfo],
) {
    let on = |b: bool| if b { "on" } else { "off" };
    println!("slug:              {}", org.slug);
    println!("name:              {}", org.name);
    println!("created:           {}", org.created);
    for d in domains {
        println!(
            "domain:            {}{}",
            d.domain,
            if d.sso_only { " (SSO only)" } else { "" }
        );
    }
    println!("scim:              {}", on(org.scim_enabled));
    println!("scim tenant url:   {}", config.scim_base_url());
    println!("group sync:        {}", on(org.group_sync));
    println!("strict attributes: {}", on(org.strict_attributes));
    println!("role attribute:    {}", org.role_attribute);
    println!(
        "default role:      {}",
        org.default_role.as_deref().unwrap_or("(none)")
    );
    println!(
        "required:          {}",
        if org.required_attrs.is_empty() {
            "(none)".to_string()
        } else {
            org.required_attrs.join(", ")
        }
    );
    for (idp, role) in maps {
        println!("role map:          {idp} → {role}");
    }
    for t in tokens {
        let state = match &t.revoked {
            Some(at) => format!("revoked {at}"),
            None => format!("last used {}", t.last_used.as_deref().unwrap_or("never")),
        };
        println!(
            "token:             {} (created {}, {state})",
            t.name, t.created
        );
    }
}

fn set_org(store: &Store, a: &SetArgs) -> Result<i32> {
    let change = orgs::SettingsChange {
        name: a.name.clone(),
        scim_enabled: a.scim.map(bool::from),
        group_sync: a.group_sync.map(bool::from),
        strict_attributes: a.strict_attributes.map(bool::from),
        role_attribute: match &a.role_attribute {
            Some(r) if r.trim().is_empty() || r.contains(char::is_whitespace) => {
                return Err(Error::Invalid(format!(
                    "role attribute {r:?} is not an attribute name"
                )));
            }
            other => other.clone(),
        },
        default_role: a.default_role.as_ref().map(|r| {
            let r = r.trim();
            (!r.is_empty() && r != "none").then(|| r.to_string())
        }),
        required_attrs: (!a.require.is_empty()).then(|| {
            a.require
                .iter()
                .map(|r| r.trim().to_string())
                .filter(|r| !r.is_empty() && r != "none")
                .collect()
        }),
    };
    store.write_now(|c| {
        let org = orgs::require_org(c, &a.slug)?;
        orgs::update_settings(c, org.id, &change)?;
        orgs::audit(
            c,
            Some(org.id),
            &now(),
            "cli",
            "org.set",
            Some(&a.slug),
            Some(&format!("{change:?}")),
        )?;
        if change.role_attribute.is_some() || change.default_role.is_some() {
            orgs::reresolve_roles(c, org.id)?;
        }
        Ok(())
    })?;
    eprintln!("updated {}", a.slug);
    Ok(0)
}

/// A new SCIM token: a recognisable prefix and 256 random bits.
pub fn new_token() -> String {
    let bytes: [u8; 32] = rand::random();
    format!(
        "idgs_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

fn token_command(store: &Store, config: &Config, cmd: &TokenCommand) -> Result<i32> {
    match cmd {
        TokenCommand::Create { org, name } => {
            let name = name.trim();
            if name.is_empty() {
                return Err(Error::Invalid("the token name must not be empty".into()));
            }
            let token = new_token();
            store.write_now(|c| {
                let o = orgs::require_org(c, org)?;
                orgs::create_token(c, o.id, name, &token, &now())?;
                orgs::audit(
                    c,
                    Some(o.id),
                    &now(),
                    "cli",
                    "scim-token.create",
                    Some(name),
                    None,
                )
            })?;
            println!("{token}");
            eprintln!(
                "This is the only time the token is shown. In Entra: Provisioning → Admin \
                 Credentials → Tenant URL {} and Secret Token = the line above.",
                config.scim_base_url()
            );
            Ok(0)
        }
        TokenCommand::List { org } => {
            let tokens = store.read_now(|c| {
                let o = orgs::require_org(c, org)?;
                orgs::list_tokens(c, o.id)
            })?;
            for t in tokens {
                println!(
                    "{}\tcreated {}\tlast used {}\t{}",
                    t.name,
                    t.created,
                    t.last_used.as_deref().unwrap_or("never"),
                    t.revoked
                        .map_or("live".to_string(), |r| format!("revoked {r}"))
                );
            }
            Ok(0)
        }
        TokenCommand::Revoke { org, name } => {
            let revoked = store.write_now(|c| {
                let o = orgs::require_org(c, org)?;
                let revoked = orgs::revoke_token(c, o.id, name, &now())?;
                if revoked {
                    orgs::audit(
                        c,
                        Some(o.id),
                        &now(),
                        "cli",
                        "scim-token.revoke",
                        Some(name),
                        None,
                    )?;
                }
                Ok(revoked)
            })?;
            if revoked {
                eprintln!("revoked {name:?}");
                Ok(0)
            } else {
                eprintln!("no live token named {name:?} in {org}");
                Ok(1)
            }
        }
    }
}
