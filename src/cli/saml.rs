//! `idgate org saml SLUG …`: load the IdP from Entra's Federation Metadata XML (or the
//! federated certificate XML), or by hand; print what was understood. The same parsing
//! serves the admin UI's upload.

use std::path::PathBuf;

use clap::Args;

use super::now;
use crate::clock::{Clock, timestamp};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::events::{OrgWrite, Source};
use crate::saml::metadata::{self, IdpConfig, Warning};
use crate::store::{Store, orgs, saml as saml_store};

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["metadata", "metadata_url", "cert"])))]
pub struct SamlArgs {
    pub slug: String,
    /// Entra's "Federation Metadata XML" (or "federated certificate XML") file.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["idp_entity_id", "sso_url"])]
    pub metadata: Option<PathBuf>,
    /// Entra's "App Federation Metadata Url" (https): fetched now and then periodically by
    /// the server (`metadata_refresh_hours`).
    #[arg(long, value_name = "URL", conflicts_with_all = ["idp_entity_id", "sso_url"])]
    pub metadata_url: Option<String>,
    /// The IdP's signing certificate (PEM, Base64 `.cer` or DER), for hand entry.
    #[arg(long, value_name = "FILE", requires_all = ["idp_entity_id", "sso_url"])]
    pub cert: Option<PathBuf>,
    /// The IdP's entity ID (Entra: "Microsoft Entra Identifier"), for hand entry.
    #[arg(long, value_name = "ID")]
    pub idp_entity_id: Option<String>,
    /// The IdP's sign-in URL (Entra: "Login URL"), for hand entry.
    #[arg(long, value_name = "URL")]
    pub sso_url: Option<String>,
}

fn read(path: &PathBuf) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::Invalid(format!("cannot read {}: {e}", path.display())))
}

/// Parses the given source into an IdP configuration, with warnings.
fn parse(args: &SamlArgs) -> Result<(IdpConfig, Vec<Warning>, &'static str)> {
    let at = Clock::System.now();
    let invalid = |e: metadata::MetadataError| Error::Invalid(e.to_string());
    match (&args.metadata, &args.cert) {
        (Some(file), _) => {
            let (idp, warnings) = metadata::parse_metadata(&read(file)?, at).map_err(invalid)?;
            Ok((idp, warnings, "metadata"))
        }
        (None, Some(file)) => {
            let entity = args.idp_entity_id.as_deref().unwrap_or_default();
            let url = args.sso_url.as_deref().unwrap_or_default();
            let (idp, warnings) =
                metadata::from_parts(&read(file)?, entity, url, at).map_err(invalid)?;
            Ok((idp, warnings, "manual"))
        }
        (None, None) => Err(Error::Invalid(
            "give --metadata FILE, or --cert FILE with --idp-entity-id and --sso-url".into(),
        )),
    }
}

pub fn configure(store: &Store, config: &Config, args: &SamlArgs) -> Result<i32> {
    if let Some(url) = &args.metadata_url {
        return super::saml_url::configure(store, config, &args.slug, url);
    }
    let (idp, warnings, source) = parse(args)?;
    let record = crate::saml::idp_record(&idp, source, &now());
    store.write_now(|c| {
        let org = orgs::require_org(c, &args.slug)?;
        let write = OrgWrite::begin(c, org.id, Source::cli(), &now())?;
        saml_store::set_idp(c, org.id, &record)?;
        orgs::audit(
            c,
            Some(org.id),
            &now(),
            "cli",
            "org.saml",
            Some(&record.entity_id),
            Some(source),
        )?;
        write.finish()
    })?;
    println!("IdP entity ID: {}", idp.entity_id);
    println!("IdP SSO URL:   {}", idp.sso_url);
    for c in &idp.certificates {
        println!(
            "certificate:   {} ({}, valid {} to {})",
            c.sha256_fingerprint,
            c.subject,
            timestamp(c.not_before),
            timestamp(c.not_after)
        );
    }
    for w in &warnings {
        eprintln!("warning: {}", w.0);
    }
    let base = &config.public_url;
    let slug = &args.slug;
    eprintln!(
        "In Entra's Basic SAML Configuration: Identifier (Entity ID) {base}/saml/{slug}, \
         Reply URL {base}/saml/{slug}/acs, Sign on URL {base}/saml/{slug}/login"
    );
    Ok(0)
}
