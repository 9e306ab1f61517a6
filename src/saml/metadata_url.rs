//! The IdP configuration from a URL: Entra's App Federation Metadata URL (or any IdP's
//! metadata URL). Setting it fetches at once (nothing changes on error); then a task fetches
//! every `metadata_refresh_hours` (±10 % jitter; an hour after a failure), parses with the
//! same `parse_metadata` as an upload, and applies what changed as an upload would. Any
//! error keeps the last good configuration. Every fetch is audited (certificates added and
//! removed by SHA-256 fingerprint, or the error) and its outcome shown on the SSO page.
//! The fetch goes through `crate::outbound` (https only, SSRF guard, no redirects,
//! timeouts, the metadata size cap).

use std::time::Duration;

use crate::store::db::Conn;
use time::OffsetDateTime;

use super::metadata::{IdpConfig, MAX_METADATA_BYTES, parse_metadata};
use crate::clock::timestamp;
use crate::config::Config;
use crate::error::Result;
use crate::events::{OrgWrite, Source};
use crate::state::AppState;
use crate::store::admin::{self as admin_store, AuditEntry};
use crate::store::metadata_url as url_store;
use crate::store::saml::{self as idp_store, IdpRecord};
use crate::webhooks::guard::Allow;

/// `idp_configs.source` of a configuration fetched from a URL.
pub const SOURCE: &str = "metadata_url";
/// The audit action of setting the URL; of each refresh.
pub const SET_ACTION: &str = "org.saml.metadata_url";
pub const REFRESH_ACTION: &str = "org.saml.metadata_url.refresh";
/// The whole request (connect, answer, body) must finish within this.
const TIMEOUT: Duration = Duration::from_secs(20);
/// After a failed fetch, the next try comes this much sooner than the schedule's.
const RETRY_AFTER_ERROR: time::Duration = time::Duration::hours(1);
/// How often the task looks for due refreshes.
const TICK: Duration = Duration::from_secs(60);

/// Fetches and parses an org's metadata URL.
pub async fn fetch(config: &Config, url: &str, now: OffsetDateTime) -> Result<IdpConfig, String> {
    let allow = Allow::new(config.outbound_allow_networks.clone());
    let tls = config
        .outbound_ca_pem
        .as_deref()
        .map(crate::outbound::tls)
        .transpose()?;
    let client = crate::outbound::client(
        &allow,
        tls,
        concat!("idgate-metadata/", env!("CARGO_PKG_VERSION")),
        TIMEOUT,
    );
    let xml = crate::outbound::get_document(&client, &allow, url, MAX_METADATA_BYTES).await?;
    let (idp, _warnings) =
        parse_metadata(&xml, now).map_err(|e| format!("the metadata was refused: {e}"))?;
    Ok(idp)
}

/// When the schedule fetches next, `unit` in [0, 1) drawing the ±10 % jitter.
pub fn next_refresh(config: &Config, now: OffsetDateTime, unit: f64) -> OffsetDateTime {
    let secs = f64::from(config.metadata_refresh_hours) * 3600.0 * (0.9 + 0.2 * unit);
    now + time::Duration::seconds(secs.round() as i64)
}

fn retry_after_error(config: &Config, now: OffsetDateTime) -> OffsetDateTime {
    let scheduled = next_refresh(config, now, rand::random::<f64>());
    scheduled.min(now + RETRY_AFTER_ERROR)
}

/// What a fetch changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Change {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub entity_id: Option<String>,
    pub sso_url: Option<String>,
}

impl Change {
    pub fn between(before: Option<&IdpRecord>, after: &IdpRecord) -> Self {
        let had =
            |fp: &str| before.is_some_and(|b| b.certificates.iter().any(|c| c.fingerprint == fp));
        let has = |fp: &str| after.certificates.iter().any(|c| c.fingerprint == fp);
        Self {
            added: after
                .certificates
                .iter()
                .filter(|c| !had(&c.fingerprint))
                .map(|c| c.fingerprint.clone())
                .collect(),
            removed: before
                .iter()
                .flat_map(|b| b.certificates.iter())
                .filter(|c| !has(&c.fingerprint))
                .map(|c| c.fingerprint.clone())
                .collect(),
            entity_id: (before.map(|b| &b.entity_id) != Some(&after.entity_id))
                .then(|| after.entity_id.clone()),
            sso_url: (before.map(|b| &b.sso_url) != Some(&after.sso_url))
                .then(|| after.sso_url.clone()),
        }
    }

    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }

    /// For the audit log and the SSO page.
    pub fn describe(&self) -> String {
        if self.is_empty() {
            return "no change".into();
        }
        let mut parts = Vec::new();
        if let Some(e) = &self.entity_id {
            parts.push(format!("IdP entity ID {e}"));
        }
        if let Some(u) = &self.sso_url {
            parts.push(format!("SSO URL {u}"));
        }
        if !self.added.is_empty() {
            parts.push(format!("certificates added {}", self.added.join(", ")));
        }
        if !self.removed.is_empty() {
            parts.push(format!("certificates removed {}", self.removed.join(", ")));
        }
        parts.join("; ")
    }
}

/// One fetch to record: whose, what came of it, who asked.
pub struct Fetched<'a> {
    pub org_id: i64,
    pub url: &'a str,
    pub outcome: &'a Result<IdpConfig, String>,
    pub at: OffsetDateTime,
    pub next: OffsetDateTime,
    pub source: Source,
    /// The audit row to write, its `action` and `detail` filled in here.
    pub audit: AuditEntry,
    /// Setting the URL (stored here) rather than refreshing a stored one.
    pub set: bool,
}

/// Records a fetch inside one write: applies a good configuration (only what changed; all of
/// it when the URL is being set), keeps the old one on error, stores the outcome and audits.
/// `None` when a refresh no longer applies (the URL was changed or removed meanwhile).
pub fn record(c: &Conn, f: Fetched<'_>) -> Result<Option<Result<Change, String>>> {
    let at = timestamp(f.at);
    let next = timestamp(f.next);
    if f.set {
        url_store::set(c, f.org_id, f.url, &next)?;
    } else if url_store::get(c, f.org_id)?.is_none_or(|m| m.url != f.url) {
        return Ok(None);
    }
    let mut audit = f.audit;
    audit.action = (if f.set { SET_ACTION } else { REFRESH_ACTION }).into();
    let result = match f.outcome {
        Ok(idp) => {
            let record = super::idp_record(idp, SOURCE, &at);
            let before = idp_store::idp(c, f.org_id)?;
            let change = Change::between(before.as_ref(), &record);
            if f.set || !change.is_empty() || before.is_none_or(|b| b.source != SOURCE) {
                let write = OrgWrite::begin(c, f.org_id, f.source, &at)?;
                idp_store::set_idp(c, f.org_id, &record)?;
                write.finish()?;
            }
            let text = change.describe();
            url_store::record(c, f.org_id, &at, true, &text, &next)?;
            audit.detail = Some(format!("{}: {text}", f.url));
            Ok(change)
        }
        Err(e) => {
            url_store::record(c, f.org_id, &at, false, e, &next)?;
            audit.detail = Some(format!("{}: error, configuration kept: {e}", f.url));
            Err(e.clone())
        }
    };
    admin_store::audit(c, &audit)?;
    Ok(Some(result))
}

/// The event-log source of a change the schedule applied.
pub fn schedule_source() -> Source {
    Source {
        kind: "metadata_refresh",
        request_id: None,
        actor: None,
    }
}

/// The audit row of a fetch the schedule made.
fn schedule_audit(org_id: i64, slug: &str, at: OffsetDateTime) -> AuditEntry {
    AuditEntry {
        org_id: Some(org_id),
        at: timestamp(at),
        actor: "idgate (schedule)".into(),
        action: REFRESH_ACTION.into(),
        target: Some(slug.to_string()),
        detail: None,
        ip: None,
    }
}

/// Fetches every URL that is due and records each outcome. Returns how many were fetched.
pub async fn refresh_due(state: &AppState) -> usize {
    let now = state.clock.now();
    let stamp = timestamp(now);
    let due = match state.store.read(move |c| url_store::due(c, &stamp)).await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "metadata refresh: cannot read the due URLs");
            return 0;
        }
    };
    let mut fetched = 0;
    for (org_id, slug, url) in due {
        let next = next_refresh(&state.config, now, rand::random::<f64>());
        let (u, stamp, n) = (url.clone(), timestamp(now), timestamp(next));
        match state
            .store
            .write(move |c| url_store::claim(c, org_id, &u, &stamp, &n))
            .await
        {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                tracing::warn!(org = %slug, error = %e, "metadata refresh: cannot claim");
                continue;
            }
        }
        fetched += 1;
        let audit = schedule_audit(org_id, &slug, now);
        refresh(state, org_id, &slug, &url, schedule_source(), audit).await;
    }
    fetched
}

/// Fetches a stored URL now and records the outcome (the schedule, or an admin's "Refresh
/// now"). `None` when the URL changed meanwhile.
pub async fn refresh(
    state: &AppState,
    org_id: i64,
    slug: &str,
    url: &str,
    source: Source,
    audit: AuditEntry,
) -> Option<Result<Change, String>> {
    let now = state.clock.now();
    let outcome = fetch(&state.config, url, now).await;
    let next = match &outcome {
        Ok(_) => next_refresh(&state.config, now, rand::random::<f64>()),
        Err(_) => retry_after_error(&state.config, now),
    };
    let url_owned = url.to_string();
    let recorded = state
        .store
        .write(move |c| {
            record(
                c,
                Fetched {
                    org_id,
                    url: &url_owned,
                    outcome: &outcome,
                    at: now,
                    next,
                    source,
                    audit,
                    set: false,
                },
            )
        })
        .await;
    match recorded {
        Ok(Some(Ok(change))) => {
            if change.is_empty() {
                tracing::info!(org = %slug, %url, "metadata refresh: no change");
            } else {
                tracing::warn!(org = %slug, %url, change = %change.describe(),
                    "metadata refresh: the IdP configuration changed");
            }
            Some(Ok(change))
        }
        Ok(Some(Err(e))) => {
            tracing::warn!(org = %slug, %url, error = %e,
                "metadata refresh failed; the last good configuration stays");
            Some(Err(e))
        }
        Ok(None) => None,
        Err(e) => {
            tracing::warn!(org = %slug, error = %e, "metadata refresh: cannot record");
            Some(Err(format!("the outcome could not be saved: {e}")))
        }
    }
}

/// Sets an org's URL: fetches at once; on success stores the URL and the configuration, on
/// error changes nothing and says why.
pub async fn set(
    state: &AppState,
    org_id: i64,
    url: &str,
    source: Source,
    audit: AuditEntry,
) -> Result<Change, String> {
    let url = url.trim().to_string();
    let now = state.clock.now();
    let outcome = fetch(&state.config, &url, now).await;
    if let Err(e) = outcome {
        return Err(e);
    }
    let next = next_refresh(&state.config, now, rand::random::<f64>());
    state
        .store
        .write(move |c| {
            record(
                c,
                Fetched {
                    org_id,
                    url: &url,
                    outcome: &outcome,
                    at: now,
                    next,
                    source,
                    audit,
                    set: true,
                },
            )
        })
        .await
        .map_err(|e| format!("the configuration could not be saved: {e}"))?
        .unwrap_or_else(|| Err("the URL changed meanwhile".into()))
}

/// The refresh task: every minute, the URLs that are due.
pub async fn run(state: actix_web::web::Data<AppState>) {
    loop {
        refresh_due(&state).await;
        actix_web::rt::time::sleep(TICK).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::saml::CertRecord;

    fn idp(fps: &[&str]) -> IdpRecord {
        IdpRecord {
            entity_id: "https://sts.windows.net/t/".into(),
            sso_url: "https://login.microsoftonline.com/t/saml2".into(),
            slo_url: None,
            source: SOURCE.into(),
            updated: String::new(),
            certificates: fps
                .iter()
                .map(|f| CertRecord {
                    fingerprint: f.to_string(),
                    der: Vec::new(),
                    subject: String::new(),
                    not_before: String::new(),
                    not_after: String::new(),
                })
                .collect(),
        }
    }

    #[test]
    fn changes_by_fingerprint() {
        let c = Change::between(Some(&idp(&["AA", "BB"])), &idp(&["BB", "CC"]));
        assert_eq!(c.added, ["CC"]);
        assert_eq!(c.removed, ["AA"]);
        assert_eq!(
            c.describe(),
            "certificates added CC; certificates removed AA"
        );
        assert!(Change::between(Some(&idp(&["AA"])), &idp(&["AA"])).is_empty());
        let first = Change::between(None, &idp(&["AA"]));
        assert_eq!(first.added, ["AA"]);
        assert!(first.entity_id.is_some());
    }

    #[test]
    fn schedule_has_jitter_within_ten_percent() {
        let config = Config::default();
        let now = OffsetDateTime::UNIX_EPOCH;
        let h = |u| (next_refresh(&config, now, u) - now).whole_minutes();
        assert_eq!(h(0.0), 648);
        assert_eq!(h(0.5), 720);
        assert!(h(0.999) <= 792);
        assert_eq!(retry_after_error(&config, now) - now, RETRY_AFTER_ERROR);
    }
}
