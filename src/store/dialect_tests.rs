use std::cell::RefCell;

use super::*;
use crate::store::db::{Conn, PgSession};

/// A fresh PostgreSQL database with the schema, for tests that run when
/// `TEST_PG_URL` names a server (`scripts/pg-server.sh start DIR` prints one), and are
/// skipped (with a note) when it does not. Dropped at the end of the test.
pub(crate) struct PgDb {
    session: RefCell<PgSession>,
    admin: postgres::Client,
    name: String,
    /// TEST_PG_URL.
    server: String,
}

impl PgDb {
    pub(crate) fn create(test: &str) -> Option<PgDb> {
        Self::new(test, true)
    }

    /// A fresh database without the schema (for a store that migrates it itself).
    pub(crate) fn empty(test: &str) -> Option<PgDb> {
        Self::new(test, false)
    }

    /// The database's URL: TEST_PG_URL with its database replaced (query kept).
    pub(crate) fn url(&self) -> String {
        let (base, query) = match self.server.split_once('?') {
            Some((b, q)) => (b, format!("?{q}")),
            None => (self.server.as_str(), String::new()),
        };
        let authority = base.find("://").map_or(0, |i| i + 3);
        let end = base[authority..]
            .find('/')
            .map_or(base.len(), |i| authority + i);
        format!("{}/{}{query}", &base[..end], self.name)
    }

    fn new(test: &str, migrate: bool) -> Option<PgDb> {
        let Some(url) = std::env::var("TEST_PG_URL").ok().filter(|u| !u.is_empty()) else {
            eprintln!("{test}: skipped on PostgreSQL (TEST_PG_URL is not set)");
            return None;
        };
        let mut admin = postgres::Client::connect(&url, postgres::NoTls)
            .unwrap_or_else(|e| panic!("cannot connect to {url}: {e}"));
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        // Where the server can, the database's own collation is not "C" (ICU's en-US), so
        // that text compared or sorted without the schema's COLLATE "C" shows up.
        let icu = admin.batch_execute(&format!(
            "CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C' \
             LOCALE_PROVIDER icu ICU_LOCALE 'en-US'"
        ));
        if icu.is_err() {
            admin
                .batch_execute(&format!("CREATE DATABASE {name}"))
                .unwrap();
        }
        let mut config: postgres::Config = url.parse().unwrap();
        config.dbname(&name);
        let mut client = config.connect(postgres::NoTls).unwrap();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/postgres");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "sql"))
            .collect();
        files.sort();
        files.retain(|_| migrate);
        for f in files {
            let sql = std::fs::read_to_string(&f).unwrap();
            client
                .batch_execute(&sql)
                .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        }
        Some(PgDb {
            session: RefCell::new(PgSession::new(client)),
            admin,
            name,
            server: url,
        })
    }

    pub(crate) fn conn(&self) -> Conn<'_> {
        Conn::Pg(&self.session)
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let _ = self.admin.batch_execute(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
    }
}

#[test]
fn json_paths_become_postgres_key_arrays() {
    assert_eq!(keys("$.displayName"), ["displayName"]);
    assert_eq!(keys("$.\"name\".\"givenName\""), ["name", "givenName"]);
    assert_eq!(
        keys("$.\"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User\".\"manager\""),
        [
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
            "manager"
        ]
    );
    assert_eq!(keys("$"), Vec::<&str>::new());
    assert_eq!(pg_path("$.a.\"b.c\""), "'{\"a\",\"b.c\"}'");
    assert_eq!(pg_path("$.\"it's\""), "'{\"it''s\"}'");
    assert_eq!(
        json_text(Dialect::Sqlite, "u.data", "$.displayName"),
        "json_extract(u.data, '$.displayName')"
    );
    assert_eq!(
        json_text(Dialect::Postgres, "u.data", "$.displayName"),
        "((u.data::jsonb #>> '{\"displayName\"}') COLLATE \"C\")"
    );
}

#[test]
fn prefix_bounds() {
    assert_eq!(prefix_upper_bound("abc").as_deref(), Some("abd"));
    assert_eq!(prefix_upper_bound("").as_deref(), None);
    assert_eq!(
        prefix_upper_bound("a\u{D7FF}").as_deref(),
        Some("a\u{E000}")
    );
    assert_eq!(prefix_upper_bound("a\u{10FFFF}").as_deref(), Some("b"));
    assert_eq!(prefix_upper_bound("\u{10FFFF}").as_deref(), None);
    // Every string that starts with the prefix is below the bound, by bytes.
    for (prefix, s) in [
        ("ab", "ab\u{10FFFF}\u{10FFFF}"),
        ("é", "éz"),
        ("x\u{7F}", "x\u{7F}é"),
    ] {
        let hi = prefix_upper_bound(prefix).unwrap();
        assert!(s.as_bytes() < hi.as_bytes() && s >= prefix, "{s:?} {hi:?}");
    }
}

#[test]
fn min2_is_null_when_either_is() {
    let raw = rusqlite::Connection::open_in_memory().unwrap();
    let c = Conn::Sqlite(&raw);
    let sql = format!("SELECT {}", min2("?1", "?2"));
    let one = |a: Option<i64>, b: Option<i64>| -> Option<i64> {
        c.query_row(&sql, crate::store::db::params![a, b], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(one(Some(3), Some(5)), Some(3));
    assert_eq!(one(Some(5), Some(3)), Some(3));
    assert_eq!(one(Some(4), Some(4)), Some(4));
    assert_eq!(one(None, Some(3)), None);
    assert_eq!(one(Some(3), None), None);
}

/// Strings whose lowercase is tricky, for `fold` on both engines.
const FOLD_CORPUS: &[&str] = &[
    "Hello World",
    "ABC-xyz_09 @.+",
    "STRASSE",
    "Straße",
    "\u{1E9E}",           // ẞ capital sharp s → ß
    "İstanbul",           // İ → i + U+0307 combining dot above
    "ISPARTA ıi",         // dotless ı stays
    "ΟΔΟΣ",               // final sigma: ς at the end of a word
    "Σ",                  // a lone capital sigma: σ
    "ΑΣ ΒΣ.",             // final sigma before a space and before a period
    "ΣΑ",                 // sigma at the start: σ
    "ὈΔΥΣΣΕΎΣ",           // Greek with breathing and tonos
    "\u{13A0}\u{13F5}",   // Cherokee Ꭰ Ᏽ → ꭰ ᏽ (U+AB70, U+13FD)
    "\u{AB70}",           // Cherokee small letter: lowercase already
    "E\u{301}COLE",       // E + combining acute
    "ÉCOLE",              // precomposed É
    "\u{212A}ELVIN",      // Kelvin sign K → k
    "\u{212B}",           // Angstrom sign Å → å
    "\u{2126}",           // Ohm sign Ω → ω
    "\u{1C4}\u{1C5}",     // Ǆ ǅ → ǆ ǆ
    "\u{216B}\u{24B6}",   // Roman numeral Ⅻ, circled Ⓐ
    "\u{FF21}\u{FF22}",   // fullwidth ＡＢ
    "\u{10400}",          // Deseret 𐐀 → 𐐨
    "\u{1C90}",           // Georgian Mtavruli Ა → ა (Unicode 11)
    "\u{A7C0}\u{A7D0}",   // Latin Ꟁ Ꟑ (Unicode 14)
    "\u{1F44D}\u{1F3FD}", // 👍🏽
    "\u{1F1E9}\u{1F1EA}", // 🇩🇪
    "ǰ\u{FB00}",          // ǰ and the ﬀ ligature: no single-letter uppercase, stay
    "\u{A7CB}\u{A7DC}",   // Latin Ɤ Ƛ (Unicode 16) → ɤ ƛ
    "\u{10D50}",          // Garay capital letter A (Unicode 16) → U+10D70
];

/// Rust's `fold` (`str::to_lowercase`, what SQLite's `scim_fold` and every key column use)
/// against PostgreSQL's (`dialect::fold`: `lower()` under ICU's root locale), on the corpus.
///
/// Observed with PostgreSQL 15.18 (Debian 12, ICU 72, Unicode 15) and Rust 1.95 (Unicode
/// 16): they agree on every string of the corpus (ASCII, ß/ẞ, Turkish İ/ı, Greek final
/// sigma in every position, Cherokee, combining marks, Kelvin/Ohm/Angstrom signs, Deseret,
/// Georgian Mtavruli, emoji) except letters newer than the server's ICU: the Unicode 16
/// capitals in `DISAGREE` stay uppercase in PostgreSQL's `lower()`. A newer ICU agrees on
/// those too (the test accepts fewer differences, never others).
///
/// userName, displayName and email lookups use key columns folded in Rust on both engines,
/// so their filters and userName's uniqueness are the same by construction (the last part
/// of this test shows it). Only comparisons on other non-caseExact JSON attributes (title,
/// name.givenName, emails.type …: `eq`, `co`, `sw`, `ew`, `gt` …, and sorting by them) fold
/// in SQL, and there a value with a letter that ICU does not know yet can compare
/// differently on PostgreSQL.
#[test]
fn fold_agrees_between_rust_and_postgres() {
    let Some(pg) = PgDb::create("fold_agrees_between_rust_and_postgres") else {
        return;
    };
    let c = pg.conn();
    let sql = format!("SELECT {}", fold(Dialect::Postgres, "CAST(?1 AS TEXT)"));
    let mut disagree = Vec::new();
    for s in FOLD_CORPUS {
        let theirs: String = c.query_row(&sql, [*s], |r| r.get(0)).unwrap();
        let ours = crate::directory::fold(s);
        if theirs != ours {
            disagree.push(format!("{s:?}: Rust {ours:?}, PostgreSQL {theirs:?}"));
        }
    }
    eprintln!("fold disagreements: {disagree:#?}");
    assert!(
        disagree.len() <= DISAGREE.len()
            && disagree
                .iter()
                .all(|d| DISAGREE.iter().any(|s| d.starts_with(&format!("{s:?}")))),
        "unexpected fold differences: {disagree:#?}"
    );

    // userName: the key is Rust's fold on both engines, so `KELVIN` written with the Kelvin
    // sign is the same userName as `kelvin`, and a filter finds it by either spelling.
    c.execute_batch("INSERT INTO orgs (id, slug, name, created) VALUES (1, 'o', 'O', 'x')")
        .unwrap();
    let roles = crate::store::resources::Roles::default();
    let now = "2026-01-01T00:00:00.000Z";
    let doc = |n: &str| serde_json::json!({ "userName": n });
    crate::store::resources::insert_user(&c, 1, "k1", &doc("\u{212A}ELVIN"), &roles, now).unwrap();
    let again = crate::store::resources::insert_user(&c, 1, "k2", &doc("kelvin"), &roles, now);
    assert!(
        matches!(again, Err(crate::error::Error::Conflict(_))),
        "{again:?}"
    );
    for name in ["kelvin", "KELVIN", "\u{212A}elvin"] {
        let f = crate::directory::filter::parse_filter(&format!("userName eq {name:?}")).unwrap();
        let q = crate::store::resources::ListQuery {
            filter: Some(&f),
            sort: None,
            start_index: 1,
            count: 10,
            with_members: false,
            after_seq: None,
        };
        let (total, page) =
            crate::store::resources::list(&c, crate::directory::schema::ResourceKind::User, 1, &q)
                .unwrap();
        assert_eq!((total, page.len()), (1, 1), "{name}");
    }
}

/// The corpus strings (as in `FOLD_CORPUS`) that Rust and PostgreSQL fold differently.
const DISAGREE: &[&str] = &["\u{A7CB}\u{A7DC}", "\u{10D50}"];

/// The statements built at run time and the upserts, on PostgreSQL (their SQLite side runs
/// in the API suite): per-org counts from the striped counters, the users and groups pages
/// with their JSON display names, sorting, members added twice, webhook replays (`min2`),
/// `ON CONFLICT DO NOTHING` where SQLite said `INSERT OR IGNORE`, 0/1 flags in conditions.
#[test]
fn postgres_runs_the_built_statements_and_upserts() {
    use crate::directory::resource::MemberRef;
    use crate::directory::schema::ResourceKind::{Group, User};
    use crate::store::{admin, pages, resources, saml, sessions, signin, sp_keys, webhooks};
    use serde_json::json;
    let Some(pg) = PgDb::create("postgres_runs_the_built_statements_and_upserts") else {
        return;
    };
    let c = pg.conn();
    let now = "2026-01-01T00:00:00.000Z";
    let org = crate::store::orgs::create_org(&c, "acme", "Acme", &[], now).unwrap();
    let roles = resources::Roles::default();
    for (id, name, display, active) in [
        ("u1", "ann@acme.com", Some("Ann Lee"), true),
        ("u2", "bob@acme.com", None, false),
        ("u3", "cy_50%@acme.com", Some("Cy"), true),
    ] {
        let mut doc = json!({"userName": name, "active": active,
                             "emails": [{"value": name, "primary": true}]});
        if let Some(d) = display {
            doc["displayName"] = json!(d);
        }
        resources::insert_user(&c, org.id, id, &doc, &roles, now).unwrap();
    }
    resources::insert_group(&c, org.id, "g1", &json!({"displayName": "Staff"}), now).unwrap();
    resources::insert_group(&c, org.id, "g2", &json!({"displayName": "Ops"}), now).unwrap();
    assert_eq!(admin::counts(&c, org.id).unwrap(), (3, 2));
    resources::delete(&c, User, org.id, "u2").unwrap();
    assert_eq!(admin::counts(&c, org.id).unwrap(), (2, 2));

    // Members: added twice is added once; the display name comes from the user's JSON.
    let m = |v: &str| MemberRef {
        value: v.into(),
        type_: None,
        display: None,
    };
    let added = resources::add_members(&c, org.id, "g1", &[m("u1"), m("u3"), m("g2")]).unwrap();
    assert_eq!(added.len(), 3);
    assert!(
        resources::add_members(&c, org.id, "g1", &[m("u1")])
            .unwrap()
            .is_empty()
    );
    let members = resources::members(&c, "g1").unwrap();
    let names: Vec<_> = members.iter().map(|m| m.display.as_deref()).collect();
    assert_eq!(names, [Some("Ops"), Some("Ann Lee"), Some("Cy")]);

    // The SCIM list: unfiltered totals from the counters, sorted pages, filters.
    let list = |filter: Option<&str>, sort: Option<&str>, desc: bool| {
        let f = filter.map(|f| crate::directory::filter::parse_filter(f).unwrap());
        let sort = sort.map(|s| {
            let p = crate::directory::filter::parse_patch_path(s).unwrap();
            (
                crate::store::filter_sql::sort_expr(User, &p.attr).unwrap(),
                desc,
            )
        });
        let q = resources::ListQuery {
            filter: f.as_ref(),
            sort,
            start_index: 1,
            count: 10,
            with_members: false,
            after_seq: None,
        };
        let (total, page) = resources::list(&c, User, org.id, &q).unwrap();
        (total, page.into_iter().map(|s| s.id).collect::<Vec<_>>())
    };
    assert_eq!(list(None, None, false), (2, vec!["u1".into(), "u3".into()]));
    assert_eq!(list(None, Some("userName"), true).1, ["u3", "u1"]);
    assert_eq!(list(None, Some("meta.resourceType"), false).1, ["u1", "u3"]);
    assert_eq!(list(None, Some("emails"), false).1, ["u1", "u3"]);
    assert_eq!(list(Some(r#"userName sw "CY_""#), None, false).1, ["u3"]);
    assert_eq!(list(Some(r#"displayName co "lee""#), None, false).1, ["u1"]);
    let (total, _) = resources::list(
        &c,
        Group,
        org.id,
        &resources::ListQuery {
            filter: None,
            sort: None,
            start_index: 1,
            count: 0,
            with_members: false,
            after_seq: None,
        },
    )
    .unwrap();
    assert_eq!(total, 2);
    assert_eq!(resources::version(&c, User, org.id, "u1").unwrap(), 1);

    // The product API's pages.
    let f = pages::UserFilter {
        active: Some(true),
        email: Some("ANN@acme.com".into()),
        group: Some("g1".into()),
        ..pages::UserFilter::default()
    };
    let found = pages::resources(&c, User, org.id, 0, 10, &f).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(pages::groups_of(&c, org.id, "u3", 0, 10).unwrap().len(), 1);

    // The admin's pages: `%` and `_` are literal, case does not matter.
    let users = admin::search_users(&c, org.id, "_50%", Some(true), 10, 0).unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].display_name.as_deref(), Some("Cy"));
    assert_eq!(
        admin::search_users(&c, org.id, "LEE", None, 10, 0)
            .unwrap()
            .len(),
        1
    );
    let summary = admin::user_summary(&c, org.id, "u1").unwrap().unwrap();
    assert_eq!(summary.display_name.as_deref(), Some("Ann Lee"));
    assert_eq!(
        admin::search_groups(&c, org.id, "sta", 10, 0).unwrap()[0].2,
        3
    );
    crate::store::orgs::audit(&c, Some(org.id), now, "cli", "x", None, None).unwrap();
    assert_eq!(admin::audit_log(&c, None, 10).unwrap().len(), 1);
    assert_eq!(admin::audit_log(&c, Some(org.id), 10).unwrap().len(), 1);
    assert!(
        admin::provisioning_log(&c, org.id, Some(2), None, 10)
            .unwrap()
            .is_empty()
    );

    // Sessions of an active user are live, a deactivated one's are not.
    for (id, user) in [("s1", "u1"), ("s2", "u3")] {
        let row = sessions::SessionRow {
            id: id.into(),
            org_id: org.id,
            user_id: user.into(),
            created: now.into(),
            expires: "2027-01-01T00:00:00.000Z".into(),
            ip: None,
            user_agent: None,
        };
        sessions::insert(&c, &row).unwrap();
    }
    c.execute("UPDATE users SET active = 0 WHERE id = 'u3'", [])
        .unwrap();
    assert!(sessions::is_live(&c, "s1", "u1", now).unwrap());
    assert!(!sessions::is_live(&c, "s2", "u3", now).unwrap());
    assert!(sp_keys::current_expiries(&c).unwrap().is_empty());
    sp_keys::set_options(&c, org.id, Some(true), None).unwrap();

    // Upserts that ignore a repeat.
    assert!(signin::remember_assertion(&c, org.id, "a1", now).unwrap());
    assert!(!signin::remember_assertion(&c, org.id, "a1", now).unwrap());
    let cert = saml::CertRecord {
        fingerprint: "f".into(),
        der: vec![1, 2],
        subject: "s".into(),
        not_before: now.into(),
        not_after: now.into(),
    };
    let idp = saml::IdpRecord {
        entity_id: "e".into(),
        sso_url: "https://idp".into(),
        slo_url: None,
        source: "manual".into(),
        updated: now.into(),
        certificates: vec![cert.clone(), cert],
    };
    saml::set_idp(&c, org.id, &idp).unwrap();
    assert_eq!(
        saml::idp(&c, org.id).unwrap().unwrap().certificates.len(),
        1
    );

    // Webhooks: lanes created once, replays move back only (and keep NULL semantics).
    let ep = webhooks::create(
        &c,
        &webhooks::NewEndpoint {
            public_id: "we_1",
            url: "https://hook",
            description: "",
            types: &[],
            org_ids: None,
            secret: b"s",
            start_after: 5,
            now,
        },
    )
    .unwrap();
    let delivered = || {
        webhooks::lane(&c, ep.id, org.id)
            .unwrap()
            .unwrap()
            .delivered
    };
    let start_after = || {
        webhooks::by_public_id(&c, "we_1")
            .unwrap()
            .unwrap()
            .start_after
    };
    webhooks::ensure_lane(&c, ep.id, org.id, 4).unwrap();
    webhooks::ensure_lane(&c, ep.id, org.id, 9).unwrap();
    assert_eq!(delivered(), 4);
    assert_eq!(webhooks::replay(&c, ep.id, 7, now).unwrap(), 1);
    assert_eq!((delivered(), start_after()), (4, 5));
    assert_eq!(webhooks::replay(&c, ep.id, 2, now).unwrap(), 1);
    assert_eq!((delivered(), start_after()), (2, 2));
    assert_eq!(webhooks::undelivered_floor(&c).unwrap(), None);
    assert_eq!(webhooks::backlog(&c, org.id, 0).unwrap(), (0, None));
    let q = webhooks::AttemptQuery {
        ok: Some(true),
        limit: 10,
        ..webhooks::AttemptQuery::default()
    };
    assert!(webhooks::attempts(&c, &q).unwrap().is_empty());
    assert_eq!(webhooks::prune_attempts(&c, now).unwrap(), 0);
}
