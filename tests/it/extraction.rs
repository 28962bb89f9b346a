//! Reading and classifying evidence through the whole pipeline and the real services:
//! every sample (hostile ones included) ends with the kind, status, key fields and
//! findings its truth file (`samples.expected.json`) states; zip members become their
//! own evidence, linked to the archive.

use crate::common;
use caregate_schemas::FindingCode;

use crate::common::{bytes_body, submission, wait_done, Running, TestEnv};
use caregate::accuracy::{field_text, load_expected};
use caregate_schemas::{ScanResult, Status};

/// Records made from the members of submitted zips (two in pieces-justificatives.zip,
/// one in rapport-renomme.pdf, which is a zip); the zip bomb is refused whole.
const MEMBERS: usize = 3;

async fn every_sample_is_read_classified_and_stored_as_expected(stack: common::Stack) {
    let expected = load_expected(&common::samples_dir()).unwrap();
    let env = TestEnv::new(stack).await;
    let run = Running::start(&env).await;
    let app = run.app.clone();
    let sub = submission();
    let files = caregate::submit::collect_files(&[common::samples_dir()]).unwrap();
    assert_eq!(files.len(), expected.len(), "every sample has an expectation");
    let intake = run.intake();
    caregate::submit::upload_files(&intake, &sub, &files, &indicatif::ProgressBar::hidden()).await.unwrap();
    let records = wait_done(&app, sub.submission_id, files.len() + MEMBERS, 120).await;
    // 16 jobs in flight finishing files of one dossier: it is still judged once complete.
    let verification = app.wait_for_verification(sub.submission_id, files.len() + MEMBERS, std::time::Duration::from_secs(30)).await.unwrap();
    assert_eq!(verification.referential_id, "care-d1-2024");
    run.stop().await;
    assert_eq!(records.len(), files.len() + MEMBERS, "{stack:?}");

    let mut read_by_ocr = Vec::new();
    for rec in &records {
        let Some(exp) = expected.get(&rec.path) else { continue };
        let ctx = format!("{stack:?} {}: {:?} {:?}", rec.path, rec.kind_reasons, rec.findings);
        assert_eq!(rec.kind.map(|k| k.as_str()), Some(exp.kind.as_str()), "{ctx}");
        assert_eq!(rec.status, exp.status, "{ctx}");
        for (key, want) in &exp.fields {
            let want = want.as_str().map(str::to_owned).unwrap_or_else(|| want.to_string());
            assert_eq!(field_text(&rec.fields.to_json(), key).as_deref(), Some(want.as_str()), "{ctx}: field {key}");
        }
        for code in &exp.findings {
            assert!(rec.findings.iter().any(|f| &f.code == code), "{ctx}: finding {code}");
        }
        assert!(rec.confidence.is_some() && !rec.kind_reasons.is_empty(), "{ctx}");
        assert_eq!(rec.scan.as_ref().unwrap().result, ScanResult::Clean);
        // Read or not, a clean file is kept, content-addressed, out of quarantine.
        assert_eq!(rec.object_key.as_deref(), Some(rec.sha256.object_key().as_str()), "{ctx}");
        assert_eq!(app.backends.evidence.size(&rec.sha256.object_key()).await.unwrap(), Some(rec.size));
        let history = app.backends.index.events(rec.evidence_id).await.unwrap();
        let events: Vec<&str> = history.iter().map(|e| e.kind.as_str()).collect();
        // A scan is stored first, its text left to the OCR pool, then read again.
        if events.contains(&"ocr_read") {
            read_by_ocr.push(rec.path.as_str());
            assert_eq!(events, ["received", "needs_review", "ocr_read"], "{ctx}: {history:?}");
            assert!(rec.media_type.as_deref().is_some_and(|m| m.starts_with("image/") || m == "application/pdf"), "{ctx}");
        } else {
            assert_eq!(events, ["received", exp.status.as_str()], "{ctx}: {history:?}");
        }
    }
    assert!(read_by_ocr.contains(&"divers/photo-attestation.png"), "the photographed attestation went through the OCR pool: {read_by_ocr:?}");

    // Members: their own evidence, linked to the archive, read like any file.
    let by_path = |p: &str| records.iter().find(|r| r.path == p).unwrap_or_else(|| panic!("{p} missing"));
    let archive = by_path("divers/pieces-justificatives.zip");
    let invoice = by_path("divers/pieces-justificatives.zip/factures/facture-FA-2024-0050.xml");
    let audit = by_path("divers/pieces-justificatives.zip/annuaire/ad_hc_ch-exemple.local.xml");
    for (member, kind) in [(invoice, "invoice"), (audit, "ad_audit_report")] {
        assert_eq!(member.parent, Some(archive.evidence_id));
        assert_eq!(member.evidence_id, archive.evidence_id.member(member.path.rsplit_once(".zip/").unwrap().1));
        assert_eq!(member.status, Status::Stored);
        assert_eq!(member.kind.map(|k| k.as_str()), Some(kind));
    }
    assert_eq!(field_text(&invoice.fields.to_json(), "total_ttc").as_deref(), Some("3600.00"));
    assert_eq!(field_text(&archive.fields.to_json(), "member_evidence.0.evidence_id").as_deref(), Some(invoice.evidence_id.to_string().as_str()));
    // Same bytes as the sample sent on its own: one object in the store.
    assert_eq!(invoice.sha256, by_path("factures/facture-FA-2024-0050.xml").sha256);
    let bomb = by_path("hostile/bombe.zip");
    assert!(records.iter().all(|r| r.parent != Some(bomb.evidence_id)), "nothing inflated from the bomb");
    assert!(app.backends.quarantine.list("quarantine/").await.unwrap().is_empty(), "quarantine emptied");
}
common::on_each_stack!(every_sample_is_read_classified_and_stored_as_expected);

/// An archive inside an archive inside an archive... is unpacked to the depth limit and
/// no further; a redelivery of a finished archive adds no member twice.
async fn nested_archives_stop_at_the_depth_limit(stack: common::Stack) {
    fn zip_of(name: &str, content: &[u8]) -> Vec<u8> {
        let mut out = std::io::Cursor::new(Vec::new());
        let mut z = zip::ZipWriter::new(&mut out);
        z.start_file(name, zip::write::SimpleFileOptions::default()).unwrap();
        std::io::Write::write_all(&mut z, content).unwrap();
        z.finish().unwrap();
        out.into_inner()
    }
    let mut data = b"FACTURE N\xc2\xb0 FA-1\nTotal TTC : 120,00 \xe2\x82\xac\nNet \xc3\xa0 payer : 120,00 \xe2\x82\xac".to_vec();
    let mut name = "facture.txt".to_owned();
    for level in 0..5 {
        data = zip_of(&name, &data);
        name = format!("niveau-{level}.zip");
    }
    let env = TestEnv::new(stack).await;
    let run = Running::start(&env).await;
    let sub = submission();
    run.intake().receive(&sub, &name, bytes_body(data.clone())).await.unwrap();
    // The default depth limit (3) unpacks three levels: the top archive and three members.
    let records = wait_done(&run.app, sub.submission_id, 4, 60).await;
    run.stop().await;
    assert_eq!(records.len(), 4, "{stack:?}: {:?}", records.iter().map(|r| &r.path).collect::<Vec<_>>());
    let deepest = records.iter().max_by_key(|r| r.path.len()).unwrap();
    assert!(deepest.findings.iter().any(|f| f.code == FindingCode::ArchiveLimits), "{stack:?}: {:?}", deepest.findings);
    assert_eq!(deepest.status, Status::NeedsReview);
}
common::on_each_stack!(nested_archives_stop_at_the_depth_limit);

/// A file that takes longer to read than its time budget is stored unread and flagged,
/// and the worker goes on with the next file.
async fn a_file_over_its_time_budget_is_stored_unread_and_flagged(stack: common::Stack) {
    let mut env = TestEnv::new(stack).await;
    env.config.worker.extract.time_budget_secs = 0;
    let run = Running::start(&env).await;
    let sub = submission();
    let report = std::fs::read(common::samples_dir().join("annuaire/rapport-audit-ad.pdf")).unwrap();
    run.intake().receive(&sub, "rapport-audit-ad.pdf", bytes_body(report)).await.unwrap();
    run.intake().receive(&sub, "image.bin", bytes_body(vec![0u8; 1000])).await.unwrap();
    let records = wait_done(&run.app, sub.submission_id, 2, 60).await;
    run.stop().await;
    let pdf = records.iter().find(|r| r.path.ends_with(".pdf")).unwrap();
    assert_eq!(pdf.status, Status::NeedsReview, "{stack:?}");
    assert!(pdf.findings.iter().any(|f| f.code == FindingCode::TimeBudget), "{stack:?}: {:?}", pdf.findings);
    assert!(pdf.object_key.is_some(), "kept in the evidence store");
    let other = records.iter().find(|r| r.path == "image.bin").unwrap();
    assert_eq!(other.status, Status::Stored, "{stack:?}: the next file is processed");
}
common::on_each_stack!(a_file_over_its_time_budget_is_stored_unread_and_flagged);

/// A signed PDF reports its signer, algorithm and whether the signed bytes are intact; one
/// changed after signing is flagged `signature_digest_mismatch` and goes to a person.
async fn a_pdf_altered_after_signing_is_flagged(stack: common::Stack) {
    let env = TestEnv::new(stack).await;
    let signed = std::fs::read(common::samples_dir().join("divers/attestation-signee.pdf")).unwrap();
    let mut tampered = signed.clone();
    let at = tampered.windows(16).position(|w| w == b"caregate samples").unwrap();
    tampered[at + 7] = b'X';
    let (_, _, records) = common::process_files(&env, vec![("signee.pdf", signed), ("signee-modifiee.pdf", tampered)]).await;
    let by_path = |p: &str| records.iter().find(|r| r.path == p).unwrap();
    let good = by_path("signee.pdf");
    assert_eq!(good.status, Status::Stored, "{stack:?}: {:?}", good.findings);
    assert_eq!(field_text(&good.fields.to_json(), "document.signatures.0.digest_valid").as_deref(), Some("true"));
    assert_eq!(field_text(&good.fields.to_json(), "document.signatures.0.signer_subject").as_deref(), Some("O=CH Exemple,CN=Jean Exemple (test)"));
    let bad = by_path("signee-modifiee.pdf");
    assert_eq!(bad.status, Status::NeedsReview, "{stack:?}");
    assert!(bad.findings.iter().any(|f| f.code == FindingCode::SignatureDigestMismatch), "{:?}", bad.findings);
    assert_eq!(field_text(&bad.fields.to_json(), "document.signatures.0.digest_valid").as_deref(), Some("false"));
}
common::on_each_stack!(a_pdf_altered_after_signing_is_flagged);

/// A PDF whose cross-reference table points at the wrong places (what a rewrite by
/// PyPDF4 or a transfer that added bytes leaves): the text is still read whole, the
/// invoice's fields with it, and a `pdf_repaired` finding says the text may be partial.
#[test]
fn a_pdf_with_a_damaged_cross_reference_table_is_repaired_and_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read(common::samples_dir().join("factures/facture-FA-2024-0042.pdf")).unwrap();
    // Forty bytes more after the header: every offset of the table is now wrong.
    let at = good.iter().position(|&b| b == b'\n').unwrap() + 1;
    let damaged = [&good[..at], &[b'%'; 39][..], b"\n", &good[at..]].concat();
    let reader = common::reader();
    let read = |name: &str, body: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, body).unwrap();
        reader.read_file(&path, name).unwrap().1
    };
    let (before, after) = (read("facture.pdf", &good), read("facture-reecrite.pdf", &damaged));
    assert!(!before.findings.iter().any(|f| f.code == FindingCode::PdfRepaired), "{:?}", before.findings);
    assert!(after.findings.iter().any(|f| f.code == FindingCode::PdfRepaired), "{:?}", after.findings);
    assert!(after.text.contains("FA-2024-0042"), "{}", after.text);
    for field in ["number", "issue_date", "seller_name", "seller_siret", "total_ht", "total_ttc"] {
        let (want, got) = (field_text(&before.fields.to_json(), field), field_text(&after.fields.to_json(), field));
        assert!(want.is_some() && got == want, "{field}: {got:?}, undamaged {want:?}");
    }
}

/// Every member of a zip is evidence whatever its name: `../evil.txt` and `a/../b.txt`
/// (refused by the upload's rules) are kept as `member-<n>` with a finding naming the
/// raw name, a name hiding a right-to-left override is cleaned of it, and two members of
/// one name are two records with their own bytes and ids derived from name and place
/// (so a redelivery names them the same).
async fn zip_members_with_refused_hidden_or_shared_names_are_all_kept(stack: common::Stack) {
    let members: [(&str, &[u8]); 6] = [
        ("a/../b.txt", b"contenu a/../b"),
        ("b.txt", b"contenu b"),
        ("facture\u{202E}fdp.exe", b"contenu bidi"),
        ("dup.txt", b"premier dup"),
        ("../evil.txt", b"contenu evil"),
        ("dup.txt", b"second dup"),
    ];
    let env = TestEnv::new(stack).await;
    let run = Running::start(&env).await;
    let sub = submission();
    run.intake().receive(&sub, "pieces.zip", bytes_body(crate::export::zip_with(&members))).await.unwrap();
    let records = wait_done(&run.app, sub.submission_id, 7, 60).await;
    run.stop().await;
    let paths: Vec<&str> = records.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(records.len(), 7, "{stack:?}: {paths:?}");
    let archive = records.iter().find(|r| r.path == "pieces.zip").unwrap();
    let by_bytes = |body: &[u8]| records.iter().find(|r| r.sha256 == caregate_schemas::Sha256Digest::of(body)).unwrap_or_else(|| panic!("{paths:?}"));

    for (index, raw) in [(0, "a/../b.txt"), (4, "../evil.txt")] {
        let rec = by_bytes(members[index].1);
        assert_eq!(rec.path, format!("pieces.zip/member-{index}"), "{stack:?}");
        let refused = rec.findings.iter().find(|f| f.code == FindingCode::NameRefused).unwrap_or_else(|| panic!("{:?}", rec.findings));
        assert!(refused.message.contains(&format!("{raw:?}")) && refused.message.contains(&format!("member-{index}")), "{}", refused.message);
        assert_eq!(rec.status, Status::NeedsReview);
        assert_eq!(rec.evidence_id, archive.evidence_id.member(raw));
    }
    assert_eq!(by_bytes(b"contenu b").path, "pieces.zip/b.txt");
    assert_eq!(by_bytes(b"contenu bidi").path, "pieces.zip/facturefdp.exe", "no override left to show the name reversed");
    assert!(records.iter().all(|r| !r.path.contains('\u{202E}')));

    let (first, second) = (by_bytes(b"premier dup"), by_bytes(b"second dup"));
    assert_eq!((first.path.as_str(), second.path.as_str()), ("pieces.zip/dup.txt", "pieces.zip/dup.txt"));
    assert_eq!(first.evidence_id, archive.evidence_id.member("dup.txt"), "the first keeps the id it always had");
    assert_eq!(second.evidence_id, archive.evidence_id.member_at("dup.txt", 5), "the second's id comes from its place in the zip");
    assert!(records.iter().filter(|r| r.parent == Some(archive.evidence_id)).all(|r| r.object_key.is_some()), "every member stored");
    let listed = archive.fields.member_evidence.as_ref().expect("the archive lists its members' evidence");
    assert_eq!(listed.len(), 6);
    assert!(listed.iter().any(|m| m.name == "member-4" && m.evidence_id == archive.evidence_id.member("../evil.txt")), "{listed:?}");
}
common::on_each_stack!(zip_members_with_refused_hidden_or_shared_names_are_all_kept);

/// One invoice's page, as a supplier's software prints it.
fn invoice_page(seller: &str, siret: &str, number: &str, date: &str, ht: &str, tva: &str, ttc: &str) -> Vec<String> {
    vec![
        seller.to_owned(),
        "12 rue des Lilas, 76000 Rouen".to_owned(),
        format!("SIRET : {siret}"),
        format!("FACTURE N° {number}"),
        format!("Date : {date}"),
        "Facturé à : Centre hospitalier Exemple, 1 avenue du Parc, 76100 Rouen".to_owned(),
        "Désignation   Quantité   Prix unitaire   Montant".to_owned(),
        format!("Prestation de sécurité   1   {ht}   {ht}"),
        format!("Total HT   {ht} €"),
        format!("TVA 20 %   {tva} €"),
        format!("Total TTC   {ttc} €"),
        "Conditions de paiement : 30 jours".to_owned(),
    ]
}

fn two_page_pdf(first: &[String], second: &[String]) -> Vec<u8> {
    let first: Vec<&str> = first.iter().map(String::as_str).collect();
    let second: Vec<&str> = second.iter().map(String::as_str).collect();
    common::text_pdf_pages(&[&first, &second])
}

/// Two invoices printed to one PDF (another seller, number and totals from page 2): said
/// with `several_documents`, the fields all the first invoice's, none from page 2; one
/// invoice whose second page repeats its number is one document.
#[test]
fn a_pdf_of_two_invoices_is_flagged_and_its_fields_are_not_mixed() {
    let dir = tempfile::tempdir().unwrap();
    let first = invoice_page("SECURINFO CONSEIL SAS", "732 829 320 00074", "FA-2024-0042", "12/06/2024", "8 400,00", "1 680,00", "10 080,00");
    let second = invoice_page("Réseaux & Défense SARL", "443 061 841 00047", "RD-2024-118", "03/07/2024", "2 500,00", "500,00", "3 000,00");
    let pdf = dir.path().join("deux-factures.pdf");
    std::fs::write(&pdf, two_page_pdf(&first, &second)).unwrap();
    let (_, a) = common::reader().read_file(&pdf, "deux-factures.pdf").unwrap();
    assert_eq!(a.classification.kind, caregate_schemas::Kind::Invoice, "{:?}", a.classification);
    let several: Vec<_> = a.findings.iter().filter(|f| f.code == FindingCode::SeveralDocuments).collect();
    assert_eq!(several.len(), 1, "{:?}", a.findings);
    assert!(several[0].message.contains("page 2") && several[0].message.contains("RD-2024-118"), "{}", several[0].message);
    let fields = a.fields.to_json();
    for (key, want) in [
        ("number", "FA-2024-0042"),
        ("issue_date", "2024-06-12"),
        ("seller_siret", "73282932000074"),
        ("total_ht", "8400.00"),
        ("total_tva", "1680.00"),
        ("total_ttc", "10080.00"),
    ] {
        assert_eq!(fields[key].as_str(), Some(want), "{key} in {fields}");
    }
    assert!(!a.text.contains("RD-2024-118") && !a.text.contains("3 000,00"), "the second invoice's page is not read with the first: {}", a.text);

    // One invoice over two pages: the second repeats its number and carries the totals.
    let mut continued = first.clone();
    continued.truncate(8);
    let end: Vec<String> =
        ["SECURINFO CONSEIL SAS", "FACTURE N° FA-2024-0042 (suite)", "Total HT   8 400,00 €", "TVA 20 %   1 680,00 €", "Total TTC   10 080,00 €"]
            .map(String::from)
            .to_vec();
    let pdf = dir.path().join("une-facture.pdf");
    std::fs::write(&pdf, two_page_pdf(&continued, &end)).unwrap();
    let (_, a) = common::reader().read_file(&pdf, "une-facture.pdf").unwrap();
    assert!(a.findings.iter().all(|f| f.code != FindingCode::SeveralDocuments), "{:?}", a.findings);
    assert_eq!(a.fields.to_json()["total_ttc"].as_str(), Some("10080.00"), "{}", a.fields.to_json());
}
