//! Webhooks: the event log pushed to the product's endpoints, signed the Standard Webhooks
//! way, delivered in `seq` order per (endpoint, org) lane, at least once, never dropped.
//! Endpoints are managed from the command line, the product API (`webhooks:write`) and
//! the admin UI; the operations they share live here.

pub mod deliver;
pub mod guard;
pub mod sign;

use crate::store::db::Conn;
use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::seal::Sealer;
use crate::store::webhooks::{self as store, Endpoint, NewEndpoint, Settings};
use crate::store::{admin as admin_store, events, orgs};

/// How long the previous secret keeps signing after a rotation.
pub const ROTATION_GRACE: time::Duration = time::Duration::hours(24);

/// An endpoint's settings as a caller gives them.
#[derive(Debug, Clone, Default)]
pub struct Input {
    pub url: String,
    pub description: String,
    /// Names or `x.*` patterns; empty: every type.
    pub types: Vec<String>,
    /// Org slugs; `None`: every org.
    pub orgs: Option<Vec<String>>,
}

/// Who changes endpoints: the audit log's actor, and the orgs it may touch (`None`: all).
pub struct Actor<'a> {
    pub name: &'a str,
    pub org_ids: Option<&'a [i64]>,
}

impl Actor<'_> {
    /// Whether this actor may see or change `e`: an org-restricted actor only endpoints
    /// restricted to orgs it has.
    pub fn sees(&self, e: &Endpoint) -> bool {
        sees(self.org_ids, e)
    }
}

fn sees(mine: Option<&[i64]>, e: &Endpoint) -> bool {
    match (mine, &e.org_ids) {
        (None, _) => true,
        (Some(mine), Some(theirs)) => theirs.iter().all(|id| mine.contains(id)),
        (Some(_), None) => false,
    }
}

/// Whoever changes endpoints, as the operations below see them: a product API key or the
/// command line (`Actor`), or an admin of the web UI, whose audit rows also carry the
/// address the change came from.
pub trait Who {
    /// The audit log's actor.
    fn name(&self) -> &str;
    /// The orgs this actor may touch (`None`: every org).
    fn org_ids(&self) -> Option<&[i64]>;
    /// The client address, for the audit log.
    fn ip(&self) -> Option<&str> {
        None
    }
}

impl Who for Actor<'_> {
    fn name(&self) -> &str {
        self.name
    }

    fn org_ids(&self) -> Option<&[i64]> {
        self.org_ids
    }
}

/// The audit row of a change `actor` made.
fn audit(
    conn: &Conn,
    actor: &dyn Who,
    org_id: Option<i64>,
    now: &str,
    action: &str,
    target: Option<&str>,
    detail: Option<&str>,
) -> Result<()> {
    admin_store::audit(
        conn,
        &admin_store::AuditEntry {
            org_id,
            at: now.to_string(),
            actor: actor.name().to_string(),
            action: action.to_string(),
            target: target.map(str::to_string),
            detail: detail.map(str::to_string),
            ip: actor.ip().map(str::to_string),
        },
    )
}

fn checked(
    conn: &Conn,
    input: &Input,
    allow: &guard::Allow,
    actor: &dyn Who,
) -> Result<(String, Vec<String>, Option<Vec<i64>>)> {
    let url = input.url.trim().to_string();
    allow.check_url(&url).map_err(Error::Invalid)?;
    let types = input
        .types
        .iter()
        .map(|t| t.trim())
        .filter(|t| !t.is_empty())
        .map(|t| crate::events::type_pattern(t).map_err(Error::Invalid))
        .collect::<Result<Vec<_>>>()?;
    let org_ids = match &input.orgs {
        None => None,
        Some(slugs) => Some(
            slugs
                .iter()
                .map(|s| {
                    orgs::org_by_slug(conn, s.trim())?
                        .filter(|o| actor.org_ids().is_none_or(|ids| ids.contains(&o.id)))
                        .map(|o| o.id)
                        .ok_or_else(|| Error::NotFound(format!("no organization {s:?}")))
                })
                .collect::<Result<Vec<_>>>()?,
        ),
    };
    let org_ids = match (org_ids, actor.org_ids()) {
        (Some(ids), _) if ids.is_empty() => {
            return Err(Error::Invalid("list at least one organization".into()));
        }
        (None, Some(mine)) => Some(mine.to_vec()),
        (ids, _) => ids,
    };
    if input.description.chars().count() > 500 {
        return Err(Error::Invalid(
            "the description is longer than 500 characters".into(),
        ));
    }
    Ok((url, types, org_ids))
}

/// Adds an endpoint; it receives the events committed after now, or after `from_seq` to
/// backfill. Returns it with its secret, which is shown this once.
pub fn create(
    conn: &Conn,
    sealer: &Sealer,
    allow: &guard::Allow,
    input: &Input,
    from_seq: Option<i64>,
    actor: &dyn Who,
    now: &str,
) -> Result<(Endpoint, String)> {
    let (url, types, org_ids) = checked(conn, input, allow, actor)?;
    let head = events::head(conn)?;
    let start_after = match from_seq {
        Some(seq) if seq < 1 => return Err(Error::Invalid("from_seq starts at 1".into())),
        Some(seq) => (seq - 1).min(head),
        None => head,
    };
    let secret = sign::new_secret();
    let public_id = format!("we_{}", uuid::Uuid::new_v4().simple());
    let endpoint = store::create(
        conn,
        &NewEndpoint {
            public_id: &public_id,
            url: &url,
            description: input.description.trim(),
            types: &types,
            org_ids: org_ids.as_deref(),
            secret: &sealer.seal(secret.as_bytes()),
            start_after,
            now,
        },
    )?;
    audit(
        conn,
        actor,
        None,
        now,
        "webhook.create",
        Some(&url),
        Some(&public_id),
    )?;
    Ok((endpoint, secret))
}

/// The endpoint `public_id`, if the actor may see it.
pub fn find(conn: &Conn, public_id: &str, actor: &dyn Who) -> Result<Endpoint> {
    store::by_public_id(conn, public_id)?
        .filter(|e| sees(actor.org_ids(), e))
        .ok_or_else(|| Error::NotFound(format!("no webhook endpoint {public_id:?}")))
}

/// Changes an endpoint's URL, description, types or orgs.
pub fn update(
    conn: &Conn,
    e: &Endpoint,
    input: &Input,
    allow: &guard::Allow,
    actor: &dyn Who,
    now: &str,
) -> Result<()> {
    let (url, types, org_ids) = checked(conn, input, allow, actor)?;
    let settings = Settings {
        url: &url,
        description: input.description.trim(),
        types: &types,
        org_ids: org_ids.as_deref(),
    };
    store::update(conn, e.id, &settings, now)?;
    audit(
        conn,
        actor,
        None,
        now,
        "webhook.update",
        Some(&url),
        Some(&e.public_id),
    )
}

/// Enables (re-arming stalled lanes), pauses or disables an endpoint.
pub fn set_state(conn: &Conn, e: &Endpoint, state: &str, actor: &dyn Who, now: &str) -> Result<()> {
    if !["enabled", "paused", "disabled"].contains(&state) {
        return Err(Error::Invalid(format!(
            "state must be enabled, paused or disabled, not {state:?}"
        )));
    }
    let reason = (state != "enabled").then(|| format!("{state} by {}", actor.name()));
    store::set_state(conn, e.id, state, reason.as_deref(), now)?;
    audit(
        conn,
        actor,
        None,
        now,
        &format!("webhook.{state}"),
        Some(&e.url),
        Some(&e.public_id),
    )
}

/// A new secret, shown once; the previous one keeps signing for `ROTATION_GRACE`.
pub fn rotate(
    conn: &Conn,
    sealer: &Sealer,
    e: &Endpoint,
    actor: &dyn Who,
    at: time::OffsetDateTime,
) -> Result<(String, String)> {
    let secret = sign::new_secret();
    let until = crate::clock::timestamp(at + ROTATION_GRACE);
    let now = crate::clock::timestamp(at);
    store::rotate(conn, e.id, &sealer.seal(secret.as_bytes()), &until, &now)?;
    audit(
        conn,
        actor,
        None,
        &now,
        "webhook.rotate-secret",
        Some(&e.url),
        Some(&e.public_id),
    )?;
    Ok((secret, until))
}

pub fn remove(conn: &Conn, e: &Endpoint, actor: &dyn Who, now: &str) -> Result<()> {
    store::delete(conn, e.id)?;
    audit(
        conn,
        actor,
        None,
        now,
        "webhook.remove",
        Some(&e.url),
        Some(&e.public_id),
    )
}

/// Where a replay starts: after a `seq`, or from a time.
pub enum ReplayFrom {
    Seq(i64),
    Time(String),
}

/// Sends every event from a point again (to every lane of the endpoint).
pub fn replay(
    conn: &Conn,
    e: &Endpoint,
    from: &ReplayFrom,
    actor: &dyn Who,
    now: &str,
) -> Result<i64> {
    let after = match from {
        ReplayFrom::Seq(seq) if *seq < 1 => {
            return Err(Error::Invalid("replay starts at seq 1 or later".into()));
        }
        ReplayFrom::Seq(seq) => seq - 1,
        ReplayFrom::Time(t) => {
            let t = crate::clock::normalize_timestamp(t)
                .ok_or_else(|| Error::Invalid(format!("{t:?} is not an RFC 3339 time")))?;
            events::before_time(conn, &t)?
        }
    };
    store::replay(conn, e.id, after, now)?;
    let what = format!("after seq {after}");
    audit(
        conn,
        actor,
        None,
        now,
        "webhook.replay",
        Some(&e.url),
        Some(&what),
    )?;
    Ok(after)
}

/// Marks a waiting lane's next event done without sending it (audited).
pub fn skip(
    conn: &Conn,
    e: &Endpoint,
    org_id: i64,
    seq: i64,
    actor: &dyn Who,
    now: &str,
) -> Result<()> {
    let lane = store::lanes(conn)?
        .into_iter()
        .find(|l| l.endpoint_id == e.id && l.org_id == org_id)
        .ok_or_else(|| Error::NotFound("this endpoint has no lane for that organization".into()))?;
    let next = events::select(
        conn,
        &events::Query {
            after: lane.delivered,
            org_ids: Some(&[org_id]),
            types: &e.types,
            limit: 1,
        },
    )?;
    match next.first() {
        Some(ev) if ev.seq == seq => {
            store::skip(conn, e.id, org_id, lane.delivered, seq)?;
            let what = format!("seq {seq} ({})", ev.type_);
            audit(
                conn,
                actor,
                Some(org_id),
                now,
                "webhook.skip",
                Some(&e.url),
                Some(&what),
            )
        }
        Some(ev) => Err(Error::Conflict(format!(
            "the lane waits on seq {}, not {seq}; only the next event can be skipped",
            ev.seq
        ))),
        None => Err(Error::Conflict("the lane has nothing waiting".into())),
    }
}

/// Re-arms an endpoint's stalled lanes: their next event is tried at once.
pub fn resume(conn: &Conn, e: &Endpoint, actor: &dyn Who, now: &str) -> Result<usize> {
    let n = store::rearm(conn, e.id)?;
    audit(
        conn,
        actor,
        None,
        now,
        "webhook.resume",
        Some(&e.url),
        Some(&e.public_id),
    )?;
    Ok(n)
}

/// The product-facing form of an endpoint (never its secret).
/// The event at `seq` when endpoint `e` receives its org's events; `None` when there is no
/// such event (never, or pruned) or it belongs to an org the endpoint does not serve.
pub fn event_for(conn: &Conn, e: &Endpoint, seq: i64) -> Result<Option<events::EventRow>> {
    Ok(events::find(conn, Some(seq), None)?.filter(|ev| {
        e.org_ids
            .as_ref()
            .is_none_or(|ids| ids.contains(&ev.org_id))
    }))
}

pub fn to_json(e: &Endpoint, slugs: &dyn Fn(i64) -> Option<String>) -> Value {
    json!({
        "id": e.public_id,
        "url": e.url,
        "description": e.description,
        "types": e.types,
        "orgs": e.org_ids.as_ref().map(|ids| ids.iter().filter_map(|id| slugs(*id)).collect::<Vec<_>>()),
        "state": e.state,
        "state_reason": e.state_reason,
        "start_after": e.start_after,
        "previous_secret_until": e.old_secret_until,
        "created": e.created,
        "updated": e.updated,
    })
}
