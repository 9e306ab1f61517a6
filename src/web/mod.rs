//! The browser and product surface: email-first sign-in, logout, forward-auth, the session
//! as JSON, the JWKS. SAML's own endpoints live in `saml::routes`.

mod login;
pub mod pages;
mod session;

use actix_web::web;

pub use login::finish;
pub use session::groups_header;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(session::home))
        .route("/login", web::get().to(login::show))
        .route("/login", web::post().to(login::submit))
        .route("/logout", web::post().to(login::logout))
        .route("/auth/verify", web::get().to(session::verify))
        .route("/api/v1/session", web::get().to(session::session_json))
        .route("/.well-known/jwks.json", web::get().to(session::jwks))
        .route("/static/idgate.css", web::get().to(session::stylesheet));
}
