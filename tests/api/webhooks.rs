//! Webhooks end to end: real SCIM traffic, a real receiver over HTTP, signatures checked by
//! the Standard Webhooks reference verifier (`standardwebhooks` crate), order per lane,
//! retries on an injected clock, stalls that wait, 410, Retry-After, rotation, the API.

use std::time::Duration;

use idgate::clock::Clock;
use serde_json::{Value, json};

use crate::helpers::{Resp, TestApp, create_org, spawn_app_clock};
use crate::receiver::{Hit, Receiver};

const LOOPBACK: &str = "127.0.0.1/32";

async fn app_on(clock: Clock) -> TestApp {
    spawn_app_clock(
        |c| c.outbound_allow_networks = vec![LOOPBACK.parse().unwrap()],
        |_| {},
        clock,
    )
    .await
}

fn all_events(app: &TestApp, org: Option<&str>) -> Vec<(i64, String, String)> {
    app.store
        .read_now(|c| {
            let id = match org {
                Some(slug) => Some(idgate::store::orgs::require_org(c, slug)?.id),
                None => None,
            };
            idgate::store::events::after(c, 0, id, 100_000)
        })
        .unwrap()
        .into_iter()
        .map(|e| (e.seq, e.type_, e.envelope))
        .collect()
}

fn verify(secret: &str, hit: &Hit) -> Result<(), standardwebhooks::WebhookError> {
    standardwebhooks::Webhook::new(secret)
        .unwrap()
        .verify(hit.body.as_bytes(), &hit.http_headers())
}

impl TestApp {
    pub async fn hook_api(&self, key: &str, method: &str, path: &str, body: Option<Value>) -> Resp {
        let auth = format!("Bearer {key}");
        self.web(
            method,
            path,
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/json"),
            ],
            body.map(|b| b.to_string()),
        )
        .await
    }

    async fn traffic(&self, token: &str, n: usize, prefix: &str) {
        for i in 0..n {
            let r = self
                .call_as(
                    token,
                    "POST",
                    "/Users",
                    Some(json!({
                        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                        "userName": format!("{prefix}{i}@example.com"),
                        "active": true,
                    })),
                )
                .await;
            assert_eq!(r.status, 201, "{}", r.text);
        }
    }
}

/// Delivered seqs of one org, in receipt order, with repeats removed.
fn seqs(hits: &[Hit], org: &str) -> Vec<i64> {
    let mut out: Vec<i64> = Vec::new();
    for h in hits
        .iter()
        .filter(|h| h.org() == org && (200..300).contains(&h.status))
    {
        if !out.contains(&h.seq()) {
            out.push(h.seq());
        }
    }
    out
}

#[actix_web::test]
async fn every_event_arrives_signed_in_order_and_byte_for_byte() {
    let app = app_on(Clock::System).await;
    let rx = Receiver::start().await;
    let secret = app.idgate(&["webhook", "add", &rx.url]);
    assert!(
        secret.starts_with("whsec_") && secret.lines().count() == 1,
        "{secret}"
    );
    // Entra-shaped traffic: create, update, deactivate, group with a member, delete.
    let id = app.create_user("ada@acme.com").await;
    let r = app
        .patch(
            &format!("/Users/{id}"),
            crate::helpers::patch(json!([
                {"op": "Replace", "path": "displayName", "value": "Ada L"},
                {"op": "Replace", "path": "active", "value": "False"}
            ])),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let g = app
        .post(
            "/Groups",
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                   "displayName": "Eng", "members": [{"value": id}]}),
        )
        .await;
    assert_eq!(g.status, 201, "{}", g.text);
    assert_eq!(app.delete(&format!("/Users/{id}")).await.status, 204);
    let events = all_events(&app, Some("acme"));
    let n = events.len();
    assert!(n >= 6, "{events:?}");
    let hits = rx.wait_for("every event", |h| h.len() >= n).await;
    // Byte for byte the stored envelopes, in seq order, each with its event id.
    for (hit, (seq, type_, envelope)) in hits.iter().zip(&events) {
        assert_eq!(&hit.body, envelope, "seq {seq} {type_}");
        assert_eq!(hit.header("webhook-id"), hit.json()["id"].as_str().unwrap());
        assert_eq!(hit.header("content-type"), "application/json");
        verify(&secret, hit).unwrap_or_else(|e| panic!("seq {seq}: {e:?}"));
    }
    let types: Vec<&str> = events.iter().map(|e| e.1.as_str()).collect();
    for t in [
        "user.created",
        "user.deactivated",
        "group.created",
        "group.member_added",
        "user.deleted",
    ] {
        assert!(types.contains(&t), "{types:?}");
    }
    // The reference verifier refuses a wrong secret, a stale timestamp and a bare `v1,`.
    let hit = &hits[0];
    let other = idgate::webhooks::sign::new_secret();
    assert!(verify(&other, hit).is_err());
    let mut stale = hit.clone();
    let old = time::OffsetDateTime::now_utc().unix_timestamp() - 600;
    let key = idgate::webhooks::sign::key_of(&secret).unwrap();
    let sig =
        idgate::webhooks::sign::signature(&key, hit.header("webhook-id"), old, hit.body.as_bytes());
    for (k, v) in stale.headers.iter_mut() {
        match k.as_str() {
            "webhook-timestamp" => *v = old.to_string(),
            "webhook-signature" => *v = sig.clone(),
            _ => {}
        }
    }
    assert!(matches!(
        verify(&secret, &stale),
        Err(standardwebhooks::WebhookError::TimestampTooOldError)
    ));
    let mut bare = hit.clone();
    for (k, v) in bare.headers.iter_mut() {
        if k == "webhook-signature" {
            *v = "v1,".into();
        }
    }
    assert!(verify(&secret, &bare).is_err());
    // Nothing more than the events: no duplicates when nothing failed.
    actix_web::rt::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(rx.hits().len(), n);
}

#[actix_web::test]
async fn types_and_orgs_filter_and_lanes_are_independent() {
    let app = app_on(Clock::System).await;
    let beta = create_org(&app.store, "beta", "beta.com");
    let users_only = Receiver::start().await;
    let beta_only = Receiver::start().await;
    app.idgate(&["webhook", "add", &users_only.url, "--types", "user.created"]);
    app.idgate(&["webhook", "add", &beta_only.url, "--org", "beta"]);
    app.traffic(&app.token, 3, "a").await;
    app.traffic(&beta, 2, "b").await;
    let g = app
        .call_as(&beta, "POST", "/Groups", Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "B"})))
        .await;
    assert_eq!(g.status, 201);
    let hits = users_only
        .wait_for("5 user.created", |h| h.len() >= 5)
        .await;
    assert!(hits.iter().all(|h| h.json()["type"] == "user.created"));
    let b = beta_only
        .wait_for("beta's 3 events", |h| h.len() >= 3)
        .await;
    assert!(b.iter().all(|h| h.org() == "beta"), "{b:?}");
    assert_eq!(
        seqs(&b, "beta"),
        all_events(&app, Some("beta"))
            .iter()
            .map(|e| e.0)
            .collect::<Vec<_>>()
    );
    actix_web::rt::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(users_only.hits().len(), 5);
    assert_eq!(beta_only.hits().len(), 3);
}

/// Waits until the receiver has `n` hits; fails if more come.
async fn exactly(rx: &Receiver, n: usize, what: &str) {
    rx.wait_for(what, |h| h.len() >= n).await;
    actix_web::rt::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        rx.hits().len(),
        n,
        "{what}: {:#?}",
        rx.hits()
            .iter()
            .map(|h| (h.status, h.seq(), h.org()))
            .collect::<Vec<_>>()
    );
}

#[actix_web::test]
async fn a_receiver_down_for_days_loses_nothing_and_order_holds() {
    let clock = Clock::fixed(time::OffsetDateTime::now_utc());
    let app = app_on(clock.clone()).await;
    let beta = create_org(&app.store, "beta", "beta.com");
    let rx = Receiver::start().await;
    rx.answer("*", 500, None);
    app.idgate(&["webhook", "add", &rx.url]);
    app.traffic(&app.token, 3, "a").await;
    app.traffic(&beta, 2, "b").await;
    // One attempt per lane, then nothing until the clock reaches the next try.
    exactly(&rx, 2, "the first attempt of each lane").await;
    let mut tries = 2;
    for step in [6, 6 * 60, 36 * 60, 150 * 60] {
        clock.advance(time::Duration::seconds(step));
        tries += 2;
        exactly(&rx, tries, &format!("retry after {step} s")).await;
    }
    // Every attempt was of each lane's first event: nothing overtook it.
    let firsts: Vec<i64> = rx.hits().iter().map(Hit::seq).collect();
    let acme = all_events(&app, Some("acme"));
    let b = all_events(&app, Some("beta"));
    assert!(
        firsts.iter().all(|s| *s == acme[0].0 || *s == b[0].0),
        "{firsts:?}"
    );
    // The receiver comes back; the next try delivers everything, in order per lane.
    rx.answer("*", 200, None);
    clock.advance(time::Duration::hours(7));
    rx.wait_for("every event", |_| {
        seqs(&rx.hits(), "acme").len() == acme.len() && seqs(&rx.hits(), "beta").len() == b.len()
    })
    .await;
    let hits = rx.hits();
    assert_eq!(
        seqs(&hits, "acme"),
        acme.iter().map(|e| e.0).collect::<Vec<_>>()
    );
    assert_eq!(
        seqs(&hits, "beta"),
        b.iter().map(|e| e.0).collect::<Vec<_>>()
    );
    // The delivery log has every attempt with its status and error.
    let key = app.idgate(&[
        "api-key",
        "create",
        "--name",
        "hooks",
        "--scope",
        "webhooks:write",
    ]);
    let list = app
        .hook_api(&key, "GET", "/api/v1/webhook_endpoints", None)
        .await;
    let ep = list.body["endpoints"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let log = app
        .hook_api(
            &key,
            "GET",
            &format!("/api/v1/webhook_endpoints/{ep}/attempts?limit=1000"),
            None,
        )
        .await;
    let attempts = log.body["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), hits.len(), "{}", log.text);
    assert!(
        attempts
            .iter()
            .any(|a| a["status"] == 500 && a["error"] == "HTTP 500" && a["attempt"] == 5)
    );
    assert!(
        attempts
            .iter()
            .any(|a| a["ok"] == true && a["response"] == "receiver answered 200")
    );
}

#[actix_web::test]
async fn retries_run_out_then_the_lane_waits_until_the_endpoint_works_again() {
    let clock = Clock::fixed(time::OffsetDateTime::now_utc());
    let app = app_on(clock.clone()).await;
    let beta = create_org(&app.store, "beta", "beta.com");
    let rx = Receiver::start().await;
    rx.answer("beta", 503, None);
    app.idgate(&["webhook", "add", &rx.url]);
    app.traffic(&beta, 2, "b").await;
    exactly(&rx, 1, "beta's first attempt").await;
    // Ten attempts over about three days, then the lane stalls.
    for n in 2..=10 {
        clock.advance(time::Duration::hours(30));
        exactly(&rx, n, &format!("attempt {n}")).await;
    }
    clock.advance(time::Duration::days(30));
    exactly(&rx, 10, "a stalled lane sends nothing").await;
    let key = app.idgate(&[
        "api-key",
        "create",
        "--name",
        "hooks",
        "--scope",
        "webhooks:write",
    ]);
    let list = app
        .hook_api(&key, "GET", "/api/v1/webhook_endpoints", None)
        .await;
    let ep = list.body["endpoints"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let lanes = app
        .hook_api(
            &key,
            "GET",
            &format!("/api/v1/webhook_endpoints/{ep}/lanes"),
            None,
        )
        .await;
    let lane = &lanes.body["lanes"][0];
    assert_eq!(lane["org"], "beta", "{}", lanes.text);
    assert!(lane["stalled_since"].is_string(), "{}", lanes.text);
    assert_eq!(lane["waiting"], 2);
    assert_eq!(lane["last_error"], "HTTP 503");
    // Housekeeping keeps what a stalled lane still needs, past retention.
    app.store
        .write_now(|c| {
            let floor = idgate::store::webhooks::undelivered_floor(c)?;
            idgate::store::events::prune(c, "9999-01-01T00:00:00.000Z", floor)
        })
        .unwrap();
    assert_eq!(all_events(&app, Some("beta")).len(), 2);
    // Beta's receiver heals; a success on another lane of the endpoint re-arms beta's.
    rx.answer("beta", 200, None);
    app.traffic(&app.token, 1, "a").await;
    rx.wait_for("beta's events after acme's success", |h| {
        seqs(h, "beta").len() == 2
    })
    .await;
    assert_eq!(
        seqs(&rx.hits(), "beta"),
        all_events(&app, Some("beta"))
            .iter()
            .map(|e| e.0)
            .collect::<Vec<_>>()
    );
}

#[actix_web::test]
async fn gone_disables_and_retry_after_slows_the_lane_and_redirects_are_not_followed() {
    let clock = Clock::fixed(time::OffsetDateTime::now_utc());
    let app = app_on(clock.clone()).await;
    let beta = create_org(&app.store, "beta", "beta.com");
    let gamma = create_org(&app.store, "gamma", "gamma.com");
    let rx = Receiver::start().await;
    rx.answer("acme", 410, None);
    rx.answer("beta", 429, Some("3600"));
    rx.answer("gamma", 302, None);
    app.idgate(&["webhook", "add", &rx.url]);
    // Paused while the events are written, so that the three lanes start together.
    let ep = app
        .idgate(&["webhook", "list"])
        .split('\t')
        .next()
        .unwrap()
        .to_string();
    app.idgate(&["webhook", "pause", &ep]);
    app.traffic(&app.token, 1, "a").await;
    app.traffic(&beta, 1, "b").await;
    app.traffic(&gamma, 1, "c").await;
    app.idgate(&["webhook", "enable", &ep]);
    exactly(&rx, 3, "one attempt each").await;
    let listed = app.idgate(&["webhook", "list"]);
    assert!(
        listed.contains("\tdisabled\t") && listed.contains("410"),
        "{listed}"
    );
    // A disabled endpoint sends nothing: not beta's retry (due in an hour at the earliest,
    // so not after 10 minutes either), not gamma's.
    clock.advance(time::Duration::minutes(10));
    exactly(&rx, 3, "nothing from a disabled endpoint").await;
    let log = app
        .store
        .read_now(|c| {
            idgate::store::webhooks::attempts(
                c,
                &idgate::store::webhooks::AttemptQuery {
                    limit: 10,
                    ..Default::default()
                },
            )
        })
        .unwrap();
    let redirect = log.iter().find(|a| a.status == Some(302)).unwrap();
    assert!(
        redirect
            .error
            .as_deref()
            .unwrap()
            .contains("redirects are not followed"),
        "{redirect:?}"
    );
    let lanes = app.store.read_now(idgate::store::webhooks::lanes).unwrap();
    let beta_id = app
        .store
        .read_now(|c| idgate::store::orgs::require_org(c, "beta"))
        .unwrap()
        .id;
    let beta_lane = lanes.iter().find(|l| l.org_id == beta_id).unwrap();
    let next = beta_lane.next_at.clone().unwrap();
    let floor = idgate::clock::timestamp(clock.now() + time::Duration::minutes(49));
    assert!(next > floor, "Retry-After 3600 is a floor: next try {next}");
}

#[actix_web::test]
async fn the_api_manages_endpoints_with_scopes_orgs_rotation_test_replay_and_skip() {
    let app = app_on(Clock::System).await;
    create_org(&app.store, "beta", "beta.com");
    let rx = Receiver::start().await;
    let reader = app.idgate(&[
        "api-key",
        "create",
        "--name",
        "reader",
        "--scope",
        "events:read",
    ]);
    let admin = app.idgate(&[
        "api-key",
        "create",
        "--name",
        "w",
        "--scope",
        "webhooks:write",
    ]);
    let beta_key = app.idgate(&[
        "api-key",
        "create",
        "--name",
        "wb",
        "--scope",
        "webhooks:write",
        "--org",
        "beta",
    ]);
    let path = "/api/v1/webhook_endpoints";
    let r = app.hook_api(&reader, "GET", path, None).await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (403, Some("insufficient_scope")),
        "{}",
        r.text
    );
    assert_eq!(
        app.hook_api("idgk_nope", "GET", path, None).await.status,
        401
    );
    // Bad input: clear 400s, nothing created.
    for (body, needle) in [
        (json!({"url": "https://127.0.0.2/x"}), "private"),
        (json!({"url": "http://hooks.example.com/x"}), "https://"),
        (json!({"url": "https://169.254.169.254/latest"}), "private"),
        (
            json!({"url": rx.url, "types": ["user.nope"]}),
            "unknown event type",
        ),
        (json!({"url": rx.url, "extra": 1}), "unknown field"),
        (json!({"nope": 1}), "cannot be read"),
    ] {
        let r = app.hook_api(&admin, "POST", path, Some(body)).await;
        assert_eq!(r.status, 400, "{}", r.text);
        assert!(
            r.body["message"].as_str().unwrap().contains(needle),
            "{}",
            r.text
        );
    }
    let r = app
        .hook_api(
            &admin,
            "POST",
            path,
            Some(json!({"url": rx.url, "orgs": ["nope"]})),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.text);
    assert_eq!(
        app.hook_api(&admin, "GET", path, None).await.body["endpoints"],
        json!([])
    );
    // Create: the secret once.
    let r = app
        .hook_api(
            &admin,
            "POST",
            path,
            Some(json!({"url": rx.url, "types": ["user.*"], "description": "prod"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let secret = r.body["secret"].as_str().unwrap().to_string();
    let id = r.body["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("we_") && secret.starts_with("whsec_"));
    let one = app
        .hook_api(&admin, "GET", &format!("{path}/{id}"), None)
        .await;
    assert_eq!(one.body["types"], json!(["user.*"]));
    assert!(one.body.get("secret").is_none() && !one.text.contains(&secret));
    // A beta-only key neither sees nor touches an all-org endpoint; its own are beta's.
    assert_eq!(
        app.hook_api(&beta_key, "GET", &format!("{path}/{id}"), None)
            .await
            .status,
        404
    );
    assert_eq!(
        app.hook_api(&beta_key, "GET", path, None).await.body["endpoints"],
        json!([])
    );
    let r = app
        .hook_api(
            &beta_key,
            "POST",
            path,
            Some(json!({"url": rx.url, "orgs": ["acme"]})),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.text);
    let r = app
        .hook_api(
            &beta_key,
            "POST",
            path,
            Some(json!({"url": format!("{}?beta", rx.url)})),
        )
        .await;
    assert_eq!(
        (r.status, &r.body["orgs"]),
        (201, &json!(["beta"])),
        "{}",
        r.text
    );
    // Test event: signed, answered inline.
    let t = app
        .hook_api(&admin, "POST", &format!("{path}/{id}/test"), None)
        .await;
    assert_eq!(
        (t.body["ok"].as_bool(), t.body["status"].as_u64()),
        (Some(true), Some(200)),
        "{}",
        t.text
    );
    let hits = rx.wait_for("the test event", |h| !h.is_empty()).await;
    assert_eq!(hits[0].json()["type"], "webhook.test");
    verify(&secret, &hits[0]).unwrap();
    // Rotation: both secrets sign until the old one expires.
    let rot = app
        .hook_api(&admin, "POST", &format!("{path}/{id}/rotate_secret"), None)
        .await;
    let new_secret = rot.body["secret"].as_str().unwrap().to_string();
    assert!(rot.body["previous_secret_until"].is_string());
    app.create_user("rot@acme.com").await;
    let hits = rx
        .wait_for("a user.created", |h| {
            h.iter().any(|h| h.json()["type"] == "user.created")
        })
        .await;
    let hit = hits
        .iter()
        .find(|h| h.json()["type"] == "user.created")
        .unwrap();
    assert_eq!(hit.header("webhook-signature").split(' ').count(), 2);
    verify(&secret, hit).unwrap();
    verify(&new_secret, hit).unwrap();
    // Replay from the start sends the user events again; resend sends one.
    let seq = hit.seq();
    let before = rx.hits().len();
    let r = app
        .hook_api(
            &admin,
            "POST",
            &format!("{path}/{id}/replay"),
            Some(json!({"from_seq": 1})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    rx.wait_for("the replay", |h| h.len() > before).await;
    let r = app
        .hook_api(
            &admin,
            "POST",
            &format!("{path}/{id}/resend"),
            Some(json!({"seq": seq})),
        )
        .await;
    assert_eq!(r.body["ok"], true, "{}", r.text);
    let r = app
        .hook_api(
            &admin,
            "POST",
            &format!("{path}/{id}/resend"),
            Some(json!({"seq": 999_999})),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.text);
    // Pause, patch, delete.
    let r = app
        .hook_api(
            &admin,
            "PATCH",
            &format!("{path}/{id}"),
            Some(json!({"state": "paused", "types": ["group.*"]})),
        )
        .await;
    assert_eq!(
        (r.body["state"].as_str(), &r.body["types"]),
        (Some("paused"), &json!(["group.*"])),
        "{}",
        r.text
    );
    let r = app
        .hook_api(
            &admin,
            "PATCH",
            &format!("{path}/{id}"),
            Some(json!({"state": "sideways"})),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(
        app.hook_api(&admin, "DELETE", &format!("{path}/{id}"), None)
            .await
            .status,
        204
    );
    assert_eq!(
        app.hook_api(&admin, "GET", &format!("{path}/{id}"), None)
            .await
            .status,
        404
    );
    // Every change is in the audit log.
    let audit = app
        .store
        .read_now(|c| idgate::store::admin::audit_log(c, None, 100))
        .unwrap();
    let actions: Vec<&str> = audit.iter().map(|(a, _)| a.action.as_str()).collect();
    for a in [
        "webhook.create",
        "webhook.rotate-secret",
        "webhook.replay",
        "webhook.paused",
        "webhook.remove",
    ] {
        assert!(actions.contains(&a), "{actions:?}");
    }
}

#[actix_web::test]
async fn an_admin_skips_a_stalled_lanes_next_event_and_it_is_audited() {
    let clock = Clock::fixed(time::OffsetDateTime::now_utc());
    let app = app_on(clock.clone()).await;
    let rx = Receiver::start().await;
    rx.answer("*", 500, None);
    app.idgate(&["webhook", "add", &rx.url]);
    app.traffic(&app.token, 2, "a").await;
    exactly(&rx, 1, "the first attempt").await;
    let events = all_events(&app, Some("acme"));
    let list = app.idgate(&["webhook", "list"]);
    let ep = list.split('\t').next().unwrap().to_string();
    // Only the next event can be skipped.
    let out = crate::cli::idgate_stdin(
        app._dir.path(),
        &[
            "webhook",
            "skip",
            &ep,
            "--org",
            "acme",
            "--seq",
            &events[1].0.to_string(),
        ],
        "",
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("waits on seq"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    app.idgate(&[
        "webhook",
        "skip",
        &ep,
        "--org",
        "acme",
        "--seq",
        &events[0].0.to_string(),
    ]);
    rx.answer("*", 200, None);
    // The skip re-armed the lane: the second event goes at once, the first never.
    rx.wait_for("the second event", |h| seqs(h, "acme") == vec![events[1].0])
        .await;
    let audit = app
        .store
        .read_now(|c| idgate::store::admin::audit_log(c, None, 100))
        .unwrap();
    assert!(
        audit.iter().any(|(a, _)| a.action == "webhook.skip"),
        "{audit:?}"
    );
}
