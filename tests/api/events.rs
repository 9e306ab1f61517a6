//! The event log, fed by real SCIM traffic (the Entra-shaped requests): one event per change,
//! inside the same write; none for a write that changes nothing or fails.

use serde_json::{Value, json};

use crate::helpers::{TestApp, create_org, patch, spawn_app};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

/// Every event after `after`, of every org, as their envelopes.
fn events_after(app: &TestApp, after: i64) -> Vec<Value> {
    app.store
        .read_now(|c| idgate::store::events::after(c, after, None, 10_000))
        .unwrap()
        .into_iter()
        .map(|row| {
            let v: Value = serde_json::from_str(&row.envelope).unwrap();
            assert_eq!(v["seq"], row.seq, "the envelope carries its row's seq");
            assert_eq!(v["type"], row.type_);
            v
        })
        .collect()
}

fn head(app: &TestApp) -> i64 {
    app.store.read_now(idgate::store::events::head).unwrap()
}

/// The events since `mark`, as (type, data) pairs; moves `mark` past them.
fn drain(app: &TestApp, mark: &mut i64) -> Vec<(String, Value)> {
    let events = events_after(app, *mark);
    if let Some(last) = events.last() {
        *mark = last["seq"].as_i64().unwrap();
    }
    events
        .into_iter()
        .map(|e| (e["type"].as_str().unwrap().to_string(), e))
        .collect()
}

fn types(events: &[(String, Value)]) -> Vec<&str> {
    events.iter().map(|(t, _)| t.as_str()).collect()
}

#[actix_web::test]
async fn every_scim_user_change_is_one_event_and_no_change_is_none() {
    let app = spawn_app().await;
    let mut mark = head(&app);
    let created = app
        .post(
            "/Users",
            json!({
                "schemas": [USER], "userName": "Alice@Acme.com", "externalId": "oid-1",
                "displayName": "Alice", "active": true,
                "emails": [{"value": "Alice@ACME.com", "type": "work", "primary": true}],
            }),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.body["id"].as_str().unwrap().to_string();
    let got = drain(&app, &mut mark);
    assert_eq!(types(&got), ["user.created"]);
    let e = &got[0].1;
    assert!(e["id"].as_str().unwrap().starts_with("evt_"));
    assert_eq!(e["org"]["slug"], "acme");
    assert_eq!(e["data"]["id"], id.as_str());
    assert_eq!(e["data"]["email"], "alice@acme.com");
    assert_eq!(e["data"]["user_name"], "Alice@Acme.com");
    assert_eq!(e["data"]["version"], 1);
    assert_eq!(e["data"]["scim"]["externalId"], "oid-1");
    // The source is the SCIM request, as the provisioning log names it.
    assert_eq!(e["source"]["type"], "scim");
    let request_id = created.header("x-request-id").unwrap();
    assert_eq!(e["source"]["request_id"], request_id.as_str());
    // (The provisioning log row is written just after the response.)
    let mut logged = false;
    for _ in 0..50 {
        logged = app.request_log().iter().any(|r| r.request_id == request_id);
        if logged {
            break;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(logged, "the provisioning log has the request {request_id}");

    let path = format!("/Users/{id}");
    let rename = patch(json!([{"op": "Replace", "path": "displayName", "value": "Alice B"}]));
    assert_eq!(app.patch(&path, rename.clone()).await.status, 200);
    let got = drain(&app, &mut mark);
    assert_eq!(types(&got), ["user.updated"]);
    assert_eq!(got[0].1["previous"], json!({"display_name": "Alice"}));
    assert_eq!(got[0].1["data"]["display_name"], "Alice B");
    // The same PATCH again changes nothing: no event.
    assert_eq!(app.patch(&path, rename).await.status, 200);
    assert!(drain(&app, &mut mark).is_empty());

    let off = patch(json!([{"op": "Replace", "path": "active", "value": "False"}]));
    assert_eq!(app.patch(&path, off.clone()).await.status, 200);
    let got = drain(&app, &mut mark);
    assert_eq!(types(&got), ["user.deactivated"]);
    assert_eq!(got[0].1["previous"], json!({"active": true}));
    assert_eq!(app.patch(&path, off).await.status, 200);
    assert!(drain(&app, &mut mark).is_empty(), "still inactive: nothing");
    let on = patch(json!([{"op": "replace", "value": {"active": "True"}}]));
    assert_eq!(app.patch(&path, on).await.status, 200);
    assert_eq!(types(&drain(&app, &mut mark)), ["user.reactivated"]);

    // PUT of what is stored: no event; PUT with a new email: one, with the old email.
    let current = app.get(&path).await.body;
    let mut body = current.clone();
    body.as_object_mut().unwrap().remove("meta");
    assert_eq!(app.put(&path, body.clone()).await.status, 200);
    assert!(
        drain(&app, &mut mark).is_empty(),
        "a PUT of the same document"
    );
    body["emails"] = json!([{"value": "alice@new.example", "type": "work", "primary": true}]);
    assert_eq!(app.put(&path, body).await.status, 200);
    let got = drain(&app, &mut mark);
    assert_eq!(types(&got), ["user.updated"]);
    assert_eq!(got[0].1["previous"]["email"], "alice@acme.com");

    // A refused write records nothing.
    let dup = app
        .post(
            "/Users",
            json!({"schemas": [USER], "userName": "alice@acme.com"}),
        )
        .await;
    assert_eq!(dup.status, 409, "{}", dup.text);
    assert!(drain(&app, &mut mark).is_empty());

    // DELETE: the last known state.
    assert_eq!(app.delete(&path).await.status, 204);
    let got = drain(&app, &mut mark);
    assert_eq!(types(&got), ["user.deleted"]);
    assert_eq!(got[0].1["data"]["display_name"], "Alice B");
    assert_eq!(app.delete(&path).await.status, 404);
    assert!(drain(&app, &mut mark).is_empty());
}

// PATCHes of one user race: each must apply to the version the one before it wrote, never
// to one another has since replaced. The events of the user then form one chain: versions
// one apart, each `previous` the value the event before it set.
#[actix_web::test]
async fn concurrent_patches_of_one_user_are_one_chain_of_events() {
    let app = spawn_app().await;
    let created = app
        .post(
            "/Users",
            json!({"schemas": [USER], "userName": "race@acme.com", "title": "t-start"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.body["id"].as_str().unwrap().to_string();
    let mut mark = head(&app);
    let path = format!("/Users/{id}");
    let n = 40;
    let sends = (0..n).map(|i| {
        let (app, path) = (&app, &path);
        async move {
            let body = patch(json!([{"op": "Replace", "path": "title", "value": format!("t{i}")}]));
            let r = app.patch(path, body).await;
            assert_eq!(r.status, 200, "{}", r.text);
            r.body["meta"]["version"].as_str().unwrap().to_string()
        }
    });
    let mut versions = futures_util::future::join_all(sends).await;
    versions.sort();
    versions.dedup();
    assert_eq!(versions.len(), n, "every PATCH answered its own version");

    let got = drain(&app, &mut mark);
    assert_eq!(got.len(), n, "one event per PATCH");
    let mut title = json!("t-start");
    for (i, (kind, e)) in got.iter().enumerate() {
        assert_eq!(kind, "user.updated");
        assert_eq!(e["data"]["version"], i as i64 + 2, "{e}");
        assert_eq!(e["previous"], json!({"job_title": title}), "{e}");
        title = e["data"]["job_title"].clone();
    }
    let now = app.get(&path).await.body;
    assert_eq!(now["title"], title, "the last event is what is stored");
}

// A refused PATCH (stale If-Match, unknown user, invalid operation) changes nothing and
// records nothing.
#[actix_web::test]
async fn a_refused_patch_changes_nothing_and_records_nothing() {
    let app = spawn_app().await;
    let id = app.create_user("refused@acme.com").await;
    let path = format!("/Users/{id}");
    let before = app.get(&path).await.body;
    let mut mark = head(&app);
    let rename = patch(json!([{"op": "Replace", "path": "displayName", "value": "X"}]));
    let auth = format!("Bearer {}", app.token);
    let headers = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/scim+json"),
        ("If-Match", "W/\"999\""),
    ];
    app.raw("PATCH", &path, &headers, Some(rename.to_string()))
        .await
        .assert_error(412, None);
    app.patch("/Users/no-such-user", rename)
        .await
        .assert_error(404, None);
    let bad = patch(json!([{"op": "Replace", "path": "active", "value": "maybe"}]));
    assert_eq!(app.patch(&path, bad).await.status, 400);
    assert_eq!(app.get(&path).await.body, before);
    assert!(drain(&app, &mut mark).is_empty());
}

#[actix_web::test]
async fn every_membership_change_is_one_event_per_member() {
    let app = spawn_app().await;
    let a = app.create_user("a@acme.com").await;
    let b = app.create_user("b@acme.com").await;
    let c = app.create_user("c@acme.com").await;
    let mut mark = head(&app);
    let created = app
        .post(
            "/Groups",
            json!({"schemas": [GROUP], "displayName": "Sales", "members": [{"value": a}]}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let g = created.body["id"].as_str().unwrap().to_string();
    let got = drain(&app, &mut mark);
    assert_eq!(types(&got), ["group.created", "group.member_added"]);
    assert_eq!(got[0].1["data"]["display_name"], "Sales");
    assert!(got[0].1["data"].get("members").is_none(), "no member list");
    let mut member = got[1].1["data"].clone();
    let group = member.as_object_mut().unwrap().remove("group").unwrap();
    assert_eq!(
        member,
        json!({"group_id": g, "member_id": a, "member_type": "User"})
    );
    // The group as it is after the change, so the product's copy keeps its version.
    assert_eq!(group["id"], g.as_str());
    assert_eq!(group["version"], got[0].1["data"]["version"]);

    let path = format!("/Groups/{g}");
    let add = |ids: &[&str]| {
        let members: Vec<Value> = ids.iter().map(|i| json!({"value": i})).collect();
        patch(json!([{"op": "Add", "path": "members", "value": members}]))
    };
    // Re-adding a member changes nothing; adding two is two events.
    assert_eq!(app.patch(&path, add(&[&a])).await.status, 204);
    assert!(drain(&app, &mut mark).is_empty());
    assert_eq!(app.patch(&path, add(&[&a, &b, &c])).await.status, 204);
    let got = drain(&app, &mut mark);
    assert_eq!(types(&got), ["group.member_added", "group.member_added"]);
    let ids: Vec<&str> = got
        .iter()
        .map(|(_, e)| e["data"]["member_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [b.as_str(), c.as_str()]);

    // Entra's two removal shapes.
    let by_filter = patch(json!([{"op": "Remove", "path": format!("members[value eq \"{b}\"]")}]));
    assert_eq!(app.patch(&path, by_filter.clone()).await.status, 204);
    assert_eq!(types(&drain(&app, &mut mark)), ["group.member_removed"]);
    assert_eq!(app.patch(&path, by_filter).await.status, 204);
    assert!(drain(&app, &mut mark).is_empty(), "not a member any more");
    let by_value = patch(json!([{"op": "Remove", "path": "members", "value": [{"value": c}]}]));
    assert_eq!(app.patch(&path, by_value).await.status, 204);
    assert_eq!(types(&drain(&app, &mut mark)), ["group.member_removed"]);

    // A rename is group.updated with the old name.
    let rename = patch(json!([{"op": "Replace", "path": "displayName", "value": "Sales EU"}]));
    assert_eq!(app.patch(&path, rename).await.status, 204);
    let got = drain(&app, &mut mark);
    assert_eq!(types(&got), ["group.updated"]);
    assert_eq!(got[0].1["previous"], json!({"display_name": "Sales"}));

    // PUT: only the memberships that differ (a stays, b comes, no rename).
    let put = json!({"schemas": [GROUP], "displayName": "Sales EU", "members": [{"value": a}, {"value": b}]});
    assert_eq!(app.put(&path, put).await.status, 200);
    let got = drain(&app, &mut mark);
    assert_eq!(types(&got), ["group.member_added"]);
    assert_eq!(got[0].1["data"]["member_id"], b.as_str());

    // Deleting a member user removes its membership first; deleting the group is one event.
    assert_eq!(app.delete(&format!("/Users/{a}")).await.status, 204);
    let got = drain(&app, &mut mark);
    assert_eq!(types(&got), ["group.member_removed", "user.deleted"]);
    assert_eq!(got[0].1["data"]["member_id"], a.as_str());
    assert_eq!(app.delete(&path).await.status, 204);
    let got = drain(&app, &mut mark);
    assert_eq!(types(&got), ["group.deleted"]);
    assert_eq!(got[0].1["data"]["display_name"], "Sales EU");
}

#[actix_web::test]
async fn seq_is_commit_order_across_orgs_and_each_event_names_its_org() {
    let app = spawn_app().await;
    let other_token = create_org(&app.store, "globex", "globex.com");
    let start = head(&app);
    // Concurrent creates through both orgs' tokens, committed in batches.
    let sends = (0..10).map(|i| {
        let (token, name) = if i % 2 == 0 {
            (app.token.clone(), format!("u{i}@acme.com"))
        } else {
            (other_token.clone(), format!("u{i}@globex.com"))
        };
        let app = &app;
        async move {
            let r = app
                .call_as(
                    &token,
                    "POST",
                    "/Users",
                    Some(json!({"schemas": [USER], "userName": name})),
                )
                .await;
            assert_eq!(r.status, 201, "{}", r.text);
        }
    });
    futures_util::future::join_all(sends).await;
    let events = events_after(&app, start);
    assert_eq!(events.len(), 10);
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    for e in &events {
        let name = e["data"]["user_name"].as_str().unwrap();
        let slug = e["org"]["slug"].as_str().unwrap();
        assert!(name.ends_with(&format!("@{slug}.com")), "{name} in {slug}");
    }
    // One org's events only.
    let acme_id = events
        .iter()
        .find(|e| e["org"]["slug"] == "acme")
        .map(|e| e["org"]["id"].as_i64().unwrap())
        .unwrap();
    let acme = app
        .store
        .read_now(|c| idgate::store::events::after(c, start, Some(acme_id), 100))
        .unwrap();
    assert_eq!(acme.len(), 5);
    // Retention removes what was created before the cutoff, and nothing after it.
    let cutoff = events[3]["timestamp"].as_str().unwrap().to_string();
    let kept_from = events
        .iter()
        .find(|e| e["timestamp"].as_str().unwrap() >= cutoff.as_str())
        .map(|e| e["seq"].as_i64().unwrap())
        .unwrap();
    app.store
        .write_now(|c| idgate::store::events::prune(c, &cutoff, None))
        .unwrap();
    let kept = events_after(&app, start);
    assert_eq!(kept[0]["seq"], kept_from);
    assert_eq!(kept.len(), events.len() - (kept_from - seqs[0]) as usize);
    // The head never goes back, also once old events are pruned.
    let before = head(&app);
    app.store
        .write_now(|c| idgate::store::events::prune(c, "9999-01-01T00:00:00Z", None))
        .unwrap();
    assert_eq!(head(&app), before);
    assert!(events_after(&app, 0).is_empty());
}

#[actix_web::test]
async fn org_changes_from_the_cli_and_the_admin_ui_are_events_and_re_resolved_roles_too() {
    let app = spawn_app().await;
    let r = app
        .post(
            "/Users",
            json!({"schemas": [USER], "userName": "boss@acme.com", "roles": [{"value": "Admin", "primary": true}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let boss = r.body["id"].as_str().unwrap().to_string();
    let mut mark = head(&app);

    app.idgate(&[
        "org",
        "create",
        "globex",
        "--name",
        "Globex",
        "--domain",
        "globex.com",
    ]);
    let got = drain(&app, &mut mark);
    assert_eq!(types(&got), ["org.created"]);
    let e = &got[0].1;
    assert_eq!(e["source"], json!({"type": "cli"}));
    assert_eq!(e["data"]["slug"], "globex");
    assert_eq!(
        e["data"]["domains"],
        json!([{"domain": "globex.com", "sso_only": false}])
    );

    app.idgate(&["org", "domain", "sso-only", "globex", "globex.com", "on"]);
    let got = drain(&app, &mut mark);
    assert_eq!(types(&got), ["org.updated"]);
    assert_eq!(got[0].1["previous"]["domains"][0]["sso_only"], false);
    // Setting what is already set: no event.
    app.idgate(&["org", "domain", "sso-only", "globex", "globex.com", "on"]);
    assert!(drain(&app, &mut mark).is_empty());

    // A mapping that changes a user's resolved role: the org, and the user with its old role.
    app.idgate(&["org", "role-map", "acme", "admin", "Administrator"]);
    let got = drain(&app, &mut mark);
    assert_eq!(types(&got), ["user.updated", "org.updated"]);
    assert_eq!(got[0].1["data"]["id"], boss.as_str());
    assert_eq!(got[0].1["data"]["role"], "Administrator");
    assert_eq!(got[0].1["previous"]["role"], Value::Null);
    assert_eq!(got[1].1["previous"]["role_mapping"], json!({}));

    // The admin UI: rename and delete, by an operator.
    let ops = crate::admin_helpers::operator(&app).await;
    let ops = crate::admin_helpers::AdminBrowser::new(&app, &ops);
    assert_eq!(
        ops.post("/admin/orgs/globex/name", &[("name", "Globex AG")])
            .await
            .status,
        303
    );
    let got = drain(&app, &mut mark);
    assert_eq!(types(&got), ["org.updated"]);
    assert_eq!(got[0].1["previous"], json!({"name": "Globex"}));
    assert_eq!(got[0].1["source"]["type"], "admin");
    assert!(
        got[0].1["source"]["actor"]
            .as_str()
            .unwrap()
            .contains("root@operator.example")
    );
    assert_eq!(
        ops.post("/admin/orgs/globex/delete", &[("confirm", "globex")])
            .await
            .status,
        303
    );
    let got = drain(&app, &mut mark);
    assert_eq!(types(&got), ["org.deleted"]);
    assert_eq!(got[0].1["data"]["name"], "Globex AG");
    assert_eq!(got[0].1["org"]["slug"], "globex");
}

#[actix_web::test]
async fn a_just_in_time_sign_in_is_user_created_from_signin() {
    let app = crate::browser::spawn_sso_app().await;
    app.store
        .write_now(|c| {
            let org = idgate::store::orgs::require_org(c, "acme")?;
            let jit = idgate::store::orgs::SettingsChange {
                jit: Some(true),
                ..Default::default()
            };
            idgate::store::orgs::update_settings(c, org.id, &jit)
        })
        .unwrap();
    let mut mark = head(&app);
    assert_eq!(app.sso(|_| {}).await.status, 303);
    let got = drain(&app, &mut mark);
    assert_eq!(types(&got), ["user.created"]);
    assert_eq!(got[0].1["source"], json!({"type": "signin"}));
    assert_eq!(got[0].1["data"]["email"], "alice@acme.com");
}
