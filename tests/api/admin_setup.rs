//! Admin UI: SSO setup (the values to paste, the real Entra metadata upload, refused files,
//! sign-in options) and SCIM setup (tokens shown once, revoke, settings, role mapping).

use idgate::store::orgs;
use serde_json::json;

use crate::admin_helpers::{self, AdminBrowser};
use crate::helpers::{TestApp, spawn_app};

const ENTRA_METADATA: &str =
    include_str!("../fixtures/entra/entra-common-federationmetadata-2017.xml");

async fn operator(app: &TestApp) -> AdminBrowser<'_> {
    AdminBrowser::new(app, &admin_helpers::operator(app).await)
}

#[actix_web::test]
async fn sso_setup_loads_entra_metadata_and_refuses_bad_files() {
    let app = spawn_app().await;
    let ops = operator(&app).await;
    let page = ops.get("/admin/orgs/acme/sso").await;
    assert_eq!(page.status, 200);
    for want in [
        "http://127.0.0.1:8080/saml/acme</span>",
        "http://127.0.0.1:8080/saml/acme/acs</span>",
        "http://127.0.0.1:8080/saml/acme/login</span>",
        "href=\"/saml/acme/metadata\"",
        "not set up",
    ] {
        assert!(page.text.contains(want), "{want}");
    }
    // The real Entra Federation Metadata XML (its certificates expired long ago): loaded,
    // every certificate listed, and the page says sign-in will fail until it is replaced.
    let r = ops
        .upload("/admin/orgs/acme/sso/metadata", ENTRA_METADATA, "")
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    let page = ops.get("/admin/orgs/acme/sso?done=metadata").await;
    assert!(page.text.contains("Federation Metadata XML loaded"));
    for fp in ["3C:B3:E2:A1", "C3:AB:06:1B", "5C:75:8D:68"] {
        assert!(page.text.contains(fp), "{fp}");
    }
    assert!(page.text.contains("https://sts.windows.net/{tenantid}/"));
    assert!(page.text.contains("sign-in will fail"), "{}", page.text);
    // Pasted instead of a file works too; garbage, XXE and key-less metadata are refused
    // with the reason, and the configuration stays as it was.
    assert_eq!(
        ops.upload("/admin/orgs/acme/sso/metadata", "", ENTRA_METADATA)
            .await
            .status,
        303
    );
    for (bad, why) in [
        ("not xml at all", "not"),
        (
            "<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><x>&e;</x>",
            "DTD",
        ),
        (
            &ENTRA_METADATA.replace("use=\"signing\"", "use=\"encryption\""),
            "signing certificate",
        ),
        ("", "Choose the Federation Metadata XML"),
    ] {
        let r = ops.upload("/admin/orgs/acme/sso/metadata", bad, "").await;
        assert_eq!(r.status, 422, "{why}: {}", r.text);
        assert!(r.text.contains(why), "{why}: {}", r.text);
        assert!(
            r.text.contains("3C:B3:E2:A1"),
            "the old configuration is still shown"
        );
    }
    // Sign-in options.
    let r = ops
        .post(
            "/admin/orgs/acme/sso/settings",
            &[("idp_initiated", "on"), ("clock_skew", "60")],
        )
        .await;
    assert_eq!(r.status, 303);
    let org = app
        .store
        .read_now(|c| orgs::require_org(c, "acme"))
        .unwrap();
    assert!(org.idp_initiated && !org.jit && org.clock_skew_secs == 60);
    assert_eq!(
        ops.post("/admin/orgs/acme/sso/settings", &[("clock_skew", "99999")])
            .await
            .status,
        422
    );
}

#[actix_web::test]
async fn scim_setup_generates_a_token_shown_once_and_revokes_it() {
    let app = spawn_app().await;
    let ops = operator(&app).await;
    let page = ops.get("/admin/orgs/acme/scim").await;
    assert!(
        page.text.contains("http://127.0.0.1:8080/scim/v2"),
        "{}",
        page.text
    );
    let r = ops
        .post("/admin/orgs/acme/scim/tokens", &[("name", "entra-2")])
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    let token = r
        .text
        .split("id=\"new-token\">")
        .nth(1)
        .and_then(|t| t.split('<').next())
        .unwrap()
        .to_string();
    assert!(token.starts_with("idgs_"), "{token}");
    assert_eq!(app.call_as(&token, "GET", "/Users", None).await.status, 200);
    // Listed by name, never shown again.
    let page = ops.get("/admin/orgs/acme/scim").await;
    assert!(page.text.contains("entra-2") && !page.text.contains(&token));
    assert_eq!(
        ops.post("/admin/orgs/acme/scim/tokens", &[("name", "entra-2")])
            .await
            .status,
        409
    );
    let r = ops
        .post(
            "/admin/orgs/acme/scim/tokens/revoke",
            &[("name", "entra-2")],
        )
        .await;
    assert_eq!(r.status, 303);
    app.call_as(&token, "GET", "/Users", None)
        .await
        .assert_error(401, None);
    // The refusal shows in acme's provisioning log, with what to do about it.
    let mut entry = None;
    for _ in 0..50 {
        let page = ops.get("/admin/orgs/acme/provisioning?status=4").await;
        if let Some(link) = page
            .text
            .split("href=\"/admin/orgs/acme/provisioning/")
            .nth(1)
            .and_then(|t| t.split('"').next())
        {
            entry = Some(
                ops.get(&format!("/admin/orgs/acme/provisioning/{link}"))
                    .await,
            );
            break;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let entry = entry.expect("the 401 is in the provisioning log");
    assert!(
        entry.text.contains("401") && entry.text.contains("entra-2"),
        "{}",
        entry.text
    );
    assert!(entry.text.contains("Secret Token"), "{}", entry.text);

    // Settings and role mappings apply to SCIM at once.
    let id = app.create_user("ann@acme.com").await;
    let r = app
        .patch(
            &format!("/Users/{id}"),
            crate::helpers::patch(json!([{"op": "add", "path": "roles", "value": [{"value": "Admin", "primary": true}]}])),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        ops.post(
            "/admin/orgs/acme/scim/roles",
            &[("idp_value", " ADMIN "), ("role", "administrator")]
        )
        .await
        .status,
        303
    );
    let user = app.get(&format!("/Users/{id}")).await;
    assert_eq!(
        user.body["urn:idgate:params:scim:schemas:extension:2.0:User"]["role"],
        "administrator"
    );
    assert_eq!(
        ops.post(
            "/admin/orgs/acme/scim/roles/remove",
            &[("idp_value", "admin")]
        )
        .await
        .status,
        303
    );
    let r = ops
        .post(
            "/admin/orgs/acme/scim/settings",
            &[
                ("scim_enabled", "on"),
                ("role_attribute", "roles"),
                ("default_role", "viewer"),
            ],
        )
        .await;
    assert_eq!(r.status, 303);
    let user = app.get(&format!("/Users/{id}")).await;
    assert_eq!(
        user.body["urn:idgate:params:scim:schemas:extension:2.0:User"]["role"],
        "viewer"
    );
    app.get("/Groups").await.assert_error(403, None); // group sync unticked
}
