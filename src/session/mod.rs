//! Sessions the product can trust: a signed JWT (ES256, keys in `keys`) in the
//! `idgate_session` cookie, backed by a server-side row so that revocation is immediate.
//!
//! `/auth/verify` is the hot path. A token that verified once is remembered with its claims
//! (no signature check, no store read on the next request); the memory forgets a user's
//! tokens the moment a write commits that revokes them (`forget_user`, `forget_session`),
//! and re-checks the store at least every `RECHECK` in case something outside this process
//! changed it.

mod es256;
pub mod keys;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::clock::timestamp;
use crate::error::{Error, Result};
use crate::store::{Store, sessions};
pub use keys::{KeyRing, TokenError};

/// Installs idgate's jsonwebtoken provider (OpenSSL ES256); every user of jsonwebtoken calls
/// it first, since the first use of jsonwebtoken fixes the provider for the process.
pub fn install_jwt_provider() {
    es256::install();
}

/// The cookie that carries the session JWT.
pub const COOKIE: &str = "idgate_session";
/// How long a remembered token is trusted without asking the store again.
const RECHECK: time::Duration = time::Duration::seconds(60);
/// Longest session token: browsers drop cookies past 4096 bytes (name and attributes
/// included), so a user in very many groups gets the first of them and `groups_truncated`.
pub const MAX_TOKEN_BYTES: usize = 3800;
/// Most remembered tokens; beyond it the memory starts over.
const CACHE_LIMIT: usize = 100_000;

/// The claims of a session JWT (DESIGN "Session").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionClaims {
    pub iss: String,
    pub aud: String,
    /// The user's SCIM id.
    pub sub: String,
    /// The org's slug.
    pub org: String,
    pub email: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    /// Set when the user has more groups than fit in a cookie: `groups` is the first part.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub groups_truncated: bool,
    /// The server-side session ID.
    pub sid: String,
    pub iat: i64,
    pub exp: i64,
}

/// The claims of an OAuth access token for the SCIM API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    /// The OAuth client ID.
    pub sub: String,
    pub org: String,
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
}

/// Why a request has no valid session (all are 401; the log gets the reason).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("no session cookie")]
    Missing,
    #[error("{0}")]
    Token(#[from] TokenError),
    #[error("the session was ended, or its user was deactivated or deleted")]
    Revoked,
}

struct Entry {
    claims: Arc<SessionClaims>,
    checked: OffsetDateTime,
}

/// Keys and the memory of verified sessions; one per process.
pub struct Sessions {
    issuer: String,
    ring: RwLock<Arc<KeyRing>>,
    verified: Mutex<HashMap<String, Entry>>,
    /// Bumped by every forget: a store read that started before it must not be remembered.
    generation: AtomicU64,
    /// When the keys were last read from the store (see `refresh`).
    last_reload: Mutex<std::time::Instant>,
}

/// A token naming an unknown key re-reads the keys at most this often:
/// forged tokens with made-up key IDs must not each cost a store read.
const RELOAD_AT_MOST_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

impl Sessions {
    /// Loads the signing keys, generating the first one if the store has none.
    pub fn open(store: &Store, issuer: &str, now: OffsetDateTime) -> Result<Self> {
        let rows = store.write_now(|c| {
            sessions::lock_key_creation(c)?;
            let rows = sessions::keys(c)?;
            if rows.iter().any(|k| k.retired.is_none()) {
                return Ok(rows);
            }
            sessions::rotate(c, &keys::generate(&timestamp(now))?)?;
            sessions::keys(c)
        })?;
        Ok(Self {
            issuer: issuer.to_string(),
            ring: RwLock::new(Arc::new(KeyRing::from_rows(&rows)?)),
            verified: Mutex::new(HashMap::new()),
            generation: AtomicU64::new(0),
            last_reload: Mutex::new(std::time::Instant::now()),
        })
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The audience of session tokens (the gateway itself).
    pub fn session_audience(&self) -> &str {
        &self.issuer
    }

    /// The audience of SCIM access tokens.
    pub fn scim_audience(&self) -> String {
        format!("{}/scim/v2", self.issuer)
    }

    pub fn ring(&self) -> Arc<KeyRing> {
        self.ring.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Re-reads the keys (after `idgate keys rotate` from the command line).
    pub async fn reload(&self, store: &Store) -> Result<()> {
        let rows = store.read(sessions::keys).await?;
        let ring = KeyRing::from_rows(&rows)?;
        if ring.is_empty() {
            return Err(Error::internal("the store has no unretired signing key"));
        }
        *self.ring.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(ring);
        *self.last_reload.lock().unwrap_or_else(|e| e.into_inner()) = std::time::Instant::now();
        Ok(())
    }

    /// Re-reads the keys unless that was done in the last few seconds.
    pub async fn refresh(&self, store: &Store) {
        let stale = self
            .last_reload
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .elapsed()
            >= RELOAD_AT_MOST_EVERY;
        if stale && let Err(e) = self.reload(store).await {
            tracing::warn!(error = %e, "reloading the signing keys failed");
        }
    }

    pub fn sign<T: Serialize>(&self, claims: &T) -> Result<String> {
        self.ring().sign(claims)
    }

    /// Signs session claims, dropping groups (and saying so) until the token fits a cookie.
    pub fn sign_session(&self, claims: &mut SessionClaims) -> Result<String> {
        let ring = self.ring();
        let mut token = ring.sign(claims)?;
        while token.len() > MAX_TOKEN_BYTES && !claims.groups.is_empty() {
            // The payload is base64url: every 3 JSON bytes dropped shorten the token by 4.
            let json_over = (token.len() - MAX_TOKEN_BYTES) * 3 / 4 + 1;
            let mut freed = 0;
            while freed < json_over && !claims.groups.is_empty() {
                // A group costs its (escaped) name, two quotes and a comma.
                freed += claims.groups.pop().map_or(0, |g| {
                    serde_json::to_string(&g).map_or(g.len(), |j| j.len()) + 1
                });
            }
            claims.groups_truncated = true;
            token = ring.sign(claims)?;
        }
        Ok(token)
    }

    /// Verifies a token against the keys, reloading them once if it names an unknown key.
    pub async fn verify_token<T: serde::de::DeserializeOwned>(
        &self,
        store: &Store,
        token: &str,
        audience: &str,
    ) -> std::result::Result<T, TokenError> {
        match self.ring().verify(token, &self.issuer, audience) {
            Err(TokenError::UnknownKey(kid)) => {
                self.refresh(store).await;
                match self.ring().verify(token, &self.issuer, audience) {
                    Err(TokenError::UnknownKey(_)) => Err(TokenError::UnknownKey(kid)),
                    other => other,
                }
            }
            other => other,
        }
    }

    /// The live session `token` carries at `now`.
    pub async fn verify(
        &self,
        store: &Store,
        token: &str,
        now: OffsetDateTime,
    ) -> std::result::Result<Arc<SessionClaims>, Refusal> {
        if let Some(claims) = self.remembered(token, now) {
            return Ok(claims);
        }
        let claims: SessionClaims = self
            .verify_token(store, token, self.session_audience())
            .await?;
        if claims.exp <= now.unix_timestamp() {
            return Err(TokenError::Expired.into());
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let (sid, sub, stamp) = (claims.sid.clone(), claims.sub.clone(), timestamp(now));
        let live = store
            .read(move |c| sessions::is_live(c, &sid, &sub, &stamp))
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "session check: store read failed");
                Refusal::Revoked
            })?;
        if !live {
            return Err(Refusal::Revoked);
        }
        let claims = Arc::new(claims);
        self.remember(token, claims.clone(), now, generation);
        Ok(claims)
    }

    fn remembered(&self, token: &str, now: OffsetDateTime) -> Option<Arc<SessionClaims>> {
        let mut map = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        let entry = map.get(token)?;
        if entry.claims.exp > now.unix_timestamp() && now - entry.checked < RECHECK {
            return Some(entry.claims.clone());
        }
        map.remove(token);
        None
    }

    fn remember(
        &self,
        token: &str,
        claims: Arc<SessionClaims>,
        now: OffsetDateTime,
        generation: u64,
    ) {
        let mut map = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        // A forget that ran while the store was being read wins.
        if self.generation.load(Ordering::SeqCst) != generation {
            return;
        }
        if map.len() >= CACHE_LIMIT {
            map.clear();
        }
        map.insert(
            token.to_string(),
            Entry {
                claims,
                checked: now,
            },
        );
    }

    fn forget(&self, keep: impl Fn(&SessionClaims) -> bool) {
        let mut map = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        self.generation.fetch_add(1, Ordering::SeqCst);
        map.retain(|_, e| keep(&e.claims));
    }

    /// Call after a write that revoked a user's sessions has committed.
    pub fn forget_user(&self, user_id: &str) {
        self.forget(|c| c.sub != user_id);
    }

    /// Follows other instances' revocations (`Store::changes`) until the store is dropped.
    pub async fn follow(&self, mut changes: tokio::sync::broadcast::Receiver<String>) {
        use tokio::sync::broadcast::error::RecvError;
        loop {
            match changes.recv().await {
                Ok(what) => match what.split_once(':') {
                    Some(("user", id)) => self.forget_user(id),
                    Some(("session", id)) => self.forget_session(id),
                    _ => self.forget(|_| false),
                },
                // Missed some: forget everything rather than guess.
                Err(RecvError::Lagged(_)) => self.forget(|_| false),
                Err(RecvError::Closed) => return,
            }
        }
    }

    /// Call after a write that ended one session has committed.
    pub fn forget_session(&self, sid: &str) {
        self.forget(|c| c.sid != sid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_with_very_many_groups_still_fits_a_cookie() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db"), 1, 1).unwrap();
        let sessions = Sessions::open(
            &store,
            "https://login.example.com",
            OffsetDateTime::now_utc(),
        )
        .unwrap();
        let mut claims = SessionClaims {
            iss: "https://login.example.com".into(),
            aud: "https://login.example.com".into(),
            sub: "u".into(),
            org: "acme".into(),
            email: "a@acme.com".into(),
            name: None,
            role: None,
            groups: (0..300)
                .map(|i| format!("Group number {i} of the Ünïcode team"))
                .collect(),
            groups_truncated: false,
            sid: "s".into(),
            iat: 0,
            exp: 1,
        };
        let token = sessions.sign_session(&mut claims).unwrap();
        assert!(token.len() <= MAX_TOKEN_BYTES, "{}", token.len());
        assert!(claims.groups_truncated);
        assert!(claims.groups.len() > 40, "kept {}", claims.groups.len());
        assert_eq!(claims.groups[0], "Group number 0 of the Ünïcode team");
        let back: SessionClaims = sessions
            .ring()
            .verify(
                &token,
                "https://login.example.com",
                "https://login.example.com",
            )
            .unwrap();
        assert_eq!(back, claims);
        // A few groups: untouched.
        claims.groups.truncate(3);
        claims.groups_truncated = false;
        sessions.sign_session(&mut claims).unwrap();
        assert!(!claims.groups_truncated);
        assert_eq!(claims.groups.len(), 3);
    }
}
