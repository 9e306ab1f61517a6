use super::*;
use crate::directory::filter::parse_filter;
use crate::store::db::{Conn, params_from_iter};
use serde_json::{Value as Json, json};

const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

fn insert_user(conn: &Conn, org: i64, id: &str, data: Json, created: &str, version: i64) {
    let user_name = data["userName"].as_str().unwrap();
    conn.execute(
        "INSERT INTO users (id, org_id, user_name, user_name_key, external_id, display_name_key, \
         active, data, version, created, last_modified) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
        crate::store::db::params![
            id,
            org,
            user_name,
            fold(user_name),
            data["externalId"].as_str(),
            data["displayName"].as_str().map(fold),
            data["active"].as_bool().unwrap_or(true),
            data.to_string(),
            version,
            created,
        ],
    )
    .unwrap();
    for e in data["emails"].as_array().into_iter().flatten() {
        conn.execute(
            "INSERT INTO user_emails (user_id, value_key) VALUES (?1, ?2)",
            crate::store::db::params![id, fold(e["value"].as_str().unwrap())],
        )
        .unwrap();
    }
}

fn insert_group(conn: &Conn, org: i64, id: &str, data: Json, members: &[(&str, &str)]) {
    let dn = data["displayName"].as_str().unwrap();
    conn.execute(
        "INSERT INTO groups (id, org_id, display_name, display_name_key, external_id, data, \
         version, created, last_modified) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?7, ?7)",
        crate::store::db::params![
            id,
            org,
            dn,
            fold(dn),
            data["externalId"].as_str(),
            data.to_string(),
            "2020-01-01T00:00:00.000Z"
        ],
    )
    .unwrap();
    for (m, t) in members {
        conn.execute(
            "INSERT INTO group_members (group_id, member_id, member_type) VALUES (?1, ?2, ?3)",
            crate::store::db::params![id, m, t],
        )
        .unwrap();
    }
}

fn db() -> rusqlite::Connection {
    let mut conn = rusqlite::Connection::open_in_memory().unwrap();
    crate::store::migrate(&mut conn).unwrap();
    register_functions(&conn).unwrap();
    seed(&Conn::Sqlite(&conn));
    conn
}

/// The same database on PostgreSQL (`TEST_PG_URL`), or None (the test is skipped).
fn pg_db(test: &str) -> Option<crate::store::dialect::tests::PgDb> {
    let db = crate::store::dialect::tests::PgDb::create(test)?;
    seed(&db.conn());
    Some(db)
}

/// The test's orgs, users and groups.
fn seed(conn: &Conn) {
    conn.execute_batch(
        "INSERT INTO orgs (id, slug, name, created) VALUES (1, 'one', 'One', '2020-01-01T00:00:00.000Z');
         INSERT INTO orgs (id, slug, name, created) VALUES (2, 'two', 'Two', '2020-01-01T00:00:00.000Z');",
    )
    .unwrap();
    insert_user(
        conn,
        1,
        "u1",
        json!({
            "userName": "Alice", "externalId": "ext-A", "displayName": "Alice Smith",
            "title": "Engineer", "userType": "Employee", "active": true,
            "name": {"givenName": "Alice", "familyName": "O'Malley"},
            "emails": [
                {"value": "alice@example.com", "type": "work", "primary": true},
                {"value": "Alice.Home@Example.ORG", "type": "home"}
            ],
            "phoneNumbers": [{"value": "555-0100", "type": "work"}],
            ENT: {"department": "Sales", "employeeNumber": "100", "manager": {"value": "u2", "displayName": "Bob"}}
        }),
        "2011-05-13T04:42:34.000Z",
        1,
    );
    insert_user(
        conn,
        1,
        "u2",
        json!({
            "userName": "bob_50%", "externalId": "EXT-b", "displayName": "Bob",
            "title": "", "userType": "Contractor", "active": false,
            "name": {"familyName": "Jones"},
            "emails": [{"value": "bob@example.org", "type": "work"}],
            "roles": [],
            ENT: {"department": "Engineering"}
        }),
        "2015-01-01T00:00:00.000Z",
        3,
    );
    insert_user(
        conn,
        1,
        "u3",
        json!({
            "userName": "carol", "title": "Manager",
            "name": {"givenName": "ÉMILE"},
            "emails": [],
            "addresses": [{"streetAddress": "1 Main St", "type": "work", "locality": "x%y"}],
            ENT: {"department": "sales", "manager": {"value": "u1"}}
        }),
        "2020-06-30T12:00:00.500Z",
        2,
    );
    insert_user(
        conn,
        1,
        "u4",
        json!({
            "userName": "dave", "displayName": "Dave_X", "title": "Engineer", "active": true,
            "emails": [
                {"value": "d@x.com", "type": "work", "primary": false},
                {"value": "dave@example.com", "type": "home", "primary": true}
            ]
        }),
        "2021-01-01T00:00:00.000Z",
        1,
    );
    insert_user(
        conn,
        2,
        "x1",
        json!({
            "userName": "alice", "externalId": "ext-A", "displayName": "Alice Smith", "title": "Engineer",
            "emails": [{"value": "alice@example.com", "type": "work"}]
        }),
        "2011-05-13T04:42:34.000Z",
        1,
    );
    insert_group(
        conn,
        1,
        "g1",
        json!({"displayName": "Group1DisplayName", "externalId": "gx1"}),
        &[("u1", "User"), ("u2", "User")],
    );
    insert_group(
        conn,
        1,
        "g2",
        json!({"displayName": "Admins"}),
        &[("g1", "Group")],
    );
    insert_group(conn, 1, "g3", json!({"displayName": "Empty_%"}), &[]);
    insert_group(
        conn,
        2,
        "g9",
        json!({"displayName": "Group1DisplayName"}),
        &[("x1", "User")],
    );
}

fn table(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::User => "users",
        ResourceKind::Group => "groups",
    }
}

fn query(conn: &Conn, kind: ResourceKind, filter: &str) -> Result<Vec<String>, Error> {
    let f = parse_filter(filter).map_err(|e| Error::invalid_filter(e.message))?;
    let sql = filter_to_sql(conn.dialect(), kind, &f, 2)?;
    let q = format!(
        "SELECT r.id FROM {} r WHERE r.org_id = ?1 AND ({}) ORDER BY r.id",
        table(kind),
        sql.sql
    );
    let mut params = vec![Value::Int(1)];
    params.extend(sql.params);
    let mut stmt = conn.prepare(&q).unwrap();
    let rows = stmt
        .query_map(params_from_iter(params), |r| r.get::<_, String>(0))
        .unwrap_or_else(|e| panic!("{filter}: {e}\n{q}"));
    Ok(rows.map(Result::unwrap).collect())
}

use ResourceKind::{Group as G, User as U};

#[test]
fn filters_match_expected_resources() {
    let raw = db();
    filters_match(&Conn::Sqlite(&raw));
}

/// The filter tests, the bad filters, the sort orders and random filters, on PostgreSQL:
/// the same answers as on SQLite.
#[test]
fn postgres_filters_sorts_and_errors_are_those_of_sqlite() {
    let Some(pg) = pg_db("filters") else { return };
    let conn = pg.conn();
    filters_match(&conn);
    bad_filters(&conn);
    sorts(&conn);
    random_filters(&conn, 500);
}

fn filters_match(conn: &Conn) {
    let rows: Vec<(ResourceKind, &str, &[&str])> = vec![
        // userName: key column, case-insensitive.
        (U, r#"userName eq "alice""#, &["u1"]),
        (U, r#"USERNAME EQ "ALICE""#, &["u1"]),
        (
            U,
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "Alice""#,
            &["u1"],
        ),
        (U, r#"userName ne "alice""#, &["u2", "u3", "u4"]),
        (U, r#"userName sw "A""#, &["u1"]),
        (U, r#"userName sw "bob_""#, &["u2"]),
        (U, r#"userName sw "bo%""#, &[]),
        (U, r#"userName sw """#, &["u1", "u2", "u3", "u4"]),
        (U, r#"userName co "_50%""#, &["u2"]),
        (U, r#"userName co "%""#, &["u2"]),
        (U, r#"userName co "_""#, &["u2"]),
        (U, r#"userName co "o_""#, &[]),
        (U, r#"userName ew "OL""#, &["u3"]),
        (U, r#"userName gt "bob""#, &["u2", "u3", "u4"]),
        (U, r#"userName ge "carol""#, &["u3", "u4"]),
        (U, r#"userName lt "Bob""#, &["u1"]),
        (U, r#"userName le "carol""#, &["u1", "u2", "u3"]),
        (U, "userName pr", &["u1", "u2", "u3", "u4"]),
        // Entra's queries.
        (
            U,
            r#"userName eq "Test_User_dfeef4c5-5681-4387-b016-bdf221e82081""#,
            &[],
        ),
        (
            U,
            r#"externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef""#,
            &[],
        ),
        (G, r#"displayName eq "Group1DisplayName""#, &["g1"]),
        (U, r#"id eq "u3" and manager eq "u1""#, &["u3"]),
        (U, r#"id eq "u1" and manager eq "u1""#, &[]),
        (
            U,
            r#"emails[type eq "work" and value co "@example.com"] or phoneNumbers[type eq "work" and value co "555"]"#,
            &["u1"],
        ),
        (
            U,
            r#"meta.lastModified gt "2011-05-13T04:42:34Z""#,
            &["u2", "u3", "u4"],
        ),
        (U, r#"title pr and userType eq "Employee""#, &["u1"]),
        (
            U,
            r#"userType eq "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
            &[],
        ),
        (
            U,
            r#"not (emails co "example.com" or emails.value co "example.org")"#,
            &["u3"],
        ),
        // externalId and id: caseExact.
        (U, r#"externalId eq "ext-A""#, &["u1"]),
        (U, r#"externalId eq "EXT-A""#, &[]),
        (U, r#"externalId sw "EXT""#, &["u2"]),
        (U, "externalId pr", &["u1", "u2"]),
        (U, r#"id eq "u1""#, &["u1"]),
        (U, r#"id eq "U1""#, &[]),
        (U, r#"id eq "x1""#, &[]),
        (U, r#"id co "u""#, &["u1", "u2", "u3", "u4"]),
        (G, r#"externalId eq "gx1""#, &["g1"]),
        // displayName (key column).
        (U, r#"displayName eq "alice smith""#, &["u1"]),
        (U, r#"displayName co "_""#, &["u4"]),
        (U, "displayName pr", &["u1", "u2", "u4"]),
        (G, r#"displayName co "_%""#, &["g3"]),
        (G, r#"displayName sw "group""#, &["g1"]),
        (G, r#"displayName ew "INS""#, &["g2"]),
        // JSON attributes, folded.
        (U, r#"title eq "engineer""#, &["u1", "u4"]),
        (U, r#"title co "GIN""#, &["u1", "u4"]),
        (U, "title pr", &["u1", "u3", "u4"]),
        (U, r#"title ne "Engineer""#, &["u3"]),
        (U, r#"not (title eq "Engineer")"#, &["u2", "u3"]),
        (U, r#"title gt "f""#, &["u3"]),
        (U, r#"name.familyName co "O'Malley""#, &["u1"]),
        (U, r#"name.givenName eq "émile""#, &["u3"]),
        (
            U,
            r#"urn:ietf:params:scim:schemas:core:2.0:User:name.givenName sw "al""#,
            &["u1"],
        ),
        (U, "name pr", &["u1", "u2", "u3"]),
        (U, "name.givenName pr", &["u1", "u3"]),
        (U, r#"name[givenName eq "alice"]"#, &["u1"]),
        (U, "roles pr", &[]),
        (U, "addresses pr", &["u3"]),
        (U, r#"addresses.locality co "%""#, &["u3"]),
        (U, r#"addresses.locality co "x_y""#, &[]),
        // Enterprise extension.
        (U, r#"{ENT}:department eq "SALES""#, &["u1", "u3"]),
        (U, r#"{ENT}:department ne "sales""#, &["u2"]),
        (U, "{ENT}:department pr", &["u1", "u2", "u3"]),
        (U, r#"department eq "sales""#, &["u1", "u3"]),
        (U, r#"manager eq "u1""#, &["u3"]),
        (U, r#"{ENT}:manager eq "u2""#, &["u1"]),
        (U, r#"{ENT}:manager.value eq "u1""#, &["u3"]),
        (U, r#"{ENT}:manager.displayName eq "bob""#, &["u1"]),
        (U, "{ENT}:manager pr", &["u1", "u3"]),
        (U, r#"{ENT}:manager[value eq "u2"]"#, &["u1"]),
        (U, r#"{ENT}:employeeNumber gt "099""#, &["u1"]),
        // Booleans.
        (U, "active eq true", &["u1", "u4"]),
        (U, "active eq false", &["u2"]),
        (U, "active ne true", &["u2"]),
        (U, "not (active eq true)", &["u2", "u3"]),
        (U, "active pr", &["u1", "u2", "u4"]),
        (U, "emails[primary eq true]", &["u1", "u4"]),
        (U, r#"emails[primary eq true and type eq "work"]"#, &["u1"]),
        (U, r#"emails[primary eq false and type eq "work"]"#, &["u4"]),
        // Emails: the index table and json_each.
        (U, r#"emails.value eq "ALICE@example.com""#, &["u1"]),
        (U, r#"emails eq "alice.home@example.org""#, &["u1"]),
        (U, r#"emails.value eq "nobody@example.com""#, &[]),
        (U, r#"emails.value co "EXAMPLE.ORG""#, &["u1", "u2"]),
        (U, r#"emails co "example.com""#, &["u1", "u4"]),
        (U, r#"emails.value ew ".com""#, &["u1", "u4"]),
        (U, r#"emails.type eq "home""#, &["u1", "u4"]),
        (U, r#"emails.type ne "work""#, &["u1", "u4"]),
        (U, "emails pr", &["u1", "u2", "u4"]),
        (U, "emails.primary pr", &["u1", "u4"]),
        (U, r#"emails[value eq "alice@example.com"]"#, &["u1"]),
        (
            U,
            r#"emails[type eq "home" and value eq "alice@example.com"]"#,
            &[],
        ),
        (
            U,
            r#"emails[type eq "work" and value eq "alice@example.com"]"#,
            &["u1"],
        ),
        (U, r#"emails[type eq "work"].value eq "d@x.com""#, &["u4"]),
        (U, r#"emails[type eq "home"].value eq "d@x.com""#, &[]),
        (U, r#"emails[not (type eq "work")]"#, &["u1", "u4"]),
        (
            U,
            r#"emails[type eq "work" and (value sw "bob" or value sw "d@")]"#,
            &["u2", "u4"],
        ),
        // And / or / not / parentheses.
        (
            U,
            r#"title eq "Engineer" and active eq true"#,
            &["u1", "u4"],
        ),
        (
            U,
            r#"title eq "Manager" or userName eq "bob_50%""#,
            &["u2", "u3"],
        ),
        (
            U,
            r#"title eq "Manager" or userName eq "bob_50%" and active eq true"#,
            &["u3"],
        ),
        (
            U,
            r#"(title eq "Manager" or userName eq "bob_50%") and active eq false"#,
            &["u2"],
        ),
        (
            U,
            r#"not (title eq "Manager" or userName eq "bob_50%")"#,
            &["u1", "u4"],
        ),
        (U, "not (title pr) and not (displayName pr)", &[]),
        (U, "not (title pr) or not (displayName pr)", &["u2", "u3"]),
        (U, "not (not (title pr))", &["u1", "u3", "u4"]),
        // dateTime: normalized, chronological.
        (U, r#"meta.created eq "2011-05-13T04:42:34Z""#, &["u1"]),
        (U, r#"meta.created eq "2011-05-13T06:42:34+02:00""#, &["u1"]),
        (
            U,
            r#"meta.created gt "2020-06-30T12:00:00Z""#,
            &["u3", "u4"],
        ),
        (
            U,
            r#"meta.created ge "2020-06-30T12:00:00.500Z""#,
            &["u3", "u4"],
        ),
        (
            U,
            r#"meta.created lt "2015-01-01T00:00:00.001Z""#,
            &["u1", "u2"],
        ),
        (
            U,
            r#"meta.created le "2015-01-01T00:00:00Z""#,
            &["u1", "u2"],
        ),
        (
            U,
            r#"meta.created le "2014-12-31T23:00:00-01:00""#,
            &["u1", "u2"],
        ),
        (
            U,
            r#"meta.created ne "2011-05-13T04:42:34Z""#,
            &["u2", "u3", "u4"],
        ),
        (U, "meta.lastModified pr", &["u1", "u2", "u3", "u4"]),
        // meta.resourceType and meta.version.
        (
            U,
            r#"meta.resourceType eq "User""#,
            &["u1", "u2", "u3", "u4"],
        ),
        (U, r#"meta.resourceType eq "Group""#, &[]),
        (G, r#"meta.resourceType eq "Group""#, &["g1", "g2", "g3"]),
        (G, r#"meta.resourceType ne "Group""#, &[]),
        (U, r#"meta.version eq "W/\"3\"""#, &["u2"]),
        (U, r#"meta.version ne "W/\"3\"""#, &["u1", "u3", "u4"]),
        (U, r#"meta.version eq "nonsense""#, &[]),
        // Group members through group_members.
        (G, r#"members.value eq "u1""#, &["g1"]),
        (G, r#"members eq "u2""#, &["g1"]),
        (G, r#"members eq "g1""#, &["g2"]),
        (G, r#"members eq "x1""#, &[]),
        (G, "members pr", &["g1", "g2"]),
        (G, "not (members pr)", &["g3"]),
        (G, r#"members[value eq "u2"]"#, &["g1"]),
        (G, r#"members[type eq "group"]"#, &["g2"]),
        (G, r#"members[type eq "User" and value eq "u1"]"#, &["g1"]),
        (G, r#"members[type eq "Group" and value eq "u1"]"#, &[]),
        (G, r#"members.type eq "user""#, &["g1"]),
        (G, r#"members.value sw "g""#, &["g2"]),
        (
            G,
            r#"displayName eq "Group1DisplayName" and members eq "u1""#,
            &["g1"],
        ),
        (G, r#"id eq "g1" and members[value eq "u2"]"#, &["g1"]),
    ];
    for (kind, filter, expected) in rows {
        let filter = &filter.replace("{ENT}", ENT);
        let got = query(conn, kind, filter).unwrap_or_else(|e| panic!("{filter}: {e}"));
        assert_eq!(got, expected.to_vec(), "filter: {filter}");
    }
}

#[test]
fn bad_filters_are_invalid_filter_errors() {
    let raw = db();
    bad_filters(&Conn::Sqlite(&raw));
}

fn bad_filters(conn: &Conn) {
    let rows: Vec<(ResourceKind, &str, &str)> = vec![
        (U, r#"foo eq "x""#, "unknown attribute `foo`"),
        (U, r#"name.foo eq "x""#, "unknown attribute `name.foo`"),
        (U, r#"title.x eq "x""#, "unknown attribute `title.x`"),
        (
            G,
            r#"userName eq "x""#,
            "unknown attribute `userName` for Group",
        ),
        (
            G,
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "x""#,
            "unknown attribute",
        ),
        (
            U,
            r#"urn:ietf:params:scim:schemas:core:2.0:Group:displayName eq "x""#,
            "unknown attribute",
        ),
        (U, r#"schemas eq "x""#, "unknown attribute `schemas`"),
        (
            U,
            "active gt true",
            "not valid for the boolean attribute `active`",
        ),
        (U, "active co true", "not valid for the boolean"),
        (U, r#"active eq "true""#, "boolean attribute"),
        (U, "userName eq 1", "string attribute"),
        (U, "title eq true", "string attribute"),
        (U, "title eq null", "null"),
        (
            U,
            r#"name gt "x""#,
            "`gt` is not valid for the complex attribute `name`",
        ),
        (U, r#"{ENT}:manager gt "x""#, "complex"),
        (
            U,
            r#"emails gt "x""#,
            "`gt` is not valid for the complex attribute `emails`",
        ),
        (
            G,
            r#"members le "x""#,
            "`le` is not valid for the complex attribute `members`",
        ),
        (U, r#"name eq "x""#, "`name` is complex"),
        (U, r#"meta eq "x""#, "complex"),
        (
            U,
            r#"meta.created gt "yesterday""#,
            "not an RFC 3339 timestamp",
        ),
        (U, r#"meta.created gt "2011-13-13T04:42:34Z""#, "RFC 3339"),
        (U, "meta.created gt 5", "dateTime"),
        (U, r#"meta.created co "2011""#, "not valid for the dateTime"),
        (U, r#"meta.location eq "x""#, "not supported"),
        (U, r#"meta.version gt "W/\"1\"""#, "use eq or ne"),
        (U, "meta.resourceType eq 1", "string"),
        (U, r#"emails[foo eq "x"]"#, "unknown attribute `emails.foo`"),
        (U, r#"title[value eq "x"]"#, "complex attribute"),
        (U, r#"meta[created eq "x"]"#, "`meta` is complex"),
        (U, r#"emails[primary eq "yes"]"#, "boolean"),
        (U, "emails.type eq 3", "string"),
        (G, r#"members.display eq "x""#, "not supported"),
        (G, r#"members[display eq "x"]"#, "not supported"),
        (G, "members.value eq 1", "string"),
    ];
    for (kind, filter, needle) in rows {
        let filter = &filter.replace("{ENT}", ENT);
        let e = query(conn, kind, filter).expect_err(filter);
        match &e {
            Error::BadRequest {
                scim_type: Some(crate::error::ScimType::InvalidFilter),
                detail,
            } => assert!(
                detail.contains(needle),
                "{filter}: {detail:?} lacks {needle:?}"
            ),
            other => panic!("{filter}: unexpected error {other:?}"),
        }
    }
    // A filter with too many terms.
    let many = vec!["title pr"; MAX_TERMS + 1].join(" or ");
    assert!(query(conn, U, &many).is_err());
    let ok = vec!["title pr"; MAX_TERMS].join(" or ");
    assert_eq!(query(conn, U, &ok).unwrap(), ["u1", "u3", "u4"]);
}

#[test]
fn values_are_bound_not_spliced() {
    let f = parse_filter(r#"title eq "x' OR 1=1 --" and emails.value eq "a""#).unwrap();
    let sql = filter_to_sql(Dialect::Sqlite, U, &f, 5).unwrap();
    assert!(!sql.sql.contains("OR 1=1"), "{}", sql.sql);
    assert!(
        sql.sql.contains("?5") && sql.sql.contains("?6"),
        "{}",
        sql.sql
    );
    assert_eq!(sql.params.len(), 2);
    let raw = db();
    let conn = Conn::Sqlite(&raw);
    assert!(
        query(&conn, U, r#"title eq "x' OR 1=1 --""#)
            .unwrap()
            .is_empty()
    );
}

fn plan(conn: &Conn, kind: ResourceKind, filter: &str) -> String {
    let f = parse_filter(filter).unwrap();
    let sql = filter_to_sql(Dialect::Sqlite, kind, &f, 2).unwrap();
    let q = format!(
        "EXPLAIN QUERY PLAN SELECT r.id FROM {} r WHERE r.org_id = ?1 AND ({})",
        table(kind),
        sql.sql
    );
    let mut params = vec![Value::Int(1)];
    params.extend(sql.params);
    let mut stmt = conn.prepare(&q).unwrap();
    let rows = stmt
        .query_map(params_from_iter(params), |r| r.get::<_, String>(3))
        .unwrap();
    rows.map(Result::unwrap).collect::<Vec<_>>().join("\n")
}

#[test]
fn indexed_lookups_do_not_scan() {
    let raw = db();
    let conn = Conn::Sqlite(&raw);
    let rows: Vec<(ResourceKind, &str, &str)> = vec![
        (U, r#"userName eq "alice""#, "users_org_user_name"),
        (U, r#"userName sw "al""#, "users_org_user_name"),
        (U, r#"externalId eq "ext-A""#, "users_org_external_id"),
        (U, r#"id eq "u1""#, "sqlite_autoindex_users_1"),
        (
            U,
            r#"emails.value eq "alice@example.com""#,
            "user_emails_value",
        ),
        (U, r#"emails eq "alice@example.com""#, "user_emails_value"),
        (
            U,
            r#"emails[type eq "work" and value eq "alice@example.com"]"#,
            "user_emails_value",
        ),
        (U, r#"displayName eq "bob""#, "users_org_display_name"),
        (
            G,
            r#"displayName eq "Group1DisplayName""#,
            "groups_org_display_name",
        ),
        (G, r#"externalId eq "gx1""#, "groups_org_external_id"),
        (G, r#"id eq "g1""#, "sqlite_autoindex_groups_1"),
        (G, r#"members eq "u1""#, "group_members_member"),
        (G, r#"members[value eq "u1"]"#, "group_members_member"),
        (G, r#"members.value eq "u1""#, "group_members_member"),
    ];
    for (kind, filter, index) in rows {
        let p = plan(&conn, kind, filter);
        assert!(!p.contains("SCAN r"), "{filter} scans:\n{p}");
        // Not a walk over all of the org's rows either.
        assert!(
            !p.contains("_org_seq (org_id=?)"),
            "{filter} walks the org:\n{p}"
        );
        assert!(p.contains(index), "{filter} does not use {index}:\n{p}");
    }
}

#[test]
fn sort_expressions() {
    let raw = db();
    sorts(&Conn::Sqlite(&raw));
}

fn sorts(conn: &Conn) {
    let sorted = |kind: ResourceKind, by: &str| -> Vec<String> {
        let f = crate::directory::filter::parse_patch_path(&by.replace("{ENT}", ENT)).unwrap();
        let e = sort_expr(kind, &f.attr)
            .unwrap()
            .sql(conn.dialect())
            .unwrap();
        let q = format!(
            "SELECT r.id FROM {} r WHERE r.org_id = 1 ORDER BY {e} IS NULL, {e}, r.id",
            table(kind)
        );
        let mut stmt = conn.prepare(&q).unwrap_or_else(|e| panic!("{by}: {e}"));
        stmt.query_map([], |r| r.get::<_, String>(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert_eq!(sorted(U, "userName"), ["u1", "u2", "u3", "u4"]);
    assert_eq!(sorted(U, "meta.created"), ["u1", "u2", "u3", "u4"]);
    assert_eq!(sorted(U, "meta.version"), ["u1", "u4", "u3", "u2"]);
    assert_eq!(sorted(U, "title"), ["u2", "u1", "u4", "u3"]);
    assert_eq!(sorted(U, "name.familyName"), ["u2", "u1", "u3", "u4"]);
    // Primary email first: u4's primary is dave@…, u1's is alice@….
    assert_eq!(sorted(U, "emails"), ["u1", "u2", "u4", "u3"]);
    assert_eq!(sorted(U, "emails.type"), ["u4", "u1", "u2", "u3"]);
    assert_eq!(sorted(U, "{ENT}:department"), ["u2", "u1", "u3", "u4"]);
    assert_eq!(sorted(U, "{ENT}:manager"), ["u3", "u1", "u2", "u4"]);
    assert_eq!(sorted(U, "meta.resourceType"), ["u1", "u2", "u3", "u4"]);
    assert_eq!(sorted(G, "displayName"), ["g2", "g3", "g1"]);
    assert_eq!(sorted(G, "members"), ["g2", "g1", "g3"]);
    for (kind, bad) in [
        (U, "foo"),
        (U, "name"),
        (U, "meta"),
        (G, "userName"),
        (U, "meta.location"),
    ] {
        let f = crate::directory::filter::parse_patch_path(bad).unwrap();
        assert!(
            matches!(
                sort_expr(kind, &f.attr),
                Err(Error::BadRequest {
                    scim_type: Some(crate::error::ScimType::InvalidFilter),
                    ..
                })
            ),
            "{bad}"
        );
    }
}

#[test]
fn sql_functions() {
    let raw = db();
    let conn = Conn::Sqlite(&raw);
    let one = |q: &str| -> Option<i64> { conn.query_row(q, [], |r| r.get(0)).unwrap() };
    assert_eq!(one("SELECT scim_co('a%b', '%')"), Some(1));
    assert_eq!(one("SELECT scim_co('ab', '%')"), Some(0));
    assert_eq!(one("SELECT scim_sw('abc', '')"), Some(1));
    assert_eq!(one("SELECT scim_ew('abc', 'bc')"), Some(1));
    assert_eq!(one("SELECT scim_co(NULL, 'x')"), None);
    assert_eq!(one("SELECT scim_co(1, 'x')"), None);
    let f: Option<String> = conn
        .query_row("SELECT scim_fold('ÀbC')", [], |r| r.get(0))
        .unwrap();
    assert_eq!(f.as_deref(), Some("àbc"));
}

/// Random well-formed-ish filters over real attribute names: the translation is either
/// `invalidFilter` or SQL that SQLite runs without error.
#[test]
fn random_filters_translate_to_valid_sql() {
    let raw = db();
    random_filters(&Conn::Sqlite(&raw), 3000);
}

fn random_filters(conn: &Conn, n: usize) {
    const WORDS: &[&str] = &[
        "userName",
        "title",
        "active",
        "emails",
        "emails.value",
        "emails.type",
        "emails.primary",
        "name",
        "name.givenName",
        "members",
        "members.value",
        "members.type",
        "meta.created",
        "meta.version",
        "meta.resourceType",
        "id",
        "externalId",
        "displayName",
        "manager",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
        "nope",
    ];
    const OPS: &[&str] = &["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"];
    const VALUES: &[&str] = &[
        "\"a%_\"",
        "\"\"",
        "true",
        "false",
        "1",
        "-2.5",
        "null",
        "\"2011-05-13T04:42:34Z\"",
        "\"W/\\\"1\\\"\"",
        "\"u1\"",
    ];
    let mut seed: u64 = 0x0123_4567_89AB_CDEF;
    let mut pick = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    for _ in 0..n {
        let mut f = String::new();
        for i in 0..=pick(3) {
            if i > 0 {
                f.push_str([" and ", " or ", " and not "][pick(3)]);
                if f.ends_with("not ") {
                    f.push('(');
                }
            }
            let w = WORDS[pick(WORDS.len())];
            match pick(4) {
                0 => f.push_str(&format!("{w} pr")),
                1 => f.push_str(&format!(
                    "{w}[value {} {} or type eq \"work\"]",
                    OPS[pick(OPS.len())],
                    VALUES[pick(VALUES.len())]
                )),
                _ => f.push_str(&format!(
                    "{w} {} {}",
                    OPS[pick(OPS.len())],
                    VALUES[pick(VALUES.len())]
                )),
            }
            if f.contains("not (")
                && !f.ends_with(')')
                && f.matches('(').count() > f.matches(')').count()
            {
                f.push(')');
            }
        }
        for kind in [U, G] {
            match query(conn, kind, &f) {
                Ok(_) => {}
                Err(Error::BadRequest {
                    scim_type: Some(crate::error::ScimType::InvalidFilter),
                    ..
                }) => {}
                Err(e) => panic!("{f}: {e:?}"),
            }
        }
    }
}

#[test]
fn only_one_equality_on_a_unique_key_is_a_unique_lookup() {
    let user = ResourceKind::User;
    let group = ResourceKind::Group;
    for (kind, f, inline) in [
        (user, r#"userName eq "ann@x""#, true),
        (user, r#"USERNAME eq "ann@x""#, true),
        (user, r#"externalId eq "7""#, true),
        (user, r#"id eq "7""#, true),
        (
            user,
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "ann""#,
            true,
        ),
        (group, r#"externalId eq "g""#, true),
        (user, r#"userName co "ann""#, false),
        (user, r#"userName eq 7"#, false),
        (user, r#"nosuch eq "x""#, false),
        (user, r#"manager eq "x""#, false),
        (user, r#"emails.value eq "ann@x""#, false),
        (user, r#"emails[value eq "ann@x"]"#, false),
        (user, r#"displayName eq "Ann""#, false),
        (user, r#"userName eq "a" and active eq true"#, false),
        (user, r#"userName eq "a" or userName eq "b""#, false),
        (user, r#"not (userName eq "a")"#, false),
        (group, r#"displayName eq "Team""#, true),
        (group, r#"displayName sw "Te""#, false),
        (group, r#"userName eq "a""#, false),
        (
            user,
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "1""#,
            false,
        ),
    ] {
        let parsed = parse_filter(f).unwrap();
        assert_eq!(is_unique_lookup(kind, &parsed), inline, "{kind:?} {f}");
    }
}
