#!/usr/bin/env bash
# Checks that migrations/postgres/ gives PostgreSQL the schema migrations/ gives SQLite.
#
#   scripts/pg-schema-check.sh [URL]
#
# Without URL it starts a throwaway server (scripts/pg-server.sh) and stops it at the end;
# with the URL of a server it works in a scratch database there and drops it at the end.
# It applies migrations/postgres/*.sql in order (psql -v ON_ERROR_STOP=1 -1 -f, as the Rust
# side applies each file in one transaction), builds the SQLite schema from migrations/*.sql
# (python3's sqlite3) and compares, table by table:
#   - both directories have the same migration files (number and name);
#   - the same tables, with the same columns in the same order; types INTEGER -> bigint,
#     REAL -> double precision, BLOB -> bytea, TEXT -> text COLLATE "C"; the same NOT NULL
#     and defaults; an identity column exactly where SQLite has a rowid alias that is not a
#     foreign key;
#   - the same named indexes (unique, partial, columns; a NOCASE column is an expression,
#     lower(col), in PostgreSQL; a PostgreSQL index may end with the rowid column SQLite
#     appends to every index implicitly);
#   - the same primary keys, unique constraints, foreign keys (with ON DELETE), number of
#     CHECK constraints, and trigger names;
# then exercises the org counter triggers (inserts, deletes, a rollback, an org deletion, two
# concurrent writers to one org) and the count SELECT documented in 0001_initial.sql.
# Needs python3 and psql only. Exit status 0: everything matches.
set -euo pipefail
cd "$(dirname "$0")/.."
export PG_SERVER="$PWD/scripts/pg-server.sh"
exec python3 - "$@" <<'PY'
import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.parse

ALLOWED_PG_ONLY_TABLES = {"org_counters"}  # the striped per-org counters (0001_initial.sql)
TYPES = {"INTEGER": "bigint", "TEXT": "text", "BLOB": "bytea", "REAL": "double precision"}
ON_DELETE = {"a": "NO ACTION", "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}

problems = []


def problem(msg):
    problems.append(msg)
    print("MISMATCH: " + msg, file=sys.stderr)


def psql(url, *args, input=None, check=True):
    r = subprocess.run(["psql", url, "-X", "-q", "-v", "ON_ERROR_STOP=1", *args],
                       input=input, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise SystemExit(f"psql {' '.join(args)} failed:\n{r.stderr}")
    return r


def pg_json(url, sql):
    out = psql(url, "-At", "-c", sql).stdout.strip()
    return json.loads(out) if out else []


def with_db(url, db):
    u = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(u._replace(path="/" + db))


def migration_pairs():
    lite = sorted(f for f in os.listdir("migrations") if re.fullmatch(r"\d{4}_.+\.sql", f))
    pg = sorted(f for f in os.listdir("migrations/postgres") if re.fullmatch(r"\d{4}_.+\.sql", f))
    for f in sorted(set(lite) - set(pg)):
        problem(f"migrations/{f} has no migrations/postgres/{f}")
    for f in sorted(set(pg) - set(lite)):
        problem(f"migrations/postgres/{f} has no migrations/{f}")
    return lite, pg


# ---- SQLite ----

def sqlite_schema(files):
    db = sqlite3.connect(":memory:")
    for f in files:
        with open(os.path.join("migrations", f)) as fh:
            db.executescript(fh.read())
    tables = {}
    for name, sql in db.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'table' "
            "AND name NOT LIKE 'sqlite_%' ORDER BY name"):
        cols = db.execute(f"PRAGMA table_info({name})").fetchall()
        pk = [c[1] for c in sorted((c for c in cols if c[5]), key=lambda c: c[5])]
        without_rowid = bool(re.search(r"WITHOUT\s+ROWID\s*$", sql.strip(), re.I))
        rowid = None
        if len(pk) == 1 and not without_rowid:
            (col,) = [c for c in cols if c[1] == pk[0]]
            if col[2].upper() == "INTEGER":
                rowid = pk[0]
        indexes, uniques = {}, set()
        for _, iname, unique, origin, partial in db.execute(f"PRAGMA index_list({name})"):
            info = [r for r in db.execute(f"PRAGMA index_xinfo({iname})") if r[5]]
            icols = tuple(None if r[1] < 0 or (r[4] or "").upper() == "NOCASE" else r[2]
                          for r in info)
            if origin == "c":
                indexes[iname] = {"unique": bool(unique), "partial": bool(partial),
                                  "cols": icols}
            elif origin == "u":
                uniques.add(icols)
        fks = {}
        for fid, _, ref, frm, to, _, on_delete, _ in db.execute(
                f"PRAGMA foreign_key_list({name})"):
            fk = fks.setdefault(fid, {"ref": ref, "cols": [], "refcols": [],
                                      "on_delete": on_delete.upper()})
            fk["cols"].append(frm)
            fk["refcols"].append(to)
        tables[name] = {
            "cols": [{"name": c[1], "type": c[2].upper(), "notnull": bool(c[3]) or bool(c[5]),
                      "default": c[4]} for c in cols],
            "pk": pk, "rowid": rowid, "indexes": indexes, "uniques": uniques,
            "fks": list(fks.values()),
            "checks": len(re.findall(r"\bCHECK\s*\(", sql, re.I)),
            "triggers": set(),
        }
    for tname, tbl in db.execute("SELECT name, tbl_name FROM sqlite_master WHERE type = 'trigger'"):
        tables[tbl]["triggers"].add(tname)
    # A foreign key without columns refers to the primary key.
    for t in tables.values():
        for fk in t["fks"]:
            if any(c is None for c in fk["refcols"]):
                fk["refcols"] = tables[fk["ref"]]["pk"] or ["rowid"]
    return tables


# ---- PostgreSQL ----

PG_COLUMNS = """
SELECT json_agg(json_build_object('t', c.table_name, 'name', c.column_name,
    'type', c.data_type, 'nullable', c.is_nullable = 'YES', 'default', c.column_default,
    'identity', c.is_identity = 'YES', 'collation', c.collation_name)
    ORDER BY c.table_name, c.ordinal_position)
FROM information_schema.columns c JOIN information_schema.tables t
  ON t.table_schema = c.table_schema AND t.table_name = c.table_name
WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'
"""
PG_INDEXES = """
SELECT json_agg(json_build_object('t', t.relname, 'name', i.relname, 'unique', ix.indisunique,
    'partial', ix.indpred IS NOT NULL, 'constraint', con.contype,
    'cols', (SELECT json_agg(a.attname ORDER BY k.ord)
             FROM unnest(ix.indkey::int2[]) WITH ORDINALITY k(attnum, ord)
             LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
             WHERE k.ord <= ix.indnkeyatts)))
FROM pg_index ix
JOIN pg_class i ON i.oid = ix.indexrelid
JOIN pg_class t ON t.oid = ix.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
LEFT JOIN pg_constraint con
  ON con.conindid = ix.indexrelid AND con.conrelid = t.oid AND con.contype IN ('p', 'u')
WHERE n.nspname = current_schema()
"""
PG_CONSTRAINTS = """
SELECT json_agg(json_build_object('t', t.relname, 'type', c.contype, 'ref', rt.relname,
    'on_delete', c.confdeltype,
    'cols', (SELECT json_agg(a.attname ORDER BY k.ord)
             FROM unnest(c.conkey) WITH ORDINALITY k(attnum, ord)
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum),
    'refcols', (SELECT json_agg(a.attname ORDER BY k.ord)
                FROM unnest(c.confkey) WITH ORDINALITY k(attnum, ord)
                JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.attnum)))
FROM pg_constraint c
JOIN pg_class t ON t.oid = c.conrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
LEFT JOIN pg_class rt ON rt.oid = c.confrelid
WHERE n.nspname = current_schema() AND c.contype IN ('p', 'u', 'f', 'c')
"""
PG_TRIGGERS = """
SELECT json_agg(json_build_object('t', t.relname, 'name', g.tgname))
FROM pg_trigger g JOIN pg_class t ON t.oid = g.tgrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE n.nspname = current_schema() AND NOT g.tgisinternal
"""


def pg_schema(url):
    tables = {}

    def table(name):
        return tables.setdefault(name, {"cols": [], "indexes": {}, "pk": [], "uniques": set(),
                                        "fks": [], "checks": 0, "triggers": set()})

    for c in pg_json(url, PG_COLUMNS):
        table(c["t"])["cols"].append(c)
    for i in pg_json(url, PG_INDEXES):
        if i["constraint"] is None:
            table(i["t"])["indexes"][i["name"]] = {
                "unique": i["unique"], "partial": i["partial"], "cols": tuple(i["cols"])}
    for c in pg_json(url, PG_CONSTRAINTS):
        t = table(c["t"])
        if c["type"] == "p":
            t["pk"] = c["cols"]
        elif c["type"] == "u":
            t["uniques"].add(tuple(c["cols"]))
        elif c["type"] == "f":
            t["fks"].append({"ref": c["ref"], "cols": c["cols"], "refcols": c["refcols"],
                             "on_delete": ON_DELETE[c["on_delete"]]})
        else:
            t["checks"] += 1
    for g in pg_json(url, PG_TRIGGERS):
        table(g["t"])["triggers"].add(g["name"])
    return tables


def norm_default(d):
    if d is None:
        return None
    return re.sub(r"::[a-z ]+$", "", d.strip())


def fk_key(fk):
    return (fk["ref"], tuple(fk["cols"]), tuple(fk["refcols"]), fk["on_delete"])


def compare(lite, pg):
    for t in sorted(set(lite) - set(pg)):
        problem(f"table {t} is missing in PostgreSQL")
    for t in sorted(set(pg) - set(lite) - ALLOWED_PG_ONLY_TABLES):
        problem(f"table {t} exists only in PostgreSQL")
    for name in sorted(set(lite) & set(pg)):
        L, P = lite[name], pg[name]
        lnames = [c["name"] for c in L["cols"]]
        pnames = [c["name"] for c in P["cols"]]
        if lnames != pnames:
            problem(f"{name}: columns differ\n  sqlite:     {lnames}\n  postgresql: {pnames}")
        pcols = {c["name"]: c for c in P["cols"]}
        for lc in L["cols"]:
            pc = pcols.get(lc["name"])
            if pc is None:
                continue
            where = f"{name}.{lc['name']}"
            want = TYPES.get(lc["type"])
            if want is None:
                problem(f"{where}: SQLite type {lc['type']!r} has no PostgreSQL mapping here")
            elif pc["type"] != want:
                problem(f"{where}: {pc['type']}, expected {want} (SQLite {lc['type']})")
            if pc["type"] == "text" and pc["collation"] != "C":
                problem(f'{where}: text without COLLATE "C" (SQLite compares bytes)')
            if lc["notnull"] == pc["nullable"]:
                problem(f"{where}: NOT NULL differs (sqlite {lc['notnull']}, "
                        f"postgresql {not pc['nullable']})")
            # A rowid alias that is also a foreign key (org_id of the one-row-per-org tables)
            # is given by the code; any other is assigned by the database: an identity.
            fk_cols = {c for fk in L["fks"] for c in fk["cols"]}
            assigned = lc["name"] == L["rowid"] and lc["name"] not in fk_cols
            if pc["identity"] != assigned:
                problem(f"{where}: {'an' if pc['identity'] else 'not an'} identity column; "
                        f"expected {'an' if assigned else 'not an'} identity (SQLite: "
                        f"{'a database-assigned rowid' if assigned else 'no rowid alias or a foreign key'})")
            if not pc["identity"] and norm_default(lc["default"]) != norm_default(pc["default"]):
                problem(f"{where}: default {pc['default']!r}, SQLite {lc['default']!r}")
        if L["pk"] and L["pk"] != P["pk"]:
            problem(f"{name}: primary key {P['pk']}, SQLite {L['pk']}")
        if L["uniques"] != P["uniques"]:
            problem(f"{name}: unique constraints {sorted(P['uniques'])}, "
                    f"SQLite {sorted(L['uniques'])}")
        lf = sorted(map(fk_key, L["fks"]))
        pf = sorted(map(fk_key, P["fks"]))
        if lf != pf:
            problem(f"{name}: foreign keys\n  sqlite:     {lf}\n  postgresql: {pf}")
        if L["checks"] != P["checks"]:
            problem(f"{name}: {P['checks']} CHECK constraints, SQLite {L['checks']}")
        if L["triggers"] != P["triggers"]:
            problem(f"{name}: triggers {sorted(P['triggers'])}, SQLite {sorted(L['triggers'])}")
        for iname in sorted(set(L["indexes"]) - set(P["indexes"])):
            problem(f"{name}: index {iname} is missing in PostgreSQL")
        for iname in sorted(set(P["indexes"]) - set(L["indexes"])):
            problem(f"{name}: index {iname} exists only in PostgreSQL")
        for iname in sorted(set(L["indexes"]) & set(P["indexes"])):
            li, pi = L["indexes"][iname], P["indexes"][iname]
            if li["unique"] != pi["unique"] or li["partial"] != pi["partial"]:
                problem(f"{name}: index {iname}: unique/partial {pi['unique']}/{pi['partial']}, "
                        f"SQLite {li['unique']}/{li['partial']}")
            pcols = pi["cols"]
            if L["rowid"] and len(pcols) == len(li["cols"]) + 1 and pcols[-1] == L["rowid"]:
                pcols = pcols[:-1]  # SQLite ends every index with the rowid implicitly
            if tuple(pcols) != tuple(li["cols"]):
                problem(f"{name}: index {iname}: columns {pi['cols']}, SQLite {li['cols']} "
                        "(None: an expression)")


# ---- the counters ----

def documented_count_select():
    """The SELECT the top of 0001_initial.sql tells the Rust side to use."""
    with open("migrations/postgres/0001_initial.sql") as fh:
        lines = fh.read().splitlines()
    start = next(i for i, l in enumerate(lines) if "reads both counts of an org with exactly" in l)
    sql = []
    for l in lines[start + 2:]:
        body = l[2:].strip()
        if not body:
            break
        sql.append(body)
    return " ".join(sql)


def exercise_counters(url):
    count_sql = documented_count_select()
    psql(url, "-c", f"PREPARE counts(bigint) AS {count_sql}")  # parses and plans

    def run(sql):
        return psql(url, "-At", "-c", sql).stdout.strip()

    def counts(slug):
        org_id = int(run(f"SELECT id FROM orgs WHERE slug = '{slug}'"))
        u, g = run(f"PREPARE counts(bigint) AS {count_sql}; EXECUTE counts({org_id})").split("|")
        return int(u), int(g)

    def true_counts(slug):
        u, g = run(f"SELECT (SELECT count(*) FROM users u JOIN orgs o ON o.id = u.org_id "
                   f"WHERE o.slug = '{slug}'), (SELECT count(*) FROM groups g JOIN orgs o "
                   f"ON o.id = g.org_id WHERE o.slug = '{slug}')").split("|")
        return int(u), int(g)

    def user(n, slug):
        return (f"INSERT INTO users (id, org_id, user_name, user_name_key, active, data, version, "
                f"created, last_modified) SELECT 'u{n}', id, 'u{n}', 'u{n}', 1, '{{}}', 1, 't', "
                f"'t' FROM orgs WHERE slug = '{slug}'")

    def group(n, slug):
        return (f"INSERT INTO groups (id, org_id, display_name, display_name_key, data, version, "
                f"created, last_modified) SELECT 'g{n}', id, 'g{n}', 'g{n}', '{{}}', 1, 't', 't' "
                f"FROM orgs WHERE slug = '{slug}'")

    run("INSERT INTO orgs (slug, name, created) VALUES ('a', 'A', 't'), ('b', 'B', 't')")
    for n in range(1, 6):              # one transaction each: several slots
        run(user(n, "a"))
    for n in range(1, 4):
        run(group(n, "a"))
    run(user(100, "b"))
    # Several rows in one statement, and users and groups in one transaction.
    run("BEGIN; " + user(6, "a") + " UNION ALL " + user(7, "a")[user(7, "a").index("SELECT"):]
        + "; " + group(4, "a") + "; COMMIT")
    run("DELETE FROM users WHERE id IN ('u1', 'u2')")
    run("DELETE FROM groups WHERE id = 'g1'")
    run("BEGIN; " + user(8, "a") + "; " + group(8, "a") + "; ROLLBACK")
    for slug in ("a", "b"):
        got, want = counts(slug), true_counts(slug)
        if got != want:
            problem(f"org {slug}: counters say (users, groups) = {got}, the tables {want}")
    if counts("a") != (5, 3):
        problem(f"org a: counters {counts('a')}, expected (5, 3)")
    slots = int(run("SELECT count(DISTINCT slot) FROM org_counters o JOIN orgs g "
                    "ON g.id = o.org_id WHERE g.slug = 'a' AND kind = 'user'"))
    if slots < 2:
        problem(f"org a: user counts in {slots} slot(s): the counter is not striped")
    if run("SELECT user_count || ',' || group_count FROM orgs WHERE slug = 'a'") != "0,0":
        problem("orgs.user_count/group_count moved: the triggers must not touch the orgs row")

    # Two transactions inserting users into one org at once: the second must not wait for
    # the first to commit (with the orgs row as the counter it would).
    env = dict(os.environ, PGAPPNAME="idgate-schema-check-holder")
    holder = subprocess.Popen(["psql", url, "-X", "-q", "-v", "ON_ERROR_STOP=1"],
                              stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True, env=env)
    try:
        holder.stdin.write("BEGIN;\n" + user(50, "a") + ";\n")
        holder.stdin.flush()
        for _ in range(100):
            if run("SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                   "'idgate-schema-check-holder' AND state = 'idle in transaction'") == "1":
                break
            time.sleep(0.1)
        else:
            problem("the holding transaction did not start")
        # The next transaction id: another slot than the holder's.
        r = psql(url, "-At", "-c", "SET lock_timeout = '3s'; " + user(51, "a"), check=False)
        if r.returncode != 0:
            problem("a second writer to the same org waited for the first: " + r.stderr.strip())
        holder.stdin.write("COMMIT;\n")
        holder.stdin.close()
        if holder.wait(timeout=30) != 0:
            problem("the holding transaction failed: " + holder.stderr.read())
    finally:
        if holder.poll() is None:
            holder.kill()
    if counts("a") != true_counts("a"):
        problem(f"org a after concurrent writers: {counts('a')} != {true_counts('a')}")

    # Deleting an org cascades to its users and groups and drops its counters; others stay.
    run("DELETE FROM orgs WHERE slug = 'a'")
    left = run("SELECT count(*) FROM org_counters WHERE org_id NOT IN (SELECT id FROM orgs)")
    if left != "0":
        problem(f"{left} counter rows of a deleted org remain")
    if counts("b") != (1, 0):
        problem(f"org b after deleting org a: {counts('b')}, expected (1, 0)")
    if run(f"PREPARE counts(bigint) AS {count_sql}; EXECUTE counts(999999)") != "0|0":
        problem("the count SELECT does not give 0|0 for an org without rows")
    print(f"counters ok: {count_sql}")


def main():
    url = sys.argv[1] if len(sys.argv) > 1 else None
    if len(sys.argv) > 2:
        raise SystemExit("usage: scripts/pg-schema-check.sh [URL]")
    lite_files, pg_files = migration_pairs()
    tmp = None
    db = f"idgate_schema_check_{os.getpid()}"
    if url is None:
        tmp = tempfile.mkdtemp(prefix="pg-schema-check-")
        r = subprocess.run([os.environ["PG_SERVER"], "start", tmp + "/pg"],
                           env=dict(os.environ, PG_FAST="1"), capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit("could not start PostgreSQL:\n" + r.stderr)
        url = r.stdout.strip()
    try:
        psql(url, "-c", f"CREATE DATABASE {db}")
        dburl = with_db(url, db)
        try:
            for f in pg_files:
                r = psql(dburl, "-1", "-f", os.path.join("migrations/postgres", f), check=False)
                if r.returncode != 0:
                    raise SystemExit(f"migrations/postgres/{f} failed:\n{r.stderr}")
            print(f"applied {len(pg_files)} PostgreSQL migrations")
            lite = sqlite_schema(lite_files)
            compare(lite, pg_schema(dburl))
            print(f"compared {len(lite)} tables")
            exercise_counters(dburl)
        finally:
            psql(url, "-c", f"DROP DATABASE IF EXISTS {db} WITH (FORCE)", check=False)
    finally:
        if tmp:
            subprocess.run([os.environ["PG_SERVER"], "stop", tmp + "/pg"])
            os.rmdir(tmp)
    if problems:
        print(f"{len(problems)} mismatch(es)", file=sys.stderr)
        sys.exit(1)
    print("PostgreSQL schema matches SQLite")


main()
PY
