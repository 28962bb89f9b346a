//! What reading a file extracted, as typed data: the contract between the readers
//! (`caregate-extract`, which fills it) and the judge (`caregate-verify`, which reads it).
//! A field renamed here is renamed for both, and the compiler finds every reader.
//!
//! In JSON a record's `fields` stays flat, as archivists and API clients know it: the
//! content's own keys (`total_ttc`, `hosts`, `integrity`...) beside the common ones
//! (`format`, `document`, `member_evidence`...), with `content` naming which content it
//! is (`invoice`, `scan`...).

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::EvidenceId;

/// Kind of evidence, as the classifier decides it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    AdAuditReport,
    ExposureScan,
    VulnerabilityScan,
    Invoice,
    CreditNote,
    Quote,
    PurchaseOrder,
    FinancialReport,
    Attestation,
    /// What comes with the proofs but proves nothing (issue #24): the letter that sends
    /// them, a network diagram, a slide deck, a contract. No objective accepts them.
    CoverLetter,
    Diagram,
    SlideDeck,
    Contract,
    Other,
}

named_enum!(Kind, UnknownKind, "kind of evidence", {
    AdAuditReport => "ad_audit_report",
    ExposureScan => "exposure_scan",
    VulnerabilityScan => "vulnerability_scan",
    Invoice => "invoice",
    CreditNote => "credit_note",
    Quote => "quote",
    PurchaseOrder => "purchase_order",
    FinancialReport => "financial_report",
    Attestation => "attestation",
    CoverLetter => "cover_letter",
    Diagram => "diagram",
    SlideDeck => "slide_deck",
    Contract => "contract",
    Other => "other",
});

impl Kind {
    pub fn parse(s: &str) -> Option<Kind> {
        s.parse().ok()
    }

    /// An invoice or a credit note: what a claim of costs is made of.
    pub fn is_invoice(self) -> bool {
        matches!(self, Kind::Invoice | Kind::CreditNote)
    }

    /// What comes with the proofs and proves nothing by itself (a quote, an order, a
    /// cover letter, a diagram, slides, a contract): no objective may accept it.
    pub fn proves_nothing(self) -> bool {
        matches!(self, Kind::Quote | Kind::PurchaseOrder | Kind::CoverLetter | Kind::Diagram | Kind::SlideDeck | Kind::Contract)
    }

    /// Documents whose fields are an [`Invoice`]'s (read from a CII/UBL file, a Factur-X
    /// PDF, or French patterns in their text).
    pub fn is_commercial_document(self) -> bool {
        matches!(self, Kind::Invoice | Kind::CreditNote | Kind::Quote | Kind::PurchaseOrder)
    }
}

/// Where an invoice's fields were read from, most trustworthy first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceSource {
    /// The CII XML embedded in a Factur-X / ZUGFeRD PDF.
    Facturx,
    Cii,
    Ubl,
    /// French field patterns in the document's text.
    Text,
    /// The same patterns in the text OCR recognised on a scan or a photo: a figure may
    /// be misread (6 000,00 read 6), so arithmetic it breaks is checked by a person.
    Ocr,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Invoice {
    pub number: Option<String>,
    /// UNTDID 1001 document type: 380 invoice, 381 credit note, 384 corrected invoice...
    pub type_code: Option<String>,
    pub issue_date: Option<NaiveDate>,
    pub seller_name: Option<String>,
    pub seller_siret: Option<String>,
    pub seller_siren: Option<String>,
    /// The seller's other identifiers (a foreign registration, a GLN...), with their
    /// scheme (ISO 6523 ICD, e.g. `0088` for a GLN): never judged as a SIREN or SIRET.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seller_legal_ids: Vec<LegalId>,
    pub vat_id: Option<String>,
    #[schema(value_type = Option<String>)]
    pub total_ht: Option<Decimal>,
    #[schema(value_type = Option<String>)]
    pub total_tva: Option<Decimal>,
    #[schema(value_type = Option<String>)]
    pub total_ttc: Option<Decimal>,
    pub currency: Option<String>,
    /// Factur-X profile (minimum, basicwl, basic, en16931, extended).
    pub profile: Option<String>,
    pub source: InvoiceSource,
    /// Where each field was read (by field name): a box on a page, or an XML element,
    /// so that a verdict can point at it.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub locations: std::collections::BTreeMap<String, Location>,
    /// How well the page's own evidence supports each field read from a page's text (by
    /// field name, as in `locations`; 0 to 1): its label, the arithmetic of the totals,
    /// the identifiers' check keys. Empty for a structured invoice (CII, UBL, Factur-X's
    /// XML), whose fields are stated, not read. A controller sees it beside the value.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub confidence: std::collections::BTreeMap<String, f32>,
}

impl Invoice {
    /// An invoice of which nothing is known yet, read from `source`.
    pub fn empty(source: InvoiceSource) -> Self {
        Invoice {
            number: None,
            type_code: None,
            issue_date: None,
            seller_name: None,
            seller_siret: None,
            seller_siren: None,
            seller_legal_ids: Vec::new(),
            vat_id: None,
            total_ht: None,
            total_tva: None,
            total_ttc: None,
            currency: None,
            profile: None,
            source,
            locations: Default::default(),
            confidence: Default::default(),
        }
    }
}

/// Where a value was read in its file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "in", rename_all = "snake_case")]
pub enum Location {
    /// A box on a page: 1-based page, PDF points from the page's top-left corner.
    Page { page: u32, x0: i32, y0: i32, x1: i32, y1: i32 },
    /// An XML element, by the local names from the root.
    Xml { path: String },
}

/// An identifier and the scheme it belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LegalId {
    pub id: String,
    pub scheme: Option<String>,
}

impl Invoice {
    /// The seller's SIREN: stated, or the first nine digits of its SIRET.
    pub fn seller_siren(&self) -> Option<&str> {
        fn given(s: &Option<String>) -> Option<&str> {
            s.as_deref().filter(|s| !s.is_empty())
        }
        given(&self.seller_siren).or_else(|| given(&self.seller_siret).and_then(|s| s.get(..9)))
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Scores {
    pub global: Option<u32>,
    pub stale_objects: Option<u32>,
    pub privileged_group: Option<u32>,
    pub trust: Option<u32>,
    pub anomaly: Option<u32>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RiskRule {
    pub risk_id: String,
    pub category: Option<String>,
    pub model: Option<String>,
    pub points: Option<u32>,
    pub rationale: Option<String>,
}

/// Whether a PingCastle report's `IntegrityRules` matches its own rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Integrity {
    Valid,
    Invalid,
    Absent,
}

/// The `tool` of an AD audit read from a report's prose (a PDF from an auditor): its
/// level is the auditor's word, not computed from rules.
pub const AD_REPORT_TOOL: &str = "rapport PDF";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AdAudit {
    pub tool: String,
    pub tool_version: Option<String>,
    pub domain: Option<String>,
    pub netbios_name: Option<String>,
    pub forest: Option<String>,
    /// Generation date as the report states it (ISO 8601).
    pub date: Option<String>,
    pub scores: Scores,
    pub maturity_level: Option<u32>,
    /// ANSSI level (ORADAD results); PingCastle states a maturity level only.
    pub anssi_level: Option<u32>,
    pub rules: Vec<RiskRule>,
    pub integrity: Integrity,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OpenPort {
    pub port: u32,
    pub protocol: String,
    pub service: Option<String>,
    pub product: Option<String>,
    pub version: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Host {
    pub address: String,
    pub hostnames: Vec<String>,
    pub open_ports: Vec<OpenPort>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BySeverity {
    pub critical: u32,
    pub high: u32,
    pub medium: u32,
    pub low: u32,
    pub info: u32,
}

impl BySeverity {
    /// Counts one finding by its severity on the 0–4 scale Nessus uses.
    pub fn add_level(&mut self, level: u8) {
        match level {
            4.. => self.critical += 1,
            3 => self.high += 1,
            2 => self.medium += 1,
            1 => self.low += 1,
            0 => self.info += 1,
        }
    }

    /// Counts one finding by its CVSS score (CVSS v3 bands).
    pub fn add_cvss(&mut self, score: f64) {
        self.add_level(match score {
            s if s >= 9.0 => 4,
            s if s >= 7.0 => 3,
            s if s >= 4.0 => 2,
            s if s > 0.0 => 1,
            _ => 0,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Vulnerability {
    pub host: String,
    pub port: Option<String>,
    /// Plugin id (Nessus) or NVT OID (OpenVAS).
    pub id: String,
    pub name: String,
    /// 0 info … 4 critical.
    pub severity: u8,
    pub cvss: Option<f64>,
    pub cves: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Scan {
    pub tool: String,
    pub tool_version: Option<String>,
    pub started: Option<String>,
    pub finished: Option<String>,
    /// nmap: `runstats/finished/@exit` was `success`.
    pub completed: Option<bool>,
    pub hosts: Vec<Host>,
    pub host_count: usize,
    /// Counts by severity: present for vulnerability scanners, absent for port scans.
    pub vulnerabilities: Option<BySeverity>,
    /// Findings of severity low and above (capped; the counts above are complete).
    pub items: Vec<Vulnerability>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ExpenseRow {
    /// Row of the sheet (or line of the CSV file) it was read from, counted from 1.
    pub line: Option<u32>,
    pub number: Option<String>,
    pub date: Option<NaiveDate>,
    pub supplier: Option<String>,
    pub siret: Option<String>,
    #[schema(value_type = Option<String>)]
    pub ht: Option<Decimal>,
    #[schema(value_type = Option<String>)]
    pub tva: Option<Decimal>,
    #[schema(value_type = Option<String>)]
    pub ttc: Option<Decimal>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Totals {
    #[schema(value_type = Option<String>)]
    pub ht: Option<Decimal>,
    #[schema(value_type = Option<String>)]
    pub tva: Option<Decimal>,
    #[schema(value_type = Option<String>)]
    pub ttc: Option<Decimal>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FinancialReport {
    pub sheet: Option<String>,
    pub columns: Vec<String>,
    pub rows: Vec<ExpenseRow>,
    pub row_count: usize,
    pub totals: Totals,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Attestation {
    pub signed: bool,
    pub date: Option<NaiveDate>,
    /// The first sentences of the text.
    pub summary: String,
}

/// An archive read as evidence whose content is encrypted to someone else by design
/// (ORADAD's `.mla`, encrypted to ANSSI): its header in clear, name, size and hash are
/// all that is known.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OpaqueArchive {
    pub tool: String,
    pub encrypted_to: String,
    /// What the MLA header says. Absent in records made before caregate read it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mla: Option<MlaHeader>,
    /// What ORADAD's file name says, when it has ORADAD's shape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_hint: Option<OradadNameHint>,
}

/// An MLA archive's header (ANSSI-FR/MLA), read without the key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MlaHeader {
    /// 1 (MLA 1.x, what ORADAD writes) or 2 (MLA 2.x).
    pub format_version: u32,
    /// The layers the header shows, outermost first (`signature`, `encryption`,
    /// `compression`); under a v2 archive's encryption nothing more is visible.
    pub layers: Vec<String>,
    /// How many keys the content key is wrapped for when encrypted: 1 is ANSSI's alone,
    /// more are ORADAD's `additionalMLAKeys`. Whose keys cannot be read.
    pub recipients: Option<u64>,
}

/// ORADAD's file name, `<rootDNS>_<YYYYMMDD-HHMMSS>.mla`: a hint, not proof, since
/// ORADAD's `-name` replaces the time and anyone can rename a file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OradadNameHint {
    pub forest: String,
    /// The run's time, UTC (ISO 8601).
    pub generated_at: Option<String>,
    /// What stands in place of the time when it is not one (`-name`).
    pub label: Option<String>,
}

/// The data of one file, typed by what it turned out to be.
///
/// (De)serialised by serde's derived code (`remote = "Self"`) behind the trait impls
/// below, which add one thing: fields written before `content` named the content are
/// read by the keys only that content has.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(remote = "Self", tag = "content", rename_all = "snake_case")]
pub enum Content {
    /// Nothing beyond the common fields (unread, other, an archive...).
    #[default]
    None,
    /// An invoice, credit note, quote or purchase order.
    Invoice(Invoice),
    AdAudit(AdAudit),
    /// A port scan (nmap) or a vulnerability scan (Nessus, OpenVAS).
    Scan(Scan),
    FinancialReport(FinancialReport),
    Attestation(Attestation),
    Opaque(OpaqueArchive),
}

impl Serialize for Content {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Content::serialize(self, s)
    }
}

impl<'de> Deserialize<'de> for Content {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut map = serde_json::Map::<String, serde_json::Value>::deserialize(d)?;
        if !map.contains_key("content") {
            let has = |k: &str| map.contains_key(k);
            let content = if has("source") {
                "invoice"
            } else if has("integrity") {
                "ad_audit"
            } else if has("host_count") {
                "scan"
            } else if has("row_count") {
                "financial_report"
            } else if has("summary") {
                "attestation"
            } else if has("encrypted_to") {
                "opaque"
            } else {
                "none"
            };
            map.insert("content".into(), content.into());
        }
        Content::deserialize(serde_json::Value::Object(map)).map_err(D::Error::custom)
    }
}

/// One PDF signature dictionary and what its CMS says about the signed bytes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Signature {
    /// `adbe.pkcs7.detached`, `ETSI.CAdES.detached`, `ETSI.RFC3161`...
    pub sub_filter: Option<String>,
    pub byte_range: Vec<i64>,
    /// The signer's name when the dictionary states it (`/Name`).
    pub signer: Option<String>,
    /// `/M`, as written (`D:20240612...`).
    pub signed_at: Option<String>,
    /// The signed ranges reach the end of the file: nothing was appended after signing.
    pub covers_whole_file: bool,
    /// The ranges cover a whole revision: from the first byte to an `%%EOF`, leaving out
    /// exactly the hex `/Contents` string and nothing else.
    #[serde(default)]
    pub covers_revision: bool,
    /// Incremental updates were appended after the signed revision (the signature may
    /// still be valid for what it covers; what came later is not signed).
    #[serde(default)]
    pub changed_after_signing: bool,
    /// Subject of the signing certificate carried in the CMS signature (RFC 4514).
    pub signer_subject: Option<String>,
    /// Digest algorithm of the signature (`sha256`...).
    pub digest_algorithm: Option<String>,
    /// The digest of the signed byte ranges equals the CMS `messageDigest`: the signed
    /// bytes are the ones the signer signed. `None` when the CMS could not be read or
    /// its digest algorithm is not supported.
    pub digest_valid: Option<bool>,
    /// The signature judged as ETSI EN 319 102-1 does: cryptography, certificate chain,
    /// time, revocation, what changed after it. Absent in records made before caregate
    /// validated signatures (`caregate signatures` validates them again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation: Option<SignatureValidation>,
}

/// ETSI EN 319 102-1 main status indication.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Indication {
    TotalPassed,
    /// The signature is not proven wrong, but not proven right either (unknown CA, no
    /// proof of time, revocation unknown...): a person decides.
    Indeterminate,
    TotalFailed,
}

/// ETSI EN 319 102-1 sub-indications caregate gives (clause 5.1.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SubIndication {
    /// The signed bytes do not hash to the digest the signature carries.
    HashFailure,
    /// The signature value does not verify with the signer's public key.
    SigCryptoFailure,
    /// The PDF or CMS structure does not allow validation; also, changes appended after
    /// signing that the document's permissions forbid.
    FormatFailure,
    /// The CMS carries no certificate matching its signer.
    NoSigningCertificateFound,
    /// No chain from the signer to a trust anchor.
    NoCertificateChainFound,
    /// A certificate of the chain was outside its validity period at the best proven time.
    OutOfBoundsNoPoe,
    /// A certificate of the chain is revoked and no proof of time places the signature
    /// before the revocation.
    RevokedNoPoe,
    /// The chain is not acceptable (key usage, CA constraints...).
    ChainConstraintsFailure,
    /// An algorithm caregate does not verify.
    CryptoConstraintsFailureNoPoe,
}

impl SubIndication {
    pub fn code(self) -> &'static str {
        match self {
            SubIndication::HashFailure => "HASH_FAILURE",
            SubIndication::SigCryptoFailure => "SIG_CRYPTO_FAILURE",
            SubIndication::FormatFailure => "FORMAT_FAILURE",
            SubIndication::NoSigningCertificateFound => "NO_SIGNING_CERTIFICATE_FOUND",
            SubIndication::NoCertificateChainFound => "NO_CERTIFICATE_CHAIN_FOUND",
            SubIndication::OutOfBoundsNoPoe => "OUT_OF_BOUNDS_NO_POE",
            SubIndication::RevokedNoPoe => "REVOKED_NO_POE",
            SubIndication::ChainConstraintsFailure => "CHAIN_CONSTRAINTS_FAILURE",
            SubIndication::CryptoConstraintsFailureNoPoe => "CRYPTO_CONSTRAINTS_FAILURE_NO_POE",
        }
    }
}

/// What proves when the document was signed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TimeSource {
    /// A valid RFC 3161 timestamp over the signature (or a document timestamp).
    Timestamp,
    /// Only the signer's own claim (`/M`, CMS `signingTime`).
    Claimed,
    /// Nothing says when.
    Unknown,
}

/// PAdES baseline level (ETSI EN 319 142-1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
pub enum PadesLevel {
    #[serde(rename = "B-B")]
    BB,
    #[serde(rename = "B-T")]
    BT,
    #[serde(rename = "B-LT")]
    BLt,
    #[serde(rename = "B-LTA")]
    BLta,
}

/// What was appended after the signed revision, from least to most worrying (as
/// pyhanko's modification levels).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ModificationLevel {
    None,
    /// Validation data (`/DSS`) and document timestamps only.
    LtaUpdates,
    /// Form fields filled, other signature fields signed.
    FormFilling,
    /// Annotations added or changed.
    Annotations,
    /// Anything else: page content, pages, fonts...
    Other,
}

/// Revocation as far as the file itself can tell (caregate never fetches CRLs or OCSP).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RevocationStatus {
    /// Revocation data in the CMS or `/DSS` (CRLs, OCSP responses) covers the signer
    /// and does not list it.
    Good,
    /// A CRL or OCSP response lists it (`revoked_at` says since when).
    Revoked,
    /// No revocation data in the file for the chain.
    NotChecked,
}

/// An RFC 3161 timestamp: over a signature (`signatureTimeStampToken`) or over the
/// document (`ETSI.RFC3161`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TimestampCheck {
    /// Its imprint is the digest of what it stamps, and its own signature verifies.
    pub intact: bool,
    /// The time stamping authority chains to a trust anchor, with the timeStamping
    /// usage, valid at the stamped time.
    pub trusted: bool,
    /// `genTime`.
    pub time: Option<DateTime<Utc>>,
    /// Subject of the TSA certificate.
    pub authority: Option<String>,
}

/// One signature's validation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SignatureValidation {
    pub indication: Indication,
    pub sub_indication: Option<SubIndication>,
    /// The signed bytes are the ones signed and the signature value verifies with the
    /// signer's key (pyhanko's "intact" and "valid").
    pub intact: bool,
    /// The chain reaches a configured trust anchor and holds at the best proven time.
    pub trusted: bool,
    /// Subjects from the signer up to the trust anchor (or as far as the CMS goes).
    pub chain: Vec<String>,
    pub revocation: RevocationStatus,
    /// When the signer's certificate was revoked, as its CRL or OCSP response states. A
    /// signature a trusted timestamp proves older than that still passes (ETSI EN 319
    /// 102-1 §5.6.2.4: proof of existence before the revocation).
    #[serde(default)]
    pub revoked_at: Option<DateTime<Utc>>,
    pub time_source: TimeSource,
    /// The time the chain was judged at: a trusted timestamp's, else the validation's.
    pub judged_at: DateTime<Utc>,
    pub timestamp: Option<TimestampCheck>,
    pub pades_level: Option<PadesLevel>,
    pub modification_level: ModificationLevel,
    /// DocMDP permission of a certification signature (1 no change, 2 form filling,
    /// 3 annotations too); `None` for an approval signature.
    pub certification: Option<u8>,
    /// What was appended after signing is within what the document permits.
    pub modifications_permitted: bool,
    /// When caregate validated it, and against how many trust anchors.
    pub validated_at: DateTime<Utc>,
    pub trust_anchors: usize,
}

/// What the record keeps about a PDF, whatever kind of evidence it is.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PdfInfo {
    pub version: String,
    pub pages: usize,
    pub title: Option<String>,
    pub author: Option<String>,
    pub producer: Option<String>,
    pub creator: Option<String>,
    pub created: Option<String>,
    /// Encrypted with an empty user password: readable, with restrictions.
    pub encrypted: bool,
    pub signatures: Vec<Signature>,
    pub embedded_files: Vec<String>,
    /// XMP `fx:ConformanceLevel` of a Factur-X PDF.
    pub facturx_level: Option<String>,
    pub active_content: Vec<String>,
    /// Pages whose text could not be extracted.
    pub unreadable_pages: usize,
    /// The cross-reference table had to be rebuilt: a damaged or truncated file.
    pub repaired: bool,
}

/// One member of a zip archive, as its directory states it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Member {
    pub index: usize,
    pub name: String,
    pub size: u64,
    pub compressed_size: u64,
    pub encrypted: bool,
}

/// A member of an archive that became its own evidence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MemberEvidence {
    pub name: String,
    pub evidence_id: EvidenceId,
}

/// One sheet of a workbook (or the table of a CSV file), by its size.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SheetSize {
    pub name: Option<String>,
    pub rows: usize,
    pub columns: usize,
}

/// A record's `fields`: the typed [`Content`] and what every reader may add beside it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Fields {
    /// The reader that produced them (`pdf`, `facturx`, `pingcastle`, `nmap`, `cii`...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    #[serde(flatten)]
    pub content: Content,
    /// A PDF's structure, whatever it holds: pages, producer, signatures, active content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<PdfInfo>,
    /// The sheets of a workbook or CSV file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sheets: Option<Vec<SheetSize>>,
    /// The root element of an XML file no reader knows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xml_root: Option<String>,
    /// The media type of a file that is only described (an image).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// A zip archive's directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub members: Option<Vec<Member>>,
    /// The evidence made of an archive's members (the archive itself is not judged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_evidence: Option<Vec<MemberEvidence>>,
}

impl Fields {
    pub fn of(content: Content) -> Self {
        Self { content, ..Self::default() }
    }

    pub fn invoice(&self) -> Option<&Invoice> {
        match &self.content {
            Content::Invoice(i) => Some(i),
            _ => None,
        }
    }

    pub fn ad_audit(&self) -> Option<&AdAudit> {
        match &self.content {
            Content::AdAudit(a) => Some(a),
            _ => None,
        }
    }

    pub fn scan(&self) -> Option<&Scan> {
        match &self.content {
            Content::Scan(s) => Some(s),
            _ => None,
        }
    }

    pub fn financial_report(&self) -> Option<&FinancialReport> {
        match &self.content {
            Content::FinancialReport(r) => Some(r),
            _ => None,
        }
    }

    pub fn attestation(&self) -> Option<&Attestation> {
        match &self.content {
            Content::Attestation(a) => Some(a),
            _ => None,
        }
    }

    /// The fields as JSON, to be walked by key paths (`document.signatures.0.signer`).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_stay_flat_in_json_and_read_back_typed() {
        let invoice = Invoice {
            number: Some("FA-1".into()),
            type_code: Some("380".into()),
            issue_date: NaiveDate::from_ymd_opt(2024, 6, 12),
            seller_name: None,
            seller_siret: Some("73282932000074".into()),
            seller_siren: None,
            seller_legal_ids: Vec::new(),
            vat_id: None,
            total_ht: Some("100.00".parse().unwrap()),
            total_tva: Some("20.00".parse().unwrap()),
            total_ttc: Some("120.00".parse().unwrap()),
            currency: Some("EUR".into()),
            profile: None,
            source: InvoiceSource::Text,
            locations: Default::default(),
            confidence: Default::default(),
        };
        let fields = Fields { format: Some("pdf".into()), document: Some(PdfInfo { pages: 1, ..PdfInfo::default() }), ..Fields::of(Content::Invoice(invoice)) };
        let json = serde_json::to_value(&fields).unwrap();
        assert_eq!(json["content"], "invoice");
        assert_eq!(json["total_ttc"], "120.00");
        assert_eq!(json["issue_date"], "2024-06-12");
        assert_eq!(json["document"]["pages"], 1);
        let back: Fields = serde_json::from_value(json).unwrap();
        assert_eq!(back, fields);
        assert_eq!(back.invoice().unwrap().seller_siren(), Some("732829320"));

        let empty: Fields = serde_json::from_value(serde_json::json!({})).unwrap();
        assert_eq!(empty, Fields::default());
        // Written before `content` named the content: known by its keys.
        let mut legacy = serde_json::to_value(&fields).unwrap();
        legacy.as_object_mut().unwrap().remove("content");
        assert_eq!(serde_json::from_value::<Fields>(legacy).unwrap(), fields);
    }
}
