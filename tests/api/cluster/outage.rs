//! Losing things: the database goes away and comes back (`/readyz`, 503s, recovery by
//! itself); one instance is killed with `kill -9` under SCIM load.

use std::path::PathBuf;
use std::process::Command;
use std::rc::Rc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Cluster, migrated_database, pg_base, sleep};
use crate::helpers::{Resp, TestApp};

/// A PostgreSQL server of this test's own (`scripts/pg-server.sh`), to stop and start.
struct PgServer {
    dir: PathBuf,
    url: String,
}

impl PgServer {
    fn start() -> Self {
        let short = uuid::Uuid::new_v4().simple().to_string();
        let dir = std::env::temp_dir().join(format!("idgate-pg-{}", &short[..12]));
        let out = Command::new(Self::script())
            .arg("start")
            .arg(&dir)
            .env("PG_FAST", "1")
            .output()
            .expect("pg-server.sh runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let url = String::from_utf8(out.stdout).unwrap().trim().to_string();
        Self { dir, url }
    }

    fn script() -> &'static str {
        concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/pg-server.sh")
    }

    /// `pg_ctl ARGS -D DIR/data`, as the cluster's owner (`postgres` when we are root, as
    /// pg-server.sh does).
    fn pg_ctl(&self, args: &[&str]) {
        let mut bins: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL is installed")
            .flatten()
            .map(|e| e.path().join("bin/pg_ctl"))
            .filter(|p| p.is_file())
            .collect();
        bins.sort();
        let pg_ctl = bins.pop().expect("pg_ctl");
        let root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
        let mut cmd = if root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&pg_ctl);
            c
        } else {
            Command::new(&pg_ctl)
        };
        let out = cmd
            .current_dir(&self.dir)
            .args(args)
            .arg("-D")
            .arg(self.dir.join("data"))
            .output()
            .expect("pg_ctl runs");
        assert!(
            out.status.success(),
            "pg_ctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn stop(&self) {
        self.pg_ctl(&["stop", "-m", "fast", "-w", "-t", "30"]);
    }

    fn restart(&self) {
        let port = std::fs::read_to_string(self.dir.join("port")).unwrap();
        let log = self.dir.join("log").display().to_string();
        let opts = format!("-p {}", port.trim());
        self.pg_ctl(&["start", "-w", "-t", "30", "-l", &log, "-o", &opts]);
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let _ = Command::new(Self::script())
            .arg("stop")
            .arg(&self.dir)
            .output();
    }
}

async fn readyz(app: &TestApp) -> Resp {
    app.web("GET", "/readyz", &[], None).await
}

#[actix_web::test]
async fn readyz_follows_the_database_and_instances_recover_by_themselves() {
    if pg_base().is_none() {
        return;
    }
    let pg = PgServer::start();
    let cluster = Cluster::start(&pg.url, 2, true);
    let (a, b) = (cluster.app(0), cluster.app(1));
    for app in [&a, &b] {
        assert_eq!(readyz(app).await.status, 200);
    }
    a.create_user("before@acme.com").await;

    pg.stop();
    let down = Instant::now();
    let (ra, rb) = tokio::join!(readyz(&a), readyz(&b));
    for r in [&ra, &rb] {
        assert_eq!(r.status, 503, "{}", r.text);
        assert!(r.text.contains("not ready"), "{}", r.text);
    }
    let write = a
        .post(
            "/Users",
            json!({"userName": "outage@acme.com", "active": true}),
        )
        .await;
    write.assert_error(503, None);
    // A browser gets a readable 503 page, not a 500 ("something went wrong").
    let page = b.login(&[("email", "someone@acme.com")]).await;
    assert_eq!(page.status, 503, "{}", page.text);
    assert!(
        page.text.contains("database could not complete this"),
        "{}",
        page.text
    );
    assert_eq!(page.headers.get("retry-after").unwrap(), "5");
    let outage_answers = down.elapsed();

    pg.restart();
    let up = Instant::now();
    for app in [&a, &b] {
        while readyz(app).await.status != 200 {
            assert!(
                up.elapsed() < Duration::from_secs(10),
                "not ready 10 s after the database returned"
            );
            sleep(100).await;
        }
    }
    let recovered = up.elapsed();
    let none = b
        .get(&format!(
            "/Users?filter={}",
            crate::helpers::enc("userName eq \"outage@acme.com\"", false)
        ))
        .await;
    assert_eq!(
        none.body["totalResults"], 0,
        "the refused write left something: {}",
        none.text
    );
    let id = a.create_user("outage@acme.com").await;
    assert_eq!(b.get(&format!("/Users/{id}")).await.status, 200);
    eprintln!(
        "outage answers after {outage_answers:?}; both ready again {recovered:?} after restart"
    );
    cluster.assert_no_panic();
}

#[actix_web::test]
async fn kill_9_of_one_instance_under_load_loses_no_acknowledged_write() {
    if pg_base().is_none() {
        return;
    }
    let mut cluster = Cluster::start(&migrated_database(), 2, true);
    let acked: Rc<std::cell::RefCell<Vec<(String, String)>>> = Rc::default();
    let stop = Rc::new(std::cell::Cell::new(false));
    let started = Instant::now();
    let workers: Vec<_> = (0..8)
        .map(|w| {
            let (app, acked, stop) = (cluster.app(w % 2), acked.clone(), stop.clone());
            actix_web::rt::spawn(async move {
                for i in 0.. {
                    if stop.get() || started.elapsed() > Duration::from_secs(20) {
                        break;
                    }
                    let user = format!("load-{w}-{i}@acme.com");
                    let auth = format!("Bearer {}", app.token);
                    let res = app
                        .client
                        .post(app.scim("/Users"))
                        .insert_header(("Authorization", auth))
                        .insert_header(("Content-Type", "application/scim+json"))
                        .send_body(json!({"userName": user}).to_string())
                        .await;
                    // Clients of the killed instance stop at their first failure.
                    let Ok(mut res) = res else { break };
                    if res.status() != 201 {
                        break;
                    }
                    let Ok(body) = res.json::<Value>().await else {
                        break;
                    };
                    let id = body["id"].as_str().unwrap().to_string();
                    acked.borrow_mut().push((id, user));
                }
            })
        })
        .collect();
    while acked.borrow().len() < 200 && started.elapsed() < Duration::from_secs(15) {
        sleep(5).await;
    }
    cluster.kill(0);
    let killed_at = acked.borrow().len();
    sleep(500).await;
    stop.set(true);
    for w in workers {
        let _ = w.await;
    }
    let acked = acked.borrow().clone();
    assert!(
        killed_at >= 200,
        "only {killed_at} creates acknowledged before the kill"
    );
    assert!(
        acked.len() > killed_at,
        "the survivor stopped acknowledging after the kill"
    );

    let survivor = cluster.app(1);
    let mut missing = Vec::new();
    for (id, user) in &acked {
        let r = survivor.get(&format!("/Users/{id}")).await;
        if r.status != 200 {
            missing.push(user.clone());
            continue;
        }
        assert_eq!(r.body["userName"], user.as_str());
    }
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged users lost: {:?}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(5)]
    );
    assert_eq!(readyz(&survivor).await.status, 200);
    survivor.create_user("after-kill@acme.com").await;
    assert!(
        !cluster.logs[1].text().contains("panicked"),
        "{}",
        cluster.logs[1].text()
    );
}
