//! Resource basics: create/read/replace/delete, ETags, errors, discovery, ops endpoints.

use serde_json::json;

use crate::helpers::spawn_app;

#[actix_web::test]
async fn create_returns_201_location_etag_and_reads_back() {
    let app = spawn_app().await;
    let r = app
        .post(
            "/Users",
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": "Bjensen@Acme.com", "externalId": "ext-1",
                "name": {"givenName": "Barbara", "familyName": "Jensen"},
                "emails": [{"value": "bjensen@acme.com", "type": "work", "primary": true}],
            }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.header("content-type").unwrap(), "application/scim+json");
    let id = r.body["id"].as_str().unwrap();
    let location = r.header("location").unwrap();
    assert_eq!(
        location,
        format!("http://127.0.0.1:8080/scim/v2/Users/{id}")
    );
    assert_eq!(r.body["meta"]["location"], location.as_str());
    let etag = r.header("etag").unwrap();
    assert_eq!(r.body["meta"]["version"], etag.as_str());
    let g = app.get(&format!("/Users/{id}")).await;
    assert_eq!(g.status, 200);
    assert_eq!(g.body["userName"], "Bjensen@Acme.com");
    assert_eq!(g.body["name"]["givenName"], "Barbara");
    assert_eq!(g.body["externalId"], "ext-1");
    assert_eq!(g.body["meta"]["resourceType"], "User");
    // Duplicate userName, in any case → 409 uniqueness.
    app.post("/Users", json!({"userName": "bjensen@acme.COM"}))
        .await
        .assert_error(409, Some("uniqueness"));
    // Read-back after conflict: still one user.
    assert_eq!(app.get("/Users").await.body["totalResults"], 1);
}

#[actix_web::test]
async fn if_match_is_honoured() {
    let app = spawn_app().await;
    let id = app.create_user("etag@acme.com").await;
    let path = format!("/Users/{id}");
    let etag = app.get(&path).await.header("etag").unwrap();
    let auth = format!("Bearer {}", app.token);
    let body = json!({"userName": "etag@acme.com", "displayName": "E"}).to_string();
    let headers = |m: &'static str| {
        [
            ("Authorization", auth.clone()),
            ("Content-Type", "application/scim+json".into()),
            ("If-Match", m.to_string()),
        ]
    };
    let h = headers("W/\"999\"");
    let hr: Vec<(&str, &str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
    app.raw("PUT", &path, &hr, Some(body.clone()))
        .await
        .assert_error(412, None);
    assert!(app.get(&path).await.body.get("displayName").is_none());
    let h = headers("");
    let mut hr: Vec<(&str, &str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
    hr[2].1 = &etag;
    let r = app.raw("PUT", &path, &hr, Some(body)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_ne!(r.header("etag").unwrap(), etag);
    // If-None-Match with the current ETag → 304.
    let cur = r.header("etag").unwrap();
    let r = app
        .raw(
            "GET",
            &path,
            &[("Authorization", &auth), ("If-None-Match", &cur)],
            None,
        )
        .await;
    assert_eq!(r.status, 304);
    // DELETE with a stale ETag → 412, and the user is still there.
    let r = app
        .raw(
            "DELETE",
            &path,
            &[("Authorization", &auth), ("If-Match", &etag)],
            None,
        )
        .await;
    r.assert_error(412, None);
    assert_eq!(app.get(&path).await.status, 200);
}

#[actix_web::test]
async fn client_mistakes_get_rfc7644_errors_and_change_nothing() {
    let app = spawn_app().await;
    let auth = format!("Bearer {}", app.token);
    let r = app
        .raw(
            "POST",
            "/Users",
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/json"),
            ],
            Some("{not json".into()),
        )
        .await;
    r.assert_error(400, Some("invalidSyntax"));
    let r = app
        .raw(
            "POST",
            "/Users",
            &[("Authorization", &auth), ("Content-Type", "text/plain")],
            Some("{}".into()),
        )
        .await;
    r.assert_error(415, None);
    let big = format!("{{\"userName\": \"{}\"}}", "a".repeat(2 * 1024 * 1024));
    let r = app
        .raw(
            "POST",
            "/Users",
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/json"),
            ],
            Some(big),
        )
        .await;
    r.assert_error(413, None);
    app.get("/Users/00000000-0000-0000-0000-000000000000")
        .await
        .assert_error(404, None);
    app.get("/Nope").await.assert_error(404, None);
    app.post("/Users", json!({"displayName": "no user name"}))
        .await
        .assert_error(400, Some("invalidValue"));
    let r = app.get("/Users?startIndex=abc").await;
    r.assert_error(400, Some("invalidValue"));
    assert_eq!(app.get("/Users").await.body["totalResults"], 0);
    // Deleting twice answers 404 the second time.
    let id = app.create_user("twice@acme.com").await;
    assert_eq!(app.delete(&format!("/Users/{id}")).await.status, 204);
    app.delete(&format!("/Users/{id}"))
        .await
        .assert_error(404, None);
    app.get(&format!("/Users/{id}"))
        .await
        .assert_error(404, None);
}

#[actix_web::test]
async fn every_scim_call_is_logged_with_its_outcome() {
    let app = spawn_app().await;
    let r = app
        .post(
            "/Users",
            json!({"userName": "log@acme.com", "password": "hunter2"}),
        )
        .await;
    assert_eq!(r.status, 201);
    app.post("/Users", json!({"userName": "log@acme.com"}))
        .await
        .assert_error(409, Some("uniqueness"));
    // The log is written in the background: wait for it briefly.
    let mut rows = Vec::new();
    for _ in 0..50 {
        rows = app.request_log();
        if rows.len() >= 2 {
            break;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(rows.len(), 2, "{rows:?}");
    let conflict = &rows[0];
    assert_eq!(conflict.status, 409);
    assert_eq!(conflict.scim_type.as_deref(), Some("uniqueness"));
    assert!(conflict.detail.as_deref().unwrap().contains("log@acme.com"));
    assert_eq!(conflict.token_name.as_deref(), Some("test"));
    assert_eq!(conflict.method, "POST");
    let created = &rows[1];
    assert_eq!(created.status, 201);
    let body = created.request_body.as_deref().unwrap();
    assert!(
        !body.contains("hunter2") && body.contains("[redacted]"),
        "{body}"
    );
    assert!(
        created.response_body.is_none(),
        "a success keeps no response body"
    );
    let error_body = conflict.response_body.as_deref().unwrap();
    assert!(error_body.contains("uniqueness"), "{error_body}");
    assert!(!created.request_id.is_empty());
}

#[actix_web::test]
async fn discovery_documents_are_served() {
    let app = spawn_app().await;
    let r = app.get("/ServiceProviderConfig").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["patch"]["supported"], true);
    assert_eq!(r.body["bulk"]["supported"], false);
    assert_eq!(r.body["filter"]["supported"], true);
    assert_eq!(r.body["etag"]["supported"], true);
    let r = app.get("/ResourceTypes").await;
    assert_eq!(r.body["totalResults"], 2);
    let r = app.get("/Schemas").await;
    let ids: Vec<&str> = r.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"urn:ietf:params:scim:schemas:core:2.0:User"));
    assert!(ids.contains(&"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"));
    assert!(ids.contains(&"urn:ietf:params:scim:schemas:core:2.0:Group"));
    let user = app
        .get("/Schemas/urn:ietf:params:scim:schemas:core:2.0:User")
        .await;
    let user_name = user.body["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "userName")
        .unwrap();
    assert_eq!(user_name["uniqueness"], "server");
    assert_eq!(user_name["required"], true);
}

#[actix_web::test]
async fn ops_endpoints_and_request_ids() {
    let app = spawn_app().await;
    let client = &app.client;
    let mut r = client
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("x-request-id").is_some());
    let r2 = client
        .get(format!("{}/readyz", app.base))
        .insert_header(("X-Request-Id", "abc-123"))
        .send()
        .await
        .unwrap();
    assert_eq!(r2.status(), 200);
    assert_eq!(r2.headers().get("x-request-id").unwrap(), "abc-123");
    let _ = r.body().await;
    app.get("/Users").await;
    let mut m = client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap();
    let text = String::from_utf8(m.body().await.unwrap().to_vec()).unwrap();
    assert!(
        text.contains(
            "idgate_http_request_duration_seconds_count{surface=\"scim\",status=\"200\"}"
        ),
        "{text}"
    );
    assert!(
        text.contains("idgate_scim_operations_total{method=\"GET\",status=\"200\"}"),
        "{text}"
    );
}

#[actix_web::test]
async fn unfiltered_totals_follow_creates_and_deletes_and_pages_are_stable() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(app.create_user(&format!("page{i}@acme.com")).await);
    }
    app.delete(&format!("/Users/{}", ids[1])).await;
    app.delete(&format!("/Users/{}", ids[3])).await;
    let r = app.get("/Users?startIndex=2&count=2").await;
    assert_eq!(r.body["totalResults"], 3, "{}", r.text);
    assert_eq!(r.body["startIndex"], 2);
    assert_eq!(r.body["itemsPerPage"], 2);
    let got: Vec<&str> = r.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap())
        .collect();
    assert_eq!(got, vec![ids[2].as_str(), ids[4].as_str()]);
    let r = app.get("/Users?startIndex=4").await;
    assert_eq!(r.body["totalResults"], 3);
    assert_eq!(r.body["Resources"].as_array().unwrap().len(), 0);
    let r = app
        .get("/Users?sortBy=userName&sortOrder=descending&count=1")
        .await;
    assert_eq!(r.body["Resources"][0]["userName"], "page4@acme.com");
    let g = app.post("/Groups", json!({"displayName": "g1"})).await;
    assert_eq!(g.status, 201);
    assert_eq!(app.get("/Groups").await.body["totalResults"], 1);
    app.delete(&format!("/Groups/{}", g.body["id"].as_str().unwrap()))
        .await;
    assert_eq!(app.get("/Groups").await.body["totalResults"], 0);
}

#[actix_web::test]
async fn sequential_pages_stay_right_across_creates_and_deletes() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(app.create_user(&format!("seq{i}@acme.com")).await);
    }
    let page = |r: &crate::helpers::Resp| -> Vec<String> {
        r.body["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        page(&app.get("/Users?startIndex=1&count=2").await),
        ids[0..2].to_vec()
    );
    // Served from the cursor the first page left.
    assert_eq!(
        page(&app.get("/Users?startIndex=3&count=2").await),
        ids[2..4].to_vec()
    );
    // A create appends: the next page sees it.
    ids.push(app.create_user("seq5@acme.com").await);
    assert_eq!(
        page(&app.get("/Users?startIndex=5&count=2").await),
        ids[4..6].to_vec()
    );
    // A delete shifts positions: cursors are dropped and positions recomputed.
    app.delete(&format!("/Users/{}", ids[0])).await;
    assert_eq!(
        page(&app.get("/Users?startIndex=3&count=2").await),
        ids[3..5].to_vec()
    );
    assert_eq!(
        page(&app.get("/Users?startIndex=5&count=2").await),
        ids[5..6].to_vec()
    );
}
