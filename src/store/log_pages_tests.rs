use crate::store::db::Conn;

use super::*;
use crate::store::migrate;

fn db() -> rusqlite::Connection {
    let mut c = rusqlite::Connection::open_in_memory().unwrap();
    migrate(&mut c).unwrap();
    c.execute_batch(
        "INSERT INTO orgs (id, slug, name, created) VALUES (1, 'acme', 'Acme', 'x'), \
         (2, 'other', 'Other', 'x')",
    )
    .ok();
    c
}

fn request(org: i64, status: u16, id: Option<&str>, name: Option<&str>) -> RequestLog {
    RequestLog {
        org_id: Some(org),
        at: "2026-01-01T00:00:00Z".into(),
        request_id: "r".into(),
        method: "POST".into(),
        path: "/scim/v2/Users".into(),
        status,
        target_id: id.map(str::to_string),
        target_name: name.map(str::to_string),
        target_external: name.map(|n| format!("ext-{n}")),
        ..RequestLog::default()
    }
}

fn ids<T>(rows: &[(i64, T)]) -> Vec<i64> {
    rows.iter().map(|(id, _)| *id).collect()
}

/// The orgs of the tests, on PostgreSQL (None: the test is skipped).
fn pg(test: &str) -> Option<crate::store::dialect::tests::PgDb> {
    let db = crate::store::dialect::tests::PgDb::create(test)?;
    db.conn()
        .execute_batch(
            "INSERT INTO orgs (id, slug, name, created) VALUES (1, 'acme', 'Acme', 'x'), \
             (2, 'other', 'Other', 'x')",
        )
        .unwrap();
    Some(db)
}

/// The searches and their pages on PostgreSQL: the same rows as on SQLite, on indexes.
#[test]
fn postgres_pages_and_searches_are_those_of_sqlite() {
    if let Some(db) = pg("log pages") {
        pages(&db.conn());
    }
    if let Some(db) = pg("log searches") {
        searches(&db.conn());
    }
    if let Some(db) = pg("sign-in searches") {
        sign_in_searches(&db.conn());
    }
    if let Some(db) = pg("log renames") {
        renames_and_prunes(&db.conn());
    }
    if let Some(db) = pg("log indexes") {
        pg_searches_use_indexes(&db.conn());
    }
}

#[test]
fn pages_go_back_without_gaps_or_repeats() {
    let raw = db();
    pages(&Conn::Sqlite(&raw));
}

fn pages(c: &Conn) {
    for i in 0..25 {
        requests::insert(c, &request(1 + i % 2, 200, None, None)).unwrap();
    }
    let all = RequestSearch::default();
    let first = requests(c, 1, &all, Cursor::Newest, 5).unwrap();
    assert_eq!(ids(&first), vec![25, 23, 21, 19, 17]);
    let second = requests(c, 1, &all, Cursor::Before(17), 5).unwrap();
    assert_eq!(ids(&second), vec![15, 13, 11, 9, 7]);
    // Back again: the rows just newer, oldest first.
    let back = requests(c, 1, &all, Cursor::After(15), 5).unwrap();
    assert_eq!(ids(&back), vec![17, 19, 21, 23, 25]);
    let last = requests(c, 1, &all, Cursor::Before(3), 5).unwrap();
    assert_eq!(ids(&last), vec![1]);
}

#[test]
fn searches_by_user_and_status() {
    let raw = db();
    searches(&Conn::Sqlite(&raw));
}

fn searches(c: &Conn) {
    requests::insert(c, &request(1, 201, Some("u1"), Some("Ann@x"))).unwrap(); // 1
    requests::insert(c, &request(1, 409, None, Some("ann@X"))).unwrap(); // 2
    requests::insert(c, &request(1, 200, Some("u2"), Some("bob@x"))).unwrap(); // 3
    requests::insert(c, &request(1, 500, Some("u1"), None)).unwrap(); // 4
    requests::insert(c, &request(2, 201, Some("u1"), Some("ann@x"))).unwrap(); // 5
    requests::insert(c, &request(1, 404, None, None)).unwrap(); // 6
    let find = |user: Option<&str>, status| {
        let s = RequestSearch {
            user: user.map(str::to_string),
            status,
            since: None,
        };
        ids(&requests(c, 1, &s, Cursor::Newest, 10).unwrap())
    };
    assert_eq!(find(Some("u1"), StatusFilter::Any), vec![4, 1]);
    // By name: the rows of u1, which had it (also 4, which named no one), and the refused
    // create, which named it without an id.
    assert_eq!(find(Some("ANN@x"), StatusFilter::Any), vec![4, 2, 1]);
    assert_eq!(find(Some("ext-Ann@x"), StatusFilter::Any), vec![4, 1]);
    assert_eq!(find(Some("ext-bob@x"), StatusFilter::Any), vec![3]);
    assert_eq!(find(Some("u1"), StatusFilter::Failure), vec![4]);
    assert_eq!(find(None, StatusFilter::Failure), vec![6, 4, 2]);
    assert_eq!(find(None, StatusFilter::Success), vec![3, 1]);
    assert_eq!(find(None, StatusFilter::Class(4)), vec![6, 2]);
    assert_eq!(find(None, StatusFilter::Exact(409)), vec![2]);
    assert_eq!(find(Some("nobody"), StatusFilter::Any), Vec::<i64>::new());
    let history = user_requests(c, 1, "u1", "ann@x", Some("ext-Ann@x"), 10).unwrap();
    assert_eq!(ids(&history), vec![4, 2, 1]);
}

#[test]
fn a_renamed_users_history_follows_it_until_pruned() {
    let raw = db();
    renames_and_prunes(&Conn::Sqlite(&raw));
}

fn renames_and_prunes(c: &Conn) {
    let at = |mut r: RequestLog, when: &str| {
        r.at = when.to_string();
        r
    };
    let old = "2026-01-01T00:00:00Z";
    let new = "2026-02-01T00:00:00Z";
    requests::insert(c, &at(request(1, 201, Some("u7"), Some("old@x")), old)).unwrap(); // 1
    requests::insert(c, &at(request(1, 200, Some("u7"), Some("old@x")), old)).unwrap(); // 2
    requests::insert(c, &at(request(1, 200, Some("u7"), Some("new@x")), new)).unwrap(); // 3
    requests::insert(c, &at(request(1, 200, Some("u8"), Some("gone@x")), old)).unwrap(); // 4
    requests::insert(c, &at(request(2, 200, Some("u8"), Some("gone@x")), old)).unwrap(); // 5
    let no_org = RequestLog {
        org_id: None,
        ..request(1, 401, None, None)
    };
    requests::insert(c, &at(no_org.clone(), old)).unwrap(); // 6
    requests::insert(c, &at(no_org, new)).unwrap(); // 7
    let find = |user: &str| {
        let s = RequestSearch {
            user: Some(user.to_string()),
            ..RequestSearch::default()
        };
        ids(&requests(c, 1, &s, Cursor::Newest, 10).unwrap())
    };
    // Either name finds the user's whole history; each (id, name) pair is kept once.
    assert_eq!(find("OLD@x"), vec![3, 2, 1]);
    assert_eq!(find("new@x"), vec![3, 2, 1]);
    assert_eq!(find("ext-old@x"), vec![3, 2, 1]);
    assert_eq!(find("gone@x"), vec![4]);
    let count = |sql: &str| c.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
    assert_eq!(count("SELECT COUNT(*) FROM scim_targets"), 4);
    // Pruning January, in every org and in none: u8 is gone with its names; u7 keeps the
    // names its rows had.
    assert_eq!(requests::prune(c, "2026-01-15T00:00:00Z").unwrap(), 5);
    assert_eq!(count("SELECT COUNT(*) FROM scim_requests"), 2);
    assert_eq!(find("gone@x"), Vec::<i64>::new());
    assert_eq!(find("old@x"), vec![3]);
    assert_eq!(
        count("SELECT COUNT(*) FROM scim_targets WHERE target_id = 'u8'"),
        0
    );
    assert_eq!(count("SELECT COUNT(*) FROM scim_targets"), 2);
}

/// The plan of every query a search runs: each one an index search, never a scan of the
/// log or a sort of all its matches.
fn assert_indexed(c: &Conn, queries: Vec<(String, Vec<SqlValue>)>) {
    assert!(!queries.is_empty());
    for (sql, values) in queries {
        let mut stmt = c.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let plan: Vec<String> = stmt
            .query_map(params_from_iter(values.iter()), |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<crate::store::db::Result<_>>()
            .unwrap();
        let text = plan.join(" | ");
        assert!(text.contains("USING INDEX"), "{sql}: {text}");
        assert!(!text.contains("SCAN"), "{sql}: {text}");
        assert!(!text.contains("TEMP B-TREE"), "{sql}: {text}");
    }
}

#[test]
fn every_search_uses_an_index() {
    let raw = db();
    let c = Conn::Sqlite(&raw);
    let statuses = [
        StatusFilter::Any,
        StatusFilter::Success,
        StatusFilter::Failure,
        StatusFilter::Class(4),
        StatusFilter::Exact(409),
    ];
    for user in [None, Some("ann@x".to_string())] {
        for status in statuses {
            for since in [None, Some("2026-01-01T00:00:00Z".to_string())] {
                for cursor in [Cursor::Newest, Cursor::Before(5), Cursor::After(5)] {
                    let s = RequestSearch {
                        user: user.clone(),
                        status,
                        since: since.clone(),
                    };
                    let (drivers, filters) =
                        request_parts(Dialect::Sqlite, &s, &["u9".to_string()]);
                    assert_indexed(
                        &c,
                        queries(
                            "scim_requests",
                            requests::COLUMNS,
                            1,
                            &drivers,
                            &filters,
                            cursor,
                            200,
                        ),
                    );
                }
            }
        }
    }
    let history = target_drivers(Dialect::Sqlite, ["u1", "u2", "u1"], Some("ann"), Some("e"));
    assert_eq!(history.len(), 4, "u1 once, u2, the name, the externalId");
    let q = queries(
        "scim_requests",
        requests::COLUMNS,
        1,
        &history,
        &[],
        Cursor::Newest,
        20,
    );
    assert_indexed(&c, q);
    for user in [None, Some("ann@x".to_string())] {
        for success in [None, Some(true), Some(false)] {
            for reason in [None, Some("no_email".to_string())] {
                let s = SigninSearch {
                    user: user.clone(),
                    success,
                    reason: reason.clone(),
                    since: Some("2026-01-01T00:00:00Z".into()),
                };
                let (drivers, filters) = signin_parts(Dialect::Sqlite, &s, &["u9".to_string()]);
                assert_indexed(
                    &c,
                    queries(
                        "signin_log",
                        &signin_columns(),
                        1,
                        &drivers,
                        &filters,
                        Cursor::Before(9),
                        200,
                    ),
                );
            }
        }
    }
}

#[test]
fn sign_ins_by_user_email_outcome_and_reason() {
    let raw = db();
    sign_in_searches(&Conn::Sqlite(&raw));
}

fn sign_in_searches(c: &Conn) {
    let log = |email: &str, user: Option<&str>, reason: Option<&str>| {
        let row = SigninLog {
            org_id: Some(1),
            at: "2026-01-01T00:00:00Z".into(),
            reference: "ref".into(),
            method: "saml",
            success: reason.is_none(),
            reason: reason.map(str::to_string),
            email: Some(email.into()),
            user_id: user.map(str::to_string),
            ..SigninLog::default()
        };
        signin::log_signin(c, &row).unwrap();
    };
    log("ann@x", Some("u1"), None); // 1
    log("Ann@X", None, Some("not_provisioned")); // 2
    log("bob@x", Some("u2"), Some("user_inactive")); // 3
    log("bob@x", Some("u2"), None); // 4
    let find = |user: Option<&str>, success, reason: Option<&str>| {
        let s = SigninSearch {
            user: user.map(str::to_string),
            success,
            reason: reason.map(str::to_string),
            since: None,
        };
        ids(&signins(c, 1, &s, Cursor::Newest, 10).unwrap())
    };
    assert_eq!(find(Some("ann@x"), None, None), vec![2, 1]);
    assert_eq!(find(Some("u2"), Some(true), None), vec![4]);
    assert_eq!(find(None, Some(false), None), vec![3, 2]);
    assert_eq!(find(None, None, Some("user_inactive")), vec![3]);
    assert_eq!(
        find(Some("ann@x"), Some(false), Some("user_inactive")),
        Vec::<i64>::new()
    );
    let page = signins(c, 1, &SigninSearch::default(), Cursor::Before(4), 2).unwrap();
    assert_eq!(ids(&page), vec![3, 2]);
}

/// PostgreSQL's plans of the searches, with sequential scans and sorts priced out (the test
/// tables are tiny): each query walks an index, the `lower()` ones for names and emails.
fn pg_searches_use_indexes(c: &Conn) {
    c.execute_batch("SET enable_seqscan = off; SET enable_sort = off; SET enable_bitmapscan = off")
        .unwrap();
    let d = Dialect::Postgres;
    let plan = |queries: Vec<(String, Vec<SqlValue>)>| {
        for (sql, values) in queries {
            let mut stmt = c.prepare(&format!("EXPLAIN {sql}")).unwrap();
            let text: Vec<String> = stmt
                .query_map(params_from_iter(values.iter()), |r| r.get::<_, String>(0))
                .unwrap()
                .collect::<crate::store::db::Result<_>>()
                .unwrap();
            let text = text.join(" | ");
            assert!(text.contains("Index"), "{sql}: {text}");
            assert!(!text.contains("Seq Scan"), "{sql}: {text}");
            assert!(!text.contains("Sort"), "{sql}: {text}");
        }
    };
    let statuses = [
        StatusFilter::Any,
        StatusFilter::Failure,
        StatusFilter::Exact(409),
    ];
    for user in [None, Some("Ann@x".to_string())] {
        for status in statuses {
            let s = RequestSearch {
                user: user.clone(),
                status,
                since: Some("2026-01-01T00:00:00Z".to_string()),
            };
            let (drivers, filters) = request_parts(d, &s, &["u9".to_string()]);
            plan(queries(
                "scim_requests",
                requests::COLUMNS,
                1,
                &drivers,
                &filters,
                Cursor::Before(5),
                200,
            ));
        }
    }
    let s = SigninSearch {
        user: Some("Ann@X".into()),
        success: Some(false),
        reason: None,
        since: None,
    };
    let (drivers, filters) = signin_parts(d, &s, &[]);
    plan(queries(
        "signin_log",
        &signin_columns(),
        1,
        &drivers,
        &filters,
        Cursor::Newest,
        50,
    ));
    // The name driver is the lower() index, not a filter over the org's rows.
    let (drivers, _) = request_parts(
        d,
        &RequestSearch {
            user: Some("ANN".into()),
            ..RequestSearch::default()
        },
        &[],
    );
    let q = queries(
        "scim_requests",
        requests::COLUMNS,
        1,
        &drivers,
        &[],
        Cursor::Newest,
        9,
    );
    let (sql, values) = &q[1];
    assert_eq!(values[1], SqlValue::Text("ann".into()), "{sql}");
    let mut stmt = c.prepare(&format!("EXPLAIN {sql}")).unwrap();
    let text: Vec<String> = stmt
        .query_map(params_from_iter(values.iter()), |r| r.get::<_, String>(0))
        .unwrap()
        .collect::<crate::store::db::Result<_>>()
        .unwrap();
    assert!(
        text.join(" | ").contains("scim_requests_target_name"),
        "{sql}: {text:?}"
    );
}
