//! Authentication, org settings that gate SCIM, and isolation between orgs.

use base64::Engine;
use idgate::clock::{Clock, timestamp};
use idgate::store::orgs;
use serde_json::json;

use crate::helpers::{create_org, spawn_app};

#[actix_web::test]
async fn missing_malformed_wrong_and_revoked_tokens_are_401() {
    let app = spawn_app().await;
    let r = app.raw("GET", "/Users", &[], None).await;
    r.assert_error(401, None);
    assert!(r.header("www-authenticate").is_some());
    for header in ["Bearer", "Token abc", "Bearer idgs_wrong", "Basic !!!"] {
        let r = app
            .raw("GET", "/Users", &[("Authorization", header)], None)
            .await;
        r.assert_error(401, None);
    }
    assert_eq!(app.get("/Users").await.status, 200);
    // Revocation takes effect at once, as the CLI does it.
    app.store
        .write_now(|c| {
            let org = orgs::require_org(c, "acme")?;
            orgs::revoke_token(c, org.id, "test", &timestamp(Clock::System.now()))
        })
        .unwrap();
    app.get("/Users").await.assert_error(401, None);
}

#[actix_web::test]
async fn basic_auth_with_the_token_as_password_is_accepted() {
    let app = spawn_app().await;
    let creds = base64::engine::general_purpose::STANDARD.encode(format!("entra:{}", app.token));
    let r = app
        .raw(
            "GET",
            "/Users",
            &[("Authorization", &format!("Basic {creds}"))],
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[actix_web::test]
async fn scim_off_is_403_and_group_sync_off_is_403_on_groups_only() {
    let app = spawn_app().await;
    let set = |change: orgs::SettingsChange| {
        app.store
            .write_now(|c| {
                let org = orgs::require_org(c, "acme")?;
                orgs::update_settings(c, org.id, &change)
            })
            .unwrap()
    };
    set(orgs::SettingsChange {
        group_sync: Some(false),
        ..Default::default()
    });
    let r = app.get("/Groups").await;
    r.assert_error(403, None);
    assert!(r.body["detail"].as_str().unwrap().contains("group sync"));
    app.post("/Groups", json!({"displayName": "x"}))
        .await
        .assert_error(403, None);
    assert_eq!(app.get("/Users").await.status, 200);
    set(orgs::SettingsChange {
        scim_enabled: Some(false),
        ..Default::default()
    });
    app.get("/Users").await.assert_error(403, None);
    set(orgs::SettingsChange {
        scim_enabled: Some(true),
        group_sync: Some(true),
        ..Default::default()
    });
    assert_eq!(app.get("/Groups").await.status, 200);
}

#[actix_web::test]
async fn orgs_are_isolated() {
    let app = spawn_app().await;
    let other = create_org(&app.store, "globex", "globex.com");
    let alice_a = app.create_user("alice@shared.example").await;
    // The same userName may exist in both orgs.
    let r = app
        .call_as(
            &other,
            "POST",
            "/Users",
            Some(json!({"userName": "alice@shared.example"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let alice_b = r.body["id"].as_str().unwrap().to_string();
    assert_ne!(alice_a, alice_b);
    // B cannot read, find, change or delete A's user.
    app.call_as(&other, "GET", &format!("/Users/{alice_a}"), None)
        .await
        .assert_error(404, None);
    let r = app
        .call_as(
            &other,
            "GET",
            "/Users?filter=userName%20eq%20%22alice@shared.example%22",
            None,
        )
        .await;
    assert_eq!(r.body["totalResults"], 1);
    assert_eq!(r.body["Resources"][0]["id"], alice_b.as_str());
    let r = app.call_as(&other, "GET", "/Users", None).await;
    assert_eq!(r.body["totalResults"], 1);
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "displayName", "value": "pwned"}]});
    app.call_as(&other, "PATCH", &format!("/Users/{alice_a}"), Some(patch))
        .await
        .assert_error(404, None);
    app.call_as(
        &other,
        "PUT",
        &format!("/Users/{alice_a}"),
        Some(json!({"userName": "x"})),
    )
    .await
    .assert_error(404, None);
    app.call_as(&other, "DELETE", &format!("/Users/{alice_a}"), None)
        .await
        .assert_error(404, None);
    // B cannot add A's user to its group.
    let r = app
        .call_as(
            &other,
            "POST",
            "/Groups",
            Some(json!({"displayName": "g", "members": [{"value": alice_a}]})),
        )
        .await;
    r.assert_error(400, Some("invalidValue"));
    let r = app.get(&format!("/Users/{alice_a}")).await;
    assert_eq!(r.status, 200);
    assert!(r.body.get("displayName").is_none());
}
