//! The product API's event feed and its keys: `idgate api-key`, `GET /api/v1/events` with
//! filters, long poll and 410, scopes and org restrictions.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{Resp, TestApp, create_org, spawn_app};

fn api_key(app: &TestApp, args: &[&str]) -> String {
    let mut all = vec!["api-key"];
    all.extend_from_slice(args);
    app.idgate(&all)
}

fn new_key(app: &TestApp, name: &str, extra: &[&str]) -> String {
    let mut args = vec!["create", "--name", name];
    args.extend_from_slice(extra);
    let out = api_key(app, &args);
    let key = out.trim().to_string();
    assert!(
        key.starts_with("idgk_") && out.lines().count() == 1,
        "{out}"
    );
    key
}

impl TestApp {
    async fn feed(&self, key: &str, query: &str) -> Resp {
        let auth = format!("Bearer {key}");
        self.web(
            "GET",
            &format!("/api/v1/events?{query}"),
            &[("Authorization", &auth)],
            None,
        )
        .await
    }
}

fn types(r: &Resp) -> Vec<String> {
    r.body["events"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", r.text))
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect()
}

#[track_caller]
fn assert_json_error(r: &Resp, status: u16, code: &str) {
    assert_eq!(r.status, status, "{}", r.text);
    assert_eq!(r.body["error"], code, "{}", r.text);
    assert!(
        r.body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{}",
        r.text
    );
}

#[actix_web::test]
async fn the_feed_serves_the_stored_envelopes_in_order_with_filters() {
    let app = spawn_app().await;
    let key = new_key(&app, "product", &["--scope", "events:read,directory:read"]);
    let u = app.create_user("a@acme.com").await;
    let g = app
        .post("/Groups", json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "G", "members": [{"value": u}]}))
        .await;
    assert_eq!(g.status, 201, "{}", g.text);

    let all = app.feed(&key, "after=0").await;
    assert_eq!(all.status, 200, "{}", all.text);
    assert_eq!(
        types(&all),
        ["user.created", "group.created", "group.member_added"]
    );
    // The bytes served are the bytes stored.
    let stored = app
        .store
        .read_now(|c| idgate::store::events::after(c, 0, None, 10))
        .unwrap();
    for (served, row) in all.body["events"].as_array().unwrap().iter().zip(&stored) {
        assert_eq!(served.to_string(), row.envelope);
    }
    let last = stored.last().unwrap().seq;
    assert_eq!(all.body["next_after"], last);
    assert_eq!(all.body["head"], last);

    // Paging by next_after, and type filters.
    let first = app.feed(&key, "after=0&limit=1").await;
    assert_eq!(types(&first), ["user.created"]);
    let next = first.body["next_after"].as_i64().unwrap();
    let rest = app.feed(&key, &format!("after={next}&limit=5")).await;
    assert_eq!(types(&rest), ["group.created", "group.member_added"]);
    assert_eq!(
        types(&app.feed(&key, "types=group.*").await),
        ["group.created", "group.member_added"]
    );
    assert_eq!(
        types(
            &app.feed(&key, "types=user.created,group.member_added")
                .await
        ),
        ["user.created", "group.member_added"]
    );
    // Nothing new: an empty page that keeps the cursor.
    let none = app.feed(&key, &format!("after={last}")).await;
    assert_eq!(
        none.body,
        json!({"events": [], "next_after": last, "head": last})
    );

    // Bad queries: JSON 400s.
    for bad in [
        "after=x",
        "limit=0",
        "wait=99",
        "types=user.nope",
        "frobnicate=1",
        "after=%FF",
    ] {
        assert_json_error(&app.feed(&key, bad).await, 400, "invalid_request");
    }
}

#[actix_web::test]
async fn keys_are_scoped_restricted_to_their_orgs_and_revocable() {
    let app = spawn_app().await;
    let globex = create_org(&app.store, "globex", "globex.com");
    app.create_user("a@acme.com").await;
    let r = app
        .call_as(&globex, "POST", "/Users", Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "g@globex.com"})))
        .await;
    assert_eq!(r.status, 201);

    let acme_only = new_key(
        &app,
        "acme-only",
        &["--scope", "events:read", "--org", "acme"],
    );
    let page = app.feed(&acme_only, "after=0").await;
    assert_eq!(types(&page), ["user.created"]);
    assert_eq!(page.body["events"][0]["org"]["slug"], "acme");
    // Another org is as missing as a missing one.
    assert_json_error(&app.feed(&acme_only, "org=globex").await, 404, "not_found");
    assert_json_error(&app.feed(&acme_only, "org=nope").await, 404, "not_found");
    let everyone = new_key(&app, "all", &["--scope", "events:read"]);
    assert_eq!(
        types(&app.feed(&everyone, "org=globex").await),
        ["user.created"]
    );
    assert_eq!(types(&app.feed(&everyone, "").await).len(), 2);

    let directory_only = new_key(&app, "dir", &["--scope", "directory:read"]);
    assert_json_error(
        &app.feed(&directory_only, "").await,
        403,
        "insufficient_scope",
    );
    assert_json_error(&app.feed("idgk_nope", "").await, 401, "unauthorized");
    let anonymous = app.web("GET", "/api/v1/events", &[], None).await;
    assert_json_error(&anonymous, 401, "unauthorized");
    assert!(anonymous.header("www-authenticate").is_some());

    let listed = api_key(&app, &["list"]);
    assert!(
        listed.contains("acme-only\tevents:read\tacme\t"),
        "{listed}"
    );
    assert!(!listed.contains("idgk_"), "a key is shown once: {listed}");
    api_key(&app, &["revoke", "all"]);
    assert_json_error(&app.feed(&everyone, "").await, 401, "unauthorized");
    let bad_scope = Command::new(env!("CARGO_BIN_EXE_idgate"))
        .arg("--data-dir")
        .arg(app._dir.path())
        .envs(crate::helpers::store_env(app._dir.path()))
        .args([
            "api-key",
            "create",
            "--name",
            "x",
            "--scope",
            "events:write",
        ])
        .output()
        .unwrap();
    assert!(!bad_scope.status.success());
    assert!(String::from_utf8_lossy(&bad_scope.stderr).contains("unknown scope"));
}

#[actix_web::test]
async fn a_waiting_request_returns_as_soon_as_an_event_exists() {
    let app = spawn_app().await;
    let key = new_key(&app, "p", &["--scope", "events:read"]);
    let head = app.feed(&key, "").await.body["head"].as_i64().unwrap();
    let started = Instant::now();
    let query = format!("after={head}&wait=10");
    let waiting = app.feed(&key, &query);
    let later = async {
        actix_web::rt::time::sleep(Duration::from_millis(300)).await;
        app.create_user("late@acme.com").await
    };
    let (page, _) = futures_util::future::join(waiting, later).await;
    assert_eq!(types(&page), ["user.created"]);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(5),
        "{took:?}"
    );
    // With nothing to come, the wait ends empty.
    let now = page.body["next_after"].as_i64().unwrap();
    let empty = app.feed(&key, &format!("after={now}&wait=1")).await;
    assert_eq!(empty.body["events"], json!([]));
}

#[actix_web::test]
async fn a_cursor_older_than_what_is_kept_is_gone() {
    let app = spawn_app().await;
    let key = new_key(&app, "p", &["--scope", "events:read"]);
    app.create_user("a@acme.com").await;
    app.create_user("b@acme.com").await;
    let stored = app
        .store
        .read_now(|c| idgate::store::events::after(c, 0, None, 10))
        .unwrap();
    let (first, second) = (stored[0].seq, stored[1].seq);
    // Retention removes the first event.
    app.store
        .write_now(|c| {
            c.execute("DELETE FROM events WHERE seq = ?1", [first])?;
            Ok(())
        })
        .unwrap();
    let gone = app.feed(&key, "after=0").await;
    assert_json_error(&gone, 410, "cursor_expired");
    assert_eq!(gone.body["oldest_seq"], Value::from(second));
    // From the oldest kept on, the feed goes on.
    assert_eq!(
        types(&app.feed(&key, &format!("after={first}")).await),
        ["user.created"]
    );
}

// Found by schemathesis: the largest cursor a client can send overflowed the "was it
// pruned?" check and the request panicked (500). A cursor past the head is simply caught up.
#[actix_web::test]
async fn a_cursor_at_the_largest_seq_is_caught_up_not_a_server_error() {
    let app = spawn_app().await;
    let key = new_key(&app, "p", &["--scope", "events:read"]);
    app.create_user("a@acme.com").await;
    let max = i64::MAX.to_string();
    let r = app.feed(&key, &format!("after={max}&limit=911")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["events"], serde_json::json!([]));
    assert_eq!(r.body["next_after"], Value::from(i64::MAX));
    // Pruned down to nothing: still caught up, not gone.
    app.store
        .write_now(|c| {
            c.execute("DELETE FROM events", [])?;
            Ok(())
        })
        .unwrap();
    assert_eq!(app.feed(&key, &format!("after={max}")).await.status, 200);
}

/// The README's consumer, run as a product would run it against the real server; the README
/// shows this very file.
#[test]
fn the_readme_consumer_copies_then_follows() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let script = include_str!("../../examples/product/follow.py");
    let readme = include_str!("../../README.md");
    assert!(
        readme.contains(script),
        "README.md must show examples/product/follow.py verbatim"
    );

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let cli = |args: &[&str]| crate::hostile_world::cli(data, args, "");
    cli(&[
        "org", "create", "acme", "--name", "Acme", "--domain", "acme.com",
    ]);
    let token = cli(&["scim-token", "create", "--org", "acme", "--name", "entra"]);
    let key = cli(&[
        "api-key",
        "create",
        "--name",
        "app",
        "--scope",
        "directory:read,events:read",
    ]);
    let (mut server, base) = crate::crash::serve(data);
    let scim = |method: &str, path: &str, body: Value| {
        let mut conn = crate::raw_http::Conn::open(&base);
        let body = body.to_string();
        let auth = format!("Authorization: Bearer {token}");
        let req = crate::raw_http::request(
            method,
            format!("/scim/v2{path}").as_bytes(),
            &[&auth, "Content-Type: application/scim+json"],
            &body,
        );
        conn.send(&req)
    };
    let alice = scim(
        "POST",
        "/Users",
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "Alice@Acme.com"}),
    );
    assert_eq!(alice.status, 201, "{alice:?}");
    let alice_id = alice.json()["id"].as_str().unwrap().to_string();

    let mut consumer = Command::new("python3")
        .arg("examples/product/follow.py")
        .arg("acme")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("IDGATE_URL", &base)
        .env("IDGATE_API_KEY", &key)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 runs");
    // A consumer that stops answering fails the test instead of hanging it.
    let pid = consumer.id().to_string();
    std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(60));
        let _ = Command::new("kill").arg(&pid).status();
    });
    let mut lines = BufReader::new(consumer.stdout.take().unwrap()).lines();
    let first = lines.next().expect("the consumer printed").unwrap();
    assert!(
        first.starts_with("1 users; following from event "),
        "{first}"
    );
    let off = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "Replace", "path": "active", "value": "False"}]});
    assert_eq!(
        scim("PATCH", &format!("/Users/{alice_id}"), off).status,
        200
    );
    let bob = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "bob@acme.com"});
    assert_eq!(scim("POST", "/Users", bob).status, 201);
    let seen: Vec<String> = (0..2).map(|_| lines.next().unwrap().unwrap()).collect();
    assert!(
        seen[0].ends_with(" user.deactivated alice@acme.com"),
        "{seen:?}"
    );
    assert!(seen[1].ends_with(" user.created bob@acme.com"), "{seen:?}");
    let _ = consumer.kill();
    let _ = consumer.wait();
    let _ = server.kill();
    let _ = server.wait();
}

/// The README's webhook receiver, run as a product would run it: it verifies idgate's
/// signatures with its own code (the standard library's HMAC), prints each event once, and
/// refuses a forged delivery.
#[test]
fn the_readme_webhook_receiver_verifies_and_applies() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let script = include_str!("../../examples/product/webhook_receiver.py");
    let readme = include_str!("../../README.md");
    assert!(
        readme.contains(script),
        "README.md must show examples/product/webhook_receiver.py verbatim"
    );

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let cli = |args: &[&str]| crate::hostile_world::cli(data, args, "");
    cli(&[
        "org", "create", "acme", "--name", "Acme", "--domain", "acme.com",
    ]);
    let token = cli(&["scim-token", "create", "--org", "acme", "--name", "entra"]);
    let key = cli(&[
        "api-key",
        "create",
        "--name",
        "ops",
        "--scope",
        "webhooks:write",
    ]);
    // The secret is printed once, alone on stdout; the receiver's address is known only once
    // it listens, so the endpoint starts on a closed port and is moved there (no event yet).
    let secret = cli(&["webhook", "add", "http://127.0.0.1:9/", "--types", "user.*"]);
    assert!(secret.starts_with("whsec_"), "{secret}");

    let mut receiver = Command::new("python3")
        .arg("examples/product/webhook_receiver.py")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("IDGATE_WEBHOOK_SECRET", &secret)
        .env("PORT", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 runs");
    let pid = receiver.id().to_string();
    std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(60));
        let _ = Command::new("kill").arg(&pid).status();
    });
    let mut lines = BufReader::new(receiver.stdout.take().unwrap()).lines();
    let first = lines.next().expect("the receiver printed").unwrap();
    let port = first
        .strip_prefix("listening on ")
        .expect(&first)
        .to_string();
    let hook = format!("http://127.0.0.1:{port}/idgate");

    let (mut server, base) = crate::crash::serve(data);
    let call = |method: &str, path: &str, auth: &str, ctype: &str, body: Value| {
        let mut conn = crate::raw_http::Conn::open(&base);
        let auth = format!("Authorization: Bearer {auth}");
        let ctype = format!("Content-Type: {ctype}");
        let body = if body.is_null() {
            String::new()
        } else {
            body.to_string()
        };
        conn.send(&crate::raw_http::request(
            method,
            path.as_bytes(),
            &[&auth, &ctype],
            &body,
        ))
    };
    let list = call(
        "GET",
        "/api/v1/webhook_endpoints",
        &key,
        "application/json",
        Value::Null,
    );
    assert_eq!(list.status, 200, "{list:?}");
    let id = list.json()["endpoints"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let moved = call(
        "PATCH",
        &format!("/api/v1/webhook_endpoints/{id}"),
        &key,
        "application/json",
        json!({"url": hook}),
    );
    assert_eq!(moved.status, 200, "{moved:?}");

    // A forged delivery (signed with another secret) is refused and prints nothing.
    let forged = {
        let mut conn = crate::raw_http::Conn::open(&format!("http://127.0.0.1:{port}"));
        let body =
            r#"{"id":"evt_forged","seq":1,"type":"user.deleted","data":{"email":"x@acme.com"}}"#;
        let stamp = format!(
            "webhook-timestamp: {}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs()
        );
        conn.send(&crate::raw_http::request(
            "POST",
            b"/idgate",
            &[
                "webhook-id: evt_forged",
                &stamp,
                "webhook-signature: v1,bm90IHRoZSBzaWduYXR1cmUgb2YgdGhpcyBib2R5IGF0IGFsbA==",
                "Content-Type: application/json",
            ],
            body,
        ))
    };
    assert_eq!(forged.status, 401, "{forged:?}");

    let user = |name: &str| json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name});
    let scim_type = "application/scim+json";
    let alice = call(
        "POST",
        "/scim/v2/Users",
        &token,
        scim_type,
        user("Alice@Acme.com"),
    );
    assert_eq!(alice.status, 201, "{alice:?}");
    let alice_id = alice.json()["id"].as_str().unwrap().to_string();
    let off = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "Replace", "path": "active", "value": false}]});
    let path = format!("/scim/v2/Users/{alice_id}");
    assert_eq!(call("PATCH", &path, &token, scim_type, off).status, 200);
    // Not a user.* event: the endpoint's types leave it out.
    let group =
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Eng"});
    assert_eq!(
        call("POST", "/scim/v2/Groups", &token, scim_type, group).status,
        201
    );
    assert_eq!(
        call("DELETE", &path, &token, scim_type, Value::Null).status,
        204
    );

    let seen: Vec<String> = (0..3).map(|_| lines.next().unwrap().unwrap()).collect();
    let kinds: Vec<&str> = seen.iter().map(|l| l.split(' ').nth(1).unwrap()).collect();
    assert_eq!(
        kinds,
        ["user.created", "user.deactivated", "user.deleted"],
        "{seen:?}"
    );
    assert!(
        seen.iter().all(|l| l.ends_with(" alice@acme.com")),
        "{seen:?}"
    );
    let seqs: Vec<u64> = seen
        .iter()
        .map(|l| l.split(' ').next().unwrap().parse().unwrap())
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    let _ = receiver.kill();
    let _ = receiver.wait();
    let _ = server.kill();
    let _ = server.wait();
}
