//! The admin UI's directory and log pages over HTTP: users and groups (search, filters,
//! pages, the SCIM representation), the provisioning and sign-in logs with their hints,
//! the audit logs, and that an org admin sees nothing of another org.

use idgate::clock::{Clock, timestamp};
use idgate::saml::test_idp;
use idgate::store::requests::{self, RequestLog};
use idgate::store::signin::{self as signin_store, SigninLog};
use idgate::store::{admin as admin_store, orgs};
use serde_json::{Value, json};

use crate::admin_helpers::{csrf_of, operator, org_admin, unescape};
use crate::browser::{reference_of, spawn_sso_app};
use crate::helpers::{TestApp, create_org, spawn_app};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

/// Creates a user over SCIM with `token`; returns its id.
async fn user(app: &TestApp, token: &str, body: Value) -> String {
    let mut body = body;
    body["schemas"] = json!([USER]);
    let r = app.call_as(token, "POST", "/Users", Some(body)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body["id"].as_str().unwrap().to_string()
}

async fn group(app: &TestApp, token: &str, name: &str, members: &[&str]) -> String {
    let members: Vec<Value> = members.iter().map(|m| json!({"value": m})).collect();
    let r = app
        .call_as(
            token,
            "POST",
            "/Groups",
            Some(json!({"schemas": [GROUP], "displayName": name, "members": members})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body["id"].as_str().unwrap().to_string()
}

/// Waits (briefly) until the org has at least `n` provisioning-log rows; returns them
/// (row id, row), newest first.
async fn provisioning_rows(app: &TestApp, slug: &str, n: usize) -> Vec<(i64, RequestLog)> {
    let mut rows = Vec::new();
    for _ in 0..100 {
        rows = app
            .store
            .read_now(|c| {
                let org = orgs::require_org(c, slug)?;
                admin_store::provisioning_log(c, org.id, None, None, 1000)
            })
            .unwrap();
        if rows.len() >= n {
            return rows;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("{slug} has {} provisioning-log rows, not {n}", rows.len());
}

fn org_id(app: &TestApp, slug: &str) -> i64 {
    app.store
        .read_now(|c| Ok(orgs::require_org(c, slug)?.id))
        .unwrap()
}

fn days_ago(days: i64) -> String {
    timestamp(Clock::System.now() - time::Duration::days(days))
}

/// GETs an admin page that must exist; returns its text with HTML escaping undone.
async fn page(app: &TestApp, cookie: &str, path: &str) -> String {
    let r = app.admin_get(cookie, path).await;
    assert_eq!(r.status, 200, "{path}: {}", r.text);
    assert_eq!(
        r.header("cache-control").as_deref(),
        Some("no-store"),
        "{path}"
    );
    unescape(&r.text)
}

#[actix_web::test]
async fn admin_users_and_groups_pages() {
    let app = spawn_app().await;
    let op = operator(&app).await;
    let alice = user(
        &app,
        &app.token,
        json!({"userName": "alice@acme.com", "displayName": "Alice Example", "active": true,
               "roles": [{"value": "viewer", "primary": true}]}),
    )
    .await;
    user(
        &app,
        &app.token,
        json!({"userName": "bob@acme.com", "active": true}),
    )
    .await;
    user(
        &app,
        &app.token,
        json!({"userName": "carol@acme.com", "active": false,
               "displayName": "<script>alert(1)</script>"}),
    )
    .await;
    let sales = group(&app, &app.token, "Sales & Marketing", &[&alice]).await;

    let list = page(&app, &op, "/admin/orgs/acme/users").await;
    for name in [
        "alice@acme.com",
        "bob@acme.com",
        "carol@acme.com",
        "Alice Example",
    ] {
        assert!(list.contains(name), "{name} missing: {list}");
    }
    assert!(list.contains(&format!("href=\"/admin/orgs/acme/users/{alice}\"")));
    assert!(list.contains("viewer"), "the raw role");
    assert!(list.contains("scim"), "the source");
    // Data is escaped: the display name is text, not markup.
    let raw = app.admin_get(&op, "/admin/orgs/acme/users").await.text;
    assert!(!raw.contains("<script>alert"), "{raw}");
    assert!(
        raw.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
        "{raw}"
    );

    // Search and status filters narrow the rows.
    let q = page(&app, &op, "/admin/orgs/acme/users?q=ALI").await;
    assert!(
        q.contains("alice@acme.com") && !q.contains("bob@acme.com"),
        "{q}"
    );
    let q = page(&app, &op, "/admin/orgs/acme/users?q=example").await;
    assert!(q.contains("alice@acme.com") && !q.contains("carol@acme.com"));
    let off = page(&app, &op, "/admin/orgs/acme/users?status=deactivated").await;
    assert!(off.contains("carol@acme.com") && !off.contains("alice@acme.com"));
    assert!(
        off.contains("<option value=\"deactivated\" selected>"),
        "{off}"
    );
    let on = page(&app, &op, "/admin/orgs/acme/users?status=active").await;
    assert!(on.contains("alice@acme.com") && !on.contains("carol@acme.com"));
    let none = page(&app, &op, "/admin/orgs/acme/users?q=nobody&status=bogus").await;
    assert!(none.contains("No users match this search"), "{none}");

    // The user's page: status, role, groups, and the exact SCIM representation.
    let u = page(&app, &op, &format!("/admin/orgs/acme/users/{alice}")).await;
    assert!(u.contains("badge ok\">active"), "{u}");
    assert!(u.contains(&format!("href=\"/admin/orgs/acme/groups/{sales}\"")));
    assert!(u.contains("Sales & Marketing"));
    assert!(u.contains("\"userName\": \"alice@acme.com\""), "{u}");
    assert!(u.contains(&format!("\"id\": \"{alice}\"")), "{u}");
    let scim = app.get(&format!("/Users/{alice}")).await;
    let shown: Value = serde_json::from_str(
        u.split("<pre>")
            .nth(1)
            .and_then(|p| p.split("</pre>").next())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(shown, scim.body, "the page shows what SCIM returns");
    assert_eq!(
        app.admin_get(&op, "/admin/orgs/acme/users/no-such-user")
            .await
            .status,
        404
    );

    // Groups: list, search, members with links.
    let g = page(&app, &op, "/admin/orgs/acme/groups").await;
    assert!(
        g.contains(&format!("href=\"/admin/orgs/acme/groups/{sales}\"")),
        "{g}"
    );
    assert!(g.contains("Sales & Marketing"));
    let g = page(&app, &op, "/admin/orgs/acme/groups?q=zzz").await;
    assert!(!g.contains("Sales & Marketing") && g.contains("No groups match"));
    let one = page(&app, &op, &format!("/admin/orgs/acme/groups/{sales}")).await;
    assert!(
        one.contains(&format!("href=\"/admin/orgs/acme/users/{alice}\"")),
        "{one}"
    );
    assert!(one.contains("Alice Example"));
    assert!(one.contains("\"displayName\": \"Sales & Marketing\""));
    assert_eq!(
        app.admin_get(&op, "/admin/orgs/acme/groups/nope")
            .await
            .status,
        404
    );
}

#[actix_web::test]
async fn admin_users_list_pages_by_fifty() {
    let app = spawn_app().await;
    let op = operator(&app).await;
    for i in 0..52 {
        app.create_user(&format!("user{i:02}@acme.com")).await;
    }
    let links = |p: &str| p.matches("href=\"/admin/orgs/acme/users/").count();
    let first = page(&app, &op, "/admin/orgs/acme/users?status=active").await;
    assert_eq!(links(&first), 50);
    assert!(first.contains("user00@acme.com") && !first.contains("user50@acme.com"));
    assert!(!first.contains("rel=\"prev\""));
    assert!(
        first.contains("href=\"/admin/orgs/acme/users?status=active&page=2\" rel=\"next\""),
        "{first}"
    );
    let second = page(&app, &op, "/admin/orgs/acme/users?status=active&page=2").await;
    assert_eq!(links(&second), 2);
    assert!(second.contains("user50@acme.com") && second.contains("user51@acme.com"));
    assert!(second.contains("href=\"/admin/orgs/acme/users?status=active\" rel=\"prev\""));
    assert!(!second.contains("rel=\"next\""));
    let beyond = page(&app, &op, "/admin/orgs/acme/users?page=9").await;
    assert_eq!(links(&beyond), 0);
}

#[actix_web::test]
async fn admin_provisioning_log_with_hints() {
    let app = spawn_app().await;
    let op = operator(&app).await;
    app.create_user("alice@acme.com").await;
    app.post(
        "/Users",
        json!({"schemas": [USER], "userName": "alice@acme.com"}),
    )
    .await
    .assert_error(409, Some("uniqueness"));
    app.get("/Users?filter=userName%20zz%20%22x%22")
        .await
        .assert_error(400, Some("invalidFilter"));
    let rows = provisioning_rows(&app, "acme", 3).await;
    let conflict = rows.iter().find(|(_, r)| r.status == 409).unwrap().0;
    let bad_filter = rows.iter().find(|(_, r)| r.status == 400).unwrap().0;
    // A server error from three days ago.
    let acme = org_id(&app, "acme");
    app.store
        .write_now(|c| {
            requests::insert(
                c,
                &RequestLog {
                    org_id: Some(acme),
                    at: days_ago(3),
                    request_id: "req-old-503".into(),
                    method: "PATCH".into(),
                    path: "/scim/v2/Users/x".into(),
                    status: 503,
                    scim_type: None,
                    detail: Some("the store is busy".into()),
                    duration_us: 1500,
                    token_name: Some("test".into()),
                    request_body: Some("not json".into()),
                    response_body: None,
                    ..RequestLog::default()
                },
            )
        })
        .unwrap();

    let all = page(&app, &op, "/admin/orgs/acme/provisioning").await;
    for s in [">201</span>", ">409</span>", ">400</span>", ">503</span>"] {
        assert!(all.contains(s), "{s}: {all}");
    }
    assert!(all.contains("uniqueness: "), "scimType and detail");
    assert!(all.contains("POST /scim/v2/Users"));
    assert!(all.contains("1.5 ms"));
    assert!(all.contains(&format!(
        "href=\"/admin/orgs/acme/provisioning/{conflict}\""
    )));
    let four = page(&app, &op, "/admin/orgs/acme/provisioning?status=4").await;
    assert!(four.contains(">409</span>") && four.contains(">400</span>"));
    assert!(!four.contains(">201</span>") && !four.contains(">503</span>"));
    let two = page(&app, &op, "/admin/orgs/acme/provisioning?status=2").await;
    assert!(two.contains(">201</span>") && !two.contains(">409</span>"));
    let five = page(&app, &op, "/admin/orgs/acme/provisioning?status=5").await;
    assert!(five.contains(">503</span>") && !five.contains(">201</span>"));
    let recent = page(&app, &op, "/admin/orgs/acme/provisioning?since=24h").await;
    assert!(recent.contains(">409</span>") && !recent.contains(">503</span>"));
    let week = page(&app, &op, "/admin/orgs/acme/provisioning?since=7d&status=5").await;
    assert!(week.contains(">503</span>"));
    assert!(week.contains("<option value=\"7d\" selected>"));
    let hour = page(&app, &op, "/admin/orgs/acme/provisioning?since=1h&status=5").await;
    assert!(
        hour.contains("No SCIM requests match this filter"),
        "{hour}"
    );

    // The 409: bodies, detail, and what it means for Entra.
    let e = page(
        &app,
        &op,
        &format!("/admin/orgs/acme/provisioning/{conflict}"),
    )
    .await;
    assert!(e.contains("How to fix:"), "{e}");
    assert!(e.contains("A user with that userName or externalId already exists"));
    assert!(e.contains("Matching precedence"));
    assert!(
        e.contains("\"userName\": \"alice@acme.com\""),
        "the request body: {e}"
    );
    assert!(
        e.contains("\"scimType\": \"uniqueness\""),
        "the response body: {e}"
    );
    assert!(e.contains(&rows.iter().find(|r| r.0 == conflict).unwrap().1.request_id));
    let f = page(
        &app,
        &op,
        &format!("/admin/orgs/acme/provisioning/{bad_filter}"),
    )
    .await;
    assert!(
        f.contains("Matching precedence attributes must be userName"),
        "{f}"
    );
    let old = rows.len() as i64 + 1;
    let old = page(&app, &op, &format!("/admin/orgs/acme/provisioning/{old}")).await;
    assert!(
        old.contains("check the server log for the request id req-old-503"),
        "{old}"
    );
    assert!(old.contains("<pre>not json</pre>"));
    // A success has no hint.
    let created = rows.iter().find(|(_, r)| r.status == 201).unwrap().0;
    let ok = page(
        &app,
        &op,
        &format!("/admin/orgs/acme/provisioning/{created}"),
    )
    .await;
    assert!(!ok.contains("How to fix:"));
    for missing in ["999999", "abc"] {
        let r = app
            .admin_get(&op, &format!("/admin/orgs/acme/provisioning/{missing}"))
            .await;
        assert_eq!(r.status, 404, "{missing}");
    }
}

#[actix_web::test]
async fn admin_signin_log_with_hints() {
    let app = spawn_sso_app().await;
    let op = operator(&app).await;
    let alice = user(
        &app,
        &app.token,
        json!({"userName": "alice@acme.com", "externalId": test_idp::OID, "active": true,
               "emails": [{"value": "alice@acme.com", "type": "work", "primary": true}]}),
    )
    .await;
    let ok = app.sso(|_| {}).await;
    assert_eq!(ok.status, 303, "{}", ok.text);
    let refused = app
        .sso(|e| e.audience = "https://wrong.example/sp".into())
        .await;
    let bad = reference_of(&refused);
    let good = app
        .signin_log()
        .into_iter()
        .find(|l| l.success)
        .unwrap()
        .reference;
    let acme = org_id(&app, "acme");
    app.store
        .write_now(|c| {
            signin_store::log_signin(
                c,
                &SigninLog {
                    org_id: Some(acme),
                    at: days_ago(3),
                    reference: "OLDR-EF23".into(),
                    method: "password",
                    reason: Some("bad_password".into()),
                    detail: Some("the email or password is wrong".into()),
                    email: Some("alice@acme.com".into()),
                    ..Default::default()
                },
            )
        })
        .unwrap();

    let all = page(&app, &op, "/admin/orgs/acme/signins").await;
    for r in [&bad, &good, "OLDR-EF23"] {
        assert!(
            all.contains(&format!("href=\"/admin/orgs/acme/signins/{r}\"")),
            "{r}"
        );
    }
    assert!(all.contains("wrong_audience") && all.contains("badge ok\">success"));
    let failed = page(&app, &op, "/admin/orgs/acme/signins?outcome=failure").await;
    assert!(failed.contains(&bad) && !failed.contains(&good));
    let succeeded = page(&app, &op, "/admin/orgs/acme/signins?outcome=success").await;
    assert!(succeeded.contains(&good) && !succeeded.contains(&bad));
    let day = page(&app, &op, "/admin/orgs/acme/signins?since=24h").await;
    assert!(day.contains(&bad) && !day.contains("OLDR-EF23"));
    let month = page(
        &app,
        &op,
        "/admin/orgs/acme/signins?since=30d&outcome=failure",
    )
    .await;
    assert!(month.contains("OLDR-EF23") && month.contains(&bad));

    // The refusal: every field, expected next to received, and the exact value to set.
    let e = page(&app, &op, &format!("/admin/orgs/acme/signins/{bad}")).await;
    assert!(e.contains("How to fix:"), "{e}");
    assert!(
        e.contains(
            "Entra's Identifier (Entity ID) must be exactly https://login.example.com/saml/acme "
        ),
        "{e}"
    );
    assert!(e.contains("https://wrong.example/sp"), "received: {e}");
    assert!(e.contains("<th>Expected</th><th>Received</th>"));
    let s = page(&app, &op, &format!("/admin/orgs/acme/signins/{good}")).await;
    assert!(!s.contains("How to fix:"));
    assert!(
        s.contains(&format!("href=\"/admin/orgs/acme/users/{alice}\"")),
        "{s}"
    );
    let old = page(&app, &op, "/admin/orgs/acme/signins/OLDR-EF23").await;
    assert!(old.contains("The password was wrong"), "{old}");
    assert_eq!(
        app.admin_get(&op, "/admin/orgs/acme/signins/NOPE-NOPE")
            .await
            .status,
        404
    );

    // The user's page lists its sign-ins, with the refused password attempt by email.
    let u = page(&app, &op, &format!("/admin/orgs/acme/users/{alice}")).await;
    assert!(u.contains(&good) && u.contains("OLDR-EF23"), "{u}");
}

#[actix_web::test]
async fn admin_audit_pages() {
    let app = spawn_app().await;
    let op = operator(&app).await;
    let overview = app.admin_get(&op, "/admin/orgs/acme").await;
    let csrf = csrf_of(&overview.text);
    let r = app
        .admin_post(
            &op,
            &csrf,
            "/admin/orgs/acme/name",
            &[("name", "Acme <Renamed>")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    let boss = org_admin(&app, "acme", "boss@acme.com").await;

    let org = page(&app, &op, "/admin/orgs/acme/audit").await;
    assert!(
        org.contains("org.rename") && org.contains("Acme <Renamed>"),
        "{org}"
    );
    assert!(org.contains("operator:root@operator.example"));
    assert!(org.contains("admin.sign-in") && org.contains("boss@acme.com"));
    assert!(org.contains("org admin, password"));
    let raw = app.admin_get(&op, "/admin/orgs/acme/audit").await.text;
    assert!(raw.contains("Acme &#60;Renamed&#62;"), "escaped");
    // The org admin sees its org's rows, not the operator's own sign-ins.
    let own = page(&app, &boss, "/admin/orgs/acme/audit").await;
    assert!(own.contains("org.rename") && !own.contains("operator, password"));

    let every = page(&app, &op, "/admin/audit").await;
    assert!(every.contains("org.rename") && every.contains("operator, password"));
    assert!(
        every.contains("href=\"/admin/orgs/acme/audit\">acme</a>"),
        "{every}"
    );
    assert_eq!(app.admin_get(&boss, "/admin/audit").await.status, 404);
}
/// Every page of the org `slug`, with the ids of its objects.
fn urls(slug: &str, user: &str, group: &str, entry: i64, reference: &str) -> Vec<String> {
    [
        "/users".to_string(),
        "/users?q=a&status=active&page=2".into(),
        format!("/users/{user}"),
        "/groups".into(),
        "/groups?q=x".into(),
        format!("/groups/{group}"),
        "/provisioning".into(),
        "/provisioning?status=4&since=24h".into(),
        format!("/provisioning/{entry}"),
        "/signins".into(),
        "/signins?outcome=failure&since=7d".into(),
        format!("/signins/{reference}"),
        "/audit".into(),
    ]
    .into_iter()
    .map(|p| format!("/admin/orgs/{slug}{p}"))
    .collect()
}

#[actix_web::test]
async fn org_admin_pages_are_scoped_to_their_org() {
    let app = spawn_app().await;
    let op = operator(&app).await;
    let boss = org_admin(&app, "acme", "boss@acme.com").await;
    // acme's own objects.
    let a_user = app.create_user("ann@acme.com").await;
    let a_group = group(&app, &app.token, "Acme team", &[&a_user]).await;
    // Another org with a user, a group, a failed request and a failed sign-in.
    let globex = create_org(&app.store, "globex", "globex.com");
    let g_user = user(&app, &globex, json!({"userName": "gail@globex.com"})).await;
    let g_group = group(&app, &globex, "Globex team", &[&g_user]).await;
    let dup = app
        .call_as(
            &globex,
            "POST",
            "/Users",
            Some(json!({"schemas": [USER], "userName": "gail@globex.com"})),
        )
        .await;
    assert_eq!(dup.status, 409, "{}", dup.text);
    let g_entry = provisioning_rows(&app, "globex", 3)
        .await
        .iter()
        .find(|(_, r)| r.status == 409)
        .unwrap()
        .0;
    let a_entry = provisioning_rows(&app, "acme", 3).await[0].0;
    let (acme_id, globex_id) = (org_id(&app, "acme"), org_id(&app, "globex"));
    app.store
        .write_now(|c| {
            for (org, reference) in [(acme_id, "ACME-REF2"), (globex_id, "GLBX-REF2")] {
                signin_store::log_signin(
                    c,
                    &SigninLog {
                        org_id: Some(org),
                        at: timestamp(Clock::System.now()),
                        reference: reference.into(),
                        method: "saml",
                        reason: Some("wrong_audience".into()),
                        ..Default::default()
                    },
                )?;
            }
            Ok(())
        })
        .unwrap();

    let theirs = urls("globex", &g_user, &g_group, g_entry, "GLBX-REF2");
    let ours = urls("acme", &a_user, &a_group, a_entry, "ACME-REF2");
    // The URLs are real: the operator opens them all, the org admin its own org's.
    for url in &theirs {
        page(&app, &op, url).await;
    }
    for url in &ours {
        page(&app, &boss, url).await;
    }
    let missing = app.admin_get(&boss, "/admin/orgs/nope/users").await;
    assert_eq!(missing.status, 404);
    // Another org's pages are missing ones to the org admin: the same 404 page.
    for url in &theirs {
        let r = app.admin_get(&boss, url).await;
        assert_eq!(r.status, 404, "{url}: {}", r.text);
        assert_eq!(r.text, missing.text, "{url}");
        assert!(
            !r.text.contains("globex") && !r.text.contains("gail"),
            "{url}"
        );
    }
    // Another org's objects under the admin's own org are not found either (by anyone).
    for url in [
        format!("/admin/orgs/acme/users/{g_user}"),
        format!("/admin/orgs/acme/groups/{g_group}"),
        format!("/admin/orgs/acme/provisioning/{g_entry}"),
        "/admin/orgs/acme/signins/GLBX-REF2".to_string(),
    ] {
        for cookie in [&boss, &op] {
            assert_eq!(app.admin_get(cookie, &url).await.status, 404, "{url}");
        }
    }
    assert_eq!(app.admin_get(&boss, "/admin/audit").await.status, 404);
    // The operator's audit page lists every org; the org admin's nav does not link it.
    page(&app, &op, "/admin/audit").await;
    let nav = page(&app, &boss, "/admin/orgs/acme/users").await;
    assert!(!nav.contains("href=\"/admin/audit\""));
    // Not signed in: to the sign-in page.
    let r = app.web("GET", "/admin/orgs/acme/users", &[], None).await;
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location").as_deref(), Some("/admin/login"));
}
