//! Webhook endpoints (operators only): the list with each endpoint's lag, the add form (the
//! `whsec_…` secret shown once), and each endpoint's page: settings, pause and enable, a new
//! secret, removal, a test event with its result on the page, the lanes (skip, resume,
//! replay) and the delivery log with a resend per event. The operations are those the
//! command line and the product API use (`crate::webhooks`), audited with the admin and
//! the address.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::api_keys::{slug_list, slugs};
use super::auth::Admin;
use super::view::or_page;
use super::view::{self, Nav};
use crate::clock::timestamp;
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::store::events::{self, Query};
use crate::store::orgs::{self, Org};
use crate::store::webhooks::{self as store, Attempt, AttemptQuery, Endpoint};
use crate::webhooks::{self, Input, ReplayFrom, Who, deliver};

mod actions;
use actions::{remove, replay, resend, resume, rotate, set_state, settings, skip, test};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/webhooks", web::get().to(list))
        .route("/admin/webhooks", web::post().to(create))
        .route("/admin/webhooks/{id}", web::get().to(show))
        .route("/admin/webhooks/{id}/settings", web::post().to(settings))
        .route("/admin/webhooks/{id}/state", web::post().to(set_state))
        .route("/admin/webhooks/{id}/rotate", web::post().to(rotate))
        .route("/admin/webhooks/{id}/remove", web::post().to(remove))
        .route("/admin/webhooks/{id}/test", web::post().to(test))
        .route("/admin/webhooks/{id}/resend", web::post().to(resend))
        .route("/admin/webhooks/{id}/skip", web::post().to(skip))
        .route("/admin/webhooks/{id}/resume", web::post().to(resume))
        .route("/admin/webhooks/{id}/replay", web::post().to(replay));
}

/// Delivery-log rows per page.
const LOG_PAGE: u32 = 50;

/// An operator of the admin UI, as the webhook operations see them.
struct Operator {
    name: String,
    ip: Option<String>,
}

impl Who for Operator {
    fn name(&self) -> &str {
        &self.name
    }

    fn org_ids(&self) -> Option<&[i64]> {
        None
    }

    fn ip(&self) -> Option<&str> {
        self.ip.as_deref()
    }
}

fn operator(admin: &Admin) -> Operator {
    Operator {
        name: admin.actor(),
        ip: admin.ip.clone(),
    }
}

/// The message of an error the admin can act on (bad input, a missing org, a conflict);
/// `None` for the store's own failures.
fn problem(e: &Error) -> Option<String> {
    match e {
        Error::Invalid(_) | Error::NotFound(_) | Error::Conflict(_) | Error::BadRequest { .. } => {
            Some(e.to_string())
        }
        _ => None,
    }
}

/// "every type", or the types and patterns.
fn types_text(types: &[String]) -> String {
    if types.is_empty() {
        "every type".into()
    } else {
        types.join(", ")
    }
}

/// The settings form's fields: as the endpoint has them, or as the admin typed them.
#[derive(Deserialize, Default, Clone)]
#[serde(default)]
struct SettingsForm {
    url: String,
    types: String,
    orgs: String,
    description: String,
}

impl SettingsForm {
    fn of(e: &Endpoint, all: &[Org]) -> Self {
        Self {
            url: e.url.clone(),
            types: e.types.join(", "),
            orgs: e
                .org_ids
                .as_deref()
                .map(|ids| slugs(all, Some(ids)))
                .unwrap_or_default(),
            description: e.description.clone(),
        }
    }

    fn input(&self) -> Input {
        let orgs = slug_list(&self.orgs);
        Input {
            url: self.url.trim().to_string(),
            description: self.description.clone(),
            types: self
                .types
                .split([',', ' ', '\n', '\r'])
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_string)
                .collect(),
            orgs: (!orgs.is_empty()).then_some(orgs),
        }
    }
}

// ---- the list ----

/// An endpoint as the list shows it, with its lag over every lane.
struct EndpointRow {
    e: Endpoint,
    types: String,
    orgs: String,
    lanes: usize,
    waiting: i64,
    /// How old the oldest undelivered event is ("" when none waits).
    oldest: String,
    stalled: usize,
}

#[derive(Template)]
#[template(path = "admin/webhooks.html")]
struct ListPage {
    nav: Nav,
    rows: Vec<EndpointRow>,
    entered: SettingsForm,
}

async fn render_list(
    state: &AppState,
    nav: Nav,
    entered: SettingsForm,
    code: StatusCode,
) -> HttpResponse {
    let now = state.clock.now();
    let found = state
        .store
        .read(move |c| {
            let all = orgs::list_orgs(c)?;
            let lanes = store::lanes(c)?;
            let mut rows = Vec::new();
            for e in store::list(c)? {
                let (mut waiting, mut oldest, mut stalled, mut n) = (0, None::<String>, 0, 0);
                for l in lanes.iter().filter(|l| l.endpoint_id == e.id) {
                    let (w, o) = store::backlog(c, l.org_id, l.delivered)?;
                    waiting += w;
                    if let Some(o) = o
                        && oldest.as_ref().is_none_or(|old| o < *old)
                    {
                        oldest = Some(o);
                    }
                    stalled += usize::from(l.stalled.is_some());
                    n += 1;
                }
                rows.push(EndpointRow {
                    types: types_text(&e.types),
                    orgs: slugs(&all, e.org_ids.as_deref()),
                    lanes: n,
                    waiting,
                    oldest: oldest.map(|o| view::age(now, &o)).unwrap_or_default(),
                    stalled,
                    e,
                });
            }
            Ok(rows)
        })
        .await;
    match found {
        Ok(rows) => view::page(code, &ListPage { nav, rows, entered }),
        Err(e) => view::store_failed(&e),
    }
}

async fn list(state: web::Data<AppState>, admin: Admin, q: view::DoneQuery) -> HttpResponse {
    or_page!(view::operator_only(&admin));
    let nav = Nav::new(&admin, None, "webhooks").done(q.done.as_deref());
    render_list(&state, nav, SettingsForm::default(), StatusCode::OK).await
}

#[derive(Template)]
#[template(path = "admin/webhook_secret.html")]
struct SecretPage {
    nav: Nav,
    e: Endpoint,
    secret: String,
    /// After a rotation: until when the previous secret still signs.
    previous_until: Option<String>,
}

async fn create(state: web::Data<AppState>, admin: Admin, body: web::Bytes) -> HttpResponse {
    or_page!(view::operator_only(&admin));
    let form: SettingsForm = or_page!(admin.form(&body));
    let input = form.input();
    let who = operator(&admin);
    let st = state.clone();
    let now = timestamp(state.clock.now());
    let created = state
        .store
        .write(move |c| webhooks::create(c, &st.sealer, &st.outbound, &input, None, &who, &now))
        .await;
    match created {
        Ok((e, secret)) => view::ok(&SecretPage {
            nav: Nav::new(&admin, None, "webhooks"),
            e,
            secret,
            previous_until: None,
        }),
        Err(e) => match problem(&e) {
            Some(p) => {
                let nav = Nav::new(&admin, None, "webhooks")
                    .error(format!("The endpoint was not added: {p}."));
                render_list(&state, nav, form, StatusCode::UNPROCESSABLE_ENTITY).await
            }
            None => view::store_failed(&e),
        },
    }
}

// ---- one endpoint ----

/// A lane as the endpoint page shows it.
struct LaneRow {
    org: String,
    delivered: i64,
    waiting: i64,
    oldest: Option<String>,
    oldest_age: String,
    attempts: i64,
    next_at: Option<String>,
    stalled: Option<String>,
    last_error: Option<String>,
    /// The next event of the endpoint's types the lane waits on (seq, type).
    next: Option<(i64, String)>,
}

/// A delivery-log row.
struct AttemptRow {
    a: Attempt,
    badge: &'static str,
}

/// What one request to the receiver achieved, shown on the page after the POST.
struct Sent {
    what: String,
    ok: bool,
    status: Option<u16>,
    latency_ms: i64,
    error: Option<String>,
    response: Option<String>,
}

impl Sent {
    fn new(what: String, o: &deliver::Outcome) -> Self {
        Self {
            what,
            ok: o.ok,
            status: o.status,
            latency_ms: o.latency_ms,
            error: o.error.clone(),
            response: o.response.clone(),
        }
    }
}

/// The delivery log's filters and page (`?failures=1&event_id=…&before=…`).
#[derive(Deserialize, Default, Clone)]
#[serde(default)]
struct LogQuery {
    failures: String,
    event_id: String,
    before: String,
    done: Option<String>,
}

impl LogQuery {
    fn failures(&self) -> bool {
        !self.failures.is_empty() && self.failures != "0"
    }

    fn before(&self) -> Option<i64> {
        self.before.trim().parse().ok().filter(|b| *b > 0)
    }

    /// The log's link with these filters and `before`.
    fn href(&self, id: &str, before: Option<i64>) -> String {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        if self.failures() {
            pairs.push(("failures", "1".into()));
        }
        if !self.event_id.trim().is_empty() {
            pairs.push(("event_id", self.event_id.trim().to_string()));
        }
        if let Some(b) = before {
            pairs.push(("before", b.to_string()));
        }
        let q = serde_urlencoded::to_string(&pairs).unwrap_or_default();
        format!("/admin/webhooks/{id}?{q}#log")
    }
}

#[derive(Template)]
#[template(path = "admin/webhook.html")]
struct EndpointPage {
    nav: Nav,
    e: Endpoint,
    types: String,
    orgs: String,
    settings: SettingsForm,
    lanes: Vec<LaneRow>,
    attempts: Vec<AttemptRow>,
    failures: bool,
    event_id: String,
    /// The log's newest page, when this is not it; the next older page, if any.
    newest: Option<String>,
    older: Option<String>,
    sent: Option<Sent>,
}

/// What the page shows besides the endpoint's stored state.
#[derive(Default)]
struct Extra {
    error: Option<String>,
    sent: Option<Sent>,
    /// The settings as the admin typed them (a refused change).
    settings: Option<SettingsForm>,
}

async fn render(
    state: &AppState,
    admin: &Admin,
    e: Endpoint,
    q: LogQuery,
    extra: Extra,
    code: StatusCode,
) -> HttpResponse {
    let now = state.clock.now();
    let mut nav = Nav::new(admin, None, "webhooks").done(q.done.as_deref());
    if let Some(err) = extra.error {
        nav = nav.error(err);
    }
    let ep = e.clone();
    let log = AttemptQuery {
        endpoint_id: Some(e.id),
        ok: q.failures().then_some(false),
        event_id: Some(q.event_id.trim().to_string()).filter(|s| !s.is_empty()),
        before: q.before(),
        limit: LOG_PAGE,
    };
    let found = state
        .store
        .read(move |c| {
            let all = orgs::list_orgs(c)?;
            let mut lanes = Vec::new();
            for l in store::lanes(c)?
                .into_iter()
                .filter(|l| l.endpoint_id == ep.id)
            {
                let (waiting, oldest) = store::backlog(c, l.org_id, l.delivered)?;
                let next = events::select(
                    c,
                    &Query {
                        after: l.delivered,
                        org_ids: Some(&[l.org_id]),
                        types: &ep.types,
                        limit: 1,
                    },
                )?
                .into_iter()
                .next()
                .map(|ev| (ev.seq, ev.type_));
                lanes.push(LaneRow {
                    org: all
                        .iter()
                        .find(|o| o.id == l.org_id)
                        .map_or_else(|| format!("(org {})", l.org_id), |o| o.slug.clone()),
                    delivered: l.delivered,
                    waiting,
                    oldest_age: oldest
                        .as_deref()
                        .map(|o| view::age(now, o))
                        .unwrap_or_default(),
                    oldest,
                    attempts: l.attempts,
                    next_at: l.next_at,
                    stalled: l.stalled,
                    last_error: l.last_error,
                    next,
                });
            }
            Ok((all, lanes, store::attempts(c, &log)?))
        })
        .await;
    let (all, lanes, attempts) = match found {
        Ok(f) => f,
        Err(e) => return view::store_failed(&e),
    };
    let older = (attempts.len() == LOG_PAGE as usize)
        .then(|| attempts.last().map(|a| q.href(&e.public_id, Some(a.id))))
        .flatten();
    let newest = q.before().map(|_| q.href(&e.public_id, None));
    view::page(
        code,
        &EndpointPage {
            nav,
            types: types_text(&e.types),
            orgs: slugs(&all, e.org_ids.as_deref()),
            settings: extra.settings.unwrap_or_else(|| SettingsForm::of(&e, &all)),
            lanes,
            attempts: attempts
                .into_iter()
                .map(|a| AttemptRow {
                    badge: if a.ok { "ok" } else { "err" },
                    a,
                })
                .collect(),
            failures: q.failures(),
            event_id: q.event_id.trim().to_string(),
            newest,
            older,
            sent: extra.sent,
            e,
        },
    )
}

/// The endpoint `id` (404 page when there is none).
async fn endpoint(state: &AppState, id: &str) -> std::result::Result<Endpoint, HttpResponse> {
    let id = id.to_string();
    match state.store.read(move |c| store::by_public_id(c, &id)).await {
        Ok(Some(e)) => Ok(e),
        Ok(None) => Err(view::not_found()),
        Err(e) => Err(view::store_failed(&e)),
    }
}

/// A POST to an endpoint's page: operators only, the endpoint, the form (CSRF checked).
async fn endpoint_form<T: serde::de::DeserializeOwned>(
    state: &AppState,
    admin: &Admin,
    id: &str,
    body: &[u8],
) -> std::result::Result<(Endpoint, T), HttpResponse> {
    view::operator_only(admin)?;
    let e = endpoint(state, id).await?;
    Ok((e, admin.form(body)?))
}

fn back(e: &Endpoint) -> String {
    format!("/admin/webhooks/{}", e.public_id)
}

async fn show(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<String>,
    q: web::Query<LogQuery>,
) -> HttpResponse {
    or_page!(view::operator_only(&admin));
    let e = or_page!(endpoint(&state, &id).await);
    render(
        &state,
        &admin,
        e,
        q.into_inner(),
        Extra::default(),
        StatusCode::OK,
    )
    .await
}

/// The endpoint page again with an error on top (a refused action: 422).
impl Extra {
    /// The page again with why the action was refused.
    fn error(message: String) -> Self {
        Self {
            error: Some(message),
            ..Self::default()
        }
    }
}

async fn refused(state: &AppState, admin: &Admin, e: Endpoint, extra: Extra) -> HttpResponse {
    render(
        state,
        admin,
        e,
        LogQuery::default(),
        extra,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await
}

/// Runs one of the webhook operations in a write; 303 to the endpoint page with `done`, or
/// the page again with the reason it was refused.
async fn apply<T: Send + 'static>(
    state: &AppState,
    admin: &Admin,
    e: Endpoint,
    done: &str,
    to: Option<String>,
    op: impl FnOnce(&crate::store::db::Conn, &Endpoint, &dyn Who, &str) -> Result<T> + Send + 'static,
) -> HttpResponse {
    let who = operator(admin);
    let now = timestamp(state.clock.now());
    let ep = e.clone();
    match state.store.write(move |c| op(c, &ep, &who, &now)).await {
        Ok(_) => view::see_other(&to.unwrap_or_else(|| back(&e)), Some(done)),
        Err(err) => match problem(&err) {
            Some(p) => {
                let extra = Extra::error(p);
                refused(state, admin, e, extra).await
            }
            None => view::store_failed(&err),
        },
    }
}
