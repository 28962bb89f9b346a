//! Factur-X page against XML on the real samples (`../shared/real-samples`, or
//! `CAREGATE_REAL_SAMPLES`): every Factur-X of `facturx/` that `truth.json` marks
//! `needs_review` (its page shows another invoice than its XML) is flagged
//! `facturx_page_mismatch`, and no Factur-X whose page and XML agree is, wherever it
//! sits. A clone without the directory says so and skips.

use std::path::{Path, PathBuf};

use caregate_extract::{analyse, Limits, Source};

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
    let limits = Limits::default();
    let (mut flagged, mut agreeing, mut wrong) = (0, 0, Vec::new());
    for (rel, t) in truth.iter().filter(|(rel, _)| rel.ends_with(".pdf")) {
        let path = root.join(rel);
        let src = Source { path: Path::new(&path), name: rel, media_type: "application/pdf", xml_root: None };
        let a = analyse(&src, &limits);
        if a.format != "facturx" {
            continue;
        }
        let said: Vec<&str> = a.findings.iter().filter(|f| f.code == "facturx_page_mismatch").map(|f| f.message.as_str()).collect();
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
        a.findings.iter().filter(|f| f.code == "facturx_page_mismatch").map(|f| (f.pointer.clone().unwrap_or_default(), f.message.clone())).collect()
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
