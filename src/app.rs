//! The application: the route table (the one file that knows every route) and
//! `Application::build`, which binds the listener (port 0 allowed) for tests and `serve`.
//! The shared state lives in `state.rs`, so that handlers do not depend on this file.

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::{App, HttpResponse, HttpServer, middleware, web};

use crate::clock::{Clock, timestamp};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::metrics::{self, Metrics};
use crate::session::Sessions;
use crate::store::{Store, requests, sessions, signin};
use crate::{admin, api, fallback, oauth, saml, scim, telemetry, web as browser};

pub use crate::state::AppState;

/// The `server_settings` key under which a starting server records its `public_url`.
pub const PUBLIC_URL: &str = "public_url";

pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
}

impl Application {
    /// Opens the store (migrating it), binds `config.listen` and prepares the server.
    pub fn build(config: Config, clock: Clock) -> Result<Self> {
        Self::build_with(config, clock, |_| {})
    }

    /// `build`, with `extra` routes added to the table (tests add routes of their own).
    pub fn build_with(
        config: Config,
        clock: Clock,
        extra: fn(&mut web::ServiceConfig),
    ) -> Result<Self> {
        actix_http::h1::set_codec_error_responder(fallback::codec_error);
        let store = Store::open_config(&config, config.read_pool_size)?;
        let sessions = Sessions::open(&store, &config.public_url, clock.now())?;
        // The command line shows values for Entra built from the URL the server runs under.
        let (url, stamp) = (config.public_url.clone(), timestamp(clock.now()));
        let sealer = crate::seal::Sealer::for_data_dir(&config.data_dir)?;
        if config.store_url.is_some() {
            same_sealing_key(&store, &sealer, &config, &stamp)?;
        }
        store.write_now(move |c| crate::store::server::set(c, PUBLIC_URL, &url, &stamp))?;
        let outbound = crate::webhooks::guard::Allow::new(config.outbound_allow_networks.clone());
        let listener = TcpListener::bind(config.listen)
            .map_err(|e| Error::Invalid(format!("cannot listen on {}: {e}", config.listen)))?;
        let port = listener.local_addr().map_err(Error::internal)?.port();
        let oidc = crate::oidc::Runtime::new(&config);
        if config.oidc_authority.starts_with("http://") {
            crate::admin::allow_form_target(&config.oidc_authority);
        }
        let state = web::Data::new(AppState {
            config,
            store,
            clock,
            metrics: Metrics::default(),
            sessions,
            limiter: Default::default(),
            sealer,
            outbound,
            oidc,
        });
        let data = state.clone();
        let workers = state.config.workers;
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::QueryConfig::default().error_handler(|e, _| {
                    let page = browser::pages::message(
                        actix_web::http::StatusCode::BAD_REQUEST,
                        "Bad link",
                        "This link is malformed. Please start again from the sign-in page.",
                        None,
                        Some(("Sign in", "/login")),
                    );
                    actix_web::error::InternalError::from_response(e, page).into()
                }))
                .wrap(middleware::from_fn(fallback::guard))
                .wrap(middleware::from_fn(metrics::record))
                .wrap(middleware::from_fn(telemetry::request_span))
                .configure(routes)
                .configure(extra)
                .default_service(web::to(fallback::not_found))
        })
        .workers(match workers {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        })
        .listen(listener)
        .map_err(Error::internal)?
        .shutdown_timeout(10)
        .run();
        Ok(Self {
            port,
            server,
            state,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// Serves until the server stops (SIGINT/SIGTERM). Every minute it re-reads the signing
    /// keys (`idgate keys rotate` from the command line); every hour it prunes old log rows,
    /// expired sessions, SAML requests and remembered assertion IDs; every day it warns of
    /// expiring credentials. Webhooks are delivered and IdP metadata URLs refreshed all along.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let dispatcher = actix_web::rt::spawn(crate::webhooks::deliver::run(self.state.clone()));
        let metadata = actix_web::rt::spawn(crate::saml::metadata_url::run(self.state.clone()));
        let state = self.state.clone();
        let housekeeping = actix_web::rt::spawn(async move {
            for minute in 0u64.. {
                if minute % 60 == 0 {
                    prune(&state);
                }
                if minute % 1440 == 0 {
                    crate::oidc::watch_expiry(&state, true).await;
                    crate::saml::expiry::watch_expiry(&state, true).await;
                }
                if let Err(e) = state.sessions.reload(&state.store).await {
                    tracing::warn!(error = %e, "reloading the signing keys failed");
                }
                actix_web::rt::time::sleep(std::time::Duration::from_secs(60)).await;
            }
        });
        // On PostgreSQL: other instances' revocations, dropped from this one's memory.
        let follower = self.state.store.changes().map(|changes| {
            let state = self.state.clone();
            actix_web::rt::spawn(async move { state.sessions.follow(changes).await })
        });
        let out = self.server.await;
        if let Some(f) = follower {
            f.abort();
        }
        housekeeping.abort();
        dispatcher.abort();
        metadata.abort();
        out
    }
}

/// Instances sharing a PostgreSQL store must hold the same `secret.key`: what one seals
/// (OIDC client secrets, SAML keys, webhook secrets) the others must open. The first
/// instance records its key's fingerprint; one with another key refuses to start.
fn same_sealing_key(
    store: &Store,
    sealer: &crate::seal::Sealer,
    config: &Config,
    now: &str,
) -> Result<()> {
    const KEY: &str = "sealing_key_fingerprint";
    let mine = sealer.fingerprint();
    let now = now.to_string();
    let recorded = store.write_now(|c| {
        crate::store::sessions::lock_key_creation(c)?;
        match crate::store::server::get(c, KEY)? {
            Some(s) => Ok(s.value),
            None => {
                crate::store::server::set(c, KEY, &mine, &now)?;
                Ok(mine.clone())
            }
        }
    })?;
    if recorded != mine {
        return Err(Error::Invalid(format!(
            "{}/secret.key is not the key the other instances of this store use: copy \
             secret.key from a running instance's data directory (every instance sharing a \
             PostgreSQL store needs the same one)",
            config.data_dir.display()
        )));
    }
    Ok(())
}

fn prune(state: &AppState) {
    let now = state.clock.now();
    let days = i64::from(state.config.request_log_retention_days);
    let cutoff = timestamp(now - time::Duration::days(days));
    let stamp = timestamp(now);
    let session_cutoff = timestamp(now - time::Duration::days(1));
    let event_days = i64::from(state.config.event_retention_days);
    let event_cutoff = timestamp(now - time::Duration::days(event_days));
    let now_unix = now.unix_timestamp();
    state.store.write_detached(move |c| {
        // Once an hour across all instances sharing a PostgreSQL store (55 minutes: an
        // instance's own hourly tick must not just miss its previous claim).
        if !crate::store::server::claim_job(c, "prune", now_unix, 55 * 60, &stamp)? {
            return Ok(());
        }
        tracing::info!("hourly housekeeping: pruning old rows (once for all instances)");
        let floor = crate::store::webhooks::undelivered_floor(c)?;
        let events = crate::store::events::prune(c, &event_cutoff, floor)?;
        if events > 0 {
            tracing::info!(events, "pruned events past their retention");
        }
        let n = requests::prune(c, &cutoff)? + crate::store::webhooks::prune_attempts(c, &cutoff)?;
        let m = signin::prune(c, &stamp, &cutoff)?
            + crate::store::oidc::prune(c, &stamp)?
            + sessions::prune(c, &session_cutoff)?
            + crate::store::auth_failures::prune(c, &session_cutoff)?
            + crate::store::admin::prune_sessions(c, &stamp)?;
        if n + m > 0 {
            tracing::info!(request_log = n, signin_state = m, "pruned old rows");
        }
        Ok(())
    });
}

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics_text))
        .configure(scim::routes)
        .configure(saml::routes)
        .configure(crate::oidc::routes)
        .configure(browser::routes)
        .configure(oauth::routes)
        .configure(api::routes)
        .configure(admin::routes);
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok\n")
}

async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    if state.store.ping().await {
        HttpResponse::Ok()
            .content_type("text/plain")
            .body("ready\n")
    } else {
        HttpResponse::ServiceUnavailable()
            .content_type("text/plain")
            .body("store not ready\n")
    }
}

async fn metrics_text(state: web::Data<AppState>) -> HttpResponse {
    // Expiry dates change when an admin saves a connection: read them at each scrape.
    crate::oidc::watch_expiry(&state, false).await;
    crate::saml::expiry::watch_expiry(&state, false).await;
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render())
}
