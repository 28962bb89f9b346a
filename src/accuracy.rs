//! `caregate accuracy`: reads every file of a corpus the way the worker does (identify,
//! then extract and classify; no virus scan, no storage) and compares the kind, status
//! and key fields with the corpus's truth file (`samples.expected.json`). Also times PDF text extraction next
//! to `pdftotext` on the same PDFs and measures word recall against it.

pub mod dossiers;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::Context;
use caregate_extract::{Analysis, Limits};
use caregate_schemas::{FindingCode, Status};
use caregate_workers::read::Reader;
use serde::Deserialize;
use serde_json::Value;

/// What a sample should read as. Field values are compared as text (`"10080.00"`).
#[derive(Debug, Deserialize)]
pub struct Expected {
    pub kind: String,
    pub status: Status,
    #[serde(default)]
    pub fields: BTreeMap<String, Value>,
    /// Finding codes that must be present.
    #[serde(default)]
    pub findings: Vec<caregate_schemas::FindingCode>,
}

/// The truth file of a corpus sits next to it (`samples` → `samples.expected.json`), so
/// that submitting the corpus does not submit it too.
pub fn load_expected(dir: &Path) -> anyhow::Result<BTreeMap<String, Expected>> {
    let path = dir.with_extension("expected.json");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// A field of the record as text, for comparison: `"a.b"` walks into objects.
pub fn field_text(fields: &Value, key: &str) -> Option<String> {
    let mut v = fields;
    for part in key.split('.') {
        v = match v {
            Value::Array(a) => a.get(part.parse::<usize>().ok()?)?,
            _ => v.get(part)?,
        };
    }
    Some(match v {
        Value::String(s) => s.clone(),
        Value::Null => return None,
        other => other.to_string(),
    })
}

pub struct Row {
    pub path: String,
    pub expected_kind: String,
    pub kind: String,
    pub confidence: f32,
    pub expected_status: Status,
    pub status: Status,
    pub fields_right: usize,
    pub fields_total: usize,
    pub wrong: Vec<String>,
}

impl Row {
    pub fn all_right(&self) -> bool {
        self.kind == self.expected_kind && self.status == self.expected_status && self.wrong.is_empty()
    }
}

pub fn files_under(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)? {
            let p = e?.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

pub fn run(dir: &Path, reader: &Reader) -> anyhow::Result<Vec<Row>> {
    let expected = load_expected(dir)?;
    let mut rows = Vec::new();
    for path in files_under(dir)? {
        let rel = path.strip_prefix(dir)?.to_string_lossy().replace('\\', "/");
        let Some(exp) = expected.get(&rel) else {
            anyhow::bail!("{rel} has no entry in expected.json");
        };
        let (identity, a) = reader.read_file(&path, &rel)?;
        let mut findings = identity.findings.clone();
        findings.extend(a.findings.iter().cloned());
        let mut wrong = Vec::new();
        let fields = a.fields.to_json();
        for (key, want) in &exp.fields {
            let want = match want {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let got = field_text(&fields, key);
            if got.as_deref() != Some(want.as_str()) {
                wrong.push(format!("{key}: {got:?} ≠ {want:?}"));
            }
        }
        for code in &exp.findings {
            if !findings.iter().any(|f| f.code == *code) {
                wrong.push(format!("finding {code} missing"));
            }
        }
        rows.push(Row {
            path: rel,
            expected_kind: exp.kind.clone(),
            kind: a.classification.kind.as_str().to_owned(),
            confidence: a.classification.confidence,
            expected_status: exp.status,
            status: Status::for_findings(&findings),
            fields_right: exp.fields.len() - wrong.iter().filter(|w| !w.starts_with("finding")).count(),
            fields_total: exp.fields.len(),
            wrong,
        });
    }
    Ok(rows)
}

pub fn markdown(rows: &[Row]) -> String {
    let mut out = String::from("| file | kind (expected) | conf. | status (expected) | fields right | notes |\n|---|---|---|---|---|---|\n");
    for r in rows {
        let mark = |ok: bool| if ok { "✓" } else { "✗" };
        out += &format!(
            "| {} | {} {} ({}) | {:.2} | {} {} ({}) | {}/{} | {} |\n",
            r.path,
            mark(r.kind == r.expected_kind),
            r.kind,
            r.expected_kind,
            r.confidence,
            mark(r.status == r.expected_status),
            r.status,
            r.expected_status,
            r.fields_right,
            r.fields_total,
            r.wrong.join("; ")
        );
    }
    let kinds = rows.iter().filter(|r| r.kind == r.expected_kind).count();
    let statuses = rows.iter().filter(|r| r.status == r.expected_status).count();
    let (fr, ft) = rows.iter().fold((0, 0), |(a, b), r| (a + r.fields_right, b + r.fields_total));
    out += &format!(
        "\n{} files: kind right {kinds}/{n}, status right {statuses}/{n}, key fields right {fr}/{ft}, files entirely right {}/{n}.\n",
        rows.len(),
        rows.iter().filter(|r| r.all_right()).count(),
        n = rows.len()
    );
    out
}

fn words(text: &str) -> HashSet<String> {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| w.chars().count() >= 2).map(caregate_extract::french::fold).collect()
}

/// PDF text next to `pdftotext` on the same PDFs, each read `runs` times: the worker's
/// read (`reader`: its lasting child process, started once, poppler linked in it, lopdf's structure,
/// the classification), and lopdf's in-process text alone (the fallback reader). Scans
/// (no text for pdftotext) are not timed through the worker, whose OCR they would time.
pub fn pdf_text_bench(dir: &Path, runs: usize, reader: &Reader) -> anyhow::Result<String> {
    let limits = Limits::default();
    let budget = caregate_extract::Budget::new(std::time::Duration::from_secs(600));
    let pdfs: Vec<PathBuf> = files_under(dir)?.into_iter().filter(|p| std::fs::read(p).map(|b| b.starts_with(b"%PDF")).unwrap_or(false)).collect();
    let mut out = String::from(
        "| PDF | worker read ms | lopdf text ms | pdftotext ms | pdftotext / worker | recall, worker | recall, lopdf |\n|---|---|---|---|---|---|---|\n",
    );
    let (mut worker_total, mut lopdf_total, mut theirs_total) = (0f64, 0f64, 0f64);
    let (mut found_worker, mut found_lopdf, mut words_total) = (0usize, 0usize, 0usize);
    let recall = |found: usize, want: usize| format!("{:.1} % ({found}/{want})", 100.0 * found as f64 / want.max(1) as f64);
    for p in &pdfs {
        let bytes = std::fs::read(p)?;
        let start = Instant::now();
        let mut reference = String::new();
        for _ in 0..runs {
            let o = Command::new("pdftotext").arg("-q").arg(p).arg("-").output().context("running pdftotext (Debian poppler-utils)")?;
            reference = String::from_utf8_lossy(&o.stdout).into_owned();
        }
        let theirs = start.elapsed().as_secs_f64() * 1000.0 / runs as f64;
        let start = Instant::now();
        let mut text = String::new();
        for _ in 0..runs {
            text = caregate_extract::pdf::parse(&bytes, &limits, &budget).map(|doc| doc.text).unwrap_or_default();
        }
        let lopdf = start.elapsed().as_secs_f64() * 1000.0 / runs as f64;
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let (lopdf_found, want) = recall_of(&text, &reference);
        let rel = p.strip_prefix(dir)?.display();
        if want == 0 {
            out += &format!("| {rel} | (scan: OCR) | {lopdf:.2} | {theirs:.2} | — | n/a (no text) | n/a |\n");
            continue;
        }
        let start = Instant::now();
        let mut worker_text = String::new();
        for _ in 0..runs {
            worker_text = reader.read_file(p, &name)?.1.text;
        }
        let worker = start.elapsed().as_secs_f64() * 1000.0 / runs as f64;
        let (worker_found, _) = recall_of(&worker_text, &reference);
        out += &format!(
            "| {rel} | {worker:.2} | {lopdf:.2} | {theirs:.2} | {:.2}× | {} | {} |\n",
            theirs / worker.max(1e-9),
            recall(worker_found, want),
            recall(lopdf_found, want)
        );
        worker_total += worker;
        lopdf_total += lopdf;
        theirs_total += theirs;
        found_worker += worker_found;
        found_lopdf += lopdf_found;
        words_total += want;
    }
    out += &format!(
        "\nPDFs with text, {runs} runs each: the worker's read {worker_total:.1} ms, lopdf's text alone {lopdf_total:.1} ms, pdftotext {theirs_total:.1} ms (pdftotext / worker = {:.2}; every tool's process start included); word recall: worker {}, lopdf {}.\n",
        theirs_total / worker_total.max(1e-9),
        recall(found_worker, words_total),
        recall(found_lopdf, words_total)
    );
    Ok(out)
}

/// Of `reference`'s words, how many `text` has too: (found, all).
fn recall_of(text: &str, reference: &str) -> (usize, usize) {
    let want = words(reference);
    let got = words(text);
    (want.iter().filter(|w| got.contains(*w)).count(), want.len())
}

/// The words of `pdftotext`'s text of a PDF that caregate's text has too, as `reader`
/// reads the file (the worker's text: poppler's layout where it is installed): (found,
/// all).
pub fn word_recall(pdf: &Path, reader: &Reader) -> anyhow::Result<(usize, usize)> {
    let name = pdf.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let (_, analysis) = reader.read_file(pdf, &name)?;
    let text = analysis.text;
    let o = Command::new("pdftotext").arg("-q").arg(pdf).arg("-").output().context("running pdftotext (Debian poppler-utils)")?;
    Ok(recall_of(&text, &String::from_utf8_lossy(&o.stdout)))
}

/// Invoice fields a truth file may state, compared when its kind is an invoice's.
pub const INVOICE_FIELDS: [&str; 10] =
    ["number", "issue_date", "seller_name", "seller_siren", "seller_siret", "vat_id", "total_ht", "total_tva", "total_ttc", "currency"];

/// The fields an invoice is found and paid by, scored apart per family: where a producer
/// loses one of them, a controller has to read the page again.
pub const INVOICE_KEY_FIELDS: [&str; 8] = ["number", "issue_date", "seller_name", "seller_siren", "seller_siret", "total_ht", "total_tva", "total_ttc"];

/// Producer families, as `/Producer` and `/Creator` name them (lower case), the ones that
/// say most first: a PDF whose creator is wkhtmltopdf, Word or a Factur-X library and
/// whose producer is only what printed or carried it (Qt, Quartz, pypdf, PDFBox) belongs
/// to the former. Needles are words ([`names`]); Word on a Mac writes its creator as
/// `Word` alone.
const PRODUCER_FAMILIES: [(&str, &[&str]); 27] = [
    ("wkhtmltopdf/Qt", &["wkhtmltopdf"]),
    ("Google Docs", &["google docs"]),
    ("Canva", &["canva"]),
    ("Crystal Reports", &["crystal reports", "powered by crystal", "business objects"]),
    ("Microsoft Reporting Services", &["microsoft reporting services", "microsoft sql server reporting services"]),
    ("Microsoft Word", &["microsoft® word", "microsoft word", "microsoft® office word", "=word", "for word", "winword"]),
    ("Microsoft Excel", &["microsoft® excel", "microsoft excel", "=excel", "for excel"]),
    ("Microsoft Print to PDF", &["microsoft: print to pdf", "microsoft print to pdf"]),
    ("factur-x Python lib", &["factur-x python lib"]),
    ("Mustang", &["mustangproject"]),
    ("intarsys", &["intarsys"]),
    ("LibreOffice/OpenOffice", &["libreoffice", "openoffice", "staroffice"]),
    ("Chromium/Skia", &["headlesschrome", "chromium", "chrome", "skia/pdf"]),
    ("Ghostscript", &["ghostscript"]),
    ("ReportLab", &["reportlab"]),
    ("groff", &["gropdf", "groff"]),
    ("wkhtmltopdf/Qt", &["qt"]),
    ("TCPDF/FPDF/dompdf", &["tcpdf", "fpdf", "dompdf", "mpdf"]),
    ("Apache FOP", &["apache fop", "fop"]),
    ("iText", &["itext*", "lowagie"]),
    ("pdftk", &["pdftk"]),
    ("Apache PDFBox", &["pdfbox"]),
    ("cairo", &["cairo"]),
    ("Apple Quartz", &["quartz pdfcontext", "quartz", "mac os x", "macos"]),
    ("Adobe Acrobat/PDF Library", &["acrobat", "adobe pdf library", "adobe illustrator", "adobe indesign", "adobe photoshop"]),
    ("pypdf", &["pypdf"]),
    ("pdfcpu", &["pdfcpu"]),
];

/// `needle` in `name` as a word of its own (`qt` in `Qt 4.8.6`, `fop` not in `fopen`), a
/// version glued to it allowed (`pypdf4`); a needle written `name*` may run on
/// (`itextsharp`), one written `=name` wants the whole name.
fn names(name: &str, needle: &str) -> bool {
    if let Some(whole) = needle.strip_prefix('=') {
        return name == whole;
    }
    let (needle, runs_on) = needle.strip_suffix('*').map_or((needle, false), |n| (n, true));
    name.match_indices(needle).any(|(i, _)| {
        let before = name[..i].chars().next_back();
        let after = name[i + needle.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && (runs_on || !after.is_some_and(char::is_alphabetic))
    })
}

/// The family of the program that wrote a PDF, from its `/Producer` and `/Creator`;
/// `"unknown"` when neither names one caregate knows.
pub fn producer_family(producer: Option<&str>, creator: Option<&str>) -> &'static str {
    let given: Vec<String> = [producer, creator].into_iter().flatten().map(|n| n.trim().to_lowercase()).filter(|n| !n.is_empty()).collect();
    PRODUCER_FAMILIES.iter().find(|(_, needles)| needles.iter().any(|needle| given.iter().any(|n| names(n, needle)))).map_or("unknown", |(family, _)| family)
}

/// What a file's reading depends on most: for a PDF with text its producer, for a scan
/// or a photo how it was captured (OCR reads it whoever made the page), for XML its
/// format (the structure is read, whoever wrote it), for a Factur-X PDF the embedded XML.
/// A PDF is image-only when OCR read it (or waits to): a page without text that OCR found
/// nothing on either is as likely blank as scanned, and keeps its producer.
pub fn family(media_type: &str, analysis: &Analysis) -> &'static str {
    let ocr_codes = [FindingCode::OcrPending, FindingCode::OcrLowConfidence, FindingCode::OcrUnprepared, FindingCode::SeveralDocuments];
    let by_ocr = analysis.fields.invoice().is_some_and(|i| i.source == caregate_schemas::extracted::InvoiceSource::Ocr)
        || analysis.findings.iter().any(|f| ocr_codes.contains(&f.code));
    match (analysis.format.as_ref(), media_type) {
        ("facturx", _) => "Factur-X",
        ("cii", _) => "CII",
        ("ubl", _) => "UBL",
        ("pingcastle", _) => "PingCastle",
        ("nmap", _) => "nmap",
        ("nessus", _) => "Nessus",
        ("openvas", _) => "OpenVAS",
        (_, "image/jpeg") => "JPEG image (photo or scan)",
        (_, "image/png") => "PNG image (scan)",
        (_, "image/tiff") => "TIFF image (scan)",
        (_, "application/pdf") if by_ocr => "image-only PDF",
        (_, "application/pdf") => {
            let info = analysis.fields.document.as_ref();
            producer_family(info.and_then(|i| i.producer.as_deref()), info.and_then(|i| i.creator.as_deref()))
        }
        _ => "unknown",
    }
}

/// A corpus scored against a truth file in the shape of `../shared/real-samples/truth.json`
/// (per file: `kind` and what the file says), field by field, per folder (the format or
/// the producer).
#[derive(Debug, Default)]
pub struct TruthScore {
    /// (folder, field) → (right, scored).
    pub fields: BTreeMap<(String, String), (u32, u32)>,
    /// (family, field) → (right, scored): the same fields by the program that wrote the
    /// file or the way it was captured ([`family`]).
    pub families: BTreeMap<(String, String), (u32, u32)>,
    /// File → (folder, family).
    pub files: BTreeMap<String, (String, String)>,
    pub misses: Vec<String>,
}

/// Right and scored per group, worst share first; among equal shares the group with more
/// misses first, as it weighs more on the total.
fn worst_first(cells: impl Iterator<Item = (String, (u32, u32))>) -> Vec<(String, (u32, u32))> {
    let mut groups: BTreeMap<String, (u32, u32)> = BTreeMap::new();
    for (group, (r, n)) in cells {
        let g = groups.entry(group).or_default();
        g.0 += r;
        g.1 += n;
    }
    let mut out: Vec<_> = groups.into_iter().filter(|(_, (_, n))| *n > 0).collect();
    // Shares compared as r1/n1 < r2/n2 ⇔ r1·n2 < r2·n1, exactly.
    out.sort_by(|(a, (ra, na)), (b, (rb, nb))| {
        (u64::from(*ra) * u64::from(*nb)).cmp(&(u64::from(*rb) * u64::from(*na))).then((nb - rb).cmp(&(na - ra))).then(a.cmp(b))
    });
    out
}

fn percent((r, n): (u32, u32)) -> String {
    format!("{:.1} %", 100.0 * r as f64 / n.max(1) as f64)
}

impl TruthScore {
    pub fn totals(&self) -> (u32, u32) {
        self.fields.values().fold((0, 0), |(r, n), (a, b)| (r + a, n + b))
    }

    /// Right over scored among the fields `keep` selects (folder, field).
    pub fn share(&self, keep: impl Fn(&str, &str) -> bool) -> (u32, u32) {
        self.fields.iter().filter(|((fo, fi), _)| keep(fo, fi)).fold((0, 0), |(r, n), (_, (a, b))| (r + a, n + b))
    }

    pub fn markdown(&self) -> String {
        let mut out = String::from("| folder | field | right |\n|---|---|---|\n");
        for ((folder, field), (r, n)) in &self.fields {
            out += &format!("| {folder} | {field} | {r}/{n} |\n");
        }
        let (right, total) = self.totals();
        out += &format!("\n{right}/{total} fields right ({:.1} %)\n", 100.0 * right as f64 / total.max(1) as f64);
        out += "\n";
        out += &self.by_family_markdown();
        out += "\n";
        out += &self.by_source_markdown();
        out += "\n";
        out += &self.key_fields_markdown();
        out
    }

    fn files_in(&self, keep: impl Fn(&str, &str) -> bool) -> usize {
        self.files.values().filter(|(folder, family)| keep(folder, family)).count()
    }

    /// Fields right per producer family ([`family`]), worst first.
    pub fn by_family_markdown(&self) -> String {
        let mut out = String::from("| family | files | fields right | % |\n|---|---|---|---|\n");
        for (family, s) in worst_first(self.families.iter().map(|((family, _), s)| (family.clone(), *s))) {
            out += &format!("| {family} | {} | {}/{} | {} |\n", self.files_in(|_, f| f == family), s.0, s.1, percent(s));
        }
        out
    }

    /// Fields right per source (the corpus's folder), worst first.
    pub fn by_source_markdown(&self) -> String {
        let mut out = String::from("| source | files | fields right | % |\n|---|---|---|---|\n");
        for (source, s) in worst_first(self.fields.iter().map(|((folder, _), s)| (folder.clone(), *s))) {
            out += &format!("| {source} | {} | {}/{} | {} |\n", self.files_in(|f, _| f == source), s.0, s.1, percent(s));
        }
        out
    }

    /// The invoice key fields ([`INVOICE_KEY_FIELDS`]) per family, worst first; families
    /// with no invoice are left out, a field their truth never states is `—`.
    pub fn key_fields_markdown(&self) -> String {
        let cell = |family: &str, field: &str| self.families.get(&(family.to_owned(), field.to_owned())).copied();
        let mut out = String::from("| family (invoice key fields) | number | issue date | seller | SIREN | SIRET | HT | TVA | TTC | all |\n|---|---|---|---|---|---|---|---|---|---|\n");
        let keys = self.families.iter().filter(|((_, field), _)| INVOICE_KEY_FIELDS.contains(&field.as_str()));
        for (family, all) in worst_first(keys.map(|((family, _), s)| (family.clone(), *s))) {
            let cells: Vec<String> = INVOICE_KEY_FIELDS.iter().map(|k| cell(&family, k).map_or("—".into(), |(r, n)| format!("{r}/{n}"))).collect();
            out += &format!("| {family} | {} | {}/{} ({}) |\n", cells.join(" | "), all.0, all.1, percent(all));
        }
        out
    }
}

/// Amounts compare as numbers, identifiers without the spaces they are printed with.
fn same_value(got: &Value, want: &Value) -> bool {
    match (got, want) {
        (Value::Null, Value::Null) => true,
        (Value::Null, _) | (_, Value::Null) => false,
        (Value::Object(_) | Value::Array(_) | Value::Bool(_), _) => got == want,
        _ => {
            let text = |v: &Value| match v {
                Value::String(s) => s.trim().replace(' ', ""),
                other => other.to_string(),
            };
            let (g, w) = (text(got), text(want));
            match (g.parse::<f64>(), w.parse::<f64>()) {
                (Ok(a), Ok(b)) => a == b,
                _ => g == w,
            }
        }
    }
}

/// Reads every file `truth` names under `root` as the worker does and scores it.
pub fn score_truth(root: &Path, truth: &BTreeMap<String, Value>, reader: &Reader) -> anyhow::Result<TruthScore> {
    let mut score = TruthScore::default();
    for (rel, t) in truth {
        let folder = rel.split('/').next().unwrap_or_default().to_owned();
        let (identity, a) = reader.read_file(&root.join(rel), rel)?;
        let family = family(&identity.media_type, &a).to_owned();
        score.files.insert(rel.clone(), (folder.clone(), family.clone()));
        let f = a.fields.to_json();
        let get = |k: &str| f.get(k).cloned().unwrap_or(Value::Null);
        let mut checks: Vec<(&str, Value, Value)> = vec![("kind", Value::String(a.classification.kind.as_str().into()), t["kind"].clone())];
        if matches!(t["kind"].as_str(), Some("invoice" | "credit_note" | "purchase_order")) {
            for k in INVOICE_FIELDS.iter().filter(|k| t.get(**k).is_some()) {
                checks.push((k, get(k), t[*k].clone()));
            }
        }
        if t.get("open_port_count").is_some() {
            let ports: usize = f["hosts"].as_array().map_or(0, |h| h.iter().map(|h| h["open_ports"].as_array().map_or(0, Vec::len)).sum());
            checks.push(("host_count", get("host_count"), t["host_count"].clone()));
            checks.push(("open_port_count", ports.into(), t["open_port_count"].clone()));
            checks.push(("completed", get("completed"), t["completed"].clone()));
        } else if t.get("by_severity").is_some() {
            checks.push(("host_count", get("host_count"), t["host_count"].clone()));
            checks.push(("by_severity", get("vulnerabilities"), t["by_severity"].clone()));
        }
        if t.get("by_severity_score_band").is_some() {
            checks.push(("by_severity", get("vulnerabilities"), t["by_severity_score_band"].clone()));
        }
        for k in ["domain", "maturity_level", "anssi_level"] {
            if t.get(k).is_some() {
                checks.push((k, get(k), t[k].clone()));
            }
        }
        if t.get("audit_date").is_some() {
            checks.push(("audit_date", get("date"), t["audit_date"].clone()));
        }
        // A PingCastle report's own engine, date and seal, as `real-samples` states them.
        if t["kind"] == "ad_audit_report" {
            for (field, key) in [("tool_version", "engine_version"), ("date", "date")] {
                if t.get(key).is_some() {
                    checks.push((field, get(field), t[key].clone()));
                }
            }
        }
        if t.get("integrity_expected").is_some() {
            checks.push(("integrity", get("integrity"), t["integrity_expected"].clone()));
        }
        if t.get("rule_count").is_some() {
            checks.push(("rule_count", f["rules"].as_array().map_or(0, Vec::len).into(), t["rule_count"].clone()));
        }
        for (field, got, want) in checks {
            let ok = same_value(&got, &want);
            for s in
                [score.fields.entry((folder.clone(), field.to_owned())).or_default(), score.families.entry((family.clone(), field.to_owned())).or_default()]
            {
                s.0 += ok as u32;
                s.1 += 1;
            }
            if !ok {
                score.misses.push(format!("{rel}: {field} = {got}, truth {want}"));
            }
        }
    }
    Ok(score)
}

/// A truth file: file → what it says.
pub fn load_truth(path: &Path) -> anyhow::Result<BTreeMap<String, Value>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use caregate_extract::Kind;
    use caregate_schemas::extracted::{Fields, PdfInfo};
    use caregate_schemas::{Finding, Severity};

    #[test]
    fn producers_as_pdfs_write_them_fall_into_their_family() {
        let chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36";
        // (producer, creator, family): strings copied from real files' info dictionaries.
        let cases: [(Option<&str>, Option<&str>, &str); 34] = [
            (Some("LibreOffice 7.0"), Some("Draw"), "LibreOffice/OpenOffice"),
            (Some("LibreOffice 6.2"), Some("Writer"), "LibreOffice/OpenOffice"),
            (Some("OpenOffice.org 3.2"), Some("Writer"), "LibreOffice/OpenOffice"),
            (Some("Skia/PDF m91"), Some("Chromium"), "Chromium/Skia"),
            (Some("Skia/PDF m156"), Some(chrome), "Chromium/Skia"),
            (Some("Skia/PDF m120 Google Docs Renderer"), None, "Google Docs"),
            (Some("GPL Ghostscript 10.00.0"), None, "Ghostscript"),
            (Some("ReportLab PDF Library - www.reportlab.com"), Some("(unspecified)"), "ReportLab"),
            // wkhtmltopdf prints through Qt, which names itself the producer.
            (Some("Qt 4.8.6"), Some("wkhtmltopdf 0.12.2.1"), "wkhtmltopdf/Qt"),
            (Some("Qt 5.15.2"), None, "wkhtmltopdf/Qt"),
            (Some("Microsoft® Word 2016"), Some("Microsoft® Word 2016"), "Microsoft Word"),
            (Some("Microsoft: Print To PDF"), Some("Microsoft® Word for Microsoft 365"), "Microsoft Word"),
            (Some("Microsoft: Print To PDF"), None, "Microsoft Print to PDF"),
            (Some("Adobe PDF Library 9.0"), Some("Acrobat PDFMaker 9.1 for Word"), "Microsoft Word"),
            (Some("macOS Version 10.15.7 (Build 19H2) Quartz PDFContext"), Some("Word"), "Microsoft Word"),
            (Some("Konik PDFBox-Carriage"), Some("Word"), "Microsoft Word"),
            (Some("TCPDF 6.0.023 (http://www.tcpdf.org)"), None, "TCPDF/FPDF/dompdf"),
            (Some("FPDF 1.81"), None, "TCPDF/FPDF/dompdf"),
            (Some("dompdf 2.0.3 + CPDF"), Some("DOMPDF"), "TCPDF/FPDF/dompdf"),
            (Some("Apache FOP Version 1.0"), Some("Apache FOP Version 1.0"), "Apache FOP"),
            (Some("iText® 5.1.3 ©2000-2011 1T3XT BVBA"), Some("bol.com"), "iText"),
            (Some("iTextSharp 4.1.0 (based on iText 2.1.0)"), Some("Symtrax - Compleo Suite"), "iText"),
            (Some("iText 2.0.8 (by lowagie.com)"), None, "iText"),
            (Some("pdftk 2.02 - www.pdftk.com"), Some("PDFsam"), "pdftk"),
            (Some("Canva"), Some("Canva"), "Canva"),
            (Some("Powered By Crystal"), Some("Crystal Reports"), "Crystal Reports"),
            (Some("Mac OS X 10.9.4 Quartz PDFContext"), Some("Microsoft Reporting Services 9.0"), "Microsoft Reporting Services"),
            (Some("PyPDF4"), Some("factur-x Python lib v2.3 by Alexis de Lattre"), "factur-x Python lib"),
            (Some("PyPDF2"), None, "pypdf"),
            (Some("My Application (via mustangproject.org 2.0.1)"), Some("jstaerk"), "Mustang"),
            (Some("cairo 1.16.0 (https://cairographics.org)"), None, "cairo"),
            (Some("Adobe PDF library 9.90"), Some("Adobe Illustrator CS5"), "Adobe Acrobat/PDF Library"),
            (Some("pdfcpu v0.11.1 dev"), None, "pdfcpu"),
            (Some("gropdf version 1.22.4"), Some("groff version 1.22.4"), "groff"),
        ];
        for (producer, creator, family) in cases {
            assert_eq!(producer_family(producer, creator), family, "{producer:?} / {creator:?}");
        }
        // Nothing said, or a short name inside another word: no family guessed.
        for (producer, creator) in
            [(None, None), (Some(" "), Some("")), (Some("fopen-writer 2"), None), (Some("Qtip renderer"), None), (Some("Canvas export"), Some("WordPerfect"))]
        {
            assert_eq!(producer_family(producer, creator), "unknown", "{producer:?} / {creator:?}");
        }
    }

    fn analysis(format: &'static str, finding: Option<FindingCode>, producer: Option<&str>) -> Analysis {
        let mut a = Analysis::unread(format, Kind::Other, Finding::new(FindingCode::Unreadable, Severity::Info, "x"));
        a.findings = finding.into_iter().map(|code| Finding::new(code, Severity::Warning, "x")).collect();
        a.fields = Fields { document: Some(PdfInfo { producer: producer.map(str::to_owned), ..PdfInfo::default() }), ..Fields::default() };
        a
    }

    #[test]
    fn a_scan_is_of_its_capture_and_structured_data_of_its_format() {
        // A scan wrapped by FOP: OCR reads it, whatever wrote the wrapper.
        assert_eq!(family("application/pdf", &analysis("pdf", Some(FindingCode::OcrLowConfidence), Some("Apache FOP Version 1.0"))), "image-only PDF");
        assert_eq!(family("application/pdf", &analysis("pdf", None, Some("Apache FOP Version 1.0"))), "Apache FOP");
        // A blank page LibreOffice wrote has no text and nothing for OCR either.
        assert_eq!(family("application/pdf", &analysis("pdf", Some(FindingCode::NoText), Some("LibreOffice 6.2"))), "LibreOffice/OpenOffice");
        assert_eq!(family("application/pdf", &analysis("facturx", None, Some("PyPDF4"))), "Factur-X");
        assert_eq!(family("image/jpeg", &analysis("image", None, None)), "JPEG image (photo or scan)");
        assert_eq!(family("application/xml", &analysis("openvas", None, None)), "OpenVAS");
        assert_eq!(family("text/csv", &analysis("csv", None, None)), "unknown");
    }

    #[test]
    fn groups_are_listed_worst_share_first() {
        let cells = [("a", (9, 10)), ("b", (1, 2)), ("a", (1, 10)), ("c", (4, 4)), ("d", (2, 4)), ("e", (0, 0))];
        let order: Vec<(String, (u32, u32))> = worst_first(cells.into_iter().map(|(g, s)| (g.to_owned(), s)));
        // a is 10/20, the same share as b and d, and misses the most of them.
        let names: Vec<&str> = order.iter().map(|(g, _)| g.as_str()).collect();
        assert_eq!(names, ["a", "d", "b", "c"]);
        assert_eq!(order[0].1, (10, 20));
    }
}
