//! IdP signing-certificate expiry reaching the operator: the `/metrics` gauge of days to each
//! org's earliest expiry (refreshed at every scrape) and a daily log warning from
//! `EXPIRY_WARNING_DAYS` out. The SSO page and the org list show the same dates.

use super::metadata::EXPIRY_WARNING_DAYS;
use crate::state::AppState;

/// Days from `today` to the date of a stored `not_after` (whole days, negative once past).
pub fn days_left(not_after: &str, today: time::Date) -> Option<i64> {
    crate::clock::days_until(not_after, today)
}

/// Sets the gauge; with `log`, warns of every org whose earliest certificate expires within
/// `EXPIRY_WARNING_DAYS` (or has expired).
pub async fn watch_expiry(state: &AppState, log: bool) {
    let list = match state
        .store
        .read(crate::store::metadata_url::earliest_expiries)
        .await
    {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(error = %e, "SAML: cannot read the certificate expiry dates");
            return;
        }
    };
    let today = state.clock.now().date();
    let mut days = std::collections::BTreeMap::new();
    for (slug, not_after) in list {
        let Some(left) = days_left(&not_after, today) else {
            continue;
        };
        if log && left <= EXPIRY_WARNING_DAYS {
            tracing::warn!(org = %slug, expires = %not_after, days_left = left,
                "SAML: the org's IdP signing certificate expires soon: have the customer roll it \
                 over in Entra, then upload the new Federation Metadata XML (or set the metadata \
                 URL, which picks it up by itself)");
        }
        days.insert(slug, left);
    }
    state.metrics.set_saml_certificate_days(days);
    super::sp_keys::watch_expiry(state, log).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_days() {
        let today = time::macros::date!(2026 - 12 - 03);
        assert_eq!(days_left("2027-01-02T00:00:00.000Z", today), Some(30));
        assert_eq!(days_left("2026-12-01T10:00:00.000Z", today), Some(-2));
        assert_eq!(days_left("nonsense", today), None);
    }
}
