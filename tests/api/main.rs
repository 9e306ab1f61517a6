//! One integration-test binary: the real app in-process on port 0 with a temporary SQLite
//! store, driven over real HTTP.

mod admin_access;
mod admin_helpers;
mod admin_oidc;
mod admin_pages;
mod admin_setup;
mod admin_webhooks;
mod bad_input;
mod browser;
mod cli;
mod crash;
mod entra_groups;
mod entra_quirks;
mod entra_users;
mod events;
mod fake_entra;
mod helpers;
mod hostile;
mod hostile_world;
mod logs;
mod oauth;
mod oidc;
mod oidc_identity;
mod product_directory;
mod product_feed;
mod raw_http;
mod receiver;
mod saml;
mod saml_attributes;
mod saml_sp_keys;
mod scim_auth;
mod scim_basics;
mod sessions;
mod signin;
mod webhook_crash;
mod webhooks;
