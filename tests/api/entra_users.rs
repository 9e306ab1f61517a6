//! Microsoft's own user requests, replayed as Entra sends them, each checked by reading the
//! state back. Source unless said otherwise: "Tutorial: Develop and plan provisioning for a
//! SCIM endpoint in Microsoft Entra ID" (learn.microsoft.com/entra/identity/app-provisioning/
//! use-scim-to-provision-users-and-groups), section "User Operations".

use serde_json::{Value, json};

use crate::helpers::{TestApp, enc, patch, spawn_app};

const CORE: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const LIST: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
const TUTORIAL_USER: &str = "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee";
const TUTORIAL_EMAIL: &str = "Test_User_11bb11bb-cc22-dd33-ee44-55ff55ff55ff@testuser.com";
const TUTORIAL_EXTERNAL_ID: &str = "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef";

/// The body of "Create User" › Request, exactly as the tutorial shows it.
fn tutorial_create_body() -> Value {
    json!({
        "schemas": [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
        "userName": "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee",
        "active": true,
        "emails": [{
            "primary": true,
            "type": "work",
            "value": "Test_User_11bb11bb-cc22-dd33-ee44-55ff55ff55ff@testuser.com"
        }],
        "meta": {
            "resourceType": "User"
        },
        "name": {
            "formatted": "givenName familyName",
            "familyName": "familyName",
            "givenName": "givenName"
        },
        "roles": []
    })
}

async fn create_tutorial_user(app: &TestApp) -> String {
    let r = app.post("/Users", tutorial_create_body()).await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body["id"].as_str().unwrap().to_string()
}

/// The representation without `meta` (compared separately).
fn without_meta(mut v: Value) -> Value {
    v.as_object_mut().unwrap().remove("meta");
    v
}

/// The userNames of a ListResponse, in order.
fn user_names(r: &Value) -> Vec<String> {
    r["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userName"].as_str().unwrap().to_string())
        .collect()
}

// Tutorial › User Operations › "Create User" and "Get User" (found, and not found).
#[actix_web::test]
async fn create_user_then_get_user() {
    let app = spawn_app().await;
    let r = app.post("/Users", tutorial_create_body()).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["id"].as_str().unwrap().to_string();
    let expected = json!({
        "schemas": [CORE],
        "id": id,
        "externalId": TUTORIAL_EXTERNAL_ID,
        "userName": TUTORIAL_USER,
        "name": {"formatted": "givenName familyName", "familyName": "familyName",
                 "givenName": "givenName"},
        "active": true,
        "emails": [{"value": TUTORIAL_EMAIL, "type": "work", "primary": true}],
    });
    assert_eq!(without_meta(r.body.clone()), expected);
    assert_eq!(r.body["meta"]["resourceType"], "User");
    let g = app.get(&format!("/Users/{id}")).await;
    assert_eq!(g.status, 200, "{}", g.text);
    assert_eq!(without_meta(g.body.clone()), expected);
    assert_eq!(g.body["meta"], r.body["meta"]);
    // "Response (User not found. The detail isn't required, only status.)"
    app.get("/Users/5171a35d82074e068ce2")
        .await
        .assert_error(404, None);
}

// Tutorial › "Get User by query" and "Get User by query - Zero results"; Entra encodes the
// filter with `+` for spaces. Matching by externalId: tutorial › "Handling provisioning and
// deprovisioning of users", Example 1 (here with the value quoted, as RFC 7644 requires).
#[actix_web::test]
async fn get_user_by_query_user_name_and_external_id() {
    let app = spawn_app().await;
    let id = create_tutorial_user(&app).await;
    app.create_user("someone.else@acme.com").await;
    let q = format!("userName eq \"{TUTORIAL_USER}\"");
    let r = app.get(&format!("/Users?filter={}", enc(&q, true))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["schemas"], json!([LIST]));
    assert_eq!(r.body["totalResults"], 1);
    assert_eq!(r.body["startIndex"], 1);
    assert_eq!(r.body["itemsPerPage"], 1);
    assert_eq!(r.body["Resources"][0]["id"], id.as_str());
    assert_eq!(r.body["Resources"][0]["emails"][0]["value"], TUTORIAL_EMAIL);
    // userName is caseExact=false: another case finds the same user.
    let q = format!("userName eq \"{}\"", TUTORIAL_USER.to_uppercase());
    let r = app.get(&format!("/Users?filter={}", enc(&q, true))).await;
    assert_eq!(r.body["totalResults"], 1, "{}", r.text);
    // externalId, URL-encoded with %20.
    let q = format!("externalId eq \"{TUTORIAL_EXTERNAL_ID}\"");
    let r = app.get(&format!("/Users?filter={}", enc(&q, false))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["totalResults"], 1);
    assert_eq!(r.body["Resources"][0]["id"], id.as_str());
    // externalId is caseExact.
    let q = format!("externalId eq \"{}\"", TUTORIAL_EXTERNAL_ID.to_uppercase());
    let r = app.get(&format!("/Users?filter={}", enc(&q, false))).await;
    assert_eq!(r.body["totalResults"], 0, "{}", r.text);
    // Zero results.
    let r = app
        .get(&format!(
            "/Users?filter={}",
            enc("userName eq \"non-existent user\"", true)
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["schemas"], json!([LIST]));
    assert_eq!(r.body["totalResults"], 0);
    assert_eq!(r.body["Resources"], json!([]));
    assert_eq!(r.body["startIndex"], 1);
}

// Tutorial › "Integrate your SCIM endpoint…" › Test Connection: "queries the SCIM endpoint for
// a user that doesn't exist, using a random GUID as the matching property … The expected
// correct response is HTTP 200 OK with an empty SCIM ListResponse message."
#[actix_web::test]
async fn test_connection_random_guid_finds_nothing() {
    let app = spawn_app().await;
    app.create_user("existing@acme.com").await;
    let guid = uuid::Uuid::new_v4().to_string();
    for attr in ["userName", "externalId"] {
        let q = format!("{attr} eq \"{guid}\"");
        let r = app.get(&format!("/Users?filter={}", enc(&q, true))).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["schemas"], json!([LIST]));
        assert_eq!(r.body["totalResults"], 0);
        assert_eq!(r.body["Resources"], json!([]));
    }
    let q = format!("displayName eq \"{guid}\"");
    let r = app
        .get(&format!(
            "/Groups?excludedAttributes=members&filter={}",
            enc(&q, true)
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["totalResults"], 0);
    assert_eq!(r.body["Resources"], json!([]));
}

// Tutorial › "Update User [Multi-valued properties]": Replace of emails[type eq "work"].value
// and name.familyName.
#[actix_web::test]
async fn update_user_multi_valued_properties() {
    let app = spawn_app().await;
    let id = create_tutorial_user(&app).await;
    let before = app.get(&format!("/Users/{id}")).await;
    let r = app
        .patch(
            &format!("/Users/{id}"),
            json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [
                        {
                        "op": "Replace",
                        "path": "emails[type eq \"work\"].value",
                        "value": "updatedEmail@microsoft.com"
                        },
                        {
                        "op": "Replace",
                        "path": "name.familyName",
                        "value": "updatedFamilyName"
                        }
                ]
            }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let g = app.get(&format!("/Users/{id}")).await;
    assert_eq!(
        g.body["emails"],
        json!([{"value": "updatedEmail@microsoft.com", "type": "work", "primary": true}])
    );
    // Only familyName changed; what Entra sent is kept as sent (no recomputed `formatted`).
    assert_eq!(
        g.body["name"],
        json!({"formatted": "givenName familyName", "familyName": "updatedFamilyName",
               "givenName": "givenName"})
    );
    assert_eq!(g.body["userName"], TUTORIAL_USER);
    assert_eq!(g.body["active"], true);
    assert_ne!(g.body["meta"]["version"], before.body["meta"]["version"]);
    assert_eq!(without_meta(r.body.clone()), without_meta(g.body.clone()));
    // The old address no longer finds the user; the new one does.
    for (email, n) in [(TUTORIAL_EMAIL, 0), ("UPDATEDemail@microsoft.com", 1)] {
        let q = format!("emails[type eq \"work\"].value eq \"{email}\"");
        let r = app.get(&format!("/Users?filter={}", enc(&q, true))).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["totalResults"], n, "{email}: {}", r.text);
    }
}

// Tutorial › "Update User [Single-valued properties]": Replace of userName.
#[actix_web::test]
async fn update_user_single_valued_properties() {
    let app = spawn_app().await;
    let id = create_tutorial_user(&app).await;
    let r = app
        .patch(
            &format!("/Users/{id}"),
            json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{
                    "op": "Replace",
                    "path": "userName",
                    "value": "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"
                }]
            }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let g = app.get(&format!("/Users/{id}")).await;
    assert_eq!(
        g.body["userName"],
        "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"
    );
    assert_eq!(g.body["emails"][0]["value"], TUTORIAL_EMAIL);
    assert_eq!(g.body["externalId"], TUTORIAL_EXTERNAL_ID);
    let old = format!("userName eq \"{TUTORIAL_USER}\"");
    let r = app.get(&format!("/Users?filter={}", enc(&old, true))).await;
    assert_eq!(r.body["totalResults"], 0, "{}", r.text);
    let new = "userName eq \"5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com\"";
    let r = app.get(&format!("/Users?filter={}", enc(new, true))).await;
    assert_eq!(r.body["totalResults"], 1, "{}", r.text);
    assert_eq!(r.body["Resources"][0]["id"], id.as_str());
}

// Tutorial › "Disable User"; then (DESIGN "Deprovisioning", tutorial requirement "Soft-deleting
// a user active=false … The user object should be returned in a request whether or not the
// user is active") the user is still returned by GET and by filters.
#[actix_web::test]
async fn disable_user_keeps_it_visible() {
    let app = spawn_app().await;
    let id = create_tutorial_user(&app).await;
    let r = app
        .patch(
            &format!("/Users/{id}"),
            json!({
                "Operations": [
                    {
                        "op": "Replace",
                        "path": "active",
                        "value": false
                    }
                ],
                "schemas": [
                    "urn:ietf:params:scim:api:messages:2.0:PatchOp"
                ]
            }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["active"], false);
    let g = app.get(&format!("/Users/{id}")).await;
    assert_eq!(g.status, 200, "{}", g.text);
    assert_eq!(g.body["active"], false);
    assert_eq!(g.body["userName"], TUTORIAL_USER);
    let q = format!("userName eq \"{TUTORIAL_USER}\"");
    let r = app.get(&format!("/Users?filter={}", enc(&q, true))).await;
    assert_eq!(r.body["totalResults"], 1, "{}", r.text);
    assert_eq!(r.body["Resources"][0]["active"], false);
    let r = app
        .get(&format!("/Users?filter={}", enc("active eq false", false)))
        .await;
    assert_eq!(r.body["totalResults"], 1, "{}", r.text);
    assert_eq!(app.get("/Users").await.body["totalResults"], 1);
    // Re-activation.
    let r = app
        .patch(
            &format!("/Users/{id}"),
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                   "Operations": [{"op": "Replace", "path": "active", "value": true}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(app.get(&format!("/Users/{id}")).await.body["active"], true);
    // The same through a full replace (PUT) with "active": "False".
    let mut body = tutorial_create_body();
    body["active"] = json!("False");
    let r = app.put(&format!("/Users/{id}"), body).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let g = app.get(&format!("/Users/{id}")).await;
    assert_eq!(g.body["active"], false);
    assert_eq!(g.body["externalId"], TUTORIAL_EXTERNAL_ID);
    let r = app.get(&format!("/Users?filter={}", enc(&q, true))).await;
    assert_eq!(r.body["totalResults"], 1, "{}", r.text);
}

// Tutorial › "Delete User" (204), then GET is 404, a second DELETE is 404 and filters no longer
// return the user.
#[actix_web::test]
async fn delete_user_then_404() {
    let app = spawn_app().await;
    let id = create_tutorial_user(&app).await;
    let r = app.delete(&format!("/Users/{id}")).await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(r.text, "");
    app.get(&format!("/Users/{id}"))
        .await
        .assert_error(404, None);
    app.delete(&format!("/Users/{id}"))
        .await
        .assert_error(404, None);
    let q = format!("userName eq \"{TUTORIAL_USER}\"");
    let r = app.get(&format!("/Users?filter={}", enc(&q, true))).await;
    assert_eq!(r.body["totalResults"], 0, "{}", r.text);
    // The userName is free again.
    assert_eq!(app.post("/Users", tutorial_create_body()).await.status, 201);
}

// Tutorial › "Understand the Microsoft Entra SCIM implementation": "Support listing users and
// paginating" (RFC 7644 §3.4.2.4, startIndex/count).
#[actix_web::test]
async fn start_index_and_count_paging() {
    let app = spawn_app().await;
    let mut all = Vec::new();
    for i in 0..5 {
        all.push(app.create_user(&format!("page{i}@acme.com")).await);
    }
    let mut seen = Vec::new();
    for (start, expect) in [(1, 2), (3, 2), (5, 1), (6, 0)] {
        let r = app.get(&format!("/Users?startIndex={start}&count=2")).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["totalResults"], 5);
        assert_eq!(r.body["startIndex"], start);
        assert_eq!(r.body["itemsPerPage"], expect);
        let page = r.body["Resources"].as_array().unwrap();
        assert_eq!(page.len(), expect);
        seen.extend(page.iter().map(|u| u["id"].as_str().unwrap().to_string()));
    }
    // Pages are in a stable order (creation order) and cover every user exactly once.
    assert_eq!(seen, all);
    // With a filter, totalResults counts the matches, not the page.
    let r = app
        .get(&format!(
            "/Users?filter={}&startIndex=2&count=1",
            enc("userName sw \"page\"", true)
        ))
        .await;
    assert_eq!(r.body["totalResults"], 5, "{}", r.text);
    assert_eq!(user_names(&r.body), vec!["page1@acme.com"]);
}

/// `GET /Users?filter=id eq "{id}" and manager eq "{manager}"&attributes=id` → totalResults.
async fn manager_lookup(app: &TestApp, id: &str, manager: &str) -> Value {
    let q = format!("id eq \"{id}\" and manager eq \"{manager}\"");
    let r = app
        .get(&format!("/Users?filter={}&attributes=id", enc(&q, false)))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["totalResults"].clone()
}

// Tutorial › "Handling provisioning and deprovisioning of users", Example 4 (query the manager
// reference: `id eq … and manager eq …`, attributes=id) and Example 5 (PATCH Add manager as
// `[{"$ref": …, "value": …}]`); DESIGN: manager as a string or `{ "value": … }`, cleared with
// `remove` or an empty value.
#[actix_web::test]
async fn manager_set_looked_up_and_cleared() {
    let app = spawn_app().await;
    let boss = app.create_user("boss@acme.com").await;
    let boss2 = app.create_user("boss2@acme.com").await;
    let emp = app.create_user("emp@acme.com").await;
    let path = format!("/Users/{emp}");
    assert_eq!(manager_lookup(&app, &emp, &boss).await, 0);
    // Example 5, exact shape.
    let r = app
        .patch(
            &path,
            json!({
                "schemas":
                [
                  "urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations":
                [
                  {
                    "op":"Add",
                    "path":"manager",
                    "value":
                      [
                        {
                          "$ref": format!("http://.../scim/Users/{boss}"),
                          "value": boss}]}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let g = app.get(&path).await;
    assert_eq!(g.body[ENTERPRISE]["manager"]["value"], boss.as_str());
    assert!(
        g.body["schemas"]
            .as_array()
            .unwrap()
            .contains(&json!(ENTERPRISE))
    );
    assert_eq!(manager_lookup(&app, &emp, &boss).await, 1);
    assert_eq!(manager_lookup(&app, &emp, &boss2).await, 0);
    assert_eq!(manager_lookup(&app, &boss, &boss).await, 0);
    let q = format!("id eq \"{emp}\" and manager eq \"{boss}\"");
    let r = app
        .get(&format!("/Users?filter={}&attributes=id", enc(&q, false)))
        .await;
    assert_eq!(
        r.body["Resources"],
        json!([{"schemas": [CORE, ENTERPRISE], "id": emp}])
    );
    // A bare string, URN-qualified.
    let r = app
        .patch(
            &path,
            patch(
                json!([{"op": "Replace", "path": format!("{ENTERPRISE}:manager"), "value": boss2}]),
            ),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        app.get(&path).await.body[ENTERPRISE]["manager"]["value"],
        boss2.as_str()
    );
    assert_eq!(manager_lookup(&app, &emp, &boss2).await, 1);
    assert_eq!(manager_lookup(&app, &emp, &boss).await, 0);
    // `{"value": …}`.
    let r = app
        .patch(
            &path,
            patch(json!([{"op": "Replace", "path": "manager", "value": {"value": boss}}])),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(manager_lookup(&app, &emp, &boss).await, 1);
    // Cleared with remove.
    let r = app
        .patch(&path, patch(json!([{"op": "Remove", "path": "manager"}])))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let g = app.get(&path).await;
    assert!(g.body.get(ENTERPRISE).is_none(), "{}", g.text);
    assert_eq!(manager_lookup(&app, &emp, &boss).await, 0);
    // Set again, cleared with an empty value (string, then object form).
    for empty in [json!(""), json!({"value": ""})] {
        let r = app
            .patch(
                &path,
                patch(json!([{"op": "Add", "path": "manager", "value": boss}])),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(manager_lookup(&app, &emp, &boss).await, 1);
        let r = app
            .patch(
                &path,
                patch(json!([{"op": "Replace", "path": "manager", "value": empty}])),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let g = app.get(&path).await;
        assert!(g.body.get(ENTERPRISE).is_none(), "{empty}: {}", g.text);
        assert_eq!(manager_lookup(&app, &emp, &boss).await, 0);
    }
}

// DESIGN "Store": userName is unique per org case-insensitively and externalId is unique per
// org; a PATCH that would break either is a 409 and changes nothing.
#[actix_web::test]
async fn user_name_and_external_id_stay_unique() {
    let app = spawn_app().await;
    let first = create_tutorial_user(&app).await;
    let other = app.create_user("other@acme.com").await;
    let r = app
        .post(
            "/Users",
            json!({"userName": "third@acme.com", "externalId": TUTORIAL_EXTERNAL_ID}),
        )
        .await;
    r.assert_error(409, Some("uniqueness"));
    let before = app.get(&format!("/Users/{other}")).await;
    for (path, value) in [
        ("userName", TUTORIAL_USER.to_lowercase()),
        ("externalId", TUTORIAL_EXTERNAL_ID.to_string()),
    ] {
        let op = json!([{"op": "Replace", "path": path, "value": value}]);
        let r = app.patch(&format!("/Users/{other}"), patch(op)).await;
        r.assert_error(409, Some("uniqueness"));
        let after = app.get(&format!("/Users/{other}")).await;
        assert_eq!(after.body, before.body, "{path}");
    }
    assert_eq!(app.get("/Users").await.body["totalResults"], 2);
    // A user may take its own userName in another case.
    let op = json!([{"op": "Replace", "path": "userName", "value": TUTORIAL_USER.to_uppercase()}]);
    let r = app.patch(&format!("/Users/{first}"), patch(op)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["userName"], TUTORIAL_USER.to_uppercase());
}

// Path-less operations as other Entra configurations send them (DESIGN "Entra's SCIM habits":
// path-less replace/add; value keys may carry value filters).
#[actix_web::test]
async fn path_less_add_and_replace_variants() {
    let app = spawn_app().await;
    let id = create_tutorial_user(&app).await;
    let path = format!("/Users/{id}");
    let ops = json!([
        {"op": "Replace", "value": {"active": false}},
        {"op": "add", "value": {"nickName": "Babs", "title": "Tester"}},
        {"op": "Replace", "value": {"emails[type eq \"work\"].value": "new@testuser.com"}},
        {"op": "Add", "value": {ENTERPRISE: {"department": "QA", "manager": {"value": "m-1"}}}}
    ]);
    let r = app.patch(&path, patch(ops)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let g = app.get(&path).await;
    assert_eq!(g.body["active"], false);
    assert_eq!(g.body["nickName"], "Babs");
    assert_eq!(g.body["title"], "Tester");
    let work = json!([{"value": "new@testuser.com", "type": "work", "primary": true}]);
    assert_eq!(g.body["emails"], work);
    let ent = json!({"department": "QA", "manager": {"value": "m-1"}});
    assert_eq!(g.body[ENTERPRISE], ent);
    assert_eq!(g.body["name"]["givenName"], "givenName");
    // A PATCH that changes nothing keeps the version.
    let v = g.body["meta"]["version"].clone();
    let op = json!([{"op": "Replace", "path": "nickName", "value": "Babs"}]);
    let r = app.patch(&path, patch(op)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(app.get(&path).await.body["meta"]["version"], v);
}

// Entra provisions in parallel: the same userName created concurrently, in different cases,
// yields exactly one user; the others are 409 uniqueness.
#[actix_web::test]
async fn concurrent_creates_of_one_user_name() {
    let app = spawn_app().await;
    let mut tasks = Vec::new();
    for i in 0..10 {
        let client = app.client.clone();
        let url = app.scim("/Users");
        let auth = format!("Bearer {}", app.token);
        let name = if i % 2 == 0 {
            "Race@acme.com"
        } else {
            "race@ACME.com"
        };
        let body = json!({"userName": name, "externalId": format!("ext-{i}")});
        tasks.push(actix_web::rt::spawn(async move {
            let req = client
                .post(url)
                .insert_header(("Authorization", auth))
                .insert_header(("Content-Type", "application/scim+json"));
            req.send_body(body.to_string())
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    statuses.sort();
    assert_eq!(statuses, [201, 409, 409, 409, 409, 409, 409, 409, 409, 409]);
    assert_eq!(app.get("/Users").await.body["totalResults"], 1);
}
