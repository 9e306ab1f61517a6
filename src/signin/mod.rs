//! Turning a proven identity into a session, for every way in (SAML, password): find the
//! user in the org, apply the org's rules, write the session row and the sign-in log row in
//! one transaction, and sign the session JWT.

pub mod password;
pub mod ratelimit;

use crate::store::db::Conn;
use rand::RngExt as _;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::clock::timestamp;
use crate::error::Result;
use crate::identity;
use crate::session::SessionClaims;
use crate::state::AppState;
use crate::store::orgs::{self, Org};
use crate::store::resources::{self as res, Roles};
use crate::store::sessions::{self, SessionRow};
use crate::store::signin::{self, Lookup, SigninLog, SigninUser};

/// Who the browser is, for the sign-in log and the session row.
#[derive(Debug, Clone, Default)]
pub struct Client {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// What a verified IdP response (or a password check) says about the person.
#[derive(Debug, Clone, Default)]
pub struct Identity {
    /// Trimmed, lowercased, inside one of the org's domains.
    pub email: String,
    /// Entra's `objectidentifier` claim.
    pub object_id: Option<String>,
    /// The SAML role claim, used only when SCIM gave the user no role.
    pub role_claim: Option<String>,
    pub given_name: Option<String>,
    pub surname: Option<String>,
    pub display_name: Option<String>,
    /// An OIDC sign-in: the verified (tid, oid) and what may link a user to it.
    pub oidc: Option<crate::store::oidc::Claims>,
}

/// A refusal: a stable reason code, and the private detail for the admin's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub reason: &'static str,
    pub detail: String,
    pub expected: Option<String>,
    pub received: Option<String>,
}

impl Refused {
    pub fn new(reason: &'static str, detail: impl Into<String>) -> Self {
        Self {
            reason,
            detail: detail.into(),
            expected: None,
            received: None,
        }
    }
}

/// A new session: the signed token and its claims.
#[derive(Debug, Clone)]
pub struct Granted {
    pub token: String,
    pub claims: SessionClaims,
    pub max_age_secs: i64,
}

/// SAML-only steps done in the same transaction as the session: use up the pending
/// request and remember the assertion ID.
#[derive(Debug, Clone, Default)]
pub struct SamlUse {
    pub in_response_to: Option<String>,
    pub assertion_id: String,
    pub assertion_expires: String,
    /// The NameID and SessionIndex, kept with the session for single logout.
    pub name_id: Option<String>,
    pub name_id_format: Option<String>,
    pub session_index: Option<String>,
}

/// A short reference the browser shows and the sign-in log is searched by: `ABCD-EFGH`.
pub fn new_reference() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    let mut s = String::with_capacity(9);
    for i in 0..8 {
        if i == 4 {
            s.push('-');
        }
        s.push(ALPHABET[rng.random_range(0..ALPHABET.len())] as char);
    }
    s
}

/// The log row of an attempt.
pub fn log_row(
    org_id: Option<i64>,
    now: OffsetDateTime,
    reference: &str,
    method: &'static str,
    client: &Client,
) -> SigninLog {
    SigninLog {
        org_id,
        at: timestamp(now),
        reference: reference.to_string(),
        method,
        ip: client.ip.clone(),
        user_agent: client.user_agent.clone(),
        ..Default::default()
    }
}

/// Records a refused attempt (no transaction to join). Durable before the browser is told
/// the reference, so the admin always finds it.
pub async fn log_refusal(state: &AppState, mut row: SigninLog, refused: &Refused) {
    refusal_line(&row.reference, refused);
    state.metrics.signin(false);
    fill_refusal(&mut row, refused);
    if let Err(e) = state
        .store
        .write(move |c| signin::log_signin(c, &row))
        .await
    {
        tracing::error!(error = %e, "the sign-in log row could not be written");
    }
}

/// The server log's line for a refusal: with the reference the browser shows, so that an
/// operator can grep for what a user reports.
fn refusal_line(reference: &str, refused: &Refused) {
    tracing::info!(reference, reason = refused.reason, detail = %refused.detail, "sign-in refused");
}

fn fill_refusal(row: &mut SigninLog, r: &Refused) {
    row.success = false;
    row.reason = Some(r.reason.to_string());
    row.detail = Some(r.detail.clone());
    row.expected = r.expected.clone();
    row.received = r.received.clone();
}

/// What a sign-in is for: a product session, the admin UI (org admins), or the admin UI's
/// "Test sign-in" (nothing is issued; the sign-in log says what happened).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Session,
    Admin,
    Test,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Session => "session",
            Self::Admin => "admin",
            Self::Test => "test",
        }
    }

    pub fn parse(s: &str) -> Self {
        match s {
            "admin" => Self::Admin,
            "test" => Self::Test,
            _ => Self::Session,
        }
    }
}

/// What a successful sign-in issued.
#[derive(Debug, Clone)]
pub enum Outcome {
    Session(Box<Granted>),
    /// An admin UI session of an org admin: the cookie's token (only its hash is stored).
    Admin {
        token: String,
    },
    /// A test sign-in: nothing issued.
    Test,
}

/// A random token and its SHA-256 (what is stored).
pub fn new_secret() -> (String, Vec<u8>) {
    use base64::Engine as _;
    let bytes: [u8; 32] = rand::random();
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let hash = crate::store::orgs::hash_token(&token).to_vec();
    (token, hash)
}

/// The whole decision after the IdP (or the password) has been checked: in one write, the
/// SAML request is used up and the assertion remembered (even if the user is refused),
/// the user is found (or created just in time), what the purpose issues (a session row, an
/// admin session row, nothing) and the log row are written. The JWT is signed after the
/// commit.
pub async fn complete(
    state: &AppState,
    org: Org,
    identity: Identity,
    saml: Option<SamlUse>,
    mut row: SigninLog,
    purpose: Purpose,
) -> Result<std::result::Result<Outcome, Refused>> {
    let now = state.clock.now();
    let lifetime = time::Duration::minutes(i64::from(state.config.session_lifetime_minutes));
    let sid = uuid::Uuid::new_v4().to_string();
    let (stamp, expires) = (timestamp(now), timestamp(now + lifetime));
    let slug = org.slug.clone();
    let reference = row.reference.clone();
    // Only an admin sign-in issues an admin cookie.
    let (admin_token, admin_hash) = match purpose {
        Purpose::Admin => new_secret(),
        _ => (String::new(), Vec::new()),
    };
    row.email = Some(identity.email.clone());
    if purpose == Purpose::Test {
        row.detail = Some(format!(
            "Test sign-in. {}",
            row.detail.clone().unwrap_or_default()
        ));
    }
    let decided = state
        .store
        .write(move |c| {
            let link = purpose != Purpose::Test;
            let mut outcome = decide(
                c,
                &org,
                &identity,
                saml.as_ref(),
                link,
                &stamp,
                &row.reference,
            );
            if let Ok((user, _)) = &outcome {
                let issued = match purpose {
                    Purpose::Session => sessions::insert(
                        c,
                        &SessionRow {
                            id: sid.clone(),
                            org_id: org.id,
                            user_id: user.id.clone(),
                            created: stamp.clone(),
                            expires: expires.clone(),
                            ip: row.ip.clone(),
                            user_agent: row.user_agent.clone(),
                        },
                    )
                    .and_then(|()| saml_session(c, &sid, saml.as_ref()))
                    .map(|()| None),
                    Purpose::Admin => {
                        admin_session(c, &org, user, &row, &admin_hash, &stamp, &expires)
                    }
                    Purpose::Test => Ok(None),
                };
                if let Some(refused) = issued? {
                    outcome = Err(refused);
                }
            }
            match &outcome {
                Ok((user, _)) => {
                    row.success = true;
                    row.user_id = Some(user.id.clone());
                }
                Err(r) => fill_refusal(&mut row, r),
            }
            signin::log_signin(c, &row)?;
            Ok(outcome.map(|(user, role)| (user, role, sid, identity.email)))
        })
        .await?;
    let (user, role, sid, email) = match decided {
        Ok(v) => v,
        Err(refused) => {
            refusal_line(&reference, &refused);
            state.metrics.signin(false);
            return Ok(Err(refused));
        }
    };
    state.metrics.signin(true);
    match purpose {
        Purpose::Admin => return Ok(Ok(Outcome::Admin { token: admin_token })),
        Purpose::Test => return Ok(Ok(Outcome::Test)),
        Purpose::Session => {}
    }
    let mut claims = SessionClaims {
        iss: state.sessions.issuer().to_string(),
        aud: state.sessions.session_audience().to_string(),
        sub: user.id,
        org: slug,
        email,
        name: user.name,
        role,
        groups: user.groups,
        groups_truncated: false,
        sid,
        iat: now.unix_timestamp(),
        exp: (now + lifetime).unix_timestamp(),
    };
    let token = state.sessions.sign_session(&mut claims)?;
    if claims.groups_truncated {
        tracing::warn!(user = %claims.sub, kept = claims.groups.len(), "too many groups for the session cookie: truncated");
    }
    Ok(Ok(Outcome::Session(Box::new(Granted {
        token,
        claims,
        max_age_secs: lifetime.whole_seconds(),
    }))))
}

/// An org admin's admin UI session; refused unless the user's *resolved* role (from SCIM
/// and the org's mapping, as stored) is `admin` — the same rule every admin page applies, so
/// a SAML role claim alone cannot open the admin UI.
fn admin_session(
    c: &Conn,
    org: &Org,
    user: &SigninUser,
    row: &SigninLog,
    token_hash: &[u8],
    now: &str,
    expires: &str,
) -> Result<Option<Refused>> {
    let role = user.role.as_deref();
    if !role.is_some_and(|r| r.eq_ignore_ascii_case("admin")) {
        return Ok(Some(Refused {
            expected: Some("role admin".into()),
            received: Some(role.map_or("no role".into(), |r| format!("role {r}"))),
            ..Refused::new(
                "not_an_admin",
                "only users whose role is admin may open this organization's admin pages",
            )
        }));
    }
    let (csrf, _) = new_secret();
    crate::store::admin::insert_session(
        c,
        &crate::store::admin::AdminSession {
            token_hash: token_hash.to_vec(),
            admin_id: None,
            org_id: Some(org.id),
            user_id: Some(user.id.clone()),
            email: row.email.clone().unwrap_or_default(),
            csrf,
            created: now.to_string(),
            expires: expires.to_string(),
            ip: row.ip.clone(),
        },
    )?;
    Ok(None)
}

type Decision = std::result::Result<(SigninUser, Option<String>), Refused>;

fn decide(
    c: &Conn,
    org: &Org,
    id: &Identity,
    saml: Option<&SamlUse>,
    link: bool,
    now: &str,
    reference: &str,
) -> std::result::Result<(SigninUser, Option<String>), Refused> {
    let decided = match &id.oidc {
        Some(claims) => oidc_user(c, org, id, claims, link, now),
        None => decide_inner(c, org, id, saml, now),
    };
    match decided {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(reference, error = %e, "sign-in: store error");
            Err(Refused::new(
                "internal",
                "a store error; see the server log",
            ))
        }
    }
}

fn decide_inner(
    c: &Conn,
    org: &Org,
    id: &Identity,
    saml: Option<&SamlUse>,
    now: &str,
) -> Result<Decision> {
    if let Some(s) = saml {
        if let Some(irt) = &s.in_response_to
            && !signin::consume_request(c, org.id, irt, now)?
        {
            return Ok(Err(Refused {
                expected: Some("a pending sign-in request of this organization".into()),
                received: Some(irt.clone()),
                ..Refused::new(
                    "unexpected_in_response_to",
                    "the response answers a sign-in request that is unknown, expired or already used",
                )
            }));
        }
        if !signin::remember_assertion(c, org.id, &s.assertion_id, &s.assertion_expires)? {
            return Ok(Err(Refused {
                received: Some(s.assertion_id.clone()),
                ..Refused::new(
                    "replayed_assertion",
                    "this assertion was already used to sign in (replay)",
                )
            }));
        }
    }
    let user = match signin::find_user(c, org.id, id.object_id.as_deref(), &id.email)? {
        Lookup::Found(u) => u,
        Lookup::Ambiguous(n) => {
            return Ok(Err(Refused::new(
                "ambiguous_email",
                format!(
                    "{n} users of this organization have the email {}; sign-in cannot tell them apart",
                    id.email
                ),
            )));
        }
        Lookup::NotFound if org.jit && saml.is_some() => create_jit(c, org, id, "saml", now)?,
        Lookup::NotFound => {
            return Ok(Err(Refused::new(
                "not_provisioned",
                format!(
                    "no user {} (objectidentifier {}) is provisioned in this organization, \
                     and just-in-time creation is off",
                    id.email,
                    id.object_id.as_deref().unwrap_or("none")
                ),
            )));
        }
    };
    admit(c, org, id, user)
}

/// The rules after the user is found, the same for every protocol: deactivated users are
/// refused; the role is SCIM's, else the IdP's role claim through the org's mapping.
fn admit(c: &Conn, org: &Org, id: &Identity, user: SigninUser) -> Result<Decision> {
    if !user.active {
        return Ok(Err(Refused::new(
            "deactivated",
            format!("the user {} is deactivated (active=false)", user.user_name),
        )));
    }
    let role = match (&user.role_raw, &id.role_claim) {
        (None, Some(claim)) => {
            let maps = orgs::role_mappings(c, org.id)?;
            identity::resolve_role(Some(claim), &maps, org.default_role.as_deref())
        }
        _ => user.role.clone(),
    };
    Ok(Ok((user, role)))
}

/// An OIDC sign-in's user: by the (org, tid, oid) link, else `externalId == oid`, else a
/// member's `upn`, else an email Entra calls verified; never an unverified email. The first
/// match is linked (unless `link` is off: a Test sign-in writes nothing).
fn oidc_user(
    c: &Conn,
    org: &Org,
    id: &Identity,
    claims: &crate::store::oidc::Claims,
    link: bool,
    now: &str,
) -> Result<Decision> {
    use crate::store::oidc::{self as oidc_store, Match};
    let user = match oidc_store::find_user(c, org.id, claims)? {
        Match::Found(user, rule) => {
            if link && rule != "link" {
                oidc_store::link(c, org.id, claims, &user.id, rule, now)?;
            }
            user
        }
        Match::LinkedElsewhere(user, other) => {
            return Ok(Err(Refused {
                expected: Some(other),
                received: Some(format!("{}/{}", claims.tenant_id, claims.object_id)),
                ..Refused::new(
                    "linked_to_other_account",
                    format!(
                        "the user {} is already linked to another Entra account (tenant/object id)",
                        user.user_name
                    ),
                )
            }));
        }
        Match::Ambiguous(n) => {
            return Ok(Err(Refused::new(
                "ambiguous_email",
                format!(
                    "{n} users of this organization match this account; sign-in cannot tell them apart"
                ),
            )));
        }
        Match::NotFound
            if org.jit && (claims.verified_email.is_some() || claims.member_upn.is_some()) =>
        {
            if !link {
                // A Test sign-in writes nothing: say what a real one would do.
                return Ok(Err(Refused::new(
                    "test_would_create_user",
                    "no user matches; a real sign-in would create this user just in time",
                )));
            }
            let user = create_jit(c, org, id, "oidc", now)?;
            if link {
                oidc_store::link(c, org.id, claims, &user.id, "jit", now)?;
            }
            user
        }
        Match::NotFound => {
            return Ok(Err(Refused::new(
                "not_provisioned",
                format!(
                    "no user of this organization has externalId {} (the oid), userName {} (a \
                     member's upn) or a verified email {}{}",
                    claims.object_id,
                    claims.member_upn.as_deref().unwrap_or("(none)"),
                    claims
                        .verified_email
                        .as_deref()
                        .unwrap_or("(none: xms_edov is not true)"),
                    if org.jit {
                        ""
                    } else {
                        "; just-in-time creation is off"
                    }
                ),
            )));
        }
    };
    admit(c, org, id, user)
}

/// Just-in-time creation: a user from the assertion's claims, marked `jit`.
fn create_jit(c: &Conn, org: &Org, id: &Identity, actor: &str, now: &str) -> Result<SigninUser> {
    let mut doc = json!({
        "userName": id.email,
        "active": true,
        "emails": [{"value": id.email, "type": "work", "primary": true}],
    });
    let obj = doc.as_object_mut().expect("object literal");
    if let Some(oid) = &id.object_id {
        obj.insert("externalId".into(), Value::String(oid.clone()));
    }
    if let Some(d) = &id.display_name {
        obj.insert("displayName".into(), Value::String(d.clone()));
    }
    let mut name = serde_json::Map::new();
    if let Some(g) = &id.given_name {
        name.insert("givenName".into(), Value::String(g.clone()));
    }
    if let Some(s) = &id.surname {
        name.insert("familyName".into(), Value::String(s.clone()));
    }
    if !name.is_empty() {
        obj.insert("name".into(), Value::Object(name));
    }
    let user_id = uuid::Uuid::new_v4().to_string();
    let maps = orgs::role_mappings(c, org.id)?;
    let roles = Roles {
        raw: None,
        resolved: identity::resolve_role(None, &maps, org.default_role.as_deref()),
    };
    let stored = res::insert_user(c, org.id, &user_id, &doc, &roles, now)?;
    signin::set_source(c, &user_id, "jit")?;
    let at = crate::events::OrgRef {
        id: org.id,
        slug: &org.slug,
    };
    crate::events::user_created(c, at, &stored, &crate::events::Source::signin(), now)?;
    orgs::audit(
        c,
        Some(org.id),
        now,
        actor,
        "user.jit_create",
        Some(&user_id),
        Some(&id.email),
    )?;
    signin::user(c, org.id, &user_id)?
        .ok_or_else(|| crate::error::Error::internal("user vanished after insert"))
}

/// Keeps what the IdP said about a SAML session with it, for single logout.
fn saml_session(c: &Conn, sid: &str, saml: Option<&SamlUse>) -> Result<()> {
    match saml.and_then(|s| Some((s, s.name_id.as_deref()?))) {
        Some((s, name_id)) => crate::store::saml_slo::set_saml_session(
            c,
            sid,
            name_id,
            s.name_id_format.as_deref(),
            s.session_index.as_deref(),
        ),
        None => Ok(()),
    }
}

/// Ends a session (logout); the verified-session memory forgets it after the commit.
pub async fn end_session(state: &AppState, sid: &str) -> Result<()> {
    let (id, now) = (sid.to_string(), timestamp(state.clock.now()));
    state
        .store
        .write(move |c| sessions::revoke(c, &id, &now))
        .await?;
    state.sessions.forget_session(sid);
    Ok(())
}
