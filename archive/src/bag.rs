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
//!
//! Every file gets a path of its own, compared without case (archivists unpack on
//! Windows and macOS): a name two files share (two uploads of `facture.pdf`, `A.pdf` and
//! `a.pdf`, a file named like another's folder) or a name the upload's rules would not
//! accept as it is (a record kept from before they applied to zip members) carries the
//! evidence id: `<folder>/<name>.<evidence id>.<extension>` (see [`payload_paths`]).
//!
//! A bag is checked by [`check`], as `caregate verify-bag` would check it, before it is
//! moved into place: an export that does not pass its own check fails and leaves nothing.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::Path;

use caregate_schemas::names::sanitize_name;
use caregate_schemas::{EvidenceId, EvidenceRecord, Sha256Digest, SubmissionId};
use ed25519_dalek::{SigningKey, VerifyingKey};

use crate::package::{self, checked_before_delivery, file_sha256, files_under, write_file, ExportError};
use crate::signing::{check_signature, sign_hex, KeyUsed, SignatureProblem};
use crate::Stores;

pub const TAG_MANIFEST: &str = "tagmanifest-sha256.txt";
pub const SIGNATURE: &str = "tagmanifest-sha256.txt.sig";
const BAGIT_TXT: &str = "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n";

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
    /// Files whose payload path is not their path as uploaded (a name shared, or not
    /// clean): the record's path and where the file is in the bag.
    pub renamed: Vec<(String, String)>,
}

/// Writes the bag of one submission into `out` (which must not exist yet).
pub async fn export(stores: Stores<'_>, id: SubmissionId, out: &Path, key: &SigningKey) -> Result<Exported, ExportError> {
    let records = package::final_records(stores.index, id).await?;
    let staging = package::Staging::new(out)?;
    let target = package::Package { format: "bag", dir: out };
    let out = staging.dir.as_path();
    let mut manifest: Vec<(String, String)> = Vec::new();
    let mut bytes = 0u64;
    let mut not_packaged = Vec::new();
    let mut renamed = Vec::new();
    let paths = payload_paths(&records)?;
    for rec in &records {
        let Some(path) = paths.get(&rec.evidence_id) else {
            not_packaged.push(rec.path.clone());
            continue;
        };
        if *path != rec.path {
            renamed.push((rec.path.clone(), path.clone()));
        }
        let rel = format!("data/files/{path}");
        let digest = package::copy_out(stores, rec, &out.join(&rel), &target).await?;
        manifest.push((digest.hex(), rel));
        bytes += rec.size;
    }
    let history = package::History::read(stores.index, id, &records).await?;
    let metadata = [
        ("data/metadata/records.json", serde_json::to_vec_pretty(&records)?),
        ("data/metadata/verification.json", serde_json::to_vec_pretty(&history.decided)?),
        ("data/metadata/decisions.json", serde_json::to_vec_pretty(&history.decisions)?),
        ("data/metadata/verification-history.json", serde_json::to_vec_pretty(&history.machine)?),
        ("data/metadata/events.json", serde_json::to_vec_pretty(&history.events)?),
    ];
    for (rel, body) in metadata {
        write_file(&out.join(rel), &body)?;
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
        write_file(&out.join(name), body.as_bytes())?;
        tag_manifest += &format!("{}  {name}\n", Sha256Digest::of(body.as_bytes()).hex());
    }
    write_file(&out.join(TAG_MANIFEST), tag_manifest.as_bytes())?;
    write_file(&out.join(SIGNATURE), sign_hex(key, tag_manifest.as_bytes()).as_bytes())?;
    checked_before_delivery("bag", check(out, Some(&key.verifying_key())).0)?;
    staging.finish()?;
    Ok(Exported { files: records.len() - not_packaged.len(), bytes, not_packaged, renamed })
}

/// How a file is named in the payload, from the plainest to the safest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Naming {
    /// Its path as uploaded (members of a submitted archive under
    /// `<archive path>.members/`, beside the archive itself, whose path is a file).
    AsUploaded,
    /// That path cleaned, the evidence id before the extension:
    /// `<folder>/<name>.<evidence id>.<extension>`.
    WithId,
    /// `<evidence id>.<extension>` at the top of `data/files/`, for a path the rules
    /// refuse or one that still meets another (only names made to look like another
    /// file's come this far).
    IdOnly,
}

/// Where each stored file goes under `data/files/`, by evidence id (a record absent is
/// not packaged). A path is kept as uploaded when it is clean and no other file's path
/// is the same or lies under it, compared without case; otherwise the file takes the
/// evidence id into its name. The id goes into the name rather than above it
/// (`<evidence id>/<name>`) so the file stays in its folder beside its neighbours and
/// keeps its extension (it opens with the right program), and the id in the name is the
/// key of `records.json` and `events.json`. Every file that shares a path is renamed,
/// not all but the first: no copy passes for the original by the order of the records.
fn payload_paths(records: &[EvidenceRecord]) -> Result<HashMap<EvidenceId, String>, ExportError> {
    let by_id: HashMap<EvidenceId, &EvidenceRecord> = records.iter().map(|r| (r.evidence_id, r)).collect();
    let packaged: Vec<&EvidenceRecord> = records.iter().filter(|r| r.object_key.is_some()).collect();
    let mut naming: HashMap<EvidenceId, Naming> = records.iter().map(|r| (r.evidence_id, Naming::AsUploaded)).collect();
    // Each round renames at least one file one step further, so it ends within two
    // rounds a file; the bound only guards that reasoning.
    for _ in 0..=2 * packaged.len() + 1 {
        let paths: HashMap<EvidenceId, String> = packaged.iter().map(|r| (r.evidence_id, payload_path(r, &by_id, &naming))).collect();
        let clashing = clashes(&paths, &naming);
        if clashing.is_empty() {
            return Ok(paths);
        }
        for id in clashing {
            let n = naming.get_mut(&id).expect("every record has a naming");
            *n = if *n == Naming::AsUploaded { Naming::WithId } else { Naming::IdOnly };
        }
    }
    Err(ExportError::NoPayloadPaths)
}

/// The files to rename further: those whose path another file's path equals, without
/// case, and those whose path is another file's folder (then the folder's files, when the
/// file itself cannot be renamed further).
fn clashes(paths: &HashMap<EvidenceId, String>, naming: &HashMap<EvidenceId, Naming>) -> Vec<EvidenceId> {
    let mut files: HashMap<String, Vec<EvidenceId>> = HashMap::new();
    let mut folders: HashMap<String, Vec<EvidenceId>> = HashMap::new();
    for (id, path) in paths {
        let key = path.to_lowercase();
        for (at, _) in key.match_indices('/') {
            folders.entry(key[..at].to_owned()).or_default().push(*id);
        }
        files.entry(key).or_default().push(*id);
    }
    let further = |id: &EvidenceId| naming[id] != Naming::IdOnly;
    let mut clashing = Vec::new();
    for (key, ids) in &files {
        if ids.len() > 1 {
            clashing.extend(ids.iter().filter(|id| further(id)));
        }
        if let Some(under) = folders.get(key) {
            if ids.iter().any(further) {
                clashing.extend(ids.iter().filter(|id| further(id)));
            } else {
                clashing.extend(under.iter().filter(|id| further(id)));
            }
        }
    }
    clashing.sort();
    clashing.dedup();
    clashing
}

/// A file's path in the payload under its current naming.
fn payload_path(rec: &EvidenceRecord, by_id: &HashMap<EvidenceId, &EvidenceRecord>, naming: &HashMap<EvidenceId, Naming>) -> String {
    let wanted = match rec.parent.and_then(|id| by_id.get(&id)) {
        Some(p) => {
            let member = rec.path.strip_prefix(&p.path).map(|m| m.trim_start_matches('/')).unwrap_or(&rec.path);
            format!("{}.members/{member}", payload_path(p, by_id, naming))
        }
        None => rec.path.clone(),
    };
    let id_only = || {
        let (_, extension) = split_extension(wanted.rsplit('/').next().unwrap_or(&wanted));
        format!("{}{extension}", rec.evidence_id)
    };
    match (naming[&rec.evidence_id], sanitize_name(&wanted)) {
        (Naming::AsUploaded, Ok(clean)) if clean == wanted => wanted,
        (Naming::AsUploaded | Naming::WithId, Ok(clean)) => with_id(&clean, rec.evidence_id),
        _ => id_only(),
    }
}

/// `<folder>/<name>.<id>.<extension>`, the name shortened (at a character) so that the
/// file name stays within the 255 bytes file systems allow.
fn with_id(clean: &str, id: EvidenceId) -> String {
    let (folder, file) = match clean.rsplit_once('/') {
        Some((folder, file)) => (format!("{folder}/"), file),
        None => (String::new(), clean),
    };
    let (stem, extension) = split_extension(file);
    let id = id.to_string();
    let room = 255 - 1 - id.len() - extension.len();
    let cut = (0..=room.min(stem.len())).rev().find(|&i| stem.is_char_boundary(i)).unwrap_or(0);
    format!("{folder}{}.{id}{extension}", &stem[..cut])
}

/// A file name's stem and its extension with the dot (`("rapport", ".PDF")`), or the
/// whole name and nothing when what follows its last dot is not a plain extension.
fn split_extension(file: &str) -> (&str, &str) {
    match file.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && (1..=8).contains(&ext.len()) && ext.bytes().all(|b| b.is_ascii_alphanumeric()) => (stem, &file[stem.len()..]),
        _ => (file, ""),
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use caregate_schemas::SubmissionRef;

    fn stored(path: &str, parent: Option<&EvidenceRecord>) -> EvidenceRecord {
        let sub = SubmissionRef {
            submission_id: SubmissionId::new(),
            establishment: "750000001".into(),
            campaign: "care-d1-2024".into(),
            objectives: vec![],
            category: None,
        };
        let id = EvidenceId::new();
        let mut rec = EvidenceRecord::received(id, sub, path.into(), Sha256Digest::of(path.as_bytes()), 1, id.quarantine_key());
        rec.object_key = Some(rec.sha256.object_key());
        rec.parent = parent.map(|p| p.evidence_id);
        rec
    }

    fn paths_of(records: &[EvidenceRecord]) -> Vec<String> {
        let paths = payload_paths(records).unwrap();
        records.iter().map(|r| paths[&r.evidence_id].clone()).collect()
    }

    #[test]
    fn unique_clean_paths_are_kept_as_uploaded() {
        let zip = stored("divers/pièces.zip", None);
        let member = stored("divers/pièces.zip/factures/facture.xml", Some(&zip));
        let records = [stored("factures/facture été 100%.txt", None), member, zip];
        assert_eq!(paths_of(&records), ["factures/facture été 100%.txt", "divers/pièces.zip.members/factures/facture.xml", "divers/pièces.zip"]);
    }

    #[test]
    fn shared_names_all_take_their_id_even_differing_in_case() {
        let records = [stored("factures/facture.PDF", None), stored("factures/Facture.pdf", None), stored("factures/facture.pdf", None)];
        let paths = paths_of(&records);
        for (rec, path) in records.iter().zip(&paths) {
            let (stem, ext) = split_extension(rec.path.rsplit('/').next().unwrap());
            assert_eq!(*path, format!("factures/{stem}.{}{ext}", rec.evidence_id));
        }
    }

    #[test]
    fn a_file_named_like_a_folder_takes_its_id() {
        let records = [stored("Rapports", None), stored("rapports/audit.xml", None)];
        assert_eq!(paths_of(&records), [format!("Rapports.{}", records[0].evidence_id), "rapports/audit.xml".into()]);
    }

    #[test]
    fn unclean_names_are_cleaned_with_the_id_or_replaced_by_it() {
        let zip = stored("x.zip", None);
        let records = [stored("x.zip/a/../b.txt", Some(&zip)), stored("x.zip/c\u{202E}fdp.exe", Some(&zip)), stored("x.zip/b.txt", Some(&zip)), zip];
        let ids: Vec<EvidenceId> = records.iter().map(|r| r.evidence_id).collect();
        assert_eq!(paths_of(&records), [format!("{}.txt", ids[0]), format!("x.zip.members/cfdp.{}.exe", ids[1]), "x.zip.members/b.txt".into(), "x.zip".into()]);
    }

    #[test]
    fn a_name_made_to_meet_a_renamed_one_is_renamed_too() {
        let first = stored("a.pdf", None);
        let lookalike = stored(&format!("a.{}.pdf", first.evidence_id), None);
        let records = [first, stored("A.pdf", None), lookalike];
        let paths = paths_of(&records);
        let lowered: std::collections::HashSet<String> = paths.iter().map(|p| p.to_lowercase()).collect();
        assert_eq!(lowered.len(), 3, "{paths:?}");
        assert!(paths.iter().zip(&records).all(|(p, r)| p.contains(&r.evidence_id.to_string())), "{paths:?}");
    }

    #[test]
    fn long_names_stay_within_255_bytes_with_their_id() {
        let long = format!("{}.pdf", "é".repeat(120));
        let records = [stored(&long, None), stored(&long, None)];
        for (path, rec) in paths_of(&records).iter().zip(&records) {
            assert!(path.len() <= 255 && path.ends_with(&format!(".{}.pdf", rec.evidence_id)), "{} bytes: {path}", path.len());
        }
    }
}
