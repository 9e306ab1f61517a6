//! `idgate org saml SLUG --metadata-url URL`: fetches the IdP metadata now (the same guard,
//! parsing and store update as the admin page; nothing changes on error) and leaves the
//! periodic refresh to the running server.

use super::now;
use crate::clock::{Clock, timestamp};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::events::Source;
use crate::saml::metadata_url::{self, Fetched};
use crate::store::admin::AuditEntry;
use crate::store::{Store, orgs};
use crate::webhooks::guard::Allow;

pub fn configure(store: &Store, config: &Config, slug: &str, url: &str) -> Result<i32> {
    let url = url.trim().to_string();
    let org = store.read_now(|c| orgs::require_org(c, slug))?;
    let allow = Allow::new(config.outbound_allow_networks.clone());
    crate::outbound::check_https(&allow, &url)
        .map_err(|e| Error::Invalid(format!("the metadata URL was not set: {e}")))?;
    let at = Clock::System.now();
    let (fetch_config, fetch_url) = (config.clone(), url.clone());
    let outcome = actix_web::rt::System::new()
        .block_on(async move { metadata_url::fetch(&fetch_config, &fetch_url, at).await });
    if let Err(e) = &outcome {
        return Err(Error::Invalid(format!(
            "the metadata URL was not set, and the current configuration is unchanged: {e}"
        )));
    }
    let audit = AuditEntry {
        org_id: Some(org.id),
        at: now(),
        actor: "cli".into(),
        action: metadata_url::SET_ACTION.into(),
        target: Some(org.slug.clone()),
        detail: None,
        ip: None,
    };
    let next = metadata_url::next_refresh(config, at, rand::random::<f64>());
    let recorded = store.write_now(|c| {
        metadata_url::record(
            c,
            Fetched {
                org_id: org.id,
                url: &url,
                outcome: &outcome,
                at,
                next,
                source: Source::cli(),
                audit,
                set: true,
            },
        )
    })?;
    if let Some(Ok(change)) = recorded {
        println!("metadata URL:  {url}");
        println!("loaded:        {}", change.describe());
    }
    let idp = store.read_now(|c| crate::store::saml::idp(c, org.id))?;
    for c in idp.iter().flat_map(|i| i.certificates.iter()) {
        println!(
            "certificate:   {} ({}, valid {} to {})",
            c.fingerprint, c.subject, c.not_before, c.not_after
        );
    }
    eprintln!(
        "The running server fetches it again every {} hours (metadata_refresh_hours), next \
         around {}.",
        config.metadata_refresh_hours,
        timestamp(next)
    );
    Ok(0)
}
