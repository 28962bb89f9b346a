//! The submitting establishment is the buyer (issue #23 §1): its own SIRET, given at
//! upload and printed in its invoices' buyer block, is never read as the seller's. Sent
//! end to end through the API on each stack: the seller's SIRET is the supplier's, or
//! empty with a `seller_is_establishment` finding when the hospital's was the only one;
//! the identifiers are kept with the establishment, read back, and set by a controller.

use caregate_schemas::{EvidenceRecord, FindingCode, Role, Scope};
use serde_json::Value;

use crate::common::{self, serve, TestEnv};

const FINESS: &str = "750000001";
/// The hospital's own SIRET (its SIREN 267 500 452, a public establishment's).
const HOSPITAL_SIRET: &str = "26750045200003";
const SUPPLIER_SIRET: &str = "73282932000074";

/// A one-page PDF whose text is placed cell by cell (x, line), Helvetica 10 pt: the
/// two blocks side by side, as invoicing software prints them.
fn laid_out_pdf(cells: &[(f32, usize, &str)]) -> Vec<u8> {
    let mut content = Vec::new();
    for (x, line, text) in cells {
        let y = 800.0 - 14.0 * *line as f32;
        content.extend_from_slice(format!("BT /F1 10 Tf 1 0 0 1 {x} {y} Tm (").as_bytes());
        common::pdf_string(text, &mut content);
        content.extend_from_slice(b") Tj ET\n");
    }
    let objects: Vec<Vec<u8>> = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>".to_vec(),
        [format!("<< /Length {} >>\nstream\n", content.len()).into_bytes(), content, b"\nendstream".to_vec()].concat(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".to_vec(),
    ];
    common::pdf_of(&objects)
}

/// The hospital's block on the left, no label saying it is the buyer's; the supplier's
/// on the right with its SIRET and VAT id.
fn invoice_with_both_sirets() -> Vec<u8> {
    laid_out_pdf(&[
        (50.0, 0, "Centre Hospitalier de Valmont"),
        (330.0, 0, "SECURINFO CONSEIL SAS"),
        (50.0, 1, "12 avenue des Tilleuls"),
        (330.0, 1, "8 rue des Lilas"),
        (50.0, 2, "76540 Valmont"),
        (330.0, 2, "69003 Lyon"),
        (50.0, 3, "SIRET : 267 500 452 00003"),
        (330.0, 3, "SIRET : 732 829 320 00074"),
        (330.0, 4, "TVA intracommunautaire : FR44732829320"),
        (50.0, 7, "FACTURE N° FA-2024-0042"),
        (50.0, 8, "Date : 12/06/2024"),
        (50.0, 10, "Audit de l'annuaire Active Directory"),
        (450.0, 10, "1 000,00 €"),
        (300.0, 12, "Total HT"),
        (450.0, 12, "1 000,00 €"),
        (300.0, 13, "TVA 20 %"),
        (450.0, 13, "200,00 €"),
        (300.0, 14, "Total TTC"),
        (450.0, 14, "1 200,00 €"),
    ])
}

/// The supplier prints no identifier at all: the hospital's SIRET, on the right, is the
/// only one on the page.
fn invoice_with_the_hospitals_siret_alone() -> Vec<u8> {
    laid_out_pdf(&[
        (50.0, 0, "SECURINFO CONSEIL"),
        (330.0, 0, "Centre Hospitalier de Valmont"),
        (330.0, 1, "76540 Valmont"),
        (330.0, 2, "SIRET 26750045200003"),
        (50.0, 5, "Facture FA-2024-0043"),
        (50.0, 6, "Date : 14/06/2024"),
        (300.0, 9, "Total HT"),
        (450.0, 9, "500,00 €"),
        (300.0, 10, "TVA 20 %"),
        (450.0, 10, "100,00 €"),
        (300.0, 11, "Total TTC"),
        (450.0, 11, "600,00 €"),
    ])
}

fn form() -> reqwest::multipart::Form {
    reqwest::multipart::Form::new().text("establishment", FINESS).text("campaign", "care-d1-2024").text("objective", "D1.FIN")
}

fn file(name: &str, data: Vec<u8>) -> reqwest::multipart::Part {
    reqwest::multipart::Part::bytes(data).file_name(name.to_owned())
}

async fn the_establishments_siret_is_never_the_sellers(stack: common::Stack) {
    let env = TestEnv::new(stack).await;
    let srv = serve(&env).await;
    let client = srv.submitter().await;

    // A malformed SIRET is refused before a byte is stored.
    let bad = client
        .post(format!("{}/api/evidence", srv.base))
        .multipart(form().text("establishment_siret", "267 500 452 00004").part("file", file("facture.pdf", invoice_with_both_sirets())))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400, "{stack:?}");
    let body: Value = bad.json().await.unwrap();
    assert!(body.to_string().contains("establishment_siret"), "{body}");

    let resp = client
        .post(format!("{}/api/evidence", srv.base))
        .multipart(
            form()
                .text("establishment_siret", "267 500 452 00003")
                .part("file", file("facture-FA-2024-0042.pdf", invoice_with_both_sirets()))
                .part("file", file("facture-FA-2024-0043.pdf", invoice_with_the_hospitals_siret_alone())),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202, "{stack:?}: {}", resp.text().await.unwrap_or_default());
    let body: Value = resp.json().await.unwrap();
    let sub: caregate_schemas::SubmissionId = body["submission_id"].as_str().unwrap().parse().unwrap();
    let records = common::wait_done(&srv.app, sub, 2, 90).await;
    let by_path = |p: &str| -> &EvidenceRecord { records.iter().find(|r| r.path == p).unwrap_or_else(|| panic!("{p} in {records:#?}")) };

    // Both blocks carry a SIRET: the supplier's is the seller's.
    let both = by_path("facture-FA-2024-0042.pdf");
    let inv = both.fields.invoice().unwrap_or_else(|| panic!("an invoice: {both:#?}"));
    assert_eq!(inv.seller_siret.as_deref(), Some(SUPPLIER_SIRET), "{stack:?}: {inv:#?}");
    assert_eq!(inv.seller_siren.as_deref(), Some("732829320"));
    assert!(!both.findings.iter().any(|f| f.code == FindingCode::SellerIsEstablishment), "{:#?}", both.findings);

    // The hospital's alone: empty, with a finding that shows the value found.
    let alone = by_path("facture-FA-2024-0043.pdf");
    let inv = alone.fields.invoice().unwrap_or_else(|| panic!("an invoice: {alone:#?}"));
    assert_eq!((inv.seller_siret.as_deref(), inv.seller_siren.as_deref(), inv.vat_id.as_deref()), (None, None, None), "{stack:?}: {inv:#?}");
    let finding = alone.findings.iter().find(|f| f.code == FindingCode::SellerIsEstablishment).unwrap_or_else(|| panic!("{:#?}", alone.findings));
    assert!(finding.message.contains(HOSPITAL_SIRET) || finding.message.contains("267500452"), "{}", finding.message);
    // Never the hospital's, whatever the field.
    for rec in &records {
        let inv = rec.fields.invoice().unwrap();
        for v in [&inv.seller_siret, &inv.seller_siren, &inv.vat_id].into_iter().flatten() {
            assert!(!v.starts_with("267500452") && !v.ends_with("267500452"), "{}: {v}", rec.path);
        }
    }

    // Kept with the establishment: read back through the API, the upload its first change.
    let view: Value = client.get(format!("{}/api/establishments/{FINESS}/identifiers", srv.base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(view["identifiers"]["sirets"], serde_json::json!([HOSPITAL_SIRET]), "{view}");
    assert_eq!(view["changes"].as_array().map(Vec::len), Some(1), "{view}");
    assert_eq!(view["changes"][0]["replace"], false);

    // A controller sets them (the SIREN instead); a submitter may not; nor a controller
    // of another establishment.
    let controller = common::client(&srv.account("c.martin", Role::Controller, Scope::Establishments(vec![FINESS.into()]), None).await);
    let elsewhere = common::client(&srv.account("c.ailleurs", Role::Controller, Scope::Establishments(vec!["690781810".into()]), None).await);
    let put = |c: &reqwest::Client, body: Value| c.put(format!("{}/api/establishments/{FINESS}/identifiers", srv.base)).json(&body).send();
    assert_eq!(put(&client, serde_json::json!({"sirens": ["267500452"]})).await.unwrap().status(), 403);
    assert_eq!(put(&elsewhere, serde_json::json!({"sirens": ["267500452"]})).await.unwrap().status(), 403);
    assert_eq!(put(&controller, serde_json::json!({"sirens": ["267 500 453"]})).await.unwrap().status(), 400, "a wrong key");
    let set = put(&controller, serde_json::json!({"sirens": ["267 500 452"]})).await.unwrap();
    assert_eq!(set.status(), 200);
    let view: Value = set.json().await.unwrap();
    assert_eq!(view["identifiers"]["sirens"], serde_json::json!(["267500452"]), "{view}");
    assert_eq!(view["identifiers"]["sirets"], serde_json::json!([]), "replaced, not added to");
    assert_eq!(view["changes"][1]["by"], "c.martin (controller)", "{view}");
    let known = srv.app.backends.index.establishment_identifiers(FINESS).await.unwrap();
    assert!(known.owns(HOSPITAL_SIRET), "the SIREN covers every site of the hospital");

    // A file read from then on excludes them, with nothing given at its upload.
    let resp = client
        .post(format!("{}/api/evidence", srv.base))
        .multipart(form().part("file", file("facture-FA-2024-0042.pdf", invoice_with_both_sirets())))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let body: Value = resp.json().await.unwrap();
    let later: caregate_schemas::SubmissionId = body["submission_id"].as_str().unwrap().parse().unwrap();
    let records = common::wait_done(&srv.app, later, 1, 90).await;
    assert_eq!(records[0].fields.invoice().and_then(|i| i.seller_siret.as_deref()), Some(SUPPLIER_SIRET));
    srv.stop.cancel();
}
common::on_each_stack!(the_establishments_siret_is_never_the_sellers);
