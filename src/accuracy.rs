//! `caregate accuracy`: reads every file of a corpus the way the worker does (identify,
//! then extract and classify; no virus scan, no storage) and compares the kind, status
//! and key fields with the corpus's truth file (`samples.expected.json`). Also times PDF text extraction next
//! to `pdftotext` on the same PDFs and measures word recall against it.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::Context;
use caregate_extract::{Analysis, Limits};
use caregate_schemas::Status;
use caregate_workers::identify::{identify_file, Identity};
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
    pub findings: Vec<String>,
}

/// The truth file of a corpus sits next to it (`samples` → `samples.expected.json`), so
/// that submitting the corpus does not submit it too.
pub fn load_expected(dir: &Path) -> anyhow::Result<BTreeMap<String, Expected>> {
    let path = dir.with_extension("expected.json");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// Identify, then read, as the pipeline does after a clean scan.
pub fn read_file(path: &Path, name: &str, reader: &Reader) -> anyhow::Result<(Identity, Analysis)> {
    let identity = identify_file(path, name).with_context(|| format!("reading {}", path.display()))?;
    let analysis = reader.read(&identity, path, name)?;
    Ok((identity, analysis))
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
        let (identity, a) = read_file(&path, &rel, reader)?;
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
            if !findings.iter().any(|f| &f.code == code) {
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
            worker_text = read_file(p, &name, reader)?.1.text;
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
    let (_, analysis) = read_file(pdf, &name, reader)?;
    let text = analysis.text;
    let o = Command::new("pdftotext").arg("-q").arg(pdf).arg("-").output().context("running pdftotext (Debian poppler-utils)")?;
    Ok(recall_of(&text, &String::from_utf8_lossy(&o.stdout)))
}

/// Invoice fields a truth file may state, compared when its kind is an invoice's.
pub const INVOICE_FIELDS: [&str; 10] =
    ["number", "issue_date", "seller_name", "seller_siren", "seller_siret", "vat_id", "total_ht", "total_tva", "total_ttc", "currency"];

/// A corpus scored against a truth file in the shape of `../shared/real-samples/truth.json`
/// (per file: `kind` and what the file says), field by field, per folder (the format or
/// the producer).
#[derive(Debug, Default)]
pub struct TruthScore {
    /// (folder, field) → (right, scored).
    pub fields: BTreeMap<(String, String), (u32, u32)>,
    pub misses: Vec<String>,
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
        let (_, a) = read_file(&root.join(rel), rel, reader)?;
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
            let s = score.fields.entry((folder.clone(), field.to_owned())).or_default();
            s.0 += ok as u32;
            s.1 += 1;
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
