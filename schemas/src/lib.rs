//! The vocabulary every caregate crate speaks: evidence, submissions, scan verdicts,
//! findings and the per-file record, plus the job message that travels on the queue.
//!
//! Every contract between crates is a type here, never a JSON key: the typed data the
//! readers extract and the judge reads ([`extracted`]), the audit events
//! ([`EventKind`]), the search keys ([`SearchKey`]), and the one French vocabulary for
//! every code and verdict a person reads ([`vocabulary`]).
//!
//! These types are the public contract of the pipeline: the per-file JSON record is
//! published as a JSON Schema (`schemas/evidence-record.schema.json`, generated from
//! these definitions and checked by a test), so changing a field here is an API change.

#![forbid(unsafe_code)]

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::Digest;
use utoipa::ToSchema;
use uuid::Uuid;

#[macro_use]
mod named;
mod access;
mod establishment;
pub mod extracted;
pub mod names;
mod review;
pub mod vocabulary;

pub use access::{departement_of_finess, is_finess, region_of_finess, Principal, Role, Scope, ScopeError, UnknownRole, REGIONS};
pub use establishment::{luhn, parse_siren, parse_siret, EstablishmentIdentifiers, IdentifierError, IdentifiersChange};
pub use extracted::{Content, Fields, Kind, UnknownKind};
pub use review::{Answer, Decision, DecisionKind, UnknownDecision, Withdrawal};
pub use vocabulary::{FindingCode, UnknownCode};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
        #[serde(transparent)]
        #[schema(value_type = String, format = Uuid)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh, time-ordered identifier (UUIDv7), so ids sort by creation.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

id_type!(
    /// One uploaded file, whatever its content; two uploads of the same bytes are two evidences.
    EvidenceId
);
impl EvidenceId {
    /// Where the file waits in quarantine until it is known to be clean.
    pub fn quarantine_key(&self) -> String {
        format!("quarantine/{}", self.0)
    }

    /// The evidence made of one member of this archive. Derived, not drawn: processing
    /// the archive again names its members the same, so a redelivery adds nothing.
    pub fn member(&self, member_path: &str) -> EvidenceId {
        EvidenceId(Uuid::new_v5(&self.0, member_path.as_bytes()))
    }

    /// The evidence made of a member whose name an earlier member of the same archive
    /// already bears (a zip may list one name twice): derived from the name and the
    /// member's place in the archive's directory, so both members are kept and a
    /// redelivery still names them the same. The first member of a name keeps
    /// [`Self::member`], the id archives expanded before this rule gave it.
    pub fn member_at(&self, member_path: &str, index: usize) -> EvidenceId {
        EvidenceId(Uuid::new_v5(&self.member(member_path).0, format!("#{index}").as_bytes()))
    }
}

id_type!(
    /// One establishment's dossier for one campaign.
    SubmissionId
);

/// A SHA-256 digest, shown and serialised as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, ToSchema)]
#[schema(value_type = String, pattern = "^[0-9a-f]{64}$")]
pub struct Sha256Digest(pub [u8; 32]);

impl Sha256Digest {
    pub fn of(bytes: &[u8]) -> Self {
        Self(sha2::Sha256::digest(bytes).into())
    }

    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The content-addressed key under which stored evidence lives: `sha256/ab/cd/<hash>`.
    /// Two levels of fan-out keep any one directory of the local back end small.
    pub fn object_key(&self) -> String {
        let h = self.hex();
        format!("sha256/{}/{}/{}", &h[0..2], &h[2..4], h)
    }
}

impl From<sha2::Sha256> for Sha256Digest {
    fn from(h: sha2::Sha256) -> Self {
        Self(h.finalize().into())
    }
}

impl fmt::Debug for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha256({})", self.hex())
    }
}

impl fmt::Display for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("not a SHA-256 hex digest: {0:?}")]
pub struct BadDigest(String);

impl FromStr for Sha256Digest {
    type Err = BadDigest;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).map_err(|_| BadDigest(s.to_owned()))?;
        Ok(Self(out))
    }
}

impl Serialize for Sha256Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.hex())
    }
}

impl<'de> Deserialize<'de> for Sha256Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Where a file stands. `received` is the only non-terminal state: every job ends in one of
/// the four others, so nothing waits forever in between.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// In quarantine, waiting for (or going through) the pipeline.
    Received,
    /// Clean, verified and in the evidence store.
    Stored,
    /// The scanner found a signature; the file stays in quarantine and is never parsed.
    Infected,
    /// A person must look: incomplete scan, type mismatch, unreadable content...
    NeedsReview,
    /// Gave up after retries, or the bytes did not match their upload hash.
    Failed,
}

named_enum!(Status, UnknownStatus, "status", {
    Received => "received",
    Stored => "stored",
    Infected => "infected",
    NeedsReview => "needs_review",
    Failed => "failed",
});

impl Status {
    pub fn is_terminal(self) -> bool {
        self != Status::Received
    }

    /// The status of a clean file once read: any finding of warning or worse sends it to
    /// a person.
    pub fn for_findings(findings: &[Finding]) -> Status {
        if findings.iter().any(|f| f.severity >= Severity::Warning) {
            Status::NeedsReview
        } else {
            Status::Stored
        }
    }
}

/// The three answers a scan can give. "Not fully scanned" is its own answer: a file the
/// engine skipped (size or time limits) is neither clean nor infected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScanResult {
    Clean,
    Infected,
    Incomplete,
}

/// What the virus scanner said about one file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ScanReport {
    /// Engine and signature database, e.g. `ClamAV 1.4.3/27000/...`, so a file can be
    /// rescanned when the signatures change.
    pub engine: String,
    pub result: ScanResult,
    /// The signature name (infected) or the limit that was hit (incomplete).
    pub signature: Option<String>,
    pub scanned_at: DateTime<Utc>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Error,
    Critical,
}

/// One observation about a file, with a stable machine code (`type_mismatch`,
/// `scan_incomplete`...) that controllers filter on and later rules match.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Finding {
    pub code: FindingCode,
    pub severity: Severity,
    pub message: String,
    /// What decided it, inside the file: a field of the extracted data (`total_ttc`,
    /// `hosts.0.open_ports.1`), a page, a cell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
}

impl Finding {
    pub fn new(code: FindingCode, severity: Severity, message: impl Into<String>) -> Self {
        Self { code, severity, message: message.into(), pointer: None }
    }

    /// The same finding, pointing at what decided it.
    pub fn at(mut self, pointer: impl Into<String>) -> Self {
        self.pointer = Some(pointer.into());
        self
    }
}

/// Who sent a file, for which dossier and which objectives it claims to prove.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SubmissionRef {
    pub submission_id: SubmissionId,
    /// FINESS number of the establishment (9 characters).
    pub establishment: String,
    /// e.g. `care-d1-2024`.
    pub campaign: String,
    /// Objective ids the uploader tagged the file with (e.g. `D1.AD.AUDIT`).
    pub objectives: Vec<String>,
    /// Funding category of the establishment (`ght`, `public`, `ebnl`, `private`), which
    /// sets its ceiling; when unknown the ceiling check goes to a controller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
}

/// The per-file record: what the pipeline knows about one piece of evidence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EvidenceRecord {
    pub evidence_id: EvidenceId,
    #[serde(flatten)]
    pub submission: SubmissionRef,
    /// The file name as uploaded (sanitised; relative path inside a submitted folder).
    pub path: String,
    pub status: Status,
    /// Digest of the bytes as received at upload.
    pub sha256: Sha256Digest,
    pub size: u64,
    /// Detected media type (magic bytes, then extension, then XML root).
    pub media_type: Option<String>,
    pub scan: Option<ScanReport>,
    /// Kind of evidence (`invoice`, `ad_audit_report`...), filled by classification.
    pub kind: Option<Kind>,
    /// How sure the classification is (0 to 1); below 0.5 the file goes to review.
    #[serde(default)]
    pub confidence: Option<f32>,
    /// What decided the kind: the structure recognised or the text features matched.
    #[serde(default)]
    pub kind_reasons: Vec<String>,
    /// Who sent it ([`Principal::actor`]), when it came through the authenticated API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uploaded_by: Option<String>,
    /// The archive this file was taken from, when it is a member of a submitted zip.
    #[serde(default)]
    pub parent: Option<EvidenceId>,
    /// Typed data extracted for the kind.
    #[serde(default)]
    pub fields: Fields,
    pub findings: Vec<Finding>,
    /// Key in the evidence store once stored (content-addressed).
    pub object_key: Option<String>,
    /// Key in quarantine while the file is there.
    pub quarantine_key: Option<String>,
    /// The stored object may not be deleted before this date (accounting documents and
    /// their proofs are kept 10 years, Code de commerce L123-22). Set when it is stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retain_until: Option<DateTime<Utc>>,
    /// Processing attempts made so far (retries after transient failures).
    pub attempts: u32,
    pub received_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl EvidenceRecord {
    /// A freshly received file, before any stage has looked at it.
    pub fn received(evidence_id: EvidenceId, submission: SubmissionRef, path: String, sha256: Sha256Digest, size: u64, quarantine_key: String) -> Self {
        let now = Utc::now();
        Self {
            evidence_id,
            submission,
            path,
            status: Status::Received,
            sha256,
            size,
            media_type: None,
            scan: None,
            kind: None,
            confidence: None,
            kind_reasons: Vec::new(),
            uploaded_by: None,
            parent: None,
            fields: Fields::default(),
            findings: Vec::new(),
            object_key: None,
            quarantine_key: Some(quarantine_key),
            retain_until: None,
            attempts: 0,
            received_at: now,
            updated_at: now,
        }
    }
}

impl EvidenceRecord {
    /// Its pages wait for OCR: what it says is not known yet.
    pub fn awaiting_ocr(&self) -> bool {
        self.findings.iter().any(|f| f.code == FindingCode::OcrPending)
    }

    /// The key under which the same invoice is found again whatever its file: the
    /// seller's SIREN and the invoice number (letters and digits only, upper case).
    pub fn invoice_key(&self) -> Option<String> {
        if !self.is_invoice() {
            return None;
        }
        let invoice = self.fields.invoice()?;
        let siren = invoice.seller_siren()?;
        let number = invoice_number_key(invoice.number.as_deref()?);
        (!number.is_empty()).then(|| SearchKey::Invoice { siren: siren.to_owned(), number }.to_string())
    }

    /// Every key archivists find this record by (besides its columns): seller SIREN and
    /// SIRET, invoice number, the objectives it was tagged with, its kind, and
    /// [`Self::invoice_key`]. Written once, when the record is finished.
    pub fn search_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.submission.objectives.iter().map(|o| SearchKey::Objective(o.clone()).to_string()).collect();
        if let Some(kind) = self.kind {
            keys.push(SearchKey::Kind(kind.as_str().to_owned()).to_string());
        }
        if let Some(invoice) = self.fields.invoice() {
            let given = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
            keys.extend(given(&invoice.seller_siren).map(|s| SearchKey::Siren(s).to_string()));
            if let Some(siret) = given(&invoice.seller_siret) {
                keys.extend(siret.get(..9).map(|s| SearchKey::Siren(s.to_owned()).to_string()));
                keys.push(SearchKey::Siret(siret).to_string());
            }
            if let Some(number) = invoice.number.as_deref().map(invoice_number_key).filter(|n| !n.is_empty()) {
                keys.push(SearchKey::InvoiceNumber(number).to_string());
            }
        }
        keys.extend(self.invoice_key());
        keys.sort();
        keys.dedup();
        keys
    }

    /// The date before which the stored bytes may not be deleted: `retain_until`, or for
    /// records stored before it was recorded, the legal period from receipt.
    pub fn retained_until(&self) -> DateTime<Utc> {
        self.retain_until.unwrap_or(self.received_at + chrono::Duration::days(LEGAL_RETENTION_DAYS.into()))
    }

    /// An invoice or a credit note: what a claim of costs is made of.
    pub fn is_invoice(&self) -> bool {
        self.kind.is_some_and(Kind::is_invoice)
    }
}

/// One key archivists find records by, written as the index stores it
/// (`siren:732829320`): the records' side ([`EvidenceRecord::search_keys`]) and the
/// searchers' side (the API's query) spell it through this one type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SearchKey {
    Objective(String),
    Kind(String),
    Siren(String),
    Siret(String),
    /// As [`invoice_number_key`] normalises it.
    InvoiceNumber(String),
    /// The same invoice whatever its file: seller SIREN and normalised number.
    Invoice {
        siren: String,
        number: String,
    },
}

impl fmt::Display for SearchKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SearchKey::Objective(o) => write!(f, "objective:{o}"),
            SearchKey::Kind(k) => write!(f, "kind:{k}"),
            SearchKey::Siren(s) => write!(f, "siren:{s}"),
            SearchKey::Siret(s) => write!(f, "siret:{s}"),
            SearchKey::InvoiceNumber(n) => write!(f, "invoice_number:{n}"),
            SearchKey::Invoice { siren, number } => write!(f, "invoice:{siren}:{number}"),
        }
    }
}

/// Accounting documents and their proofs are kept 10 years (Code de commerce L123-22).
pub const LEGAL_RETENTION_DAYS: u32 = 3653;

/// An invoice number as compared everywhere: letters and digits only, upper case
/// (`FA 2024/0042` = `fa-2024-0042`).
pub fn invoice_number_key(number: &str) -> String {
    number.chars().filter(char::is_ascii_alphanumeric).collect::<String>().to_ascii_uppercase()
}

/// The `evidence.received` message: a claim check pointing at the quarantined object,
/// never the bytes themselves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceReceived {
    pub evidence_id: EvidenceId,
    pub quarantine_key: String,
    pub sha256: Sha256Digest,
    pub size: u64,
    pub path: String,
}

impl EvidenceRecord {
    /// The job that processes this record (its bytes wait under its quarantine key).
    pub fn job(&self) -> EvidenceReceived {
        EvidenceReceived::of(self.evidence_id, self.sha256, self.size, self.path.clone())
    }
}

impl EvidenceReceived {
    /// The job of a file quarantined under its id's key. Every job is built here.
    pub fn of(evidence_id: EvidenceId, sha256: Sha256Digest, size: u64, path: String) -> Self {
        Self { evidence_id, quarantine_key: evidence_id.quarantine_key(), sha256, size, path }
    }
}

/// The routing key of [`EvidenceReceived`].
pub const EVIDENCE_RECEIVED: &str = "evidence.received";

/// What an event of the history says happened. Every event caregate writes is one of
/// these; the name is what the `kind` column and [`EvidenceEvent::kind`] hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// Uploaded and quarantined.
    Received,
    /// A processing attempt failed in passing; another follows.
    Retry,
    /// Processing ended with this status (stored, infected, needs review, failed).
    Finished(Status),
    /// A file's bytes were handed out (download, presigned URL, export).
    FileRead,
    /// A file's extracted text was read.
    TextRead,
    /// A stored file was read back and did not match its record (or was gone): during
    /// a retrieval, a fixity check or an export.
    FixityFailed,
    /// A deletion before the end of retention, refused.
    DeletionRefused,
    /// The stored bytes were let go of, once retention was over.
    Deleted,
    /// A controller's decision on a submission's objective.
    Decision,
    /// A kept file scanned again with newer signatures, and still clean.
    Rescanned,
    /// A kept file found infected when scanned again: moved back to quarantine.
    InfectedOnRescan,
    /// A kept file's PDF signatures validated again, with the trust anchors of the day.
    SignaturesValidated,
    /// A scan's pages read by OCR, after the file was stored (OCR has its own pool), and
    /// the file's kind, fields and findings written from that text.
    OcrRead,
    /// The establishment answered a controller's request for information (under the
    /// submission's id).
    InformationAnswered,
    /// The establishment took the file out of its dossier (replaced or withdrawn): no
    /// longer judged, still kept until its retention is over.
    Withdrawn,
    /// A controller took a dossier to decide it (the console's « je prends »).
    Assigned,
    /// A controller let go of a dossier they held.
    Released,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Received => "received",
            EventKind::Retry => "retry",
            EventKind::Finished(status) => status.as_str(),
            EventKind::FileRead => "file_read",
            EventKind::TextRead => "text_read",
            EventKind::FixityFailed => "fixity_failed",
            EventKind::DeletionRefused => "deletion_refused",
            EventKind::Deleted => "deleted",
            EventKind::Decision => "decision",
            EventKind::Rescanned => "rescanned",
            EventKind::InfectedOnRescan => "infected_on_rescan",
            EventKind::SignaturesValidated => "signatures_validated",
            EventKind::OcrRead => "ocr_read",
            EventKind::InformationAnswered => "information_answered",
            EventKind::Withdrawn => "withdrawn",
            EventKind::Assigned => "assigned",
            EventKind::Released => "released",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One line of the append-only history of an evidence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EvidenceEvent {
    pub seq: i64,
    pub evidence_id: EvidenceId,
    /// The [`EventKind`]'s name (`received`, `retry`, `stored`, `file_read`...). Kept as
    /// text: a history written years ago may name kinds this version no longer writes.
    pub kind: String,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    pub at: DateTime<Utc>,
}

/// What the verification concludes about one objective, from worst to best as the
/// ordering goes: a definite failure outweighs a doubt, which outweighs success.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Met,
    /// A person must decide (the case goes to the controllers' queue).
    NeedsReview,
    NotMet,
}

named_enum!(Verdict, UnknownVerdict, "verdict", {
    Met => "met",
    NeedsReview => "needs_review",
    NotMet => "not_met",
});

/// One reason behind an objective's verdict: what it says about the verdict, why, and
/// which evidence (and where in it) decided it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Reason {
    /// Stable code (`evidence_missing`, `ad_level_below_target`, `exposure_fixed`...).
    pub code: FindingCode,
    /// What this reason alone would make of the objective.
    pub verdict: Verdict,
    /// In French, for establishments and controllers.
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence_id: Option<EvidenceId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ObjectiveVerdict {
    pub objective: String,
    pub title: String,
    pub verdict: Verdict,
    /// Some file of the submission was tagged with this objective.
    pub claimed: bool,
    /// The evidence the objective was judged on.
    pub evidence: Vec<EvidenceId>,
    pub reasons: Vec<Reason>,
}

/// The checks of one evidence, as this verification saw it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EvidenceCheck {
    pub evidence_id: EvidenceId,
    pub path: String,
    pub kind: Option<Kind>,
    pub status: Status,
    pub findings: Vec<Finding>,
}

/// A submission judged against one referential: a verdict per objective with its
/// reasons, recomputed from the stored records (never from the files).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Verification {
    pub submission_id: SubmissionId,
    pub establishment: String,
    pub campaign: String,
    pub referential_id: String,
    /// SHA-256 of the referential file that judged it.
    pub referential_version: String,
    /// The latest change among the records judged (RFC 3339): a verification made from
    /// an older view of the submission never replaces one made from a newer.
    pub basis: String,
    pub computed_at: DateTime<Utc>,
    /// Files not processed yet, or whose scanned pages wait for OCR: while any is, the
    /// verdicts are provisional.
    pub pending: usize,
    /// The worst objective verdict.
    pub verdict: Verdict,
    pub objectives: Vec<ObjectiveVerdict>,
    pub evidence: Vec<EvidenceCheck>,
}

impl Verification {
    pub fn is_final(&self) -> bool {
        self.pending == 0
    }

    /// A digest of what the verification concludes (referential, pending files,
    /// verdicts, reasons, per-evidence findings), not of when it was computed: two
    /// verifications with the same digest say the same.
    pub fn conclusions_digest(&self) -> String {
        let said = serde_json::json!([self.referential_version, self.pending, self.objectives, self.evidence]);
        Sha256Digest::of(said.to_string().as_bytes()).hex()
    }
}

/// Published when a submission's final verification changes; the body is the
/// [`Verification`].
pub const SUBMISSION_VERIFIED: &str = "submission.verified";
/// Published beside [`SUBMISSION_VERIFIED`] when some objective needs a controller.
pub const SUBMISSION_NEEDS_REVIEW: &str = "submission.needs_review";

/// JSON Schema (2020-12) of [`EvidenceRecord`], as committed in `schemas/`.
pub fn evidence_record_json_schema() -> serde_json::Value {
    json_schema_of::<EvidenceRecord>("evidence-record")
}

/// JSON Schema (2020-12) of [`Verification`] (the body of `submission.verified`), as
/// committed in `schemas/`.
pub fn verification_json_schema() -> serde_json::Value {
    json_schema_of::<Verification>("verification")
}

fn json_schema_of<T: utoipa::ToSchema>(file: &str) -> serde_json::Value {
    use utoipa::openapi::schema::Schema;
    use utoipa::openapi::{Components, RefOr};

    let mut schemas: Vec<(String, RefOr<Schema>)> = Vec::new();
    T::schemas(&mut schemas);
    let components: Components = utoipa::openapi::ComponentsBuilder::new().schemas_from_iter(schemas).build();
    let mut defs = serde_json::to_value(&components.schemas).expect("schema serialises");
    rewrite_refs(&mut defs);
    let mut root = serde_json::to_value(T::schema()).expect("schema serialises");
    rewrite_refs(&mut root);
    let obj = root.as_object_mut().expect("schema is an object");
    obj.insert("$schema".into(), "https://json-schema.org/draft/2020-12/schema".into());
    obj.insert("$id".into(), format!("https://caregate.example/schemas/{file}.schema.json").into());
    obj.insert("title".into(), T::name().into_owned().into());
    obj.insert("$defs".into(), defs);
    root
}

/// OpenAPI points at `#/components/schemas/X`; a stand-alone JSON Schema at `#/$defs/X`.
fn rewrite_refs(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, val) in map.iter_mut() {
                if k == "$ref" {
                    if let Some(s) = val.as_str() {
                        *val = s.replace("#/components/schemas/", "#/$defs/").into();
                    }
                } else {
                    rewrite_refs(val);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(rewrite_refs),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_round_trips_and_keys_fan_out() {
        let d = Sha256Digest::of(b"abc");
        assert_eq!(d.hex(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(d.hex().parse::<Sha256Digest>().unwrap(), d);
        assert!(d.object_key().starts_with("sha256/ba/78/ba7816"));
        assert!("xyz".parse::<Sha256Digest>().is_err());
    }

    #[test]
    fn same_named_members_get_distinct_ids_that_do_not_change() {
        let archive = EvidenceId(Uuid::parse_str("0190a3c2-7d4e-7f00-8000-000000000001").unwrap());
        let (first, again) = (archive.member("a.txt"), archive.member_at("a.txt", 3));
        assert_ne!(first, again, "a second member of the same name is its own evidence");
        assert_ne!(archive.member_at("a.txt", 3), archive.member_at("a.txt", 4));
        assert_eq!(archive.member_at("a.txt", 3), again, "derived, so a redelivery names it the same");
        // The first member keeps the id archives expanded before this rule gave it.
        assert_eq!(first, EvidenceId(Uuid::new_v5(&archive.0, b"a.txt")));
    }

    #[test]
    fn status_names_are_stable() {
        for st in Status::ALL {
            assert_eq!(st.as_str().parse::<Status>().unwrap(), st);
            assert_eq!(serde_json::to_value(st).unwrap(), st.as_str());
        }
        assert!(!Status::Received.is_terminal());
        assert!(Status::Infected.is_terminal());
    }

    /// The committed JSON Schemas must be what the types say; regenerate with
    /// `cargo run -- schema > schemas/evidence-record.schema.json` and
    /// `cargo run -- schema --verification > schemas/verification.schema.json`.
    #[test]
    fn committed_json_schemas_match_types() {
        let committed: serde_json::Value = serde_json::from_str(include_str!("../evidence-record.schema.json")).expect("committed schema is JSON");
        assert_eq!(committed, evidence_record_json_schema());
        let committed: serde_json::Value = serde_json::from_str(include_str!("../verification.schema.json")).expect("committed schema is JSON");
        assert_eq!(committed, verification_json_schema());
    }
}
