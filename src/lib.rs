//! idgate: a SAML service provider and SCIM 2.0 provisioning server over one SQLite store.

pub mod admin;
pub mod api;
pub mod app;
pub mod cli;
pub mod clock;
pub mod config;
pub mod directory;
pub mod error;
pub mod events;
pub mod fallback;
#[doc(hidden)]
pub mod fuzzing;
pub mod identity;
pub mod metrics;
pub mod oauth;
pub mod oidc;
pub mod outbound;
pub mod saml;
pub mod scim;
pub mod seal;
pub mod session;
pub mod signin;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod web;
pub mod webhooks;

pub use app::Application;
