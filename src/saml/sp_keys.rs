//! The SP's own key pairs: RSA-2048 with a self-signed certificate, one current key per use
//! (signing AuthnRequests, decrypting assertions) and, after a rotation, the replaced key
//! kept live for a grace period. Private keys are sealed before they reach the store.

use crate::store::db::Conn;
use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::{X509, X509NameBuilder};
use time::OffsetDateTime;

use crate::clock::timestamp;
use crate::error::{Error, Result};
use crate::seal::Sealer;
use crate::store::sp_keys::{self as store, KeyUse, NewKey, SpKey};

/// How long a generated certificate is valid (as Entra's own SAML signing certificates).
pub const VALIDITY: time::Duration = time::Duration::days(3 * 365);
/// How long a replaced key stays live after a rotation, unless told otherwise.
pub const DEFAULT_GRACE_DAYS: i64 = 30;
/// From this many days before its end a certificate shows as "expires soon".
pub const WARN_DAYS: i64 = 30;

/// A fresh key pair for `slug`'s `key_use`, its private key sealed.
pub fn generate(
    sealer: &Sealer,
    slug: &str,
    key_use: KeyUse,
    now: OffsetDateTime,
) -> Result<NewKey> {
    let built = (|| -> std::result::Result<(Vec<u8>, Vec<u8>), openssl::error::ErrorStack> {
        let key = PKey::from_rsa(Rsa::generate(2048)?)?;
        let mut name = X509NameBuilder::new()?;
        name.append_entry_by_text("CN", &format!("idgate {slug} SAML {}", key_use.as_str()))?;
        let name = name.build();
        let mut serial = BigNum::new()?;
        serial.rand(127, MsbOption::MAYBE_ZERO, false)?;
        let mut b = X509::builder()?;
        b.set_version(2)?;
        b.set_serial_number(serial.to_asn1_integer()?.as_ref())?;
        b.set_subject_name(&name)?;
        b.set_issuer_name(&name)?;
        b.set_pubkey(&key)?;
        b.set_not_before(Asn1Time::from_unix(now.unix_timestamp())?.as_ref())?;
        b.set_not_after(Asn1Time::from_unix((now + VALIDITY).unix_timestamp())?.as_ref())?;
        b.sign(&key, MessageDigest::sha256())?;
        Ok((b.build().to_der()?, key.private_key_to_pkcs8()?))
    })();
    let (certificate_der, private_der) =
        built.map_err(|e| Error::internal(format!("cannot generate an SP key pair: {e}")))?;
    Ok(NewKey {
        key_use,
        fingerprint: super::sp::fingerprint(&certificate_der),
        certificate_der,
        sealed_key: sealer.seal(&private_der),
        not_before: timestamp(now),
        not_after: timestamp(now + VALIDITY),
    })
}

/// Adds `key` as the org's current key of its use unless it has one (turning a switch on).
/// True when it was added.
pub fn ensure(conn: &Conn, org_id: i64, key: &NewKey, now: OffsetDateTime) -> Result<bool> {
    if store::current_key(conn, org_id, key.key_use)?.is_some() {
        return Ok(false);
    }
    let stamp = timestamp(now);
    store::add_key(conn, org_id, key, &stamp, &stamp)?;
    Ok(true)
}

/// Makes `key` current; the key it replaces stays live for `grace_days`.
pub fn rotate(
    conn: &Conn,
    org_id: i64,
    key: &NewKey,
    now: OffsetDateTime,
    grace_days: i64,
) -> Result<i64> {
    let until = timestamp(now + time::Duration::days(grace_days));
    store::add_key(conn, org_id, key, &timestamp(now), &until)
}

/// The private key of a stored pair.
pub fn private_key(sealer: &Sealer, key: &SpKey) -> Result<PKey<Private>> {
    let der = sealer.open(&key.sealed_key)?;
    PKey::private_key_from_pkcs8(&der)
        .map_err(|e| Error::internal(format!("SP key {} does not load: {e}", key.id)))
}

/// What the SP metadata publishes of an org's keys: the live certificates of each use that
/// is switched on (the current one first, then those in their grace period).
#[derive(Debug, Default)]
pub struct Published {
    pub sign_requests: bool,
    pub signing: Vec<SpKey>,
    pub encryption: Vec<SpKey>,
}

impl Published {
    /// `md:KeyDescriptor` elements, one per certificate, indented for `SPSSODescriptor`.
    pub fn key_descriptors(&self) -> String {
        let mut out = String::new();
        for (use_, keys) in [("signing", &self.signing), ("encryption", &self.encryption)] {
            for k in keys {
                out.push_str(&format!(
                    "    <md:KeyDescriptor use=\"{use_}\">\n      <ds:KeyInfo xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\">\n        <ds:X509Data>\n          <ds:X509Certificate>{}</ds:X509Certificate>\n        </ds:X509Data>\n      </ds:KeyInfo>\n{}    </md:KeyDescriptor>\n",
                    certificate_b64(k),
                    if use_ == "encryption" {
                        ENCRYPTION_METHODS
                    } else {
                        ""
                    }
                ));
            }
        }
        out
    }
}

/// The algorithms idgate decrypts, as `md:EncryptionMethod` hints for the IdP.
const ENCRYPTION_METHODS: &str = "      <md:EncryptionMethod Algorithm=\"http://www.w3.org/2009/xmlenc11#aes256-gcm\"/>\n      <md:EncryptionMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#aes256-cbc\"/>\n      <md:EncryptionMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p\"/>\n";

/// The org's keys as the SP metadata publishes them at `now`.
pub fn published(conn: &Conn, org_id: i64, now: &str) -> Result<Published> {
    let options = store::options(conn, org_id)?;
    let live = |on: bool, key_use| -> Result<Vec<SpKey>> {
        if on {
            store::live_keys(conn, org_id, key_use, now)
        } else {
            Ok(Vec::new())
        }
    };
    Ok(Published {
        sign_requests: options.sign_requests,
        signing: live(options.sign_requests, KeyUse::Signing)?,
        encryption: live(options.encrypt_assertions, KeyUse::Encryption)?,
    })
}

/// Of the live signing keys (current first, then the replaced ones, newest first), the one
/// that signs: the oldest, so that a rotation is staged — the new certificate is published
/// at once and the replaced key keeps signing until its grace period ends, which leaves
/// the admin that long to upload the new certificate to the IdP.
pub fn signing_key(live: Vec<SpKey>) -> Option<SpKey> {
    live.into_iter().last()
}

/// The key that signs this org's AuthnRequests: `None` while signed requests are off.
pub async fn request_signer(
    state: &crate::state::AppState,
    org_id: i64,
) -> Result<Option<PKey<Private>>> {
    let now = timestamp(state.clock.now());
    let key = state
        .store
        .read(move |c| {
            if !store::options(c, org_id)?.sign_requests {
                return Ok(None);
            }
            signing_key(store::live_keys(c, org_id, KeyUse::Signing, &now)?)
                .map(Some)
                .ok_or_else(|| {
                    Error::internal(
                        "signed AuthnRequests are on but the org has no signing key \
                     (idgate org saml-keys rotate SLUG --use signing makes one)",
                    )
                })
        })
        .await?;
    key.map(|k| private_key(&state.sealer, &k)).transpose()
}

/// The org's decryption keys for the ACS: every live encryption key (two during a
/// rollover) while encrypted assertions are on; none, and nothing required, while off.
pub async fn decryption(
    state: &crate::state::AppState,
    org_id: i64,
) -> Result<super::sp::Decryption> {
    let now = timestamp(state.clock.now());
    let keys = state
        .store
        .read(move |c| {
            if !store::options(c, org_id)?.encrypt_assertions {
                return Ok(None);
            }
            store::live_keys(c, org_id, KeyUse::Encryption, &now).map(Some)
        })
        .await?;
    let Some(keys) = keys else {
        return Ok(super::sp::Decryption::default());
    };
    Ok(super::sp::Decryption {
        keys: keys
            .iter()
            .map(|k| private_key(&state.sealer, k))
            .collect::<Result<_>>()?,
        required: true,
    })
}

/// Sets the SP certificate expiry gauge; with `log`, warns of every current SP certificate
/// (of a switched-on use) that expires within `WARN_DAYS` or has expired.
pub async fn watch_expiry(state: &crate::state::AppState, log: bool) {
    let list = match state.store.read(store::current_expiries).await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(error = %e, "SAML: cannot read the SP certificate expiry dates");
            return;
        }
    };
    let today = state.clock.now().date();
    let mut days = std::collections::BTreeMap::new();
    for (slug, key_use, not_after) in list {
        let Some(left) = super::expiry::days_left(&not_after, today) else {
            continue;
        };
        if log && left <= WARN_DAYS {
            tracing::warn!(org = %slug, key_use = key_use.as_str(), expires = %not_after,
                days_left = left,
                "SAML: the org's SP certificate expires soon: idgate org saml-keys rotate {slug} \
                 --use {}, then upload the new certificate to the IdP", key_use.as_str());
        }
        days.insert((slug, key_use.as_str().to_string()), left);
    }
    state.metrics.set_saml_sp_certificate_days(days);
}

/// The certificate as Base64 PEM (Entra's ".cer (Base64)"), for upload into Entra.
pub fn certificate_pem(key: &SpKey) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&key.certificate_der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

/// The certificate's Base64 DER for an XML `ds:X509Certificate`.
pub fn certificate_b64(key: &SpKey) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(&key.certificate_der)
}

/// `valid`, `expires soon` (within `WARN_DAYS`), `expired` or `not yet valid` at `now`.
pub fn status(key: &SpKey, now: OffsetDateTime) -> &'static str {
    let (stamp, soon) = (
        timestamp(now),
        timestamp(now + time::Duration::days(WARN_DAYS)),
    );
    if key.not_after < stamp {
        "expired"
    } else if key.not_before > stamp {
        "not yet valid"
    } else if key.not_after < soon {
        "expires soon"
    } else {
        "valid"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer() -> (tempfile::TempDir, Sealer) {
        let dir = tempfile::tempdir().unwrap();
        let s = Sealer::for_data_dir(dir.path()).unwrap();
        (dir, s)
    }

    fn db() -> rusqlite::Connection {
        let mut c = rusqlite::Connection::open_in_memory().unwrap();
        crate::store::migrate(&mut c).unwrap();
        c.execute(
            "INSERT INTO orgs (slug, name, created) VALUES ('acme', 'Acme', 'x')",
            [],
        )
        .unwrap();
        c
    }

    #[test]
    fn generated_pairs_are_rsa_2048_self_signed_and_sealed() {
        let (_d, sealer) = sealer();
        let now = time::macros::datetime!(2026-03-01 10:00:00 UTC);
        let k = generate(&sealer, "acme", KeyUse::Signing, now).unwrap();
        let cert = X509::from_der(&k.certificate_der).unwrap();
        let public = cert.public_key().unwrap();
        assert_eq!(public.rsa().unwrap().size(), 256);
        assert!(cert.verify(&public).unwrap(), "self-signed");
        assert_eq!(k.not_after, "2029-02-28T10:00:00.000Z");
        // The stored key is sealed: not DER, and opens to the certificate's private half.
        assert!(PKey::private_key_from_pkcs8(&k.sealed_key).is_err());
        let stored = SpKey {
            id: 1,
            key_use: k.key_use,
            fingerprint: k.fingerprint.clone(),
            certificate_der: k.certificate_der.clone(),
            sealed_key: k.sealed_key.clone(),
            not_before: k.not_before.clone(),
            not_after: k.not_after.clone(),
            created: k.not_before.clone(),
            retire_after: None,
        };
        let private = private_key(&sealer, &stored).unwrap();
        assert!(private.public_eq(&public));
        assert!(certificate_pem(&stored).starts_with("-----BEGIN CERTIFICATE-----\nMII"));
        assert_eq!(status(&stored, now), "valid");
        assert_eq!(
            status(&stored, now + time::Duration::days(1080)),
            "expires soon"
        );
        assert_eq!(status(&stored, now + time::Duration::days(1100)), "expired");
        assert!(!format!("{stored:?}").contains("sealed"));
    }

    #[test]
    fn rotation_keeps_the_replaced_key_live_for_its_grace_period() {
        let (_d, sealer) = sealer();
        let raw = db();
        let c = Conn::Sqlite(&raw);
        let t0 = time::macros::datetime!(2026-03-01 10:00:00 UTC);
        let first = generate(&sealer, "acme", KeyUse::Encryption, t0).unwrap();
        assert!(ensure(&c, 1, &first, t0).unwrap());
        let again = generate(&sealer, "acme", KeyUse::Encryption, t0).unwrap();
        assert!(!ensure(&c, 1, &again, t0).unwrap(), "one current key");
        let t1 = t0 + time::Duration::days(10);
        let second = generate(&sealer, "acme", KeyUse::Encryption, t1).unwrap();
        rotate(&c, 1, &second, t1, 7).unwrap();
        let live = store::live_keys(&c, 1, KeyUse::Encryption, &timestamp(t1)).unwrap();
        let prints: Vec<_> = live.iter().map(|k| k.fingerprint.as_str()).collect();
        assert_eq!(
            prints,
            [second.fingerprint.as_str(), first.fingerprint.as_str()]
        );
        assert_eq!(
            live[1].retire_after.as_deref(),
            Some("2026-03-18T10:00:00.000Z")
        );
        // The replaced key is the one that signs (for the signing use) until its grace ends.
        assert_eq!(
            signing_key(live.clone()).unwrap().fingerprint,
            first.fingerprint
        );
        // The signing use is separate; after the grace only the new key is live.
        assert!(
            store::live_keys(&c, 1, KeyUse::Signing, &timestamp(t1))
                .unwrap()
                .is_empty()
        );
        let later = timestamp(t1 + time::Duration::days(8));
        let live = store::live_keys(&c, 1, KeyUse::Encryption, &later).unwrap();
        assert_eq!(live.len(), 1);
        assert_eq!(live[0].fingerprint, second.fingerprint);
        // A third rotation drops the key whose grace has ended.
        let t2 = t1 + time::Duration::days(8);
        let third = generate(&sealer, "acme", KeyUse::Encryption, t2).unwrap();
        rotate(&c, 1, &third, t2, 0).unwrap();
        let n: i64 = c
            .query_row("SELECT count(*) FROM saml_sp_keys", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 2);
    }
}
