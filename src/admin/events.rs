//! An org's event log as its admins and the operators read it: newest first, pages keyed on
//! `seq`, a type filter; each event with its target and source, and, when SCIM caused it,
//! a link to the provisioning-log entry of that request. The provisioning entry links back
//! to the events its request caused (`caused_by`).

use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::auth::Admin;
use super::directory::pretty;
use super::view::or_page;
use super::view::{self, Nav};
use crate::clock::timestamp;
use crate::error::Result;
use crate::events::Kind;
use crate::state::AppState;
use crate::store::events::{self, EventRow};
use crate::store::requests;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/orgs/{slug}/events", web::get().to(list));
}

/// Events per page.
const PAGE: u32 = 50;

/// How far from an event's time its request's log row is looked for: the row is written
/// when the response is, so after the event (a long request, a busy writer), and the clocks
/// of both are the same but read at different moments.
const ROW_BEFORE: time::Duration = time::Duration::minutes(1);
const ROW_AFTER: time::Duration = time::Duration::minutes(5);

/// An event as the page shows it.
pub struct EventView {
    pub seq: i64,
    pub at: String,
    pub type_: String,
    /// Who or what it is about: a user's userName and display name, a group's name …
    pub target: String,
    /// `scim`, `admin` (with the admin), `cli`, `signin`.
    pub source: String,
    pub request_id: Option<String>,
    /// The provisioning-log row of the request that caused it, when still logged.
    pub log_row: Option<i64>,
    pub json: String,
}

fn text(v: &Value) -> Option<&str> {
    v.as_str().filter(|s| !s.is_empty())
}

/// What an event is about, from its `data`.
fn target(type_: &str, data: &Value) -> String {
    let name_and_display = |name: Option<&str>, display: Option<&str>| match (name, display) {
        (Some(n), Some(d)) if n != d => format!("{n} ({d})"),
        (Some(n), _) => n.to_string(),
        (None, Some(d)) => d.to_string(),
        (None, None) => String::new(),
    };
    if type_.starts_with("user.") {
        name_and_display(text(&data["user_name"]), text(&data["display_name"]))
    } else if type_.starts_with("group.member_") {
        let group = text(&data["group"]["display_name"]).unwrap_or("?");
        let member = text(&data["member_id"]).unwrap_or("?");
        let kind = text(&data["member_type"]).unwrap_or("member");
        format!("{group}: {kind} {member}")
    } else if type_.starts_with("group.") {
        text(&data["display_name"]).unwrap_or_default().to_string()
    } else if type_.starts_with("org.") {
        name_and_display(text(&data["slug"]), text(&data["name"]))
    } else {
        String::new()
    }
}

impl EventView {
    fn new(row: EventRow) -> Self {
        let v: Value = serde_json::from_str(&row.envelope).unwrap_or(Value::Null);
        let source = &v["source"];
        let source = match (text(&source["type"]), text(&source["actor"])) {
            (Some(t), Some(a)) => format!("{t} ({a})"),
            (Some(t), None) => t.to_string(),
            _ => String::new(),
        };
        Self {
            seq: row.seq,
            at: text(&v["timestamp"]).unwrap_or_default().to_string(),
            target: target(&row.type_, &v["data"]),
            type_: row.type_,
            source,
            request_id: row.request_id,
            log_row: None,
            json: pretty(&v),
        }
    }
}

fn parse(t: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(t, &Rfc3339).ok()
}

/// Finds each SCIM-caused event's provisioning-log row (one query for the page).
fn link_rows(c: &crate::store::db::Conn, org_id: i64, rows: &mut [EventView]) -> Result<()> {
    let times: Vec<OffsetDateTime> = rows
        .iter()
        .filter(|r| r.request_id.is_some())
        .filter_map(|r| parse(&r.at))
        .collect();
    let (Some(first), Some(last)) = (times.iter().min(), times.iter().max()) else {
        return Ok(());
    };
    let mut ids: Vec<String> = rows.iter().filter_map(|r| r.request_id.clone()).collect();
    ids.sort();
    ids.dedup();
    let found = requests::ids_by_request(
        c,
        org_id,
        &timestamp(*first - ROW_BEFORE),
        &timestamp(*last + ROW_AFTER),
        &ids,
    )?;
    for r in rows.iter_mut() {
        r.log_row = found
            .iter()
            .find(|(id, _)| Some(id) == r.request_id.as_ref())
            .map(|(_, row)| *row);
    }
    Ok(())
}

/// The events the SCIM request logged at `at`, taking `duration_us`, caused (at most 200).
pub fn caused_by(
    c: &crate::store::db::Conn,
    org_id: i64,
    request_id: &str,
    at: &str,
    duration_us: i64,
) -> Result<Vec<EventView>> {
    let Some(at) = parse(at) else {
        return Ok(Vec::new());
    };
    let took = time::Duration::microseconds(duration_us.max(0));
    let (from, to) = (timestamp(at - took - ROW_AFTER), timestamp(at + ROW_BEFORE));
    Ok(events::by_request(c, org_id, request_id, &from, &to, 200)?
        .into_iter()
        .map(EventView::new)
        .collect())
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct EventsQuery {
    #[serde(rename = "type")]
    type_: String,
    before: String,
}

#[derive(Template)]
#[template(path = "admin/events.html")]
struct EventsPage {
    nav: Nav,
    slug: String,
    type_: String,
    /// The type filter's choices (value, label, selected): the families and every type.
    types: Vec<(&'static str, String, bool)>,
    rows: Vec<EventView>,
    newest: Option<String>,
    older: Option<String>,
}

/// The families (`user.`) and the types, for the filter, with `chosen` selected.
fn type_choices(chosen: &str) -> Vec<(&'static str, String, bool)> {
    ["user.", "group.", "org."]
        .into_iter()
        .chain(Kind::ALL.iter().map(|k| k.as_str()))
        .map(|t| {
            let label = if t.ends_with('.') {
                format!("{t}*")
            } else {
                t.to_string()
            };
            (t, label, t == chosen)
        })
        .collect()
}

fn href(slug: &str, type_: &str, before: Option<i64>) -> String {
    let mut pairs: Vec<(&str, String)> = Vec::new();
    if !type_.is_empty() {
        pairs.push(("type", type_.to_string()));
    }
    if let Some(b) = before {
        pairs.push(("before", b.to_string()));
    }
    match serde_urlencoded::to_string(&pairs).unwrap_or_default() {
        q if q.is_empty() => format!("/admin/orgs/{slug}/events"),
        q => format!("/admin/orgs/{slug}/events?{q}"),
    }
}

async fn list(
    state: web::Data<AppState>,
    admin: Admin,
    slug: web::Path<String>,
    query: web::Query<EventsQuery>,
) -> HttpResponse {
    let org = or_page!(admin.org(&state, &slug).await);
    let type_ = query.type_.trim().to_string();
    let before = query.before.trim().parse::<i64>().ok().filter(|b| *b > 0);
    let (id, prefix) = (org.id, type_.clone());
    let found = state
        .store
        .read(move |c| {
            let mut rows: Vec<EventView> = events::org_page(c, id, before, &prefix, PAGE)?
                .into_iter()
                .map(EventView::new)
                .collect();
            link_rows(c, id, &mut rows)?;
            Ok(rows)
        })
        .await;
    let rows = match found {
        Ok(rows) => rows,
        Err(e) => return view::store_failed(&e),
    };
    let older = (rows.len() == PAGE as usize)
        .then(|| rows.last().map(|r| href(&org.slug, &type_, Some(r.seq))))
        .flatten();
    view::ok(&EventsPage {
        nav: Nav::new(&admin, Some(&org), "events"),
        newest: before.map(|_| href(&org.slug, &type_, None)),
        older,
        slug: org.slug,
        types: type_choices(&type_),
        type_,
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn targets_name_what_the_event_is_about() {
        let user = json!({"user_name": "ada@acme.com", "display_name": "Ada L"});
        assert_eq!(target("user.created", &user), "ada@acme.com (Ada L)");
        assert_eq!(target("user.deleted", &json!({"user_name": "b@x"})), "b@x");
        assert_eq!(
            target("group.updated", &json!({"display_name": "Eng"})),
            "Eng"
        );
        let member = json!({"group": {"display_name": "Eng"}, "member_id": "u1",
                            "member_type": "User"});
        assert_eq!(target("group.member_added", &member), "Eng: User u1");
        assert_eq!(
            target("org.updated", &json!({"slug": "acme", "name": "Acme"})),
            "acme (Acme)"
        );
        assert_eq!(target("user.created", &Value::Null), "");
    }
}
