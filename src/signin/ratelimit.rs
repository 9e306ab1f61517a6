//! Failed password attempts, limited per account and per client address over a sliding
//! window: in memory on SQLite (one process; a restart forgives), in the store on
//! PostgreSQL, so that several instances count the same failures (an attacker spreading
//! attempts over the instances behind a load balancer gets no more of them).

use std::collections::HashMap;
use std::sync::Mutex;

use time::{Duration, OffsetDateTime};

use crate::clock::timestamp;
use crate::store::{Store, auth_failures, db::Dialect};

/// Failures allowed per account within `WINDOW`.
pub const PER_ACCOUNT: usize = 5;
/// Failures allowed per client address within `WINDOW`.
pub const PER_IP: usize = 20;
pub const WINDOW: Duration = Duration::minutes(15);
/// Most keys remembered; the oldest are dropped beyond it.
const MAX_KEYS: usize = 100_000;

#[derive(Default)]
pub struct Limiter {
    failures: Mutex<HashMap<String, Vec<OffsetDateTime>>>,
}

fn keys(account: &str, ip: Option<&str>) -> [(String, usize); 2] {
    [
        (format!("a:{account}"), PER_ACCOUNT),
        (format!("i:{}", ip.unwrap_or("-")), PER_IP),
    ]
}

impl Limiter {
    /// `Some(wait)` when the account or the address is blocked at `now`, counting the
    /// failures of every instance of `store`.
    pub async fn blocked_in(
        &self,
        store: &Store,
        account: &str,
        ip: Option<&str>,
        now: OffsetDateTime,
    ) -> Option<Duration> {
        if store.dialect() == Dialect::Sqlite {
            return self.blocked(account, ip, now);
        }
        let keys = keys(account, ip);
        let names = [keys[0].0.clone(), keys[1].0.clone()];
        let since = timestamp(now - WINDOW);
        let rows = match store
            .read(move |c| auth_failures::recent(c, &names, &since))
            .await
        {
            Ok(rows) => rows,
            Err(e) => {
                // Without the count, refuse rather than allow unlimited guesses.
                tracing::error!(error = %e, "rate limit: store read failed");
                return Some(Duration::minutes(1));
            }
        };
        let local = Limiter::default();
        {
            let mut map = local.failures.lock().unwrap_or_else(|e| e.into_inner());
            for (k, at) in rows {
                if let Ok(t) =
                    OffsetDateTime::parse(&at, &time::format_description::well_known::Rfc3339)
                {
                    map.entry(k).or_default().push(t);
                }
            }
        }
        local.blocked(account, ip, now)
    }

    /// Records a failure (in the store on PostgreSQL).
    pub async fn failed_in(
        &self,
        store: &Store,
        account: &str,
        ip: Option<&str>,
        now: OffsetDateTime,
    ) {
        if store.dialect() == Dialect::Sqlite {
            return self.failed(account, ip, now);
        }
        let keys = keys(account, ip);
        let names = [keys[0].0.clone(), keys[1].0.clone()];
        let at = timestamp(now);
        if let Err(e) = store
            .write(move |c| auth_failures::record(c, &names, &at))
            .await
        {
            tracing::error!(error = %e, "rate limit: recording a failure failed");
        }
    }

    /// A successful sign-in clears the account's failures (not the address's).
    pub async fn succeeded_in(&self, store: &Store, account: &str) {
        if store.dialect() == Dialect::Sqlite {
            return self.succeeded(account);
        }
        let key = format!("a:{account}");
        if let Err(e) = store.write(move |c| auth_failures::clear(c, &key)).await {
            tracing::error!(error = %e, "rate limit: clearing failures failed");
        }
    }

    /// `Some(wait)` when the account or the address is blocked at `now`.
    pub fn blocked(
        &self,
        account: &str,
        ip: Option<&str>,
        now: OffsetDateTime,
    ) -> Option<Duration> {
        let map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        keys(account, ip)
            .iter()
            .filter_map(|(k, limit)| {
                let recent: Vec<&OffsetDateTime> =
                    map.get(k)?.iter().filter(|t| now - **t < WINDOW).collect();
                (recent.len() >= *limit).then(|| WINDOW - (now - *recent[recent.len() - limit]))
            })
            .max()
    }

    pub fn failed(&self, account: &str, ip: Option<&str>, now: OffsetDateTime) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_KEYS {
            map.retain(|_, v| v.iter().any(|t| now - *t < WINDOW));
        }
        for (k, limit) in keys(account, ip) {
            let v = map.entry(k).or_default();
            v.retain(|t| now - *t < WINDOW);
            v.push(now);
            if v.len() > limit {
                v.remove(0);
            }
        }
    }

    /// What to tell someone who is blocked for `wait`.
    pub fn wait_message(wait: Duration) -> String {
        let minutes = (wait.whole_seconds() + 59) / 60;
        format!("Too many failed attempts. Try again in {minutes} minute(s).")
    }

    /// A successful sign-in clears the account's failures (not the address's).
    pub fn succeeded(&self, account: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(&format!("a:{account}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn blocks_after_the_limit_and_forgives_after_the_window() {
        let l = Limiter::default();
        let t = datetime!(2026-01-01 00:00 UTC);
        for i in 0..PER_ACCOUNT {
            assert_eq!(l.blocked("a@x.com", Some("1.1.1.1"), t), None, "{i}");
            l.failed("a@x.com", Some("1.1.1.1"), t);
        }
        let wait = l.blocked("a@x.com", Some("2.2.2.2"), t + Duration::minutes(1));
        assert_eq!(wait, Some(Duration::minutes(14)));
        assert_eq!(l.blocked("b@x.com", Some("2.2.2.2"), t), None);
        assert_eq!(l.blocked("a@x.com", None, t + WINDOW), None);
        l.succeeded("a@x.com");
        assert_eq!(l.blocked("a@x.com", None, t), None);
        // Per address: many accounts from one address.
        for i in 0..PER_IP {
            l.failed(&format!("u{i}@x.com"), Some("3.3.3.3"), t);
        }
        assert!(l.blocked("new@x.com", Some("3.3.3.3"), t).is_some());
        assert!(l.blocked("new@x.com", Some("4.4.4.4"), t).is_none());
    }
}
