//! Failed password attempts, limited per account and per client address over a sliding
//! window, in memory (one process; a restart forgives).

use std::collections::HashMap;
use std::sync::Mutex;

use time::{Duration, OffsetDateTime};

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
