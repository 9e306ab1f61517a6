//! The `webhooks` phase of idgate-bench: a Standard Webhooks receiver on loopback inside the
//! bench process, registered with `idgate webhook add`; SCIM creates, then
//! - throughput: users created at full speed (C in flight), and the `user.created` events
//!   delivered per second until the last one has arrived;
//! - latency at Entra's pace: creates paced at `--webhook-rate`, and for each user the time
//!   from the client having read the 201 to the receiver having read the event.
//!
//! The receiver checks that the events arrive in `seq` order (one org is one lane) and counts
//! every one out of order or missing as an error.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::http::Method;
use actix_web::web::{self, Bytes};
use actix_web::{App, HttpResponse, HttpServer};
use serde_json::Value;

use super::support::{drive, idgate_cli};
use super::{Bench, Recorder, Report, Row, Target, user_body, user_name};

/// Users of this phase are numbered from here, clear of every other phase's.
const FIRST: usize = 50_000_000;

#[derive(Default)]
struct Received {
    /// userName → when its `user.created` arrived (first delivery only).
    at: HashMap<String, Instant>,
    last_seq: i64,
    out_of_order: u64,
    deliveries: u64,
}

type Shared = Arc<Mutex<Received>>;

async fn receive(state: web::Data<Shared>, body: Bytes) -> HttpResponse {
    let now = Instant::now();
    let Ok(event) = serde_json::from_slice::<Value>(&body) else {
        return HttpResponse::BadRequest().body("not JSON");
    };
    let seq = event["seq"].as_i64().unwrap_or(0);
    let name = event["data"]["user_name"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let mut r = state.lock().unwrap();
    r.deliveries += 1;
    if seq <= r.last_seq {
        r.out_of_order += 1;
    }
    r.last_seq = r.last_seq.max(seq);
    r.at.entry(name).or_insert(now);
    HttpResponse::NoContent().finish()
}

fn start_receiver(state: Shared) -> Result<(u16, actix_web::dev::ServerHandle), String> {
    let data = web::Data::new(state);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/hook", web::post().to(receive))
    })
    .workers(1)
    .bind(("127.0.0.1", 0))
    .map_err(|e| e.to_string())?;
    let port = server
        .addrs()
        .first()
        .map(|a| a.port())
        .ok_or("the receiver did not bind")?;
    let server = server.run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    Ok((port, handle))
}

/// `--live-webhook`: an endpoint for every event type, received here; its server handle and
/// the count of deliveries so far.
pub(super) fn live_endpoint(
    binary: &Path,
    dir: &Path,
) -> Result<(actix_web::dev::ServerHandle, impl Fn() -> u64), String> {
    let state: Shared = Arc::default();
    let (port, handle) = start_receiver(state.clone())?;
    let url = format!("http://127.0.0.1:{port}/hook");
    idgate_cli(binary, dir, &["webhook", "add", &url])?;
    Ok((handle, move || state.lock().unwrap().deliveries))
}

impl Bench {
    /// Creates users `from..from+n` (POST only), paced at `rate` when given; the client's
    /// acknowledgement time of each, by userName.
    async fn post_users(
        &self,
        t: &Target,
        rec: &Recorder,
        label: &str,
        from: usize,
        n: usize,
        rate: Option<f64>,
    ) -> (Duration, HashMap<String, Instant>) {
        let acks = std::cell::RefCell::new(HashMap::new());
        let elapsed = drive(n, self.args.concurrency, self.limit, rate, |k| {
            let acks = &acks;
            async move {
                let i = from + k;
                let body = user_body(i).to_string();
                if rec
                    .expect(label, t, Method::POST, "/scim/v2/Users", Some(body), &[201])
                    .await
                    .is_some()
                {
                    acks.borrow_mut().insert(user_name(i), Instant::now());
                }
            }
        })
        .await;
        (elapsed, acks.into_inner())
    }

    pub(super) async fn webhooks(
        &self,
        t: &Target,
        binary: &Path,
        dir: &Path,
        report: &mut Report,
    ) -> Result<(), String> {
        let state: Shared = Arc::default();
        let (port, handle) = start_receiver(state.clone())?;
        let url = format!("http://127.0.0.1:{port}/hook");
        idgate_cli(
            binary,
            dir,
            &["webhook", "add", &url, "--types", "user.created"],
        )?;
        let wait_all = |names: Vec<String>| {
            let state = state.clone();
            async move {
                let deadline = Instant::now() + Duration::from_secs(120);
                loop {
                    let done = {
                        let r = state.lock().unwrap();
                        names.iter().all(|n| r.at.contains_key(n))
                    };
                    if done || Instant::now() > deadline {
                        return Instant::now();
                    }
                    actix_web::rt::time::sleep(Duration::from_millis(2)).await;
                }
            }
        };

        // Throughput: the lane at full speed.
        let n = self.args.webhook_users;
        let rec = Recorder::default();
        let started = Instant::now();
        let (posted, acks) = self
            .post_users(t, &rec, "POST user (endpoint live)", FIRST, n, None)
            .await;
        report.add("webhooks", posted, rec);
        let names: Vec<String> = acks.keys().cloned().collect();
        let last = wait_all(names.clone()).await;
        let delivered = {
            let r = state.lock().unwrap();
            names.iter().filter(|n| r.at.contains_key(*n)).count()
        };
        let secs = last.duration_since(started).as_secs_f64();
        println!(
            "  webhook user.created delivered {delivered} of {} in {secs:.1} s = {:.1}/s (the creates took {:.1} s)",
            names.len(),
            delivered as f64 / secs.max(1e-9),
            posted.as_secs_f64()
        );
        report.rows.push(Row {
            phase: "webhooks".into(),
            series: "user.created delivered (from the first POST)".into(),
            count: delivered,
            secs,
            p50: 0.0,
            p99: 0.0,
            errors: (names.len() - delivered) as u64,
        });

        // Latency at Entra's pace.
        let rate = self.args.webhook_rate;
        let m = (rate * self.args.steady_rate_seconds) as usize;
        let label = format!("SCIM ack to webhook receipt at {rate:.0}/s");
        let rec = Recorder::default();
        let (paced, acks) = self
            .post_users(
                t,
                &rec,
                &format!("POST user at {rate:.0}/s"),
                FIRST + n,
                m,
                Some(rate),
            )
            .await;
        report.add("webhooks", paced, rec);
        let rec = Recorder::default();
        wait_all(acks.keys().cloned().collect()).await;
        let mut early = 0;
        {
            let r = state.lock().unwrap();
            for (name, ack) in &acks {
                match r.at.get(name) {
                    // The event can reach the receiver before the 201 reaches the client.
                    Some(at) if at < ack => {
                        early += 1;
                        rec.ok(&label, Duration::ZERO);
                    }
                    Some(at) => rec.ok(&label, at.duration_since(*ack)),
                    None => rec.err(&label, format!("{name}: no user.created within 120 s")),
                }
            }
        }
        let (deliveries, out_of_order) = {
            let r = state.lock().unwrap();
            (r.deliveries, r.out_of_order)
        };
        println!(
            "  {early} of {} events reached the receiver before the client had the 201; deliveries {deliveries}, out of order {out_of_order}",
            acks.len(),
        );
        for _ in 0..out_of_order {
            rec.err(&label, "an event arrived after a later seq".into());
        }
        report.add("webhooks", paced, rec);
        handle.stop(true).await;
        Ok(())
    }
}
