//! Reading evidence: turns one clean file into typed data (`caregate_schemas::Fields`,
//! the contract the judge reads), findings and a kind
//! of evidence with a confidence and its reasons. One module per format family (PDF,
//! XML reports and invoices, spreadsheets and CSV, office text, zip archives), French
//! text conventions in [`french`], and the classifier in [`classify`].
//!
//! Everything here is synchronous and bounded by [`Limits`] and a [`Budget`]: the worker
//! runs [`analyse`] on its own thread, off the async runtime, behind `catch_unwind` and a
//! timeout, so a hostile file costs one file and becomes a finding. Infected files never
//! reach this crate.

pub mod archive;
pub mod classify;
pub mod facturx;
pub mod french;
pub mod fuzz;
pub mod invoice_text;
pub mod layout;
mod limits;
pub mod mla;
pub mod ocr;
pub mod office;
pub mod pdf;
pub mod photo;
pub mod render;
pub mod sandbox;
pub mod sheet;
pub mod signature;
pub mod xml;

#[cfg(test)]
mod establishment_tests;

use caregate_schemas::FindingCode;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;
use std::time::Duration;

use caregate_schemas::extracted::{Attestation, Content, Fields, InvoiceSource, SheetSize};
use caregate_schemas::{EstablishmentIdentifiers, Finding, Severity};
use serde_json::Value;

pub use archive::Member;
pub use classify::{Classification, Kind};
pub use limits::{Budget, Limits};

/// Why a file could not be read. Each maps to one stable finding code.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    #[error("le fichier est chiffré et aucun mot de passe n'est connu")]
    Encrypted,
    #[error("le rapport est chiffré (XML-Enc EncryptedData)")]
    EncryptedReport,
    #[error("illisible : {0}")]
    Unreadable(String),
    #[error("le XML déclare des entités : les DTD ne sont pas traitées")]
    XmlEntities,
    #[error("le XML s'imbrique sur plus de {0} niveaux")]
    XmlTooDeep(usize),
    #[error("trop volumineux pour être lu : {0}")]
    TooLarge(String),
    #[error("limites d'archive : {0}")]
    ArchiveLimits(String),
    #[error("la lecture a dépassé le temps alloué")]
    TimeBudget,
    #[error("lecture de la copie de travail : {0}")]
    Io(#[from] std::io::Error),
}

impl ExtractError {
    pub fn code(&self) -> FindingCode {
        match self {
            ExtractError::Encrypted => FindingCode::Encrypted,
            ExtractError::EncryptedReport => FindingCode::EncryptedReport,
            ExtractError::Unreadable(_) | ExtractError::XmlEntities | ExtractError::XmlTooDeep(_) | ExtractError::Io(_) => FindingCode::Unreadable,
            ExtractError::TooLarge(_) => FindingCode::TooLarge,
            ExtractError::ArchiveLimits(_) => FindingCode::ArchiveLimits,
            ExtractError::TimeBudget => FindingCode::TimeBudget,
        }
    }

    pub fn finding(&self) -> Finding {
        Finding::new(self.code(), Severity::Warning, self.to_string())
    }
}

/// The file to read: its working copy and what identification found.
pub struct Source<'a> {
    pub path: &'a Path,
    /// The name as uploaded; its extension helps where bytes are ambiguous.
    pub name: &'a str,
    pub media_type: &'a str,
    pub xml_root: Option<&'a str>,
}

impl Source<'_> {
    fn ext(&self) -> String {
        self.name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default()
    }
}

/// What reading one file gave. Serialisable, because a worker reads each file in a
/// child process (see `caregate_workers::read`) that hands it back as JSON.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Analysis {
    /// The reader that produced it (`pdf`, `nmap`...); names are static, the owned form
    /// exists only for what came back from a child process.
    pub format: std::borrow::Cow<'static, str>,
    pub classification: Classification,
    pub fields: Fields,
    pub findings: Vec<Finding>,
    /// Members of a plain zip archive, to be processed as their own evidence.
    pub members: Vec<Member>,
    /// What a person would search the file by: its running text, or for structured
    /// formats the text values of its fields. At most `Limits::max_text_chars`.
    pub text: String,
}

impl Analysis {
    /// A file that could not be read: kind unknown (`hint` when the failure itself says
    /// what it is), no fields, the failure as its finding.
    pub fn unread(format: &'static str, hint: Kind, finding: Finding) -> Self {
        Analysis {
            format: format.into(),
            classification: Classification { kind: hint, confidence: 0.0, reasons: vec![format!("content could not be read: {}", finding.message)] },
            fields: Fields::default(),
            findings: vec![finding],
            members: Vec::new(),
            text: String::new(),
        }
    }
}

/// Reads, classifies and describes one file. Never panics on bad input by design; the
/// caller still isolates it, since the parsers underneath are large.
pub fn analyse(src: &Source, limits: &Limits) -> Analysis {
    analyse_for(src, limits, &EstablishmentIdentifiers::NONE)
}

/// [`analyse`], for a file the establishment `own` submitted: its own identifiers (it is
/// the buyer) are never taken as an invoice's seller's. Where the page offers another
/// candidate, that one is taken; where the establishment's was the only one, or a
/// structured invoice (Factur-X, CII, UBL) names the establishment as its seller, the
/// field is left empty with a `seller_is_establishment` finding.
pub fn analyse_for(src: &Source, limits: &Limits, own: &EstablishmentIdentifiers) -> Analysis {
    let budget = Budget::new(Duration::from_secs(limits.time_budget_secs));
    let format = format_of(src);
    match read(format, src, limits, &budget, own) {
        Ok(mut a) => {
            exclude_establishment(&mut a, own);
            if a.text.is_empty() {
                a.text = text_of(&a.fields.to_json());
            }
            truncate_chars(&mut a.text, limits.max_text_chars);
            a
        }
        Err(e) => unread(format, &e),
    }
}

/// The establishment's own identifiers taken out of an invoice's seller's, whatever
/// read them (a structured invoice states them; a text reading that was not told them):
/// each one a finding with the value found, for a controller.
fn exclude_establishment(a: &mut Analysis, own: &EstablishmentIdentifiers) {
    if own.is_empty() {
        return;
    }
    let Content::Invoice(inv) = &mut a.fields.content else { return };
    let mut found = Vec::new();
    for (field, value, what) in
        [("seller_siret", &mut inv.seller_siret, "SIRET"), ("seller_siren", &mut inv.seller_siren, "SIREN"), ("vat_id", &mut inv.vat_id, "n° de TVA")]
    {
        if value.as_deref().is_some_and(|v| own.owns(v)) {
            found.push(format!("{what} {}", value.take().unwrap_or_default()));
            inv.locations.remove(field);
        }
    }
    if !found.is_empty() {
        let structured = !matches!(inv.source, InvoiceSource::Text | InvoiceSource::Ocr);
        let said = if structured { "la facture structurée (XML) désigne comme vendeur" } else { "le vendeur lu sur la facture a" };
        a.findings.push(seller_is_establishment(format!(
            "{said} l'identifiant de l'établissement déposant ({}), qui est l'acheteur : {} ; identifiant du vendeur laissé vide — à relire sur la pièce",
            own.describe_fr(),
            found.join(", ")
        )));
    }
}

/// A `seller_is_establishment` finding, pointing at the seller's SIRET.
pub(crate) fn seller_is_establishment(message: String) -> Finding {
    warning(FindingCode::SellerIsEstablishment, message).at("/seller_siret")
}

fn unread(format: Format, e: &ExtractError) -> Analysis {
    let hint = if matches!(e, ExtractError::EncryptedReport) { Kind::AdAuditReport } else { Kind::Other };
    Analysis::unread(format.name(), hint, e.finding())
}

/// The text values of extracted fields, one per line: what a structured file (a
/// PingCastle report, an XML invoice, a scan) is searched by.
fn text_of(fields: &Value) -> String {
    fn walk(v: &Value, out: &mut String) {
        match v {
            Value::String(s) if !s.is_empty() => {
                out.push_str(s);
                out.push('\n');
            }
            Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            Value::Object(map) => map.values().for_each(|i| walk(i, out)),
            _ => {}
        }
    }
    let mut out = String::new();
    walk(fields, &mut out);
    out
}

/// Characters that are not white space: how much text a page really has.
fn visible_chars(text: &str) -> usize {
    text.chars().filter(|c| !c.is_whitespace()).count()
}

fn truncate_chars(text: &mut String, max: usize) {
    if let Some((cut, _)) = text.char_indices().nth(max) {
        text.truncate(cut);
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Pdf,
    PingCastle,
    Nmap,
    Nessus,
    OpenVas,
    Cii,
    Ubl,
    Xml,
    Workbook,
    Csv,
    Office,
    Zip,
    Oradad,
    Image,
    Text,
    Binary,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::Pdf => "pdf",
            Format::PingCastle => "pingcastle",
            Format::Nmap => "nmap",
            Format::Nessus => "nessus",
            Format::OpenVas => "openvas",
            Format::Cii => "cii",
            Format::Ubl => "ubl",
            Format::Xml => "xml",
            Format::Workbook => "spreadsheet",
            Format::Csv => "csv",
            Format::Office => "office",
            Format::Zip => "zip",
            Format::Oradad => "oradad",
            Format::Image => "image",
            Format::Text => "text",
            Format::Binary => "binary",
        }
    }
}

fn format_of(src: &Source) -> Format {
    // The name says ORADAD; the header decides (see `Format::Oradad` in `read`).
    if src.ext() == "mla" {
        return Format::Oradad;
    }
    format_by_content(src)
}

/// The format the bytes say, the name helping only where they are ambiguous.
fn format_by_content(src: &Source) -> Format {
    let ext = src.ext();
    let m = src.media_type;
    match m {
        "application/pdf" => return Format::Pdf,
        "application/xml" => {
            return match src.xml_root {
                Some("HealthcheckData") => Format::PingCastle,
                // XML-Enc: the PingCastle encrypted report, or anything else encrypted.
                Some("EncryptedData") => Format::PingCastle,
                Some("nmaprun") => Format::Nmap,
                Some("NessusClientData_v2") => Format::Nessus,
                Some("report") | Some("get_reports_response") => Format::OpenVas,
                Some("CrossIndustryInvoice") | Some("CrossIndustryDocument") | Some("SCRDMCCBDACIOMessageStructure") => Format::Cii,
                Some("Invoice") | Some("CreditNote") => Format::Ubl,
                _ => Format::Xml,
            };
        }
        "text/csv" => return Format::Csv,
        _ => {}
    }
    if m.starts_with("image/") {
        return Format::Image;
    }
    let zip_like = m == "application/zip" || m.starts_with("application/vnd.openxmlformats") || m.starts_with("application/vnd.oasis.opendocument");
    if m.contains("spreadsheet")
        || m == "application/vnd.ms-excel"
        || (matches!(ext.as_str(), "xlsx" | "ods" | "xls") && (zip_like || m == "application/x-ole-storage"))
    {
        return Format::Workbook;
    }
    if m.contains("wordprocessing") || m == "application/vnd.oasis.opendocument.text" || (zip_like && matches!(ext.as_str(), "docx" | "odt")) {
        return Format::Office;
    }
    if zip_like {
        return Format::Zip;
    }
    if m.starts_with("text/") || m == "application/json" {
        return if ext == "csv" { Format::Csv } else { Format::Text };
    }
    Format::Binary
}

/// The whole file, for the parsers that need it, under the memory cap.
fn read_capped(path: &Path, limits: &Limits) -> Result<Vec<u8>, ExtractError> {
    let size = std::fs::metadata(path)?.len();
    if size > limits.max_parse_bytes {
        return Err(ExtractError::TooLarge(format!("{size} bytes; files above {} bytes are stored unread", limits.max_parse_bytes)));
    }
    let mut buf = Vec::with_capacity(size as usize);
    File::open(path)?.take(limits.max_parse_bytes + 1).read_to_end(&mut buf)?;
    Ok(buf)
}

fn xml_input(path: &Path, limits: &Limits) -> Result<BufReader<File>, ExtractError> {
    let size = std::fs::metadata(path)?.len();
    if size > limits.max_xml_bytes {
        return Err(ExtractError::TooLarge(format!("{size} bytes of XML (limit {})", limits.max_xml_bytes)));
    }
    Ok(BufReader::with_capacity(64 * 1024, File::open(path)?))
}

/// What a controller must know of each signature's validation: a signature that fails
/// (or a document changed beyond what it permits) is an error; one that cannot be
/// confirmed is noted here and sent to a controller by the verdict.
fn signature_findings(signatures: &[caregate_schemas::extracted::Signature]) -> Vec<Finding> {
    use caregate_schemas::extracted::{Indication, SubIndication};
    let mut findings = Vec::new();
    for (i, sig) in signatures.iter().enumerate() {
        let Some(v) = &sig.validation else { continue };
        let who = v.chain.first().or(sig.signer_subject.as_ref()).map(String::as_str).unwrap_or("inconnu");
        let pointer = format!("document.signatures.{i}.validation");
        let why = v.sub_indication.map(SubIndication::label_fr).unwrap_or("");
        match v.indication {
            Indication::TotalPassed => {}
            Indication::TotalFailed if !v.modifications_permitted => findings.push(
                Finding::new(
                    FindingCode::ModifiedAfterSigning,
                    Severity::Error,
                    format!("signature {} ({who}) : le document a été modifié après signature ({})", i + 1, v.modification_level.label_fr()),
                )
                .at(&pointer),
            ),
            // Said already, in the words of the digest check.
            Indication::TotalFailed if v.sub_indication == Some(SubIndication::HashFailure) && sig.digest_valid == Some(false) => {}
            Indication::TotalFailed => findings
                .push(Finding::new(FindingCode::SignatureInvalid, Severity::Error, format!("signature {} ({who}) invalide : {why}", i + 1)).at(&pointer)),
            Indication::Indeterminate => findings.push(
                Finding::new(FindingCode::SignatureIndeterminate, Severity::Info, format!("signature {} ({who}) non confirmée : {why}", i + 1)).at(&pointer),
            ),
        }
    }
    findings
}

fn warning(code: FindingCode, message: impl Into<String>) -> Finding {
    Finding::new(code, Severity::Warning, message)
}

fn invoice_kind(type_code: Option<&str>) -> Kind {
    match type_code {
        Some("381") | Some("261") | Some("262") | Some("396") | Some("532") => Kind::CreditNote,
        // Orders (Order-X): 220 order, 227 consignment order, 105 purchase order.
        Some("220") | Some("227") | Some("105") => Kind::PurchaseOrder,
        Some("310") => Kind::Quote,
        _ => Kind::Invoice,
    }
}

fn read(format: Format, src: &Source, limits: &Limits, budget: &Budget, own: &EstablishmentIdentifiers) -> Result<Analysis, ExtractError> {
    let done = |classification: Classification, fields: Fields, findings: Vec<Finding>| Analysis {
        format: format.name().into(),
        classification,
        fields,
        findings,
        members: Vec::new(),
        text: String::new(),
    };
    Ok(match format {
        Format::Pdf => return read_pdf(src, limits, budget, own),
        Format::PingCastle => {
            let audit = xml::pingcastle::parse(xml_input(src.path, limits)?, limits, budget)?;
            let findings = xml::pingcastle::seal_findings(&audit);
            done(
                Classification::structural(Kind::AdAuditReport, "PingCastle healthcheck report (HealthcheckData)"),
                Fields::of(Content::AdAudit(audit)),
                findings,
            )
        }
        Format::Nmap => {
            let (scan, truncated) = xml::nmap::parse(xml_input(src.path, limits)?, limits, budget)?;
            let findings = truncated
                .map(|why| {
                    warning(
                        FindingCode::ScanTruncated,
                        format!("rapport nmap tronqué ({why}) : seuls les {} hôtes décrits jusqu'au bout ont été lus", scan.host_count),
                    )
                })
                .into_iter()
                .collect();
            done(Classification::structural(Kind::ExposureScan, "nmap XML output (nmaprun)"), Fields::of(Content::Scan(scan)), findings)
        }
        Format::Nessus => {
            let scan = xml::vuln::parse_nessus(xml_input(src.path, limits)?, limits, budget)?;
            done(Classification::structural(Kind::VulnerabilityScan, "Nessus v2 report (NessusClientData_v2)"), Fields::of(Content::Scan(scan)), Vec::new())
        }
        Format::OpenVas => {
            let scan = xml::vuln::parse_openvas(xml_input(src.path, limits)?, limits, budget)?;
            done(Classification::structural(Kind::VulnerabilityScan, "OpenVAS/GVM report"), Fields::of(Content::Scan(scan)), Vec::new())
        }
        Format::Cii | Format::Ubl => {
            let input = xml_input(src.path, limits)?;
            let inv = if format == Format::Cii {
                xml::invoice::parse_cii(input, InvoiceSource::Cii, limits, budget)?
            } else {
                xml::invoice::parse_ubl(input, limits, budget)?
            };
            let kind = invoice_kind(inv.type_code.as_deref());
            let reason = format!("{} invoice, TypeCode {}", format.name().to_uppercase(), inv.type_code.as_deref().unwrap_or("absent"));
            done(Classification::structural(kind, reason), Fields::of(Content::Invoice(inv)), Vec::new())
        }
        Format::Xml => {
            let mut text = String::new();
            xml::walk(xml_input(src.path, limits)?, limits, budget, |e| {
                if let xml::XmlEvent::Text(t) = e {
                    if text.len() < limits.max_text_chars {
                        text.push_str(t);
                        text.push(' ');
                    }
                }
                Ok(())
            })?;
            from_text(format, &text, Fields { xml_root: src.xml_root.map(str::to_owned), ..Fields::default() }, limits, own)?
        }
        Format::Workbook | Format::Csv => {
            let tables = if format == Format::Csv {
                vec![sheet::read_csv(&read_capped(src.path, limits)?, limits, budget)?]
            } else {
                if src.media_type != "application/vnd.ms-excel" && src.media_type != "application/x-ole-storage" {
                    archive::open(File::open(src.path)?, &office_limits(limits))?;
                }
                sheet::read_workbook(&read_capped(src.path, limits)?, limits, budget)?
            };
            let sheets: Vec<SheetSize> = tables
                .iter()
                .map(|t| SheetSize { name: t.sheet.clone(), rows: t.rows.len(), columns: t.rows.iter().map(Vec::len).max().unwrap_or(0) })
                .collect();
            let mut findings = Vec::new();
            if tables.iter().any(|t| t.truncated) {
                findings.push(warning(FindingCode::TooLarge, format!("seules les {} premières cellules ont été lues", limits.max_sheet_cells)));
            }
            if let Some(report) = tables.iter().find_map(|t| sheet::financial_report(t, limits)) {
                let c = Classification::structural(
                    Kind::FinancialReport,
                    format!("table with expense columns: {}", report.columns.iter().filter(|c| !c.is_empty()).cloned().collect::<Vec<_>>().join(", ")),
                );
                done(c, Fields { sheets: Some(sheets), ..Fields::of(Content::FinancialReport(report)) }, findings)
            } else {
                let text: String = tables.iter().map(sheet::Table::text).collect();
                let mut a = from_text(format, &text, Fields { sheets: Some(sheets), ..Fields::default() }, limits, own)?;
                a.findings.extend(findings);
                a
            }
        }
        Format::Office => {
            let text = office::text(File::open(src.path)?, &office_limits(limits), budget)?;
            from_text(format, &text, Fields::default(), limits, own)?
        }
        Format::Zip => {
            let members = archive::members(File::open(src.path)?, limits)?;
            let mut findings = Vec::new();
            let encrypted: Vec<&str> = members.iter().filter(|m| m.encrypted).map(|m| m.name.as_str()).collect();
            if !encrypted.is_empty() {
                findings.push(warning(FindingCode::Encrypted, format!("fichiers chiffrés de l'archive illisibles : {}", encrypted.join(", "))));
            }
            let c = Classification::structural(Kind::Other, format!("zip archive: its {} members are processed as their own evidence", members.len()));
            Analysis {
                format: format.name().into(),
                classification: c,
                fields: Fields { members: Some(members.clone()), ..Fields::default() },
                findings,
                members,
                text: String::new(),
            }
        }
        Format::Oradad => match mla::read_header(src.path) {
            Err(mla::MlaError::Io(e)) => return Err(e.into()),
            // Named as ORADAD names its archives, but something else: read for what it is.
            Err(e @ (mla::MlaError::NotMla | mla::MlaError::BadHeader(_))) => {
                let real = format_by_content(src);
                let mut a = read(real, src, limits, budget, own).unwrap_or_else(|e| unread(real, &e));
                let why = format!("le fichier est nommé .mla comme une archive ORADAD, mais {e} ; son contenu est {}", src.media_type);
                a.findings.insert(0, warning(FindingCode::TypeMismatch, why));
                a
            }
            header => {
                let (classification, fields, findings) = mla::recorded(src.name, header);
                done(classification, fields, findings)
            }
        },
        Format::Image if ocr::tesseract_available() && limits.defer_ocr => done(
            Classification { kind: Kind::Other, confidence: 0.0, reasons: vec!["image: its text is read by the OCR pool".into()] },
            Fields { media_type: Some(src.media_type.to_owned()), ..Fields::default() },
            vec![ocr_pending("une image (scan ou photo)")],
        ),
        Format::Image if ocr::tesseract_available() => {
            let media = Fields { media_type: Some(src.media_type.to_owned()), ..Fields::default() };
            match ocr::image(src.path, budget) {
                Ok(read) if read.read_text() => {
                    let mut a = from_laid_out_text(format, &read.layout.text(), Some(Laid { layout: &read.layout, ocr: true }), None, media, limits, own)?;
                    a.findings.extend(ocr_findings(&read));
                    read_by_ocr(&mut a.fields);
                    a
                }
                Ok(_) => done(
                    Classification { kind: Kind::Other, confidence: 0.0, reasons: vec!["image: no text recognised".into()] },
                    media,
                    vec![warning(FindingCode::NoText, "une image (scan ou photo) sur laquelle aucun texte n'a été reconnu : un contrôleur doit la lire")],
                ),
                Err(e) => done(
                    Classification { kind: Kind::Other, confidence: 0.0, reasons: vec![format!("image: text recognition failed: {e}")] },
                    media,
                    vec![warning(FindingCode::Unreadable, format!("la reconnaissance de texte (Tesseract) a échoué : {e} ; un contrôleur doit lire l'image"))],
                ),
            }
        }
        Format::Image => done(
            Classification { kind: Kind::Other, confidence: 0.0, reasons: vec!["image: no text recognition installed".into()] },
            Fields { media_type: Some(src.media_type.to_owned()), ..Fields::default() },
            vec![warning(FindingCode::NoOcr, "une image (scan ou photo) : la reconnaissance de texte n'est pas disponible, un contrôleur doit la lire")],
        ),
        Format::Text => {
            // The head is enough to classify; a huge log is not loaded whole.
            let mut bytes = Vec::new();
            File::open(src.path)?.take(limits.max_text_chars as u64).read_to_end(&mut bytes)?;
            let text = sheet::decode_text(&bytes);
            from_text(format, &text, Fields::default(), limits, own)?
        }
        Format::Binary => {
            done(Classification::structural(Kind::Other, format!("{}: not a format caregate reads", src.media_type)), Fields::default(), Vec::new())
        }
    })
}

/// A file whose text only OCR can give, left for the OCR pool.
/// Every figure of an invoice read from OCR's text was recognised, not printed: the judge
/// weighs a misreading against the invoice's own arithmetic (as the OCR pool marks it).
fn read_by_ocr(fields: &mut Fields) {
    if let Content::Invoice(invoice) = &mut fields.content {
        if invoice.source == InvoiceSource::Text {
            invoice.source = InvoiceSource::Ocr;
        }
    }
}

fn ocr_pending(what: &str) -> Finding {
    warning(
        FindingCode::OcrPending,
        format!("{what} : son texte sera reconnu par OCR dans la file qui lui est propre, puis la pièce relue et le dossier jugé de nouveau"),
    )
}

/// What OCR's confidence says of the text it read, and what the reading itself found
/// (several documents in one file, pages read without preparation).
fn ocr_findings(read: &ocr::Ocr) -> Vec<Finding> {
    let mut findings = read.findings.clone();
    if read.mean_confidence < ocr::LOW_CONFIDENCE {
        findings.push(warning(
            FindingCode::OcrLowConfidence,
            format!("texte reconnu par OCR avec une confiance moyenne de {:.0} % : un contrôleur doit le relire", read.mean_confidence),
        ));
    }
    findings
}

/// An office document's parts are parsed in memory: each part, and all of them together,
/// stay under the memory cap once inflated, not just the file on disk.
fn office_limits(limits: &Limits) -> Limits {
    Limits { max_member_bytes: limits.max_parse_bytes, max_archive_bytes: limits.max_parse_bytes, ..limits.clone() }
}

/// Kind and fields from running text (PDF without structured data, office documents,
/// plain text, generic XML); `common` holds what the reader already knows beside.
fn from_text(format: Format, text: &str, common: Fields, limits: &Limits, own: &EstablishmentIdentifiers) -> Result<Analysis, ExtractError> {
    from_laid_out_text(format, text, None, None, common, limits, own)
}

/// Where a text's words are on the page, and whether OCR recognised them.
#[derive(Clone, Copy)]
struct Laid<'a> {
    layout: &'a layout::Layout,
    ocr: bool,
}

/// [`from_text`], with the layout the text was made from when there is one (a PDF's,
/// or OCR's): an invoice's values under their column titles are then found by geometry,
/// and a printed table of invoices whose total adds up is read as a financial report.
fn from_laid_out_text(
    format: Format,
    text: &str,
    laid: Option<Laid>,
    pdf: Option<&caregate_schemas::extracted::PdfInfo>,
    common: Fields,
    limits: &Limits,
    own: &EstablishmentIdentifiers,
) -> Result<Analysis, ExtractError> {
    let c = classify::classify_text(text);
    // A table of invoices whose rows add up to its total is a financial report, whatever
    // its words weigh; unless the words say for sure it is a document of its own (an
    // invoice's own lines are not dated invoices, but the words settle it first).
    let printed = laid.filter(|_| matches!(c.kind, Kind::FinancialReport | Kind::Other) || c.is_low()).and_then(|l| sheet::printed_report(l.layout, limits));
    if let Some(report) = printed {
        let why = format!(
            "printed table of {} dated invoice rows whose total is their sum: {}",
            report.row_count,
            report.columns.iter().filter(|c| !c.is_empty()).cloned().collect::<Vec<_>>().join(", ")
        );
        let mut reasons = vec![why];
        reasons.extend(c.reasons);
        let c = Classification { kind: Kind::FinancialReport, confidence: 1.0, reasons };
        let fields = Fields { content: Content::FinancialReport(report), ..common };
        return Ok(Analysis { format: format.name().into(), classification: c, fields, findings: Vec::new(), members: Vec::new(), text: text.to_owned() });
    }
    let mut findings = Vec::new();
    if c.is_low() && c.kind != Kind::Other {
        findings.push(warning(
            FindingCode::LowConfidence,
            format!("lu comme « {} » avec une confiance de {:.2} seulement : une personne doit confirmer le type", c.kind.label_fr(), c.confidence),
        ));
    }
    let content = match c.kind {
        // A report read as text has no table: what its text says of an invoice is all.
        Kind::Invoice | Kind::CreditNote | Kind::Quote | Kind::PurchaseOrder | Kind::FinancialReport => {
            let mut reading = invoice_text::read_invoice_excluding(laid.map(|l| l.layout), text, own);
            // Totals the page prints under their labels, each once, that do not add up
            // are the document's own error when its text is the one printed; read by OCR
            // they may be a misreading, left empty for a controller.
            if !laid.is_some_and(|l| l.ocr) {
                reading.keep_printed_totals();
            }
            // Fields left empty because the page contradicts itself are a controller's
            // question on an invoice; on a quote or a report they prove nothing anyway.
            if matches!(c.kind, Kind::Invoice | Kind::CreditNote) {
                findings.extend(reading.findings);
            }
            Content::Invoice(reading.invoice)
        }
        Kind::Attestation => {
            let summary: String = text.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(400).collect();
            Content::Attestation(Attestation {
                signed: pdf.is_some_and(|p| !p.signatures.is_empty()),
                date: french::signing_date(text).or_else(|| french::parse_date(text)),
                summary,
            })
        }
        Kind::AdAuditReport => french::ad_report_from_text(text).map(Content::AdAudit).unwrap_or(Content::None),
        _ => Content::None,
    };
    let fields = Fields { content, ..common };
    Ok(Analysis { format: format.name().into(), classification: c, fields, findings, members: Vec::new(), text: text.to_owned() })
}

fn read_pdf(src: &Source, limits: &Limits, budget: &Budget, own: &EstablishmentIdentifiers) -> Result<Analysis, ExtractError> {
    let bytes = read_capped(src.path, limits)?;
    // The text and its layout come from poppler, which reads every producer's fonts and
    // repairs damaged files; the structure (signatures, attachments, active content)
    // from lopdf, on another thread meanwhile, and lopdf's own text only where poppler
    // gave none (it failed, or a scan).
    let (layout, structure) = std::thread::scope(|scope| {
        let poppler = limits.poppler.then(|| scope.spawn(|| layout::read_pdf(src.path, limits, budget)));
        let structure = pdf::parse_structure(&bytes, limits, budget);
        let layout = poppler.map(|h| h.join().unwrap_or(Err(layout::PopplerError::Panicked)));
        (layout, structure)
    });
    let poppler_read = matches!(&layout, Some(Ok(l)) if l.word_count() > 0);
    let parsed = match structure {
        Ok(_) if !poppler_read => pdf::parse(&bytes, limits, budget),
        other => other,
    };
    let mut findings = Vec::new();
    let doc = match (parsed, &layout) {
        (Ok(doc), _) => doc,
        // Damaged beyond lopdf's repair, read by poppler: the text, and no structure.
        (Err(ExtractError::Unreadable(why)), Some(Ok(l))) if l.word_count() > 0 => {
            findings.push(warning(FindingCode::PdfRepaired, format!("PDF endommagé ({why}) : son texte a été lu après réparation, il peut être incomplet ; sa structure (signatures, pièces jointes) n'a pas pu être lue")));
            pdf::PdfDocument::text_only(l.pages.len())
        }
        (Err(e), _) => return Err(e),
    };
    drop(bytes);
    let mut doc = doc;
    let page_sizes: Vec<(f32, f32)> = match &layout {
        Some(Ok(l)) => l.pages.iter().map(|p| (p.width, p.height)).collect(),
        _ => Vec::new(),
    };
    let mut text_layout = None;
    match layout {
        Some(Ok(l)) if l.word_count() > 0 => {
            // Pages that are another invoice (two invoices printed to one file) are not
            // read with the first: their fields would mix. Said, as for scans.
            let (l, several) = ocr::first_document(l);
            findings.extend(several);
            doc.text = l.text();
            text_layout = Some(l);
            truncate_chars(&mut doc.text, limits.max_text_chars);
            doc.text_chars = visible_chars(&doc.text);
        }
        Some(Ok(_)) | None => {}
        Some(Err(e)) => findings.push(warning(
            FindingCode::Unreadable,
            format!("le lecteur de texte PDF (poppler) a échoué : {e} ; texte lu par le lecteur de secours, il peut être incomplet"),
        )),
    }
    if !doc.info.active_content.is_empty() {
        findings.push(warning(FindingCode::ActiveContent, format!("le PDF contient du contenu actif : {}", doc.info.active_content.join(", "))));
    }
    for sig in doc.info.signatures.iter().filter(|s| s.digest_valid == Some(false)) {
        findings.push(
            Finding::new(
                FindingCode::SignatureDigestMismatch,
                Severity::Error,
                format!(
                    "les octets signés ne correspondent pas au messageDigest de la signature (signataire {}) : le fichier a été modifié après signature",
                    sig.signer_subject.as_deref().unwrap_or("inconnu")
                ),
            )
            .at("document.signatures"),
        );
    }
    findings.extend(signature_findings(&doc.info.signatures));
    if doc.info.repaired && !findings.iter().any(|f| f.code == FindingCode::PdfRepaired) {
        findings.push(warning(FindingCode::PdfRepaired, "PDF endommagé ou tronqué : sa table des références a été reconstruite, du contenu peut manquer"));
    }
    if doc.info.unreadable_pages > 0 {
        findings.push(warning(
            FindingCode::Unreadable,
            format!("le texte de {} page(s) sur {} n'a pas pu être extrait", doc.info.unreadable_pages, doc.info.pages),
        ));
    }
    let mut analysis = match doc.invoice {
        Some(Ok(inv)) => {
            // The page read as a plain PDF's would be, to hold it against the XML; a page
            // without text (an image) says nothing rather than a guess.
            if doc.text_chars >= 20 {
                // The buyer's identifiers printed on the page are not the seller's there either.
                let page = invoice_text::read_invoice_excluding(text_layout.as_ref(), &doc.text, own).invoice;
                findings.extend(facturx::page_mismatches(&page, &doc.text, &inv));
            }
            let kind = invoice_kind(inv.type_code.as_deref());
            let reason = format!(
                "Factur-X PDF: embedded CII invoice, profile {}, TypeCode {}",
                inv.profile.as_deref().unwrap_or("unknown"),
                inv.type_code.as_deref().unwrap_or("absent")
            );
            Analysis {
                format: "facturx".into(),
                classification: Classification::structural(kind, reason),
                fields: Fields::of(Content::Invoice(inv)),
                findings: Vec::new(),
                members: Vec::new(),
                text: doc.text.clone(),
            }
        }
        other => {
            if let Some(Err(e)) = other {
                findings.push(Finding::new(e.code(), Severity::Warning, format!("facture Factur-X incorporée : {e}")));
            }
            let scanned = doc.text_chars < 20 && doc.info.pages > 0 && !page_sizes.is_empty() && ocr::tesseract_available();
            let mut ocr_read = false;
            if scanned && limits.defer_ocr {
                findings.push(ocr_pending(&format!("{} page(s) sans texte (scan)", doc.info.pages)));
            } else if scanned {
                // A scan: its pages are read by OCR.
                match ocr::pdf(src.path, &page_sizes, limits, budget) {
                    Ok(read) if read.read_text() => {
                        ocr_read = true;
                        doc.text = read.layout.text();
                        doc.text_chars = visible_chars(&doc.text);
                        findings.extend(ocr_findings(&read));
                        text_layout = Some(read.layout);
                    }
                    Ok(_) => {}
                    Err(e) => {
                        findings.push(warning(FindingCode::Unreadable, format!("la reconnaissance de texte (Tesseract) des pages scannées a échoué : {e}")))
                    }
                }
            }
            if doc.text_chars < 20 && doc.info.pages > 0 && !(scanned && limits.defer_ocr) {
                findings.push(warning(FindingCode::NoText, format!("{} page(s) sans texte : une image scannée, un contrôleur doit la lire", doc.info.pages)));
            }
            // A text layer OCR software laid over a scan is a recognition too.
            let recognised = ocr_read || doc.invisible_text;
            let laid = text_layout.as_ref().map(|layout| Laid { layout, ocr: recognised });
            let mut a = from_laid_out_text(Format::Pdf, &doc.text, laid, Some(&doc.info), Fields::default(), limits, own)?;
            if recognised {
                read_by_ocr(&mut a.fields);
            }
            a
        }
    };
    analysis.fields.document = Some(doc.info);
    analysis.findings.extend(findings);
    Ok(analysis)
}
