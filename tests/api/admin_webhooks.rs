//! The admin UI's pages for the product integration over HTTP: API keys (shown once, working,
//! revoked), webhook endpoints run against a real receiver (lag and lanes, the delivery log,
//! a test event, resend, pause and enable, skip, replay, a new secret, removal), the org's
//! Events page with its links to the provisioning log and back; bad input answered with the
//! form and its reason; operators only, except an org's own Events page.

use std::time::Duration;

use idgate::clock::Clock;
use idgate::store::{admin as admin_store, api_keys, events, orgs, webhooks as hook_store};
use serde_json::json;

use crate::admin_helpers::{AdminBrowser, operator, org_admin, unescape};
use crate::helpers::{Resp, TestApp, create_org, spawn_app, spawn_app_clock};
use crate::receiver::Receiver;

async fn app_on_loopback() -> TestApp {
    spawn_app_clock(
        |c| c.outbound_allow_networks = vec!["127.0.0.1/32".parse().unwrap()],
        |_| {},
        Clock::System,
    )
    .await
}

/// The text of the element `<… id="ID">TEXT<`.
fn by_id(page: &str, id: &str) -> String {
    page.split(&format!("id=\"{id}\">"))
        .nth(1)
        .and_then(|t| t.split('<').next())
        .unwrap_or_else(|| panic!("no #{id} in {page}"))
        .to_string()
}

/// A page that must answer 200; its text with the HTML escaping undone.
async fn ok_page(b: &AdminBrowser<'_>, path: &str) -> String {
    let r = b.get(path).await;
    assert_eq!(r.status, 200, "{path}: {}", r.text);
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    unescape(&r.text)
}

fn audit_actions(app: &TestApp) -> Vec<(String, String, Option<String>)> {
    app.store
        .read_now(|c| admin_store::audit_log(c, None, 1000))
        .unwrap()
        .into_iter()
        .map(|(e, _)| (e.action, e.actor, e.ip))
        .collect()
}

async fn api(app: &TestApp, key: &str, path: &str) -> Resp {
    app.hook_api(key, "GET", path, None).await
}

#[actix_web::test]
async fn admin_api_keys_are_shown_once_work_and_revoke() {
    let app = spawn_app().await;
    let ops = AdminBrowser::new(&app, &operator(&app).await);
    let list = ok_page(&ops, "/admin/api-keys").await;
    assert!(list.contains("No API keys yet"), "{list}");
    assert!(
        list.contains("href=\"/admin/api-keys\""),
        "the operator navigation"
    );

    // Bad input: the form again with the reason, and nothing created.
    for (pairs, why) in [
        (vec![("name", "p")], "choose at least one scope"),
        (
            vec![("name", " "), ("scope", "events:read")],
            "give the key a name",
        ),
        (
            vec![("name", "p"), ("scope", "admin:everything")],
            "unknown scope \"admin:everything\"",
        ),
        (
            vec![
                ("name", "p"),
                ("scope", "events:read"),
                ("orgs", "acme, nope"),
            ],
            "there is no organization \"nope\"",
        ),
        (
            vec![
                ("name", "p"),
                ("scope", "events:read"),
                ("expires_days", "-3"),
            ],
            "number of days from 1 to 3650",
        ),
    ] {
        let r = ops.post("/admin/api-keys", &pairs).await;
        assert_eq!(r.status, 422, "{pairs:?}: {}", r.text);
        let text = unescape(&r.text);
        assert!(text.contains(why), "{pairs:?}: {text}");
        assert!(text.contains("The key was not created"), "{text}");
    }
    assert!(
        app.store.read_now(api_keys::list).unwrap().is_empty(),
        "nothing was created"
    );

    // Created: the key is on the page this once, and it works.
    let r = ops
        .post(
            "/admin/api-keys",
            &[
                ("name", "product"),
                ("scope", "directory:read"),
                ("scope", "webhooks:write"),
                ("orgs", "acme"),
                ("expires_days", "30"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    let key = by_id(&r.text, "new-key");
    assert!(key.starts_with("idgk_") && key.len() > 40, "{key}");
    let orgs_list = api(&app, &key, "/api/v1/orgs").await;
    assert_eq!(orgs_list.status, 200, "{}", orgs_list.text);
    let list = ok_page(&ops, "/admin/api-keys").await;
    assert!(!list.contains(&key), "the key is never shown again");
    for shown in [
        "product",
        "directory:read",
        "webhooks:write",
        "acme",
        "expires",
    ] {
        assert!(list.contains(shown), "{shown}: {list}");
    }
    // A second key of the same name is refused with the reason.
    let r = ops
        .post(
            "/admin/api-keys",
            &[("name", "product"), ("scope", "events:read")],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(unescape(&r.text).contains("already exists"), "{}", r.text);

    // Revoked: the key fails at once.
    let r = ops
        .post("/admin/api-keys/revoke", &[("name", "product")])
        .await;
    assert_eq!(
        (r.status, r.header("location").as_deref()),
        (303, Some("/admin/api-keys?done=revoked"))
    );
    assert_eq!(api(&app, &key, "/api/v1/orgs").await.status, 401);
    let list = ok_page(&ops, "/admin/api-keys?done=revoked").await;
    assert!(list.contains("badge muted\">revoked"), "{list}");
    assert_eq!(
        ops.post("/admin/api-keys/revoke", &[("name", "product")])
            .await
            .status,
        404,
        "already revoked"
    );
    // Audited like the command line, with the admin and the address.
    let audit = audit_actions(&app);
    for action in ["api-key.create", "api-key.revoke"] {
        let (_, actor, ip) = audit.iter().find(|a| a.0 == action).unwrap();
        assert_eq!(actor, "operator:root@operator.example");
        assert_eq!(ip.as_deref(), Some("127.0.0.1"));
    }
    // Forms without their CSRF token change nothing.
    for path in ["/admin/api-keys", "/admin/api-keys/revoke"] {
        let r = ops
            .post_raw(path, &[("name", "x"), ("scope", "events:read")])
            .await;
        assert_eq!(r.status, 403, "{path}");
    }
}

#[actix_web::test]
async fn admin_org_admins_are_refused_the_operator_pages() {
    let app = spawn_app().await;
    let op = operator(&app).await;
    let ops = AdminBrowser::new(&app, &op);
    let r = ops
        .post(
            "/admin/webhooks",
            // Of a type that never comes: nothing is ever sent (no network here).
            &[
                ("url", "https://hooks.example.com/x"),
                ("types", "org.deleted"),
                ("orgs", "acme"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let ep = app.store.read_now(hook_store::list).unwrap()[0]
        .public_id
        .clone();
    let boss = AdminBrowser::new(&app, &org_admin(&app, "acme", "boss@acme.com").await);
    let own = ok_page(&boss, "/admin/orgs/acme").await;
    assert!(
        !own.contains("href=\"/admin/webhooks\"") && !own.contains("href=\"/admin/api-keys\""),
        "an org admin's navigation has no operator pages"
    );
    for path in [
        "/admin/api-keys".to_string(),
        "/admin/webhooks".to_string(),
        format!("/admin/webhooks/{ep}"),
    ] {
        assert_eq!(boss.get(&path).await.status, 404, "{path}");
    }
    for (path, pairs) in [
        (
            "/admin/api-keys".to_string(),
            vec![("name", "mine"), ("scope", "events:read")],
        ),
        ("/admin/api-keys/revoke".to_string(), vec![("name", "x")]),
        (
            "/admin/webhooks".to_string(),
            vec![("url", "https://evil.example/")],
        ),
        (
            format!("/admin/webhooks/{ep}/state"),
            vec![("state", "paused")],
        ),
        (format!("/admin/webhooks/{ep}/rotate"), vec![]),
        (format!("/admin/webhooks/{ep}/test"), vec![]),
        (
            format!("/admin/webhooks/{ep}/remove"),
            vec![("confirm", "yes")],
        ),
        (format!("/admin/webhooks/{ep}/replay"), vec![("from", "1")]),
        (
            format!("/admin/webhooks/{ep}/settings"),
            vec![("url", "https://evil.example/")],
        ),
    ] {
        let r = boss.post(&path, &pairs).await;
        assert_eq!(r.status, 404, "{path}: {}", r.text);
    }
    let e = app.store.read_now(hook_store::list).unwrap();
    assert_eq!(
        (e.len(), e[0].state.as_str(), e[0].url.as_str()),
        (1, "enabled", "https://hooks.example.com/x")
    );
    assert!(app.store.read_now(api_keys::list).unwrap().is_empty());
    // Their own org's Events page is theirs; another org's is not.
    create_org(&app.store, "beta", "beta.com");
    assert!(
        ok_page(&boss, "/admin/orgs/acme/events")
            .await
            .contains("boss@acme.com")
    );
    assert_eq!(boss.get("/admin/orgs/beta/events").await.status, 404);
    assert_eq!(ops.get("/admin/orgs/beta/events").await.status, 200);
}

/// The endpoint page with its text unescaped.
async fn endpoint_page(ops: &AdminBrowser<'_>, ep: &str, query: &str) -> String {
    ok_page(ops, &format!("/admin/webhooks/{ep}{query}")).await
}

async fn wait_page(
    ops: &AdminBrowser<'_>,
    path: &str,
    what: &str,
    done: impl Fn(&str) -> bool,
) -> String {
    for _ in 0..200 {
        let page = ok_page(ops, path).await;
        if done(&page) {
            return page;
        }
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{path}: {what} never showed: {}", ok_page(ops, path).await);
}

#[actix_web::test]
async fn admin_runs_a_webhook_endpoint_against_a_real_receiver() {
    let app = app_on_loopback().await;
    let rx = Receiver::start().await;
    let ops = AdminBrowser::new(&app, &operator(&app).await);
    let list = ok_page(&ops, "/admin/webhooks").await;
    assert!(list.contains("No webhook endpoints yet"), "{list}");

    // Bad input: the form again with the reason (and what was typed), nothing created.
    for (pairs, why) in [
        (
            vec![("url", "https://10.0.0.1/x")],
            "10.0.0.1 is a private, loopback or reserved address",
        ),
        (
            vec![("url", "http://hooks.example.com/x")],
            "must use https://",
        ),
        (vec![("url", "not a url")], "is not a URL"),
        (
            vec![
                ("url", rx.url.as_str()),
                ("types", "user.created, user.nope"),
            ],
            "unknown event type \"user.nope\"",
        ),
        (
            vec![("url", rx.url.as_str()), ("orgs", "nope")],
            "no organization \"nope\"",
        ),
    ] {
        let r = ops.post("/admin/webhooks", &pairs).await;
        assert_eq!(r.status, 422, "{pairs:?}: {}", r.text);
        let text = unescape(&r.text);
        assert!(text.contains(why), "{pairs:?}: {text}");
        assert!(text.contains("The endpoint was not added"), "{text}");
        assert!(
            text.contains(&format!("value=\"{}\"", pairs[0].1)),
            "kept: {text}"
        );
    }
    assert!(app.store.read_now(hook_store::list).unwrap().is_empty());

    // Added: the secret on the page this once.
    let r = ops
        .post(
            "/admin/webhooks",
            &[
                ("url", rx.url.as_str()),
                ("orgs", "acme"),
                ("description", "product backend"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let secret = by_id(&r.text, "new-secret");
    assert!(secret.starts_with("whsec_"), "{secret}");
    let e = app.store.read_now(hook_store::list).unwrap().remove(0);
    let ep = e.public_id.clone();
    let page = endpoint_page(&ops, &ep, "").await;
    assert!(!page.contains(&secret), "the secret is never shown again");
    assert!(page.contains("product backend") && page.contains("badge ok\">enabled"));
    assert!(page.contains("No deliveries"), "{page}");

    // SCIM traffic flows to the receiver; the page shows the lane and the delivery log.
    let ada = app.create_user("ada@acme.com").await;
    app.create_user("bob@acme.com").await;
    let acme_events = || {
        app.store
            .read_now(|c| {
                let org = orgs::require_org(c, "acme")?;
                events::after(c, 0, Some(org.id), 1000)
            })
            .unwrap()
    };
    let evs = acme_events();
    let head = evs.last().unwrap().seq;
    rx.wait_for("both users", |h| h.len() >= 2).await;
    let page = wait_page(&ops, &format!("/admin/webhooks/{ep}"), "the lane", |p| {
        p.contains(&format!("seq {head}</td>"))
    })
    .await;
    assert!(page.contains("<td>acme</td>"), "the lane's org: {page}");
    assert!(page.contains("user.created"), "{page}");
    assert!(page.contains("<td>delivery</td>"), "{page}");
    assert!(page.contains("receiver answered 200"), "{page}");
    assert!(
        page.contains(&format!("name=\"seq\" value=\"{head}\"")),
        "a resend per event"
    );

    // Send test event: the result on the page; the receiver got a signed webhook.test.
    let r = ops.post(&format!("/admin/webhooks/{ep}/test"), &[]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let text = unescape(&r.text);
    let sent = text
        .split("id=\"sent\"")
        .nth(1)
        .expect("the result section");
    assert!(sent.contains("badge ok\">delivered"), "{sent}");
    assert!(sent.contains("<span class=\"mono\">200</span>"), "{sent}");
    assert!(sent.contains(" ms</span>"), "{sent}");
    assert!(sent.contains("receiver answered 200"), "{sent}");
    let hits = rx
        .wait_for("the test event", |h| {
            h.iter().any(|h| h.json()["type"] == "webhook.test")
        })
        .await;
    let test = hits
        .iter()
        .find(|h| h.json()["type"] == "webhook.test")
        .unwrap();
    assert_eq!(test.json()["data"]["endpoint"], ep.as_str());
    standardwebhooks::Webhook::new(&secret)
        .unwrap()
        .verify(test.body.as_bytes(), &test.http_headers())
        .expect("signed with the secret shown once");
    // A failing receiver: the result says so.
    rx.answer("*", 503, None);
    let r = ops.post(&format!("/admin/webhooks/{ep}/test"), &[]).await;
    assert_eq!(r.status, 200);
    let text = unescape(&r.text);
    assert!(
        text.contains("badge err\">failed") && text.contains("HTTP 503"),
        "{text}"
    );
    rx.answer("*", 200, None);

    // Resend one event: sent again outside its lane, logged as a resend.
    let first = evs.iter().find(|e| e.type_ == "user.created").unwrap();
    let before = rx.hits().iter().filter(|h| h.seq() == first.seq).count();
    let r = ops
        .post(
            &format!("/admin/webhooks/{ep}/resend"),
            &[("seq", &first.seq.to_string())],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let text = unescape(&r.text);
    assert!(
        text.contains(&format!("Resend of seq {} (user.created)", first.seq)),
        "{text}"
    );
    assert!(text.contains("<td>resend</td>"), "{text}");
    assert_eq!(
        rx.hits().iter().filter(|h| h.seq() == first.seq).count(),
        before + 1
    );
    for bad in ["abc", "999999"] {
        let r = ops
            .post(&format!("/admin/webhooks/{ep}/resend"), &[("seq", bad)])
            .await;
        assert_eq!(r.status, 422, "{bad}");
    }

    // Pause: events wait (the lag shows); enable: they arrive.
    let r = ops
        .post(
            &format!("/admin/webhooks/{ep}/state"),
            &[("state", "paused")],
        )
        .await;
    assert_eq!(
        r.header("location"),
        Some(format!("/admin/webhooks/{ep}?done=paused"))
    );
    let delivered = rx.delivered().len();
    app.create_user("carol@acme.com").await;
    actix_web::rt::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(rx.delivered().len(), delivered, "nothing while paused");
    let page = endpoint_page(&ops, &ep, "?done=paused").await;
    assert!(page.contains("Paused: events wait"), "{page}");
    assert!(page.contains("badge warn\">paused"), "{page}");
    assert!(
        page.contains("paused by operator:root@operator.example"),
        "{page}"
    );
    let lanes = page.split("id=\"lanes\"").nth(1).unwrap();
    assert!(lanes.contains("<td>1</td>"), "one event waits: {lanes}");
    let list = ok_page(&ops, "/admin/webhooks").await;
    assert!(list.contains("<td>1<br>"), "the lag in the list: {list}");
    let r = ops
        .post(
            &format!("/admin/webhooks/{ep}/state"),
            &[("state", "enabled")],
        )
        .await;
    assert_eq!(r.status, 303);
    rx.wait_for("carol", |h| {
        h.iter()
            .any(|h| h.json()["data"]["user_name"] == "carol@acme.com")
    })
    .await;
    let r = ops
        .post(
            &format!("/admin/webhooks/{ep}/state"),
            &[("state", "sleepy")],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(unescape(&r.text).contains("state must be enabled, paused or disabled"));

    // A failing lane: the next event waits; skip it (only the next one can be skipped).
    rx.answer("acme", 500, None);
    let r = app.delete(&format!("/Users/{ada}")).await;
    assert_eq!(r.status, 204);
    let deleted = acme_events().last().unwrap().seq;
    let page = wait_page(&ops, &format!("/admin/webhooks/{ep}"), "the failure", |p| {
        p.contains("HTTP 500")
    })
    .await;
    assert!(
        page.contains(&format!("Skip next event (seq {deleted}, user.deleted)")),
        "{page}"
    );
    let failures = endpoint_page(&ops, &ep, "?failures=1").await;
    let log = failures.split("id=\"attempts\"").nth(1).unwrap();
    assert!(
        log.contains("HTTP 500") && !log.contains("badge ok"),
        "{log}"
    );
    let r = ops
        .post(
            &format!("/admin/webhooks/{ep}/skip"),
            &[("org", "acme"), ("seq", &(deleted - 1).to_string())],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(unescape(&r.text).contains("only the next event can be skipped"));
    let r = ops
        .post(
            &format!("/admin/webhooks/{ep}/skip"),
            &[("org", "acme"), ("seq", &deleted.to_string())],
        )
        .await;
    assert_eq!(
        r.header("location"),
        Some(format!("/admin/webhooks/{ep}?done=skipped"))
    );
    let lane = app.store.read_now(hook_store::lanes).unwrap().remove(0);
    assert_eq!((lane.delivered, lane.attempts), (deleted, 0));
    let r = ops.post(&format!("/admin/webhooks/{ep}/resume"), &[]).await;
    assert_eq!(
        r.header("location"),
        Some(format!("/admin/webhooks/{ep}?done=resumed"))
    );
    rx.answer("acme", 200, None);

    // Replay from seq 1: everything again, in order; a bad point is explained.
    let before = rx.delivered().len();
    let r = ops
        .post(&format!("/admin/webhooks/{ep}/replay"), &[("from", "1")])
        .await;
    assert_eq!(
        r.header("location"),
        Some(format!("/admin/webhooks/{ep}?done=replaying"))
    );
    let n = acme_events().len();
    rx.wait_for("the replay", |h| {
        h.iter().filter(|h| (200..300).contains(&h.status)).count() >= before + n
    })
    .await;
    for bad in ["yesterday", "0", ""] {
        let r = ops
            .post(&format!("/admin/webhooks/{ep}/replay"), &[("from", bad)])
            .await;
        assert_eq!(r.status, 422, "{bad}: {}", r.text);
    }
    let before = rx.delivered().len();
    let r = ops
        .post(
            &format!("/admin/webhooks/{ep}/replay"),
            &[("from", "2020-01-01T00:00:00Z")],
        )
        .await;
    assert_eq!(r.status, 303);
    // That replay done, the log stops growing.
    rx.wait_for("the replay from a time", |h| {
        h.iter().filter(|h| (200..300).contains(&h.status)).count() >= before + n
    })
    .await;
    let settled = || {
        app.store
            .read_now(|c| {
                hook_store::attempts(
                    c,
                    &hook_store::AttemptQuery {
                        endpoint_id: Some(e.id),
                        limit: 1000,
                        ..Default::default()
                    },
                )
            })
            .unwrap()
            .len()
    };
    let mut logged = settled();
    loop {
        actix_web::rt::time::sleep(Duration::from_millis(300)).await;
        let now = settled();
        if now == logged {
            break;
        }
        logged = now;
    }

    // The delivery log pages with `before`, newest first, and filters by event id.
    let at = app.store.read_now(hook_store::lanes).unwrap()[0].clone();
    app.store
        .write_now(|c| {
            for i in 0..60 {
                hook_store::record_attempt(
                    c,
                    &hook_store::Attempt {
                        id: 0,
                        endpoint_id: e.id,
                        org_id: Some(at.org_id),
                        seq: Some(first.seq),
                        event_id: format!("evt_old{i}"),
                        event_type: "user.created".into(),
                        at: format!("2026-01-01T00:00:{i:02}.000Z"),
                        trigger: "delivery".into(),
                        attempt: 1,
                        status: Some(200),
                        latency_ms: 3,
                        ok: true,
                        error: None,
                        response: None,
                    },
                )?;
            }
            Ok(())
        })
        .unwrap();
    let all = app
        .store
        .read_now(|c| {
            hook_store::attempts(
                c,
                &hook_store::AttemptQuery {
                    endpoint_id: Some(e.id),
                    limit: 1000,
                    ..Default::default()
                },
            )
        })
        .unwrap();
    assert!(all.len() > 50, "{}", all.len());
    let page = endpoint_page(&ops, &ep, "").await;
    let older = format!("/admin/webhooks/{ep}?before={}#log", all[49].id);
    assert!(page.contains(&format!("href=\"{older}\"")), "{page}");
    let page2 = ok_page(&ops, &older).await;
    assert!(page2.contains(&all[50].at) && page2.contains("← Newest"));
    let one = &all.iter().find(|a| a.seq.is_some()).unwrap().event_id;
    let filtered = endpoint_page(&ops, &ep, &format!("?event_id={one}")).await;
    let rows = filtered.split("id=\"attempts\"").nth(1).unwrap();
    assert!(rows.contains(one.as_str()));
    let body = rows
        .split("<tbody>")
        .nth(1)
        .unwrap()
        .split("</tbody>")
        .next()
        .unwrap();
    assert_eq!(
        body.matches("<tr>").count(),
        all.iter().filter(|a| &a.event_id == one).count(),
        "{rows}"
    );
    ok_page(
        &ops,
        &format!("/admin/webhooks/{ep}?before=junk&failures=x"),
    )
    .await;
    let r = ops.get(&format!("/admin/webhooks/{ep}?failures=%FF")).await;
    assert!(r.status < 500 && !r.text.is_empty());

    // Settings: a bad URL is refused (kept in the form), a good change saved.
    let r = ops
        .post(
            &format!("/admin/webhooks/{ep}/settings"),
            &[("url", "https://10.0.0.1/x"), ("orgs", "acme")],
        )
        .await;
    assert_eq!(r.status, 422);
    let text = unescape(&r.text);
    assert!(
        text.contains("The settings were not saved")
            && text.contains("value=\"https://10.0.0.1/x\"")
    );
    assert_eq!(app.store.read_now(hook_store::list).unwrap()[0].url, rx.url);
    let r = ops
        .post(
            &format!("/admin/webhooks/{ep}/settings"),
            &[
                ("url", rx.url.as_str()),
                ("types", "user.*"),
                ("orgs", ""),
                ("description", "renamed"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    let now = app.store.read_now(hook_store::list).unwrap().remove(0);
    assert_eq!(
        (now.types, now.org_ids, now.description.as_str()),
        (vec!["user.*".to_string()], None, "renamed")
    );

    // Rotate: a new secret, shown once; both sign for a while.
    let r = ops.post(&format!("/admin/webhooks/{ep}/rotate"), &[]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let new_secret = by_id(&r.text, "new-secret");
    assert!(new_secret.starts_with("whsec_") && new_secret != secret);
    assert!(unescape(&r.text).contains("signed with both the previous and the new secret"));

    // Every change is audited with the admin and the address.
    let audit = audit_actions(&app);
    for action in [
        "webhook.create",
        "webhook.paused",
        "webhook.enabled",
        "webhook.skip",
        "webhook.resume",
        "webhook.replay",
        "webhook.update",
        "webhook.rotate-secret",
    ] {
        let (_, actor, ip) = audit
            .iter()
            .find(|a| a.0 == action)
            .unwrap_or_else(|| panic!("{action}: {audit:?}"));
        assert_eq!(actor, "operator:root@operator.example", "{action}");
        assert_eq!(ip.as_deref(), Some("127.0.0.1"), "{action}");
    }

    // No form works without its CSRF token.
    for path in [
        "/admin/webhooks".to_string(),
        format!("/admin/webhooks/{ep}/settings"),
        format!("/admin/webhooks/{ep}/state"),
        format!("/admin/webhooks/{ep}/rotate"),
        format!("/admin/webhooks/{ep}/remove"),
        format!("/admin/webhooks/{ep}/test"),
        format!("/admin/webhooks/{ep}/resend"),
        format!("/admin/webhooks/{ep}/skip"),
        format!("/admin/webhooks/{ep}/resume"),
        format!("/admin/webhooks/{ep}/replay"),
    ] {
        let r = ops
            .post_raw(
                &path,
                &[
                    ("url", "https://x.example/"),
                    ("state", "paused"),
                    ("confirm", "yes"),
                ],
            )
            .await;
        assert_eq!(r.status, 403, "{path}");
    }
    assert_eq!(
        app.store.read_now(hook_store::list).unwrap()[0].state,
        "enabled"
    );

    // Remove: confirmed only.
    let r = ops.post(&format!("/admin/webhooks/{ep}/remove"), &[]).await;
    assert_eq!(r.status, 422);
    let r = ops
        .post(
            &format!("/admin/webhooks/{ep}/remove"),
            &[("confirm", "yes")],
        )
        .await;
    assert_eq!(
        r.header("location").as_deref(),
        Some("/admin/webhooks?done=removed")
    );
    assert!(app.store.read_now(hook_store::list).unwrap().is_empty());
    assert_eq!(ops.get(&format!("/admin/webhooks/{ep}")).await.status, 404);
    assert!(audit_actions(&app).iter().any(|a| a.0 == "webhook.remove"));
}

#[actix_web::test]
async fn admin_events_page_links_scim_events_to_their_requests() {
    let app = spawn_app().await;
    let boss = AdminBrowser::new(&app, &org_admin(&app, "acme", "boss@acme.com").await);
    let r = app
        .post(
            "/Users",
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                   "userName": "ada@acme.com", "displayName": "Ada Lovelace", "active": true}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let ev = app
        .store
        .read_now(|c| {
            let org = orgs::require_org(c, "acme")?;
            events::after(c, 0, Some(org.id), 1000)
        })
        .unwrap()
        .pop()
        .unwrap();
    let request_id = ev
        .request_id
        .clone()
        .expect("a SCIM event has its request id");
    // The request's provisioning-log row (written in the background).
    let mut row = None;
    for _ in 0..100 {
        row = app
            .store
            .read_now(|c| {
                let org = orgs::require_org(c, "acme")?;
                admin_store::provisioning_log(c, org.id, None, None, 100)
            })
            .unwrap()
            .into_iter()
            .find(|(_, r)| r.request_id == request_id)
            .map(|(id, _)| id);
        if row.is_some() {
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
    let row = row.expect("the request is in the provisioning log");

    let page = ok_page(&boss, "/admin/orgs/acme/events").await;
    assert!(
        page.contains("href=\"/admin/orgs/acme/events\""),
        "the org navigation"
    );
    let first = page.split("<tr id=\"seq-").nth(1).unwrap();
    assert!(
        first.starts_with(&format!("{}\">", ev.seq)),
        "newest first: {first}"
    );
    assert!(first.contains("ada@acme.com (Ada Lovelace)"), "{first}");
    assert!(first.contains("<td>scim<br>"), "{first}");
    assert!(
        first.contains(&format!(
            "<a href=\"/admin/orgs/acme/provisioning/{row}\" class=\"mono\">request {request_id}</a>"
        )),
        "{first}"
    );
    // And back: the entry lists the events its request caused.
    let entry = ok_page(&boss, &format!("/admin/orgs/acme/provisioning/{row}")).await;
    let caused = entry.split("id=\"caused\"").nth(1).unwrap();
    assert!(
        caused.contains(&format!(
            "href=\"/admin/orgs/acme/events?before={}#seq-{}\"",
            ev.seq + 1,
            ev.seq
        )) && caused.contains("user.created"),
        "{caused}"
    );
    // A request that changed nothing caused nothing.
    app.get("/Users").await;
    let get_row = loop {
        let rows = app
            .store
            .read_now(|c| {
                let org = orgs::require_org(c, "acme")?;
                admin_store::provisioning_log(c, org.id, None, None, 100)
            })
            .unwrap();
        if let Some((id, _)) = rows.iter().find(|(_, r)| r.method == "GET") {
            break *id;
        }
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    };
    let entry = ok_page(&boss, &format!("/admin/orgs/acme/provisioning/{get_row}")).await;
    assert!(
        entry.contains("None: the request changed nothing"),
        "{entry}"
    );

    // Pages of 50, keyed on seq; the type filter.
    for i in 0..50 {
        app.create_user(&format!("u{i:02}@acme.com")).await;
    }
    let all = app
        .store
        .read_now(|c| {
            let org = orgs::require_org(c, "acme")?;
            events::after(c, 0, Some(org.id), 1000)
        })
        .unwrap();
    let page = ok_page(&boss, "/admin/orgs/acme/events").await;
    assert_eq!(page.matches("<tr id=\"seq-").count(), 50);
    let cut = all[all.len() - 50].seq;
    let older = format!("/admin/orgs/acme/events?before={cut}");
    assert!(page.contains(&format!("href=\"{older}\"")), "{page}");
    let page2 = ok_page(&boss, &older).await;
    assert_eq!(
        page2.matches("<tr id=\"seq-").count(),
        all.len() - 50,
        "{page2}"
    );
    assert!(page2.contains(&format!("<tr id=\"seq-{}\">", all[0].seq)));
    assert!(page2.contains("← Newest") && !page2.contains("Older →"));
    let orgs_only = ok_page(&boss, "/admin/orgs/acme/events?type=org.").await;
    assert!(
        !orgs_only.contains("mono\">user.created</td>"),
        "{orgs_only}"
    );
    assert!(orgs_only.contains("<option value=\"org.\" selected>org.*</option>"));
    for junk in ["?before=abc", "?before=-5&type=%FF", "?type=%25"] {
        let r = boss.get(&format!("/admin/orgs/acme/events{junk}")).await;
        assert!(r.status < 500 && !r.text.is_empty(), "{junk}: {}", r.status);
    }
}
