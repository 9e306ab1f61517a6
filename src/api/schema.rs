//! The product API's response shapes as Rust types, for the OpenAPI document
//! (`/api/v1/openapi.json`). Request bodies are the handlers' own `Deserialize` types; the
//! responses are built where the data is (the product forms in `directory::product` and
//! `events`, stored envelopes served byte for byte), and `make test` runs schemathesis against
//! the running server to hold the two together: every response must match these shapes.
#![allow(dead_code)] // fields are read by the schema derive only

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// Every error: a stable code and a message for the developer.
#[derive(Serialize, ToSchema)]
pub struct Error {
    /// invalid_request, unauthorized, insufficient_scope, not_found, conflict,
    /// cursor_expired, unavailable, …
    pub error: String,
    pub message: String,
    /// With `cursor_expired` (410): the oldest `seq` still kept.
    pub oldest_seq: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct Domain {
    pub domain: String,
    /// Passwords are refused for this domain: its people sign in through SSO.
    pub sso_only: bool,
}

#[derive(Serialize, ToSchema)]
pub struct Sso {
    pub protocol: String,
    pub idp_entity_id: String,
    pub sso_url: String,
    /// How many signing certificates are trusted.
    pub certificates: i64,
}

/// An organization: its settings, domains, role mapping and identity provider.
#[derive(Serialize, ToSchema)]
pub struct Org {
    pub id: i64,
    pub slug: String,
    pub name: String,
    pub domains: Vec<Domain>,
    pub scim_enabled: bool,
    pub group_sync: bool,
    pub strict_attributes: bool,
    pub required_attributes: Vec<String>,
    pub role_attribute: String,
    /// IdP role value → idgate role.
    pub role_mapping: BTreeMap<String, String>,
    pub default_role: Option<String>,
    pub sso: Option<Sso>,
    pub idp_initiated: bool,
    pub jit: bool,
    pub clock_skew_seconds: i64,
    pub created: String,
}

/// A provisioned user in the product's form (the same object events carry as `data`).
#[derive(Serialize, ToSchema)]
pub struct User {
    pub id: String,
    pub external_id: Option<String>,
    pub user_name: Option<String>,
    /// The primary (else first) email, else a userName that is an address; lowercased.
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub active: bool,
    /// The role as the IdP sent it.
    pub role_value: Option<String>,
    /// The role after the org's mapping and default.
    pub role: Option<String>,
    pub job_title: Option<String>,
    pub department: Option<String>,
    pub employee_id: Option<String>,
    pub manager_id: Option<String>,
    pub created: String,
    pub updated: String,
    /// Grows with every change.
    pub version: i64,
    /// The full SCIM document, for anything else.
    #[schema(value_type = Object)]
    pub scim: Value,
}

/// A provisioned group in the product's form (members are listed separately).
#[derive(Serialize, ToSchema)]
pub struct Group {
    pub id: String,
    pub external_id: Option<String>,
    pub display_name: Option<String>,
    pub created: String,
    pub updated: String,
    pub version: i64,
    #[schema(value_type = Object)]
    pub scim: Value,
}

#[derive(Serialize, ToSchema)]
pub struct Member {
    pub id: String,
    /// User or Group.
    #[serde(rename = "type")]
    pub type_: Option<String>,
    pub display_name: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct OrgList {
    pub data: Vec<Org>,
}

/// One page of a list. `next_cursor` is absent (null) on the last page; `events_cursor`
/// is on the first page only: follow the event feed from it (`after=events_cursor`).
#[derive(Serialize, ToSchema)]
pub struct UserPage {
    pub data: Vec<User>,
    pub next_cursor: Option<String>,
    pub events_cursor: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct GroupPage {
    pub data: Vec<Group>,
    pub next_cursor: Option<String>,
    pub events_cursor: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct MemberPage {
    pub data: Vec<Member>,
    pub next_cursor: Option<String>,
    pub events_cursor: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct EventOrg {
    pub id: i64,
    pub slug: String,
}

#[derive(Serialize, ToSchema)]
pub struct EventSource {
    /// scim, admin, cli, signin, or metadata_refresh (an IdP metadata URL fetched on schedule).
    #[serde(rename = "type")]
    pub type_: String,
    /// The provisioning log's request id, for SCIM.
    pub request_id: Option<String>,
    /// Who, for admin changes.
    pub actor: Option<String>,
}

/// One event: the exact bytes stored once, served by the feed and signed in webhooks.
#[derive(Serialize, ToSchema)]
pub struct Event {
    /// `evt_…`: the same on every retry (the `webhook-id`).
    pub id: String,
    /// user.created, user.updated, user.deactivated, user.reactivated, user.deleted,
    /// group.created, group.updated, group.deleted, group.member_added,
    /// group.member_removed, org.created, org.updated, org.deleted.
    #[serde(rename = "type")]
    pub type_: String,
    /// Strictly increasing in commit order; never reused.
    pub seq: i64,
    pub timestamp: String,
    pub org: EventOrg,
    pub source: EventSource,
    /// The user, group or org after the change (as the directory returns it); for member
    /// events the group with `member` (id and type).
    #[schema(value_type = Object)]
    pub data: Value,
    /// The old values of the fields that changed.
    #[schema(value_type = Option<Object>)]
    pub previous: Option<Value>,
}

#[derive(Serialize, ToSchema)]
pub struct EventPage {
    pub events: Vec<Event>,
    /// Pass as `after` to read on.
    pub next_after: i64,
    /// The newest `seq` given so far.
    pub head: i64,
}

/// An event type, `*` (every type) or a kind of resource's `user.*`, `group.*`, `org.*`. The
/// API also accepts any other prefix of a type followed by `*`.
pub struct TypePattern;

impl utoipa::PartialSchema for TypePattern {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(crate::events::canonical_patterns()))
            .description(Some(
                "An event type, `*` (every type), or `user.*`, `group.*`, `org.*`. Any other \
                 prefix of a type followed by `*` is accepted too.",
            ))
            .into()
    }
}

impl ToSchema for TypePattern {}

/// What an endpoint does with its events: `enabled` (delivers), `paused` (keeps them for
/// later), `disabled` (as after a 410 Gone).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum EndpointState {
    Enabled,
    Paused,
    Disabled,
}

/// A webhook endpoint (never its secret).
#[derive(Serialize, ToSchema)]
pub struct Endpoint {
    /// `we_…`
    pub id: String,
    pub url: String,
    pub description: String,
    /// Event types or `x.*` patterns; empty: every type.
    pub types: Vec<String>,
    /// Org slugs; null: every org.
    pub orgs: Option<Vec<String>>,
    /// enabled, paused or disabled.
    pub state: String,
    pub state_reason: Option<String>,
    /// The endpoint receives the events after this seq.
    pub start_after: i64,
    /// During a secret rotation, until when the previous secret also signs.
    pub previous_secret_until: Option<String>,
    pub created: String,
    pub updated: String,
}

/// A new endpoint, with its signing secret (shown this once).
#[derive(Serialize, ToSchema)]
pub struct CreatedEndpoint {
    #[serde(flatten)]
    pub endpoint: Endpoint,
    /// `whsec_…`: verify `webhook-signature` with it (Standard Webhooks).
    pub secret: String,
}

#[derive(Serialize, ToSchema)]
pub struct EndpointList {
    pub endpoints: Vec<Endpoint>,
}

#[derive(Serialize, ToSchema)]
pub struct RotatedSecret {
    pub secret: String,
    pub previous_secret_until: String,
}

/// What one delivery attempt achieved.
#[derive(Serialize, ToSchema)]
pub struct Outcome {
    pub ok: bool,
    pub status: Option<i64>,
    pub latency_ms: i64,
    pub error: Option<String>,
    /// The start of the receiver's answer.
    pub response: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Lane {
    pub org: Option<String>,
    pub delivered_through_seq: i64,
    /// Events of the org after the cursor (of any type).
    pub waiting: i64,
    pub oldest_waiting: Option<String>,
    pub failed_attempts: i64,
    pub next_attempt_at: Option<String>,
    /// Set when retries ran out: the lane waits (nothing is dropped).
    pub stalled_since: Option<String>,
    pub last_error: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct LaneList {
    pub lanes: Vec<Lane>,
}

#[derive(Serialize, ToSchema)]
pub struct Attempt {
    pub id: i64,
    pub at: String,
    /// delivery, resend or test.
    pub trigger: String,
    pub event_id: String,
    pub event_type: String,
    pub seq: Option<i64>,
    pub attempt: i64,
    pub ok: bool,
    pub status: Option<i64>,
    pub latency_ms: i64,
    pub error: Option<String>,
    pub response: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AttemptPage {
    pub attempts: Vec<Attempt>,
    /// Pass as `before` for older attempts; null on the last page.
    pub next_before: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct Replaying {
    pub replaying_after_seq: i64,
}

#[derive(Serialize, ToSchema)]
pub struct Rearmed {
    pub lanes_rearmed: i64,
}

#[derive(Serialize, ToSchema)]
pub struct Skipped {
    pub skipped_seq: i64,
}
