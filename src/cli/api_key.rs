//! `idgate api-key …`: keys for the product API (directory, event feed), shown once.

use base64::Engine;
use clap::Subcommand;

use super::now;
use crate::error::{Error, Result};
use crate::store::api_keys::{self, NewKey};
use crate::store::{Store, orgs};

/// What a key may be allowed.
pub const SCOPES: [&str; 3] = ["directory:read", "events:read", "webhooks:write"];

#[derive(Subcommand, Debug)]
pub enum ApiKeyCommand {
    /// Create a key; prints it alone on stdout (shown once).
    Create {
        #[arg(long)]
        name: String,
        /// Comma-separated: directory:read, events:read, webhooks:write.
        #[arg(long, value_delimiter = ',', required = true)]
        scope: Vec<String>,
        /// Restrict the key to these orgs (repeatable); without it the key sees every org.
        #[arg(long = "org")]
        orgs: Vec<String>,
        /// Days until the key stops working.
        #[arg(long)]
        expires_days: Option<u32>,
    },
    /// List the keys (never the keys themselves).
    List,
    /// Revoke a key by name; it fails at once.
    Revoke { name: String },
}

/// A new key: a recognisable prefix and 256 random bits.
pub fn new_key() -> String {
    let bytes: [u8; 32] = rand::random();
    format!(
        "idgk_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

pub fn api_key_command(store: &Store, cmd: &ApiKeyCommand) -> Result<i32> {
    match cmd {
        ApiKeyCommand::Create {
            name,
            scope,
            orgs: slugs,
            expires_days,
        } => {
            let name = name.trim();
            if name.is_empty() {
                return Err(Error::Invalid("the key name must not be empty".into()));
            }
            let scopes: Vec<String> = scope.iter().map(|s| s.trim().to_string()).collect();
            if let Some(bad) = scopes.iter().find(|s| !SCOPES.contains(&s.as_str())) {
                return Err(Error::Invalid(format!(
                    "unknown scope {bad:?}; the scopes are {}",
                    SCOPES.join(", ")
                )));
            }
            let expires = expires_days.map(|d| {
                crate::clock::timestamp(
                    crate::clock::Clock::System.now() + time::Duration::days(i64::from(d)),
                )
            });
            let key = new_key();
            store.write_now(|c| {
                let ids = slugs
                    .iter()
                    .map(|s| orgs::require_org(c, s).map(|o| o.id))
                    .collect::<Result<Vec<_>>>()?;
                let new = NewKey {
                    name,
                    key: &key,
                    scopes: &scopes,
                    org_ids: (!ids.is_empty()).then_some(ids.as_slice()),
                    created: &now(),
                    expires: expires.as_deref(),
                };
                api_keys::create(c, &new)?;
                orgs::audit(c, None, &now(), "cli", "api-key.create", Some(name), None)
            })?;
            println!("{key}");
            eprintln!(
                "This is the only time the key is shown. Send it as `Authorization: Bearer <key>` \
                 to /api/v1 ({}).",
                scopes.join(", ")
            );
            Ok(0)
        }
        ApiKeyCommand::List => {
            let (keys, all) = store.read_now(|c| Ok((api_keys::list(c)?, orgs::list_orgs(c)?)))?;
            for k in keys {
                let scope = match &k.org_ids {
                    None => "all orgs".to_string(),
                    Some(ids) => all
                        .iter()
                        .filter(|o| ids.contains(&o.id))
                        .map(|o| o.slug.clone())
                        .collect::<Vec<_>>()
                        .join(","),
                };
                println!(
                    "{}\t{}\t{scope}\tcreated {}\tlast used {}\t{}",
                    k.name,
                    k.scopes.join(","),
                    k.created,
                    k.last_used.as_deref().unwrap_or("never"),
                    match (&k.revoked, &k.expires) {
                        (Some(r), _) => format!("revoked {r}"),
                        (None, Some(e)) => format!("expires {e}"),
                        (None, None) => "live".into(),
                    }
                );
            }
            Ok(0)
        }
        ApiKeyCommand::Revoke { name } => {
            let revoked = store.write_now(|c| {
                let done = api_keys::revoke(c, name, &now())?;
                if done {
                    orgs::audit(c, None, &now(), "cli", "api-key.revoke", Some(name), None)?;
                }
                Ok(done)
            })?;
            if revoked {
                eprintln!("revoked {name:?}");
                Ok(0)
            } else {
                eprintln!("no live API key named {name:?}");
                Ok(1)
            }
        }
    }
}
