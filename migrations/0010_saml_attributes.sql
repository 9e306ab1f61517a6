-- Any SAML 2.0 IdP (issue 11): the attributes an org reads for the email, given name,
-- surname, display name and role. No row, or NULL in a column: the default names (Entra's
-- claim URIs first, then the common urn:oid and friendly names). `email` may be 'NameID'.
CREATE TABLE saml_attribute_maps (
    org_id       INTEGER PRIMARY KEY REFERENCES orgs(id) ON DELETE CASCADE,
    email        TEXT,
    given_name   TEXT,
    surname      TEXT,
    display_name TEXT,
    role         TEXT,
    updated      TEXT NOT NULL
);
