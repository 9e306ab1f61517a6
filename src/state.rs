//! What every handler can reach. Its own module so that the surfaces depend on it, not on
//! `app.rs`, which depends on every surface for the route table.

use crate::clock::Clock;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::session::Sessions;
use crate::store::Store;

pub struct AppState {
    pub config: Config,
    pub store: Store,
    pub clock: Clock,
    pub metrics: Metrics,
    pub sessions: Sessions,
    pub limiter: crate::signin::ratelimit::Limiter,
    /// Seals the secrets idgate must use (webhook signing secrets).
    pub sealer: crate::seal::Sealer,
    /// The SSRF guard's exceptions for outgoing requests.
    pub outbound: crate::webhooks::guard::Allow,
    /// OIDC's key cache and the client for the configured authority.
    pub oidc: crate::oidc::Runtime,
}
