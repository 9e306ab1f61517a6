//! The delivery loop. One task on the server's main runtime watches the event log (woken by
//! every commit, and every 250 ms for writes of other processes such as the command line),
//! and runs one task per (endpoint, org) lane that has events waiting: one request in flight
//! per lane, lanes in parallel, events in `seq` order. A lane's cursor moves only after a
//! 2xx, in the store, so a crash at any moment re-sends at most the event in flight.
//! Failures retry on a schedule of about three days with jitter; then the lane stalls and
//! waits (it never skips): a later success on the same endpoint, or an admin, re-arms it.
//!
//! Several instances on one PostgreSQL each run a dispatcher over the same lanes: an
//! instance delivers a lane only while it holds the lane's lease (`store::leases`), asked
//! for when the lane has events due, checked before every request and let go once the lane
//! has nothing due, so lanes spread over the instances and one that dies hands its lanes
//! over from their saved cursors. On SQLite every lane is this process's.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::rc::Rc;
use std::time::{Duration, Instant};

use actix_web::web;
use futures_util::StreamExt;
use time::OffsetDateTime;

use super::guard::Allow;
use super::sign;
use crate::clock::timestamp;
use crate::error::Result;
use crate::state::AppState;
use crate::store::events::{self, EventRow, Query};
use crate::store::leases::{LaneKey, LaneLeases};
use crate::store::webhooks::{self as store, Attempt, Endpoint, Failure, Lane};

/// A request must answer 2xx within this.
pub const TIMEOUT: Duration = Duration::from_secs(15);
/// Seconds to wait after the n-th failed attempt of an event (n = 1…9), ±20 % jitter: ten
/// attempts over about three days, as the Standard Webhooks schedule runs.
pub const RETRY_AFTER: [i64; 9] = [5, 300, 1800, 7200, 18000, 36000, 36000, 86400, 86400];
/// Events one lane task sends before the dispatcher looks at the endpoint again.
const BATCH: u32 = 100;
const IDLE: Duration = Duration::from_millis(250);
const LAG_EVERY: Duration = Duration::from_secs(5);
/// How much of a receiver's answer the delivery log keeps.
const EXCERPT: usize = 1024;

/// The HTTP client for receivers: guarded resolver, no redirects, 15 s per request.
pub fn client(allow: &Allow) -> awc::Client {
    crate::outbound::client(
        allow,
        None,
        concat!("idgate-webhooks/", env!("CARGO_PKG_VERSION")),
        TIMEOUT,
    )
}

/// What one request achieved.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub status: Option<u16>,
    pub latency_ms: i64,
    pub ok: bool,
    pub error: Option<String>,
    pub response: Option<String>,
    /// Seconds a 429 or 503 asked to wait.
    pub retry_after: Option<i64>,
    /// 410 Gone: the receiver asks never to be called again.
    pub gone: bool,
}

impl Outcome {
    fn failed(error: String, started: Instant) -> Self {
        Self {
            status: None,
            latency_ms: started.elapsed().as_millis() as i64,
            ok: false,
            error: Some(error),
            response: None,
            retry_after: None,
            gone: false,
        }
    }

    /// The metrics label.
    pub fn result(&self) -> &'static str {
        match self.status {
            _ if self.ok => "delivered",
            Some(410) => "gone",
            Some(429) => "throttled",
            Some(s) if (300..400).contains(&s) => "redirect",
            Some(_) => "http_error",
            None if self
                .error
                .as_deref()
                .is_some_and(|e| e.contains("timed out")) =>
            {
                "timeout"
            }
            None => "network_error",
        }
    }
}

/// The secrets that sign now: the current one, and the previous one during a rotation.
pub fn keys(state: &AppState, e: &Endpoint) -> Result<Vec<Vec<u8>>> {
    let mut keys = vec![sign::key_of(&String::from_utf8_lossy(
        &state.sealer.open(&e.secret)?,
    ))?];
    let now = timestamp(state.clock.now());
    if let (Some(old), Some(until)) = (&e.old_secret, &e.old_secret_until)
        && until.as_str() > now.as_str()
    {
        keys.push(sign::key_of(&String::from_utf8_lossy(
            &state.sealer.open(old)?,
        ))?);
    }
    Ok(keys)
}

/// POSTs one signed message. `webhook-timestamp` is the wall clock (receivers compare it with
/// theirs), whatever clock schedules retries.
pub async fn send(
    client: &awc::Client,
    allow: &Allow,
    url: &str,
    keys: &[Vec<u8>],
    id: &str,
    body: &str,
) -> Outcome {
    let started = Instant::now();
    if let Err(e) = allow.check_url(url) {
        return Outcome::failed(e, started);
    }
    let ts = OffsetDateTime::now_utc().unix_timestamp();
    let request = client
        .post(url)
        .insert_header(("content-type", "application/json"))
        .insert_header(("webhook-id", id))
        .insert_header(("webhook-timestamp", ts.to_string()))
        .insert_header((
            "webhook-signature",
            sign::header(keys, id, ts, body.as_bytes()),
        ));
    let exchange = async {
        let mut res = request
            .send_body(body.to_string())
            .await
            .map_err(|e| e.to_string())?;
        let mut excerpt = Vec::new();
        while excerpt.len() < EXCERPT {
            match res.next().await {
                Some(Ok(chunk)) => excerpt.extend_from_slice(&chunk),
                _ => break,
            }
        }
        excerpt.truncate(EXCERPT);
        let retry_after = res
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<i64>().ok())
            .map(|s| s.clamp(1, 86400));
        let location = res
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        Ok::<_, String>((res.status().as_u16(), excerpt, retry_after, location))
    };
    let outcome = match actix_web::rt::time::timeout(TIMEOUT, exchange).await {
        Err(_) => Err(format!("timed out after {} s", TIMEOUT.as_secs())),
        Ok(r) => r,
    };
    let latency_ms = started.elapsed().as_millis() as i64;
    match outcome {
        Err(e) => Outcome::failed(e, started),
        Ok((status, excerpt, retry_after, location)) => {
            let ok = (200..300).contains(&status);
            let error = match status {
                _ if ok => None,
                300..=399 => Some(format!(
                    "HTTP {status}: redirects are not followed (to {})",
                    location.as_deref().unwrap_or("nowhere")
                )),
                410 => Some("HTTP 410 Gone: the endpoint is disabled".into()),
                _ => Some(format!("HTTP {status}")),
            };
            Outcome {
                status: Some(status),
                latency_ms,
                ok,
                error,
                response: Some(String::from_utf8_lossy(&excerpt).into_owned()),
                retry_after: retry_after.filter(|_| status == 429 || status == 503),
                gone: status == 410,
            }
        }
    }
}

/// The delay before the next try after `failures` failed attempts, or `None` when they ran
/// out. `unit` in [0, 1) draws the jitter; a receiver's `Retry-After` is a floor.
pub fn next_delay(failures: i64, unit: f64, retry_after: Option<i64>) -> Option<time::Duration> {
    let base = *RETRY_AFTER.get(usize::try_from(failures).ok()?.checked_sub(1)?)?;
    let jittered = (base as f64 * (0.8 + 0.4 * unit)).round() as i64;
    Some(time::Duration::seconds(
        jittered.max(retry_after.unwrap_or(0)),
    ))
}

/// An attempt's log row.
fn attempt_row(
    e: &Endpoint,
    ev: &EventRow,
    trigger: &str,
    n: i64,
    o: &Outcome,
    at: &str,
) -> Attempt {
    Attempt {
        id: 0,
        endpoint_id: e.id,
        org_id: Some(ev.org_id),
        seq: Some(ev.seq),
        event_id: event_id(&ev.envelope),
        event_type: ev.type_.clone(),
        at: at.to_string(),
        trigger: trigger.to_string(),
        attempt: n,
        status: o.status.map(i64::from),
        latency_ms: o.latency_ms,
        ok: o.ok,
        error: o.error.clone(),
        response: o.response.clone(),
    }
}

/// The `id` of a stored envelope (the `webhook-id`, the same on every retry).
fn event_id(envelope: &str) -> String {
    serde_json::from_str::<serde_json::Value>(envelope)
        .ok()
        .and_then(|v| v["id"].as_str().map(str::to_string))
        .unwrap_or_default()
}

#[derive(Default)]
struct Inner {
    started: bool,
    /// Every event up to here has been seen.
    scanned: i64,
    /// The newest `seq` of every org.
    org_heads: HashMap<i64, i64>,
    busy: HashSet<(i64, i64)>,
    lag_at: Option<Instant>,
}

struct Dispatcher {
    state: web::Data<AppState>,
    client: awc::Client,
    /// The lanes this instance may deliver.
    leases: LaneLeases,
    inner: RefCell<Inner>,
    /// A lane task ended: its lane may have more to send (events appended while it was
    /// busy wake no one for it), so the dispatcher looks again.
    lane_ended: tokio::sync::Notify,
}

/// Runs the dispatcher until the server stops (the caller aborts it).
pub async fn run(state: web::Data<AppState>) {
    let leases = match state.store.lanes() {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "webhook dispatcher not started: no lane leases");
            return;
        }
    };
    let d = Rc::new(Dispatcher {
        client: client(&state.outbound),
        leases,
        state,
        inner: RefCell::default(),
        lane_ended: tokio::sync::Notify::new(),
    });
    let committed = d.state.store.committed();
    loop {
        let woken = committed.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        if let Err(e) = d.tick().await {
            tracing::warn!(error = %e, "webhook dispatcher: the store did not answer");
        }
        tokio::select! {
            _ = woken => {}
            _ = d.lane_ended.notified() => {}
            _ = actix_web::rt::time::sleep(IDLE) => {}
        }
    }
}

impl Dispatcher {
    async fn tick(self: &Rc<Self>) -> Result<()> {
        let (started, scanned) = {
            let i = self.inner.borrow();
            (i.started, i.scanned)
        };
        let (heads, appended, endpoints, lanes) = self
            .state
            .store
            .read(move |c| {
                let heads = if started {
                    Vec::new()
                } else {
                    events::org_heads(c)?
                };
                let appended = if started {
                    events::appended_since(c, scanned)?
                } else {
                    Vec::new()
                };
                Ok((heads, appended, store::list(c)?, store::lanes(c)?))
            })
            .await?;
        {
            let mut i = self.inner.borrow_mut();
            i.started = true;
            for (org, head) in heads {
                i.org_heads.insert(org, head);
                i.scanned = i.scanned.max(head);
            }
            for (org, type_, head, n) in appended {
                let h = i.org_heads.entry(org).or_default();
                *h = (*h).max(head);
                i.scanned = i.scanned.max(head);
                self.state.metrics.events_appended(&type_, n as u64);
            }
        }
        let lanes: HashMap<(i64, i64), Lane> = lanes
            .into_iter()
            .map(|l| ((l.endpoint_id, l.org_id), l))
            .collect();
        self.measure_lag(&endpoints, &lanes).await;
        let now = timestamp(self.state.clock.now());
        let mut new_lanes = Vec::new();
        let mut due = Vec::new();
        {
            let i = self.inner.borrow();
            for e in endpoints.iter().filter(|e| e.state == "enabled") {
                let waiting = lanes
                    .values()
                    .any(|l| l.endpoint_id == e.id && (l.stalled.is_some() || l.attempts > 0));
                for (&org, &head) in &i.org_heads {
                    if e.org_ids.as_ref().is_some_and(|ids| !ids.contains(&org)) {
                        continue;
                    }
                    let lane = lanes.get(&(e.id, org));
                    let cursor = lane.map_or(e.start_after, |l| l.delivered);
                    if head <= cursor || i.busy.contains(&(e.id, org)) {
                        continue;
                    }
                    if let Some(l) = lane {
                        if l.stalled.is_some()
                            || l.next_at
                                .as_ref()
                                .is_some_and(|t| t.as_str() > now.as_str())
                        {
                            continue;
                        }
                    } else {
                        new_lanes.push((e.id, org, cursor));
                    }
                    due.push((e.clone(), org, head, waiting));
                }
            }
        }
        if !new_lanes.is_empty() {
            self.state
                .store
                .write(move |c| {
                    for (e, org, at) in new_lanes {
                        store::ensure_lane(c, e, org, at)?;
                    }
                    Ok(())
                })
                .await?;
        }
        // Only lanes this instance holds are delivered here; the others are another
        // instance's (or will be, once it lets them go).
        let want: Vec<LaneKey> = due.iter().map(|(e, org, ..)| (e.id, *org)).collect();
        let busy: Vec<LaneKey> = self.inner.borrow().busy.iter().copied().collect();
        let granted = self.leases.settle(&want, &busy).await;
        for (e, org, head, waiting) in due {
            if !granted.contains(&(e.id, org)) {
                continue;
            }
            self.inner.borrow_mut().busy.insert((e.id, org));
            let d = self.clone();
            actix_web::rt::spawn(async move {
                let key = (e.id, org);
                if let Err(err) = d.lane(e, org, head, waiting).await {
                    tracing::warn!(error = %err, "webhook lane: the store did not answer");
                }
                d.inner.borrow_mut().busy.remove(&key);
                d.lane_ended.notify_one();
            });
        }
        Ok(())
    }

    /// Sends the lane's next events, in order, until one fails or the batch ends. The lane's
    /// state is read afresh here, not taken from the tick's snapshot, which may predate the
    /// previous task's last advance: an event is never sent again because of a stale cursor.
    async fn lane(&self, e: Endpoint, org: i64, head: i64, mut rearm: bool) -> Result<()> {
        let state = &self.state;
        let types = e.types.clone();
        let id = e.id;
        let now = timestamp(state.clock.now());
        let Some((lane, rows)) = state
            .store
            .read(move |c| {
                let Some(lane) = store::lane(c, id, org)? else {
                    return Ok(None);
                };
                let q = Query {
                    after: lane.delivered,
                    org_ids: Some(&[org]),
                    types: &types,
                    limit: BATCH,
                };
                Ok(Some((lane.clone(), events::select(c, &q)?)))
            })
            .await?
        else {
            return Ok(());
        };
        let due = lane.stalled.is_none()
            && lane
                .next_at
                .as_ref()
                .is_none_or(|t| t.as_str() <= now.as_str());
        if !due {
            return Ok(());
        }
        let (mut cursor, mut attempts) = (lane.delivered, lane.attempts);
        if rows.is_empty() {
            // Nothing of the endpoint's types up to `head`: the lane is done up to there.
            if head > cursor {
                state
                    .store
                    .write(move |c| store::advance(c, e.id, org, cursor, head))
                    .await?;
            }
            return Ok(());
        }
        let keys = keys(state, &e)?;
        for ev in rows {
            // A lease connection that dropped has lost its locks: another instance may be
            // sending this lane already.
            if !self.leases.holds((e.id, org)).await {
                return Ok(());
            }
            let outcome = send(
                &self.client,
                &state.outbound,
                &e.url,
                &keys,
                &event_id(&ev.envelope),
                &ev.envelope,
            )
            .await;
            attempts += 1;
            state.metrics.webhook_attempt(outcome.result());
            let at = timestamp(state.clock.now());
            let row = attempt_row(&e, &ev, "delivery", attempts, &outcome, &at);
            state
                .store
                .write_detached(move |c| store::record_attempt(c, &row));
            let (id, seq) = (e.id, ev.seq);
            if outcome.ok {
                let moved = state
                    .store
                    .write(move |c| {
                        let moved = store::advance(c, id, org, cursor, seq)?;
                        if moved && rearm {
                            store::rearm(c, id)?;
                        }
                        Ok(moved)
                    })
                    .await?;
                if !moved {
                    return Ok(()); // an admin moved the lane meanwhile
                }
                (cursor, attempts, rearm) = (seq, 0, false);
                continue;
            }
            let error = outcome.error.clone().unwrap_or_default();
            let delay = next_delay(attempts, rand::random::<f64>(), outcome.retry_after);
            let now = state.clock.now();
            let next_at = delay.map(|d| timestamp(now + d));
            let stalled = delay.is_none().then(|| at.clone());
            if stalled.is_some() {
                tracing::warn!(endpoint = %e.public_id, org, seq, attempts,
                    "webhook lane stalled: retries ran out; it waits for the receiver or an admin");
            }
            let gone = outcome.gone;
            state
                .store
                .write(move |c| {
                    let f = Failure {
                        attempts,
                        next_at: next_at.as_deref(),
                        stalled: stalled.as_deref(),
                        error: &error,
                    };
                    store::fail(c, id, org, cursor, &f)?;
                    if gone {
                        store::set_state(
                            c,
                            id,
                            "disabled",
                            Some("the endpoint answered 410 Gone"),
                            &at,
                        )?;
                    }
                    Ok(())
                })
                .await?;
            return Ok(());
        }
        Ok(())
    }

    /// Every few seconds: events waiting and the age of the oldest, per endpoint; stalled lanes.
    async fn measure_lag(&self, endpoints: &[Endpoint], lanes: &HashMap<(i64, i64), Lane>) {
        let due = self
            .inner
            .borrow()
            .lag_at
            .is_none_or(|t| t.elapsed() >= LAG_EVERY);
        if !due {
            return;
        }
        self.inner.borrow_mut().lag_at = Some(Instant::now());
        let stalled = lanes.values().filter(|l| l.stalled.is_some()).count() as u64;
        let behind: Vec<(String, i64, i64)> = {
            let i = self.inner.borrow();
            lanes
                .values()
                .filter(|l| i.org_heads.get(&l.org_id).is_some_and(|h| *h > l.delivered))
                .filter_map(|l| {
                    let e = endpoints.iter().find(|e| e.id == l.endpoint_id)?;
                    Some((e.public_id.clone(), l.org_id, l.delivered))
                })
                .collect()
        };
        let names: Vec<String> = endpoints.iter().map(|e| e.public_id.clone()).collect();
        let now = self.state.clock.now();
        let lag = self
            .state
            .store
            .read(move |c| {
                let mut lag: BTreeMap<String, (i64, f64)> =
                    names.into_iter().map(|n| (n, (0, 0.0))).collect();
                for (name, org, after) in behind {
                    let (n, oldest) = store::backlog(c, org, after)?;
                    let age = oldest
                        .and_then(|t| {
                            OffsetDateTime::parse(
                                &t,
                                &time::format_description::well_known::Rfc3339,
                            )
                            .ok()
                        })
                        .map_or(0.0, |t| (now - t).as_seconds_f64().max(0.0));
                    let entry = lag.entry(name).or_default();
                    entry.0 += n;
                    entry.1 = entry.1.max(age);
                }
                Ok(lag)
            })
            .await;
        if let Ok(lag) = lag {
            self.state.metrics.webhook_lag(lag, stalled);
        }
    }
}

/// Sends one stored event again, out of band (the lane's cursor does not move); logged as
/// a `resend`.
pub async fn resend(state: &AppState, e: &Endpoint, ev: &EventRow) -> Result<Outcome> {
    let keys = keys(state, e)?;
    let client = client(&state.outbound);
    let outcome = send(
        &client,
        &state.outbound,
        &e.url,
        &keys,
        &event_id(&ev.envelope),
        &ev.envelope,
    )
    .await;
    state.metrics.webhook_attempt(outcome.result());
    let row = attempt_row(e, ev, "resend", 1, &outcome, &timestamp(state.clock.now()));
    state
        .store
        .write(move |c| store::record_attempt(c, &row))
        .await?;
    Ok(outcome)
}

/// Sends a `webhook.test` message, signed like any event; logged as a `test`.
pub async fn send_test(state: &AppState, e: &Endpoint) -> Result<Outcome> {
    let keys = keys(state, e)?;
    let now = timestamp(state.clock.now());
    let id = format!("evt_test_{}", uuid::Uuid::new_v4().simple());
    let body = serde_json::json!({
        "id": id,
        "type": "webhook.test",
        "timestamp": now,
        "data": {"endpoint": e.public_id, "message": "A test event from idgate."},
    })
    .to_string();
    let client = client(&state.outbound);
    let outcome = send(&client, &state.outbound, &e.url, &keys, &id, &body).await;
    state.metrics.webhook_attempt(outcome.result());
    let row = Attempt {
        id: 0,
        endpoint_id: e.id,
        org_id: None,
        seq: None,
        event_id: id,
        event_type: "webhook.test".into(),
        at: now,
        trigger: "test".into(),
        attempt: 1,
        status: outcome.status.map(i64::from),
        latency_ms: outcome.latency_ms,
        ok: outcome.ok,
        error: outcome.error.clone(),
        response: outcome.response.clone(),
    };
    state
        .store
        .write(move |c| store::record_attempt(c, &row))
        .await?;
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_spans_about_three_days_then_stops() {
        let total: i64 = (1..=9)
            .map(|n| next_delay(n, 0.5, None).unwrap().whole_seconds())
            .sum();
        assert!(
            (2.5 * 86400.0..3.5 * 86400.0).contains(&(total as f64)),
            "{total}"
        );
        assert!(next_delay(10, 0.5, None).is_none());
        assert!(next_delay(0, 0.5, None).is_none());
        // Jitter stays within ±20 %; Retry-After is a floor.
        assert_eq!(next_delay(1, 0.0, None).unwrap().whole_seconds(), 4);
        assert_eq!(next_delay(1, 0.999, None).unwrap().whole_seconds(), 6);
        assert_eq!(next_delay(1, 0.5, Some(120)).unwrap().whole_seconds(), 120);
    }
}
