//! The session signing keys: ES256 (P-256) keys the gateway generates and keeps in the
//! store, published as a JWKS. The newest unretired key signs; every key still in the store
//! verifies (a retired key is dropped once every token it signed has expired).

use std::collections::HashMap;

use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use openssl::bn::BigNumContext;
use openssl::ec::{EcGroup, EcKey};
use openssl::nid::Nid;
use openssl::pkey::PKey;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::store::sessions::KeyRow;

struct Key {
    decoding: DecodingKey,
    jwk: Value,
}

/// The loaded keys.
pub struct KeyRing {
    signing: Option<(String, EncodingKey)>,
    keys: HashMap<String, Key>,
    /// kids newest first, for the JWKS.
    order: Vec<String>,
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("not a well-formed token")]
    Malformed,
    #[error("signed by an unknown key {0:?}")]
    UnknownKey(String),
    #[error("invalid token: {0}")]
    Invalid(String),
    #[error("expired")]
    Expired,
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A new key, ready to store.
pub fn generate(created: &str) -> Result<KeyRow> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).map_err(Error::internal)?;
    let key = EcKey::generate(&group).map_err(Error::internal)?;
    let pkey = PKey::from_ec_key(key).map_err(Error::internal)?;
    let pem = pkey.private_key_to_pem_pkcs8().map_err(Error::internal)?;
    let public = pkey.public_key_to_der().map_err(Error::internal)?;
    let kid = hex::encode(&Sha256::digest(&public)[..12]);
    Ok(KeyRow {
        kid,
        private_pem: String::from_utf8(pem).map_err(Error::internal)?,
        created: created.to_string(),
        retired: None,
    })
}

fn load(row: &KeyRow) -> Result<(EncodingKey, Key)> {
    let bad = |e: &dyn std::fmt::Display| {
        Error::internal(format!("signing key {} cannot be read: {e}", row.kid))
    };
    let ec = EcKey::private_key_from_pem(row.private_pem.as_bytes()).map_err(|e| bad(&e))?;
    let mut ctx = BigNumContext::new().map_err(|e| bad(&e))?;
    let (mut x, mut y) = (
        openssl::bn::BigNum::new().map_err(|e| bad(&e))?,
        openssl::bn::BigNum::new().map_err(|e| bad(&e))?,
    );
    ec.public_key()
        .affine_coordinates(ec.group(), &mut x, &mut y, &mut ctx)
        .map_err(|e| bad(&e))?;
    let (x, y) = (
        b64url(&x.to_vec_padded(32).map_err(|e| bad(&e))?),
        b64url(&y.to_vec_padded(32).map_err(|e| bad(&e))?),
    );
    let encoding = EncodingKey::from_ec_pem(row.private_pem.as_bytes()).map_err(|e| bad(&e))?;
    let decoding = DecodingKey::from_ec_components(&x, &y).map_err(|e| bad(&e))?;
    let jwk = json!({"kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": row.kid,
                     "use": "sig", "alg": "ES256"});
    Ok((encoding, Key { decoding, jwk }))
}

impl KeyRing {
    /// Loads the stored keys (newest first). The newest unretired key signs.
    pub fn from_rows(rows: &[KeyRow]) -> Result<Self> {
        super::es256::install();
        let mut ring = Self {
            signing: None,
            keys: HashMap::new(),
            order: Vec::new(),
        };
        for row in rows {
            let (encoding, key) = load(row)?;
            if ring.signing.is_none() && row.retired.is_none() {
                ring.signing = Some((row.kid.clone(), encoding));
            }
            ring.order.push(row.kid.clone());
            ring.keys.insert(row.kid.clone(), key);
        }
        Ok(ring)
    }

    pub fn is_empty(&self) -> bool {
        self.signing.is_none()
    }

    /// `{"keys": [...]}`, newest first.
    pub fn jwks(&self) -> Value {
        let keys: Vec<&Value> = self.order.iter().map(|k| &self.keys[k].jwk).collect();
        json!({ "keys": keys })
    }

    /// Signs `claims` with the current key.
    pub fn sign<T: Serialize>(&self, claims: &T) -> Result<String> {
        let (kid, key) = self
            .signing
            .as_ref()
            .ok_or_else(|| Error::internal("no session signing key"))?;
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(kid.clone());
        jsonwebtoken::encode(&header, claims, key).map_err(Error::internal)
    }

    /// Verifies signature, issuer and audience (not time: the caller checks `exp` against
    /// its own clock).
    pub fn verify<T: DeserializeOwned>(
        &self,
        token: &str,
        issuer: &str,
        audience: &str,
    ) -> std::result::Result<T, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        if header.alg != Algorithm::ES256 {
            return Err(TokenError::Invalid(format!("algorithm {:?}", header.alg)));
        }
        let kid = header.kid.unwrap_or_default();
        let key = self
            .keys
            .get(&kid)
            .ok_or_else(|| TokenError::UnknownKey(kid.clone()))?;
        let mut v = Validation::new(Algorithm::ES256);
        v.validate_exp = false;
        v.validate_nbf = false;
        v.required_spec_claims = ["exp", "iss", "aud", "sub"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        v.set_issuer(&[issuer]);
        v.set_audience(&[audience]);
        jsonwebtoken::decode::<T>(token, &key.decoding, &v)
            .map(|d| d.claims)
            .map_err(|e| TokenError::Invalid(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct C {
        iss: String,
        aud: String,
        sub: String,
        exp: i64,
    }

    fn claims() -> C {
        C {
            iss: "https://i".into(),
            aud: "https://a".into(),
            sub: "u1".into(),
            exp: 10,
        }
    }

    #[test]
    fn sign_verify_rotate_and_jwks() {
        let old = generate("2026-01-01T00:00:00.000Z").unwrap();
        let ring = KeyRing::from_rows(std::slice::from_ref(&old)).unwrap();
        let t1 = ring.sign(&claims()).unwrap();
        assert_eq!(
            ring.verify::<C>(&t1, "https://i", "https://a").unwrap(),
            claims()
        );
        assert!(matches!(
            ring.verify::<C>(&t1, "https://i", "https://other"),
            Err(TokenError::Invalid(_))
        ));
        assert!(matches!(
            ring.verify::<C>(&t1, "https://x", "https://a"),
            Err(TokenError::Invalid(_))
        ));
        // Rotation: the new key signs, the retired one still verifies.
        let new = generate("2026-02-01T00:00:00.000Z").unwrap();
        let retired = KeyRow {
            retired: Some("2026-02-01T00:00:00.000Z".into()),
            ..old.clone()
        };
        let ring2 = KeyRing::from_rows(&[new.clone(), retired]).unwrap();
        assert!(ring2.verify::<C>(&t1, "https://i", "https://a").is_ok());
        let t2 = ring2.sign(&claims()).unwrap();
        assert!(matches!(
            ring.verify::<C>(&t2, "https://i", "https://a"),
            Err(TokenError::UnknownKey(k)) if k == new.kid
        ));
        let jwks = ring2.jwks();
        assert_eq!(jwks["keys"][0]["kid"], new.kid.as_str());
        assert_eq!(jwks["keys"][1]["kid"], old.kid.as_str());
        assert_eq!(jwks["keys"][0]["x"].as_str().unwrap().len(), 43);
        // A verifier built from the published JWK alone accepts the token.
        let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwks["keys"][0].clone()).unwrap();
        let mut v = Validation::new(Algorithm::ES256);
        v.set_audience(&["https://a"]);
        v.validate_exp = false;
        assert!(jsonwebtoken::decode::<C>(&t2, &DecodingKey::from_jwk(&jwk).unwrap(), &v).is_ok());
        // Tampering and alg confusion fail.
        let mut bad = t2.clone();
        bad.pop();
        bad.push(if t2.ends_with('A') { 'B' } else { 'A' });
        assert!(ring2.verify::<C>(&bad, "https://i", "https://a").is_err());
        assert_eq!(
            ring2.verify::<C>("nonsense", "https://i", "https://a"),
            Err(TokenError::Malformed)
        );
        let hs = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims(),
            &EncodingKey::from_secret(b"k"),
        )
        .unwrap();
        assert!(matches!(
            ring2.verify::<C>(&hs, "https://i", "https://a"),
            Err(TokenError::Invalid(_))
        ));
    }
}
