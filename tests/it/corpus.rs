//! Our own documents through real producers: `scripts/make-corpus.py` writes invoices
//! (42 layouts), attestations and reports with Chromium, wkhtmltopdf, LibreOffice Writer
//! and Calc, Ghostscript, reportlab and groff, and scans of the
//! invoices (200 and 300 dpi, turned, noisy, JPEG'd); each is read as a worker reads it
//! and scored against the generator's truth, field by field. The corpus is made once per
//! version of the script, in `~/.cache/caregate-corpus/` (or `CAREGATE_CORPUS`); without
//! the producers (scripts/services.sh installs them) the test says so and skips.

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

/// Floors under the shares reached when they were set (only ever raised). Since the corpus
/// was widened to 42 invoice layouts from 7 producers (2026-12-08, issue #23 §2): all
/// fields 1191/1199, plain-PDF invoice fields 904/906 (two sellers printed only in a
/// footer or beside the buyer in a sheet are missed), key fields of 300 dpi scans 98/100.
/// The producers' output is deterministic and the scans' noise seeded, but Tesseract and
/// the producers change with their Debian versions: about one field of slack for all
/// fields and for the scans, none for the plain PDFs.
const FLOOR_ALL: f64 = 0.99;
const FLOOR_PLAIN_PDF_INVOICES: f64 = 0.997;
const FLOOR_SCANS_300: f64 = 0.97;
/// Key fields of the phone photos (perspective, shadow, grey paper, blur, JPEG at 150
/// to 200 dpi), as issue #23 names them: 87/112 on 16 photos of 14 layouts (2026-12-08;
/// OCR reads "EI" as "El", the footer-only sellers and the seller's identifiers beside
/// the buyer's are missed: left empty, never the buyer's). They have their own floor and
/// stay out of `FLOOR_ALL`; the photo branch's preprocessing is to raise it.
const FLOOR_PHOTOS: f64 = 0.76;
/// The corpus's folders of born-digital PDFs, one per producer.
const PLAIN_PDF_FOLDERS: [&str; 7] = ["chromium", "wkhtmltopdf", "libreoffice", "calc", "ghostscript", "reportlab", "groff"];
const KEY_FIELDS: [&str; 7] = ["number", "issue_date", "seller_name", "seller_siret", "total_ht", "total_tva", "total_ttc"];

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/make-corpus.py")
}

fn producers_missing() -> Vec<&'static str> {
    let mut missing: Vec<&str> =
        [("chromium", "--version"), ("soffice", "--version"), ("ps2pdf", "-v"), ("pdftoppm", "-v"), ("wkhtmltopdf", "--version"), ("groff", "--version")]
            .into_iter()
            .filter(|(tool, probe)| !caregate_extract::sandbox::installed(tool, probe))
            .map(|(tool, _)| tool)
            .collect();
    for (module, name) in [("PIL", "Pillow"), ("reportlab", "reportlab")] {
        if !Command::new("python3").args(["-c", &format!("import {module}")]).output().map(|o| o.status.success()).unwrap_or(false) {
            missing.push(name);
        }
    }
    missing
}

/// The corpus for this version of the generator, made when absent.
fn corpus() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("CAREGATE_CORPUS") {
        return Some(PathBuf::from(dir));
    }
    let digest = hex::encode(Sha256::digest(std::fs::read(script()).unwrap()));
    let home = std::env::var("HOME").unwrap_or_else(|_| "/tmp".into());
    let dir = Path::new(&home).join(".cache/caregate-corpus").join(&digest[..16]);
    if dir.join("truth.json").is_file() {
        return Some(dir);
    }
    let missing = producers_missing();
    if !missing.is_empty() {
        eprintln!("cannot make the multi-producer corpus, missing {missing:?} (scripts/services.sh installs them): skipped");
        return None;
    }
    // Made beside, then moved into place: a run cut short leaves no half corpus.
    let partial = dir.with_extension(format!("partial-{}", std::process::id()));
    let out = Command::new("python3").arg(script()).arg(&partial).output().expect("python3");
    assert!(out.status.success(), "make-corpus.py failed: {}", String::from_utf8_lossy(&out.stderr));
    std::fs::rename(&partial, &dir).or_else(|_| std::fs::remove_dir_all(&partial)).unwrap();
    Some(dir)
}

#[test]
fn documents_from_real_producers_and_their_scans_read_as_their_truth_says() {
    let Some(root) = corpus() else { return };
    let truth = caregate::accuracy::load_truth(&root.join("truth.json")).unwrap();
    let score = caregate::accuracy::score_truth(&root, &truth, &crate::common::reader()).unwrap();
    println!("{}\nwrong:\n  {}", score.markdown(), score.misses.join("\n  "));
    let share = |(r, n): (u32, u32)| r as f64 / n.max(1) as f64;
    let all = share(score.share(|folder, _| folder != "photos"));
    let plain = share(score.share(|folder, field| PLAIN_PDF_FOLDERS.contains(&folder) && field != "kind"));
    let scans = share(score.share(|folder, field| folder == "scans-300dpi" && field != "kind"));
    let photos = share(score.share(|folder, field| folder == "photos" && KEY_FIELDS.contains(&field)));
    let kinds = score.share(|_, field| field == "kind");
    assert!(all >= FLOOR_ALL, "all fields {all:.3} under {FLOOR_ALL}:\n  {}", score.misses.join("\n  "));
    assert!(plain >= FLOOR_PLAIN_PDF_INVOICES, "plain-PDF invoice fields {plain:.3} under {FLOOR_PLAIN_PDF_INVOICES}:\n  {}", score.misses.join("\n  "));
    assert!(scans >= FLOOR_SCANS_300, "300 dpi scans' fields {scans:.3} under {FLOOR_SCANS_300}:\n  {}", score.misses.join("\n  "));
    assert!(photos >= FLOOR_PHOTOS, "phone photos' key fields {photos:.3} under {FLOOR_PHOTOS}:\n  {}", score.misses.join("\n  "));
    // Every document is of its kind, the photo of the signed attestation included.
    assert_eq!(kinds.0, kinds.1, "{}", score.misses.join("\n  "));
}
