//! OIDC identity: who a token reaches and who may link it — never an unverified email —
//! roles and JIT, org admins through Entra, and the idgate app's Connect binding the tenant
//! of the verified token. Against the in-process fake Entra.

use serde_json::{Value, json};

use crate::browser::{reference_of, session_of};
use crate::fake_entra::{CLIENT_ID, FakeEntra, OTHER_TENANT, SECRET, TENANT};
use crate::helpers::{Resp, TestApp, spawn_app_with};
use crate::oidc::{OID, callback, oidc_app, provision, redeem, refusal, signin, start};

#[actix_web::test]
async fn no_account_is_ever_linked_by_an_unverified_email() {
    let (app, entra) = oidc_app().await;
    // A provisioned user without externalId (SCIM mapping not set), userName = the email.
    let r = app
        .post("/Users", json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "ceo@acme.com"}))
        .await;
    let ceo = r.body["id"].as_str().unwrap().to_string();
    // An attacker's account (a guest, or a tenant where anyone can set `email`) claims the
    // CEO's address without Entra verifying it: never linked.
    let attacker = |c: &mut Value| {
        c["oid"] = json!("aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee");
        c["email"] = json!("CEO@acme.com");
        c["xms_edov"] = json!(false);
        c["preferred_username"] = json!("ceo@acme.com");
        c["upn"] = json!("attacker_gmail.com#EXT#@acme.onmicrosoft.com");
    };
    let r = signin(&app, &entra, attacker).await;
    assert_eq!(refusal(&app, &r).0, "not_provisioned");
    // Nor by a guest's upn.
    let r = signin(&app, &entra, |c| {
        attacker(c);
        c["upn"] = json!("ceo@acme.com");
        c["acct"] = json!(1);
    })
    .await;
    assert_eq!(refusal(&app, &r).0, "not_provisioned");
    // The real CEO: a member whose upn is the userName — linked, by the upn rule.
    let ceo_claims = |c: &mut Value| {
        c["oid"] = json!("c0c0c0c0-1111-4222-8333-444444444444");
        c["upn"] = json!("CEO@acme.com");
        c["email"] = json!("ceo@acme.com");
        c["xms_edov"] = json!(false);
    };
    let r = signin(&app, &entra, ceo_claims).await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert_eq!(app.signin_log()[0].user_id.as_deref(), Some(ceo.as_str()));
    // Now linked to that oid: another account with the CEO's *verified* email is refused.
    let r = signin(&app, &entra, |c| {
        c["oid"] = json!("dddddddd-1111-4222-8333-444444444444");
        c["upn"] = json!("someone@acme.com");
        c["email"] = json!("ceo@acme.com");
        c["xms_edov"] = json!(true);
    })
    .await;
    assert_eq!(refusal(&app, &r).0, "linked_to_other_account");
    // The link holds when the upn changes (a rename in Entra).
    let r = signin(&app, &entra, |c| {
        ceo_claims(c);
        c["upn"] = json!("chief@acme.com");
    })
    .await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert_eq!(app.signin_log()[0].user_id.as_deref(), Some(ceo.as_str()));
    // A verified email links a user nothing else matched.
    let r = app
        .post("/Users", json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "bob@acme.com"}))
        .await;
    let bob = r.body["id"].as_str().unwrap().to_string();
    let r = signin(&app, &entra, |c| {
        c["oid"] = json!("b0b0b0b0-1111-4222-8333-444444444444");
        c["upn"] = json!("robert@acme.com");
        c["email"] = json!("Bob@Acme.com");
        c["xms_edov"] = json!(true);
    })
    .await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert_eq!(app.signin_log()[0].user_id.as_deref(), Some(bob.as_str()));
}

#[actix_web::test]
async fn roles_from_the_token_when_scim_gave_none_and_jit() {
    let (app, entra) = oidc_app().await;
    app.idgate(&["org", "role-map", "acme", "Admin", "admin"]);
    app.idgate(&["org", "set", "acme", "--jit", "on"]);
    // Not provisioned, JIT on: created with externalId = oid and linked; role from `roles`.
    let r = signin(&app, &entra, |_| {}).await;
    let session = session_of(&r);
    let v = app.verify(&session).await;
    assert_eq!(v.status, 200);
    assert_eq!(
        v.header("x-idgate-role").as_deref(),
        Some("admin"),
        "{:?}",
        v.headers
    );
    let users = app
        .get("/Users?filter=externalId%20eq%20%221d2c3b4a-5f6e-4d7c-8b9a-0f1e2d3c4b5a%22")
        .await;
    assert_eq!(users.body["totalResults"], 1, "{}", users.text);
    assert_eq!(users.body["Resources"][0]["userName"], "alice@acme.com");
}

#[actix_web::test]
async fn org_admins_of_an_oidc_org_open_the_admin_ui_through_entra() {
    let (app, entra) = oidc_app().await;
    app.idgate(&["org", "role-map", "acme", "Admin", "admin"]);
    let r = app
        .post(
            "/Users",
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                   "userName": "Alice@Acme.com", "externalId": OID, "roles": [{"value": "Admin"}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    // The admin pages' forms may lead to the IdP (Chromium applies form-action to the
    // redirect after a form post): any https origin, and this test's plain-http authority.
    let page = app.web("GET", "/admin/login", &[], None).await;
    let csp = page.header("content-security-policy").unwrap();
    assert!(csp.contains("form-action 'self' https:"), "{csp}");
    // The admin sign-in page sends an address of an OIDC org to Entra.
    let r = crate::admin_helpers::admin_login_response(&app, "alice@acme.com", "").await;
    assert_eq!(r.status, 302, "{}", r.text);
    let url = r.header("location").unwrap();
    assert!(
        url.starts_with(&format!("{}/{TENANT}/oauth2/v2.0/authorize?", entra.base)),
        "{url}"
    );
    let q: Vec<(String, String)> =
        serde_urlencoded::from_str(url.split_once('?').unwrap().1).unwrap();
    let get = |k: &str| q.iter().find(|(n, _)| n == k).unwrap().1.clone();
    let cookie = crate::admin_helpers::cookie_of(&r, "idgate_oidc").unwrap();
    let code = entra.code_for(
        entra.id_token(&entra.claims(&get("nonce"))),
        &get("code_challenge"),
    );
    let r = callback(
        &app,
        &[("code", &code), ("state", &get("state"))],
        Some(&format!("idgate_oidc={cookie}")),
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert_eq!(r.header("location").as_deref(), Some("/admin/orgs/acme"));
    let admin = crate::admin_helpers::cookie_of(&r, "idgate_admin").expect("an admin session");
    let page = app
        .web(
            "GET",
            "/admin/orgs/acme",
            &[("Cookie", &format!("idgate_admin={admin}"))],
            None,
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.text);
}

/// The query of a redirect's Location, as pairs.
fn query_of(url: &str) -> Vec<(String, String)> {
    serde_urlencoded::from_str(url.split_once('?').map_or("", |(_, q)| q)).unwrap()
}

fn param(q: &[(String, String)], k: &str) -> String {
    q.iter()
        .find(|(n, _)| n == k)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

/// Connect for `slug`: consent (Entra's redirect carries `tenant`, here forged), then the
/// sign-in whose verified token names `tid`. Returns the final response.
async fn connect(app: &TestApp, entra: &FakeEntra, slug: &str, forged: &str, tid: &str) -> Resp {
    let ops =
        crate::admin_helpers::AdminBrowser::new(app, &crate::admin_helpers::operator(app).await);
    let r = ops
        .post(&format!("/admin/orgs/{slug}/sso/oidc/connect"), &[])
        .await;
    assert_eq!(r.status, 302, "{}", r.text);
    let consent = query_of(&r.header("location").unwrap());
    let cookie = format!(
        "idgate_oidc={}",
        crate::admin_helpers::cookie_of(&r, "idgate_oidc").unwrap()
    );
    let r = callback(
        app,
        &[
            ("admin_consent", "True"),
            ("tenant", forged),
            ("state", &param(&consent, "state")),
            ("scope", "openid profile email"),
        ],
        Some(&cookie),
    )
    .await;
    assert_eq!(r.status, 302, "{}", r.text);
    let url = r.header("location").unwrap();
    assert!(
        url.starts_with(&format!(
            "{}/organizations/oauth2/v2.0/authorize?",
            entra.base
        )),
        "{url}"
    );
    let q = query_of(&url);
    let mut claims = entra.claims(&param(&q, "nonce"));
    claims["tid"] = json!(tid);
    claims["iss"] = json!(format!("{}/{tid}/v2.0", entra.base));
    let code = entra.code_for(entra.id_token(&claims), &param(&q, "code_challenge"));
    callback(
        app,
        &[("code", &code), ("state", &param(&q, "state"))],
        Some(&cookie),
    )
    .await
}

#[actix_web::test]
async fn connect_binds_the_verified_tenant_never_the_consent_redirects() {
    let entra = FakeEntra::start().await;
    let base = entra.base.clone();
    let app = spawn_app_with(move |c| {
        c.oidc_authority = base;
        c.oidc_allow_insecure_authority = true;
        c.oidc_app = Some(idgate::config::OidcApp {
            client_id: CLIENT_ID.into(),
            client_secret: Some(SECRET.into()),
            certificate_pem: None,
            private_key_pem: None,
        });
    })
    .await;
    crate::helpers::create_org(&app.store, "beta", "beta.example");
    let r = connect(&app, &entra, "acme", OTHER_TENANT, TENANT).await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert_eq!(
        r.header("location").as_deref(),
        Some("/admin/orgs/acme/sso")
    );
    let show = app.idgate(&["org", "show", "acme"]);
    assert!(
        show.contains(&format!("oidc tenant:       {TENANT}")),
        "{show}"
    );
    // The token request went to `organizations` with the app's credential.
    let req = entra.lock().token_requests.last().cloned().unwrap();
    assert_eq!(req["client_secret"], SECRET);
    // The same tenant for another org: refused, beta stays unbound.
    let r = connect(&app, &entra, "beta", TENANT, TENANT).await;
    let reference = reference_of(&r);
    let row = app
        .store
        .read_now(|c| idgate::store::signin::signin_by_reference(c, &reference))
        .unwrap();
    assert_eq!(row[0].reason.as_deref(), Some("tenant_taken"));
    let show = app.idgate(&["org", "show", "beta"]);
    assert!(
        show.contains("oidc tenant:       (not connected yet)"),
        "{show}"
    );
    // acme's people now sign in at their tenant with the app.
    provision(&app).await;
    app.idgate(&["org", "sso", "acme", "oidc"]);
    let s = start(&app, "acme").await;
    assert!(
        s.url.starts_with(&format!(
            "{}/{TENANT}/oauth2/v2.0/authorize?client_id={CLIENT_ID}",
            entra.base
        )),
        "{}",
        s.url
    );
    let code = entra.code_for(entra.id_token(&entra.claims(&s.nonce)), &s.challenge);
    let r = redeem(&app, &s, &code).await;
    assert_eq!(r.status, 303, "{}", r.text);
    // A token of another tenant for acme's sign-in: wrong_tenant.
    let r = signin(&app, &entra, |c| {
        c["tid"] = json!(OTHER_TENANT);
        c["iss"] = json!(format!("{}/{OTHER_TENANT}/v2.0", entra.base));
    })
    .await;
    assert_eq!(refusal(&app, &r).0, "wrong_tenant");
}
