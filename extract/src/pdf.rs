//! PDF evidence with lopdf: text per page, document information, encryption, embedded
//! files (a Factur-X / ZUGFeRD invoice among them), signature dictionaries and active
//! content. lopdf needs the whole file in memory; the caller caps its size
//! ([`Limits::max_parse_bytes`]) and lopdf's own limits bound decompression and nesting.

use std::collections::{BTreeSet, HashSet};
use std::sync::LazyLock;

use lopdf::{Dictionary, Document, LoadOptions, Object, ObjectId};
use regex::bytes::Regex;

use crate::signature::{self, Context, Dss, SignatureInput, TrustAnchors};
use crate::{xml, Budget, ExtractError, Limits};
use caregate_schemas::extracted::{Invoice, InvoiceSource, ModificationLevel, PdfInfo, Signature};

/// Whether `[a b c d]` signs a whole revision of `file`: it starts at 0, the gap between
/// the ranges is exactly one hex string (`<…>`, the `/Contents`), and the second range
/// ends on an `%%EOF` marker (and its line end).
fn covers_a_revision(file: &[u8], range: &[i64]) -> bool {
    let &[a, b, c, d] = range else { return false };
    let (Ok(gap_start), Ok(gap_end), Ok(end)) = (usize::try_from(a + b), usize::try_from(c), usize::try_from(c + d)) else { return false };
    if a != 0 || b < 0 || d < 0 || gap_end <= gap_start + 1 || end > file.len() {
        return false;
    }
    let gap = &file[gap_start..gap_end];
    let hex_string = gap[0] == b'<' && gap[gap.len() - 1] == b'>' && gap[1..gap.len() - 1].iter().all(|c| c.is_ascii_hexdigit() || c.is_ascii_whitespace());
    let tail = file[..end].trim_ascii_end();
    hex_string && tail.ends_with(b"%%EOF")
}

/// Who the CMS blob of a PDF signature says signed, and with which digest (whether the
/// digest matches is the validation's: [`signature::validate`]).
#[derive(Default)]
struct CmsSigner {
    subject: Option<String>,
    digest_algorithm: Option<String>,
}

fn cms_signer(contents: &[u8]) -> CmsSigner {
    use der::asn1::ObjectIdentifier;
    use der::Decode;
    const SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
    const SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
    const SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");

    let mut out = CmsSigner::default();
    // One DER value, then the zero padding the signer reserved.
    let Some(ci) = der::SliceReader::new(contents).ok().and_then(|mut r| cms::content_info::ContentInfo::decode(&mut r).ok()) else {
        return out;
    };
    let Ok(sd) = ci.content.decode_as::<cms::signed_data::SignedData>() else { return out };
    let Some(si) = sd.signer_infos.0.iter().next() else { return out };
    if let (cms::signed_data::SignerIdentifier::IssuerAndSerialNumber(isn), Some(certs)) = (&si.sid, &sd.certificates) {
        out.subject = certs.0.iter().find_map(|c| match c {
            cms::cert::CertificateChoices::Certificate(cert)
                if cert.tbs_certificate.issuer == isn.issuer && cert.tbs_certificate.serial_number == isn.serial_number =>
            {
                Some(cert.tbs_certificate.subject.to_string())
            }
            _ => None,
        });
    }
    out.digest_algorithm = Some(match si.digest_alg.oid {
        SHA256 => "sha256".to_owned(),
        SHA384 => "sha384".to_owned(),
        SHA512 => "sha512".to_owned(),
        other => other.to_string(),
    });
    out
}

pub struct PdfDocument {
    pub info: PdfInfo,
    /// The whole text, pages in order (truncated at [`Limits::max_text_chars`]).
    pub text: String,
    /// Where each page starts in `text` (byte offsets), so a field found in the text can
    /// name its page: page `i + 1` starts at `page_starts[i]`.
    pub page_starts: Vec<usize>,
    /// Non-blank characters of text over all pages.
    pub text_chars: usize,
    /// The CII invoice embedded as `factur-x.xml` / `zugferd-invoice.xml`, parsed.
    pub invoice: Option<Result<Invoice, ExtractError>>,
    /// Its first pages draw text invisibly: an OCR layer over a scan (see [`invisible_text`]).
    pub invisible_text: bool,
}

impl PdfDocument {
    /// The page (from 1) holding byte `offset` of [`PdfDocument::text`].
    pub fn page_at(&self, offset: usize) -> Option<usize> {
        match self.page_starts.partition_point(|&start| start <= offset) {
            0 => None,
            n => Some(n),
        }
    }
}

/// Decompressed size allowed for one stream (page contents, an embedded file).
const MAX_STREAM: usize = 64 * 1024 * 1024;
/// Name-tree depth walked when looking for embedded files.
const MAX_TREE_DEPTH: usize = 16;
const INVOICE_ATTACHMENTS: [&str; 3] = ["factur-x.xml", "zugferd-invoice.xml", "xrechnung.xml"];
const EXECUTABLE_EXTENSIONS: [&str; 9] = [".exe", ".dll", ".bat", ".cmd", ".js", ".vbs", ".ps1", ".scr", ".jar"];

static CONFORMANCE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r#"ConformanceLevel(?:>|=")\s*([^<"]{1,40})"#).unwrap());

fn text_of(obj: &Object) -> Option<String> {
    lopdf::decode_text_string(obj).ok().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

fn name_of(obj: &Object) -> Option<String> {
    obj.as_name().ok().map(|n| String::from_utf8_lossy(n).into_owned())
}

fn resolve<'a>(doc: &'a Document, obj: &'a Object) -> Option<&'a Object> {
    doc.dereference(obj).ok().map(|(_, o)| o)
}

fn dict<'a>(doc: &'a Document, obj: &'a Object) -> Option<&'a Dictionary> {
    match resolve(doc, obj)? {
        Object::Dictionary(d) => Some(d),
        Object::Stream(s) => Some(&s.dict),
        _ => None,
    }
}

impl PdfDocument {
    /// A document whose structure could not be read, only its text (by another reader).
    pub fn text_only(pages: usize) -> Self {
        Self {
            info: PdfInfo { pages, repaired: true, ..PdfInfo::default() },
            text: String::new(),
            page_starts: Vec::new(),
            text_chars: 0,
            invoice: None,
            invisible_text: false,
        }
    }
}

pub fn parse(bytes: &[u8], limits: &Limits, budget: &Budget) -> Result<PdfDocument, ExtractError> {
    parse_with(bytes, limits, budget, true)
}

/// The structure only (pages counted, no text): where poppler gives the text, lopdf's
/// own pass over every content stream would be thrown away.
pub fn parse_structure(bytes: &[u8], limits: &Limits, budget: &Budget) -> Result<PdfDocument, ExtractError> {
    parse_with(bytes, limits, budget, false)
}

fn parse_with(bytes: &[u8], limits: &Limits, budget: &Budget, with_text: bool) -> Result<PdfDocument, ExtractError> {
    let options = LoadOptions { max_decompressed_size: Some(MAX_STREAM), ..LoadOptions::default() };
    let doc = Document::load_mem_with_options(bytes, options).map_err(|e| match e {
        lopdf::Error::InvalidPassword | lopdf::Error::Decryption(_) => ExtractError::Encrypted,
        e => ExtractError::Unreadable(format!("PDF: {e}")),
    })?;
    if doc.is_encrypted() {
        // Still encrypted after load: a user password is needed.
        return Err(ExtractError::Encrypted);
    }
    budget.check()?;
    let mut info = PdfInfo {
        version: doc.version.clone(),
        encrypted: doc.was_encrypted(),
        repaired: matches!(doc.xref_recovery, Some(lopdf::xref::XrefRecovery::Reconstructed)),
        ..PdfInfo::default()
    };
    if let Some(d) = doc.trailer.get(b"Info").ok().and_then(|o| dict(&doc, o)) {
        let get = |k: &[u8]| d.get(k).ok().and_then(|o| resolve(&doc, o)).and_then(text_of);
        info.title = get(b"Title");
        info.author = get(b"Author");
        info.producer = get(b"Producer");
        info.creator = get(b"Creator");
        info.created = get(b"CreationDate");
    }

    let pages = doc.get_pages();
    info.pages = pages.len();
    let mut text = String::new();
    let mut page_starts = Vec::new();
    let mut text_chars = 0;
    for &n in pages.keys().take(if with_text { limits.max_pdf_pages } else { 0 }) {
        budget.check()?;
        page_starts.push(text.len());
        match doc.extract_text_with_limit(&[n], MAX_STREAM) {
            Ok(t) => {
                text_chars += t.chars().filter(|c| !c.is_whitespace()).count();
                if text.len() < limits.max_text_chars {
                    text.push_str(&t);
                    text.push('\n');
                }
            }
            Err(_) => info.unreadable_pages += 1,
        }
    }
    if text.len() > limits.max_text_chars {
        let mut cut = limits.max_text_chars;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }

    let catalog = doc.catalog().ok();
    let mut invoice = None;
    let mut active = BTreeSet::new();
    for (name, spec) in embedded_files(&doc, catalog) {
        let lower = name.to_ascii_lowercase();
        let content = dict(&doc, spec)
            .and_then(|s| s.get(b"EF").ok())
            .and_then(|ef| dict(&doc, ef))
            .and_then(|ef| ef.get(b"F").or_else(|_| ef.get(b"UF")).ok())
            .and_then(|f| resolve(&doc, f))
            .and_then(|f| f.as_stream().ok())
            .and_then(|s| s.get_plain_content_with_limit(MAX_STREAM).ok());
        if EXECUTABLE_EXTENSIONS.iter().any(|e| lower.ends_with(e)) || content.as_deref().is_some_and(|c| c.starts_with(b"MZ")) {
            active.insert(format!("embedded executable {name}"));
        }
        if invoice.is_none() && INVOICE_ATTACHMENTS.contains(&lower.as_str()) {
            invoice = content.map(|c| xml::invoice::parse_cii(c.as_slice(), InvoiceSource::Facturx, limits, budget));
        }
        info.embedded_files.push(name);
    }
    if let Some(meta) = catalog
        .and_then(|c| c.get(b"Metadata").ok())
        .and_then(|m| resolve(&doc, m))
        .and_then(|m| m.as_stream().ok())
        .and_then(|s| s.get_plain_content_with_limit(MAX_STREAM).ok())
    {
        info.facturx_level = CONFORMANCE.captures(&meta).map(|c| String::from_utf8_lossy(&c[1]).trim().to_owned());
    }

    // Offsets in a signature's /ByteRange count from the PDF header.
    let pdf_start = bytes.windows(5).position(|w| w == b"%PDF-").unwrap_or(0);
    let file = &bytes[pdf_start..];
    let file_len = file.len() as i64;
    let mut found = Vec::new();
    for (i, obj) in doc.objects.values().enumerate() {
        if i.is_multiple_of(4096) {
            budget.check()?;
        }
        let d = match obj {
            Object::Dictionary(d) => d,
            Object::Stream(s) => &s.dict,
            _ => continue,
        };
        if let (Ok(Object::Array(range)), true) = (d.get(b"ByteRange"), d.has(b"Contents")) {
            let byte_range: Vec<i64> = range.iter().filter_map(|o| o.as_i64().ok()).collect();
            let covers_whole_file = byte_range.len() == 4 && byte_range[0] == 0 && byte_range[2] + byte_range[3] == file_len;
            let covers_revision = covers_a_revision(file, &byte_range);
            let changed_after_signing = covers_revision && !covers_whole_file;
            let contents = match d.get(b"Contents") {
                Ok(Object::String(contents, _)) => contents.as_slice(),
                _ => &[][..],
            };
            let cms = cms_signer(contents);
            let signature = Signature {
                sub_filter: d.get(b"SubFilter").ok().and_then(name_of),
                byte_range,
                signer: d.get(b"Name").ok().and_then(text_of),
                signed_at: d.get(b"M").ok().and_then(text_of),
                covers_whole_file,
                covers_revision,
                changed_after_signing,
                signer_subject: cms.subject,
                digest_algorithm: cms.digest_algorithm,
                digest_valid: None,
                validation: None,
            };
            found.push((signature, contents, docmdp_permission(&doc, d)));
        }
        for key in [&b"JavaScript"[..], b"JS"] {
            if d.has(key) {
                active.insert("JavaScript".to_owned());
            }
        }
        if let Some(kind) = d.get(b"S").ok().and_then(name_of) {
            if matches!(kind.as_str(), "JavaScript" | "Launch" | "ImportData" | "SubmitForm" | "RichMediaExecute") {
                active.insert(format!("{kind} action"));
            }
        }
    }
    if let Some(open) = catalog.and_then(|c| c.get(b"OpenAction").ok()).and_then(|o| dict(&doc, o)) {
        if let Some(kind) = open.get(b"S").ok().and_then(name_of).filter(|k| k != "GoTo") {
            active.insert(format!("OpenAction ({kind})"));
        }
    }
    info.active_content = active.into_iter().collect();
    info.signatures = validate_signatures(&doc, file, found, limits, budget)?;
    let invisible_text = invisible_text(&doc, &pages);
    Ok(PdfDocument { info, text, page_starts, text_chars, invoice, invisible_text })
}

/// Whether the first pages draw text in render mode 3 (neither filled nor stroked): what
/// OCR software lays over a scanned page so that it can be searched (Tesseract's PDF,
/// ocrmypdf, scanners' « PDF avec texte »). Such a text layer is a recognition, with
/// its misreadings, not the text the document was printed from. Looked for in the pages'
/// own content and in the forms they draw (ocrmypdf grafts its layer as one).
fn invisible_text(doc: &Document, pages: &std::collections::BTreeMap<u32, ObjectId>) -> bool {
    static MODE_3: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?-u)(?:^|[\s\]>)])3\s+Tr\b").unwrap());
    let drawn_in_mode_3 = |content: Option<Vec<u8>>| content.is_some_and(|c| MODE_3.is_match(&c));
    pages.values().take(3).any(|&id| {
        if drawn_in_mode_3(doc.get_page_content_with_limit(id, MAX_STREAM).ok()) {
            return true;
        }
        let Ok((inline, referenced)) = doc.get_page_resources(id) else { return false };
        let resources = inline.into_iter().chain(referenced.iter().filter_map(|r| doc.get_dictionary(*r).ok()));
        resources.filter_map(|r| r.get(b"XObject").ok().and_then(|x| dict(doc, x))).any(|xobjects| {
            xobjects.iter().take(64).any(|(_, x)| {
                let form =
                    resolve(doc, x).and_then(|o| o.as_stream().ok()).filter(|s| s.dict.get(b"Subtype").ok().and_then(name_of).as_deref() == Some("Form"));
                drawn_in_mode_3(form.and_then(|s| s.get_plain_content_with_limit(MAX_STREAM).ok()))
            })
        })
    })
}

/// Judges every signature of the document (in file order, the order they were made):
/// what was appended after each, against the document's permissions, and its
/// cryptography, chain and time.
fn validate_signatures(
    doc: &Document,
    file: &[u8],
    found: Vec<(Signature, &[u8], Option<u8>)>,
    limits: &Limits,
    budget: &Budget,
) -> Result<Vec<Signature>, ExtractError> {
    if found.is_empty() {
        return Ok(Vec::new());
    }
    let anchors = TrustAnchors::load(&limits.trust_anchors)?;
    let dss = document_dss(doc);
    let now = chrono::Utc::now();
    let ctx = Context { anchors: &anchors, dss: &dss, now };
    let end = |s: &Signature| s.byte_range.get(2).zip(s.byte_range.get(3)).map(|(a, b)| a + b).unwrap_or(0);
    let mut found = found;
    found.sort_by_key(|(s, _, _)| end(s));
    // DocMDP binds every later change, whichever signature is judged.
    let certification = found.iter().find_map(|(_, _, p)| *p);
    let permitted = match certification {
        Some(1) => ModificationLevel::LtaUpdates,
        Some(2) => ModificationLevel::FormFilling,
        _ => ModificationLevel::Annotations,
    };
    let timestamps_end: Vec<i64> = found.iter().filter(|(s, _, _)| s.sub_filter.as_deref() == Some("ETSI.RFC3161")).map(|(s, _, _)| end(s)).collect();
    let mut out = Vec::with_capacity(found.len());
    for (mut sig, contents, docmdp) in found {
        budget.check()?;
        let signed_end = end(&sig);
        let modification_level = if sig.covers_whole_file {
            ModificationLevel::None
        } else {
            usize::try_from(signed_end).ok().and_then(|e| file.get(..e)).map(|revision| modification_level(revision, doc)).unwrap_or(ModificationLevel::Other)
        };
        let input = SignatureInput {
            contents,
            file,
            byte_range: &sig.byte_range,
            sub_filter: sig.sub_filter.as_deref(),
            covers_revision: sig.covers_revision,
            claimed_time: sig.signed_at.as_deref().and_then(signature::pdf_date),
            certification: docmdp,
            modification_level,
            permitted,
            later_document_timestamp: timestamps_end.iter().any(|&e| e > signed_end),
        };
        let validated = signature::validate(&input, &ctx);
        sig.digest_valid = validated.digest_valid;
        sig.validation = Some(validated.validation);
        out.push(sig);
    }
    Ok(out)
}

/// The DocMDP permission (`/P`, 2 when absent) of a certification signature.
fn docmdp_permission(doc: &Document, sig: &Dictionary) -> Option<u8> {
    let Ok(Object::Array(refs)) = sig.get(b"Reference").map(|r| resolve(doc, r).unwrap_or(r)) else { return None };
    refs.iter().filter_map(|r| dict(doc, r)).find(|r| r.get(b"TransformMethod").ok().and_then(name_of).as_deref() == Some("DocMDP")).map(|r| {
        r.get(b"TransformParams")
            .ok()
            .and_then(|p| dict(doc, p))
            .and_then(|p| p.get(b"P").ok())
            .and_then(|p| p.as_i64().ok())
            .and_then(|p| u8::try_from(p).ok())
            .unwrap_or(2)
    })
}

/// The certificates, CRLs and OCSP responses of the catalog's `/DSS`.
fn document_dss(doc: &Document) -> Dss {
    let mut dss = Dss::default();
    let Some(d) = doc.catalog().ok().and_then(|c| c.get(b"DSS").ok()).and_then(|d| dict(doc, d)) else { return dss };
    let streams = |key: &[u8]| -> Vec<Vec<u8>> {
        match d.get(key).ok().and_then(|a| resolve(doc, a)) {
            Some(Object::Array(items)) => items
                .iter()
                .filter_map(|i| resolve(doc, i))
                .filter_map(|o| o.as_stream().ok())
                .filter_map(|s| s.get_plain_content_with_limit(MAX_STREAM).ok())
                .collect(),
            _ => Vec::new(),
        }
    };
    dss.certs = streams(b"Certs");
    dss.crls = streams(b"CRLs");
    dss.ocsps = streams(b"OCSPs");
    dss
}

/// Every object reachable from `start` (references followed, depth and count bounded).
pub(crate) fn reachable(doc: &Document, start: &Object, into: &mut HashSet<ObjectId>) {
    let mut stack = vec![(start, 0usize)];
    while let Some((obj, depth)) = stack.pop() {
        if depth > 32 || into.len() > 100_000 {
            return;
        }
        match obj {
            Object::Reference(id) if into.insert(*id) => {
                if let Ok(o) = doc.get_object(*id) {
                    stack.push((o, depth + 1));
                }
            }
            Object::Array(items) => stack.extend(items.iter().map(|i| (i, depth + 1))),
            Object::Dictionary(d) => stack.extend(d.iter().map(|(_, v)| (v, depth + 1))),
            Object::Stream(s) => stack.extend(s.dict.iter().map(|(_, v)| (v, depth + 1))),
            _ => {}
        }
    }
}

fn type_of(obj: &Object) -> Option<String> {
    let d = match obj {
        Object::Dictionary(d) => d,
        Object::Stream(s) => &s.dict,
        _ => return None,
    };
    d.get(b"Type").ok().and_then(name_of)
}

fn dict_of(obj: &Object) -> Option<&Dictionary> {
    match obj {
        Object::Dictionary(d) => Some(d),
        Object::Stream(s) => Some(&s.dict),
        _ => None,
    }
}

/// Whether two dictionaries are equal but for the keys given.
fn same_but(a: &Dictionary, b: &Dictionary, except: &[&[u8]]) -> bool {
    let keys = |d: &Dictionary| d.iter().filter(|(k, _)| !except.contains(&k.as_slice())).map(|(k, v)| (k.clone(), v.clone())).collect::<Vec<_>>();
    let (mut ka, mut kb) = (keys(a), keys(b));
    ka.sort_by(|x, y| x.0.cmp(&y.0));
    kb.sort_by(|x, y| x.0.cmp(&y.0));
    ka == kb
}

/// What the revisions appended after `revision` (the bytes a signature covers) changed,
/// as pyhanko grades it: validation data and document timestamps; form fields and
/// signatures; annotations; anything else.
fn modification_level(revision: &[u8], doc: &Document) -> ModificationLevel {
    let Ok(old) = Document::load_mem_with_options(revision, LoadOptions { max_decompressed_size: Some(MAX_STREAM), ..LoadOptions::default() }) else {
        return ModificationLevel::Other;
    };
    let catalog_id = doc.trailer.get(b"Root").ok().and_then(|r| r.as_reference().ok());
    let info_id = doc.trailer.get(b"Info").ok().and_then(|r| r.as_reference().ok());
    let mut dss = HashSet::new();
    if let Some(d) = doc.catalog().ok().and_then(|c| c.get(b"DSS").ok()) {
        reachable(doc, d, &mut dss);
    }
    // Objects that belong to a document timestamp (its value, field and widget) and
    // those drawn by form fields and annotations (appearance streams, their fonts).
    let mut timestamp_parts = HashSet::new();
    let mut field_parts = HashSet::new();
    let mut annotation_parts = HashSet::new();
    for (id, obj) in &doc.objects {
        let Some(d) = dict_of(obj) else { continue };
        let value_type = d.get(b"V").ok().and_then(|v| resolve(doc, v)).and_then(type_of);
        if value_type.as_deref() == Some("DocTimeStamp") {
            timestamp_parts.insert(*id);
            reachable(doc, &Object::Dictionary(d.clone()), &mut timestamp_parts);
        } else if d.has(b"FT") || d.get(b"Subtype").ok().and_then(name_of).as_deref() == Some("Widget") {
            field_parts.insert(*id);
            for key in [&b"V"[..], b"AP", b"DR"] {
                if let Ok(v) = d.get(key) {
                    reachable(doc, v, &mut field_parts);
                }
            }
        } else if d.has(b"Subtype") && d.has(b"Rect") {
            annotation_parts.insert(*id);
            if let Ok(v) = d.get(b"AP") {
                reachable(doc, v, &mut annotation_parts);
            }
        }
    }
    let level_of_new = |id: &ObjectId| -> ModificationLevel {
        if dss.contains(id) || timestamp_parts.contains(id) {
            ModificationLevel::LtaUpdates
        } else if field_parts.contains(id) {
            ModificationLevel::FormFilling
        } else if annotation_parts.contains(id) {
            ModificationLevel::Annotations
        } else {
            ModificationLevel::Other
        }
    };
    let mut level = ModificationLevel::None;
    for (id, obj) in &doc.objects {
        let before = old.objects.get(id);
        if before == Some(obj) {
            continue;
        }
        let kind = type_of(obj);
        if matches!(kind.as_deref(), Some("XRef" | "ObjStm")) || Some(*id) == info_id || kind.as_deref() == Some("Metadata") {
            // Bookkeeping of the file itself, rewritten by every incremental update.
            continue;
        }
        let this = match (before.and_then(dict_of), dict_of(obj)) {
            (Some(b), Some(a)) if Some(*id) == catalog_id => {
                if same_but(a, b, &[b"DSS", b"AcroForm", b"Perms", b"Extensions", b"Version", b"Metadata"]) {
                    let form_changed = a.get(b"AcroForm").ok() != b.get(b"AcroForm").ok();
                    let acro = a.get(b"AcroForm").ok().and_then(|f| dict(doc, f));
                    let acro_before = b.get(b"AcroForm").ok().and_then(|f| dict(&old, f));
                    match (form_changed, acro, acro_before) {
                        (false, _, _) => ModificationLevel::LtaUpdates,
                        (true, Some(a), Some(b)) if a.get(b"AcroForm").is_err() => fields_change(a, b, &level_of_new),
                        _ => ModificationLevel::FormFilling,
                    }
                } else {
                    ModificationLevel::Other
                }
            }
            (Some(b), Some(a)) if a.has(b"Fields") && !a.has(b"Type") => fields_change(a, b, &level_of_new),
            (Some(b), Some(a)) if kind.as_deref() == Some("Page") => {
                if same_but(a, b, &[b"Annots"]) {
                    let annots = |d: &Dictionary, doc: &Document| -> Vec<Object> {
                        match d.get(b"Annots").ok().and_then(|a| resolve(doc, a)) {
                            Some(Object::Array(items)) => items.clone(),
                            _ => Vec::new(),
                        }
                    };
                    let (now, then) = (annots(a, doc), annots(b, &old));
                    now.iter()
                        .filter(|o| !then.contains(o))
                        .map(|o| o.as_reference().ok().map(|r| level_of_new(&r)).unwrap_or(ModificationLevel::Annotations))
                        .chain(then.iter().filter(|o| !now.contains(o)).map(|_| ModificationLevel::Annotations))
                        .max()
                        .unwrap_or(ModificationLevel::None)
                } else {
                    ModificationLevel::Other
                }
            }
            // A field filled (its value and appearance changed) or a widget redrawn.
            (Some(_), Some(_)) if field_parts.contains(id) => ModificationLevel::FormFilling,
            (Some(_), Some(_)) if timestamp_parts.contains(id) || dss.contains(id) => ModificationLevel::LtaUpdates,
            (Some(_), Some(_)) if annotation_parts.contains(id) => ModificationLevel::Annotations,
            (Some(_), _) | (None, None) if before.is_some() => ModificationLevel::Other,
            _ => level_of_new(id),
        };
        level = level.max(this);
        if level == ModificationLevel::Other {
            break;
        }
    }
    level
}

/// An AcroForm's change: fields added are graded by what they are; other changes to
/// the form are form filling; a field removed is something else.
fn fields_change(now: &Dictionary, then: &Dictionary, level_of_new: &dyn Fn(&ObjectId) -> ModificationLevel) -> ModificationLevel {
    let list = |d: &Dictionary| match d.get(b"Fields") {
        Ok(Object::Array(items)) => items.clone(),
        _ => Vec::new(),
    };
    let (a, b) = (list(now), list(then));
    if b.iter().any(|f| !a.contains(f)) {
        return ModificationLevel::Other;
    }
    let added = a.iter().filter(|f| !b.contains(f)).map(|f| f.as_reference().ok().map(|r| level_of_new(&r)).unwrap_or(ModificationLevel::FormFilling)).max();
    let rest = if same_but(now, then, &[b"Fields"]) { ModificationLevel::None } else { ModificationLevel::FormFilling };
    added.unwrap_or(ModificationLevel::None).max(rest)
}

/// Embedded files: the catalog's `Names/EmbeddedFiles` name tree and its `/AF` array
/// (PDF/A-3 associated files), as (file name, file specification) pairs.
fn embedded_files<'a>(doc: &'a Document, catalog: Option<&'a Dictionary>) -> Vec<(String, &'a Object)> {
    let mut found = Vec::new();
    let Some(catalog) = catalog else { return found };
    let mut seen = HashSet::new();
    if let Some(tree) = catalog.get(b"Names").ok().and_then(|n| dict(doc, n)).and_then(|n| n.get(b"EmbeddedFiles").ok()) {
        walk_name_tree(doc, tree, 0, &mut seen, &mut found);
    }
    if let Some(Object::Array(af)) = catalog.get(b"AF").ok().and_then(|a| resolve(doc, a)) {
        for spec in af {
            let id = spec.as_reference().ok();
            if id.is_some_and(|id| seen.contains(&id)) {
                continue;
            }
            if let Some(name) = spec_name(doc, spec) {
                if !found.iter().any(|(n, _)| *n == name) {
                    found.push((name, spec));
                }
            }
        }
    }
    found
}

fn spec_name(doc: &Document, spec: &Object) -> Option<String> {
    let d = dict(doc, spec)?;
    d.get(b"UF").or_else(|_| d.get(b"F")).ok().and_then(|o| resolve(doc, o)).and_then(text_of)
}

fn walk_name_tree<'a>(doc: &'a Document, node: &'a Object, depth: usize, seen: &mut HashSet<ObjectId>, found: &mut Vec<(String, &'a Object)>) {
    if depth > MAX_TREE_DEPTH {
        return;
    }
    if let Ok(id) = node.as_reference() {
        if !seen.insert(id) {
            return;
        }
    }
    let Some(d) = dict(doc, node) else { return };
    if let Some(Object::Array(names)) = d.get(b"Names").ok().and_then(|n| resolve(doc, n)) {
        for pair in names.chunks(2) {
            if let [key, spec] = pair {
                if let Ok(id) = spec.as_reference() {
                    seen.insert(id);
                }
                let name = spec_name(doc, spec).or_else(|| resolve(doc, key).and_then(text_of)).unwrap_or_default();
                found.push((name, spec));
            }
        }
    }
    if let Some(Object::Array(kids)) = d.get(b"Kids").ok().and_then(|k| resolve(doc, k)) {
        for kid in kids {
            walk_name_tree(doc, kid, depth + 1, seen, found);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn sample(path: &str) -> Vec<u8> {
        std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples").join(path)).unwrap()
    }

    /// A one-page PDF drawing "Total TTC 1 200,00" in render mode `mode`, in the page's
    /// own content or, as ocrmypdf grafts its layer, in a form the page draws.
    fn drawn(mode: i64, in_form: bool) -> Vec<u8> {
        use lopdf::content::{Content, Operation};
        use lopdf::{dictionary, Stream};
        let mut doc = Document::with_version("1.5");
        let pages_id = doc.new_object_id();
        let font = doc.add_object(dictionary! { "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica" });
        let text = Content {
            operations: vec![
                Operation::new("BT", vec![]),
                Operation::new("Tr", vec![mode.into()]),
                Operation::new("Tf", vec!["F1".into(), 12.into()]),
                Operation::new("Td", vec![100.into(), 600.into()]),
                Operation::new("Tj", vec![Object::string_literal("Total TTC 1 200,00")]),
                Operation::new("ET", vec![]),
            ],
        }
        .encode()
        .unwrap();
        let fonts = dictionary! { "Font" => dictionary! { "F1" => font } };
        let (content, resources) = if in_form {
            let form = doc.add_object(Stream::new(
                dictionary! { "Type" => "XObject", "Subtype" => "Form", "BBox" => vec![0.into(), 0.into(), 595.into(), 842.into()], "Resources" => fonts },
                text,
            ));
            (b"q /Fm1 Do Q".to_vec(), dictionary! { "XObject" => dictionary! { "Fm1" => form } })
        } else {
            (text, fonts)
        };
        let content = doc.add_object(Stream::new(dictionary! {}, content));
        let page = doc.add_object(dictionary! { "Type" => "Page", "Parent" => pages_id, "Contents" => content, "Resources" => resources });
        doc.objects.insert(
            pages_id,
            Object::Dictionary(
                dictionary! { "Type" => "Pages", "Kids" => vec![page.into()], "Count" => 1, "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()] },
            ),
        );
        let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
        doc.trailer.set("Root", catalog);
        let mut out = Vec::new();
        doc.save_to(&mut out).unwrap();
        out
    }

    /// Text drawn invisibly is an OCR layer over a scan, in the page or in a form it draws;
    /// text drawn to be seen (mode 0) is the document's own.
    #[test]
    fn an_ocr_layer_is_told_from_printed_text() {
        let structure = |bytes: &[u8]| parse_structure(bytes, &Limits::default(), &Budget::new(Duration::from_secs(30))).unwrap().invisible_text;
        assert!(!structure(&drawn(0, false)));
        assert!(structure(&drawn(3, false)));
        assert!(structure(&drawn(3, true)));
        assert!(!structure(&drawn(0, true)));
        assert!(!structure(&sample("factures/facture-FA-2024-0042.pdf")));
    }

    #[test]
    fn text_knows_its_pages() {
        let doc = parse(&sample("annuaire/rapport-audit-ad.pdf"), &Limits::default(), &Budget::new(Duration::from_secs(30))).unwrap();
        assert_eq!(doc.info.pages, 40);
        assert_eq!(doc.page_starts.len(), 40);
        let at = doc.text.find("Constat et recommandation n° 17").unwrap();
        assert_eq!(doc.page_at(at), Some(17));
        assert_eq!(doc.page_at(0), Some(1));
    }

    #[test]
    fn signatures_and_embedded_invoices_are_found() {
        let signed = parse(&sample("divers/attestation-signee.pdf"), &Limits::default(), &Budget::new(Duration::from_secs(30))).unwrap();
        let sig = &signed.info.signatures[0];
        assert_eq!(sig.sub_filter.as_deref(), Some("adbe.pkcs7.detached"));
        assert!(sig.covers_whole_file && sig.covers_revision && !sig.changed_after_signing, "{sig:?}");
        assert_eq!(sig.byte_range.len(), 4);
        assert_eq!(sig.digest_valid, Some(true), "{sig:?}");
        assert_eq!(sig.digest_algorithm.as_deref(), Some("sha256"));
        assert_eq!(sig.signer_subject.as_deref(), Some("O=CH Exemple,CN=Jean Exemple (test)"));

        // One letter of the signed bytes changed (the producer, inside the first range):
        // the file still parses, the signature no longer matches.
        let mut tampered = sample("divers/attestation-signee.pdf");
        let at = tampered.windows(16).position(|w| w == b"caregate samples").unwrap();
        assert!((at as i64) < sig.byte_range[1]);
        tampered[at + 7] = b'X';
        let parsed = parse(&tampered, &Limits::default(), &Budget::new(Duration::from_secs(30))).unwrap();
        assert_eq!(parsed.info.signatures[0].digest_valid, Some(false));
        // An incremental update appended after signing: the signed revision is intact and
        // still valid, and the file says it changed since.
        let mut updated = sample("divers/attestation-signee.pdf");
        updated.extend_from_slice(b"\n1 0 obj\n<< /Type /Catalog >>\nendobj\n%%EOF\n");
        let later = &parse(&updated, &Limits::default(), &Budget::new(Duration::from_secs(30))).unwrap().info.signatures[0];
        assert!(later.covers_revision && later.changed_after_signing && !later.covers_whole_file, "{later:?}");
        assert_eq!(later.digest_valid, Some(true));
        assert!(!covers_a_revision(&updated, &[0, 10, 5, 10]) && !covers_a_revision(&updated, &[1, 2]));
        // Garbage where the CMS should be: not judged, never a panic.
        let garbage = SignatureInput {
            contents: b"\x30\x82\xff\xff",
            file: &tampered,
            byte_range: &sig.byte_range,
            sub_filter: sig.sub_filter.as_deref(),
            covers_revision: true,
            claimed_time: None,
            certification: None,
            modification_level: ModificationLevel::None,
            permitted: ModificationLevel::Annotations,
            later_document_timestamp: false,
        };
        let (anchors, dss) = (TrustAnchors::default(), Dss::default());
        let judged = signature::validate(&garbage, &Context { anchors: &anchors, dss: &dss, now: chrono::Utc::now() });
        assert!(judged.digest_valid.is_none());
        assert!(cms_signer(b"\x30\x82\xff\xff").subject.is_none());

        let fx = parse(&sample("factures/facturx-en16931-FA-2024-0063.pdf"), &Limits::default(), &Budget::new(Duration::from_secs(30))).unwrap();
        assert_eq!(fx.info.embedded_files, ["factur-x.xml"]);
        let inv = fx.invoice.unwrap().unwrap();
        assert_eq!(inv.number.as_deref(), Some("FA-2024-0063"));
        assert_eq!(inv.profile.as_deref(), Some("en16931"));
    }
}
