//! `idgate org saml-keys …`: the SP key pairs idgate generates per org (signing
//! AuthnRequests, decrypting assertions): list them with their expiry, rotate them (the
//! replaced key stays live for a grace period), print a certificate for Entra; and the
//! switches of `idgate org set` that need a key.

use clap::{Subcommand, ValueEnum};

use super::OnOff;
use crate::clock::{Clock, timestamp};
use crate::config::Config;
use crate::error::Result;
use crate::saml::sp_keys as keys;
use crate::seal::Sealer;
use crate::store::sp_keys::{self as store, KeyUse};
use crate::store::{Store, orgs};

#[derive(Subcommand, Debug)]
pub enum SamlKeysCommand {
    /// List the org's SP key pairs (current and in their grace period) with their expiry.
    List { slug: String },
    /// Generate a new key pair and make it current; the replaced one stays live (published,
    /// and for encryption still decrypting) for the grace period.
    Rotate {
        slug: String,
        /// Which key to rotate (default: both).
        #[arg(long = "use", value_name = "USE")]
        key_use: Option<UseArg>,
        /// Days the replaced key stays live (0–365).
        #[arg(long, value_name = "DAYS", default_value_t = keys::DEFAULT_GRACE_DAYS,
              value_parser = clap::value_parser!(i64).range(0..=365))]
        grace_days: i64,
    },
    /// Print the current certificate (Base64 PEM, Entra's .cer) of one use.
    Cert {
        slug: String,
        #[arg(long = "use", value_name = "USE", default_value = "signing")]
        key_use: UseArg,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum UseArg {
    Signing,
    Encryption,
}

impl From<UseArg> for KeyUse {
    fn from(u: UseArg) -> Self {
        match u {
            UseArg::Signing => KeyUse::Signing,
            UseArg::Encryption => KeyUse::Encryption,
        }
    }
}

pub fn command(store: &Store, config: &Config, cmd: &SamlKeysCommand) -> Result<i32> {
    match cmd {
        SamlKeysCommand::List { slug } => list(store, slug),
        SamlKeysCommand::Rotate {
            slug,
            key_use,
            grace_days,
        } => {
            let uses = match key_use {
                Some(u) => vec![KeyUse::from(*u)],
                None => KeyUse::ALL.to_vec(),
            };
            store.read_now(|c| orgs::require_org(c, slug))?;
            let sealer = Sealer::for_data_dir(&config.data_dir)?;
            let now = Clock::System.now();
            let fresh = uses
                .iter()
                .map(|u| keys::generate(&sealer, slug, *u, now))
                .collect::<Result<Vec<_>>>()?;
            store.write_now(|c| {
                let org = orgs::require_org(c, slug)?;
                for k in &fresh {
                    keys::rotate(c, org.id, k, now, *grace_days)?;
                    orgs::audit(
                        c,
                        Some(org.id),
                        &timestamp(now),
                        "cli",
                        "org.saml-keys.rotate",
                        Some(k.key_use.as_str()),
                        Some(&format!("{} (grace {grace_days} days)", k.fingerprint)),
                    )?;
                }
                Ok(())
            })?;
            for k in &fresh {
                println!(
                    "{}\t{}\tuntil {}",
                    k.key_use.as_str(),
                    k.fingerprint,
                    k.not_after
                );
            }
            eprintln!(
                "the replaced keys stay live for {grace_days} days (a replaced signing key signs \
                 until then). Upload the new certificate to Entra now (idgate org saml-keys cert \
                 {slug} --use …, or the SSO page)"
            );
            Ok(0)
        }
        SamlKeysCommand::Cert { slug, key_use } => {
            let key_use = KeyUse::from(*key_use);
            let key = store.read_now(|c| {
                let org = orgs::require_org(c, slug)?;
                store::current_key(c, org.id, key_use)
            })?;
            match key {
                Some(k) => {
                    print!("{}", keys::certificate_pem(&k));
                    Ok(0)
                }
                None => {
                    eprintln!(
                        "{slug} has no {} key yet: idgate org saml-keys rotate {slug} --use {}",
                        key_use.as_str(),
                        key_use.as_str()
                    );
                    Ok(1)
                }
            }
        }
    }
}

fn list(store: &Store, slug: &str) -> Result<i32> {
    let org = store.read_now(|c| orgs::require_org(c, slug))?;
    show(store, org.id)?;
    Ok(0)
}

/// The switches and every live key, one per line (`org show` and `saml-keys list`).
pub fn print_keys(options: &store::SpOptions, live: &[store::SpKey], now: time::OffsetDateTime) {
    let on = |b: bool| if b { "on" } else { "off" };
    println!("sign requests:     {}", on(options.sign_requests));
    println!("encrypt assertions: {}", on(options.encrypt_assertions));
    let signer = keys::signing_key(
        live.iter()
            .filter(|k| k.key_use == KeyUse::Signing)
            .cloned()
            .collect(),
    )
    .map(|k| k.id);
    for k in live {
        let mut role = match &k.retire_after {
            None => "current".to_string(),
            Some(until) => format!("previous, live until {until}"),
        };
        if Some(k.id) == signer {
            role.push_str(", signs requests");
        }
        println!(
            "sp {} key:{} {} (until {}, {}; {role})",
            k.key_use.as_str(),
            if k.key_use == KeyUse::Signing {
                "    "
            } else {
                ""
            },
            k.fingerprint,
            k.not_after,
            keys::status(k, now),
        );
    }
}

/// `idgate org set --sign-requests/--encrypt-assertions`: turning one on makes its key pair
/// when the org has none yet.
pub fn switches(
    store: &Store,
    config: &Config,
    slug: &str,
    sign_requests: Option<OnOff>,
    encrypt_assertions: Option<OnOff>,
) -> Result<()> {
    if sign_requests.is_none() && encrypt_assertions.is_none() {
        return Ok(());
    }
    let (sign, encrypt) = (
        sign_requests.map(bool::from),
        encrypt_assertions.map(bool::from),
    );
    let now = Clock::System.now();
    let sealer = Sealer::for_data_dir(&config.data_dir)?;
    let mut fresh = Vec::new();
    for (on, u) in [(sign, KeyUse::Signing), (encrypt, KeyUse::Encryption)] {
        if on == Some(true) {
            fresh.push(keys::generate(&sealer, slug, u, now)?);
        }
    }
    let made = store.write_now(|c| {
        let org = orgs::require_org(c, slug)?;
        let mut made = Vec::new();
        for k in &fresh {
            if keys::ensure(c, org.id, k, now)? {
                made.push(k.fingerprint.clone());
            }
        }
        let o = store::set_options(c, org.id, sign, encrypt)?;
        orgs::audit(
            c,
            Some(org.id),
            &timestamp(now),
            "cli",
            "org.saml-keys.options",
            Some(slug),
            Some(&format!(
                "sign_requests={} encrypt_assertions={}",
                o.sign_requests, o.encrypt_assertions
            )),
        )?;
        Ok(made)
    })?;
    for f in made {
        eprintln!("generated an SP key pair {f}: upload its certificate to Entra");
    }
    Ok(())
}

/// The SP key lines of `idgate org show`.
pub fn show(store: &Store, org_id: i64) -> Result<()> {
    let now = Clock::System.now();
    let stamp = timestamp(now);
    let (options, live) = store.read_now(|c| {
        let mut live = Vec::new();
        for u in KeyUse::ALL {
            live.extend(store::live_keys(c, org_id, u, &stamp)?);
        }
        Ok((store::options(c, org_id)?, live))
    })?;
    print_keys(&options, &live, now);
    Ok(())
}
