//! Webhooks from several instances on one PostgreSQL (issue 12): three `idgate serve`
//! processes share the store and one endpoint with four lanes (one per org). SCIM writes go
//! through all three at once; the receiver answers slowly and fails the test if a request of
//! a lane arrives while another of the same lane is in flight. Every event arrives, in
//! `seq` order per lane, none twice; then the instance holding lanes is killed (SIGKILL)
//! while it delivers, and the others take its lanes over from their saved cursors.
//! Runs only with `TEST_PG_URL` (make test sets it).

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpResponse, HttpServer, web};
use idgate::store::{Store, events, leases, orgs, webhooks};
use serde_json::{Value, json};

use crate::hostile_world::{Server, cli};

const BIN: &str = env!("CARGO_BIN_EXE_idgate");
const ORGS: [&str; 4] = ["acme", "beta", "gamma", "delta"];
/// How long the receiver takes to answer: long enough that two requests of a lane sent at
/// once would overlap, and that a backlog builds up under the writes.
const ANSWER_AFTER: Duration = Duration::from_millis(60);

/// What the receiver saw.
#[derive(Default)]
struct Seen {
    /// Requests in flight per org (lane).
    in_flight: HashMap<String, usize>,
    /// (org, seq) in order of arrival.
    arrivals: Vec<(String, i64)>,
    /// Requests that arrived while another of their lane was in flight.
    overlaps: Vec<String>,
}

/// Ends a request's time in flight, also when the sender goes away mid-request and the
/// handler is dropped.
struct InFlight(Arc<Mutex<Seen>>, String);

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(n) = self.0.lock().unwrap().in_flight.get_mut(&self.1) {
            *n -= 1;
        }
    }
}

async fn receive(body: web::Bytes, seen: web::Data<Arc<Mutex<Seen>>>) -> HttpResponse {
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let org = v["org"]["slug"].as_str().unwrap_or("").to_string();
    let seq = v["seq"].as_i64().unwrap_or(-1);
    {
        let mut s = seen.lock().unwrap();
        let n = s.in_flight.entry(org.clone()).or_default();
        *n += 1;
        if *n > 1 {
            s.overlaps.push(format!(
                "{org} seq {seq} arrived while another of its lane was in flight"
            ));
        }
        s.arrivals.push((org.clone(), seq));
    }
    let _in_flight = InFlight(seen.get_ref().clone(), org);
    actix_web::rt::time::sleep(ANSWER_AFTER).await;
    HttpResponse::Ok().body("ok")
}

async fn start_receiver() -> (String, Arc<Mutex<Seen>>) {
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let data = web::Data::new(seen.clone());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .default_service(web::to(receive))
    })
    .workers(2)
    .bind("127.0.0.1:0")
    .unwrap();
    let port = server.addrs()[0].port();
    actix_web::rt::spawn(server.run());
    (format!("http://127.0.0.1:{port}/hooks"), seen)
}

/// `idgate serve` on `data` and the shared store; `name` is its connections'
/// `application_name`, so the test can see which instance holds which lane.
fn start(data: &Path, url: &str, name: &str) -> Server {
    use std::process::{Command, Stdio};
    let mut child = Command::new(BIN)
        .arg("--data-dir")
        .arg(data)
        .env("IDGATE_STORE_URL", format!("{url}?application_name={name}"))
        .env("IDGATE_OUTBOUND_ALLOW_NETWORKS", "127.0.0.1/32")
        .env("RUST_LOG", "info")
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let log = Arc::default();
    let base = crate::helpers::served_address(&mut child, &log);
    Server { child, base, log }
}

/// Creates `n` users per (instance, org), all pairs at once; every write must succeed.
async fn traffic(bases: &[String], tokens: &[String], n: usize, round: &str) {
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .finish();
    let mut writers = Vec::new();
    for (i, base) in bases.iter().enumerate() {
        for (o, token) in tokens.iter().enumerate() {
            let (client, base, auth) = (client.clone(), base.clone(), format!("Bearer {token}"));
            let prefix = format!("{round}-{i}-{o}");
            writers.push(async move {
                for k in 0..n {
                    let body = json!({
                        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                        "userName": format!("{prefix}-{k}@example.com"),
                        "active": true,
                    });
                    let res = client
                        .post(format!("{base}/scim/v2/Users"))
                        .insert_header(("Authorization", auth.as_str()))
                        .insert_header(("Content-Type", "application/scim+json"))
                        .send_body(body.to_string())
                        .await
                        .unwrap_or_else(|e| panic!("{base}: {e}"));
                    assert_eq!(res.status().as_u16(), 201, "{base}");
                }
            });
        }
    }
    futures_util::future::join_all(writers).await;
}

/// Every event of the log per org slug, in `seq` order.
fn expected(store: &Store) -> HashMap<String, Vec<i64>> {
    store
        .read_now(|c| {
            let mut out = HashMap::new();
            for slug in ORGS {
                let org = orgs::require_org(c, slug)?;
                let seqs = events::after(c, 0, Some(org.id), 100_000)?
                    .into_iter()
                    .map(|e| e.seq)
                    .collect::<Vec<_>>();
                out.insert(slug.to_string(), seqs);
            }
            Ok(out)
        })
        .unwrap()
}

/// Waits (at most 60 s) until every event of the log has arrived at least once.
async fn wait_for_all(store: &Store, seen: &Mutex<Seen>) -> HashMap<String, Vec<i64>> {
    let want = expected(store);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got: HashSet<(String, i64)> = seen.lock().unwrap().arrivals.iter().cloned().collect();
        let missing: Vec<(&String, i64)> = want
            .iter()
            .flat_map(|(org, seqs)| seqs.iter().map(move |s| (org, *s)))
            .filter(|(org, s)| !got.contains(&((*org).clone(), *s)))
            .collect();
        if missing.is_empty() {
            return want;
        }
        assert!(
            Instant::now() < deadline,
            "{} events never arrived, e.g. {:?}",
            missing.len(),
            &missing[..missing.len().min(10)]
        );
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Per lane: arrivals never go back (a repeat may only be of the latest one, after a
/// take-over), nothing overlapped. Returns how many arrivals were repeats.
fn check_order(seen: &Seen, want: &HashMap<String, Vec<i64>>) -> usize {
    assert!(seen.overlaps.is_empty(), "{:#?}", seen.overlaps);
    let mut repeats = 0;
    for (org, seqs) in want {
        let got: Vec<i64> = seen
            .arrivals
            .iter()
            .filter(|(o, _)| o == org)
            .map(|(_, s)| *s)
            .collect();
        assert!(
            got.windows(2).all(|w| w[0] <= w[1]),
            "{org}: out of order: {got:?}"
        );
        let distinct: Vec<i64> = {
            let mut d = got.clone();
            d.dedup();
            d
        };
        assert_eq!(&distinct, seqs, "{org}: not every event exactly in order");
        repeats += got.len() - distinct.len();
    }
    repeats
}

/// Which instance (by `application_name`) holds which lane lock now.
fn holders(url: &str, lanes: &HashMap<i64, String>) -> Vec<(String, String)> {
    let (url, lanes) = (url.to_string(), lanes.clone());
    std::thread::spawn(move || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        c.query(
            "SELECT a.application_name, l.classid::BIGINT, l.objid::BIGINT
             FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
             WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND l.granted
               AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            &[],
        )
        .unwrap()
        .iter()
        .filter_map(|r| {
            let (hi, lo): (i64, i64) = (r.get(1), r.get(2));
            let key = ((hi as u64) << 32 | lo as u64) as i64;
            lanes
                .get(&key)
                .map(|org| (r.get::<_, String>(0), org.clone()))
        })
        .collect()
    })
    .join()
    .unwrap()
}

#[actix_web::test]
async fn instances_share_lanes_one_request_at_a_time_in_order_and_take_over_a_killed_ones() {
    if std::env::var("TEST_PG_URL").is_err() {
        eprintln!("cluster_webhooks: skipped (TEST_PG_URL is not set; runs on PostgreSQL only)");
        return;
    }
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let url = crate::helpers::test_store_url(dirs[0].path()).unwrap();
    let mut instances = vec![start(dirs[0].path(), &url, "idgate-0")];
    let store = Store::open_pg(&url, 2).unwrap();
    let tokens: Vec<String> = ORGS
        .iter()
        .map(|o| crate::helpers::create_org(&store, o, &format!("{o}.com")))
        .collect();
    let (hook_url, seen) = start_receiver().await;
    cli(dirs[0].path(), &["webhook", "add", &hook_url], "");
    // Instances sharing a store hold the same secret.key.
    for (i, dir) in dirs.iter().enumerate().skip(1) {
        std::fs::copy(
            dirs[0].path().join("secret.key"),
            dir.path().join("secret.key"),
        )
        .unwrap();
        instances.push(start(dir.path(), &url, &format!("idgate-{i}")));
    }
    let lanes: HashMap<i64, String> = store
        .read_now(|c| {
            let endpoint = webhooks::list(c)?[0].id;
            ORGS.iter()
                .map(|slug| {
                    let org = orgs::require_org(c, slug)?;
                    Ok((leases::lock_key((endpoint, org.id)), slug.to_string()))
                })
                .collect()
        })
        .unwrap();
    let bases: Vec<String> = instances.iter().map(|s| s.base.clone()).collect();

    // 1. Writes through every instance at once: each event once, in order, never two of a
    // lane at a time, although every instance's dispatcher is woken by every commit.
    traffic(&bases, &tokens, 5, "one").await;
    let want = wait_for_all(&store, &seen).await;
    assert_eq!(want.values().map(Vec::len).sum::<usize>(), 3 * 4 * 5);
    actix_web::rt::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        check_order(&seen.lock().unwrap(), &want),
        0,
        "a repeat without a failure"
    );
    // Idle lanes are let go.
    assert_eq!(holders(&url, &lanes), Vec::new());

    // 2. A backlog, then kill -9 of an instance while it delivers lanes.
    traffic(&bases, &tokens, 12, "two").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let (victim, its_lanes) = loop {
        let held = holders(&url, &lanes);
        if let Some((name, _)) = held.first() {
            let mine: Vec<String> = held
                .iter()
                .filter(|(n, _)| n == name)
                .map(|(_, o)| o.clone())
                .collect();
            break (name.clone(), mine);
        }
        assert!(Instant::now() < deadline, "no instance took a lane");
        actix_web::rt::time::sleep(Duration::from_millis(10)).await;
    };
    let index: usize = victim.trim_start_matches("idgate-").parse().unwrap();
    let mut killed = instances.remove(index);
    killed.child.kill().unwrap();
    killed.child.wait().unwrap();
    // The killed instance's lanes were still behind: the others must finish them.
    let behind = store
        .read_now(|c| {
            let endpoint = webhooks::list(c)?[0].id;
            let mut behind = 0;
            for slug in &its_lanes {
                let org = orgs::require_org(c, slug)?;
                let lane = webhooks::lane(c, endpoint, org.id)?.expect("the lane");
                let head = events::after(c, lane.delivered, Some(org.id), 1)?;
                behind += usize::from(!head.is_empty());
            }
            Ok(behind)
        })
        .unwrap();
    assert!(
        behind > 0,
        "{victim} had finished {its_lanes:?} before it was killed"
    );
    // More writes through the survivors while they take over.
    let survivors: Vec<String> = instances.iter().map(|s| s.base.clone()).collect();
    traffic(&survivors, &tokens, 3, "three").await;
    let want = wait_for_all(&store, &seen).await;
    actix_web::rt::time::sleep(Duration::from_millis(500)).await;
    let repeats = check_order(&seen.lock().unwrap(), &want);
    // At least once: at most the event each of the killed instance's lanes had in flight
    // (or delivered without having saved it yet) comes again.
    assert!(
        repeats <= its_lanes.len(),
        "{repeats} repeats after killing {victim} holding {its_lanes:?}"
    );
    assert_eq!(holders(&url, &lanes), Vec::new());
    eprintln!(
        "cluster_webhooks: killed {victim} holding {its_lanes:?} ({behind} behind); {repeats} repeated"
    );
}
