//! Transfers to French public archives: a submission written as a SEDA 2.3
//! `ArchiveTransfer` (the exchange standard of the Service interministériel des Archives
//! de France, which archive systems such as Vitam ingest), and the offline check of such
//! a transfer (`caregate verify-transfer`).
//!
//! A transfer is a directory: `manifest.xml`, `content/` with one file per stored
//! evidence (named by its evidence id and a plain extension — ASCII letters and digits —
//! so no uploaded name, however hostile, becomes a path, and no two files meet even
//! without case; the name as uploaded is in the manifest) and the
//! dossier's own records (`content/dossier/`: verification as decided, the machine's
//! history, decisions, every file's audit events, the records, and the management rules
//! the manifest refers to), and `manifest.xml.sig`, the archive key's Ed25519 signature
//! of the manifest. What an archive ingests is `manifest.xml` and `content/`.
//!
//! The manifest describes the dossier as a tree of archive units: the dossier (whose
//! management rules — appraisal and access — every unit below inherits), one unit per
//! objective (verdict and reasons, pointing at the evidence it used), the evidence
//! itself (kind, status, findings, history), and the verification records. Every
//! stored file is streamed out through the checked read and re-hashed on the way;
//! infected files are described but never packaged.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

use caregate_schemas::vocabulary;
use caregate_schemas::{EvidenceId, EvidenceRecord, ObjectiveVerdict, Sha256Digest, Status, SubmissionId};
use chrono::{DateTime, SecondsFormat, Utc};
use ed25519_dalek::{SigningKey, VerifyingKey};
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use serde::{Deserialize, Serialize};

use crate::package::{self, checked_before_delivery, file_sha256, files_under, write_file, ExportError};
use crate::signing::{check_signature, sign_hex, KeyUsed, SignatureProblem};
use crate::Stores;

pub const NAMESPACE: &str = "fr:gouv:culture:archivesdefrance:seda:v2.3";
pub const MANIFEST: &str = "manifest.xml";
pub const SIGNATURE: &str = "manifest.xml.sig";
const CONTENT: &str = "content";
/// How the manifest's comment names the key that signed it, so that a transfer can be
/// checked for integrity without being told the key (origin needs the key given).
const KEY_COMMENT: &str = "Clé publique de signature (Ed25519) : ";
/// The rules referential the manifest's rule ids come from, shipped in the transfer.
const RULES_FILE: &str = "content/dossier/regles-de-gestion.csv";
const RULES_VERSION: &str = "caregate-regles-1";

/// What happens at the end of the appraisal period (SEDA `FinalAction`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FinalAction {
    Keep,
    Destroy,
}

impl FinalAction {
    fn code(self) -> &'static str {
        match self {
            FinalAction::Keep => "Keep",
            FinalAction::Destroy => "Destroy",
        }
    }
}

/// What the archives agreed with ANS for these transfers (the "convention de versement").
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SedaConfig {
    /// Identifier of the archive service receiving the transfers (`ArchivalAgency`).
    pub archival_agency: String,
    /// Identifier of the service transferring them (`TransferringAgency`, and the
    /// submission agency of every unit).
    pub transferring_agency: String,
    /// The archive's contract for these transfers (`ArchivalAgreement`; Vitam's
    /// "contrat d'entrée"), when it has one.
    pub archival_agreement: Option<String>,
    /// Rule id of the appraisal period (`AppraisalRule`); its duration is
    /// `worker.retention_days`, the same retention the store enforces.
    pub appraisal_rule: String,
    /// What the archive does once the appraisal period is over.
    pub final_action: FinalAction,
    /// Rule id of the access restriction (`AccessRule`).
    pub access_rule: String,
    /// Years before the dossier may be communicated: audits of directories and scans
    /// of exposure describe how to attack a hospital's systems (Code du patrimoine,
    /// L213-2, I, 3°: security of persons, 50 years).
    pub access_years: u32,
}

impl Default for SedaConfig {
    fn default() -> Self {
        Self {
            archival_agency: "ARCHIVES".into(),
            transferring_agency: "ANS".into(),
            archival_agreement: None,
            appraisal_rule: "CAREGATE-DUA".into(),
            final_action: FinalAction::Keep,
            access_rule: "CAREGATE-COMMUNICABILITE".into(),
            access_years: 50,
        }
    }
}

impl SedaConfig {
    /// Every problem, each naming its key (`; ` between them); identifiers are XML
    /// tokens, so neither empty nor spaced.
    pub fn validate(&self) -> Result<(), String> {
        let mut problems = Vec::new();
        let mut token = |key: &str, value: &str| {
            if value.is_empty() || value.chars().any(char::is_whitespace) {
                problems.push(format!("archive.seda.{key} must be a non-empty identifier without spaces (got {value:?})"));
            }
        };
        token("archival_agency", &self.archival_agency);
        token("transferring_agency", &self.transferring_agency);
        token("appraisal_rule", &self.appraisal_rule);
        token("access_rule", &self.access_rule);
        if let Some(agreement) = &self.archival_agreement {
            token("archival_agreement", agreement);
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }
}

/// What a transfer holds.
#[derive(Debug)]
pub struct Transferred {
    /// Files packaged (stored evidence and dossier records).
    pub files: usize,
    pub bytes: u64,
    /// Records whose file is described but not packaged (infected: kept in quarantine).
    pub not_packaged: Vec<String>,
    /// Why the manifest could not be validated against the SEDA 2.3 schemas when it was
    /// checked before delivery (xmllint or the schemas absent); the rest was checked.
    pub schemas_unchecked: Option<String>,
}

/// A file of the transfer, as its `BinaryDataObject` describes it.
struct Object {
    id: String,
    uri: String,
    sha256: Sha256Digest,
    size: u64,
    media_type: String,
    filename: String,
}

/// Writes the SEDA transfer of one submission into `out` (which must not exist yet), with
/// the rules agreed with the archives and the retention the store enforces
/// (`worker.retention_days`), which is the appraisal period.
pub async fn export(
    stores: Stores<'_>,
    seda: &SedaConfig,
    retention_days: u32,
    id: SubmissionId,
    out: &Path,
    key: &SigningKey,
) -> Result<Transferred, ExportError> {
    let records = package::final_records(stores.index, id).await?;
    let staging = package::Staging::new(out)?;
    let target = package::Package { format: "seda", dir: out };
    let out = staging.dir.as_path();
    let mut files: HashMap<EvidenceId, Object> = HashMap::new();
    let mut not_packaged = Vec::new();
    for rec in &records {
        if rec.object_key.is_none() {
            not_packaged.push(rec.path.clone());
            continue;
        }
        let uri = format!("{CONTENT}/{}{}", rec.evidence_id, extension(&rec.path));
        let sha256 = package::copy_out(stores, rec, &out.join(&uri), &target).await?;
        let object = Object {
            id: format!("BDO-{}", rec.evidence_id),
            uri,
            sha256,
            size: rec.size,
            media_type: rec.media_type.clone().unwrap_or_else(|| "application/octet-stream".into()),
            filename: file_name(&rec.path).to_owned(),
        };
        files.insert(rec.evidence_id, object);
    }
    let history = package::History::read(stores.index, id, &records).await?;
    let records_out = [
        ("verification", "Vérification telle que décidée", serde_json::to_vec_pretty(&history.decided)?),
        ("verification-history", "Vérifications successives de la machine", serde_json::to_vec_pretty(&history.machine)?),
        ("decisions", "Décisions des contrôleurs", serde_json::to_vec_pretty(&history.decisions)?),
        ("events", "Journal d'audit de chaque pièce (chaîné)", serde_json::to_vec_pretty(&history.events)?),
        ("records", "Notices des pièces", serde_json::to_vec_pretty(&records)?),
    ];
    let mut dossier_objects = Vec::new();
    for (name, title, body) in records_out {
        let uri = format!("{CONTENT}/dossier/{name}.json");
        dossier_objects.push((title, write_object(out, &uri, &body, "application/json")?));
    }
    let rules = rules_referential(seda, retention_days);
    dossier_objects.push(("Référentiel des règles de gestion", write_object(out, RULES_FILE, rules.as_bytes(), "text/csv")?));

    let manifest =
        Manifest { id, records: &records, files: &files, history: &history, dossier_objects: &dossier_objects, seda, key: &key.verifying_key() }.write()?;
    write_file(&out.join(MANIFEST), &manifest)?;
    write_file(&out.join(SIGNATURE), sign_hex(key, &manifest).as_bytes())?;
    // Checked as `caregate verify-transfer` checks it, schemas included where they can be.
    let schemas = schemas_dir();
    let schemas_unchecked = match validate_schema(&out.join(MANIFEST), &schemas) {
        Err(SchemaError::Unavailable(why)) => Some(why),
        _ => None,
    };
    let (problems, _) = check(out, Some(&key.verifying_key()), schemas_unchecked.is_none().then_some(schemas.as_path()));
    checked_before_delivery("transfer", problems)?;
    staging.finish()?;
    let bytes = files.values().chain(dossier_objects.iter().map(|(_, o)| o)).map(|o| o.size).sum();
    Ok(Transferred { files: files.len() + dossier_objects.len(), bytes, not_packaged, schemas_unchecked })
}

fn write_object(out: &Path, uri: &str, body: &[u8], media_type: &str) -> Result<Object, ExportError> {
    write_file(&out.join(uri), body)?;
    let filename = file_name(uri).to_owned();
    Ok(Object {
        id: format!("BDO-dossier-{}", filename.replace('.', "-")),
        uri: uri.to_owned(),
        sha256: Sha256Digest::of(body),
        size: body.len() as u64,
        media_type: media_type.into(),
        filename,
    })
}

/// The rules the manifest names, in the CSV layout Vitam imports its rules referential
/// from, so the archive can load them as they are.
fn rules_referential(seda: &SedaConfig, retention_days: u32) -> String {
    let row = |fields: [&str; 6]| fields.iter().map(|f| format!("\"{}\"", f.replace('"', "\"\""))).collect::<Vec<_>>().join(",") + "\n";
    let mut csv = row(["RuleId", "RuleType", "RuleValue", "RuleDescription", "RuleDuration", "RuleMeasurement"]);
    csv += &row([
        &seda.appraisal_rule,
        "AppraisalRule",
        "Justificatifs du programme CaRE",
        "Durée d'utilité administrative des pièces justificatives d'un financement public : la durée de conservation des pièces comptables (Code de commerce, L123-22), celle que caregate applique aux fichiers archivés.",
        &retention_days.to_string(),
        "DAY",
    ]);
    csv += &row([
        &seda.access_rule,
        "AccessRule",
        "Sécurité des systèmes d'information des établissements de santé",
        "Audits d'annuaire et scans d'exposition décrivent les faiblesses des systèmes d'un établissement : communicables après ce délai (Code du patrimoine, L213-2).",
        &seda.access_years.to_string(),
        "YEAR",
    ]);
    csv
}

/// The extension of an uploaded name, kept on the packaged file so that it opens with
/// the right program; anything unusual is dropped rather than carried into a path.
fn extension(path: &str) -> String {
    match file_name(path).rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && (1..=8).contains(&ext.len()) && ext.bytes().all(|b| b.is_ascii_alphanumeric()) => {
            format!(".{}", ext.to_ascii_lowercase())
        }
        _ => String::new(),
    }
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn date_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn french_date(t: DateTime<Utc>) -> String {
    t.format("%d/%m/%Y à %H:%M UTC").to_string()
}

fn unit_id(id: EvidenceId) -> String {
    format!("AU-{id}")
}

/// XML 1.0 cannot carry most control characters, whatever the escaping: a file name
/// or a message that holds one loses it rather than make the manifest unreadable.
fn xml_safe(text: &str) -> String {
    text.chars().filter(|&c| matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && c != '\u{FFFE}' && c != '\u{FFFF}')).collect()
}

/// The manifest could not be written: a bug (elements that do not balance, a detail
/// that is not JSON), never the dossier's fault.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("writing the SEDA manifest: {0}")]
    Write(#[from] std::io::Error),
    #[error("the SEDA manifest's elements do not balance: {0}")]
    Unbalanced(String),
    #[error("writing an event's detail into the SEDA manifest: {0}")]
    Detail(#[from] serde_json::Error),
}

/// A little writer over quick-xml that keeps the element stack, so the manifest reads
/// as the tree it writes.
struct Xml {
    w: quick_xml::Writer<Vec<u8>>,
    open: Vec<&'static str>,
}

impl Xml {
    fn new() -> Result<Self, ManifestError> {
        let mut w = quick_xml::Writer::new_with_indent(Vec::new(), b' ', 2);
        w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
        Ok(Self { w, open: Vec::new() })
    }

    fn open(&mut self, name: &'static str, attrs: &[(&str, &str)]) -> Result<&mut Self, ManifestError> {
        let attrs: Vec<(&str, String)> = attrs.iter().map(|(k, v)| (*k, xml_safe(v))).collect();
        self.w.write_event(Event::Start(BytesStart::new(name).with_attributes(attrs.iter().map(|(k, v)| (*k, v.as_str())))))?;
        self.open.push(name);
        Ok(self)
    }

    fn close(&mut self) -> Result<&mut Self, ManifestError> {
        let name = self.open.pop().ok_or(ManifestError::Unbalanced("closing an element never opened".into()))?;
        self.w.write_event(Event::End(BytesEnd::new(name)))?;
        Ok(self)
    }

    fn leaf_with(&mut self, name: &'static str, attrs: &[(&str, &str)], text: &str) -> Result<&mut Self, ManifestError> {
        self.open(name, attrs)?;
        self.w.write_event(Event::Text(BytesText::new(&xml_safe(text))))?;
        self.close()
    }

    fn leaf(&mut self, name: &'static str, text: &str) -> Result<&mut Self, ManifestError> {
        self.leaf_with(name, &[], text)
    }

    fn text(&mut self, name: &'static str, text: &str) -> Result<&mut Self, ManifestError> {
        self.leaf_with(name, &[("xml:lang", "fr")], text)
    }

    fn finish(self) -> Result<Vec<u8>, ManifestError> {
        if !self.open.is_empty() {
            return Err(ManifestError::Unbalanced(format!("elements left open: {:?}", self.open)));
        }
        let mut bytes = self.w.into_inner();
        bytes.push(b'\n');
        Ok(bytes)
    }
}

struct Manifest<'a> {
    id: SubmissionId,
    records: &'a [EvidenceRecord],
    files: &'a HashMap<EvidenceId, Object>,
    history: &'a package::History,
    dossier_objects: &'a [(&'static str, Object)],
    seda: &'a SedaConfig,
    key: &'a VerifyingKey,
}

impl Manifest<'_> {
    fn write(&self) -> Result<Vec<u8>, ManifestError> {
        let first = &self.records[0];
        let finess = first.submission.establishment.as_str();
        let now = Utc::now();
        let mut x = Xml::new()?;
        x.open("ArchiveTransfer", &[("xmlns", NAMESPACE), ("xmlns:xlink", "http://www.w3.org/1999/xlink")])?;
        x.text(
            "Comment",
            &format!("Dossier CaRE {} de l'établissement FINESS {finess} (soumission {}), transféré par caregate.", first.submission.campaign, self.id),
        )?;
        x.text("Comment", &format!("{KEY_COMMENT}{}", hex::encode(self.key.as_bytes())))?;
        x.leaf("Date", &date_time(now))?;
        x.leaf("MessageIdentifier", &format!("caregate-{}-{}", self.id, now.format("%Y%m%dT%H%M%SZ")))?;
        if let Some(agreement) = &self.seda.archival_agreement {
            x.leaf("ArchivalAgreement", agreement)?;
        }
        x.open("CodeListVersions", &[])?
            .leaf("MessageDigestAlgorithmCodeListVersion", "DigestAlgorithmCodeListVersion0")?
            .leaf("MimeTypeCodeListVersion", "MimeTypeCodeListVersion0")?
            .leaf("AppraisalRuleCodeListVersion", RULES_VERSION)?
            .leaf("AccessRuleCodeListVersion", RULES_VERSION)?
            .close()?;
        x.open("DataObjectPackage", &[])?;
        let mut objects: Vec<&Object> = self.records.iter().filter_map(|r| self.files.get(&r.evidence_id)).collect();
        objects.extend(self.dossier_objects.iter().map(|(_, o)| o));
        for object in objects {
            self.data_object(&mut x, object)?;
        }
        x.open("DescriptiveMetadata", &[])?;
        self.dossier_unit(&mut x, finess)?;
        x.close()?;
        x.open("ManagementMetadata", &[])?
            .leaf("OriginatingAgencyIdentifier", finess)?
            .leaf("SubmissionAgencyIdentifier", &self.seda.transferring_agency)?
            .close()?;
        x.close()?; // DataObjectPackage
        x.open("ArchivalAgency", &[])?.leaf("Identifier", &self.seda.archival_agency)?.close()?;
        x.open("TransferringAgency", &[])?.leaf("Identifier", &self.seda.transferring_agency)?.close()?;
        x.close()?;
        x.finish()
    }

    fn data_object(&self, x: &mut Xml, o: &Object) -> Result<(), ManifestError> {
        x.open("DataObjectGroup", &[("id", &format!("GOT-{}", &o.id[4..]))])?;
        x.open("BinaryDataObject", &[("id", &o.id)])?;
        x.leaf("DataObjectVersion", "BinaryMaster_1")?;
        x.leaf("Uri", &o.uri)?;
        x.leaf_with("MessageDigest", &[("algorithm", "SHA-256")], &o.sha256.hex())?;
        if o.size > 0 {
            // SEDA sizes are positive integers: an empty file says nothing rather than 0.
            x.leaf("Size", &o.size.to_string())?;
        }
        x.open("FormatIdentification", &[])?.leaf("MimeType", &o.media_type)?.close()?;
        x.open("FileInfo", &[])?.leaf("Filename", &o.filename)?.close()?;
        x.close()?.close()?;
        Ok(())
    }

    fn dossier_unit(&self, x: &mut Xml, finess: &str) -> Result<(), ManifestError> {
        let first = &self.records[0];
        let received: Vec<DateTime<Utc>> = self.records.iter().map(|r| r.received_at).collect();
        let start = received.iter().min().copied().unwrap_or_else(Utc::now);
        let last = received.iter().max().copied().unwrap_or_else(Utc::now);
        let decided = self.history.decided.as_ref();
        let end = decided.map(|v| v.computed_at).into_iter().chain(self.history.decisions.iter().map(|d| d.decided_at)).chain([last]).max().unwrap_or(last);

        x.open("ArchiveUnit", &[("id", "AU-dossier")])?;
        x.open("Management", &[])?;
        // The appraisal period runs from the last piece received: no piece of the dossier
        // may leave before its own retention is over.
        x.open("AppraisalRule", &[])?
            .leaf("Rule", &self.seda.appraisal_rule)?
            .leaf("StartDate", &last.format("%Y-%m-%d").to_string())?
            .leaf("FinalAction", self.seda.final_action.code())?
            .close()?;
        x.open("AccessRule", &[])?.leaf("Rule", &self.seda.access_rule)?.leaf("StartDate", &end.format("%Y-%m-%d").to_string())?.close()?;
        x.close()?;
        x.open("Content", &[])?;
        x.leaf("DescriptionLevel", "RecordGrp")?;
        x.text("Title", &format!("Dossier CaRE {} — établissement FINESS {finess}", first.submission.campaign))?;
        x.leaf("OriginatingSystemId", &self.id.to_string())?;
        let summary = match decided {
            Some(v) => format!(
                "Vérification du {} (référentiel {}, version {}) : {}. {} pièce(s), {} objectif(s), {} décision(s) de contrôleur.",
                french_date(v.computed_at),
                v.referential_id,
                &v.referential_version[..v.referential_version.len().min(12)],
                v.verdict.label_fr(),
                self.records.len(),
                v.objectives.len(),
                self.history.decisions.len()
            ),
            None => format!("{} pièce(s) ; aucune vérification enregistrée.", self.records.len()),
        };
        x.text("Description", &summary)?;
        x.leaf("DocumentType", "Dossier de candidature CaRE")?;
        x.leaf("DescriptionLanguage", "fr")?;
        if let Some(v) = decided {
            x.leaf("Status", v.verdict.as_str())?;
        }
        for objective in &first.submission.objectives {
            x.leaf("Tag", objective)?;
        }
        x.open("OriginatingAgency", &[])?.leaf_with("Identifier", &[("schemeName", "FINESS")], finess)?.close()?;
        x.open("SubmissionAgency", &[])?.leaf("Identifier", &self.seda.transferring_agency)?.close()?;
        x.leaf("StartDate", &date_time(start))?;
        x.leaf("EndDate", &date_time(end))?;
        x.close()?; // Content

        if let Some(v) = decided {
            for objective in &v.objectives {
                self.objective_unit(x, objective)?;
            }
        }
        x.open("ArchiveUnit", &[("id", "AU-pieces")])?;
        x.open("Content", &[])?.leaf("DescriptionLevel", "SubGrp")?.text("Title", "Pièces justificatives")?.close()?;
        for rec in self.records.iter().filter(|r| r.parent.is_none()) {
            self.evidence_unit(x, rec)?;
        }
        x.close()?;
        x.open("ArchiveUnit", &[("id", "AU-verification")])?;
        x.open("Content", &[])?
            .leaf("DescriptionLevel", "SubGrp")?
            .text("Title", "Vérification, décisions et journal d'audit")?
            .text("Description", "Ce que la machine a conclu et quand, ce que les contrôleurs ont décidé, l'historique chaîné de chaque pièce et les règles de gestion citées par ce bordereau.")?
            .close()?;
        for (title, object) in self.dossier_objects {
            x.open("ArchiveUnit", &[("id", &format!("AU-{}", &object.id[4..]))])?;
            x.open("Content", &[])?.leaf("DescriptionLevel", "Item")?.text("Title", title)?.leaf("DescriptionLanguage", "fr")?.close()?;
            x.open("DataObjectReference", &[])?.leaf("DataObjectGroupReferenceId", &format!("GOT-{}", &object.id[4..]))?.close()?;
            x.close()?;
        }
        x.close()?;
        x.close()?; // dossier
        Ok(())
    }

    fn objective_unit(&self, x: &mut Xml, o: &ObjectiveVerdict) -> Result<(), ManifestError> {
        x.open("ArchiveUnit", &[("id", &format!("AU-objectif-{}", o.objective.replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "-")))])?;
        x.open("Content", &[])?;
        x.leaf("DescriptionLevel", "SubGrp")?;
        x.text("Title", &format!("Objectif {} — {}", o.objective, o.title))?;
        let mut text = format!("Verdict : {}{}.", o.verdict.label_fr(), if o.claimed { "" } else { " (objectif non revendiqué)" });
        for r in &o.reasons {
            text += &format!(" {} : {}", r.code.label(), r.message.trim_end_matches('.'));
            text.push('.');
        }
        x.text("Description", &text)?;
        x.leaf("DescriptionLanguage", "fr")?;
        x.leaf("Status", o.verdict.as_str())?;
        x.close()?;
        // The evidence the verdict rests on, described once under the pieces and referred
        // to here.
        let known: BTreeSet<EvidenceId> = self.records.iter().map(|r| r.evidence_id).collect();
        for id in o.evidence.iter().filter(|id| known.contains(id)) {
            x.open("ArchiveUnit", &[("id", &format!("AU-{}-{id}", o.objective.replace(|c: char| !c.is_ascii_alphanumeric(), "")))])?
                .leaf("ArchiveUnitRefId", &unit_id(*id))?
                .close()?;
        }
        x.close()?;
        Ok(())
    }

    fn evidence_unit(&self, x: &mut Xml, rec: &EvidenceRecord) -> Result<(), ManifestError> {
        x.open("ArchiveUnit", &[("id", &unit_id(rec.evidence_id))])?;
        x.open("Content", &[])?;
        x.leaf("DescriptionLevel", "Item")?;
        x.text("Title", file_name(&rec.path))?;
        x.leaf("OriginatingSystemId", &rec.evidence_id.to_string())?;
        x.text("Description", &describe(rec, self.files.contains_key(&rec.evidence_id)))?;
        if let Some(kind) = rec.kind {
            x.leaf("DocumentType", kind.label_fr())?;
        }
        x.leaf("DescriptionLanguage", "fr")?;
        x.leaf("Status", rec.status.as_str())?;
        for f in &rec.findings {
            x.leaf("Tag", f.code.as_str())?;
        }
        if let Some(who) = &rec.uploaded_by {
            x.open("Sender", &[])?.leaf("FullName", who)?.close()?;
        }
        x.leaf("ReceivedDate", &date_time(rec.received_at))?;
        for event in self.history.events.get(&rec.evidence_id.to_string()).into_iter().flatten() {
            x.open("Event", &[])?
                .leaf("EventIdentifier", &event.seq.to_string())?
                .leaf("EventTypeCode", &event.kind)?
                .leaf("EventType", &vocabulary::event_label(&event.kind))?
                .leaf("EventDateTime", &date_time(event.at))?;
            let detail = serde_json::to_string(&event.detail)?;
            if !detail.is_empty() && detail != "null" && detail != "{}" {
                x.leaf("EventDetailData", &detail)?;
            }
            x.close()?;
        }
        x.close()?; // Content
        for member in self.records.iter().filter(|r| r.parent == Some(rec.evidence_id)) {
            self.evidence_unit(x, member)?;
        }
        if let Some(object) = self.files.get(&rec.evidence_id) {
            x.open("DataObjectReference", &[])?.leaf("DataObjectGroupReferenceId", &format!("GOT-{}", &object.id[4..]))?.close()?;
        }
        x.close()?;
        Ok(())
    }
}

/// What an archivist reads about one piece: what it is, where it stands, what was
/// found in it.
fn describe(rec: &EvidenceRecord, packaged: bool) -> String {
    let mut text = format!("Pièce « {} » reçue le {}", rec.path, french_date(rec.received_at));
    if let Some(kind) = rec.kind {
        text += &format!(" ; nature : {}", kind.label_fr());
        if let Some(c) = rec.confidence {
            text += &format!(" (confiance {})", format!("{c:.2}").replace('.', ","));
        }
    }
    text += &format!(" ; statut : {} ; SHA-256 {} ; {} octets.", rec.status.label_fr(), rec.sha256, rec.size);
    for f in &rec.findings {
        text += &format!(" {} ({}) : {}", f.code.label(), f.severity.label_fr(), f.message.trim_end_matches('.'));
        text.push('.');
    }
    if rec.status == Status::Infected {
        let signature = rec.scan.as_ref().and_then(|s| s.signature.clone()).unwrap_or_default();
        text += &format!(" Fichier infecté ({signature}) : conservé en quarantaine, jamais transféré.");
    } else if !packaged {
        text += " Fichier non transféré : aucun objet archivé pour cette pièce.";
    }
    text
}

/// One thing wrong with a transfer, as an archivist reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransferProblem {
    /// `manifest.xml` is missing or is not a SEDA 2.3 `ArchiveTransfer`.
    NotATransfer(String),
    /// A `BinaryDataObject` whose `Uri` points outside the transfer or is missing.
    BadUri {
        object: String,
        uri: String,
    },
    /// A digest algorithm this check cannot recompute.
    UnsupportedDigest {
        object: String,
        algorithm: String,
    },
    Missing {
        uri: String,
    },
    Changed {
        uri: String,
        expected: String,
        actual: String,
    },
    SizeChanged {
        uri: String,
        expected: u64,
        actual: u64,
    },
    /// A file under `content/` that no object of the manifest describes.
    NotInManifest(String),
    NoSignature,
    BadSignature {
        key: String,
    },
    NoKey,
    /// The manifest does not validate against the SEDA 2.3 schemas.
    Schema(String),
}

impl fmt::Display for TransferProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransferProblem::NotATransfer(why) => write!(f, "{MANIFEST} n'est pas un bordereau de transfert SEDA 2.3 : {why}"),
            TransferProblem::BadUri { object, uri } => write!(f, "l'objet {object} désigne « {uri} », hors du transfert"),
            TransferProblem::UnsupportedDigest { object, algorithm } => {
                write!(f, "l'objet {object} a une empreinte {algorithm}, que cette vérification ne sait pas recalculer")
            }
            TransferProblem::Missing { uri } => write!(f, "{uri} est décrit par le bordereau mais absent"),
            TransferProblem::Changed { uri, expected, actual } => {
                write!(f, "{uri} a changé : le bordereau donne l'empreinte SHA-256 {expected}, le fichier a {actual}")
            }
            TransferProblem::SizeChanged { uri, expected, actual } => {
                write!(f, "{uri} a changé : le bordereau donne {expected} octets, le fichier en a {actual}")
            }
            TransferProblem::NotInManifest(p) => write!(f, "{p} est dans le transfert mais aucun objet du bordereau ne le décrit"),
            TransferProblem::NoSignature => write!(f, "{SIGNATURE} est absent ou n'est pas une signature Ed25519 en hexadécimal"),
            TransferProblem::BadSignature { key } => write!(f, "{MANIFEST} n'est pas ce que la clé {key} a signé (bordereau modifié après l'export)"),
            TransferProblem::NoKey => write!(f, "aucune clé publique pour vérifier la signature"),
            TransferProblem::Schema(why) => write!(f, "{MANIFEST} n'est pas conforme aux schémas SEDA 2.3 : {why}"),
        }
    }
}

/// A `BinaryDataObject` as read back from a manifest.
#[derive(Debug, Default)]
struct Described {
    id: String,
    uri: String,
    algorithm: String,
    digest: String,
    size: Option<u64>,
}

/// Reads the objects of a manifest and the key its comment names.
fn read_manifest(bytes: &[u8]) -> Result<(Vec<Described>, Option<String>), String> {
    let mut reader = quick_xml::NsReader::from_reader(bytes);
    let mut objects = Vec::new();
    let mut key = None;
    let mut current: Option<Described> = None;
    let mut path: Vec<String> = Vec::new();
    let mut buf = Vec::new();
    let mut root_seen = false;
    loop {
        let (ns, event) = reader.read_resolved_event_into(&mut buf).map_err(|e| e.to_string())?;
        let in_seda = matches!(ns, quick_xml::name::ResolveResult::Bound(n) if n.as_ref() == NAMESPACE);
        match event {
            Event::Start(e) => {
                let name = e.local_name().as_ref().to_owned();
                if !root_seen {
                    if name != "ArchiveTransfer" || !in_seda {
                        return Err(format!("the root is {name}, not ArchiveTransfer in {NAMESPACE}"));
                    }
                    root_seen = true;
                }
                if name == "BinaryDataObject" {
                    let id = e.try_get_attribute("id").ok().flatten().map(|a| a.value.into_owned()).unwrap_or_default();
                    current = Some(Described { id, ..Default::default() });
                }
                if name == "MessageDigest" {
                    if let Some(o) = current.as_mut() {
                        o.algorithm = e.try_get_attribute("algorithm").ok().flatten().map(|a| a.value.into_owned()).unwrap_or_default();
                    }
                }
                path.push(name);
            }
            Event::End(e) => {
                if e.local_name().as_ref() == "BinaryDataObject" {
                    objects.extend(current.take());
                }
                path.pop();
            }
            Event::Text(t) => {
                let text = t.xml10_content();
                let text = quick_xml::escape::unescape(&text).map_err(|e| e.to_string())?.trim().to_owned();
                match (path.last().map(String::as_str), current.as_mut()) {
                    (Some("Uri"), Some(o)) => o.uri = text,
                    (Some("MessageDigest"), Some(o)) => o.digest = text.to_lowercase(),
                    (Some("Size"), Some(o)) => o.size = text.parse().ok(),
                    (Some("Comment"), _) if path.len() == 2 => {
                        if let Some(k) = text.strip_prefix(KEY_COMMENT) {
                            key = Some(k.trim().to_owned());
                        }
                    }
                    _ => {}
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if !root_seen {
        return Err("no root element".into());
    }
    Ok((objects, key))
}

/// Checks a transfer offline: the manifest's signature, every object's file against its
/// digest and size, and `content/` against the manifest both ways. With `schemas`, the
/// manifest is also validated against the SEDA 2.3 schemas there ([`validate_schema`]).
pub fn check(dir: &Path, trusted: Option<&VerifyingKey>, schemas: Option<&Path>) -> (Vec<TransferProblem>, Option<KeyUsed>) {
    let mut problems = Vec::new();
    let Ok(manifest) = std::fs::read(dir.join(MANIFEST)) else {
        return (vec![TransferProblem::NotATransfer("absent".into())], None);
    };
    let (objects, named_key) = match read_manifest(&manifest) {
        Ok(read) => read,
        Err(why) => return (vec![TransferProblem::NotATransfer(why)], None),
    };
    if let Some(schemas) = schemas {
        if let Err(SchemaError::Invalid(why)) = validate_schema(&dir.join(MANIFEST), schemas) {
            problems.push(TransferProblem::Schema(why));
        }
    }
    let mut described = BTreeSet::new();
    for o in &objects {
        let Some(rel) = safe_relative(&o.uri) else {
            problems.push(TransferProblem::BadUri { object: o.id.clone(), uri: o.uri.clone() });
            continue;
        };
        described.insert(rel.clone());
        let file = dir.join(&rel);
        let Ok(meta) = std::fs::metadata(&file) else {
            problems.push(TransferProblem::Missing { uri: o.uri.clone() });
            continue;
        };
        if !o.algorithm.eq_ignore_ascii_case("SHA-256") {
            problems.push(TransferProblem::UnsupportedDigest { object: o.id.clone(), algorithm: o.algorithm.clone() });
        } else {
            match file_sha256(&file) {
                Ok(actual) if actual == o.digest => {}
                Ok(actual) => problems.push(TransferProblem::Changed { uri: o.uri.clone(), expected: o.digest.clone(), actual }),
                Err(_) => problems.push(TransferProblem::Missing { uri: o.uri.clone() }),
            }
        }
        if let Some(expected) = o.size.filter(|&s| s != meta.len()) {
            problems.push(TransferProblem::SizeChanged { uri: o.uri.clone(), expected, actual: meta.len() });
        }
    }
    problems.extend(files_under(dir, CONTENT).into_iter().filter(|(rel, _)| !described.contains(rel)).map(|(rel, _)| TransferProblem::NotInManifest(rel)));
    let (used, problem) = check_signature(trusted, named_key.as_deref(), &manifest, &dir.join(SIGNATURE));
    problems.extend(problem.map(|p| match p {
        SignatureProblem::NoKey => TransferProblem::NoKey,
        SignatureProblem::NoSignature => TransferProblem::NoSignature,
        SignatureProblem::BadSignature(key) => TransferProblem::BadSignature { key },
    }));
    (problems, used)
}

/// A `Uri` of the manifest as a path inside the transfer: relative, percent-decoded,
/// never climbing out.
fn safe_relative(uri: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(uri.len());
    let raw = uri.as_bytes();
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' {
            let hex = std::str::from_utf8(raw.get(i + 1..i + 3)?).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            bytes.push(raw[i]);
            i += 1;
        }
    }
    let path = String::from_utf8(bytes).ok()?;
    let bad = path.is_empty() || path.starts_with('/') || path.contains('\\') || path.contains(':') || path.split('/').any(|s| s == ".." || s.is_empty());
    (!bad).then_some(path)
}

/// Why a manifest could not be shown valid.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// The validator is not installed (Debian `libxml2-utils`) or the schemas are absent:
    /// nothing was checked.
    #[error("cannot validate: {0}")]
    Unavailable(String),
    #[error("{0}")]
    Invalid(String),
}

/// Where the SEDA 2.3 schemas are: `CAREGATE_SEDA_SCHEMAS`, else the reference copy
/// beside the repository (`../shared/reference/seda-2.3` from its root; this crate is one
/// level down). They are the archives'
/// official files and are never copied into caregate.
pub fn schemas_dir() -> PathBuf {
    std::env::var_os("CAREGATE_SEDA_SCHEMAS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/reference/seda-2.3"))
}

/// Validates a manifest against `seda-2.3-main.xsd` in `schemas` with xmllint — the
/// validator the archives themselves document — rather than a schema engine of our own.
pub fn validate_schema(manifest: &Path, schemas: &Path) -> Result<(), SchemaError> {
    let xsd = schemas.join("seda-2.3-main.xsd");
    if !xsd.is_file() {
        return Err(SchemaError::Unavailable(format!("{} is absent (set CAREGATE_SEDA_SCHEMAS)", xsd.display())));
    }
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--nonet")
        .arg("--schema")
        .arg(&xsd)
        .arg(manifest)
        .output()
        .map_err(|e| SchemaError::Unavailable(format!("xmllint: {e} (Debian package libxml2-utils)")))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        return Ok(());
    }
    // xmllint warns about the W3C schemas being imported twice; only errors matter.
    let errors: Vec<&str> = stderr.lines().filter(|l| !l.contains("Skipping import")).filter(|l| !l.trim().is_empty()).collect();
    Err(SchemaError::Invalid(errors.into_iter().take(10).collect::<Vec<_>>().join("; ")))
}
