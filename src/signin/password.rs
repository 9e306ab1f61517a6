//! Local passwords: argon2id (the argon2 crate's defaults: 19 MiB, 2 passes), PHC strings
//! at rest. Verification of an unknown account still costs one hash, so response time does
//! not tell which accounts exist.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

use crate::error::{Error, Result};

/// Shortest password accepted.
pub const MIN_LENGTH: usize = 12;

/// Hashes a new password (refusing a too-short one).
pub fn hash(password: &str) -> Result<String> {
    if password.chars().count() < MIN_LENGTH {
        return Err(Error::Invalid(format!(
            "the password must be at least {MIN_LENGTH} characters long"
        )));
    }
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(Error::internal)
}

/// Checks a password against a stored PHC string (`None`: no account — a dummy hash is
/// checked instead, and the answer is false).
pub fn verify(password: &str, stored: Option<&str>) -> bool {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let dummy = DUMMY.get_or_init(|| {
        Argon2::default()
            .hash_password(b"idgate-no-such-account")
            .map(|h| h.to_string())
            .unwrap_or_default()
    });
    let (phc, real) = match stored {
        Some(s) => (s, true),
        None => (dummy.as_str(), false),
    };
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
        && real
}

/// `verify` on a blocking thread: argon2 costs tens of milliseconds of CPU, which must not
/// hold up an HTTP worker.
pub async fn verify_off_thread(password: &str, stored: Option<String>) -> bool {
    let password = password.to_string();
    tokio::task::spawn_blocking(move || verify(&password, stored.as_deref()))
        .await
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_and_verifies() {
        let h = hash("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify("correct horse battery", Some(&h)));
        assert!(!verify("correct horse batterz", Some(&h)));
        assert!(!verify("correct horse battery", None));
        assert!(!verify("x", Some("not a phc string")));
        assert!(hash("short").is_err());
    }
}
