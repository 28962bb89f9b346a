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
