//! Export packages for archivists: a submission as a BagIt bag (RFC 8493) — its files,
//! their records, verifications and event history as JSON — with the tag manifest
//! signed by an Ed25519 key (detached signature), and the offline check of such a bag
//! (`caregate verify-bag`) that says exactly what is wrong when something is.
//!
//! Payload: `data/files/<path as uploaded>` (members of a submitted zip under
//! `<zip path>.members/`), `data/metadata/{records,verification,verification-history,
//! decisions,events}.json`; `verification.json` is the verification as decided (the
//! controllers' decisions laid over the machine's, which the history keeps). Files are streamed from the evidence store and hashed on the way: an object whose
//! bytes no longer match its record is refused, never packaged. Infected files never
//! leave quarantine, so they are listed in the records but not in the payload.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use anyhow::Context;
use caregate_schemas::{EvidenceRecord, Sha256Digest, SubmissionId};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::{dossier, App};

pub const TAG_MANIFEST: &str = "tagmanifest-sha256.txt";
pub const SIGNATURE: &str = "tagmanifest-sha256.txt.sig";
const BAGIT_TXT: &str = "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n";

/// An Ed25519 signing key kept as 64 hex digits (its 32-byte seed) in a file readable by
/// the archive service only.
pub fn load_signing_key(path: &Path) -> anyhow::Result<SigningKey> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading signing key {}", path.display()))?;
    let mut seed = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut seed).with_context(|| format!("{}: not 64 hex digits", path.display()))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// Writes a new signing key (mode 0600) and returns its public half.
pub fn generate_signing_key(path: &Path) -> anyhow::Result<VerifyingKey> {
    let seed: [u8; 32] = rand::random();
    let key = SigningKey::from_bytes(&seed);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).with_context(|| format!("creating {} (it must not exist)", path.display()))?;
    std::io::Write::write_all(&mut file, format!("{}\n", hex::encode(seed)).as_bytes())?;
    Ok(key.verifying_key())
}

pub fn parse_public_key(hex_key: &str) -> anyhow::Result<VerifyingKey> {
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(hex_key.trim(), &mut bytes).context("a public key is 64 hex digits")?;
    Ok(VerifyingKey::from_bytes(&bytes)?)
}

/// RFC 8493 §2.1.3: CR, LF and `%` in a payload path are percent-encoded.
fn encode_path(p: &str) -> String {
    p.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

fn decode_path(p: &str) -> String {
    p.replace("%0A", "\n").replace("%0a", "\n").replace("%0D", "\r").replace("%0d", "\r").replace("%25", "%")
}

/// What an export wrote.
#[derive(Debug)]
pub struct Exported {
    pub files: usize,
    pub bytes: u64,
    /// Records whose file is not in the payload (infected, held in quarantine).
    pub not_packaged: Vec<String>,
}

/// Writes the bag of one submission into `out` (which must not exist yet).
pub async fn export(app: &App, id: SubmissionId, out: &Path, key: &SigningKey) -> anyhow::Result<Exported> {
    let records = dossier::final_records(app, id).await?;
    let staging = dossier::Staging::new(out)?;
    let package = dossier::Package { format: "bag", dir: out };
    let out = staging.dir.as_path();
    let mut manifest: Vec<(String, String)> = Vec::new();
    let mut bytes = 0u64;
    let mut not_packaged = Vec::new();
    for rec in &records {
        if rec.object_key.is_none() {
            not_packaged.push(rec.path.clone());
            continue;
        }
        let rel = format!("data/files/{}", payload_path(rec, &records));
        let digest = dossier::copy_out(app, rec, &out.join(&rel), &package).await?;
        manifest.push((digest.hex(), rel));
        bytes += rec.size;
    }
    let history = dossier::History::read(app, id, &records).await?;
    let metadata = [
        ("data/metadata/records.json", serde_json::to_vec_pretty(&records)?),
        ("data/metadata/verification.json", serde_json::to_vec_pretty(&history.decided)?),
        ("data/metadata/decisions.json", serde_json::to_vec_pretty(&history.decisions)?),
        ("data/metadata/verification-history.json", serde_json::to_vec_pretty(&history.machine)?),
        ("data/metadata/events.json", serde_json::to_vec_pretty(&history.events)?),
    ];
    for (rel, body) in metadata {
        let dest = out.join(rel);
        std::fs::create_dir_all(dest.parent().expect("under data/"))?;
        std::fs::write(&dest, &body)?;
        manifest.push((Sha256Digest::of(&body).hex(), rel.to_owned()));
        bytes += body.len() as u64;
    }
    manifest.sort_by(|a, b| a.1.cmp(&b.1));
    let manifest_txt: String = manifest.iter().map(|(h, p)| format!("{h}  {}\n", encode_path(p))).collect();
    let first = &records[0].submission;
    let bag_info = format!(
        "Source-Organization: caregate\nBagging-Date: {}\nExternal-Identifier: {id}\nExternal-Description: CaRE {} — FINESS {}\nPayload-Oxum: {bytes}.{}\nCaregate-Signing-Key: {}\n",
        chrono::Utc::now().format("%Y-%m-%d"),
        first.campaign,
        first.establishment,
        manifest.len(),
        hex::encode(key.verifying_key().as_bytes()),
    );
    let tags = [("bagit.txt", BAGIT_TXT.to_owned()), ("bag-info.txt", bag_info), ("manifest-sha256.txt", manifest_txt)];
    let mut tag_manifest = String::new();
    for (name, body) in &tags {
        std::fs::write(out.join(name), body)?;
        tag_manifest += &format!("{}  {name}\n", Sha256Digest::of(body.as_bytes()).hex());
    }
    std::fs::write(out.join(TAG_MANIFEST), &tag_manifest)?;
    std::fs::write(out.join(SIGNATURE), sign_hex(key, tag_manifest.as_bytes()))?;
    staging.finish()?;
    Ok(Exported { files: records.len() - not_packaged.len(), bytes, not_packaged })
}

/// Where a file goes in the payload: its path as uploaded, except that the members of a
/// submitted archive go under `<archive path>.members/`, beside the archive itself (its
/// path is a file, not a directory).
fn payload_path(rec: &EvidenceRecord, records: &[EvidenceRecord]) -> String {
    let parent = rec.parent.and_then(|id| records.iter().find(|r| r.evidence_id == id));
    match parent {
        Some(p) => {
            let member = rec.path.strip_prefix(&p.path).map(|m| m.trim_start_matches('/')).unwrap_or(&rec.path);
            format!("{}.members/{member}", payload_path(p, records))
        }
        None => rec.path.clone(),
    }
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

/// One thing wrong with a bag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BagProblem {
    MissingTagFile(String),
    /// `bagit.txt` is not a BagIt 1.0 declaration.
    NotABag,
    /// A line of a manifest that is not `<64 hex>  <path>`.
    BadManifestLine {
        manifest: String,
        line: usize,
    },
    /// A file listed in a manifest is not there.
    Missing {
        manifest: String,
        path: String,
    },
    /// A file's bytes are not the ones its manifest lists.
    Changed {
        manifest: String,
        path: String,
        expected: String,
        actual: String,
    },
    /// A payload file no manifest lists.
    NotInManifest(String),
    PayloadOxum {
        stated: String,
        actual: String,
    },
    /// The signature file is absent or not 64 bytes of hex.
    NoSignature,
    /// The tag manifest is not what the key signed.
    BadSignature {
        key: String,
    },
    /// No key to check against: neither given nor stated in bag-info.txt.
    NoKey,
}

impl fmt::Display for BagProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BagProblem::MissingTagFile(n) => write!(f, "{n} is missing"),
            BagProblem::NotABag => write!(f, "bagit.txt does not declare BagIt-Version 1.0 in UTF-8"),
            BagProblem::BadManifestLine { manifest, line } => write!(f, "{manifest} line {line} is not '<sha256>  <path>'"),
            BagProblem::Missing { manifest, path } => write!(f, "{path} is listed in {manifest} but missing"),
            BagProblem::Changed { manifest, path, expected, actual } => {
                write!(f, "{path} changed: {manifest} says sha256 {expected}, the file hashes to {actual}")
            }
            BagProblem::NotInManifest(p) => write!(f, "{p} is in the payload but in no manifest"),
            BagProblem::PayloadOxum { stated, actual } => write!(f, "Payload-Oxum says {stated}, the payload is {actual}"),
            BagProblem::NoSignature => write!(f, "{SIGNATURE} is missing or not a hex Ed25519 signature"),
            BagProblem::BadSignature { key } => write!(f, "{TAG_MANIFEST} is not what key {key} signed (tag files changed after export)"),
            BagProblem::NoKey => write!(f, "no public key to check the signature with"),
        }
    }
}

/// How a verified bag's signature was checked.
#[derive(Debug, PartialEq, Eq)]
pub enum KeyUsed {
    /// The key the caller trusts.
    Given(String),
    /// Only the key the bag itself names: proves integrity since export, not origin.
    FromBag(String),
}

/// Every file under `root/sub`, as its path from `root` (with `/`) and its size: what a
/// package holds, to compare with what its manifest lists.
pub(crate) fn files_under(root: &Path, sub: &str) -> Vec<(String, u64)> {
    let mut files = Vec::new();
    let mut stack = vec![root.join(sub)];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let rel = p.strip_prefix(root).expect("under the package").to_string_lossy().replace('\\', "/");
            files.push((rel, entry.metadata().map(|m| m.len()).unwrap_or(0)));
        }
    }
    files
}

pub(crate) fn file_sha256(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}

/// Checks every listed hash, the payload against the manifest both ways, the
/// Payload-Oxum, and the signature of the tag manifest. Works offline, on the bag alone
/// (and a trusted public key when given).
pub fn check(dir: &Path, trusted: Option<&VerifyingKey>) -> (Vec<BagProblem>, Option<KeyUsed>) {
    let mut problems = Vec::new();
    for name in ["bagit.txt", "bag-info.txt", "manifest-sha256.txt", TAG_MANIFEST] {
        if !dir.join(name).is_file() {
            problems.push(BagProblem::MissingTagFile(name.to_owned()));
        }
    }
    if !problems.is_empty() {
        return (problems, None);
    }
    let bagit = std::fs::read_to_string(dir.join("bagit.txt")).unwrap_or_default();
    if !bagit.lines().any(|l| l.trim() == "BagIt-Version: 1.0") {
        problems.push(BagProblem::NotABag);
    }
    let mut listed = BTreeMap::new();
    for manifest in [TAG_MANIFEST, "manifest-sha256.txt"] {
        let text = std::fs::read_to_string(dir.join(manifest)).unwrap_or_default();
        for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let Some((hash, path)) = line.split_once(char::is_whitespace) else {
                problems.push(BagProblem::BadManifestLine { manifest: manifest.into(), line: i + 1 });
                continue;
            };
            let path = decode_path(path.trim_start());
            if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) || path.split('/').any(|s| s == "..") || path.starts_with('/') {
                problems.push(BagProblem::BadManifestLine { manifest: manifest.into(), line: i + 1 });
                continue;
            }
            match file_sha256(&dir.join(&path)) {
                Ok(actual) if actual.eq_ignore_ascii_case(hash) => {}
                Ok(actual) => problems.push(BagProblem::Changed { manifest: manifest.into(), path: path.clone(), expected: hash.to_lowercase(), actual }),
                Err(_) => problems.push(BagProblem::Missing { manifest: manifest.into(), path: path.clone() }),
            }
            if manifest == "manifest-sha256.txt" {
                listed.insert(path, ());
            }
        }
    }
    let payload = files_under(dir, "data");
    let (octets, count) = (payload.iter().map(|(_, len)| len).sum::<u64>(), payload.len());
    problems.extend(payload.into_iter().filter(|(rel, _)| !listed.contains_key(rel)).map(|(rel, _)| BagProblem::NotInManifest(rel)));
    let info = std::fs::read_to_string(dir.join("bag-info.txt")).unwrap_or_default();
    let field = |name: &str| info.lines().find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(':')).map(|v| v.trim().to_owned()));
    let actual = format!("{octets}.{count}");
    if let Some(stated) = field("Payload-Oxum") {
        if stated != actual {
            problems.push(BagProblem::PayloadOxum { stated, actual });
        }
    }
    let signed = std::fs::read(dir.join(TAG_MANIFEST)).unwrap_or_default();
    let (used, problem) = check_signature(trusted, field("Caregate-Signing-Key").as_deref(), &signed, &dir.join(SIGNATURE));
    problems.extend(problem.map(|p| match p {
        SignatureProblem::NoKey => BagProblem::NoKey,
        SignatureProblem::NoSignature => BagProblem::NoSignature,
        SignatureProblem::BadSignature(key) => BagProblem::BadSignature { key },
    }));
    (problems, used)
}
