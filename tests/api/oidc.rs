//! OIDC sign-in against the in-process fake Entra: the lifecycle with SCIM, every refusal
//! reason, the identity rules (no account linked by an unverified email), key rollover,
//! `private_key_jwt`, the tenant forms, the email-first redirect.

use serde_json::{Value, json};

use crate::browser::{reference_of, session_of, set_cookie};
use crate::fake_entra::{CLIENT_ID, FakeEntra, Key, OTHER_TENANT, SECRET, TENANT};
use crate::helpers::{Resp, TestApp, patch, spawn_app_with};

/// An app whose authority is the fake, acme on OIDC with a client secret.
pub async fn oidc_app() -> (TestApp, FakeEntra) {
    let entra = FakeEntra::start().await;
    let base = entra.base.clone();
    let app = spawn_app_with(move |c| {
        c.oidc_authority = base;
        c.oidc_allow_insecure_authority = true;
    })
    .await;
    let out = org_oidc(
        &app,
        &entra,
        TENANT,
        &["--client-secret-stdin"],
        &format!("{SECRET}\n"),
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (app, entra)
}

/// `idgate org oidc acme --tenant TENANT --client-id CLIENT_ID EXTRA…` against the fake.
pub async fn org_oidc(
    app: &TestApp,
    entra: &FakeEntra,
    tenant: &str,
    extra: &[&str],
    stdin: &str,
) -> std::process::Output {
    let mut args = vec![
        "org",
        "oidc",
        "acme",
        "--tenant",
        tenant,
        "--client-id",
        CLIENT_ID,
    ];
    args.extend_from_slice(extra);
    oidc_cli(app, entra, &args, stdin).await
}

/// The command line, with the fake as its OIDC authority (off this thread: the fake serves
/// on the test's runtime).
pub async fn oidc_cli(
    app: &TestApp,
    entra: &FakeEntra,
    args: &[&str],
    stdin: &str,
) -> std::process::Output {
    let dir = app._dir.path().to_path_buf();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let (stdin, base) = (stdin.to_string(), entra.base.clone());
    actix_web::rt::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        crate::cli::idgate_env(
            &dir,
            &args,
            &stdin,
            &[
                ("IDGATE_OIDC_AUTHORITY", base.as_str()),
                ("IDGATE_OIDC_ALLOW_INSECURE_AUTHORITY", "true"),
            ],
        )
    })
    .await
    .unwrap()
}

/// A sign-in idgate started: what Entra's authorize URL carried, and the browser cookie.
pub struct Started {
    pub state: String,
    pub nonce: String,
    pub challenge: String,
    pub url: String,
    pub cookie: String,
}

pub async fn start(app: &TestApp, slug: &str) -> Started {
    let r = app
        .web(
            "GET",
            &format!("/oidc/{slug}/login?return_to=/app"),
            &[],
            None,
        )
        .await;
    assert_eq!(r.status, 302, "{}", r.text);
    let url = r.header("location").unwrap();
    let query: Vec<(String, String)> =
        serde_urlencoded::from_str(url.split_once('?').unwrap().1).unwrap();
    let get = |k: &str| {
        query
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let cookie = r
        .headers
        .get_all("set-cookie")
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("idgate_oidc="))
        .expect("the browser-binding cookie")
        .split(';')
        .next()
        .unwrap()
        .to_string();
    Started {
        state: get("state"),
        nonce: get("nonce"),
        challenge: get("code_challenge"),
        url: url.clone(),
        cookie,
    }
}

pub async fn callback(app: &TestApp, query: &[(&str, &str)], cookie: Option<&str>) -> Resp {
    let q = serde_urlencoded::to_string(query).unwrap();
    let headers: Vec<(&str, &str)> = cookie.map(|c| ("Cookie", c)).into_iter().collect();
    app.web("GET", &format!("/oidc/callback?{q}"), &headers, None)
        .await
}

/// Redeems `code` for the sign-in `s` started (its state, the browser's cookie).
pub async fn redeem(app: &TestApp, s: &Started, code: &str) -> Resp {
    callback(app, &[("code", code), ("state", &s.state)], Some(&s.cookie)).await
}

/// The newest sign-in log row's detail.
fn last_detail(app: &TestApp) -> String {
    app.signin_log()[0].detail.clone().unwrap_or_default()
}

/// A whole sign-in whose ID token carries `adjust`ed claims.
pub async fn signin(app: &TestApp, entra: &FakeEntra, adjust: impl FnOnce(&mut Value)) -> Resp {
    let s = start(app, "acme").await;
    let mut claims = entra.claims(&s.nonce);
    adjust(&mut claims);
    let code = entra.code_for(entra.id_token(&claims), &s.challenge);
    redeem(app, &s, &code).await
}

/// Signs in with a raw ID token.
pub async fn signin_raw(
    app: &TestApp,
    entra: &FakeEntra,
    token: impl FnOnce(&str) -> String,
) -> Resp {
    let s = start(app, "acme").await;
    let code = entra.code_for(token(&s.nonce), &s.challenge);
    redeem(app, &s, &code).await
}

pub const OID: &str = "1d2c3b4a-5f6e-4d7c-8b9a-0f1e2d3c4b5a";

/// The Entra-shaped SCIM user of the fake's member, externalId = oid.
pub async fn provision(app: &TestApp) -> String {
    let r = app
        .post(
            "/Users",
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                   "userName": "Alice@Acme.com", "externalId": OID, "active": true,
                   "emails": [{"value": "Alice@Acme.com", "type": "work", "primary": true}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body["id"].as_str().unwrap().to_string()
}

/// The refusal logged for a failed sign-in: (reason, expected, received).
pub fn refusal(app: &TestApp, r: &Resp) -> (String, Option<String>, Option<String>) {
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(set_cookie(r).is_none());
    let reference = reference_of(r);
    let row = app
        .signin_log()
        .into_iter()
        .find(|l| l.reference == reference)
        .expect("the refusal is logged");
    assert_eq!(row.method, "oidc");
    assert!(!row.success);
    (row.reason.unwrap(), row.expected, row.received)
}

#[actix_web::test]
async fn lifecycle_over_oidc_scim_provisions_signin_deactivate_reactivate_delete() {
    let (app, entra) = oidc_app().await;
    let id = provision(&app).await;
    let r = signin(&app, &entra, |_| {}).await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert_eq!(r.header("location").as_deref(), Some("/app"));
    let session = session_of(&r);
    let v = app.verify(&session).await;
    assert_eq!(v.status, 200, "{}", v.text);
    assert_eq!(
        v.header("x-idgate-email").as_deref(),
        Some("alice@acme.com")
    );
    // The token request: the code once, PKCE verifier, the secret in the body, redirect URI.
    let req = entra.lock().token_requests.last().cloned().unwrap();
    assert_eq!(req["grant_type"], "authorization_code");
    assert_eq!(req["client_secret"], SECRET);
    assert!(req["code_verifier"].len() >= 43);
    assert!(req["redirect_uri"].ends_with("/oidc/callback"));
    let log = app.signin_log();
    assert!(log[0].success && log[0].method == "oidc", "{log:?}");
    assert_eq!(log[0].user_id.as_deref(), Some(id.as_str()));

    let off = patch(json!([{"op": "replace", "path": "active", "value": false}]));
    assert_eq!(app.patch(&format!("/Users/{id}"), off).await.status, 200);
    assert_eq!(app.verify(&session).await.status, 401);
    let r = signin(&app, &entra, |_| {}).await;
    assert_eq!(refusal(&app, &r).0, "deactivated");

    let on = patch(json!([{"op": "replace", "path": "active", "value": true}]));
    assert_eq!(app.patch(&format!("/Users/{id}"), on).await.status, 200);
    let r = signin(&app, &entra, |_| {}).await;
    let session = session_of(&r);
    assert_eq!(app.verify(&session).await.status, 200);

    assert_eq!(app.delete(&format!("/Users/{id}")).await.status, 204);
    assert_eq!(app.verify(&session).await.status, 401);
    let r = signin(&app, &entra, |_| {}).await;
    assert_eq!(refusal(&app, &r).0, "not_provisioned");
}

#[actix_web::test]
async fn authorize_request_is_code_pkce_s256_query_mode() {
    let (app, entra) = oidc_app().await;
    let s = start(&app, "acme").await;
    assert!(
        s.url
            .starts_with(&format!("{}/{TENANT}/oauth2/v2.0/authorize?", entra.base)),
        "{}",
        s.url
    );
    for part in [
        "response_type=code",
        "response_mode=query",
        "code_challenge_method=S256",
        &format!("client_id={CLIENT_ID}"),
        "scope=openid+profile+email",
    ] {
        assert!(s.url.contains(part), "{part} in {}", s.url);
    }
    assert!(s.state.len() >= 43 && s.nonce.len() >= 32 && s.challenge.len() == 43);
    assert_ne!(s.state, start(&app, "acme").await.state);
}

#[actix_web::test]
async fn every_id_token_check_refuses_with_its_reason() {
    let (app, entra) = oidc_app().await;
    provision(&app).await;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let base = entra.base.clone();
    type Adjust = Box<dyn FnOnce(&mut Value)>;
    let cases: Vec<(&str, Adjust)> = vec![
        (
            "wrong_issuer",
            Box::new(|c| c["iss"] = json!("https://sts.windows.net/x/")),
        ),
        (
            "wrong_issuer",
            Box::new(move |c| c["iss"] = json!(format!("{base}/{TENANT}/v2.0/"))),
        ),
        ("wrong_tenant", {
            let b = entra.base.clone();
            Box::new(move |c| {
                c["tid"] = json!(OTHER_TENANT);
                c["iss"] = json!(format!("{b}/{OTHER_TENANT}/v2.0"));
            })
        }),
        (
            "wrong_audience",
            Box::new(|c| c["aud"] = json!("00000003-0000-0000-c000-000000000000")),
        ),
        (
            "wrong_audience",
            Box::new(|c| c["aud"] = json!([CLIENT_ID, "other"])),
        ),
        ("expired", Box::new(move |c| c["exp"] = json!(now - 600))),
        (
            "not_yet_valid",
            Box::new(move |c| c["nbf"] = json!(now + 3600)),
        ),
        (
            "issued_in_future",
            Box::new(move |c| c["iat"] = json!(now + 3600)),
        ),
        (
            "issued_in_future",
            Box::new(|c| {
                c.as_object_mut().unwrap().remove("iat");
            }),
        ),
        (
            "wrong_nonce",
            Box::new(|c| c["nonce"] = json!("another-sign-in")),
        ),
        (
            "wrong_nonce",
            Box::new(|c| {
                c.as_object_mut().unwrap().remove("nonce");
            }),
        ),
        (
            "no_oid",
            Box::new(|c| {
                c.as_object_mut().unwrap().remove("oid");
            }),
        ),
        ("personal_account", {
            let b = entra.base.clone();
            Box::new(move |c| {
                c["tid"] = json!("9188040d-6c67-4c5b-b112-36a304b66dad");
                c["iss"] = json!(format!("{b}/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0"));
            })
        }),
        (
            "email_outside_domains",
            Box::new(|c| {
                for k in ["email", "upn", "preferred_username"] {
                    c[k] = json!("alice@evil.example");
                }
            }),
        ),
        (
            "no_email",
            Box::new(|c| {
                for k in ["email", "upn", "preferred_username"] {
                    c.as_object_mut().unwrap().remove(k);
                }
            }),
        ),
    ];
    for (want, adjust) in cases {
        let r = signin(&app, &entra, adjust).await;
        let (reason, expected, received) = refusal(&app, &r);
        assert_eq!(reason, want, "expected {expected:?} received {received:?}");
        if want != "no_email" {
            assert!(
                expected.is_some() && received.is_some(),
                "{want}: {expected:?} {received:?}"
            );
        }
    }
    // Clock skew is the org's: 5 minutes by default, so a token 60 s past exp still passes.
    let r = signin(&app, &entra, |c| c["exp"] = json!(now - 60)).await;
    assert_eq!(r.status, 303, "{}", r.text);
}

#[actix_web::test]
async fn algorithms_keys_and_signatures() {
    let (app, entra) = oidc_app().await;
    provision(&app).await;
    let b64 = |v: &Value| {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let claims_of = |nonce: &str| entra.claims(nonce);
    // alg none.
    let r = signin_raw(&app, &entra, |n| {
        format!(
            "{}.{}.",
            b64(&json!({"alg": "none", "typ": "JWT"})),
            b64(&claims_of(n))
        )
    })
    .await;
    assert_eq!(refusal(&app, &r).0, "alg_not_allowed");
    // HS256 with the client secret as the key (the classic confusion).
    let r = signin_raw(&app, &entra, |n| {
        let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        h.kid = Some("key-1".into());
        jsonwebtoken::encode(
            &h,
            &claims_of(n),
            &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap()
    })
    .await;
    assert_eq!(refusal(&app, &r).0, "alg_not_allowed");
    // A key the tenant does not publish.
    let rogue = Key::new("rogue");
    let r = signin_raw(&app, &entra, |n| rogue.sign("rogue", &claims_of(n))).await;
    assert_eq!(refusal(&app, &r).0, "unknown_kid");
    // A published kid, signed by another key.
    let r = signin_raw(&app, &entra, |n| rogue.sign("key-1", &claims_of(n))).await;
    assert_eq!(refusal(&app, &r).0, "bad_signature");
    // A tampered payload.
    let r = signin_raw(&app, &entra, |n| {
        let t = entra.id_token(&claims_of(n));
        let mut parts: Vec<String> = t.split('.').map(str::to_string).collect();
        let mut c = claims_of(n);
        c["oid"] = json!("99999999-9999-4999-8999-999999999999");
        parts[1] = b64(&c);
        parts.join(".")
    })
    .await;
    assert_eq!(refusal(&app, &r).0, "bad_signature");
    let r = signin_raw(&app, &entra, |_| "not.a.jwt".into()).await;
    assert_eq!(refusal(&app, &r).0, "malformed_id_token");
}

#[actix_web::test]
async fn key_rollover_refreshes_once_and_unknown_kids_are_rate_limited() {
    let (app, entra) = oidc_app().await;
    provision(&app).await;
    assert_eq!(signin(&app, &entra, |_| {}).await.status, 303);
    assert_eq!(entra.lock().jwks_fetches, 1);
    // Entra rolls its key: the first token with the new kid forces one refresh.
    entra.rotate("key-2", false);
    let r = signin(&app, &entra, |_| {}).await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert_eq!(entra.lock().jwks_fetches, 2);
    assert_eq!(signin(&app, &entra, |_| {}).await.status, 303);
    assert_eq!(entra.lock().jwks_fetches, 2, "cached");
    // Another unknown kid right after: refused without hammering the key endpoint.
    entra.rotate("key-3", false);
    let r = signin(&app, &entra, |_| {}).await;
    assert_eq!(refusal(&app, &r).0, "unknown_kid");
    assert_eq!(entra.lock().jwks_fetches, 2);
}

#[actix_web::test]
async fn state_is_single_use_bound_to_the_browser_and_errors_are_explained() {
    let (app, entra) = oidc_app().await;
    provision(&app).await;
    let s = start(&app, "acme").await;
    let code = entra.code_for(entra.id_token(&entra.claims(&s.nonce)), &s.challenge);
    let q = [("code", code.as_str()), ("state", s.state.as_str())];
    // Without the browser's cookie (a link sent to someone else): refused, and used up.
    let r = callback(&app, &q, None).await;
    assert_eq!(refusal(&app, &r).0, "browser_mismatch");
    let r = callback(
        &app,
        &q,
        Some("idgate_oidc=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
    )
    .await;
    assert_eq!(refusal(&app, &r).0, "browser_mismatch");
    let s = start(&app, "acme").await;
    let code = entra.code_for(entra.id_token(&entra.claims(&s.nonce)), &s.challenge);
    let q = [("code", code.as_str()), ("state", s.state.as_str())];
    assert_eq!(callback(&app, &q, Some(&s.cookie)).await.status, 303);
    // The same redirect again: replay.
    let r = callback(&app, &q, Some(&s.cookie)).await;
    assert_eq!(refusal(&app, &r).0, "reused_state");
    assert_eq!(
        entra.lock().token_requests.len(),
        1,
        "the code is exchanged once"
    );
    let r = callback(
        &app,
        &[("code", "x"), ("state", "made-up")],
        Some(&s.cookie),
    )
    .await;
    let reference = reference_of(&r);
    assert_eq!(r.status, 403);
    let all = app
        .store
        .read_now(|c| idgate::store::signin::signin_by_reference(c, &reference))
        .unwrap();
    assert_eq!(all[0].reason.as_deref(), Some("unknown_state"));
    let r = callback(&app, &[("code", "x")], None).await;
    assert_eq!(r.status, 400, "{}", r.text);
    // Entra's error redirect: the AADSTS code and its hint.
    let s = start(&app, "acme").await;
    let r = callback(
        &app,
        &[
            ("error", "access_denied"),
            (
                "error_description",
                "AADSTS65004: User declined to consent to access the app.\r\nTrace ID: x",
            ),
            ("state", &s.state),
        ],
        Some(&s.cookie),
    )
    .await;
    let (reason, _, received) = refusal(&app, &r);
    assert_eq!(
        (reason.as_str(), received.as_deref()),
        ("idp_error", Some("AADSTS65004"))
    );
    assert!(last_detail(&app).contains("consent"));
    // The token endpoint refuses the secret: its AADSTS code and the Value-vs-Secret-ID hint.
    let s = start(&app, "acme").await;
    entra.lock().token_error = Some((
        401,
        json!({"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."}),
    ));
    let code = entra.code_for(entra.id_token(&entra.claims(&s.nonce)), &s.challenge);
    let r = redeem(&app, &s, &code).await;
    let (reason, _, received) = refusal(&app, &r);
    assert_eq!(
        (reason.as_str(), received.as_deref()),
        ("token_error", Some("AADSTS7000215"))
    );
    assert!(last_detail(&app).contains("Secret ID"));
    // A token response without an ID token.
    let s = start(&app, "acme").await;
    entra.lock().token_error = Some((200, json!({"access_token": "x", "token_type": "Bearer"})));
    let r = callback(&app, &[("code", "c"), ("state", &s.state)], Some(&s.cookie)).await;
    assert_eq!(refusal(&app, &r).0, "token_endpoint_failed");
}

#[actix_web::test]
async fn private_key_jwt_with_the_certificate_idgate_generates() {
    let (app, entra) = oidc_app().await;
    provision(&app).await;
    let out = org_oidc(&app, &entra, TENANT, &["--certificate"], "").await;
    let pem = String::from_utf8(out.stdout).unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
    // Before the certificate is uploaded in Entra: AADSTS refusal.
    let r = signin(&app, &entra, |_| {}).await;
    assert_eq!(refusal(&app, &r).0, "token_error");
    entra.lock().client_certificate = Some(pem);
    let r = signin(&app, &entra, |_| {}).await;
    assert_eq!(r.status, 303, "{}", r.text);
    let req = entra.lock().token_requests.last().cloned().unwrap();
    assert!(!req.contains_key("client_secret"));
    let show = app.idgate(&["org", "show", "acme"]);
    assert!(show.contains("oidc credential:   certificate"), "{show}");
}

#[actix_web::test]
async fn tenant_forms_secret_id_warning_and_switching_protocols() {
    let (app, entra) = oidc_app().await;
    for tenant in [
        "contoso.onmicrosoft.com",
        &format!("{}/{TENANT}/v2.0", entra.base),
    ] {
        let out = org_oidc(
            &app,
            &entra,
            tenant,
            &["--client-secret-stdin"],
            "0b6a4c1e-5a11-4f51-9e1c-2f6a7d1b9c33\n",
        )
        .await;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stderr).contains("Secret ID"));
        let show = app.idgate(&["org", "show", "acme"]);
        assert!(
            show.contains(&format!("oidc tenant:       {TENANT}")),
            "{show}"
        );
    }
    for bad in ["unknown.example", "common", "https://evil.example/x"] {
        let out = org_oidc(&app, &entra, bad, &["--client-secret-stdin"], "s\n").await;
        assert!(!out.status.success(), "{bad}");
    }
    // The email-first page sends acme's people to OIDC; back on SAML, to SAML.
    let r = app.login(&[("email", "alice@acme.com")]).await;
    assert_eq!(r.status, 303);
    assert!(
        r.header("location")
            .unwrap()
            .starts_with("/oidc/acme/login?"),
        "{:?}",
        r.header("location")
    );
    app.idgate(&["org", "sso", "acme", "saml"]);
    let r = app.web("GET", "/oidc/acme/login", &[], None).await;
    assert_eq!(r.status, 404, "{}", r.text);
    app.idgate(&["org", "sso", "acme", "oidc"]);
    assert_eq!(
        app.web("GET", "/oidc/acme/login", &[], None).await.status,
        302
    );
    assert_eq!(
        app.web("GET", "/oidc/nobody/login", &[], None).await.status,
        404
    );
}

#[actix_web::test]
async fn credential_expiry_is_a_metric() {
    let (app, entra) = oidc_app().await;
    let soon = (time::OffsetDateTime::now_utc() + time::Duration::days(10))
        .date()
        .to_string();
    let out = org_oidc(
        &app,
        &entra,
        TENANT,
        &["--client-secret-stdin", "--secret-expires", &soon],
        &format!("{SECRET}\n"),
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m = app.web("GET", "/metrics", &[], None).await;
    assert!(
        m.text
            .contains("idgate_oidc_credential_expiry_days{org=\"acme\"} 10"),
        "{}",
        m.text
    );
    let out = org_oidc(&app, &entra, TENANT, &["--secret-expires", "soon"], "").await;
    assert!(!out.status.success());
}
