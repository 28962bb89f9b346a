//! The archive key: an Ed25519 key whose detached signature covers what a package
//! lists (a bag's tag manifest, a transfer's manifest), so that an archivist can check
//! offline that nothing changed since export and, given the public key, who exported.

use std::path::{Path, PathBuf};

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};

/// A key that cannot be read, made or parsed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("reading signing key {}: {error}", .path.display())]
    Read { path: PathBuf, error: std::io::Error },
    #[error("{}: not 64 hex digits", .path.display())]
    NotHex { path: PathBuf },
    /// Keys are never overwritten: the file must not exist.
    #[error("creating {} (it must not exist): {error}", .path.display())]
    Create { path: PathBuf, error: std::io::Error },
    #[error("a public key is 64 hex digits")]
    PublicNotHex,
    #[error("not an Ed25519 public key: {0}")]
    PublicInvalid(ed25519_dalek::SignatureError),
}

/// An Ed25519 signing key kept as 64 hex digits (its 32-byte seed) in a file readable by
/// the archive service only.
pub fn load_signing_key(path: &Path) -> Result<SigningKey, KeyError> {
    let text = std::fs::read_to_string(path).map_err(|error| KeyError::Read { path: path.to_owned(), error })?;
    let mut seed = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut seed).map_err(|_| KeyError::NotHex { path: path.to_owned() })?;
    Ok(SigningKey::from_bytes(&seed))
}

/// Writes a new signing key (mode 0600) and returns its public half.
pub fn generate_signing_key(path: &Path) -> Result<VerifyingKey, KeyError> {
    let seed: [u8; 32] = rand::random();
    let key = SigningKey::from_bytes(&seed);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let create = |error| KeyError::Create { path: path.to_owned(), error };
    let mut file = options.open(path).map_err(create)?;
    std::io::Write::write_all(&mut file, format!("{}\n", hex::encode(seed)).as_bytes()).map_err(create)?;
    Ok(key.verifying_key())
}

pub fn parse_public_key(hex_key: &str) -> Result<VerifyingKey, KeyError> {
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(hex_key.trim(), &mut bytes).map_err(|_| KeyError::PublicNotHex)?;
    VerifyingKey::from_bytes(&bytes).map_err(KeyError::PublicInvalid)
}

/// Signs `bytes` with the archive key: the detached signature's hex text, as written
/// beside a package.
pub fn sign_hex(key: &SigningKey, bytes: &[u8]) -> String {
    format!("{}\n", hex::encode(key.sign(bytes).to_bytes()))
}

/// Why a package's detached signature does not hold.
pub enum SignatureProblem {
    /// No key to check with: none given, none named by the package.
    NoKey,
    /// The signature file is absent or not hex.
    NoSignature,
    /// Not what the key (hex) signed.
    BadSignature(String),
}

/// How a verified package's signature was checked.
#[derive(Debug, PartialEq, Eq)]
pub enum KeyUsed {
    /// The key the caller trusts.
    Given(String),
    /// Only the key the package itself names: proves integrity since export, not origin.
    FromBag(String),
}

/// Checks `signed` against the detached signature at `signature`, with the trusted key
/// if given, else the one the package names (which proves integrity, not origin): the
/// key used, if any, and what is wrong, if anything.
pub fn check_signature(trusted: Option<&VerifyingKey>, named: Option<&str>, signed: &[u8], signature: &Path) -> (Option<KeyUsed>, Option<SignatureProblem>) {
    let (key, used) = match (trusted, named.and_then(|k| parse_public_key(k).ok())) {
        (Some(k), _) => (*k, KeyUsed::Given(hex::encode(k.as_bytes()))),
        (None, Some(k)) => (k, KeyUsed::FromBag(hex::encode(k.as_bytes()))),
        (None, None) => return (None, Some(SignatureProblem::NoKey)),
    };
    let problem = match read_signature(signature) {
        None => Some(SignatureProblem::NoSignature),
        Some(sig) if key.verify_strict(signed, &sig).is_err() => Some(SignatureProblem::BadSignature(hex::encode(key.as_bytes()))),
        Some(_) => None,
    };
    (Some(used), problem)
}

/// Reads a detached signature written by [`sign_hex`]; `None` when absent or not hex.
fn read_signature(path: &Path) -> Option<ed25519_dalek::Signature> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut bytes = [0u8; 64];
    hex::decode_to_slice(text.trim(), &mut bytes).ok()?;
    Some(ed25519_dalek::Signature::from_bytes(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_loads_back_and_its_signatures_check() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("archive.key");
        let public = generate_signing_key(&path).unwrap();
        #[cfg(unix)]
        assert_eq!(std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&path).unwrap().permissions()) & 0o777, 0o600);
        let key = load_signing_key(&path).unwrap();
        assert_eq!(key.verifying_key(), public);
        assert!(matches!(generate_signing_key(&path), Err(KeyError::Create { .. })), "a key is never overwritten");

        let sig = dir.path().join("signed.sig");
        std::fs::write(&sig, sign_hex(&key, b"manifest")).unwrap();
        let named = hex::encode(public.as_bytes());
        assert!(matches!(check_signature(Some(&public), None, b"manifest", &sig), (Some(KeyUsed::Given(_)), None)));
        assert!(matches!(check_signature(None, Some(&named), b"manifest", &sig), (Some(KeyUsed::FromBag(_)), None)));
        assert!(matches!(check_signature(Some(&public), None, b"changed", &sig), (_, Some(SignatureProblem::BadSignature(k))) if k == named));
        assert!(matches!(check_signature(None, None, b"manifest", &sig), (None, Some(SignatureProblem::NoKey))));
        assert!(matches!(check_signature(Some(&public), None, b"manifest", &dir.path().join("absent")), (_, Some(SignatureProblem::NoSignature))));
    }

    #[test]
    fn keys_that_are_not_keys_are_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.key");
        std::fs::write(&path, "not hex").unwrap();
        assert_eq!(load_signing_key(&path).unwrap_err().to_string(), format!("{}: not 64 hex digits", path.display()));
        assert!(matches!(load_signing_key(&dir.path().join("absent")), Err(KeyError::Read { .. })));
        assert!(matches!(parse_public_key("abc"), Err(KeyError::PublicNotHex)));
        assert!(parse_public_key(&hex::encode(SigningKey::from_bytes(&[7; 32]).verifying_key().as_bytes())).is_ok());
    }
}
