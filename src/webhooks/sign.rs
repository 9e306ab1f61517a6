//! Standard Webhooks signatures: `webhook-signature: v1,<base64 HMAC-SHA256 of
//! "{id}.{timestamp}.{body}">`, one per live secret, space-separated. Secrets are `whsec_`
//! followed by base64 of 32 random bytes.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Signer;

use crate::error::{Error, Result};

pub const PREFIX: &str = "whsec_";

/// A new endpoint secret.
pub fn new_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("{PREFIX}{}", STANDARD.encode(bytes))
}

/// The key bytes of a `whsec_…` secret.
pub fn key_of(secret: &str) -> Result<Vec<u8>> {
    STANDARD
        .decode(secret.strip_prefix(PREFIX).unwrap_or(secret))
        .map_err(|_| Error::internal("a stored webhook secret is not base64"))
}

/// `v1,<signature>` of one message under one key.
pub fn signature(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let mac = (|| -> std::result::Result<Vec<u8>, openssl::error::ErrorStack> {
        let pkey = PKey::hmac(key)?;
        let mut signer = Signer::new(MessageDigest::sha256(), &pkey)?;
        signer.update(id.as_bytes())?;
        signer.update(b".")?;
        signer.update(timestamp.to_string().as_bytes())?;
        signer.update(b".")?;
        signer.update(body)?;
        signer.sign_to_vec()
    })()
    .expect("HMAC-SHA256 over bytes cannot fail");
    format!("v1,{}", STANDARD.encode(mac))
}

/// The `webhook-signature` value: one signature per key (two during a secret rotation).
pub fn header(keys: &[Vec<u8>], id: &str, timestamp: i64, body: &[u8]) -> String {
    keys.iter()
        .map(|k| signature(k, id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Standard Webhooks specification's example: this secret, id, timestamp and body
    /// sign to this value.
    #[test]
    fn the_specification_example() {
        let key = key_of("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            signature(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn secrets_are_whsec_and_32_bytes() {
        let s = new_secret();
        assert!(s.starts_with(PREFIX));
        assert_eq!(key_of(&s).unwrap().len(), 32);
        assert_ne!(s, new_secret());
        let two = header(&[vec![1], vec![2]], "id", 1, b"{}");
        assert_eq!(two.split(' ').count(), 2);
        assert!(two.split(' ').all(|s| s.starts_with("v1,")));
    }
}
