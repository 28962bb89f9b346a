//! Scans and photos: pages without a text layer are read by Tesseract (French model),
//! and their invoice fields found as on a PDF's own text. The scans are made here from a
//! sample invoice by poppler's renderer, at 300 and 200 dpi, as PNG and as an image-only
//! PDF (what a copier sends).

use caregate_schemas::FindingCode;
use std::path::Path;
use std::process::Command;

use caregate_schemas::{Kind, Status};

use crate::common::{self, Stack, TestEnv};

const INVOICE: &str = "factures/facture-FA-2024-0042.pdf";

/// Renders the sample invoice's first page, grey, at `dpi`: `png` or `pgm`.
fn render(dir: &Path, dpi: u32, format: &str) -> Vec<u8> {
    render_sample(INVOICE, dir, dpi, format)
}

fn render_sample(sample: &str, dir: &Path, dpi: u32, format: &str) -> Vec<u8> {
    let prefix = dir.join(format!("scan-{dpi}-{}", sample.replace(['/', '.'], "-")));
    let flag = if format == "png" { "-png" } else { "-gray" };
    let ok = Command::new("pdftoppm")
        .args(["-gray", flag, "-singlefile", "-r", &dpi.to_string()])
        .arg(common::samples_dir().join(sample))
        .arg(&prefix)
        .status()
        .expect("pdftoppm (poppler-utils, installed by scripts/services.sh)");
    assert!(ok.success());
    std::fs::read(prefix.with_extension(format)).unwrap()
}

/// The sample invoice scanned at 300 dpi, as a PNG (for other capabilities' tests).
pub(crate) fn scanned_invoice_png(dir: &Path) -> Vec<u8> {
    render(dir, 300, "png")
}

/// An image-only PDF of one A4 page holding a grey PGM image: what a scanner writes;
/// `rotate` turns the page (`/Rotate`), as a sheet fed sideways is.
fn image_pdf(pgm: &[u8], rotate: u32) -> Vec<u8> {
    images_pdf(&[pgm], rotate)
}

/// An image-only PDF of A4 pages, one grey PGM image each: a copier's scan of a stack.
fn images_pdf(pgms: &[&[u8]], rotate: u32) -> Vec<u8> {
    let n = pgms.len();
    let kids: Vec<String> = (0..n).map(|i| format!("{} 0 R", 3 + 3 * i)).collect();
    let mut objects = vec![b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(), format!("<< /Type /Pages /Kids [{}] /Count {n} >>", kids.join(" ")).into_bytes()];
    for (i, pgm) in pgms.iter().enumerate() {
        // P5 header: magic, width, height, maximum, each followed by whitespace.
        let mut fields = Vec::new();
        let mut at = 0;
        while fields.len() < 4 {
            while pgm[at].is_ascii_whitespace() {
                at += 1;
            }
            let start = at;
            while !pgm[at].is_ascii_whitespace() {
                at += 1;
            }
            fields.push(String::from_utf8_lossy(&pgm[start..at]).into_owned());
        }
        let pixels = &pgm[at + 1..];
        let (w, h) = (&fields[1], &fields[2]);
        let content = b"q 595 0 0 842 0 0 cm /Im0 Do Q\n";
        let mut image = format!(
            "<< /Type /XObject /Subtype /Image /Width {w} /Height {h} /ColorSpace /DeviceGray /BitsPerComponent 8 /Length {} >>\nstream\n",
            pixels.len()
        )
        .into_bytes();
        image.extend_from_slice(pixels);
        image.extend_from_slice(b"\nendstream");
        let mut page = format!("<< /Length {} >>\nstream\n", content.len()).into_bytes();
        page.extend_from_slice(content);
        page.extend_from_slice(b"endstream");
        let (img, cont) = (4 + 3 * i, 5 + 3 * i);
        objects.push(
            format!(
                "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Rotate {rotate} /Resources << /XObject << /Im0 {img} 0 R >> >> /Contents {cont} 0 R >>"
            )
            .into_bytes(),
        );
        objects.push(image);
        objects.push(page);
    }
    common::pdf_of(&objects)
}

/// ImageMagick (scripts/services.sh installs it): the photos below are made with it.
fn magick() -> &'static str {
    caregate_extract::ocr::magick().expect("ImageMagick (Debian imagemagick, installed by scripts/services.sh)")
}

/// The sample invoice as a phone photographs it: in colour at 150 dpi, grey paper and
/// grey ink (low contrast), on a dark desk, seen a little from the side, turned 3°, out
/// of focus, JPEG with the 72 dpi a phone writes.
fn photographed(dir: &Path, sample: &str) -> std::path::PathBuf {
    let prefix = dir.join(format!("photo-src-{}", sample.replace(['/', '.'], "-")));
    let ok = Command::new("pdftoppm").args(["-png", "-singlefile", "-r", "150"]).arg(common::samples_dir().join(sample)).arg(&prefix).status().unwrap();
    assert!(ok.success());
    let out = dir.join(format!("photo-{}.jpg", sample.replace(['/', '.'], "-")));
    let ok = Command::new(magick())
        .arg(prefix.with_extension("png"))
        .args(["+level", "22%,80%", "-bordercolor", "#4a3c30", "-border", "8%x6%", "-virtual-pixel", "background", "-background", "#4a3c30"])
        .args(["-distort", "Perspective", "0,0 30,20  1399,0 1370,0  1399,1349 1399,1349  0,1349 0,1320"])
        .args(["-rotate", "3", "-blur", "0x0.7", "-quality", "70", "-density", "72", "-units", "PixelsPerInch"])
        .arg(&out)
        .status()
        .unwrap();
    assert!(ok.success());
    out
}

/// A phone photo of an invoice (skewed, low contrast, 150 dpi): its key fields as on
/// the PDF. Without preparation the small grey letters read poorly.
#[test]
fn a_photographed_invoice_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let photo = photographed(dir.path(), INVOICE);
    let (_, a) = crate::common::reader().read_file(&photo, "photo-facture.jpg").unwrap();
    assert_eq!(a.classification.kind, Kind::Invoice, "{:?}\n{}", a.classification, a.text);
    assert_invoice_fields("photo", &a.fields.to_json());
}

/// Two invoices scanned in one go: the second page is another invoice (its own number
/// and totals). Said with `several_documents`, and the fields are the first invoice's,
/// none taken from the second page.
#[test]
fn a_two_invoice_scan_is_flagged_with_the_first_invoices_fields() {
    let dir = tempfile::tempdir().unwrap();
    let first = render(dir.path(), 200, "pgm");
    let second = render_sample("factures/facturx-basic-FA-2024-0062.pdf", dir.path(), 200, "pgm");
    let pdf = dir.path().join("deux-factures.pdf");
    std::fs::write(&pdf, images_pdf(&[&first, &second], 0)).unwrap();
    let (_, a) = crate::common::reader().read_file(&pdf, "deux-factures.pdf").unwrap();
    assert_eq!(a.classification.kind, Kind::Invoice, "{:?}", a.classification);
    let several: Vec<&caregate_schemas::Finding> = a.findings.iter().filter(|f| f.code == FindingCode::SeveralDocuments).collect();
    assert_eq!(several.len(), 1, "{:?}", a.findings);
    assert!(several[0].message.contains("page 2") && several[0].message.contains("FA-2024-0062"), "{}", several[0].message);
    assert_invoice_fields("two invoices", &a.fields.to_json());
    // One invoice over two pages is one document: its second page repeats its number.
    let one = dir.path().join("une-facture-deux-pages.pdf");
    std::fs::write(&one, images_pdf(&[&first, &first], 0)).unwrap();
    let (_, a) = crate::common::reader().read_file(&one, "une-facture-deux-pages.pdf").unwrap();
    assert!(a.findings.iter().all(|f| f.code != FindingCode::SeveralDocuments), "{:?}", a.findings);
}

/// A till receipt (a shop's ticket: TOTAL, CB, TVA, caisse), scanned: an invoice.
#[test]
fn a_till_receipt_is_an_invoice() {
    let lines = [
        "SUPERETTE DU MARCHE",
        "12 rue des Lilas 76540 Valmont",
        "SIRET 732 829 320 00074",
        "TICKET NO 0421    CAISSE 2",
        "12/06/2024 10:42",
        "PAIN DE CAMPAGNE        2,40",
        "CAFE MOULU 250G         4,50",
        "TOTAL EUR               6,90",
        "CB                      6,90",
        "TVA 5,5%  HT 6,54  TVA 0,36",
        "MERCI DE VOTRE VISITE",
    ];
    let mut content = String::from("BT /F1 9 Tf 11 TL 12 380 Td\n");
    for l in lines {
        content += &format!("({l}) Tj T*\n");
    }
    content += "ET";
    let pdf = common::pdf_of(&[
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 226 400] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>".to_vec(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Courier >>".to_vec(),
        format!("<< /Length {} >>\nstream\n{content}\nendstream", content.len() + 1).into_bytes(),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("ticket.pdf");
    std::fs::write(&src, pdf).unwrap();
    let prefix = dir.path().join("ticket");
    assert!(Command::new("pdftoppm").args(["-gray", "-png", "-singlefile", "-r", "200"]).arg(&src).arg(&prefix).status().unwrap().success());
    let (_, a) = crate::common::reader().read_file(&prefix.with_extension("png"), "ticket.png").unwrap();
    assert_eq!(a.classification.kind, Kind::Invoice, "{:?}\n{}", a.classification, a.text);
}

fn assert_invoice_fields(what: &str, fields: &serde_json::Value) {
    for (key, want) in [
        ("number", "FA-2024-0042"),
        ("issue_date", "2024-06-12"),
        ("seller_name", "SECURINFO CONSEIL SAS"),
        ("seller_siret", "73282932000074"),
        ("total_ht", "8400.00"),
        ("total_tva", "1680.00"),
        ("total_ttc", "10080.00"),
    ] {
        assert_eq!(fields[key].as_str(), Some(want), "{what}: {key} in {fields}");
    }
}

/// The key fields of a scanned invoice, from a PNG at 300 and 200 dpi and from an
/// image-only PDF, with no low-confidence finding on a clean scan.
#[test]
fn scanned_invoices_are_read_by_ocr() {
    let dir = tempfile::tempdir().unwrap();
    let png300 = dir.path().join("facture-scannee-300.png");
    std::fs::write(&png300, render(dir.path(), 300, "png")).unwrap();
    let png200 = dir.path().join("facture-scannee-200.png");
    std::fs::write(&png200, render(dir.path(), 200, "png")).unwrap();
    let pdf = dir.path().join("facture-scannee.pdf");
    std::fs::write(&pdf, image_pdf(&render(dir.path(), 200, "pgm"), 0)).unwrap();
    // Fed sideways: the page is rendered on its side, Tesseract finds its orientation.
    let sideways = dir.path().join("facture-scannee-de-travers.pdf");
    std::fs::write(&sideways, image_pdf(&render(dir.path(), 300, "pgm"), 90)).unwrap();
    let reader = crate::common::reader();
    for path in [&png300, &png200, &pdf, &sideways] {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let (_, a) = reader.read_file(path, &name).unwrap();
        assert_eq!(a.classification.kind, Kind::Invoice, "{name}: {:?}", a.classification);
        let codes: Vec<&str> = a.findings.iter().map(|f| f.code.as_str()).collect();
        assert!(!codes.contains(&"no_text") && !codes.contains(&"ocr_low_confidence"), "{name}: {codes:?}");
        assert_invoice_fields(&name, &a.fields.to_json());
    }
}

/// A photographed signed attestation reads as an attestation, with its signing date.
#[test]
fn a_photographed_attestation_is_an_attestation() {
    let dir = tempfile::tempdir().unwrap();
    let photo = dir.path().join("photo-attestation-signee.png");
    std::fs::write(&photo, render_sample("divers/attestation-signee.pdf", dir.path(), 200, "png")).unwrap();
    let (_, a) = crate::common::reader().read_file(&photo, "photo-attestation-signee.png").unwrap();
    assert_eq!(a.classification.kind, Kind::Attestation, "{:?}\n{}", a.classification, a.text);
    assert!(!a.classification.is_low(), "{:?}", a.classification);
}

/// Through the pipeline: a photographed invoice uploaded is stored as an invoice with
/// its fields, on both stacks.
async fn a_scanned_invoice_goes_through_the_pipeline(stack: Stack) {
    let env = TestEnv::new(stack).await;
    let png = render(env.dir.path(), 300, "png");
    let (_, _, records) = common::process_files(&env, vec![("facture-scannee.png", png)]).await;
    let rec = &records[0];
    assert_eq!(rec.kind, Some(Kind::Invoice), "{stack:?}: {:?}", rec.findings);
    assert_eq!(rec.status, Status::Stored, "{stack:?}: {:?}", rec.findings);
    assert_invoice_fields("pipeline", &rec.fields.to_json());
}
common::on_each_stack!(a_scanned_invoice_goes_through_the_pipeline);

/// OCR has a pool of its own: a scan is stored at once with `ocr_pending`, the other
/// files of the dossier go through without waiting for Tesseract, and the dossier's
/// verdicts say they are provisional; the pool then reads the scan, writes its kind and
/// fields with an `ocr_read` event and its text, and the dossier is judged again. A
/// second pass finds nothing left to read.
async fn scans_are_read_by_their_own_pool_then_the_dossier_is_judged_again(stack: Stack) {
    let mut env = TestEnv::new(stack).await;
    // No pool in the worker: this test runs the pass itself, once the worker is done.
    env.config.worker.ocr_poll_secs = 0;
    let run = common::Running::start(&env).await;
    let app = run.app.clone();
    let sub = common::submission();
    let intake = run.intake();
    let png = render(env.dir.path(), 300, "png");
    let scan = intake.receive(&sub, "facture-scannee.png", common::bytes_body(png)).await.unwrap();
    let audit = std::fs::read(common::samples_dir().join("annuaire/ad_hc_ch-exemple.local.xml")).unwrap();
    let note = intake.receive(&sub, "ad_hc_ch-exemple.local.xml", common::bytes_body(audit)).await.unwrap();
    let start = std::time::Instant::now();
    let records = loop {
        let records = app.backends.index.submission(sub.submission_id).await.unwrap();
        if records.len() == 2 && records.iter().all(|r| r.status != Status::Received) {
            break records;
        }
        assert!(start.elapsed() < std::time::Duration::from_secs(60), "{stack:?}: {records:?}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    run.stop().await;
    let of = |id| records.iter().find(|r| r.evidence_id == id).unwrap();
    assert_eq!(of(note.evidence_id).status, Status::Stored, "the other file did not wait");
    let waiting = of(scan.evidence_id);
    assert!(waiting.awaiting_ocr() && waiting.status == Status::NeedsReview && waiting.object_key.is_some(), "{stack:?}: {waiting:?}");
    let v = app.backends.index.verification(sub.submission_id).await.unwrap().expect("judged");
    assert_eq!(v.pending, 1, "provisional while the scan waits for OCR");

    let pool = app.ocr_pool().unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    assert_eq!(pool.pass(&shutdown).await.unwrap().read, 1);
    let rec = app.backends.index.get(scan.evidence_id).await.unwrap().unwrap();
    assert_eq!((rec.kind, rec.status), (Some(Kind::Invoice), Status::Stored), "{stack:?}: {:?}", rec.findings);
    assert!(!rec.awaiting_ocr());
    assert_invoice_fields("pool", &rec.fields.to_json());
    let events = app.backends.index.events(scan.evidence_id).await.unwrap();
    assert_eq!(events.last().unwrap().kind, "ocr_read");
    assert!(app.backends.index.text(scan.evidence_id).await.unwrap().unwrap_or_default().contains("FA-2024-0042"), "the OCR text is kept and searchable");
    let v = app.backends.index.verification(sub.submission_id).await.unwrap().unwrap();
    assert_eq!(v.pending, 0, "judged again once read");
    assert_eq!(v.evidence.iter().find(|e| e.evidence_id == scan.evidence_id).unwrap().kind, Some(Kind::Invoice));
    assert_eq!(pool.pass(&shutdown).await.unwrap().read, 0, "nothing left to read");

    // A re-examination whose judging did not follow (the process stopped between the
    // two, as the database can go between them): the next pass judges the dossier.
    let mut reviewed = rec.clone();
    reviewed.findings.push(caregate_schemas::Finding::new(FindingCode::OcrLowConfidence, caregate_schemas::Severity::Warning, "relu"));
    reviewed.status = Status::NeedsReview;
    assert!(app.backends.index.record_reexamination(&reviewed, caregate_schemas::EventKind::OcrRead, serde_json::json!({})).await.unwrap());
    assert_eq!(app.backends.index.unjudged_submissions(10).await.unwrap(), vec![sub.submission_id]);
    pool.pass(&shutdown).await.unwrap();
    assert!(app.backends.index.unjudged_submissions(10).await.unwrap().is_empty());
    let v = app.backends.index.verification(sub.submission_id).await.unwrap().unwrap();
    assert_eq!(v.evidence.iter().find(|e| e.evidence_id == scan.evidence_id).unwrap().status, Status::NeedsReview, "judged on the record as it now stands");
}
common::on_each_stack!(scans_are_read_by_their_own_pool_then_the_dossier_is_judged_again);
