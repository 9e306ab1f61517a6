//! The provisioning log and the sign-in log as lists: newest first, pages of 200 that go
//! back as far as the logs keep (keyset: `?before=` / `?after=` a row id), searched by user
//! and by status or outcome. A bad query parameter gets a 400 page saying which and why.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use super::auth::Admin;
use super::logs::{millis, shorten, since, status_badge};
use super::view::or_page;
use super::view::{self, Nav};
use crate::state::AppState;
use crate::store::log_pages::{self, Cursor, RequestSearch, SigninSearch, StatusFilter};
use crate::store::requests::RequestLog;
use crate::store::signin::SigninLog;

/// Rows per page.
const PAGE: u32 = 200;

/// Characters a user search may have.
const MAX_USER: usize = 256;

/// A provisioning-log row as a list shows it.
pub(super) struct ProvisioningRow {
    pub id: i64,
    pub at: String,
    pub action: String,
    pub target: String,
    pub target_id: String,
    /// The user's or group's page, for a target with an id.
    pub target_href: Option<String>,
    pub method: String,
    pub path: String,
    pub status: u16,
    pub badge: &'static str,
    pub problem: String,
    pub token: String,
    pub duration: String,
}

impl ProvisioningRow {
    pub(super) fn new(slug: &str, id: i64, r: RequestLog) -> Self {
        let problem = match (&r.scim_type, &r.detail) {
            (Some(t), Some(d)) => format!("{t}: {d}"),
            (Some(t), None) => t.clone(),
            (None, Some(d)) => d.clone(),
            (None, None) => String::new(),
        };
        let kind = if r.path.contains("/Groups") {
            "groups"
        } else {
            "users"
        };
        let target = r
            .target_name
            .clone()
            .or_else(|| r.target_external.clone().map(|e| format!("externalId {e}")))
            .unwrap_or_default();
        Self {
            id,
            badge: status_badge(r.status),
            problem: shorten(&problem, 100),
            token: r.token_name.unwrap_or_default(),
            duration: millis(r.duration_us),
            action: r.action.unwrap_or_default(),
            target: shorten(&target, 80),
            target_href: r
                .target_id
                .as_ref()
                .map(|t| format!("/admin/orgs/{slug}/{kind}/{}", urlencoding_path(t))),
            target_id: r.target_id.unwrap_or_default(),
            at: r.at,
            method: r.method,
            path: r.path,
            status: r.status,
        }
    }
}

/// A path segment with everything but unreserved characters percent-encoded.
fn urlencoding_path(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Previous (newer) / next (older) links of a log page, keeping its search.
pub(super) struct Pager {
    pub page: u32,
    pub prev: Option<String>,
    pub next: Option<String>,
    /// Back to the newest rows, when this page is not them.
    pub newest: Option<String>,
}

/// The query of a log page, read by hand so that a bad value gets a page saying so.
struct Query(Vec<(String, String)>);

impl Query {
    fn parse(req: &HttpRequest) -> Result<Self, HttpResponse> {
        serde_urlencoded::from_str(req.query_string())
            .map(Query)
            .map_err(|e| bad(&format!("The query string cannot be read: {e}.")))
    }

    /// The last value of `key`, trimmed ("" when absent).
    fn get(&self, key: &str) -> &str {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map_or("", |(_, v)| v.trim())
    }

    fn since(&self, state: &AppState) -> Result<(&'static str, Option<String>), HttpResponse> {
        let raw = self.get("since");
        let (code, from) = since(state, raw);
        if code == "all" && !matches!(raw, "" | "all") {
            return Err(bad(
                "since must be all, 1h, 24h, 7d or 30d (how far back the list goes).",
            ));
        }
        Ok((code, from))
    }

    fn user(&self) -> Result<Option<String>, HttpResponse> {
        match self.get("user") {
            "" => Ok(None),
            u if u.chars().count() > MAX_USER => Err(bad(&format!(
                "user is longer than {MAX_USER} characters: give a userName, an email, an id \
                 or an externalId."
            ))),
            u => Ok(Some(u.to_string())),
        }
    }

    /// The page's cursor and number.
    fn cursor(&self) -> Result<(Cursor, u32), HttpResponse> {
        let id = |key: &str| -> Result<Option<i64>, HttpResponse> {
            match self.get(key) {
                "" => Ok(None),
                v => v
                    .parse::<i64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .map(Some)
                    .ok_or_else(|| {
                        bad(&format!(
                            "{key} must be a row number (a positive whole number), not {v:?}."
                        ))
                    }),
            }
        };
        let cursor = match (id("before")?, id("after")?) {
            (Some(_), Some(_)) => return Err(bad("Give before or after, not both.")),
            (Some(b), None) => Cursor::Before(b),
            (None, Some(a)) => Cursor::After(a),
            (None, None) => Cursor::Newest,
        };
        let page = match self.get("page") {
            "" => 1,
            p => p
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=10_000_000).contains(n))
                .ok_or_else(|| bad(&format!("page must be a page number, not {p:?}.")))?,
        };
        Ok((cursor, if cursor == Cursor::Newest { 1 } else { page }))
    }
}

/// The 400 page of a bad query parameter.
fn bad(message: &str) -> HttpResponse {
    crate::web::pages::message(
        StatusCode::BAD_REQUEST,
        "Bad search",
        message,
        None,
        Some(("Admin home", "/admin")),
    )
}

/// Trims a page's rows (fetched `PAGE + 1` in the cursor's direction) to newest first, and
/// links the pages around it. `href(key, id, page)` links a page.
fn paged<T>(
    mut rows: Vec<(i64, T)>,
    cursor: Cursor,
    page: u32,
    href: impl Fn(Option<(&str, i64)>, u32) -> String,
) -> (Vec<(i64, T)>, Pager) {
    let more = rows.len() > PAGE as usize;
    rows.truncate(PAGE as usize);
    if matches!(cursor, Cursor::After(_)) {
        rows.reverse();
    }
    let (newest, oldest) = (rows.first().map(|r| r.0), rows.last().map(|r| r.0));
    let (has_newer, has_older) = match cursor {
        Cursor::Newest => (false, more),
        Cursor::Before(_) => (true, more),
        Cursor::After(_) => (more, true),
    };
    let page = if has_newer { page.max(2) } else { 1 };
    let pager = Pager {
        page,
        prev: newest
            .filter(|_| has_newer)
            .map(|id| href(Some(("after", id)), page - 1)),
        next: oldest
            .filter(|_| has_older)
            .map(|id| href(Some(("before", id)), page + 1)),
        newest: has_newer.then(|| href(None, 1)),
    };
    (rows, pager)
}

/// A link to `path` with the search `params` (empty and "all" left out) and a cursor.
fn link(path: &str, params: &[(&str, &str)], cursor: Option<(&str, i64)>, page: u32) -> String {
    let mut pairs: Vec<(&str, String)> = params
        .iter()
        .filter(|(_, v)| !v.is_empty() && *v != "all")
        .map(|(k, v)| (*k, (*v).to_string()))
        .collect();
    if let Some((key, id)) = cursor {
        pairs.push((key, id.to_string()));
        if page > 1 {
            pairs.push(("page", page.to_string()));
        }
    }
    match serde_urlencoded::to_string(&pairs).unwrap_or_default() {
        q if q.is_empty() => path.to_string(),
        q => format!("{path}?{q}"),
    }
}

fn status_filter(raw: &str) -> Result<(String, StatusFilter), HttpResponse> {
    let filter = match raw {
        "" | "all" => StatusFilter::Any,
        "success" => StatusFilter::Success,
        "failure" => StatusFilter::Failure,
        c if c.len() == 1 => match c.parse::<u16>() {
            Ok(n @ 1..=5) => StatusFilter::Class(n),
            _ => StatusFilter::Exact(0),
        },
        s => match s.parse::<u16>() {
            Ok(n @ 100..=599) => StatusFilter::Exact(n),
            _ => StatusFilter::Exact(0),
        },
    };
    if filter == StatusFilter::Exact(0) {
        return Err(bad(&format!(
            "status must be all, success, failure, a class (2 for 2xx, 4 for 4xx …) or an \
             HTTP status such as 409, not {raw:?}."
        )));
    }
    let code = if raw.is_empty() { "all" } else { raw };
    Ok((code.to_string(), filter))
}

#[derive(Template)]
#[template(path = "admin/provisioning.html")]
struct ProvisioningPage {
    nav: Nav,
    slug: String,
    status: String,
    since: &'static str,
    user: String,
    rows: Vec<ProvisioningRow>,
    pager: Pager,
    limit: u32,
}

impl ProvisioningPage {
    /// True when the list is searched or filtered.
    fn filtered(&self) -> bool {
        self.status != "all" || self.since != "all" || !self.user.is_empty()
    }
}

pub(super) async fn provisioning(
    state: web::Data<AppState>,
    admin: Admin,
    slug: web::Path<String>,
    req: HttpRequest,
) -> HttpResponse {
    let org = or_page!(admin.org(&state, &slug).await);
    let parsed = Query::parse(&req).and_then(|q| {
        let (status, filter) = status_filter(q.get("status"))?;
        Ok((status, filter, q.since(&state)?, q.user()?, q.cursor()?))
    });
    let (status, filter, (since_code, from), user, (cursor, page)) = match parsed {
        Ok(p) => p,
        Err(page) => return page,
    };
    let search = RequestSearch {
        user: user.clone(),
        status: filter,
        since: from,
    };
    let id = org.id;
    let found = state
        .store
        .read(move |c| log_pages::requests(c, id, &search, cursor, PAGE + 1))
        .await;
    let rows = match found {
        Ok(rows) => rows,
        Err(e) => return view::store_failed(&e),
    };
    let path = format!("/admin/orgs/{}/provisioning", org.slug);
    let user = user.unwrap_or_default();
    let params = [
        ("user", user.as_str()),
        ("status", status.as_str()),
        ("since", since_code),
    ];
    let (rows, pager) = paged(rows, cursor, page, |c, n| link(&path, &params, c, n));
    let slug = org.slug.clone();
    view::ok(&ProvisioningPage {
        nav: Nav::new(&admin, Some(&org), "provisioning"),
        rows: rows
            .into_iter()
            .map(|(id, r)| ProvisioningRow::new(&slug, id, r))
            .collect(),
        slug,
        status,
        since: since_code,
        user,
        pager,
        limit: PAGE,
    })
}

#[derive(Template)]
#[template(path = "admin/signins.html")]
struct SigninsPage {
    nav: Nav,
    slug: String,
    outcome: &'static str,
    reason: String,
    since: &'static str,
    user: String,
    rows: Vec<SigninLog>,
    pager: Pager,
    limit: u32,
}

impl SigninsPage {
    /// True when the list is searched or filtered.
    fn filtered(&self) -> bool {
        self.outcome != "all"
            || self.since != "all"
            || !self.user.is_empty()
            || !self.reason.is_empty()
    }
}

/// `?outcome=`: its canonical code and the outcome it stands for.
fn outcome(raw: &str) -> Result<(&'static str, Option<bool>), HttpResponse> {
    match raw {
        "" | "all" => Ok(("all", None)),
        "success" => Ok(("success", Some(true))),
        "failure" => Ok(("failure", Some(false))),
        other => Err(bad(&format!(
            "outcome must be all, success or failure, not {other:?}."
        ))),
    }
}

/// `?reason=`: a reason code (letters, digits, `_`, `-`, `.`).
fn reason(raw: &str) -> Result<Option<String>, HttpResponse> {
    let ok = raw.len() <= 64
        && raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    match raw {
        "" | "all" => Ok(None),
        r if ok => Ok(Some(r.to_ascii_lowercase())),
        r => Err(bad(&format!(
            "reason must be a reason code such as not_provisioned or bad_signature, not {r:?}."
        ))),
    }
}

pub(super) async fn signins(
    state: web::Data<AppState>,
    admin: Admin,
    slug: web::Path<String>,
    req: HttpRequest,
) -> HttpResponse {
    let org = or_page!(admin.org(&state, &slug).await);
    let parsed = Query::parse(&req).and_then(|q| {
        Ok((
            outcome(q.get("outcome"))?,
            reason(q.get("reason"))?,
            q.since(&state)?,
            q.user()?,
            q.cursor()?,
        ))
    });
    let ((outcome, success), reason, (since_code, from), user, (cursor, page)) = match parsed {
        Ok(p) => p,
        Err(page) => return page,
    };
    let search = SigninSearch {
        user: user.clone(),
        success,
        reason: reason.clone(),
        since: from,
    };
    let id = org.id;
    let found = state
        .store
        .read(move |c| log_pages::signins(c, id, &search, cursor, PAGE + 1))
        .await;
    let rows = match found {
        Ok(rows) => rows,
        Err(e) => return view::store_failed(&e),
    };
    let path = format!("/admin/orgs/{}/signins", org.slug);
    let (user, reason) = (user.unwrap_or_default(), reason.unwrap_or_default());
    let params = [
        ("user", user.as_str()),
        ("outcome", outcome),
        ("reason", reason.as_str()),
        ("since", since_code),
    ];
    let (rows, pager) = paged(rows, cursor, page, |c, n| link(&path, &params, c, n));
    view::ok(&SigninsPage {
        nav: Nav::new(&admin, Some(&org), "signins"),
        slug: org.slug,
        outcome,
        reason,
        since: since_code,
        user,
        rows: rows.into_iter().map(|(_, r)| r).collect(),
        pager,
        limit: PAGE,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_link_both_ways_and_keep_the_search() {
        let rows: Vec<(i64, ())> = (1..=201).rev().map(|i| (i + 100, ())).collect();
        let href =
            |c: Option<(&str, i64)>, n| link("/p", &[("user", "a b"), ("status", "all")], c, n);
        let (rows, pager) = paged(rows, Cursor::Newest, 1, href);
        assert_eq!(rows.len(), 200);
        assert_eq!(pager.prev, None);
        assert_eq!(pager.next.as_deref(), Some("/p?user=a+b&before=102&page=2"));
        // Coming back from an older page: fetched oldest first, shown newest first.
        let rows: Vec<(i64, ())> = (1..=5).map(|i| (i, ())).collect();
        let (rows, pager) = paged(rows, Cursor::After(0), 3, href);
        assert_eq!(rows.first().map(|r| r.0), Some(5));
        assert_eq!(pager.prev, None, "the newest rows: no newer page");
        assert_eq!(pager.page, 1);
        assert_eq!(pager.next.as_deref(), Some("/p?user=a+b&before=1&page=2"));
    }

    #[test]
    fn status_filters() {
        assert_eq!(status_filter("").unwrap().1, StatusFilter::Any);
        assert_eq!(status_filter("4").unwrap().1, StatusFilter::Class(4));
        assert_eq!(status_filter("409").unwrap().1, StatusFilter::Exact(409));
        assert_eq!(status_filter("failure").unwrap().1, StatusFilter::Failure);
        for bad in ["0", "9", "600", "40x", "oops"] {
            assert_eq!(status_filter(bad).unwrap_err().status(), 400, "{bad}");
        }
        assert_eq!(urlencoding_path("a b/c"), "a%20b%2Fc");
    }
}
