//! `idgate user set-password`, `idgate keys rotate|list`, `idgate oauth-client …`.

use std::io::BufRead;

use base64::Engine;
use clap::Subcommand;
use serde_json::json;

use super::now;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::identity::normalize_email;
use crate::session::keys;
use crate::signin::password;
use crate::store::resources::{self as res, Roles};
use crate::store::signin::{self as signin_store, Lookup};
use crate::store::{Store, accounts, orgs, sessions};

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Set a user's local password, read from stdin (the first line). A user that SCIM has
    /// not provisioned is created as a local account.
    SetPassword {
        #[arg(long)]
        org: String,
        email: String,
        /// Display name of a new local account.
        #[arg(long)]
        name: Option<String>,
        /// Role value of a new local account (resolved through the org's role mapping).
        #[arg(long)]
        role: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Add a new session signing key; the old ones keep verifying until their tokens expire.
    Rotate,
    /// List the signing keys.
    List,
}

#[derive(Subcommand, Debug)]
pub enum ClientCommand {
    /// Create an OAuth client for an org's SCIM API; prints the id and secret (shown once).
    Create {
        #[arg(long)]
        org: String,
        #[arg(long)]
        name: String,
    },
    /// List an org's OAuth clients (never the secrets).
    List {
        #[arg(long)]
        org: String,
    },
    /// Revoke a client by name; its access tokens fail at once.
    Revoke {
        #[arg(long)]
        org: String,
        name: String,
    },
}

fn read_password() -> Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Error::Invalid(format!("cannot read the password from stdin: {e}")))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

pub fn user_command(store: &Store, cmd: &UserCommand) -> Result<i32> {
    let UserCommand::SetPassword {
        org,
        email,
        name,
        role,
    } = cmd;
    let email = normalize_email(email)
        .ok_or_else(|| Error::Invalid(format!("{email:?} is not an email address")))?;
    let hash = password::hash(&read_password()?)?;
    let (created, sso_only) = store.write_now(|c| {
        let o = orgs::require_org(c, org)?;
        let domain = email.rsplit_once('@').map_or("", |(_, d)| d);
        let Some(d) = orgs::domains(c, o.id)?.into_iter().find(|d| d.domain == domain) else {
            return Err(Error::Invalid(format!(
                "{domain} is not a domain of {org}; add it first: idgate org domain add {org} {domain}"
            )));
        };
        let (user_id, created) = match signin_store::find_user(c, o.id, None, &email)? {
            Lookup::Found(u) => (u.id, false),
            Lookup::Ambiguous(n) => {
                return Err(Error::Invalid(format!(
                    "{n} users of {org} have the email {email}; cannot tell which"
                )));
            }
            Lookup::NotFound => (create_local(c, &o, &email, name, role)?, true),
        };
        accounts::set_password(c, &user_id, &hash, &now())?;
        orgs::audit(c, Some(o.id), &now(), "cli", "user.set-password", Some(&user_id), Some(&email))?;
        Ok((created, d.sso_only))
    })?;
    eprintln!(
        "{} {email}",
        if created {
            "created the local account"
        } else {
            "set the password of"
        }
    );
    if sso_only {
        eprintln!(
            "note: this domain is SSO only, so password sign-in stays refused until you turn that off"
        );
    }
    Ok(0)
}

fn create_local(
    c: &crate::store::db::Conn,
    org: &orgs::Org,
    email: &str,
    name: &Option<String>,
    role: &Option<String>,
) -> Result<String> {
    let mut doc = json!({
        "userName": email,
        "active": true,
        "emails": [{"value": email, "type": "work", "primary": true}],
    });
    if let Some(n) = name {
        doc["displayName"] = json!(n);
    }
    if let Some(r) = role {
        doc["roles"] = json!([{"value": r, "primary": true}]);
    }
    let maps = orgs::role_mappings(c, org.id)?;
    let raw = role.clone();
    let resolved =
        crate::identity::resolve_role(raw.as_deref(), &maps, org.default_role.as_deref());
    let id = uuid::Uuid::new_v4().to_string();
    let stored = res::insert_user(c, org.id, &id, &doc, &Roles { raw, resolved }, &now())?;
    signin_store::set_source(c, &id, "local")?;
    let at = crate::events::OrgRef {
        id: org.id,
        slug: &org.slug,
    };
    crate::events::user_created(c, at, &stored, &crate::events::Source::cli(), &now())?;
    Ok(id)
}

pub fn keys_command(store: &Store, config: &Config, cmd: &KeysCommand) -> Result<i32> {
    match cmd {
        KeysCommand::Rotate => {
            let key = keys::generate(&now())?;
            // A key retired longer ago than any token lives can go.
            let lifetime = i64::from(config.session_lifetime_minutes).max(60);
            let horizon = crate::clock::timestamp(
                time::OffsetDateTime::now_utc() - time::Duration::minutes(lifetime),
            );
            let dropped = store.write_now(|c| {
                sessions::rotate(c, &key)?;
                orgs::audit(c, None, &now(), "cli", "keys.rotate", Some(&key.kid), None)?;
                sessions::drop_retired(c, &horizon)
            })?;
            println!("{}", key.kid);
            eprintln!(
                "new signing key {} (a running server signs with it within a minute); \
                 older keys keep verifying until their sessions expire{}",
                key.kid,
                if dropped > 0 {
                    format!("; dropped {dropped} expired key(s)")
                } else {
                    String::new()
                }
            );
            Ok(0)
        }
        KeysCommand::List => {
            for k in store.read_now(sessions::keys)? {
                println!(
                    "{}\tcreated {}\t{}",
                    k.kid,
                    k.created,
                    k.retired
                        .map_or("signing".to_string(), |r| format!("retired {r}"))
                );
            }
            Ok(0)
        }
    }
}

fn random(prefix: &str, n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::fill(bytes.as_mut_slice());
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

pub fn client_command(store: &Store, config: &Config, cmd: &ClientCommand) -> Result<i32> {
    match cmd {
        ClientCommand::Create { org, name } => {
            let name = name.trim();
            if name.is_empty() {
                return Err(Error::Invalid("the client name must not be empty".into()));
            }
            let (client_id, secret) = (random("idgc_", 16), random("idgo_", 32));
            store.write_now(|c| {
                let o = orgs::require_org(c, org)?;
                accounts::create_client(c, o.id, name, &client_id, &secret, &now())?;
                orgs::audit(
                    c,
                    Some(o.id),
                    &now(),
                    "cli",
                    "oauth-client.create",
                    Some(name),
                    Some(&client_id),
                )
            })?;
            println!("client_id={client_id}");
            println!("client_secret={secret}");
            eprintln!(
                "The secret is shown only now. Token endpoint: {}/oauth/token \
                 (grant_type=client_credentials); SCIM base URL: {}",
                config.public_url,
                config.scim_base_url()
            );
            Ok(0)
        }
        ClientCommand::List { org } => {
            let clients = store.read_now(|c| {
                let o = orgs::require_org(c, org)?;
                accounts::list_clients(c, o.id)
            })?;
            for k in clients {
                println!(
                    "{}\t{}\tcreated {}\tlast used {}\t{}",
                    k.name,
                    k.client_id,
                    k.created,
                    k.last_used.as_deref().unwrap_or("never"),
                    k.revoked
                        .map_or("live".to_string(), |r| format!("revoked {r}"))
                );
            }
            Ok(0)
        }
        ClientCommand::Revoke { org, name } => super::revoke_named(
            store,
            org,
            name,
            "oauth-client.revoke",
            accounts::revoke_client,
            ("; its access tokens fail from now on", "OAuth client"),
        ),
    }
}

#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Create an operator admin (every org; never subject to SSO-only); password on stdin.
    Create { email: String },
    /// Set an operator admin's password, read from stdin.
    SetPassword { email: String },
    /// List the operator admins.
    List,
}

pub fn admin_command(store: &Store, config: &Config, cmd: &AdminCommand) -> Result<i32> {
    match cmd {
        AdminCommand::Create { email } | AdminCommand::SetPassword { email } => {
            let email = normalize_email(email)
                .ok_or_else(|| Error::Invalid(format!("{email:?} is not an email address")))?;
            let hash = password::hash(&read_password()?)?;
            let create = matches!(cmd, AdminCommand::Create { .. });
            store.write_now(|c| {
                if create {
                    crate::store::admin::create_admin(c, &email, &hash, &now())?;
                } else if !crate::store::admin::set_admin_password(c, &email, &hash)? {
                    return Err(Error::NotFound(format!("no operator admin {email}")));
                }
                let action = if create {
                    "admin.create"
                } else {
                    "admin.set-password"
                };
                orgs::audit(c, None, &now(), "cli", action, Some(&email), None)
            })?;
            eprintln!(
                "{} {email}; sign in at {}/admin",
                if create {
                    "created the operator admin"
                } else {
                    "set the password of"
                },
                config.public_url
            );
            Ok(0)
        }
        AdminCommand::List => {
            for (email, created, last) in store.read_now(crate::store::admin::list_admins)? {
                println!(
                    "{email}\tcreated {created}\tlast sign-in {}",
                    last.as_deref().unwrap_or("never")
                );
            }
            Ok(0)
        }
    }
}
