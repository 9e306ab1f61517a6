//! SCIM and the event log across instances: If-Match and concurrent PATCHes, member adds
//! through both, counts and paging while another instance writes, one ordered event log.

use std::collections::BTreeSet;
use std::rc::Rc;

use serde_json::{Value, json};

use super::{Cluster, id_of, migrated_database, pg_base, sleep};
use crate::helpers::{Resp, TestApp, patch};

/// PATCH replacing displayName under `If-Match: etag`.
async fn patch_if_match(app: &TestApp, path: &str, etag: &str, name: &str) -> Resp {
    let auth = format!("Bearer {}", app.token);
    let body = patch(json!([{"op": "replace", "path": "displayName", "value": name}]));
    let headers = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/scim+json"),
        ("If-Match", etag),
    ];
    app.raw("PATCH", path, &headers, Some(body.to_string()))
        .await
}

/// Every page of `query` (a filter, say) through `app`, `count` at a time; asserts that each
/// page reports `total`. The ids, in page order.
async fn all_pages(app: &TestApp, query: &str, count: usize, total: usize) -> Vec<String> {
    let mut ids = Vec::new();
    let mut start = 1;
    loop {
        let r = app
            .get(&format!("/Users?{query}&startIndex={start}&count={count}"))
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(
            r.body["totalResults"], total,
            "startIndex={start}: {}",
            r.text
        );
        let page = r.body["Resources"].as_array().cloned().unwrap_or_default();
        assert_eq!(r.body["startIndex"], start, "{}", r.text);
        ids.extend(page.iter().map(|u| u["id"].as_str().unwrap().to_string()));
        if page.len() < count {
            return ids;
        }
        start += count;
    }
}

async fn total_users(app: &TestApp) -> u64 {
    let r = app.get("/Users?count=0").await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["totalResults"].as_u64().unwrap()
}

#[actix_web::test]
async fn if_match_holds_across_instances() {
    if pg_base().is_none() {
        return;
    }
    let cluster = Cluster::start(&migrated_database(), 2, true);
    let (a, b) = (cluster.app(0), cluster.app(1));
    // Two PATCHes with the same If-Match, one through each instance: one 200, one 412.
    let id = a.create_user("etag@acme.com").await;
    let path = format!("/Users/{id}");
    for round in 0..5 {
        let etag = b.get(&path).await.header("etag").expect("an ETag");
        let (na, nb) = (format!("A{round}"), format!("B{round}"));
        let (ra, rb) = tokio::join!(
            patch_if_match(&a, &path, &etag, &na),
            patch_if_match(&b, &path, &etag, &nb)
        );
        let mut statuses = [ra.status, rb.status];
        statuses.sort_unstable();
        assert_eq!(
            statuses,
            [200, 412],
            "round {round}: {} / {}",
            ra.text,
            rb.text
        );
        let winner = if ra.status == 200 { &na } else { &nb };
        let now = a.get(&path).await;
        assert_eq!(now.body["displayName"], winner.as_str(), "round {round}");
        assert_ne!(now.header("etag").as_deref(), Some(etag.as_str()));
    }
    cluster.assert_no_panic();
}

#[actix_web::test]
async fn concurrent_patches_through_two_instances_lose_no_update() {
    if pg_base().is_none() {
        return;
    }
    let cluster = Cluster::start(&migrated_database(), 2, true);
    let (a, b) = (cluster.app(0), cluster.app(1));
    let id = a.create_user("both@acme.com").await;
    let path = format!("/Users/{id}");
    // Different attributes at the same instant, no If-Match: both changes stay.
    for round in 0..5 {
        let (title, nick) = (format!("title{round}"), format!("nick{round}"));
        let set = |attr: &str, v: &str| patch(json!([{"op": "replace", "path": attr, "value": v}]));
        let (ra, rb) = tokio::join!(
            a.patch(&path, set("title", &title)),
            b.patch(&path, set("nickName", &nick))
        );
        assert_eq!(
            (ra.status, rb.status),
            (200, 200),
            "{} / {}",
            ra.text,
            rb.text
        );
        let now = b.get(&path).await;
        assert_eq!(
            now.body["title"],
            title.as_str(),
            "round {round}: {}",
            now.text
        );
        assert_eq!(
            now.body["nickName"],
            nick.as_str(),
            "round {round}: {}",
            now.text
        );
    }
    cluster.assert_no_panic();
}

#[actix_web::test]
async fn scim_members_and_counts_stay_right_across_instances() {
    if pg_base().is_none() {
        return;
    }
    let cluster = Cluster::start(&migrated_database(), 2, true);
    let (a, b) = (cluster.app(0), cluster.app(1));

    // Member adds to one group through both instances at once: the union.
    let g = b
        .post("/Groups", json!({"displayName": "Everyone", "members": []}))
        .await;
    let group = format!("/Groups/{}", id_of(&g));
    let mut members = BTreeSet::new();
    for i in 0..16 {
        members.insert(a.create_user(&format!("m{i}@acme.com")).await);
    }
    let adds = members.iter().enumerate().map(|(i, m)| {
        let app = if i % 2 == 0 { a.clone() } else { b.clone() };
        let (group, body) = (
            group.clone(),
            patch(json!([{"op": "Add", "path": "members", "value": [{"value": m}]}])),
        );
        async move { app.patch(&group, body).await }
    });
    for r in futures_util::future::join_all(adds).await {
        assert!(r.status == 200 || r.status == 204, "{}", r.text);
    }
    let got: BTreeSet<String> = a.get(&group).await.body["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        got, members,
        "the group holds every member added through A and B"
    );

    // totalResults through B follows every create and delete through A at once.
    let mut total = total_users(&b).await;
    for i in 0..5 {
        let churn = a.create_user(&format!("once{i}@acme.com")).await;
        total += 1;
        assert_eq!(total_users(&b).await, total, "after create {i}");
        assert_eq!(a.delete(&format!("/Users/{churn}")).await.status, 204);
        total -= 1;
        assert_eq!(total_users(&b).await, total, "after delete {i}");
    }

    // Paging through B stays exact while A creates and deletes other users.
    let mut stable = BTreeSet::new();
    for i in 0..12 {
        stable.insert(b.create_user(&format!("stable{i:02}@acme.com")).await);
    }
    let stop = Rc::new(std::cell::Cell::new(false));
    let churn = {
        let (a, stop) = (a.clone(), stop.clone());
        actix_web::rt::spawn(async move {
            let mut n = 0;
            while !stop.get() {
                let id = a.create_user(&format!("churn{n}@acme.com")).await;
                if n % 2 == 0 {
                    assert_eq!(a.delete(&format!("/Users/{id}")).await.status, 204);
                }
                n += 1;
            }
            n
        })
    };
    let filter = format!(
        "filter={}",
        crate::helpers::enc("userName sw \"stable\"", false)
    );
    for _ in 0..5 {
        let ids = all_pages(&b, &filter, 5, stable.len()).await;
        let distinct: BTreeSet<String> = ids.iter().cloned().collect();
        assert_eq!(ids.len(), distinct.len(), "a user on two pages: {ids:?}");
        assert_eq!(distinct, stable);
    }
    stop.set(true);
    let churned = churn.await.expect("churn task");
    assert!(churned > 0);
    let total = total_users(&b).await as usize;
    let everyone = all_pages(&b, "", 7, total).await;
    assert_eq!(everyone.iter().collect::<BTreeSet<_>>().len(), total);
    cluster.assert_no_panic();
}

/// Every event after `after`, read through `app` `limit` at a time: (seq, event).
async fn events_after(app: &TestApp, key: &str, mut after: i64, limit: u32) -> Vec<(i64, Value)> {
    let auth = format!("Bearer {key}");
    let mut out = Vec::new();
    loop {
        let path = format!("/api/v1/events?after={after}&limit={limit}");
        let r = app
            .web("GET", &path, &[("Authorization", &auth)], None)
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let page = r.body["events"].as_array().cloned().unwrap_or_default();
        if page.is_empty() {
            return out;
        }
        for e in page {
            out.push((e["seq"].as_i64().unwrap(), e));
        }
        after = r.body["next_after"].as_i64().unwrap();
    }
}

#[actix_web::test]
async fn both_instances_read_one_event_log_in_one_order() {
    if pg_base().is_none() {
        return;
    }
    let cluster = Cluster::start(&migrated_database(), 2, true);
    let (a, b) = (cluster.app(0), cluster.app(1));
    let key = a.idgate(&[
        "api-key",
        "create",
        "--name",
        "feed",
        "--scope",
        "events:read",
    ]);
    let start = events_after(&a, &key, 0, 1000)
        .await
        .last()
        .map_or(0, |e| e.0);

    // A follower reading through A while the writes go on.
    let done = Rc::new(std::cell::Cell::new(false));
    let follower = {
        let (a, key, done) = (a.clone(), key.clone(), done.clone());
        actix_web::rt::spawn(async move {
            let mut seen: Vec<(i64, Value)> = Vec::new();
            loop {
                let last = done.get();
                let after = seen.last().map_or(start, |e| e.0);
                seen.extend(events_after(&a, &key, after, 1000).await);
                if last {
                    return seen;
                }
                sleep(20).await;
            }
        })
    };
    // Three clients per instance, five creates each.
    let writers = (0..6).map(|w| {
        let app = cluster.app(w % 2);
        async move {
            let mut ids = Vec::new();
            for i in 0..5 {
                ids.push(app.create_user(&format!("ev{w}-{i}@acme.com")).await);
            }
            ids
        }
    });
    let created: BTreeSet<String> = futures_util::future::join_all(writers)
        .await
        .into_iter()
        .flatten()
        .collect();
    done.set(true);
    let followed = follower.await.expect("follower");

    let via_a = events_after(&a, &key, start, 7).await;
    let via_b = events_after(&b, &key, start, 7).await;
    let ids = |v: &[(i64, Value)]| {
        v.iter()
            .map(|e| (e.0, e.1["id"].clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&via_a), ids(&via_b), "A and B read the same log");
    assert_eq!(
        ids(&followed),
        ids(&via_a),
        "the follower missed or reordered events"
    );
    assert!(
        via_a.windows(2).all(|w| w[0].0 < w[1].0),
        "seq not strictly increasing"
    );
    assert_eq!(via_a.len(), created.len(), "one event per write");
    let users: BTreeSet<String> = via_a
        .iter()
        .map(|e| {
            assert_eq!(e.1["type"], "user.created", "{}", e.1);
            e.1["data"]["id"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(users, created);
    cluster.assert_no_panic();
}
