//! A Factur-X whose page and embedded XML disagree (`facturx_page_mismatch`, found by
//! the extractor) goes to a controller, and so does D1.FIN with it: the XML's fields may
//! all be right, the judge never lets such an invoice meet the objective on its own.

use caregate_schemas::FindingCode;
use std::str::FromStr;

use caregate_schemas::extracted::{Content, Fields, Invoice, InvoiceSource};
use caregate_schemas::{EvidenceId, EvidenceRecord, Finding, Kind, Severity, Sha256Digest, Status, SubmissionId, SubmissionRef, Verdict};
use caregate_verify::{judge, Dossier, Referentials};
use rust_decimal::Decimal;

fn facturx(findings: Vec<Finding>) -> EvidenceRecord {
    let sub = SubmissionRef {
        submission_id: SubmissionId::new(),
        establishment: "750000001".into(),
        campaign: "care-d1-2024".into(),
        objectives: vec!["D1.FIN".into()],
        category: Some("public".into()),
    };
    let id = EvidenceId::new();
    let mut rec = EvidenceRecord::received(id, sub, "facturx-FA-2024-0062.pdf".into(), Sha256Digest::of(b"FA-2024-0062"), 1, id.quarantine_key());
    let amount = |s: &str| Some(Decimal::from_str(s).unwrap());
    rec.kind = Some(Kind::Invoice);
    rec.fields = Fields::of(Content::Invoice(Invoice {
        number: Some("FA-2024-0062".into()),
        type_code: Some("380".into()),
        issue_date: chrono::NaiveDate::from_ymd_opt(2024, 7, 18),
        seller_name: Some("SECURINFO CONSEIL SAS".into()),
        seller_siret: Some("73282932000074".into()),
        seller_siren: Some("732829320".into()),
        seller_legal_ids: Vec::new(),
        vat_id: Some("FR44732829320".into()),
        total_ht: amount("2450.50"),
        total_tva: amount("490.10"),
        total_ttc: amount("2940.60"),
        currency: Some("EUR".into()),
        profile: Some("basic".into()),
        source: InvoiceSource::Facturx,
        locations: Default::default(),
        confidence: Default::default(),
    }));
    rec.status = Status::for_findings(&findings);
    rec.findings = findings;
    rec
}

fn d1_fin(rec: &EvidenceRecord) -> caregate_schemas::ObjectiveVerdict {
    let referentials = Referentials::shipped().unwrap();
    let r = referentials.for_campaign("care-d1-2024").unwrap();
    let v = judge(&r, &Dossier { submission_id: rec.submission.submission_id, records: std::slice::from_ref(rec), related: &[] }, chrono::Utc::now());
    v.objectives.into_iter().find(|o| o.objective == "D1.FIN").unwrap()
}

#[test]
fn a_factur_x_whose_page_and_xml_disagree_cannot_meet_d1_fin() {
    let agreeing = d1_fin(&facturx(Vec::new()));
    assert!(!agreeing.reasons.iter().any(|r| r.code == FindingCode::EvidenceNeedsReview), "{:#?}", agreeing.reasons);

    let page = Finding::new(
        FindingCode::FacturxPageMismatch,
        Severity::Warning,
        "Factur-X : le total TTC diffère entre la page (« 3940,60 ») et le XML incorporé (« 2940,60 »)",
    )
    .at("total_ttc");
    let rec = facturx(vec![page]);
    assert_eq!(rec.status, Status::NeedsReview, "the file goes to a controller");
    let o = d1_fin(&rec);
    assert_ne!(o.verdict, Verdict::Met);
    let why = o.reasons.iter().find(|r| r.code == FindingCode::EvidenceNeedsReview).unwrap_or_else(|| panic!("{:#?}", o.reasons));
    assert_eq!(why.verdict, Verdict::NeedsReview);
    assert!(why.message.contains(FindingCode::FacturxPageMismatch.as_str()), "the controller is told why: {}", why.message);
}
