//! Email-first sign-in, SSO-only domains, local passwords, logout, forward-auth, the JWKS
//! and key rotation.

use idgate::clock::{Clock, timestamp};
use idgate::session::SessionClaims;
use idgate::signin::password;
use idgate::store::{accounts, orgs, signin as signin_store};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::JwkSet};

use crate::browser::{PUBLIC_URL, session_of, set_cookie, spawn_sso_app};
use crate::helpers::{TestApp, spawn_app};

pub const PASSWORD: &str = "correct horse battery staple";

/// Gives bob@acme.com (a SCIM user) a local password.
pub async fn bob_with_password(app: &TestApp) -> String {
    let id = app.create_user("bob@acme.com").await;
    let hash = password::hash(PASSWORD).unwrap();
    let now = timestamp(Clock::System.now());
    app.store
        .write_now(|c| accounts::set_password(c, &id, &hash, &now))
        .unwrap();
    id
}

fn set_sso_only(app: &TestApp, on: bool) {
    app.store
        .write_now(|c| {
            let org = orgs::require_org(c, "acme")?;
            orgs::set_sso_only(c, org.id, "acme.com", on).map(|_| ())
        })
        .unwrap();
}

#[actix_web::test]
async fn email_first_sends_sso_domains_to_their_idp() {
    let app = spawn_sso_app().await;
    let r = app.web("GET", "/login?return_to=/x", &[], None).await;
    assert_eq!(r.status, 200);
    assert!(r.text.contains("name=\"email\""), "{}", r.text);
    assert!(
        r.header("content-security-policy")
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    let r = app
        .login(&[("email", " Alice@ACME.com"), ("return_to", "/x")])
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert_eq!(
        r.header("location").as_deref(),
        Some("/saml/acme/login?return_to=%2Fx")
    );
    let r = app.login(&[("email", "a@unknown.example")]).await;
    assert_eq!(r.status, 404);
    assert!(r.text.contains("No organization"), "{}", r.text);
    let r = app.login(&[("email", "not an email")]).await;
    assert_eq!(r.status, 400);
    let r = app
        .login(&[
            ("email", "a@acme.com"),
            ("return_to", "https://evil.example/"),
        ])
        .await;
    assert_eq!(r.status, 400);
}

#[actix_web::test]
async fn sso_only_domains_refuse_passwords_for_every_address() {
    let app = spawn_sso_app().await;
    bob_with_password(&app).await;
    // Before SSO-only, bob's password works.
    let r = app
        .login(&[("email", "bob@acme.com"), ("password", PASSWORD)])
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    set_sso_only(&app, true);
    for email in ["bob@acme.com", "nobody@acme.com", "BOB@Acme.Com"] {
        let r = app.login(&[("email", email), ("password", PASSWORD)]).await;
        assert_eq!(r.status, 403, "{email}: {}", r.text);
        assert!(set_cookie(&r).is_none(), "{email}: session issued");
        assert!(r.text.contains("single sign-on"), "{}", r.text);
        assert!(
            r.text.contains("href=\"/saml/acme/login?return_to=%2F\""),
            "{}",
            r.text
        );
    }
    let log = app.signin_log();
    assert_eq!(log[0].reason.as_deref(), Some("sso_only"));
    assert_eq!(log[0].method, "password");
}

#[actix_web::test]
async fn local_passwords_sign_in_and_failures_are_rate_limited() {
    let app = spawn_app().await;
    let id = bob_with_password(&app).await;
    // No IdP: the email step asks for the password.
    let r = app.login(&[("email", "bob@acme.com")]).await;
    assert_eq!(r.status, 200);
    assert!(r.text.contains("type=\"password\""), "{}", r.text);
    let r = app
        .login(&[
            ("email", "Bob@acme.com"),
            ("password", PASSWORD),
            ("return_to", "/home"),
        ])
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert_eq!(r.header("location").as_deref(), Some("/home"));
    assert!(
        !set_cookie(&r).unwrap().contains("Secure"),
        "http public_url: no Secure"
    );
    let session = session_of(&r);
    let v = app.verify(&session).await;
    assert_eq!(v.status, 200);
    assert_eq!(v.header("x-idgate-user-id").as_deref(), Some(id.as_str()));

    // Wrong passwords: 401 each, then the account is locked for a while (even with the
    // right password), and every attempt is in the sign-in log.
    for _ in 0..idgate::signin::ratelimit::PER_ACCOUNT {
        let r = app
            .login(&[("email", "bob@acme.com"), ("password", "wrong password!!")])
            .await;
        assert_eq!(r.status, 401, "{}", r.text);
        assert!(r.text.contains("incorrect"), "{}", r.text);
    }
    let r = app
        .login(&[("email", "bob@acme.com"), ("password", PASSWORD)])
        .await;
    assert_eq!(r.status, 429, "{}", r.text);
    assert!(set_cookie(&r).is_none());
    let reasons: Vec<String> = app
        .signin_log()
        .iter()
        .filter_map(|l| l.reason.clone())
        .collect();
    assert_eq!(reasons[0], "rate_limited");
    assert_eq!(reasons.iter().filter(|r| *r == "bad_password").count(), 5);
    // Unknown accounts look the same as wrong passwords.
    let r = app
        .login(&[("email", "eve@acme.com"), ("password", PASSWORD)])
        .await;
    assert_eq!(r.status, 401);
}

#[actix_web::test]
async fn a_sign_in_form_from_elsewhere_is_refused() {
    let app = spawn_app().await;
    bob_with_password(&app).await;
    // No CSRF cookie/token (a form on another site posting to /login): no session.
    let r = app
        .form(
            "/login",
            &[("email", "bob@acme.com"), ("password", PASSWORD)],
            None,
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(set_cookie(&r).is_none());
    assert!(r.text.contains("expired"), "{}", r.text);
    // A token that does not match the browser's cookie: refused too.
    let r = app
        .web(
            "POST",
            "/login",
            &[
                ("Content-Type", "application/x-www-form-urlencoded"),
                (
                    "Cookie",
                    "idgate_csrf=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                ),
            ],
            Some(
                "email=bob%40acme.com&password=x&csrf=BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"
                    .to_string(),
            ),
        )
        .await;
    assert_eq!(r.status, 403);
    assert!(set_cookie(&r).is_none());
}

#[actix_web::test]
async fn logout_ends_the_session_at_once() {
    let app = spawn_app().await;
    bob_with_password(&app).await;
    let r = app
        .login(&[("email", "bob@acme.com"), ("password", PASSWORD)])
        .await;
    let session = session_of(&r);
    assert_eq!(app.verify(&session).await.status, 200);
    let home = app
        .web(
            "GET",
            "/",
            &[("Cookie", &format!("idgate_session={session}"))],
            None,
        )
        .await;
    assert!(home.text.contains("bob@acme.com"), "{}", home.text);
    let out = app.form("/logout", &[], Some(&session)).await;
    assert_eq!(out.status, 303);
    assert!(
        set_cookie(&out).unwrap().contains("Max-Age=0"),
        "{:?}",
        set_cookie(&out)
    );
    assert_eq!(app.verify(&session).await.status, 401);
    let s = app
        .web(
            "GET",
            "/api/v1/session",
            &[("Cookie", &format!("idgate_session={session}"))],
            None,
        )
        .await;
    assert_eq!(s.status, 401);
    assert_eq!(s.body["error"], "unauthenticated");
}

#[actix_web::test]
async fn verify_refuses_junk_and_redirects_when_asked() {
    let app = spawn_sso_app().await;
    for cookie in ["", "junk", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", "a.b.c"] {
        assert_eq!(app.verify(cookie).await.status, 401, "{cookie}");
    }
    assert_eq!(app.web("GET", "/auth/verify", &[], None).await.status, 401);
    let r = app
        .web(
            "GET",
            "/auth/verify?rd=https%3A%2F%2Flogin.example.com%2Fapp%3Fa%3D1",
            &[],
            None,
        )
        .await;
    assert_eq!(r.status, 302);
    assert_eq!(
        r.header("location").as_deref(),
        Some(
            "https://login.example.com/login?return_to=https%3A%2F%2Flogin.example.com%2Fapp%3Fa%3D1"
        )
    );
    let r = app
        .web(
            "GET",
            "/auth/verify?rd=https%3A%2F%2Fevil.example%2F",
            &[],
            None,
        )
        .await;
    assert_eq!(
        r.header("location").as_deref(),
        Some("https://login.example.com/login")
    );
}

async fn jwks(app: &TestApp) -> JwkSet {
    let r = app.web("GET", "/.well-known/jwks.json", &[], None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    serde_json::from_value(r.body).unwrap()
}

#[actix_web::test]
async fn sessions_verify_against_the_published_jwks_across_a_key_rotation() {
    let app = spawn_app().await;
    bob_with_password(&app).await;
    let login = || app.login(&[("email", "bob@acme.com"), ("password", PASSWORD)]);
    let old = session_of(&login().await);
    let set = jwks(&app).await;
    assert_eq!(set.keys.len(), 1);
    let check = |token: &str, set: &JwkSet| -> SessionClaims {
        let kid = jsonwebtoken::decode_header(token).unwrap().kid.unwrap();
        let jwk = set.find(&kid).expect("kid published");
        let mut v = Validation::new(Algorithm::ES256);
        v.set_audience(&["http://127.0.0.1:8080"]);
        v.set_issuer(&["http://127.0.0.1:8080"]);
        jsonwebtoken::decode::<SessionClaims>(token, &DecodingKey::from_jwk(jwk).unwrap(), &v)
            .unwrap()
            .claims
    };
    let claims = check(&old, &set);
    assert_eq!(claims.email, "bob@acme.com");
    assert_eq!(claims.org, "acme");
    assert!(claims.exp - claims.iat == 480 * 60);

    // Rotate (as `idgate keys rotate` does): the new key signs new sessions, the old
    // session stays valid, and the JWKS publishes both.
    let key = idgate::session::keys::generate(&timestamp(Clock::System.now())).unwrap();
    app.store
        .write_now(|c| idgate::store::sessions::rotate(c, &key))
        .unwrap();
    let set = jwks(&app).await;
    assert_eq!(set.keys.len(), 2);
    let new = session_of(&login().await);
    assert_eq!(
        jsonwebtoken::decode_header(&new).unwrap().kid.as_deref(),
        Some(key.kid.as_str())
    );
    check(&new, &set);
    check(&old, &set);
    assert_eq!(app.verify(&old).await.status, 200);
    assert_eq!(app.verify(&new).await.status, 200);
    // The sign-in log names both sign-ins.
    let log = app
        .store
        .read_now(|c| {
            let org = orgs::require_org(c, "acme")?;
            signin_store::recent_signins(c, org.id, 10)
        })
        .unwrap();
    assert_eq!(log.iter().filter(|l| l.success).count(), 2);
    let _ = PUBLIC_URL;
}
