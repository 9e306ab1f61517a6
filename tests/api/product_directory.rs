//! The product API's directory: keyset pages, filters, isolation, and the property that
//! matters — list, then follow the feed from `events_cursor`, and the copy is exactly
//! idgate's users, groups and memberships, whatever SCIM did meanwhile.

use std::collections::{BTreeMap, BTreeSet};

use idgate::fuzzing::SplitMix;
use serde_json::{Value, json};

use crate::helpers::{Resp, TestApp, create_org, patch, spawn_app};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

fn key(app: &TestApp, scope: &str, orgs: &[&str]) -> String {
    let mut args = vec!["api-key", "create", "--name", scope, "--scope", scope];
    for o in orgs {
        args.extend(["--org", o]);
    }
    app.idgate(&args)
}

impl TestApp {
    async fn api(&self, key: &str, path: &str) -> Resp {
        let auth = format!("Bearer {key}");
        self.web(
            "GET",
            &format!("/api/v1{path}"),
            &[("Authorization", &auth)],
            None,
        )
        .await
    }

    /// Every item of a list, page by page; the events_cursor of its first page.
    async fn all(&self, key: &str, path: &str, limit: u32) -> (Vec<Value>, i64) {
        let sep = if path.contains('?') { '&' } else { '?' };
        let first = self.api(key, &format!("{path}{sep}limit={limit}")).await;
        assert_eq!(first.status, 200, "{path}: {}", first.text);
        let cursor = first.body["events_cursor"]
            .as_i64()
            .expect("events_cursor on page 1");
        let mut items = first.body["data"].as_array().unwrap().clone();
        let mut next = first.body["next_cursor"].as_str().map(str::to_string);
        while let Some(c) = next {
            let r = self
                .api(key, &format!("{path}{sep}limit={limit}&cursor={c}"))
                .await;
            assert_eq!(r.status, 200, "{}", r.text);
            assert!(
                r.body.get("events_cursor").is_none(),
                "only the first page has it"
            );
            items.extend(r.body["data"].as_array().unwrap().iter().cloned());
            next = r.body["next_cursor"].as_str().map(str::to_string);
        }
        (items, cursor)
    }
}

#[actix_web::test]
async fn pages_filters_and_isolation() {
    let app = spawn_app().await;
    let globex = create_org(&app.store, "globex", "globex.com");
    let k = key(&app, "directory:read", &["acme"]);
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(app.create_user(&format!("u{i}@acme.com")).await);
    }
    let off = patch(json!([{"op": "Replace", "path": "active", "value": "False"}]));
    assert_eq!(
        app.patch(&format!("/Users/{}", ids[1]), off).await.status,
        200
    );
    let g = app
        .post("/Groups", json!({"schemas": [GROUP], "displayName": "G", "members": [{"value": ids[0]}, {"value": ids[3]}]}))
        .await;
    let gid = g.body["id"].as_str().unwrap().to_string();
    let r = app
        .call_as(
            &globex,
            "POST",
            "/Users",
            Some(json!({"schemas": [USER], "userName": "x@globex.com"})),
        )
        .await;
    assert_eq!(r.status, 201);

    let (users, _) = app.all(&k, "/orgs/acme/users", 2).await;
    let listed: Vec<&str> = users.iter().map(|u| u["id"].as_str().unwrap()).collect();
    assert_eq!(listed, ids.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(users[0]["email"], "u0@acme.com");
    assert_eq!(users[0]["scim"]["userName"], "u0@acme.com");
    let (inactive, _) = app.all(&k, "/orgs/acme/users?active=false", 10).await;
    assert_eq!(inactive.len(), 1);
    assert_eq!(inactive[0]["id"], ids[1].as_str());
    let (by_email, _) = app
        .all(&k, "/orgs/acme/users?email=U3%40ACME.com", 10)
        .await;
    assert_eq!(by_email[0]["id"], ids[3].as_str());
    let (in_group, _) = app
        .all(&k, &format!("/orgs/acme/users?group={gid}"), 10)
        .await;
    assert_eq!(in_group.len(), 2);
    let (members, _) = app
        .all(&k, &format!("/orgs/acme/groups/{gid}/members"), 1)
        .await;
    assert_eq!(members.len(), 2);
    assert_eq!(members[0]["type"], "User");
    let (groups_of, _) = app
        .all(&k, &format!("/orgs/acme/users/{}/groups", ids[3]), 5)
        .await;
    assert_eq!(groups_of[0]["display_name"], "G");
    let one = app.api(&k, &format!("/orgs/acme/users/{}", ids[2])).await;
    assert_eq!(one.body["user_name"], "u2@acme.com");
    let orgs = app.api(&k, "/orgs").await;
    assert_eq!(
        orgs.body["data"].as_array().unwrap().len(),
        1,
        "{}",
        orgs.text
    );
    assert_eq!(app.api(&k, "/orgs/acme").await.body["slug"], "acme");

    // The other org, and what is missing, are 404; bad input is 400; scope is 403.
    for path in [
        "/orgs/globex",
        "/orgs/globex/users",
        "/orgs/acme/users/nope",
        "/orgs/acme/groups/nope/members",
    ] {
        let r = app.api(&k, path).await;
        assert_eq!(
            (r.status, r.body["error"].as_str()),
            (404, Some("not_found")),
            "{path}: {}",
            r.text
        );
    }
    for path in [
        "/orgs/acme/users?cursor=%%%",
        "/orgs/acme/users?cursor=bm9wZQ",
        "/orgs/acme/users?limit=0",
        "/orgs/acme/users?active=maybe",
        "/orgs/acme/groups?email=x",
    ] {
        let r = app.api(&k, path).await;
        assert_eq!(
            (r.status, r.body["error"].as_str()),
            (400, Some("invalid_request")),
            "{path}: {}",
            r.text
        );
    }
    let events_only = key(&app, "events:read", &[]);
    assert_eq!(app.api(&events_only, "/orgs/acme/users").await.status, 403);
}

/// The product's copy: users and groups by id, memberships as (group, member) pairs.
#[derive(Debug, Default, PartialEq)]
struct Copy {
    users: BTreeMap<String, Value>,
    groups: BTreeMap<String, Value>,
    members: BTreeSet<(String, String)>,
}

impl Copy {
    fn apply(&mut self, e: &Value) {
        let data = &e["data"];
        let id = || data["id"].as_str().unwrap().to_string();
        match e["type"].as_str().unwrap() {
            "user.deleted" => {
                let id = id();
                self.members.retain(|(_, m)| *m != id);
                self.users.remove(&id);
            }
            t if t.starts_with("user.") => {
                self.users.insert(id(), data.clone());
            }
            "group.deleted" => {
                let id = id();
                self.members.retain(|(g, m)| *g != id && *m != id);
                self.groups.remove(&id);
            }
            "group.member_added" | "group.member_removed" => {
                let pair = (
                    data["group_id"].as_str().unwrap().to_string(),
                    data["member_id"].as_str().unwrap().to_string(),
                );
                self.groups.insert(pair.0.clone(), data["group"].clone());
                if e["type"] == "group.member_added" {
                    self.members.insert(pair);
                } else {
                    self.members.remove(&pair);
                }
            }
            t if t.starts_with("group.") => {
                self.groups.insert(id(), data.clone());
            }
            _ => {}
        }
    }

    /// Lists the whole directory (small pages), with a write between two pages.
    async fn list(app: &TestApp, key: &str, between: impl AsyncFnOnce()) -> (Copy, i64) {
        let first = app.api(key, "/orgs/acme/users?limit=3").await;
        let cursor = first.body["events_cursor"].as_i64().unwrap();
        between().await;
        let mut copy = Copy::default();
        let mut page = first;
        loop {
            for u in page.body["data"].as_array().unwrap() {
                copy.users
                    .insert(u["id"].as_str().unwrap().to_string(), u.clone());
            }
            let Some(next) = page.body["next_cursor"].as_str().map(str::to_string) else {
                break;
            };
            page = app
                .api(key, &format!("/orgs/acme/users?limit=3&cursor={next}"))
                .await;
        }
        let (groups, _) = app.all(key, "/orgs/acme/groups", 2).await;
        for g in groups {
            let gid = g["id"].as_str().unwrap().to_string();
            let (members, _) = app
                .all(key, &format!("/orgs/acme/groups/{gid}/members"), 2)
                .await;
            for m in members {
                copy.members
                    .insert((gid.clone(), m["id"].as_str().unwrap().to_string()));
            }
            copy.groups.insert(gid, g);
        }
        (copy, cursor)
    }
}

/// One random SCIM operation of Entra's kinds.
async fn random_op(app: &TestApp, rng: &mut SplitMix, n: usize) {
    let users: Vec<String> = app.get("/Users?count=1000").await.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_string())
        .collect();
    let groups: Vec<String> = app
        .get("/Groups?count=1000&excludedAttributes=members")
        .await
        .body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["id"].as_str().unwrap().to_string())
        .collect();
    let pick = |rng: &mut SplitMix, from: &[String]| from.get(rng.below(from.len())).cloned();
    let status = match rng.below(9) {
        0 | 1 => app.post("/Users", json!({"schemas": [USER], "userName": format!("u{n}@acme.com"), "displayName": format!("U{n}")})).await.status,
        2 => match pick(rng, &users) {
            Some(u) => app.patch(&format!("/Users/{u}"), patch(json!([{"op": "Replace", "path": "active", "value": if rng.below(2) == 0 { "False" } else { "True" }}]))).await.status,
            None => 0,
        },
        3 => match pick(rng, &users) {
            Some(u) => app.patch(&format!("/Users/{u}"), patch(json!([{"op": "Replace", "path": "displayName", "value": format!("R{n}")}]))).await.status,
            None => 0,
        },
        4 => match pick(rng, &users) {
            Some(u) => app.delete(&format!("/Users/{u}")).await.status,
            None => 0,
        },
        5 => app.post("/Groups", json!({"schemas": [GROUP], "displayName": format!("G{n}")})).await.status,
        6 | 7 => match (pick(rng, &groups), pick(rng, &users)) {
            (Some(g), Some(u)) => {
                let op = if rng.below(3) == 0 {
                    json!([{"op": "Remove", "path": format!("members[value eq \"{u}\"]")}])
                } else {
                    json!([{"op": "Add", "path": "members", "value": [{"value": u}]}])
                };
                app.patch(&format!("/Groups/{g}"), patch(op)).await.status
            }
            _ => 0,
        },
        _ => match pick(rng, &groups) {
            Some(g) if rng.below(3) == 0 => app.delete(&format!("/Groups/{g}")).await.status,
            Some(g) => app.patch(&format!("/Groups/{g}"), patch(json!([{"op": "Replace", "path": "displayName", "value": format!("G{n}x")}]))).await.status,
            None => 0,
        },
    };
    assert!(matches!(status, 0 | 200 | 201 | 204), "op {n}: {status}");
}

#[actix_web::test]
async fn list_then_watch_rebuilds_exactly_the_directory() {
    for seed in [1u64, 2, 3] {
        let app = spawn_app().await;
        let k = key(&app, "directory:read", &[]);
        let e = key(&app, "events:read", &[]);
        let mut rng = SplitMix(seed);
        for n in 0..25 {
            random_op(&app, &mut rng, n).await;
        }
        // List while SCIM keeps writing (between the first page and the rest), then follow.
        let mut during = SplitMix(seed + 100);
        let (mut copy, cursor) = Copy::list(&app, &k, async || {
            for n in 100..108 {
                random_op(&app, &mut during, n).await;
            }
        })
        .await;
        for n in 200..230 {
            random_op(&app, &mut rng, n).await;
        }
        let mut after = cursor;
        loop {
            let page = app.api(&e, &format!("/events?after={after}&limit=7")).await;
            let events = page.body["events"].as_array().unwrap().clone();
            if events.is_empty() {
                break;
            }
            events.iter().for_each(|ev| copy.apply(ev));
            after = page.body["next_after"].as_i64().unwrap();
        }
        let (truth, _) = Copy::list(&app, &k, async || {}).await;
        assert_eq!(copy, truth, "seed {seed}");
        assert!(
            !truth.users.is_empty() && !truth.members.is_empty(),
            "seed {seed}: a real run"
        );
    }
}
