//! `GET /api/v1/events?after=SEQ&limit=N&types=user.*,group.*&org=SLUG&wait=SECONDS`: the
//! events in `seq` order, exactly as stored; `wait` long-polls (at most 30 s) until one
//! exists. A cursor older than what is kept answers 410 with the oldest `seq`: re-list.

use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use super::{ApiError, ApiKeyAuth, schema};
use crate::state::AppState;
use crate::store::events::{self, EventRow, Query};

const MAX_LIMIT: u32 = 1000;
const MAX_WAIT: u64 = 30;
/// How often a waiting request looks again.
const POLL: Duration = Duration::from_millis(100);

/// The query, checked.
struct Feed {
    after: i64,
    limit: u32,
    types: Vec<String>,
    org: Option<String>,
    wait: Duration,
}

fn parse(query: &str) -> Result<Feed, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query)
        .map_err(|e| ApiError::bad(format!("the query string cannot be read: {e}")))?;
    let mut feed = Feed {
        after: 0,
        limit: 100,
        types: Vec::new(),
        org: None,
        wait: Duration::ZERO,
    };
    for (k, v) in pairs {
        let number = |what: &str| {
            v.trim().parse::<u64>().map_err(|_| {
                ApiError::bad(format!("{k} must be a whole number ({what}), not {v:?}"))
            })
        };
        match k.as_str() {
            "after" => {
                feed.after = i64::try_from(number("a seq")?)
                    .map_err(|_| ApiError::bad("after is too large"))?;
            }
            "limit" => match number("1 to 1000")? {
                n @ 1..=1000 => feed.limit = n as u32,
                _ => return Err(ApiError::bad(format!("limit must be 1 to {MAX_LIMIT}"))),
            },
            "wait" => match number("seconds, at most 30")? {
                n @ 0..=MAX_WAIT => feed.wait = Duration::from_secs(n),
                _ => {
                    return Err(ApiError::bad(format!(
                        "wait must be 0 to {MAX_WAIT} seconds"
                    )));
                }
            },
            "types" => {
                for t in v.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                    feed.types.push(type_pattern(t)?);
                }
            }
            "org" => feed.org = Some(v),
            _ => return Err(ApiError::bad(format!("unknown parameter {k:?}"))),
        }
    }
    Ok(feed)
}

fn type_pattern(t: &str) -> Result<String, ApiError> {
    crate::events::type_pattern(t).map_err(ApiError::bad)
}

#[utoipa::path(get, path = "/api/v1/events", tag = "events",
    description = "Events in seq order (scope events:read); wait long-polls until one exists.",
    params(("after" = Option<i64>, Query, minimum = 0, description = "Events after this seq (0)"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "At most this many (100)"),
        ("types" = Option<String>, Query, description = "Comma-separated types or patterns: user.*,group.created"),
        ("org" = Option<String>, Query, description = "Only this org's events (slug)"),
        ("wait" = Option<u32>, Query, minimum = 0, maximum = 30, description = "Seconds to wait for an event")),
    responses((status = 200, body = schema::EventPage), (status = 400, description = "Bad parameter", body = schema::Error), (status = 401, description = "Missing or bad API key", body = schema::Error), (status = 403, description = "The key lacks the scope", body = schema::Error), (status = 404, description = "Not found, or not visible to this key", body = schema::Error),
        (status = 410, description = "The cursor is older than what is kept: re-list", body = schema::Error)))]
pub(super) async fn events(
    state: web::Data<AppState>,
    key: ApiKeyAuth,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    key.require("events:read")?;
    let feed = parse(req.query_string())?;
    let org_ids: Option<Vec<i64>> = match &feed.org {
        Some(slug) => Some(vec![key.org(&state, slug).await?.id]),
        None => key.0.org_ids.clone(),
    };
    let deadline = Instant::now() + feed.wait;
    loop {
        let (rows, head) = read(&state, &feed, org_ids.clone()).await?;
        if !rows.is_empty() || Instant::now() >= deadline {
            return Ok(page(&rows, feed.after, head));
        }
        actix_web::rt::time::sleep(POLL.min(deadline - Instant::now())).await;
    }
}

/// One read: the events and the head, in one read transaction; 410 for a pruned cursor.
async fn read(
    state: &AppState,
    feed: &Feed,
    org_ids: Option<Vec<i64>>,
) -> Result<(Vec<EventRow>, i64), ApiError> {
    let (after, limit, types) = (feed.after, feed.limit, feed.types.clone());
    let (rows, head, oldest) = state
        .store
        .read(move |c| {
            let q = Query {
                after,
                org_ids: org_ids.as_deref(),
                types: &types,
                limit,
            };
            Ok((events::select(c, &q)?, events::head(c)?, events::oldest(c)?))
        })
        .await?;
    // Events after the cursor were pruned when the oldest kept is further on (or none is
    // kept although some were given).
    let first_kept = oldest.unwrap_or(head + 1);
    if feed.after.saturating_add(1) < first_kept && feed.after < head {
        let mut gone = ApiError::new(
            StatusCode::GONE,
            "cursor_expired",
            format!(
                "events after {} are no longer kept; list the directory again and follow \
                 the feed from its events_cursor",
                feed.after
            ),
        );
        gone.extra = Some(json!({"oldest_seq": first_kept}));
        return Err(gone);
    }
    Ok((rows, head))
}

/// The page: the stored envelopes as they are, and where to go on from.
fn page(rows: &[EventRow], after: i64, head: i64) -> HttpResponse {
    let next = rows.last().map_or(after, |r| r.seq);
    let mut body = String::from("{\"events\":[");
    for (i, r) in rows.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&r.envelope);
    }
    body.push_str(&format!("],\"next_after\":{next},\"head\":{head}}}"));
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header(("Cache-Control", "no-store"))
        .body(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_is_checked() {
        let f = parse("after=5&limit=10&types=user.*,group.member_added&wait=3&org=acme").unwrap();
        assert_eq!((f.after, f.limit, f.wait.as_secs()), (5, 10, 3));
        assert_eq!(f.types, ["user.*", "group.member_added"]);
        assert_eq!(f.org.as_deref(), Some("acme"));
        for bad in [
            "after=-1",
            "after=x",
            "limit=0",
            "limit=1001",
            "wait=31",
            "types=user.nope",
            "types=nope.*",
            "bogus=1",
            "after=99999999999999999999",
        ] {
            let e = parse(bad).err().unwrap_or_else(|| panic!("{bad} accepted"));
            assert_eq!(e.status, StatusCode::BAD_REQUEST, "{bad}");
            assert!(!e.message.is_empty());
        }
        assert!(parse("types=*").is_ok());
        assert_eq!(parse("").unwrap().limit, 100);
    }
}
