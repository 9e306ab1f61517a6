//! OAuth 2.0 client credentials for the SCIM API (RFC 6749 §4.4, errors per §5.2).

use base64::Engine as _;
use idgate::clock::{Clock, timestamp};
use idgate::store::{accounts, orgs};

use crate::helpers::{TestApp, create_org, spawn_app};

const SECRET: &str = "idgo_test-secret-with-plenty-of-entropy-0123456789";

fn create_client(app: &TestApp, org: &str, name: &str, client_id: &str) {
    let now = timestamp(Clock::System.now());
    app.store
        .write_now(|c| {
            let o = orgs::require_org(c, org)?;
            accounts::create_client(c, o.id, name, client_id, SECRET, &now)
        })
        .unwrap();
}

async fn token_by_basic(app: &TestApp, client_id: &str, secret: &str) -> crate::helpers::Resp {
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{client_id}:{secret}"));
    app.web(
        "POST",
        "/oauth/token",
        &[
            ("Authorization", &format!("Basic {basic}")),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        Some("grant_type=client_credentials".into()),
    )
    .await
}

#[actix_web::test]
async fn client_credentials_give_a_scim_token_for_one_org_until_revoked() {
    let app = spawn_app().await;
    let beta_token = create_org(&app.store, "beta", "beta.com");
    create_client(&app, "acme", "entra", "idgc_acme");
    app.create_user("ann@acme.com").await;
    let r = app
        .call_as(
            &beta_token,
            "POST",
            "/Users",
            Some(serde_json::json!({"userName": "zed@beta.com"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);

    let r = token_by_basic(&app, "idgc_acme", SECRET).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    assert_eq!(r.body["token_type"], "Bearer");
    assert_eq!(r.body["expires_in"], 3600);
    let access = r.body["access_token"].as_str().unwrap().to_string();

    let users = app.call_as(&access, "GET", "/Users", None).await;
    assert_eq!(users.status, 200, "{}", users.text);
    assert_eq!(users.body["totalResults"], 1);
    assert_eq!(users.body["Resources"][0]["userName"], "ann@acme.com");
    // The provisioning log (written in the background) names the client.
    let mut named = false;
    for _ in 0..50 {
        named = app
            .request_log()
            .iter()
            .any(|r| r.token_name.as_deref() == Some("oauth:entra"));
        if named {
            break;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(named, "no provisioning-log row names the OAuth client");

    // Form-field client authentication works too.
    let r = app
        .web(
            "POST",
            "/oauth/token",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            Some(format!(
                "grant_type=client_credentials&client_id=idgc_acme&client_secret={SECRET}"
            )),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    // A session token is not a SCIM token, and the access token is not a session.
    assert_eq!(app.verify(&access).await.status, 401);

    // Revocation is immediate.
    app.store
        .write_now(|c| {
            let o = orgs::require_org(c, "acme")?;
            accounts::revoke_client(c, o.id, "entra", &timestamp(Clock::System.now()))
        })
        .unwrap();
    let r = app.call_as(&access, "GET", "/Users", None).await;
    r.assert_error(401, None);
    let r = token_by_basic(&app, "idgc_acme", SECRET).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.body["error"], "invalid_client");
}

#[actix_web::test]
async fn token_endpoint_errors_follow_rfc_6749() {
    let app = spawn_app().await;
    create_client(&app, "acme", "entra", "idgc_acme");
    let r = token_by_basic(&app, "idgc_acme", "wrong").await;
    assert_eq!(r.status, 401, "{}", r.text);
    assert_eq!(r.body["error"], "invalid_client");
    assert!(r.header("www-authenticate").unwrap().starts_with("Basic"));
    let r = token_by_basic(&app, "nobody", SECRET).await;
    assert_eq!(r.body["error"], "invalid_client");
    let form = |body: &str| {
        app.web(
            "POST",
            "/oauth/token",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            Some(body.to_string()),
        )
    };
    let r = form(&format!(
        "grant_type=password&client_id=idgc_acme&client_secret={SECRET}"
    ))
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"], "unsupported_grant_type");
    let r = form(&format!("client_id=idgc_acme&client_secret={SECRET}")).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"], "invalid_request");
    let r = form("grant_type=client_credentials").await;
    assert_eq!(r.status, 401);
    assert_eq!(r.body["error"], "invalid_client");
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("idgc_acme:{SECRET}"));
    let r = app
        .web(
            "POST",
            "/oauth/token",
            &[
                ("Authorization", &format!("Basic {basic}")),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            Some(format!(
                "grant_type=client_credentials&client_id=idgc_acme&client_secret={SECRET}"
            )),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"], "invalid_request");
    // A forged JWT is not a SCIM credential.
    let r = app
        .call_as(
            "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln",
            "GET",
            "/Users",
            None,
        )
        .await;
    r.assert_error(401, None);
}
