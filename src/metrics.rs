//! Prometheus text-format metrics: requests by surface and status with latency, SCIM
//! operations by method and status.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;

use crate::state::AppState;

/// Latency buckets, seconds.
const BUCKETS: [f64; 10] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(&'static str, u16), Histogram>>,
    scim_ops: Mutex<BTreeMap<(String, u16), u64>>,
    signins_ok: AtomicU64,
    signins_failed: AtomicU64,
    events_appended: Mutex<BTreeMap<String, u64>>,
    webhook_attempts: Mutex<BTreeMap<&'static str, u64>>,
    /// Per endpoint: undelivered events and the age in seconds of the oldest.
    webhook_lag: Mutex<BTreeMap<String, (i64, f64)>>,
    webhook_stalled: AtomicU64,
    /// Per org slug: days until its OIDC client secret or certificate expires.
    oidc_credential_days: Mutex<BTreeMap<String, i64>>,
    /// Per org slug: days until its earliest IdP signing certificate expires.
    saml_certificate_days: Mutex<BTreeMap<String, i64>>,
    /// Per (org slug, use): days until the SP's current certificate of a switched-on use
    /// (signed requests, encrypted assertions) expires.
    saml_sp_certificate_days: Mutex<BTreeMap<(String, String), i64>>,
}

fn surface(path: &str) -> &'static str {
    if path.starts_with("/scim/") {
        "scim"
    } else if path.starts_with("/saml/") {
        "saml"
    } else if path.starts_with("/oidc/") {
        "oidc"
    } else if path.starts_with("/admin") {
        "admin"
    } else if path == "/auth/verify" {
        "verify"
    } else if path.starts_with("/login")
        || path.starts_with("/logout")
        || path.starts_with("/oauth/")
        || path.starts_with("/api/")
        || path.starts_with("/.well-known/")
    {
        "auth"
    } else if ["/healthz", "/readyz", "/metrics"].contains(&path) {
        "ops"
    } else {
        "other"
    }
}

impl Metrics {
    /// One request of a surface (see `surface`).
    pub fn observe(&self, surface: &'static str, status: u16, seconds: f64) {
        let Ok(mut map) = self.requests.lock() else {
            return;
        };
        let h = map.entry((surface, status)).or_default();
        h.count += 1;
        h.sum += seconds;
        for (i, le) in BUCKETS.iter().enumerate() {
            if seconds <= *le {
                h.counts[i] += 1;
            }
        }
    }

    pub fn scim_op(&self, method: &str, status: u16) {
        if let Ok(mut map) = self.scim_ops.lock() {
            *map.entry((method.to_string(), status)).or_default() += 1;
        }
    }

    /// One sign-in attempt (SAML or password) by outcome.
    pub fn signin(&self, success: bool) {
        let c = if success {
            &self.signins_ok
        } else {
            &self.signins_failed
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Events committed to the log, as the webhook dispatcher sees them appear.
    pub fn events_appended(&self, type_: &str, n: u64) {
        if let Ok(mut map) = self.events_appended.lock() {
            *map.entry(type_.to_string()).or_default() += n;
        }
    }

    /// One webhook attempt by result (`delivered`, `http_error`, `network_error`, …).
    pub fn webhook_attempt(&self, result: &'static str) {
        if let Ok(mut map) = self.webhook_attempts.lock() {
            *map.entry(result).or_default() += 1;
        }
    }

    /// The delivery lag of every endpoint and the number of stalled lanes, measured now.
    pub fn webhook_lag(&self, lag: BTreeMap<String, (i64, f64)>, stalled: u64) {
        if let Ok(mut map) = self.webhook_lag.lock() {
            *map = lag;
        }
        self.webhook_stalled.store(stalled, Ordering::Relaxed);
    }

    fn render_webhooks(&self, out: &mut String) {
        out.push_str(
            "# HELP idgate_events_appended_total Events committed to the event log, by type.\n",
        );
        out.push_str("# TYPE idgate_events_appended_total counter\n");
        if let Ok(map) = self.events_appended.lock() {
            for (t, n) in map.iter() {
                let _ = writeln!(out, "idgate_events_appended_total{{type=\"{t}\"}} {n}");
            }
        }
        out.push_str(
            "# HELP idgate_webhook_attempts_total Webhook delivery attempts, by result.\n",
        );
        out.push_str("# TYPE idgate_webhook_attempts_total counter\n");
        if let Ok(map) = self.webhook_attempts.lock() {
            for (r, n) in map.iter() {
                let _ = writeln!(out, "idgate_webhook_attempts_total{{result=\"{r}\"}} {n}");
            }
        }
        out.push_str("# HELP idgate_webhook_lag_events Events not yet delivered, per endpoint.\n");
        out.push_str("# TYPE idgate_webhook_lag_events gauge\n");
        out.push_str("# HELP idgate_webhook_lag_seconds Age of the oldest undelivered event, per endpoint.\n");
        out.push_str("# TYPE idgate_webhook_lag_seconds gauge\n");
        if let Ok(map) = self.webhook_lag.lock() {
            for (e, (n, age)) in map.iter() {
                let _ = writeln!(out, "idgate_webhook_lag_events{{endpoint=\"{e}\"}} {n}");
                let _ = writeln!(out, "idgate_webhook_lag_seconds{{endpoint=\"{e}\"}} {age}");
            }
        }
        out.push_str(
            "# HELP idgate_webhook_stalled_lanes Lanes whose retries ran out; they wait.\n",
        );
        out.push_str("# TYPE idgate_webhook_stalled_lanes gauge\n");
        let _ = writeln!(
            out,
            "idgate_webhook_stalled_lanes {}",
            self.webhook_stalled.load(Ordering::Relaxed)
        );
    }

    /// Replaces the OIDC credential expiry gauge (org slug → days left).
    pub fn set_oidc_credential_days(&self, days: BTreeMap<String, i64>) {
        if let Ok(mut m) = self.oidc_credential_days.lock() {
            *m = days;
        }
    }

    /// Replaces the SAML certificate expiry gauge (org slug → days left).
    pub fn set_saml_certificate_days(&self, days: BTreeMap<String, i64>) {
        if let Ok(mut m) = self.saml_certificate_days.lock() {
            *m = days;
        }
    }

    /// Replaces the SP certificate expiry gauge ((org slug, use) → days left).
    pub fn set_saml_sp_certificate_days(&self, days: BTreeMap<(String, String), i64>) {
        if let Ok(mut m) = self.saml_sp_certificate_days.lock() {
            *m = days;
        }
    }

    fn render_saml(&self, out: &mut String) {
        out.push_str(
            "# HELP idgate_saml_sp_certificate_expiry_days Days until an org's current SP certificate (signed requests, encrypted assertions) expires.\n",
        );
        out.push_str("# TYPE idgate_saml_sp_certificate_expiry_days gauge\n");
        if let Ok(map) = self.saml_sp_certificate_days.lock() {
            for ((org, key_use), d) in map.iter() {
                let _ = writeln!(
                    out,
                    "idgate_saml_sp_certificate_expiry_days{{org=\"{org}\",use=\"{key_use}\"}} {d}"
                );
            }
        }
        out.push_str(
            "# HELP idgate_saml_certificate_expiry_days Days until an org's earliest IdP signing certificate expires.\n",
        );
        out.push_str("# TYPE idgate_saml_certificate_expiry_days gauge\n");
        if let Ok(map) = self.saml_certificate_days.lock() {
            for (org, d) in map.iter() {
                let _ = writeln!(
                    out,
                    "idgate_saml_certificate_expiry_days{{org=\"{org}\"}} {d}"
                );
            }
        }
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        self.render_webhooks(&mut out);
        self.render_saml(&mut out);
        out.push_str(
            "# HELP idgate_oidc_credential_expiry_days Days until an org's OIDC client secret or certificate expires.\n",
        );
        out.push_str("# TYPE idgate_oidc_credential_expiry_days gauge\n");
        if let Ok(map) = self.oidc_credential_days.lock() {
            for (org, d) in map.iter() {
                let _ = writeln!(
                    out,
                    "idgate_oidc_credential_expiry_days{{org=\"{org}\"}} {d}"
                );
            }
        }
        out.push_str("# HELP idgate_signins_total Sign-in attempts by outcome.\n");
        out.push_str("# TYPE idgate_signins_total counter\n");
        for (outcome, c) in [
            ("success", &self.signins_ok),
            ("failure", &self.signins_failed),
        ] {
            let _ = writeln!(
                out,
                "idgate_signins_total{{outcome=\"{outcome}\"}} {}",
                c.load(Ordering::Relaxed)
            );
        }
        out.push_str(
            "# HELP idgate_http_request_duration_seconds Requests by surface and status.\n",
        );
        out.push_str("# TYPE idgate_http_request_duration_seconds histogram\n");
        if let Ok(map) = self.requests.lock() {
            for ((surface, status), h) in map.iter() {
                let labels = format!("surface=\"{surface}\",status=\"{status}\"");
                for (i, le) in BUCKETS.iter().enumerate() {
                    let _ = writeln!(
                        out,
                        "idgate_http_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} {}",
                        h.counts[i]
                    );
                }
                let _ = writeln!(
                    out,
                    "idgate_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                    h.count
                );
                let _ = writeln!(
                    out,
                    "idgate_http_request_duration_seconds_sum{{{labels}}} {}",
                    h.sum
                );
                let _ = writeln!(
                    out,
                    "idgate_http_request_duration_seconds_count{{{labels}}} {}",
                    h.count
                );
            }
        }
        out.push_str("# HELP idgate_scim_operations_total SCIM operations by method and status.\n");
        out.push_str("# TYPE idgate_scim_operations_total counter\n");
        if let Ok(map) = self.scim_ops.lock() {
            for ((method, status), n) in map.iter() {
                let _ = writeln!(
                    out,
                    "idgate_scim_operations_total{{method=\"{method}\",status=\"{status}\"}} {n}"
                );
            }
        }
        out
    }
}

pub async fn record(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let surface = surface(req.path());
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let res = next.call(req).await;
    if let Some(state) = state {
        let status = match &res {
            Ok(res) => res.status(),
            Err(e) => e.as_response_error().status_code(),
        };
        state
            .metrics
            .observe(surface, status.as_u16(), started.elapsed().as_secs_f64());
    }
    res
}
