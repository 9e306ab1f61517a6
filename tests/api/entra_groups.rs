//! Microsoft's own group requests, replayed as Entra sends them, each checked by reading the
//! state back. Source unless said otherwise: "Tutorial: Develop and plan provisioning for a
//! SCIM endpoint in Microsoft Entra ID" (learn.microsoft.com/entra/identity/app-provisioning/
//! use-scim-to-provision-users-and-groups), section "Group Operations".

use serde_json::{Value, json};

use crate::helpers::{TestApp, enc, patch, spawn_app};

const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

/// The body of "Create Group" › Request, exactly as the tutorial shows it.
fn tutorial_group_body() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group", "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
        "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
        "displayName": "displayName",
        "meta": {
            "resourceType": "Group"
        }
    })
}

async fn create_group(app: &TestApp, name: &str) -> String {
    let r = app
        .post("/Groups", json!({"schemas": [GROUP], "displayName": name}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body["id"].as_str().unwrap().to_string()
}

/// The member ids of a group, sorted, read back with GET.
async fn member_ids(app: &TestApp, group: &str) -> Vec<String> {
    let r = app.get(&format!("/Groups/{group}")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let mut ids: Vec<String> = r.body["members"]
        .as_array()
        .unwrap_or_else(|| panic!("no members array: {}", r.text))
        .iter()
        .map(|m| m["value"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

fn sorted(ids: &[&String]) -> Vec<String> {
    let mut v: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

// Tutorial › Group Operations: "Create Group", "Get Group" (excludedAttributes=members),
// "Get Group by displayName", "Update Group [Non-member attributes]", "Update Group [Add
// Members]", "Update Group [Remove Members]", "Delete Group", in that order.
#[actix_web::test]
async fn tutorial_group_operations_in_sequence() {
    let app = spawn_app().await;
    let user = app.create_user("member@acme.com").await;
    // Create Group.
    let r = app.post("/Groups", tutorial_group_body()).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["id"].as_str().unwrap().to_string();
    assert_eq!(r.body["schemas"], json!([GROUP]));
    assert_eq!(r.body["externalId"], "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159");
    assert_eq!(r.body["displayName"], "displayName");
    assert_eq!(r.body["members"], json!([]));
    assert_eq!(r.body["meta"]["resourceType"], "Group");
    // Get Group.
    let r = app
        .get(&format!("/Groups/{id}?excludedAttributes=members"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let mut shown = r.body.clone();
    shown.as_object_mut().unwrap().remove("meta");
    assert_eq!(
        shown,
        json!({"schemas": [GROUP], "id": id,
               "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
               "displayName": "displayName"})
    );
    // Get Group by displayName.
    let r = app
        .get(&format!(
            "/Groups?excludedAttributes=members&filter={}",
            enc("displayName eq \"displayName\"", true)
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["totalResults"], 1);
    assert_eq!(r.body["Resources"][0]["id"], id.as_str());
    assert_eq!(r.body["Resources"][0]["displayName"], "displayName");
    assert!(
        r.body["Resources"][0].get("members").is_none(),
        "{}",
        r.text
    );
    // Update Group [Non-member attributes].
    let r = app
        .patch(
            &format!("/Groups/{id}"),
            json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{
                    "op": "Replace",
                    "path": "displayName",
                    "value": "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"
                }]
            }),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(r.text, "");
    let g = app.get(&format!("/Groups/{id}")).await;
    assert_eq!(
        g.body["displayName"],
        "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"
    );
    assert_eq!(g.body["externalId"], "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159");
    // Update Group [Add Members].
    let r = app
        .patch(
            &format!("/Groups/{id}"),
            json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{
                    "op": "Add",
                    "path": "members",
                    "value": [{
                        "$ref": null,
                        "value": user
                    }]
                }]
            }),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let g = app.get(&format!("/Groups/{id}")).await;
    assert_eq!(
        g.body["members"],
        json!([{"value": user, "type": "User", "display": "member@acme.com",
                "$ref": format!("http://127.0.0.1:8080/scim/v2/Users/{user}")}])
    );
    // Update Group [Remove Members].
    let r = app
        .patch(
            &format!("/Groups/{id}"),
            json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{
                    "op": "Remove",
                    "path": "members",
                    "value": [{
                        "$ref": null,
                        "value": user
                    }]
                }]
            }),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(member_ids(&app, &id).await, Vec::<String>::new());
    // Delete Group.
    let r = app.delete(&format!("/Groups/{id}")).await;
    assert_eq!(r.status, 204, "{}", r.text);
    app.get(&format!("/Groups/{id}"))
        .await
        .assert_error(404, None);
    app.delete(&format!("/Groups/{id}"))
        .await
        .assert_error(404, None);
    // The former member is untouched.
    assert_eq!(app.get(&format!("/Users/{user}")).await.status, 200);
}

// DESIGN "Entra's SCIM habits": member operations touch only the named members; removal both
// as `path: members` + value array ("Known issues…" › "Requests made to remove a group member"
// › Without feature flag) and as `members[value eq "id"]` (› With feature flag).
#[actix_web::test]
async fn member_changes_touch_only_named_members() {
    let app = spawn_app().await;
    let a = app.create_user("a@acme.com").await;
    let b = app.create_user("b@acme.com").await;
    let c = app.create_user("c@acme.com").await;
    let outsider = app.create_user("outsider@acme.com").await;
    let g = create_group(&app, "Engineering").await;
    let path = format!("/Groups/{g}");
    let r = app
        .patch(
            &path,
            patch(json!([{"op": "Add", "path": "members",
                          "value": [{"value": a}, {"value": b}, {"value": c}]}])),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(member_ids(&app, &g).await, sorted(&[&a, &b, &c]));
    // Without feature flag: path members + value array.
    let r = app
        .patch(
            &path,
            json!({
                "schemas": [
                    "urn:ietf:params:scim:api:messages:2.0:PatchOp"
                ],
                "Operations": [
                    {
                        "op": "Remove",
                        "path": "members",
                        "value": [
                            {
                                "value": b
                            }
                        ]
                    }
                ]
            }),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(member_ids(&app, &g).await, sorted(&[&a, &c]));
    // Removing a user who is not a member changes nothing.
    let r = app
        .patch(
            &path,
            patch(json!([{"op": "Remove", "path": "members", "value": [{"value": outsider}]}])),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(member_ids(&app, &g).await, sorted(&[&a, &c]));
    // With feature flag: members[value eq "id"].
    let r = app
        .patch(
            &path,
            json!({
                "schemas": [
                    "urn:ietf:params:scim:api:messages:2.0:PatchOp"
                ],
                "Operations": [
                    {
                        "op": "remove",
                        "path": format!("members[value eq \"{a}\"]")
                    }
                ]
            }),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(member_ids(&app, &g).await, vec![c.clone()]);
    // Several membership changes in one PATCH (gallery checklist: "Support updating multiple
    // group memberships with a single PATCH").
    let r = app
        .patch(
            &path,
            patch(json!([
                {"op": "Add", "path": "members", "value": [{"value": a}]},
                {"op": "Add", "path": "members", "value": [{"value": b}]},
                {"op": "Remove", "path": "members", "value": [{"value": c}]}
            ])),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(member_ids(&app, &g).await, sorted(&[&a, &b]));
    // Every user still exists.
    for u in [&a, &b, &c, &outsider] {
        assert_eq!(app.get(&format!("/Users/{u}")).await.status, 200);
    }
}

// DESIGN: "Re-adding an existing member changes nothing" — the member list.
#[actix_web::test]
async fn re_adding_an_existing_member_keeps_the_members() {
    let app = spawn_app().await;
    let a = app.create_user("a@acme.com").await;
    let b = app.create_user("b@acme.com").await;
    let g = create_group(&app, "Sales").await;
    let add = |v: &str| patch(json!([{"op": "Add", "path": "members", "value": [{"value": v}]}]));
    assert_eq!(
        app.patch(&format!("/Groups/{g}"), add(&a)).await.status,
        204
    );
    assert_eq!(
        app.patch(&format!("/Groups/{g}"), add(&b)).await.status,
        204
    );
    let r = app.patch(&format!("/Groups/{g}"), add(&a)).await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(member_ids(&app, &g).await, sorted(&[&a, &b]));
}

// DESIGN: "Re-adding an existing member changes nothing" — nor the group's version (a PATCH
// that changes nothing on a user keeps its meta.version; the same is expected of groups).
#[actix_web::test]
async fn re_adding_an_existing_member_keeps_the_version() {
    let app = spawn_app().await;
    let a = app.create_user("a@acme.com").await;
    let g = create_group(&app, "Sales").await;
    let add = patch(json!([{"op": "Add", "path": "members", "value": [{"value": a}]}]));
    assert_eq!(
        app.patch(&format!("/Groups/{g}"), add.clone()).await.status,
        204
    );
    let before = app.get(&format!("/Groups/{g}")).await;
    let r = app.patch(&format!("/Groups/{g}"), add).await;
    assert_eq!(r.status, 204, "{}", r.text);
    let after = app.get(&format!("/Groups/{g}")).await;
    assert_eq!(after.body["meta"], before.body["meta"]);
    assert_eq!(after.header("etag"), before.header("etag"));
}

// Tutorial › "Requirement: The filter excludedAttributes=members when querying the group
// resource"; Group Operations: "Requests to retrieve groups specify that the members attribute
// is to be excluded".
#[actix_web::test]
async fn excluded_attributes_members_omits_members() {
    let app = spawn_app().await;
    let u = app.create_user("m@acme.com").await;
    let r = app
        .post(
            "/Groups",
            json!({"schemas": [GROUP], "displayName": "Ops", "members": [{"value": u}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let g = r.body["id"].as_str().unwrap().to_string();
    let r = app.get(&format!("/Groups/{g}")).await;
    assert_eq!(r.body["members"][0]["value"], u.as_str());
    for q in [
        format!("/Groups/{g}?excludedAttributes=members"),
        format!("/Groups/{g}?excludedAttributes=Members"),
        format!("/Groups/{g}?attributes=displayName"),
    ] {
        let r = app.get(&q).await;
        assert_eq!(r.status, 200, "{q}: {}", r.text);
        assert!(r.body.get("members").is_none(), "{q}: {}", r.text);
        assert_eq!(r.body["displayName"], "Ops", "{q}");
        assert_eq!(r.body["id"], g.as_str(), "{q}");
    }
    let r = app.get("/Groups?excludedAttributes=members").await;
    assert_eq!(r.body["totalResults"], 1);
    assert!(
        r.body["Resources"][0].get("members").is_none(),
        "{}",
        r.text
    );
    assert_eq!(r.body["Resources"][0]["displayName"], "Ops");
    let r = app.get("/Groups").await;
    assert_eq!(r.body["Resources"][0]["members"][0]["value"], u.as_str());
}

// DESIGN "Deprovisioning": deleting a group never deletes its members; deleting a user removes
// its memberships.
#[actix_web::test]
async fn group_and_user_deletion_and_memberships() {
    let app = spawn_app().await;
    let a = app.create_user("a@acme.com").await;
    let b = app.create_user("b@acme.com").await;
    let g1 = create_group(&app, "One").await;
    let g2 = create_group(&app, "Two").await;
    for g in [&g1, &g2] {
        let r = app
            .patch(
                &format!("/Groups/{g}"),
                patch(json!([{"op": "Add", "path": "members",
                              "value": [{"value": a}, {"value": b}]}])),
            )
            .await;
        assert_eq!(r.status, 204, "{}", r.text);
    }
    assert_eq!(app.delete(&format!("/Groups/{g1}")).await.status, 204);
    assert_eq!(app.get("/Users").await.body["totalResults"], 2);
    assert_eq!(app.get(&format!("/Users/{a}")).await.status, 200);
    assert_eq!(member_ids(&app, &g2).await, sorted(&[&a, &b]));
    assert_eq!(app.delete(&format!("/Users/{a}")).await.status, 204);
    assert_eq!(member_ids(&app, &g2).await, vec![b.clone()]);
    let q = format!("members eq \"{a}\"");
    let r = app.get(&format!("/Groups?filter={}", enc(&q, false))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["totalResults"], 0, "{}", r.text);
    // Entra's reference check on members (tutorial › Group provisioning: "requests about the
    // members attribute"): `id eq … and members eq …`, attributes=id.
    for (user, n) in [(&a, 0), (&b, 1)] {
        let q = enc(&format!("id eq \"{g2}\" and members eq \"{user}\""), false);
        let r = app.get(&format!("/Groups?filter={q}&attributes=id")).await;
        assert_eq!(r.body["totalResults"], n, "{}", r.text);
    }
    let q = format!("members.value eq \"{b}\"");
    let r = app.get(&format!("/Groups?filter={}", enc(&q, false))).await;
    assert_eq!(r.body["totalResults"], 1, "{}", r.text);
    assert_eq!(r.body["Resources"][0]["id"], g2.as_str());
}

// DESIGN: "A group's displayName is unique per org, case-insensitively (409 uniqueness…)";
// tutorial › /Groups: "Groups must have uniqueness on the 'displayName' value".
#[actix_web::test]
async fn display_name_is_unique_case_insensitively() {
    let app = spawn_app().await;
    let g = create_group(&app, "Sales Team").await;
    let other = create_group(&app, "Marketing").await;
    app.post(
        "/Groups",
        json!({"schemas": [GROUP], "displayName": "SALES team"}),
    )
    .await
    .assert_error(409, Some("uniqueness"));
    // Renaming another group onto it, in another case, is refused too and changes nothing.
    let r = app
        .patch(
            &format!("/Groups/{other}"),
            patch(json!([{"op": "Replace", "path": "displayName", "value": "sales TEAM"}])),
        )
        .await;
    r.assert_error(409, Some("uniqueness"));
    assert_eq!(
        app.get(&format!("/Groups/{other}")).await.body["displayName"],
        "Marketing"
    );
    assert_eq!(app.get("/Groups").await.body["totalResults"], 2);
    // Changing only the case of its own name is fine.
    let r = app
        .patch(
            &format!("/Groups/{g}"),
            patch(json!([{"op": "Replace", "path": "displayName", "value": "SALES TEAM"}])),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(
        app.get(&format!("/Groups/{g}")).await.body["displayName"],
        "SALES TEAM"
    );
}

// Tutorial › "Get Group by displayName"; DESIGN: "filters on userName and displayName match in
// any case".
#[actix_web::test]
async fn display_name_filter_matches_in_any_case() {
    let app = spawn_app().await;
    let g = create_group(&app, "Sales Team").await;
    create_group(&app, "Sales").await;
    for (name, plus) in [
        ("Sales Team", true),
        ("sales team", false),
        ("SALES TEAM", true),
    ] {
        let q = format!("displayName eq \"{name}\"");
        let r = app
            .get(&format!(
                "/Groups?excludedAttributes=members&filter={}",
                enc(&q, plus)
            ))
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["totalResults"], 1, "{name}: {}", r.text);
        assert_eq!(r.body["Resources"][0]["id"], g.as_str());
        assert_eq!(r.body["Resources"][0]["displayName"], "Sales Team");
    }
}

// Atomicity of a group PATCH: the last operation names a member that does not exist → 400,
// and neither the rename nor the valid member change of the earlier operations happened.
#[actix_web::test]
async fn failed_group_patch_changes_nothing() {
    let app = spawn_app().await;
    let a = app.create_user("a@acme.com").await;
    let b = app.create_user("b@acme.com").await;
    let g = create_group(&app, "Stable").await;
    let path = format!("/Groups/{g}");
    let r = app
        .patch(
            &path,
            patch(json!([{"op": "Add", "path": "members", "value": [{"value": a}]}])),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let before = app.get(&path).await;
    let r = app
        .patch(
            &path,
            patch(json!([
                {"op": "Replace", "path": "displayName", "value": "Renamed"},
                {"op": "Add", "path": "members", "value": [{"value": b}]},
                {"op": "Remove", "path": "members", "value": [{"value": a}]},
                {"op": "Add", "path": "members",
                 "value": [{"value": "00000000-0000-0000-0000-000000000000"}]}
            ])),
        )
        .await;
    r.assert_error(400, Some("invalidValue"));
    let after = app.get(&path).await;
    assert_eq!(after.body, before.body);
    assert_eq!(member_ids(&app, &g).await, vec![a.clone()]);
}

// RFC 7644 §3.5.2.3 replace of members, removal of several members with one `or` filter,
// PATCH with `attributes` answering 200 with the group, and POST /Groups/.search.
#[actix_web::test]
async fn replace_members_or_filter_and_search() {
    let app = spawn_app().await;
    let a = app.create_user("a@acme.com").await;
    let b = app.create_user("b@acme.com").await;
    let c = app.create_user("c@acme.com").await;
    let g = create_group(&app, "Replace Me").await;
    let path = format!("/Groups/{g}");
    let all = json!([{"value": a}, {"value": b}, {"value": c}]);
    let op = json!([{"op": "Add", "path": "members", "value": all}]);
    assert_eq!(app.patch(&path, patch(op)).await.status, 204);
    let op = json!([{"op": "Replace", "path": "members", "value": [{"value": b}, {"value": c}]}]);
    assert_eq!(app.patch(&path, patch(op)).await.status, 204);
    assert_eq!(member_ids(&app, &g).await, sorted(&[&b, &c]));
    let filter = format!("members[value eq \"{b}\" or value eq \"{c}\"]");
    let op = json!([{"op": "Remove", "path": filter}]);
    assert_eq!(app.patch(&path, patch(op)).await.status, 204);
    assert_eq!(member_ids(&app, &g).await, Vec::<String>::new());
    let op = json!([{"op": "Add", "path": "members", "value": [{"value": a}]}]);
    let r = app
        .patch(&format!("{path}?attributes=members,displayName"), patch(op))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["displayName"], "Replace Me");
    assert_eq!(r.body["members"][0]["value"], a.as_str());
    assert_eq!(r.body["members"].as_array().unwrap().len(), 1);
    let body =
        json!({"filter": "displayName eq \"replace me\"", "excludedAttributes": ["members"]});
    let r = app.post("/Groups/.search", body).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["totalResults"], 1);
    assert_eq!(r.body["Resources"][0]["id"], g.as_str());
    assert!(
        r.body["Resources"][0].get("members").is_none(),
        "{}",
        r.text
    );
    // A group created with a member that does not exist is refused and not created.
    let body = json!({"displayName": "Ghosts", "members": [{"value": "no-such-id"}]});
    app.post("/Groups", body)
        .await
        .assert_error(400, Some("invalidValue"));
    assert_eq!(app.get("/Groups").await.body["totalResults"], 1);
}

// Entra provisions in parallel: concurrent member additions to one group (and one failing
// among them) must each land, touching only their own member.
#[actix_web::test]
async fn concurrent_member_additions_all_land() {
    let app = spawn_app().await;
    let g = create_group(&app, "Parallel").await;
    let mut users = Vec::new();
    for i in 0..20 {
        users.push(app.create_user(&format!("p{i}@acme.com")).await);
    }
    let mut ids: Vec<String> = users.clone();
    ids.push("00000000-0000-0000-0000-000000000000".into());
    let mut tasks = Vec::new();
    for id in ids {
        let client = app.client.clone();
        let url = app.scim(&format!("/Groups/{g}"));
        let auth = format!("Bearer {}", app.token);
        let body = patch(json!([{"op": "Add", "path": "members", "value": [{"value": id}]}]));
        tasks.push(actix_web::rt::spawn(async move {
            let req = client
                .patch(url)
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
    assert_eq!(
        statuses.iter().filter(|s| **s == 204).count(),
        20,
        "{statuses:?}"
    );
    assert_eq!(statuses.last(), Some(&400));
    let mut expect = users.clone();
    expect.sort();
    assert_eq!(member_ids(&app, &g).await, expect);
}
