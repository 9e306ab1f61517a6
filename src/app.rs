//! The application: shared state, the route table (the one file that knows every route),
//! and `Application::build`, which binds the listener (port 0 allowed) for tests and `serve`.

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::{App, HttpResponse, HttpServer, middleware, web};

use crate::clock::{Clock, timestamp};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::metrics::{self, Metrics};
use crate::store::{Store, requests};
use crate::{saml, scim, telemetry};

/// What every handler can reach.
pub struct AppState {
    pub config: Config,
    pub store: Store,
    pub clock: Clock,
    pub metrics: Metrics,
}

pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
}

impl Application {
    /// Opens the store (migrating it), binds `config.listen` and prepares the server.
    pub fn build(config: Config, clock: Clock) -> Result<Self> {
        let store = Store::open(
            &config.database_path(),
            config.read_pool_size,
            config.max_batch,
        )?;
        let listener = TcpListener::bind(config.listen)
            .map_err(|e| Error::Invalid(format!("cannot listen on {}: {e}", config.listen)))?;
        let port = listener.local_addr().map_err(Error::internal)?.port();
        let state = web::Data::new(AppState {
            config,
            store,
            clock,
            metrics: Metrics::default(),
        });
        let data = state.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::QueryConfig::default().error_handler(|e, _| {
                    scim::ScimError(Error::invalid_value(format!("bad query string: {e}"))).into()
                }))
                .wrap(middleware::from_fn(metrics::record))
                .wrap(middleware::from_fn(telemetry::request_span))
                .configure(routes)
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

    /// Serves until the server stops (SIGINT/SIGTERM); prunes the request log hourly.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let state = self.state.clone();
        let pruner = actix_web::rt::spawn(async move {
            loop {
                prune_request_log(&state);
                actix_web::rt::time::sleep(std::time::Duration::from_secs(3600)).await;
            }
        });
        let out = self.server.await;
        pruner.abort();
        out
    }
}

fn prune_request_log(state: &AppState) {
    let days = i64::from(state.config.request_log_retention_days);
    let cutoff = timestamp(state.clock.now() - time::Duration::days(days));
    state.store.write_detached(move |c| {
        let n = requests::prune(c, &cutoff)?;
        if n > 0 {
            tracing::info!(rows = n, "pruned the SCIM request log");
        }
        Ok(())
    });
}

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics_text))
        .configure(scim::routes)
        .configure(saml::routes);
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
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render())
}
