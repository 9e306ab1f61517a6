-- PostgreSQL version of migrations/0005_server.sql (conventions: see 0001_initial.sql).
-- What a running server says about itself, for the command line: the public_url it serves
-- under, so that `idgate org saml` and `idgate scim-token create` show the values Entra must
-- reach even when the server was started with another --public-url than the command's.

CREATE TABLE server_settings (
    key     TEXT COLLATE "C" PRIMARY KEY,
    value   TEXT COLLATE "C" NOT NULL,
    updated TEXT COLLATE "C" NOT NULL
);
