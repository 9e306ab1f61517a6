//! Several real `idgate serve` processes on one PostgreSQL (issue 12, "Many instances"):
//! migrations and the first signing key once, SAML replay refused across instances, revocation
//! heard by every instance within a second, SCIM version semantics and counts across
//! instances, one event log, recovery from a database outage, kill -9 under load.
//!
//! This file: the harness, migrations, SAML replay, revocation; `scim.rs` SCIM and events;
//! `outage.rs` a database outage and kill -9. Runs only when `TEST_PG_URL` names a PostgreSQL
//! server (`scripts/pg-server.sh start DIR` prints one); without it every test returns at once.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use idgate::saml::test_idp;
use idgate::store::Store;
use serde_json::json;

use crate::browser::{PUBLIC_URL, configure_idp, fresh_entra, session_of, set_cookie};
use crate::helpers::{Resp, TestApp, patch};

mod outage;
mod scim;

const BIN: &str = env!("CARGO_BIN_EXE_idgate");

/// The PostgreSQL server the cluster tests use, or None (and a note) when there is none.
fn pg_base() -> Option<String> {
    let url = std::env::var("TEST_PG_URL").ok();
    if url.is_none() {
        eprintln!("cluster test skipped: set TEST_PG_URL (scripts/pg-server.sh start DIR)");
    }
    url
}

/// Runs `f` with a blocking PostgreSQL client on a thread of its own (the client must not
/// run inside the test's async runtime).
fn with_pg<T: Send + 'static>(
    url: &str,
    f: impl FnOnce(&mut postgres::Client) -> T + Send + 'static,
) -> T {
    let url = url.to_string();
    std::thread::spawn(move || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).expect("PostgreSQL");
        f(&mut c)
    })
    .join()
    .expect("PostgreSQL client thread")
}

/// A new, empty database on the server of `base`; its URL.
fn empty_database(base: &str) -> String {
    let name = format!("c_{}", uuid::Uuid::new_v4().simple());
    let create = format!("CREATE DATABASE {name}");
    with_pg(base, move |c| {
        c.batch_execute(&create).expect("database created")
    });
    let (prefix, _) = base.rsplit_once('/').expect("a URL with a database");
    format!("{prefix}/{name}")
}

/// A new database already migrated (copied from the suite's template).
fn migrated_database() -> String {
    let scratch = tempfile::tempdir().unwrap();
    crate::helpers::test_store_url(scratch.path()).expect("TEST_PG_URL is set")
}

/// One instance's stderr, kept for assertions and for failure messages.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    fn text(&self) -> String {
        self.0.lock().unwrap().join("\n")
    }
}

/// N `idgate serve` processes on one store, each with a data directory of its own holding
/// the same `secret.key`; `apps[i]` drives instance i (its `store` is the test's own
/// connection to the shared database, its `token` acme's SCIM token).
struct Cluster {
    apps: Vec<Rc<TestApp>>,
    children: Vec<Child>,
    logs: Vec<Log>,
}

impl Cluster {
    /// Starts `n` instances at once on `url`. With `org`, acme (acme.com, a SCIM token, the
    /// test IdP for SAML) is created first through the command line.
    fn start(url: &str, n: usize, org: bool) -> Self {
        let dirs: Vec<tempfile::TempDir> = (0..n).map(|_| tempfile::tempdir().unwrap()).collect();
        idgate::seal::Sealer::for_data_dir(dirs[0].path()).expect("secret.key made");
        let key = std::fs::read(dirs[0].path().join("secret.key")).unwrap();
        for d in &dirs {
            std::fs::write(d.path().join("secret.key"), &key).unwrap();
            // Read by the tests' command-line helpers (`helpers::store_env`).
            std::fs::write(d.path().join("test-store-url"), url).unwrap();
        }
        let mut token = String::new();
        let mut store = None;
        if org {
            let cli = |args: &[&str]| crate::hostile_world::cli(dirs[0].path(), args, "");
            cli(&[
                "org", "create", "acme", "--name", "Acme", "--domain", "acme.com",
            ]);
            token = cli(&["scim-token", "create", "--org", "acme", "--name", "entra"]);
            let s = Store::open_pg(url, 4).expect("store opens");
            configure_idp(&s, "acme");
            store = Some(s);
        }
        // Spawned one after another without waiting: they start at the same time.
        let mut children: Vec<Child> = dirs.iter().map(|d| spawn_serve(d.path())).collect();
        let logs: Vec<Log> = (0..n).map(|_| Log::default()).collect();
        let bases: Vec<String> = children
            .iter_mut()
            .zip(&logs)
            .map(|(c, l)| crate::helpers::served_address(c, &l.0))
            .collect();
        let store = store.unwrap_or_else(|| Store::open_pg(url, 4).expect("store opens"));
        let apps = dirs
            .into_iter()
            .zip(bases)
            .map(|(dir, base)| {
                Rc::new(TestApp {
                    base,
                    client: awc::Client::builder()
                        .timeout(Duration::from_secs(30))
                        .disable_redirects()
                        .finish(),
                    store: store.clone(),
                    token: token.clone(),
                    _dir: dir,
                })
            })
            .collect();
        Self {
            apps,
            children,
            logs,
        }
    }

    fn app(&self, i: usize) -> Rc<TestApp> {
        self.apps[i].clone()
    }

    /// kill -9 of instance `i`.
    fn kill(&mut self, i: usize) {
        self.children[i].kill().unwrap();
        self.children[i].wait().unwrap();
    }

    /// No instance logged a panic.
    #[track_caller]
    fn assert_no_panic(&self) {
        for (i, log) in self.logs.iter().enumerate() {
            let text = log.text();
            assert!(!text.contains("panicked"), "instance {i} panicked:\n{text}");
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn spawn_serve(data: &Path) -> Child {
    Command::new(BIN)
        .arg("--data-dir")
        .arg(data)
        .envs(crate::helpers::store_env(data))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("IDGATE_PUBLIC_URL", PUBLIC_URL)
        .env("RUST_LOG", "warn,idgate::app=info")
        .env_remove("IDGATE_LISTEN")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("idgate serve starts")
}

async fn sleep(ms: u64) {
    actix_web::rt::time::sleep(Duration::from_millis(ms)).await;
}

fn id_of(r: &Resp) -> String {
    assert_eq!(r.status, 201, "{}", r.text);
    r.body["id"].as_str().unwrap().to_string()
}

/// alice@acme.com with the test IdP's objectidentifier as externalId, so SAML finds her.
async fn provision_alice(app: &TestApp) -> String {
    let r = app
        .post(
            "/Users",
            json!({"userName": "alice@acme.com", "externalId": test_idp::OID, "active": true,
                   "emails": [{"value": "alice@acme.com", "type": "work", "primary": true}]}),
        )
        .await;
    id_of(&r)
}

/// SP-initiated SAML sign-in started on `start` and finished (ACS) on `finish`; the session.
async fn sign_in_across(start: &TestApp, finish: &TestApp) -> String {
    let pending = start.saml_login("/app").await;
    let mut entra = fresh_entra();
    entra.in_response_to = Some(pending.request_id.clone());
    let r = finish
        .acs(&test_idp::b64(&entra.xml()), Some(&pending.relay_state))
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    session_of(&r)
}

/// Polls `app`'s `/auth/verify` every 50 ms until it refuses `session`; asserts that this
/// happens within a second of `since` and returns how long it took.
async fn refused_within_a_second(
    app: &TestApp,
    session: &str,
    since: Instant,
    what: &str,
) -> Duration {
    loop {
        let r = app.verify(session).await;
        let took = since.elapsed();
        if r.status == 401 {
            assert!(
                took < Duration::from_secs(1),
                "{what}: refused only after {took:?}"
            );
            return took;
        }
        assert_eq!(r.status, 200, "{what}: {}", r.text);
        assert!(
            took < Duration::from_secs(1),
            "{what}: still accepted after {took:?}"
        );
        sleep(50).await;
    }
}

#[actix_web::test]
async fn three_instances_starting_at_once_migrate_once_and_share_one_signing_key() {
    let Some(base) = pg_base() else { return };
    let url = empty_database(&base);
    let cluster = Cluster::start(&url, 3, false);
    let (versions, current_keys) = with_pg(&url, |c| {
        let versions: Vec<(i64, i64)> = c
            .query(
                "SELECT version, COUNT(*) FROM idgate_schema GROUP BY version ORDER BY version",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        let keys: i64 = c
            .query_one(
                "SELECT COUNT(*) FROM signing_keys WHERE retired IS NULL",
                &[],
            )
            .unwrap()
            .get(0);
        (versions, keys)
    });
    let expected: Vec<(i64, i64)> = (1..=idgate::store::LATEST_VERSION)
        .map(|v| (v, 1))
        .collect();
    assert_eq!(versions, expected, "each migration applied exactly once");
    assert_eq!(current_keys, 1, "one current signing key");
    let mut jwks = Vec::new();
    for app in &cluster.apps {
        let r = app.web("GET", "/.well-known/jwks.json", &[], None).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(
            r.body["keys"].as_array().map(Vec::len),
            Some(1),
            "{}",
            r.text
        );
        jwks.push(r.body);
    }
    assert!(
        jwks.iter().all(|j| *j == jwks[0]),
        "the instances publish different JWKS: {jwks:?}"
    );
    cluster.assert_no_panic();
}

#[actix_web::test]
async fn a_saml_response_is_accepted_once_across_instances() {
    if pg_base().is_none() {
        return;
    }
    let cluster = Cluster::start(&migrated_database(), 2, true);
    let (a, b) = (cluster.app(0), cluster.app(1));
    provision_alice(&a).await;

    // Started on A, finished on B; the same response replayed to A is refused.
    let pending = a.saml_login("/app").await;
    let mut entra = fresh_entra();
    entra.in_response_to = Some(pending.request_id.clone());
    let response = test_idp::b64(&entra.xml());
    let ok = b.acs(&response, Some(&pending.relay_state)).await;
    assert_eq!(ok.status, 303, "{}", ok.text);
    assert_eq!(ok.header("location").as_deref(), Some("/app"));
    assert_eq!(b.verify(&session_of(&ok)).await.status, 200);
    assert_eq!(a.verify(&session_of(&ok)).await.status, 200);
    let replay = a.acs(&response, Some(&pending.relay_state)).await;
    assert_eq!(
        replay.status, 403,
        "replayed to another instance: {}",
        replay.text
    );
    assert!(set_cookie(&replay).is_none());

    // The same response at both instances at the same instant: exactly one wins.
    for round in 0..5 {
        let pending = a.saml_login("/app").await;
        let mut entra = fresh_entra();
        entra.in_response_to = Some(pending.request_id.clone());
        let response = test_idp::b64(&entra.xml());
        let relay = Some(pending.relay_state.as_str());
        let (ra, rb) = tokio::join!(a.acs(&response, relay), b.acs(&response, relay));
        let won: Vec<&Resp> = [&ra, &rb]
            .into_iter()
            .filter(|r| r.status == 303 && set_cookie(r).is_some())
            .collect();
        assert_eq!(
            won.len(),
            1,
            "round {round}: {} and {}",
            ra.status,
            rb.status
        );
        let lost = if ra.status == 303 { &rb } else { &ra };
        assert_eq!(lost.status, 403, "round {round}: {}", lost.text);
        assert!(set_cookie(lost).is_none());
    }
    cluster.assert_no_panic();
}

#[actix_web::test]
async fn a_revocation_through_one_instance_is_refused_by_the_other_within_a_second() {
    if pg_base().is_none() {
        return;
    }
    let cluster = Cluster::start(&migrated_database(), 2, true);
    let (a, b) = (cluster.app(0), cluster.app(1));
    let id = provision_alice(&a).await;
    let user = format!("/Users/{id}");
    let mut took = Vec::new();

    // Logout through A.
    let session = sign_in_across(&a, &a).await;
    assert_eq!(
        b.verify(&session).await.status,
        200,
        "B verifies (and caches) it"
    );
    let cookie = format!("idgate_session={session}");
    let out = a.web("POST", "/logout", &[("Cookie", &cookie)], None).await;
    assert_eq!(out.status, 303, "{}", out.text);
    took.push(refused_within_a_second(&b, &session, Instant::now(), "logout").await);

    // SCIM deactivation through A.
    let session = sign_in_across(&b, &a).await;
    assert_eq!(b.verify(&session).await.status, 200);
    let off = patch(json!([{"op": "Replace", "path": "active", "value": "False"}]));
    let r = a.patch(&user, off).await;
    assert_eq!(r.status, 200, "{}", r.text);
    took.push(refused_within_a_second(&b, &session, Instant::now(), "active=false").await);
    assert_eq!(a.verify(&session).await.status, 401);

    // Back on, signed in again; SCIM DELETE through A.
    let on = patch(json!([{"op": "replace", "path": "active", "value": true}]));
    assert_eq!(a.patch(&user, on).await.status, 200);
    let session = sign_in_across(&a, &b).await;
    assert_eq!(b.verify(&session).await.status, 200);
    assert_eq!(a.delete(&user).await.status, 204);
    took.push(refused_within_a_second(&b, &session, Instant::now(), "DELETE").await);
    // And on every call after that.
    for _ in 0..3 {
        assert_eq!(b.verify(&session).await.status, 401);
        assert_eq!(a.verify(&session).await.status, 401);
    }
    eprintln!("revocations heard by the other instance after {took:?}");
    cluster.assert_no_panic();
}

/// Password guesses spread over two instances count together (the failures live in the
/// store, not in each process), and the housekeeping both instances attempt when they
/// start runs in one of them only.
#[actix_web::test]
async fn guesses_count_across_instances_and_housekeeping_runs_once() {
    use crate::sessions::{PASSWORD, bob_with_password};
    let Some(base) = pg_base() else { return };
    let url = empty_database(&base);
    let cluster = Cluster::start(&url, 2, true);
    let (a, b) = (cluster.app(0), cluster.app(1));
    bob_with_password(&a).await;
    for i in 0..idgate::signin::ratelimit::PER_ACCOUNT {
        let app = if i % 2 == 0 { &a } else { &b };
        let r = app
            .login(&[("email", "bob@acme.com"), ("password", "wrong password!!")])
            .await;
        assert_eq!(r.status, 401, "guess {i}: {}", r.text);
    }
    for app in [&a, &b] {
        let r = app
            .login(&[("email", "bob@acme.com"), ("password", PASSWORD)])
            .await;
        assert_eq!(r.status, 429, "locked on every instance: {}", r.text);
    }
    let ran = |i: usize| cluster.logs[i].text().contains("hourly housekeeping");
    let mut waited = 0;
    while !(ran(0) || ran(1)) && waited < 5000 {
        sleep(100).await;
        waited += 100;
    }
    sleep(500).await;
    assert!(
        ran(0) != ran(1),
        "exactly one instance pruned (a: {}, b: {})",
        ran(0),
        ran(1)
    );
    cluster.assert_no_panic();
}
