//! The provisioning and sign-in logs past their newest 200 rows, over HTTP through the admin
//! UI: pages that go back without gaps or repeats while new rows arrive, searches by user
//! and by status that return exactly the matching rows, Entra's action names and the
//! target of each kind of SCIM write, a user's own history on its page, and a 400 page
//! for a bad query parameter.

use idgate::saml::test_idp;
use idgate::store::log_pages::{self, Cursor, RequestSearch};
use idgate::store::orgs;
use idgate::store::requests::RequestLog;
use idgate::store::signin::{self as signin_store, SigninLog};
use serde_json::{Value, json};

use crate::admin_helpers::{operator, unescape};
use crate::browser::{reference_of, spawn_sso_app};
use crate::helpers::{TestApp, patch, spawn_app};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

/// An admin page that must exist, unescaped.
async fn page(app: &TestApp, cookie: &str, path: &str) -> String {
    let r = app.admin_get(cookie, path).await;
    assert_eq!(r.status, 200, "{path}: {}", r.text);
    unescape(&r.text)
}

/// The values after each `prefix` up to the next `"`, in page order.
fn links(page: &str, prefix: &str) -> Vec<String> {
    page.split(prefix)
        .skip(1)
        .filter_map(|t| t.split('"').next())
        .filter(|v| !v.is_empty() && !v.contains(['?', '/']))
        .map(str::to_string)
        .collect()
}

/// The provisioning-log row ids a page lists, in order.
fn row_ids(page: &str) -> Vec<i64> {
    links(page, "href=\"/admin/orgs/acme/provisioning/")
        .iter()
        .map(|s| s.parse().unwrap())
        .collect()
}

/// The href of the page's `rel` ("next" or "prev") link.
fn rel(page: &str, rel: &str) -> Option<String> {
    let end = page.find(&format!("\" rel=\"{rel}\""))?;
    let start = page[..end].rfind("href=\"")? + 6;
    Some(page[start..end].to_string())
}

fn acme(app: &TestApp) -> i64 {
    app.store
        .read_now(|c| Ok(orgs::require_org(c, "acme")?.id))
        .unwrap()
}

/// Every provisioning-log row of acme, newest first, once at least `n` are written (the log
/// is written in the background).
async fn all_requests(app: &TestApp, n: usize) -> Vec<(i64, RequestLog)> {
    let org = acme(app);
    let mut rows = Vec::new();
    for _ in 0..200 {
        rows = app
            .store
            .read_now(|c| {
                log_pages::requests(c, org, &RequestSearch::default(), Cursor::Newest, 100_000)
            })
            .unwrap();
        if rows.len() >= n {
            return rows;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("acme has {} provisioning-log rows, not {n}", rows.len());
}

async fn scim(app: &TestApp, method: &str, path: &str, body: Option<Value>) -> Value {
    let r = app.call(method, path, body).await;
    assert!(r.status < 300, "{method} {path}: {}", r.text);
    r.body
}

fn ids<T>(rows: &[(i64, T)]) -> Vec<i64> {
    rows.iter().map(|r| r.0).collect()
}

#[actix_web::test]
async fn provisioning_log_pages_searches_and_names_actions() {
    let app = spawn_app().await;
    let op = operator(&app).await;
    let ann = scim(
        &app,
        "POST",
        "/Users",
        Some(json!({"schemas": [USER], "userName": "ann@acme.com", "externalId": "ext-ann"})),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let bob = app.create_user("bob@acme.com").await;
    let carol = app.create_user("carol@acme.com").await;
    let group = scim(
        &app,
        "POST",
        "/Groups",
        Some(json!({"schemas": [GROUP], "displayName": "Sales"})),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Entra's writes, each kind once.
    let add = patch(json!([{"op": "Add", "path": "members", "value": [{"value": bob}]}]));
    scim(&app, "PATCH", &format!("/Groups/{group}"), Some(add)).await;
    let remove = patch(json!([{"op": "Remove", "path": format!("members[value eq \"{bob}\"]")}]));
    scim(&app, "PATCH", &format!("/Groups/{group}"), Some(remove)).await;
    let rename = patch(json!([{"op": "Replace", "path": "displayName", "value": "Ann A"}]));
    scim(&app, "PATCH", &format!("/Users/{ann}"), Some(rename)).await;
    let disable = patch(json!([{"op": "Replace", "path": "active", "value": "False"}]));
    scim(&app, "PATCH", &format!("/Users/{ann}"), Some(disable)).await;
    app.delete(&format!("/Users/{carol}")).await;
    app.delete(&format!("/Groups/{group}")).await;
    // A refused create names its target by the request's userName.
    app.post(
        "/Users",
        json!({"schemas": [USER], "userName": "ANN@acme.com"}),
    )
    .await
    .assert_error(409, Some("uniqueness"));
    // Entra's matching query names the user it looks for.
    app.get("/Users?filter=userName%20eq%20%22ann%40acme.com%22")
        .await;
    // Enough reads of bob to fill three pages.
    for _ in 0..410 {
        scim(&app, "GET", &format!("/Users/{bob}"), None).await;
    }
    let rows = all_requests(&app, 422).await;
    assert_eq!(rows.len(), 422);

    // Every write carries Entra's action and its target.
    let by_action = |action: &str| -> Vec<&RequestLog> {
        rows.iter()
            .map(|r| &r.1)
            .filter(|r| r.action.as_deref() == Some(action))
            .collect()
    };
    let one = |action: &str| {
        let found = by_action(action);
        assert_eq!(found.len(), 1, "{action}: {found:?}");
        (
            found[0].target_id.clone(),
            found[0].target_name.clone(),
            found[0].status,
        )
    };
    let some = |s: &str| Some(s.to_string());
    assert_eq!(
        by_action("Create user").len(),
        4,
        "three created, one refused"
    );
    assert_eq!(one("Create group"), (some(&group), some("Sales"), 201));
    assert_eq!(one("Add member"), (some(&group), some("Sales"), 204));
    assert_eq!(one("Remove member"), (some(&group), some("Sales"), 204));
    assert_eq!(one("Update user"), (some(&ann), some("ann@acme.com"), 200));
    assert_eq!(one("Disable user"), (some(&ann), some("ann@acme.com"), 200));
    assert_eq!(
        one("Delete user"),
        (some(&carol), some("carol@acme.com"), 204)
    );
    assert_eq!(one("Delete group"), (some(&group), some("Sales"), 204));
    assert_eq!(by_action("Get user").len(), 410);
    let refused = rows.iter().find(|r| r.1.status == 409).unwrap();
    assert_eq!(refused.1.target_name.as_deref(), Some("ANN@acme.com"));
    assert_eq!(refused.1.target_id, None);
    let created = by_action("Create user");
    let ann_created = created
        .iter()
        .find(|r| r.status == 201 && r.target_id == some(&ann));
    assert_eq!(
        ann_created.unwrap().target_external.as_deref(),
        Some("ext-ann")
    );

    // Page 1: the newest 200, with the action and target names.
    let first = page(&app, &op, "/admin/orgs/acme/provisioning").await;
    let first_ids = row_ids(&first);
    assert_eq!(first_ids, ids(&rows[..200]));
    assert!(
        first.contains("Get user") && first.contains("bob@acme.com"),
        "{first}"
    );
    assert!(first.contains(&format!("href=\"/admin/orgs/acme/users/{bob}\"")));
    assert!(rel(&first, "prev").is_none());
    let next = rel(&first, "next").expect("a next page");
    // New requests arrive while the admin reads.
    for _ in 0..3 {
        scim(&app, "GET", &format!("/Users/{ann}"), None).await;
    }
    all_requests(&app, 425).await;
    let second = page(&app, &op, &next).await;
    assert_eq!(row_ids(&second), ids(&rows[200..400]), "no gap, no repeat");
    assert!(second.contains("Page 2"));
    let third = page(&app, &op, &rel(&second, "next").unwrap()).await;
    assert_eq!(row_ids(&third), ids(&rows[400..]));
    assert!(third.contains("Disable user") && third.contains("Add member"));
    assert!(third.contains("Remove member") && third.contains("Delete group"));
    assert!(rel(&third, "next").is_none(), "the oldest page");
    // Back from page 2: page 1's rows (the new ones are one page further up).
    let back = page(&app, &op, &rel(&second, "prev").unwrap()).await;
    assert_eq!(row_ids(&back), first_ids);
    assert!(rel(&back, "prev").is_some(), "newer rows arrived");

    // Search by user: its id, its userName in any case, its externalId.
    let rows = all_requests(&app, 425).await;
    let ann_rows: Vec<i64> = rows
        .iter()
        .filter(|(_, r)| {
            r.target_id.as_deref() == Some(ann.as_str())
                || r.target_name
                    .as_deref()
                    .is_some_and(|n| n.eq_ignore_ascii_case("ann@acme.com"))
                || r.target_external.as_deref() == Some("ext-ann")
        })
        .map(|r| r.0)
        .collect();
    assert_eq!(
        ann_rows.len(),
        8,
        "create, 2 PATCHes, refused create, query, 3 reads"
    );
    for q in ["ann%40acme.com", "ANN%40ACME.COM", "ext-ann"] {
        let found = page(
            &app,
            &op,
            &format!("/admin/orgs/acme/provisioning?user={q}"),
        )
        .await;
        let mut want = ann_rows.clone();
        if q == "ext-ann" {
            // By externalId: the rows of the user that had it (and any row without an id
            // that carried it; the refused create and the lookup carried none).
            want.retain(|id| {
                rows.iter().any(|(i, r)| {
                    i == id
                        && (r.target_id.as_deref() == Some(ann.as_str())
                            || r.target_external.as_deref() == Some("ext-ann"))
                })
            });
            assert_eq!(want.len(), 6, "the create, 2 PATCHes, 3 reads");
        }
        assert_eq!(row_ids(&found), want, "{q}");
    }
    let by_id: Vec<i64> = rows
        .iter()
        .filter(|(_, r)| r.target_id.as_deref() == Some(ann.as_str()))
        .map(|r| r.0)
        .collect();
    let found = page(
        &app,
        &op,
        &format!("/admin/orgs/acme/provisioning?user={ann}"),
    )
    .await;
    assert_eq!(row_ids(&found), by_id);
    // By user, 200 a page: bob's 410 reads go on to a second page.
    let bobs = page(
        &app,
        &op,
        &format!("/admin/orgs/acme/provisioning?user={bob}"),
    )
    .await;
    assert_eq!(row_ids(&bobs).len(), 200);
    let more = rel(&bobs, "next").unwrap();
    assert!(more.contains(&format!("user={bob}")), "{more}");

    // Search by status: success, failure, a class, one status.
    let want = |keep: &dyn Fn(u16) -> bool| -> Vec<i64> {
        rows.iter()
            .filter(|(_, r)| keep(r.status))
            .map(|r| r.0)
            .take(200)
            .collect()
    };
    let failures = page(&app, &op, "/admin/orgs/acme/provisioning?status=failure").await;
    assert_eq!(row_ids(&failures), want(&|s| s >= 400));
    let conflict = page(&app, &op, "/admin/orgs/acme/provisioning?status=409").await;
    assert_eq!(row_ids(&conflict), want(&|s| s == 409));
    assert_eq!(row_ids(&conflict).len(), 1);
    let no_content = page(&app, &op, "/admin/orgs/acme/provisioning?status=204").await;
    assert_eq!(row_ids(&no_content), want(&|s| s == 204));
    let success = page(&app, &op, "/admin/orgs/acme/provisioning?status=success").await;
    assert_eq!(row_ids(&success), want(&|s| s < 400));
    let ann_failed = page(
        &app,
        &op,
        "/admin/orgs/acme/provisioning?user=ann%40acme.com&status=failure",
    )
    .await;
    assert_eq!(row_ids(&ann_failed), vec![refused.0]);
    let none = page(&app, &op, "/admin/orgs/acme/provisioning?user=nobody").await;
    assert!(
        none.contains("No SCIM requests match this filter"),
        "{none}"
    );

    // Ann's page lists her own history, and only hers.
    let user = page(&app, &op, &format!("/admin/orgs/acme/users/{ann}")).await;
    let history = user.split("id=\"provisioning-history\"").nth(1).unwrap();
    assert_eq!(row_ids(history), ann_rows);
    assert!(history.contains("Disable user") && history.contains("Update user"));
    assert!(history.contains(&format!("/admin/orgs/acme/provisioning?user={ann}")));
    let entry = page(
        &app,
        &op,
        &format!(
            "/admin/orgs/acme/provisioning/{}",
            ann_rows[ann_rows.len() - 1]
        ),
    )
    .await;
    assert!(
        entry.contains("Create user") && entry.contains("ext-ann"),
        "{entry}"
    );
}

#[actix_web::test]
async fn log_searches_refuse_bad_parameters_with_a_page() {
    let app = spawn_app().await;
    let op = operator(&app).await;
    for q in [
        "/provisioning?status=abc",
        "/provisioning?status=600",
        "/provisioning?before=xyz",
        "/provisioning?before=-3",
        "/provisioning?before=1&after=2",
        "/provisioning?since=2w",
        "/provisioning?page=0&before=5",
        &format!("/provisioning?user={}", "x".repeat(300)),
        "/signins?outcome=maybe",
        "/signins?reason=%3Cscript%3E",
        "/signins?after=1.5",
        "/signins?since=forever",
    ] {
        let r = app.admin_get(&op, &format!("/admin/orgs/acme{q}")).await;
        assert_eq!(r.status, 400, "{q}: {}", r.text);
        assert!(
            r.header("content-type")
                .unwrap_or_default()
                .starts_with("text/html"),
            "{q}"
        );
        assert!(r.text.contains("Bad search"), "{q}: {}", r.text);
        assert!(!r.text.contains("<script>"), "{q}");
    }
    let r = app
        .admin_get(
            &op,
            "/admin/orgs/acme/provisioning?status=failure&before=99",
        )
        .await;
    assert_eq!(r.status, 200);
}

#[actix_web::test]
async fn signin_log_pages_and_searches() {
    let app = spawn_sso_app().await;
    let op = operator(&app).await;
    let alice = scim(
        &app,
        "POST",
        "/Users",
        Some(json!({"schemas": [USER], "userName": "alice@acme.com",
                    "externalId": test_idp::OID, "active": true,
                    "emails": [{"value": "alice@acme.com", "type": "work", "primary": true}]})),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Real sign-ins: one accepted, one refused for the audience (before anyone is named),
    // one refused for alice, deactivated a moment.
    let ok = app.sso(|_| {}).await;
    assert_eq!(ok.status, 303, "{}", ok.text);
    let refused = app
        .sso(|e| e.audience = "https://wrong.example/sp".into())
        .await;
    let wrong = reference_of(&refused);
    let active = |on: bool| patch(json!([{"op": "Replace", "path": "active", "value": on}]));
    scim(
        &app,
        "PATCH",
        &format!("/Users/{alice}"),
        Some(active(false)),
    )
    .await;
    let inactive = reference_of(&app.sso(|_| {}).await);
    scim(
        &app,
        "PATCH",
        &format!("/Users/{alice}"),
        Some(active(true)),
    )
    .await;
    // And 410 more attempts of another user (written as the sign-in code writes them).
    let org = acme(&app);
    app.store
        .write_now(|c| {
            for i in 0..410 {
                let success = i % 3 == 0;
                signin_store::log_signin(
                    c,
                    &SigninLog {
                        org_id: Some(org),
                        at: idgate::clock::timestamp(time::OffsetDateTime::now_utc()),
                        reference: format!("BULK-{i:04}"),
                        method: "password",
                        success,
                        reason: (!success).then(|| "bad_password".to_string()),
                        email: Some("zed@acme.com".into()),
                        ..Default::default()
                    },
                )?;
            }
            Ok(())
        })
        .unwrap();
    let all: Vec<(i64, SigninLog)> = app
        .store
        .read_now(|c| log_pages::signins(c, org, &Default::default(), Cursor::Newest, 100_000))
        .unwrap();
    assert_eq!(all.len(), 413);
    let refs = |rows: &[(i64, SigninLog)]| -> Vec<String> {
        rows.iter().map(|r| r.1.reference.clone()).collect()
    };
    let shown = |page: &str| links(page, "href=\"/admin/orgs/acme/signins/");

    let first = page(&app, &op, "/admin/orgs/acme/signins").await;
    assert_eq!(shown(&first), refs(&all[..200]));
    // A new sign-in arrives between pages.
    assert_eq!(app.sso(|_| {}).await.status, 303);
    let second = page(&app, &op, &rel(&first, "next").unwrap()).await;
    assert_eq!(shown(&second), refs(&all[200..400]), "no gap, no repeat");
    let third = page(&app, &op, &rel(&second, "next").unwrap()).await;
    assert_eq!(shown(&third), refs(&all[400..]));
    assert!(third.contains(&wrong));
    assert!(rel(&third, "next").is_none());

    // By user: the email in any case, the userName, the id; by outcome and reason.
    let all: Vec<(i64, SigninLog)> = app
        .store
        .read_now(|c| log_pages::signins(c, org, &Default::default(), Cursor::Newest, 100_000))
        .unwrap();
    let alices: Vec<String> = all
        .iter()
        .filter(|(_, r)| {
            r.user_id.as_deref() == Some(alice.as_str())
                || r.email
                    .as_deref()
                    .is_some_and(|e| e.eq_ignore_ascii_case("alice@acme.com"))
        })
        .map(|r| r.1.reference.clone())
        .collect();
    assert!(
        alices.len() >= 3 && alices.contains(&inactive),
        "{alices:?}"
    );
    assert!(
        !alices.contains(&wrong),
        "the audience refusal names nobody"
    );
    for q in ["alice%40acme.com", "ALICE%40acme.com"] {
        let found = page(&app, &op, &format!("/admin/orgs/acme/signins?user={q}")).await;
        assert_eq!(shown(&found), alices, "{q}");
    }
    let linked: Vec<String> = all
        .iter()
        .filter(|(_, r)| r.user_id.as_deref() == Some(alice.as_str()))
        .map(|r| r.1.reference.clone())
        .collect();
    assert!(linked.len() >= 2, "the two accepted sign-ins");
    let found = page(&app, &op, &format!("/admin/orgs/acme/signins?user={alice}")).await;
    assert_eq!(shown(&found), linked);
    let found = page(
        &app,
        &op,
        "/admin/orgs/acme/signins?user=alice%40acme.com&outcome=failure",
    )
    .await;
    assert_eq!(shown(&found), vec![inactive.clone()]);
    let found = page(&app, &op, "/admin/orgs/acme/signins?reason=wrong_audience").await;
    assert_eq!(shown(&found), vec![wrong.clone()]);
    let zed_ok: Vec<String> = all
        .iter()
        .filter(|(_, r)| r.success && r.email.as_deref() == Some("zed@acme.com"))
        .map(|r| r.1.reference.clone())
        .collect();
    let found = page(
        &app,
        &op,
        "/admin/orgs/acme/signins?user=zed%40acme.com&outcome=success",
    )
    .await;
    assert_eq!(shown(&found), zed_ok);
    let none = page(&app, &op, "/admin/orgs/acme/signins?user=nobody%40acme.com").await;
    assert!(none.contains("No sign-ins match this search"));

    // Alice's page lists her sign-ins and links to all of them.
    let user = page(&app, &op, &format!("/admin/orgs/acme/users/{alice}")).await;
    let signins = user.split("id=\"signins\"").nth(1).unwrap();
    let signins = signins.split("id=\"provisioning-history\"").next().unwrap();
    assert_eq!(shown(signins), alices);
    assert!(signins.contains(&format!("/admin/orgs/acme/signins?user={alice}")));
}
