//! `spawn_app()` and `TestApp`: one method per kind of request.

use std::time::Duration;

use idgate::Application;
use idgate::clock::{Clock, timestamp};
use idgate::config::Config;
use idgate::store::{Store, orgs};
use serde_json::Value;

/// Percent-encodes a query value; spaces become `+` when `plus`, else `%20`.
pub fn enc(s: &str, plus: bool) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b' ' if plus => out.push('+'),
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A PatchOp body with these operations.
pub fn patch(ops: Value) -> Value {
    serde_json::json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops})
}

pub struct TestApp {
    pub base: String,
    pub client: awc::Client,
    pub store: Store,
    /// The SCIM token of the org `acme`.
    pub token: String,
    pub _dir: tempfile::TempDir,
}

pub struct Resp {
    pub status: u16,
    pub headers: awc::http::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }

    /// Asserts an RFC 7644 error body with this status (and scimType, if given).
    #[track_caller]
    pub fn assert_error(&self, status: u16, scim_type: Option<&str>) {
        assert_eq!(self.status, status, "body: {}", self.text);
        assert_eq!(
            self.body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error",
            "{}",
            self.text
        );
        assert_eq!(self.body["status"], status.to_string(), "{}", self.text);
        if let Some(t) = scim_type {
            assert_eq!(self.body["scimType"], t, "{}", self.text);
        }
        assert!(
            self.body["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{}",
            self.text
        );
    }
}

/// Starts the app on 127.0.0.1:0 with a fresh store and the org `acme` (domain acme.com)
/// with one SCIM token.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    spawn_app_routes(adjust, |_| {}).await
}

/// `spawn_app_with`, with routes of the test's own added to the table.
pub async fn spawn_app_routes(
    adjust: impl FnOnce(&mut Config),
    extra: fn(&mut actix_web::web::ServiceConfig),
) -> TestApp {
    spawn_app_clock(adjust, extra, Clock::System).await
}

/// `spawn_app_routes` on a clock of the test's choosing (a fixed one to move by hand).
pub async fn spawn_app_clock(
    adjust: impl FnOnce(&mut Config),
    extra: fn(&mut actix_web::web::ServiceConfig),
    clock: Clock,
) -> TestApp {
    crate::logs::install();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().to_path_buf(),
        store_url: test_store_url(dir.path()),
        ..Config::default()
    };
    adjust(&mut config);
    let app = Application::build_with(config, clock, extra).expect("app builds");
    let port = app.port();
    let state = app.state();
    actix_web::rt::spawn(app.run_until_stopped());
    let store = state.store.clone();
    let token = create_org(&store, "acme", "acme.com");
    let base = format!("http://127.0.0.1:{port}");
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .disable_redirects()
        .finish();
    TestApp {
        base,
        client,
        store,
        token,
        _dir: dir,
    }
}

/// Creates an org with one domain and returns a fresh SCIM token for it.
pub fn create_org(store: &Store, slug: &str, domain: &str) -> String {
    let token = idgate::cli::new_token();
    let now = timestamp(Clock::System.now());
    store
        .write_now(|c| {
            let org = orgs::create_org(c, slug, slug, &[domain.to_string()], &now)?;
            orgs::create_token(c, org.id, "test", &token, &now)
        })
        .expect("org created");
    token
}

impl TestApp {
    /// Runs the `idgate` command line on this app's data directory; its stdout, trimmed (a
    /// non-zero exit fails the test).
    pub fn idgate(&self, args: &[&str]) -> String {
        crate::hostile_world::cli(self._dir.path(), args, "")
    }

    pub fn scim(&self, path: &str) -> String {
        format!("{}/scim/v2{path}", self.base)
    }

    /// Sends a SCIM request with this app's token.
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Resp {
        self.call_as(&self.token, method, path, body).await
    }

    pub async fn call_as(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Resp {
        let auth = format!("Bearer {token}");
        self.raw(
            method,
            path,
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/scim+json"),
            ],
            body.map(|b| b.to_string()),
        )
        .await
    }

    /// Any SCIM request with explicit headers and an optional raw body.
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<String>,
    ) -> Resp {
        self.web(method, &format!("/scim/v2{path}"), headers, body)
            .await
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.call("GET", path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.call("POST", path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Resp {
        self.call("PATCH", path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Resp {
        self.call("PUT", path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.call("DELETE", path, None).await
    }

    /// Creates a user with just a userName; returns its id.
    pub async fn create_user(&self, user_name: &str) -> String {
        let r = self
            .post(
                "/Users",
                serde_json::json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": user_name,
                    "active": true,
                }),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.body["id"].as_str().unwrap().to_string()
    }

    /// The SCIM request-log rows of the org `acme`, newest first.
    pub fn request_log(&self) -> Vec<idgate::store::requests::RequestLog> {
        self.store
            .read_now(|c| {
                let org = orgs::require_org(c, "acme")?;
                idgate::store::requests::recent(c, org.id, 1000, None)
            })
            .unwrap()
    }
}

/// With `TEST_PG_URL` set (`make test` sets it to a throwaway server), every test app
/// gets a fresh PostgreSQL database of its own instead of SQLite; its URL is also written
/// into the data directory, so the command line the test runs there finds it
/// (`store_env`).
pub fn test_store_url(dir: &std::path::Path) -> Option<String> {
    // Databases are copied from one migrated template per test process; copies are made one
    // at a time (PostgreSQL refuses to copy a template two sessions are reading).
    static TEMPLATE: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);
    let base = std::env::var("TEST_PG_URL").ok()?;
    let (prefix, _) = base.rsplit_once('/').expect("a URL with a database");
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    let (admin, prefix_owned, name_owned) = (base.clone(), prefix.to_string(), name.clone());
    // The blocking client must not run inside the test's async runtime.
    std::thread::spawn(move || {
        let mut template = TEMPLATE.lock().unwrap_or_else(|e| e.into_inner());
        let mut c = postgres::Client::connect(&admin, postgres::NoTls).expect("PostgreSQL");
        if template.is_none() {
            let t = format!("tmpl_{}", std::process::id());
            c.batch_execute(&format!("DROP DATABASE IF EXISTS {t}"))
                .expect("old template dropped");
            c.batch_execute(&format!("CREATE DATABASE {t}"))
                .expect("template created");
            let mut m = postgres::Client::connect(&format!("{prefix_owned}/{t}"), postgres::NoTls)
                .expect("template");
            idgate::store::migrate_pg(&mut m).expect("template migrated");
            drop(m);
            *template = Some(t);
        }
        let t = template.as_deref().unwrap_or_default();
        c.batch_execute(&format!("CREATE DATABASE {name_owned} TEMPLATE {t}"))
            .expect("database created");
    })
    .join()
    .expect("database created");
    let url = format!("{prefix}/{name}");
    std::fs::write(dir.join("test-store-url"), &url).expect("marker written");
    Some(url)
}

/// `IDGATE_STORE_URL` for a command run on `data`, when its test app is on PostgreSQL.
pub fn store_env(data: &std::path::Path) -> Vec<(String, String)> {
    std::fs::read_to_string(data.join("test-store-url"))
        .map(|url| vec![("IDGATE_STORE_URL".to_string(), url)])
        .unwrap_or_default()
}

/// Reads a just-started `idgate serve`'s stderr until it prints the address it serves on and
/// returns that; every line (before and after) goes into `log`, for assertions and failure
/// messages, and the rest of stderr keeps being read so the server never blocks on a full
/// pipe.
pub fn served_address(
    child: &mut std::process::Child,
    log: &std::sync::Arc<std::sync::Mutex<Vec<String>>>,
) -> String {
    use std::io::{BufRead, BufReader};
    let stderr = child
        .stderr
        .take()
        .expect("serve started with stderr piped");
    let mut lines = BufReader::new(stderr).lines();
    let base = loop {
        let Some(Ok(line)) = lines.next() else {
            panic!(
                "idgate serve exited before serving:\n{}",
                log.lock().unwrap().join("\n")
            );
        };
        log.lock().unwrap().push(line.clone());
        if let Some(rest) = line.split("serving on ").nth(1) {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    let keep = log.clone();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            keep.lock().unwrap().push(line);
        }
    });
    base
}
