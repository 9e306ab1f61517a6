//! Bad input that once broke idgate, each sent as it reached the server: Microsoft's SCIM
//! Validator's raw quotes in filters, a multibyte character where a schema URN is expected,
//! malformed HTTP, paths and methods with no route, and a handler that panics.

use std::time::Duration;

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::helpers::{TestApp, spawn_app, spawn_app_routes};
use crate::raw_http::{self, Conn, request};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// `…:User` with its last character replaced by a two-byte one: the URN's length cuts it.
const BROKEN_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:Use%C3%A9";

impl TestApp {
    fn auth(&self) -> String {
        format!("Authorization: Bearer {}", self.token)
    }

    /// A SCIM request written byte by byte: `target` goes on the wire exactly as given.
    async fn scim_raw(&self, method: &str, target: &[u8], body: &str) -> raw_http::RawResp {
        let mut path = b"/scim/v2".to_vec();
        path.extend_from_slice(target);
        let auth = self.auth();
        let mut headers = vec![auth.as_str()];
        if !body.is_empty() {
            headers.push("Content-Type: application/scim+json");
        }
        raw_http::send(&self.base, request(method, &path, &headers, body)).await
    }
}

#[actix_web::test]
async fn the_scim_validators_raw_quotes_in_filters_are_accepted() {
    let app = spawn_app().await;
    let alice = app.create_user("alice@contoso.com").await;
    let jose = app.create_user("josé@contoso.com").await;
    let g = app
        .post(
            "/Groups",
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Sales \"EU\""}),
        )
        .await;
    assert_eq!(g.status, 201, "{}", g.text);

    // Exactly what the validator sends: raw quotes, `+` for spaces, `%40` for the at sign.
    let r = app
        .scim_raw(
            "GET",
            b"/Users?filter=userName+eq+\"alice%40contoso.com\"",
            "",
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["totalResults"], 1, "{r:?}");
    assert_eq!(r.json()["Resources"][0]["id"], alice);

    // Raw UTF-8 in the query, and a value with raw `<`, `>` and escaped quotes.
    let r = app
        .scim_raw(
            "GET",
            "/Users?filter=userName+eq+\"josé@contoso.com\"".as_bytes(),
            "",
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["Resources"][0]["id"], jose, "{r:?}");
    let r = app
        .scim_raw(
            "GET",
            b"/Groups?filter=displayName+eq+\"Sales+\\\"EU\\\"\"&excludedAttributes=members",
            "",
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["totalResults"], 1, "{r:?}");
    let r = app
        .scim_raw("GET", b"/Users?filter=userName+eq+\"<a>`{b}\"", "")
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["totalResults"], 0, "{r:?}");

    // A raw quote in the path reaches the handler too: a SCIM 404, not an empty 400.
    app.scim_raw("GET", b"/Users/\"nope\"", "")
        .await
        .assert_scim_error(404);
    // A filter that is still wrong is the handler's invalidFilter, with a body.
    let r = app
        .scim_raw("GET", b"/Users?filter=userName+eq+\"", "")
        .await;
    r.assert_scim_error(400);
    assert_eq!(r.json()["scimType"], "invalidFilter");
}

#[actix_web::test]
async fn a_multibyte_character_in_an_attribute_name_is_answered_not_a_panic() {
    let app = spawn_app().await;
    let id = app.create_user("alice@contoso.com").await;
    for q in ["attributes", "excludedAttributes"] {
        let r = app.get(&format!("/Users?{q}={BROKEN_URN}")).await;
        assert_eq!(r.status, 200, "{q}: {}", r.text);
        assert_eq!(r.body["totalResults"], 1);
        let r = app
            .get(&format!("/Users/{id}?{q}={BROKEN_URN}:userName"))
            .await;
        assert_eq!(r.status, 200, "{q}: {}", r.text);
        let r = app
            .get(&format!(
                "/Groups?{q}=urn:ietf:params:scim:schemas:core:2.0:Grou%C3%BF"
            ))
            .await;
        assert_eq!(r.status, 200, "{q}: {}", r.text);
        for path in ["/Users/.search", "/.search"] {
            let r = app
                .post(
                    path,
                    json!({
                        "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                        q: ["urn:ietf:params:scim:schemas:core:2.0:Useé"],
                    }),
                )
                .await;
            assert_eq!(r.status, 200, "{path} {q}: {}", r.text);
        }
    }
    // A create asked to project onto a broken name is acknowledged, and the user is there.
    let r = app
        .post(
            &format!("/Users?attributes={BROKEN_URN}"),
            json!({"schemas": [USER], "userName": "bob@contoso.com", "active": true}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let found = app
        .get("/Users?filter=userName%20eq%20%22bob%40contoso.com%22")
        .await;
    assert_eq!(found.body["totalResults"], 1, "{}", found.text);
}

#[actix_web::test]
async fn requests_the_http_layer_refuses_still_get_a_body() {
    let app = spawn_app().await;
    let bad_header = "Bad Header: has a space in its name";
    // Malformed heads: an RFC 7644 error under /scim/, a page elsewhere.
    raw_http::send(
        &app.base,
        request("GET", b"/scim/v2/Users", &[bad_header], ""),
    )
    .await
    .assert_scim_error(400);
    raw_http::send(&app.base, request("GET", b"/login", &[bad_header], ""))
        .await
        .assert_page(400);
    let r = raw_http::send(&app.base, b"NOT-HTTP\r\n\r\n".to_vec()).await;
    r.assert_page(400);
    let r = raw_http::send(
        &app.base,
        request("GET", b"/scim/v2/Users", &["Content-Length: x"], ""),
    )
    .await;
    r.assert_scim_error(400);
    // A head larger than the server reads: 431, with a body.
    let huge = format!("X-Big: {}", "a".repeat(140_000));
    raw_http::send(
        &app.base,
        request("GET", b"/scim/v2/Users", &[huge.as_str()], ""),
    )
    .await
    .assert_scim_error(431);
}

#[actix_web::test]
async fn paths_and_methods_without_a_route_get_their_surfaces_body() {
    let app = spawn_app().await;
    let send =
        |m: &'static str, t: &'static [u8]| raw_http::send(&app.base, request(m, t, &[], ""));
    send("GET", b"/nowhere").await.assert_page(404);
    send("PUT", b"/login").await.assert_page(405);
    send("GET", b"/admin/nowhere/at/all").await.assert_page(404);
    send("GET", b"/scim/v1/Users").await.assert_scim_error(404);
    for (m, t, status) in [
        ("GET", &b"/api/v1/nowhere"[..], 404),
        ("DELETE", b"/oauth/token", 405),
        ("POST", b"/.well-known/jwks.json", 405),
    ] {
        let r = send(m, t).await;
        assert_eq!(r.status, status, "{r:?}");
        assert!(
            r.json()["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{r:?}"
        );
    }
    // HEAD keeps its empty body.
    let r = send("HEAD", b"/nowhere").await;
    assert_eq!(r.status, 404);
}

async fn panics() -> HttpResponse {
    let name = "é";
    // The bug class this guards against: a byte slice inside a character.
    let cut = &name[..1];
    HttpResponse::Ok().body(cut.to_string())
}

async fn slow() -> HttpResponse {
    actix_web::rt::time::sleep(Duration::from_millis(400)).await;
    HttpResponse::Ok().body("slow and fine")
}

fn test_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/test/panic", web::get().to(panics))
        .route("/api/test/panic", web::get().to(panics))
        .route("/test/slow", web::get().to(slow));
}

#[actix_web::test]
async fn a_panicking_handler_ends_only_its_own_request() {
    // One worker: every connection below is served by the worker that panics.
    let app = spawn_app_routes(|c| c.workers = 1, test_routes).await;
    let base = app.base.clone();
    let keep = |t: &str| format!("GET {t} HTTP/1.1\r\nHost: x\r\n\r\n").into_bytes();

    // A slow request is in flight on the worker when the handler panics.
    let slow_conn = {
        let base = base.clone();
        let r = keep("/test/slow");
        actix_web::rt::task::spawn_blocking(move || Conn::open(&base).send(&r))
    };
    actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    let page = raw_http::send(&base, request("GET", b"/test/panic", &[], "")).await;
    page.assert_page(500);
    assert!(page.header("x-request-id").is_some(), "{page:?}");
    let api = raw_http::send(&base, request("GET", b"/api/test/panic", &[], "")).await;
    assert_eq!(api.status, 500, "{api:?}");
    assert_eq!(api.json()["error"], "internal_server_error", "{api:?}");

    let slow = slow_conn.await.unwrap();
    assert_eq!((slow.status, slow.body.as_str()), (200, "slow and fine"));

    // One keep-alive connection: a panic, then more requests on the same connection.
    let after = actix_web::rt::task::spawn_blocking(move || {
        let mut c = Conn::open(&base);
        let first = c.send(&keep("/test/panic"));
        let second = c.send(&keep("/healthz"));
        let third = c.send(&keep("/test/slow"));
        (first.status, second.status, third.status)
    })
    .await
    .unwrap();
    assert_eq!(after, (500, 200, 200));
    let logged = crate::logs::lines_with(&["the request handler panicked", "byte index"]);
    assert!(!logged.is_empty(), "the panic is in the server log");
    assert!(app.get("/Users").await.status == 200);
}
