//! Factur-X page against XML, on files nobody here tuned for: the real samples
//! (`../shared/real-samples`, or `CAREGATE_REAL_SAMPLES`), where every Factur-X of
//! `facturx/` that `truth.json` marks `needs_review` (its page shows another invoice than
//! its XML) is flagged `facturx_page_mismatch` and no Factur-X whose page and XML agree
//! is, wherever it sits; one of our samples with its XML swapped for other totals; and
//! the generated corpus's pages against their own invoice and another. A clone without
//! the real samples or the corpus says so and skips.

use caregate_schemas::FindingCode;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use caregate_extract::facturx::page_mismatches;
use caregate_extract::{analyse, Limits, Source};
use caregate_schemas::extracted::{Invoice, InvoiceSource};
use chrono::NaiveDate;
use rust_decimal::Decimal;

fn real_samples() -> Option<PathBuf> {
    let dir = std::env::var("CAREGATE_REAL_SAMPLES")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/real-samples"));
    dir.join("truth.json").is_file().then_some(dir)
}

#[test]
fn every_factur_x_whose_page_and_xml_disagree_is_flagged_and_no_other() {
    let Some(root) = real_samples() else {
        eprintln!("no real samples (../shared/real-samples or CAREGATE_REAL_SAMPLES): skipped");
        return;
    };
    let truth: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&std::fs::read(root.join("truth.json")).unwrap()).unwrap();
    // Scans are left to the OCR pool: a Factur-X's page is compared only where it has text.
    let limits = Limits { defer_ocr: true, ..Limits::default() };
    let (mut flagged, mut agreeing, mut wrong) = (0, 0, Vec::new());
    for (rel, t) in truth.iter().filter(|(rel, _)| rel.ends_with(".pdf")) {
        let path = root.join(rel);
        let src = Source { path: Path::new(&path), name: rel, media_type: "application/pdf", xml_root: None };
        let a = analyse(&src, &limits);
        if a.format != "facturx" {
            continue;
        }
        let said: Vec<&str> = a.findings.iter().filter(|f| f.code == FindingCode::FacturxPageMismatch).map(|f| f.message.as_str()).collect();
        let disagree = rel.starts_with("facturx/") && t["status"] == "needs_review";
        println!("{rel}: {}", if said.is_empty() { "page and XML agree".to_owned() } else { said.join(" | ") });
        match (disagree, said.is_empty()) {
            (true, false) => flagged += 1,
            (false, true) => agreeing += 1,
            (true, true) => wrong.push(format!("{rel}: page and XML disagree, not flagged")),
            (false, false) => wrong.push(format!("{rel}: page and XML agree, flagged: {said:?}")),
        }
    }
    println!("{flagged} disagreeing Factur-X flagged, {agreeing} agreeing left alone");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert!(flagged >= 2 && agreeing >= 5, "the samples hold Factur-X both ways: {flagged} flagged, {agreeing} agreeing");
}

/// A Factur-X of our samples, and the same file with its embedded XML changed to other
/// totals (as a producer attaching a stale or foreign XML would): the first is left
/// alone, the second is flagged on each total with both values, and its fields are still
/// the XML's.
#[test]
fn a_factur_x_whose_xml_states_other_totals_than_its_page_is_flagged() {
    let sample = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../samples/factures/facturx-basic-FA-2024-0062.pdf");
    let read = |path: &Path| analyse(&Source { path, name: "facture.pdf", media_type: "application/pdf", xml_root: None }, &Limits::default());
    let mismatches = |a: &caregate_extract::Analysis| -> Vec<(String, String)> {
        a.findings.iter().filter(|f| f.code == FindingCode::FacturxPageMismatch).map(|f| (f.pointer.clone().unwrap_or_default(), f.message.clone())).collect()
    };
    let original = read(&sample);
    assert_eq!(original.format, "facturx");
    assert_eq!(mismatches(&original), Vec::new());

    let mut doc = lopdf::Document::load(&sample).unwrap();
    let mut swapped = 0;
    for object in doc.objects.values_mut() {
        let lopdf::Object::Stream(stream) = object else { continue };
        if stream.dict.get(b"Type").and_then(|t| t.as_name()).ok() != Some(b"EmbeddedFile".as_slice()) {
            continue;
        }
        let xml = String::from_utf8(stream.decompressed_content().unwrap_or_else(|_| stream.content.clone())).unwrap();
        assert!(xml.contains(">2940.60<"), "the sample's XML states its page's total");
        let other = xml.replace(">2450.50<", ">3450.50<").replace(">490.10<", ">690.10<").replace(">2940.60<", ">4140.60<");
        stream.set_plain_content(other.into_bytes());
        swapped += 1;
    }
    assert_eq!(swapped, 1, "one embedded XML");
    let dir = tempfile::tempdir().unwrap();
    let changed = dir.path().join("facture.pdf");
    doc.save(&changed).unwrap();

    let a = read(&changed);
    assert_eq!(a.format, "facturx");
    let found = mismatches(&a);
    let fields: Vec<&str> = found.iter().map(|(field, _)| field.as_str()).collect();
    assert_eq!(fields, ["total_ht", "total_tva", "total_ttc"], "{found:?}");
    assert!(found[2].1.contains("2940,60") && found[2].1.contains("4140,60"), "both values: {}", found[2].1);
    assert_eq!(caregate_schemas::Status::for_findings(&a.findings), caregate_schemas::Status::NeedsReview);
    let fields = a.fields.to_json();
    assert_eq!((fields["number"].as_str(), fields["total_ttc"].as_str()), (Some("FA-2024-0062"), Some("4140.60")), "the fields stay the XML's");
}

/// A corpus `scripts/make-corpus.py` wrote (`CAREGATE_CORPUS`, or one under
/// `~/.cache/caregate-corpus/`, as `tests/it/corpus.rs` makes it): any version will do,
/// its truth file says what its own pages print.
fn generated_corpus() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("CAREGATE_CORPUS") {
        return Some(PathBuf::from(dir));
    }
    let cache = PathBuf::from(std::env::var("HOME").ok()?).join(".cache/caregate-corpus");
    let mut made: Vec<PathBuf> = std::fs::read_dir(cache).ok()?.filter_map(|e| e.ok().map(|e| e.path())).filter(|d| d.join("truth.json").is_file()).collect();
    made.sort();
    made.pop()
}

/// Each text invoice of the generated corpus (Chromium, LibreOffice, Ghostscript
/// layouts) held against an XML that says what its page says is left alone; against an
/// XML of another invoice (number, date, seller, total), each of those fields the page
/// gives is flagged.
#[test]
fn the_corpus_pages_against_their_own_invoice_and_another() {
    let Some(dir) = generated_corpus() else {
        eprintln!("no generated corpus (CAREGATE_CORPUS or ~/.cache/caregate-corpus, made by tests/it/corpus.rs): skipped");
        return;
    };
    let truth: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&std::fs::read(dir.join("truth.json")).unwrap()).unwrap();
    let limits = Limits::default();
    let (mut pages, mut wrong) = (0, Vec::new());
    for (rel, t) in truth.iter().filter(|(rel, t)| t["kind"] == "invoice" && rel.ends_with(".pdf") && !rel.starts_with("scans")) {
        let layout = caregate_extract::layout::read_pdf(&dir.join(rel), &limits, &caregate_extract::Budget::new(std::time::Duration::from_secs(60))).unwrap();
        let text = layout.text();
        let page = caregate_extract::invoice_text::invoice_from_layout(&layout, &text);
        let said = |k: &str| t[k].as_str().map(str::to_owned);
        let amount = |k: &str| t[k].as_str().map(|v| Decimal::from_str(v).unwrap());
        let xml = Invoice {
            number: said("number"),
            type_code: Some("380".into()),
            issue_date: said("issue_date").map(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d").unwrap()),
            seller_name: said("seller_name"),
            seller_siret: said("seller_siret"),
            seller_siren: said("seller_siren"),
            seller_legal_ids: Vec::new(),
            vat_id: said("vat_id"),
            total_ht: amount("total_ht"),
            total_tva: amount("total_tva"),
            total_ttc: amount("total_ttc"),
            currency: said("currency"),
            profile: None,
            source: InvoiceSource::Facturx,
            locations: Default::default(),
            confidence: Default::default(),
        };
        let agree = page_mismatches(&page, &text, &xml);
        if !agree.is_empty() {
            wrong.push(format!("{rel}: its own invoice flagged: {:?}", agree.iter().map(|f| &f.message).collect::<Vec<_>>()));
        }
        let other = Invoice {
            number: Some("ZZ-1999-0001".into()),
            issue_date: NaiveDate::from_ymd_opt(2019, 3, 4),
            seller_siret: Some("99999999800010".into()),
            seller_siren: Some("999999998".into()),
            vat_id: xml.vat_id.as_ref().map(|_| "FR11999999998".to_owned()),
            total_ttc: xml.total_ttc.map(|ttc| ttc + Decimal::from(1000)),
            ..xml.clone()
        };
        let flagged: Vec<String> = page_mismatches(&page, &text, &other).into_iter().filter_map(|f| f.pointer).collect();
        let expected: Vec<&str> = [
            ("number", page.number.is_some()),
            ("issue_date", page.issue_date.is_some()),
            ("seller_siren", page.seller_siren().is_some()),
            ("seller_siret", page.seller_siret.is_some()),
            ("vat_id", page.vat_id.is_some() && xml.vat_id.is_some()),
            ("total_ttc", page.total_ttc.is_some()),
        ]
        .into_iter()
        .filter_map(|(field, read)| read.then_some(field))
        .collect();
        if flagged != expected || expected.len() < 4 {
            wrong.push(format!("{rel}: another invoice gives {flagged:?}, the page read {expected:?}"));
        }
        pages += 1;
    }
    assert!(pages >= 8, "{pages} text invoices in {}", dir.display());
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
