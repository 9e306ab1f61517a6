//! Secrets idgate must use, not just compare (webhook signing secrets), sealed at rest with
//! AES-256-GCM under a key kept in the data directory (`secret.key`, mode 0600, made on
//! first use). The database alone — a backup, a stolen copy — does not reveal them.

use std::io::Write;
use std::path::{Path, PathBuf};

use openssl::symm::{Cipher, decrypt_aead, encrypt_aead};

use crate::error::{Error, Result};

const VERSION: u8 = 1;
const NONCE: usize = 12;
const TAG: usize = 16;

#[derive(Clone)]
pub struct Sealer {
    key: [u8; 32],
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

fn key_path(data_dir: &Path) -> PathBuf {
    data_dir.join("secret.key")
}

impl Sealer {
    /// The data directory's key, created (atomically, 0600) when there is none yet.
    pub fn for_data_dir(data_dir: &Path) -> Result<Self> {
        let path = key_path(data_dir);
        if !path.exists() {
            create_key(data_dir, &path)?;
        }
        let bytes = std::fs::read(&path)
            .map_err(|e| Error::Invalid(format!("cannot read {}: {e}", path.display())))?;
        let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
            Error::Invalid(format!(
                "{} must hold exactly 32 bytes; restore it from your backup",
                path.display()
            ))
        })?;
        Ok(Self { key })
    }

    /// A fingerprint of the key (not the key: a one-way hash of it), to tell whether two
    /// instances hold the same one.
    pub fn fingerprint(&self) -> String {
        use sha2::Digest;
        let digest = sha2::Sha256::new()
            .chain_update(b"idgate sealing key check\0")
            .chain_update(self.key)
            .finalize();
        hex::encode(&digest[..16])
    }

    pub fn seal(&self, plain: &[u8]) -> Vec<u8> {
        let nonce: [u8; NONCE] = rand::random();
        let mut tag = [0u8; TAG];
        let sealed = encrypt_aead(
            Cipher::aes_256_gcm(),
            &self.key,
            Some(&nonce),
            &[VERSION],
            plain,
            &mut tag,
        )
        .expect("AES-256-GCM with a 32-byte key and a 12-byte nonce cannot fail");
        let mut out = Vec::with_capacity(1 + NONCE + TAG + sealed.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&tag);
        out.extend_from_slice(&sealed);
        out
    }

    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>> {
        let fail = || {
            Error::internal(
                "a sealed secret does not open with this data directory's secret.key \
                 (was the key replaced?)",
            )
        };
        if sealed.len() < 1 + NONCE + TAG || sealed[0] != VERSION {
            return Err(fail());
        }
        let (nonce, rest) = sealed[1..].split_at(NONCE);
        let (tag, body) = rest.split_at(TAG);
        decrypt_aead(
            Cipher::aes_256_gcm(),
            &self.key,
            Some(nonce),
            &[VERSION],
            body,
            tag,
        )
        .map_err(|_| fail())
    }
}

/// Writes a fresh key beside `path` and links it into place: two processes starting at once
/// end with one key, and nobody reads a half-written file.
fn create_key(dir: &Path, path: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::Invalid(format!("cannot create {}: {e}", dir.display())))?;
    let tmp = dir.join(format!(".secret.key.{}", std::process::id()));
    let key: [u8; 32] = rand::random();
    let write = || -> std::io::Result<()> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut f = options.open(&tmp)?;
        f.write_all(&key)?;
        f.sync_all()?;
        match std::fs::hard_link(&tmp, path) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => Err(e),
            _ => Ok(()),
        }
    };
    let outcome = write();
    let _ = std::fs::remove_file(&tmp);
    outcome.map_err(|e| Error::Invalid(format!("cannot create {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_with_the_same_key_only() {
        let dir = tempfile::tempdir().unwrap();
        let a = Sealer::for_data_dir(dir.path()).unwrap();
        let sealed = a.seal(b"whsec_abc");
        assert_ne!(&sealed[..], b"whsec_abc");
        assert_eq!(a.open(&sealed).unwrap(), b"whsec_abc");
        // The same directory gives the same key; another directory does not.
        let again = Sealer::for_data_dir(dir.path()).unwrap();
        assert_eq!(again.open(&sealed).unwrap(), b"whsec_abc");
        let other = Sealer::for_data_dir(tempfile::tempdir().unwrap().path()).unwrap();
        assert!(other.open(&sealed).is_err());
        // Tampering is detected.
        let mut bad = sealed.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert!(a.open(&bad).is_err());
        assert!(a.open(&[]).is_err());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(key_path(dir.path()))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
