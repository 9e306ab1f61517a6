//! One integration-test binary: the real app in-process on port 0 with a temporary SQLite
//! store, driven over real HTTP.

mod crash;
mod helpers;
mod scim_auth;
mod scim_basics;
