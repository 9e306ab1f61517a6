//! `EncryptedAssertion` (XML Encryption): the content key is unwrapped with RSA-OAEP by one
//! of the org's live encryption keys (two during a rollover: each is tried), the Assertion
//! decrypted with AES-CBC or AES-GCM, and put back into the Response text in place of the
//! EncryptedAssertion. Decryption proves nothing about the sender (anyone with the public
//! certificate can encrypt): the result then passes every usual check — the Assertion's
//! own signature first of all — exactly as an unencrypted response would. RSA PKCS#1 v1.5
//! key transport is refused (Bleichenbacher).

use openssl::pkey::{PKey, Private};
use openssl::symm::{Cipher, Crypter, Mode, decrypt_aead};

use super::xml::{self, Element};
use super::{Failure, FailureCode, NS_A, NS_DS, NS_P, decode_base64, xml_failure};

const NS_XENC: &str = "http://www.w3.org/2001/04/xmlenc#";
const NS_XENC11: &str = "http://www.w3.org/2009/xmlenc11#";
const RSA_OAEP_MGF1P: &str = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p";
const RSA_OAEP: &str = "http://www.w3.org/2009/xmlenc11#rsa-oaep";
const SHA1: &str = "http://www.w3.org/2000/09/xmldsig#sha1";

/// The data ciphers idgate decrypts: (algorithm URI, cipher, GCM?).
fn data_cipher(uri: &str) -> Option<(Cipher, bool)> {
    Some(match uri {
        "http://www.w3.org/2001/04/xmlenc#aes128-cbc" => (Cipher::aes_128_cbc(), false),
        "http://www.w3.org/2001/04/xmlenc#aes192-cbc" => (Cipher::aes_192_cbc(), false),
        "http://www.w3.org/2001/04/xmlenc#aes256-cbc" => (Cipher::aes_256_cbc(), false),
        "http://www.w3.org/2009/xmlenc11#aes128-gcm" => (Cipher::aes_128_gcm(), true),
        "http://www.w3.org/2009/xmlenc11#aes192-gcm" => (Cipher::aes_192_gcm(), true),
        "http://www.w3.org/2009/xmlenc11#aes256-gcm" => (Cipher::aes_256_gcm(), true),
        _ => return None,
    })
}

fn failed(detail: impl Into<String>, received: Option<String>) -> Failure {
    Failure::new(FailureCode::DecryptionFailed, None, received, detail)
}

fn algorithm<'a>(parent: &'a Element) -> &'a str {
    parent
        .child(NS_XENC, "EncryptionMethod")
        .and_then(|m| m.attr("Algorithm"))
        .unwrap_or_default()
}

fn cipher_value(parent: &Element) -> Result<Vec<u8>, Failure> {
    let text = parent
        .child(NS_XENC, "CipherData")
        .and_then(|d| d.child(NS_XENC, "CipherValue"))
        .map(|v| v.text().into_owned())
        .ok_or_else(|| failed("no CipherData/CipherValue", None))?;
    decode_base64(&text).ok_or_else(|| failed("a CipherValue is not base64", None))
}

/// Whether `xml_text` (a Response already parsed as `raw`) carries an EncryptedAssertion.
pub(super) fn is_encrypted(raw: &Element) -> bool {
    let mut found = false;
    raw.walk(&mut |e, _| found |= e.is(NS_A, "EncryptedAssertion"));
    found
}

/// The Response text with its one EncryptedAssertion replaced by the decrypted Assertion.
pub(super) fn decrypt_response(
    xml_text: &str,
    raw: &Element,
    keys: &[PKey<Private>],
) -> Result<String, Failure> {
    let mut found: Vec<(&Element, bool)> = Vec::new();
    let mut plain = 0;
    raw.walk(&mut |e, path| {
        if e.is(NS_A, "EncryptedAssertion") {
            found.push((e, path.len() == 1 && raw.is(NS_P, "Response")));
        } else if e.is(NS_A, "Assertion") {
            plain += 1;
        }
    });
    let encrypted = match found.as_slice() {
        [(e, true)] if plain == 0 => *e,
        [(_, true)] | [] => {
            return Err(Failure::new(
                FailureCode::MultipleAssertions,
                Some("1 Assertion".into()),
                Some(format!(
                    "{} EncryptedAssertion, {plain} Assertion",
                    found.len()
                )),
                "the Response carries an encrypted and an unencrypted Assertion",
            ));
        }
        [(_, false)] => {
            return Err(Failure::new(
                FailureCode::SignatureWrapping,
                Some("the EncryptedAssertion directly in the Response".into()),
                None,
                "an EncryptedAssertion is hidden inside another element",
            ));
        }
        list => {
            return Err(Failure::new(
                FailureCode::MultipleAssertions,
                Some("1 Assertion".into()),
                Some(format!("{} EncryptedAssertion", list.len())),
                "the Response carries more than one EncryptedAssertion",
            ));
        }
    };
    let plaintext = decrypt(encrypted, keys)?;
    let assertion = assertion_text(&plaintext)?;
    splice(xml_text, assertion)
}

/// Tries each EncryptedKey with each of the org's keys; the first that opens the data wins.
fn decrypt(encrypted: &Element, keys: &[PKey<Private>]) -> Result<Vec<u8>, Failure> {
    let data = encrypted
        .child(NS_XENC, "EncryptedData")
        .ok_or_else(|| failed("the EncryptedAssertion has no EncryptedData", None))?;
    let data_alg = algorithm(data);
    let (cipher, gcm) = data_cipher(data_alg).ok_or_else(|| {
        Failure::new(
            FailureCode::UnsupportedEncryption,
            Some("AES-128/192/256 in CBC or GCM mode".into()),
            Some(data_alg.to_string()),
            "the assertion is encrypted with an algorithm this server does not decrypt",
        )
    })?;
    let ciphertext = cipher_value(data)?;
    // EncryptedKey inside EncryptedData's KeyInfo (Entra), or beside EncryptedData.
    let mut wrapped: Vec<&Element> = Vec::new();
    if let Some(info) = data.child(NS_DS, "KeyInfo") {
        wrapped.extend(info.children_named(NS_XENC, "EncryptedKey"));
    }
    wrapped.extend(encrypted.children_named(NS_XENC, "EncryptedKey"));
    if wrapped.is_empty() {
        return Err(failed(
            "no EncryptedKey for the assertion's content key",
            None,
        ));
    }
    for ek in &wrapped {
        let alg = algorithm(ek);
        if alg != RSA_OAEP_MGF1P && alg != RSA_OAEP {
            return Err(Failure::new(
                FailureCode::UnsupportedEncryption,
                Some(format!("{RSA_OAEP_MGF1P} or {RSA_OAEP}")),
                Some(alg.to_string()),
                "the content key is wrapped with an algorithm this server does not accept \
                 (RSA-OAEP only; RSA PKCS#1 v1.5 is refused)",
            ));
        }
    }
    for ek in &wrapped {
        let (digest, mgf) = oaep_digests(ek)?;
        let wrapped_key = cipher_value(ek)?;
        for key in keys {
            let Some(content_key) = unwrap_key(key, &wrapped_key, digest, mgf) else {
                continue;
            };
            if content_key.len() != cipher.key_len() {
                continue;
            }
            if let Some(plain) = decrypt_data(cipher, gcm, &content_key, &ciphertext) {
                return Ok(plain);
            }
        }
    }
    Err(failed(
        "the assertion is not encrypted for any of this organization's encryption \
         certificates (or its ciphertext was altered)",
        Some(format!("{} EncryptedKey(s), {data_alg}", wrapped.len())),
    ))
}

type Md = &'static openssl::md::MdRef;

/// The OAEP digest and MGF1 digest of an EncryptedKey (SHA-1 unless it says otherwise).
fn oaep_digests(ek: &Element) -> Result<(Md, Md), Failure> {
    let method = ek.child(NS_XENC, "EncryptionMethod");
    let pick = |uri: &str| -> Result<Md, Failure> {
        Ok(match uri {
            "" | SHA1 => openssl::md::Md::sha1(),
            "http://www.w3.org/2001/04/xmlenc#sha256" => openssl::md::Md::sha256(),
            "http://www.w3.org/2001/04/xmldsig-more#sha384" => openssl::md::Md::sha384(),
            "http://www.w3.org/2001/04/xmlenc#sha512" => openssl::md::Md::sha512(),
            other => {
                return Err(Failure::new(
                    FailureCode::UnsupportedEncryption,
                    Some("SHA-1, SHA-256, SHA-384 or SHA-512".into()),
                    Some(other.to_string()),
                    "the OAEP digest is not supported",
                ));
            }
        })
    };
    let digest = method
        .and_then(|m| m.child(NS_DS, "DigestMethod"))
        .and_then(|d| d.attr("Algorithm"))
        .unwrap_or_default();
    let mgf = method
        .and_then(|m| m.child(NS_XENC11, "MGF"))
        .and_then(|d| d.attr("Algorithm"))
        .map(|a| a.replace("http://www.w3.org/2009/xmlenc11#mgf1", ""))
        .unwrap_or_default();
    let mgf = match mgf.as_str() {
        "" | "sha1" => SHA1,
        "sha224" | "sha256" => "http://www.w3.org/2001/04/xmlenc#sha256",
        "sha384" => "http://www.w3.org/2001/04/xmldsig-more#sha384",
        "sha512" => "http://www.w3.org/2001/04/xmlenc#sha512",
        _ => "unknown MGF",
    };
    Ok((pick(digest)?, pick(mgf)?))
}

fn unwrap_key(key: &PKey<Private>, wrapped: &[u8], digest: Md, mgf: Md) -> Option<Vec<u8>> {
    let mut ctx = openssl::pkey_ctx::PkeyCtx::new(key).ok()?;
    ctx.decrypt_init().ok()?;
    ctx.set_rsa_padding(openssl::rsa::Padding::PKCS1_OAEP)
        .ok()?;
    ctx.set_rsa_oaep_md(digest).ok()?;
    ctx.set_rsa_mgf1_md(mgf).ok()?;
    let mut out = Vec::new();
    ctx.decrypt_to_vec(wrapped, &mut out).ok()?;
    Some(out)
}

/// AES-GCM: 12-byte IV, ciphertext, 16-byte tag. AES-CBC: 16-byte IV, then ciphertext with
/// XML Encryption's padding (the last byte says how many bytes to drop, their values free).
fn decrypt_data(cipher: Cipher, gcm: bool, key: &[u8], data: &[u8]) -> Option<Vec<u8>> {
    if gcm {
        if data.len() < 12 + 16 {
            return None;
        }
        let (iv, rest) = data.split_at(12);
        let (body, tag) = rest.split_at(rest.len() - 16);
        return decrypt_aead(cipher, key, Some(iv), &[], body, tag).ok();
    }
    let block = cipher.block_size();
    if data.len() < 2 * block || !data.len().is_multiple_of(block) {
        return None;
    }
    let (iv, body) = data.split_at(block);
    let mut c = Crypter::new(cipher, Mode::Decrypt, key, Some(iv)).ok()?;
    c.pad(false);
    let mut out = vec![0; body.len() + block];
    let mut n = c.update(body, &mut out).ok()?;
    n += c.finalize(&mut out[n..]).ok()?;
    out.truncate(n);
    let pad = usize::from(*out.last()?);
    if pad == 0 || pad > block || pad > out.len() {
        return None;
    }
    out.truncate(out.len() - pad);
    Some(out)
}

/// The decrypted bytes as the text of exactly one Assertion element (an XML declaration
/// before it is dropped); anything else is refused before it goes near the Response.
fn assertion_text(plain: &[u8]) -> Result<&str, Failure> {
    let text = std::str::from_utf8(plain)
        .map_err(|_| Failure::malformed("the decrypted assertion is not UTF-8"))?;
    let mut text = text.trim_start_matches('\u{FEFF}').trim();
    if text.starts_with("<?xml") {
        text = text
            .split_once("?>")
            .map_or("", |(_, rest)| rest)
            .trim_start();
    }
    let tree = xml::parse(text).map_err(xml_failure)?;
    if !tree.is(NS_A, "Assertion") {
        return Err(Failure::new(
            FailureCode::Malformed,
            Some("saml:Assertion".into()),
            Some(format!("{{{}}}{}", tree.ns, tree.name)),
            "the decrypted content is not an Assertion",
        ));
    }
    Ok(text)
}

/// `xml_text` with the EncryptedAssertion element's text replaced by `assertion`. The
/// result is parsed and checked from scratch by the caller.
fn splice(xml_text: &str, assertion: &str) -> Result<String, Failure> {
    let lost = || Failure::malformed("the EncryptedAssertion element could not be located");
    let mut start = None;
    for (i, _) in xml_text.match_indices("EncryptedAssertion") {
        let before = &xml_text[..i];
        let open = before.rfind('<').ok_or_else(lost)?;
        let name = &xml_text[open + 1..i];
        let after = xml_text[i + "EncryptedAssertion".len()..].chars().next();
        let ends = matches!(after, Some(c) if c.is_whitespace() || c == '>' || c == '/');
        if ends && !name.starts_with('/') && name.chars().all(|c| c != ' ' && c != '>') {
            start = Some((open, name.to_string()));
            break;
        }
    }
    let (open, prefix) = start.ok_or_else(lost)?;
    let close = format!("</{prefix}EncryptedAssertion>");
    let end = xml_text[open..]
        .find(&close)
        .map(|i| open + i + close.len())
        .ok_or_else(lost)?;
    Ok(format!(
        "{}{}{}",
        &xml_text[..open],
        assertion,
        &xml_text[end..]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use openssl::rsa::Rsa;

    fn b64(b: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(b)
    }

    /// A Response around one EncryptedAssertion of `plain`, for `key` (OAEP, AES-256-GCM).
    fn response(plain: &str, key: &PKey<Private>, key_alg: &str, extra: &str) -> String {
        let content_key = [7u8; 32];
        let iv = [9u8; 12];
        let mut tag = [0u8; 16];
        let mut data = iv.to_vec();
        data.extend(
            openssl::symm::encrypt_aead(
                Cipher::aes_256_gcm(),
                &content_key,
                Some(&iv),
                &[],
                plain.as_bytes(),
                &mut tag,
            )
            .unwrap(),
        );
        data.extend_from_slice(&tag);
        let rsa = key.rsa().unwrap();
        let mut wrapped = vec![0; rsa.size() as usize];
        let n = rsa
            .public_encrypt(
                &content_key,
                &mut wrapped,
                openssl::rsa::Padding::PKCS1_OAEP,
            )
            .unwrap();
        wrapped.truncate(n);
        format!(
            r#"<samlp:Response xmlns:samlp="{NS_P}" ID="r1"><saml:EncryptedAssertion xmlns:saml="{NS_A}"><xenc:EncryptedData xmlns:xenc="{NS_XENC}"><xenc:EncryptionMethod Algorithm="http://www.w3.org/2009/xmlenc11#aes256-gcm"/><ds:KeyInfo xmlns:ds="{NS_DS}"><xenc:EncryptedKey><xenc:EncryptionMethod Algorithm="{key_alg}"/><xenc:CipherData><xenc:CipherValue>{}</xenc:CipherValue></xenc:CipherData></xenc:EncryptedKey></ds:KeyInfo><xenc:CipherData><xenc:CipherValue>{}</xenc:CipherValue></xenc:CipherData></xenc:EncryptedData></saml:EncryptedAssertion>{extra}</samlp:Response>"#,
            b64(&wrapped),
            b64(&data)
        )
    }

    fn run(xml_text: &str, keys: &[PKey<Private>]) -> Result<String, Failure> {
        let raw = xml::parse(xml_text).unwrap();
        assert!(is_encrypted(&raw));
        decrypt_response(xml_text, &raw, keys)
    }

    #[test]
    fn decrypts_with_any_live_key_and_refuses_what_is_not_one_assertion() {
        let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let other = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let assertion =
            format!(r#"<Assertion xmlns="{NS_A}" ID="a1"><Issuer>x</Issuer></Assertion>"#);
        let text = response(
            &format!("<?xml version=\"1.0\"?>\n{assertion}"),
            &key,
            RSA_OAEP_MGF1P,
            "",
        );
        let out = run(&text, &[other.clone(), key.clone()]).unwrap();
        assert_eq!(
            out,
            format!(r#"<samlp:Response xmlns:samlp="{NS_P}" ID="r1">{assertion}</samlp:Response>"#)
        );
        let err = run(&text, std::slice::from_ref(&other)).unwrap_err();
        assert_eq!(err.code, FailureCode::DecryptionFailed, "{err}");
        // The plaintext may not close the Response or carry two elements.
        for bad in [
            format!("{assertion}</samlp:Response><samlp:Response>"),
            format!("{assertion}{assertion}"),
            "<Other/>".to_string(),
            "<!DOCTYPE x><x/>".to_string(),
        ] {
            let err = run(
                &response(&bad, &key, RSA_OAEP_MGF1P, ""),
                std::slice::from_ref(&key),
            )
            .unwrap_err();
            assert!(
                matches!(err.code, FailureCode::Malformed | FailureCode::Doctype),
                "{bad}: {err}"
            );
        }
        // RSA PKCS#1 v1.5 key transport is refused before any key is tried.
        let v15 = response(
            &assertion,
            &key,
            "http://www.w3.org/2001/04/xmlenc#rsa-1_5",
            "",
        );
        let err = run(&v15, std::slice::from_ref(&key)).unwrap_err();
        assert_eq!(err.code, FailureCode::UnsupportedEncryption);
        // An encrypted and a plain Assertion side by side.
        let both = response(&assertion, &key, RSA_OAEP_MGF1P, &assertion);
        let err = run(&both, std::slice::from_ref(&key)).unwrap_err();
        assert_eq!(err.code, FailureCode::MultipleAssertions);
    }

    #[test]
    fn cbc_padding_follows_xml_encryption() {
        let key = [1u8; 16];
        let iv = [2u8; 16];
        // 11 bytes of content, 5 bytes of padding whose values are free (only the last counts).
        let mut block = b"hello world".to_vec();
        block.extend_from_slice(&[0xAA, 0xBB, 0xCC, 0xDD, 5]);
        let mut c = Crypter::new(Cipher::aes_128_cbc(), Mode::Encrypt, &key, Some(&iv)).unwrap();
        c.pad(false);
        let mut out = vec![0; 32];
        let n = c.update(&block, &mut out).unwrap();
        out.truncate(n);
        let mut data = iv.to_vec();
        data.extend(out);
        let plain = decrypt_data(Cipher::aes_128_cbc(), false, &key, &data).unwrap();
        assert_eq!(plain, b"hello world");
        assert!(decrypt_data(Cipher::aes_128_cbc(), false, &key, &data[..20]).is_none());
    }
}
