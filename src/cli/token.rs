//! `idgate scim-token …`: SCIM tokens, shown once, hashed at rest.

use base64::Engine;
use clap::Subcommand;

use super::now;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::store::{Store, orgs};

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

/// A new SCIM token: a recognisable prefix and 256 random bits.
pub fn new_token() -> String {
    let bytes: [u8; 32] = rand::random();
    format!(
        "idgs_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

pub fn token_command(store: &Store, config: &Config, cmd: &TokenCommand) -> Result<i32> {
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
        TokenCommand::Revoke { org, name } => super::revoke_named(
            store,
            org,
            name,
            "scim-token.revoke",
            orgs::revoke_token,
            ("", "token"),
        ),
    }
}
