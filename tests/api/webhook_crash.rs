//! kill -9 of the real server in the middle of webhook deliveries, under SCIM load: after
//! the restart every event reaches the receiver, in `seq` order per lane (the event in
//! flight may come twice; none is skipped).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::crash::serve;
use crate::hostile_world::cli;
use crate::receiver::Receiver;

/// Every stored event's (org slug, seq) the endpoint must receive, read beside the running
/// server.
fn stored(data: &std::path::Path) -> Vec<(String, i64)> {
    let conn = rusqlite::Connection::open_with_flags(
        data.join("idgate.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT o.slug, e.seq FROM events e JOIN orgs o ON o.id = e.org_id
             WHERE e.seq > (SELECT start_after FROM webhook_endpoints) ORDER BY e.seq",
        )
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// The first receipt of each seq of `org`, in receipt order, among the 2xx answers.
fn first_receipts(rx: &Receiver, org: &str) -> Vec<i64> {
    let mut seen = Vec::new();
    for h in rx.delivered().iter().filter(|h| h.org() == org) {
        if !seen.contains(&h.seq()) {
            seen.push(h.seq());
        }
    }
    seen
}

#[actix_web::test]
async fn kill_9_mid_delivery_loses_nothing_and_keeps_order() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let mut tokens = Vec::new();
    for slug in ["acme", "beta"] {
        cli(
            data,
            &[
                "org",
                "create",
                slug,
                "--name",
                slug,
                "--domain",
                &format!("{slug}.com"),
            ],
            "",
        );
        tokens.push(cli(
            data,
            &["scim-token", "create", "--org", slug, "--name", "t"],
            "",
        ));
    }
    let rx = Receiver::start().await;
    cli(data, &["webhook", "add", &rx.url], "");
    let (mut child, base) = serve(data);
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(5))
        .finish();
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for (w, token) in tokens.iter().cycle().take(6).enumerate() {
        let (client, base, token, stop) =
            (client.clone(), base.clone(), token.clone(), stop.clone());
        writers.push(actix_web::rt::spawn(async move {
            for i in 0..100_000 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let res = client
                    .post(format!("{base}/scim/v2/Users"))
                    .insert_header(("Authorization", format!("Bearer {token}")))
                    .insert_header(("Content-Type", "application/scim+json"))
                    .send_body(json!({"userName": format!("k{w}-{i}@example.com")}).to_string())
                    .await;
                if res.is_err() {
                    actix_web::rt::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }));
    }
    // Deliveries flow; kill -9 while writes and deliveries are in flight.
    let started = Instant::now();
    while rx.hits().len() < 150 && started.elapsed() < Duration::from_secs(20) {
        actix_web::rt::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let before = rx.hits().len();
    assert!(before >= 150, "only {before} deliveries before the kill");
    // Restart under load, then let the writers stop.
    let (mut child, _base) = serve(data);
    actix_web::rt::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        let _ = w.await;
    }
    let events = stored(data);
    let (acme, beta): (Vec<_>, Vec<_>) = events.iter().partition(|(o, _)| o == "acme");
    let want = |list: &[&(String, i64)]| list.iter().map(|(_, s)| *s).collect::<Vec<_>>();
    let (acme, beta) = (want(&acme), want(&beta));
    rx.wait_for("every event after the restart", |_| {
        first_receipts(&rx, "acme").len() >= acme.len()
            && first_receipts(&rx, "beta").len() >= beta.len()
    })
    .await;
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        first_receipts(&rx, "acme"),
        acme,
        "acme's lane: none skipped, none out of order"
    );
    assert_eq!(
        first_receipts(&rx, "beta"),
        beta,
        "beta's lane: none skipped, none out of order"
    );
    let dupes = rx.delivered().len() - acme.len() - beta.len();
    assert!(
        dupes <= 4,
        "{dupes} events sent twice: at most the ones in flight"
    );
    assert!(
        rx.hits().len() > before,
        "deliveries went on after the restart"
    );
}
