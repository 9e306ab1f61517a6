-- PostgreSQL version of migrations/0010_saml_attributes.sql (conventions: see 0001_initial.sql).
-- Any SAML 2.0 IdP (issue 11): the attributes an org reads for the email, given name,
-- surname, display name and role. No row, or NULL in a column: the default names (Entra's
-- claim URIs first, then the common urn:oid and friendly names). `email` may be 'NameID'.
CREATE TABLE saml_attribute_maps (
    org_id       BIGINT PRIMARY KEY REFERENCES orgs(id) ON DELETE CASCADE,
    email        TEXT COLLATE "C",
    given_name   TEXT COLLATE "C",
    surname      TEXT COLLATE "C",
    display_name TEXT COLLATE "C",
    role         TEXT COLLATE "C",
    updated      TEXT COLLATE "C" NOT NULL
);
