//! Signatures validated as pyhanko validates them: `scripts/make-signed-pdfs.py` makes a
//! throw-away PKI, signs attestations with pyhanko in every case an archivist meets
//! (plain, timestamped, B-LT, B-LTA, certified then filled, changed after signing,
//! signed twice, a signed appearance rewritten after a second signature, unknown CA, expired, revoked by CRL, by OCSP, or after a timestamp proved the
//! signature older, status by OCSP) and records pyhanko's own conclusions, plain and
//! under ETSI EN 319 102-1 "validation with time"; caregate must reach the same on
//! every signature, with the root trusted and with no trust anchor.
//! Then through the pipeline: the verdict follows the validation.

use crate::common;
use caregate_schemas::FindingCode;

use std::path::{Path, PathBuf};
use std::process::Command;

use caregate_archive::Stores;
use caregate_schemas::extracted::{Indication, ModificationLevel, RevocationStatus, SubIndication};
use caregate_schemas::Verdict;
use serde_json::Value;

/// The signed PDFs and pyhanko's oracle, made fresh (the PKI's dates are relative to
/// today); `None` where pyhanko is not installed (said on stderr).
pub(crate) fn signed_pdfs() -> Option<tempfile::TempDir> {
    let ok = Command::new("python3").args(["-c", "import pyhanko, cryptography"]).output().map(|o| o.status.success()).unwrap_or(false);
    if !ok {
        eprintln!("pyhanko is not installed (pip install pyhanko): the signature oracle is skipped");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/make-signed-pdfs.py");
    let out = Command::new("python3").arg(script).arg(dir.path()).output().expect("python3");
    assert!(out.status.success(), "make-signed-pdfs.py failed: {}", String::from_utf8_lossy(&out.stderr));
    Some(dir)
}

fn reader(anchors: Vec<PathBuf>) -> caregate_workers::read::Reader {
    let mut config = caregate::Config::default();
    config.worker.reader_program = Some(env!("CARGO_BIN_EXE_caregate").into());
    config.signatures.trust_anchors = anchors;
    config.reader().expect("reader")
}

fn level(name: &str) -> ModificationLevel {
    match name {
        "NONE" => ModificationLevel::None,
        "LTA_UPDATES" => ModificationLevel::LtaUpdates,
        "FORM_FILLING" => ModificationLevel::FormFilling,
        "ANNOTATIONS" => ModificationLevel::Annotations,
        _ => ModificationLevel::Other,
    }
}

#[test]
fn caregate_agrees_with_pyhanko_on_every_signature() {
    let Some(dir) = signed_pdfs() else { return };
    let oracle: Value = serde_json::from_slice(&std::fs::read(dir.path().join("oracle.json")).unwrap()).unwrap();
    let oracle = oracle.as_object().unwrap();
    assert_eq!(oracle.len(), 15, "every case of the script");
    let root = dir.path().join("pki/root.pem");
    let mut compared = 0;
    for (anchors, key) in [(vec![root.clone()], "with_anchor"), (Vec::new(), "without_anchor")] {
        let reader = reader(anchors.clone());
        for (file, cases) in oracle {
            let path = dir.path().join(file);
            let (_, analysis) = reader.read_file(&path, file).unwrap();
            let doc = analysis.fields.document.as_ref().unwrap_or_else(|| panic!("{file}: no PDF structure: {:?}", analysis.findings));
            let expected = cases[key].as_array().unwrap();
            assert_eq!(doc.signatures.len(), expected.len(), "{file} {key}");
            for (i, (sig, want)) in doc.signatures.iter().zip(expected).enumerate() {
                let ctx = format!("{file} {key} signature {i}: {sig:#?}\npyhanko: {want}");
                let v = sig.validation.as_ref().unwrap_or_else(|| panic!("{ctx}: not validated"));
                assert_eq!(sig.byte_range[2] + sig.byte_range[3], want["signed_end"].as_i64().unwrap(), "{ctx}: same signature");
                assert_eq!(v.intact, want["intact"].as_bool().unwrap(), "{ctx}: intact");
                // pyhanko's ETSI validation with time passes what its plain validation
                // (judged now) rejects when a timestamp proves the signature older than
                // the revocation; caregate follows ETSI there.
                let ades_passed = want["ades"] == "AdESPassed.OK";
                assert_eq!(v.trusted, want["trusted"].as_bool().unwrap() || ades_passed, "{ctx}: trusted");
                assert_eq!(sig.covers_whole_file, want["coverage"] == "ENTIRE_FILE", "{ctx}: coverage");
                assert_eq!(v.modification_level, level(want["modification_level"].as_str().unwrap_or("NONE")), "{ctx}: modification level");
                assert_eq!(v.trust_anchors, anchors.len(), "{ctx}");
                // The signed bytes hash to what was signed (a document timestamp: its imprint).
                assert_eq!(sig.digest_valid, Some(true), "{ctx}: digest");
                assert!(!analysis.findings.iter().any(|f| f.code == FindingCode::SignatureDigestMismatch), "{ctx}: {:?}", analysis.findings);
                // What pyhanko's difference analysis refuses is said, and only that.
                let said = analysis
                    .findings
                    .iter()
                    .any(|f| f.code == FindingCode::ModifiedAfterSigning && f.pointer.as_deref() == Some(&format!("document.signatures.{i}.validation")));
                if want["document_timestamp"] != true {
                    assert_eq!(said, !want["docmdp_ok"].as_bool().unwrap(), "{ctx}: modified_after_signing {:?}", analysis.findings);
                }
                if want["document_timestamp"] == true {
                    assert_eq!(sig.sub_filter.as_deref(), Some("ETSI.RFC3161"), "{ctx}");
                    assert_eq!(v.timestamp.as_ref().map(|t| t.trusted), Some(want["trusted"].as_bool().unwrap()), "{ctx}");
                } else {
                    assert_eq!(v.revocation == RevocationStatus::Revoked, want["revoked"].as_bool().unwrap(), "{ctx}: revoked");
                    assert_eq!(v.modifications_permitted, want["docmdp_ok"].as_bool().unwrap(), "{ctx}: modifications permitted");
                    assert_eq!(v.timestamp.is_some(), want["timestamp"].as_bool().unwrap(), "{ctx}: timestamp");
                    assert_eq!(v.timestamp.as_ref().is_some_and(|t| t.trusted), want["timestamp_trusted"].as_bool().unwrap(), "{ctx}: timestamp trusted");
                    // pyhanko's bottom line is ours: passed exactly when it would rely on it.
                    assert_eq!(v.indication == Indication::TotalPassed, want["bottom_line"].as_bool().unwrap() || ades_passed, "{ctx}: bottom line");
                    // Where pyhanko's ETSI result names a sub-indication caregate decides
                    // alike (its AdES API wants a timestamp; without one it says
                    // SIG_CONSTRAINTS_FAILURE, which is not a conclusion on the signer). It
                    // judges the CMS, not the PDF: a forbidden change after signing is
                    // caregate's TOTAL_FAILED whatever the signer.
                    for (ades, sub) in [
                        ("AdESIndeterminate.REVOKED_NO_POE", SubIndication::RevokedNoPoe),
                        ("AdESIndeterminate.NO_CERTIFICATE_CHAIN_FOUND", SubIndication::NoCertificateChainFound),
                    ] {
                        if want["ades"] == ades && v.modifications_permitted {
                            assert_eq!(v.sub_indication, Some(sub), "{ctx}: ETSI sub-indication");
                        }
                    }
                    if ades_passed {
                        assert_eq!(v.indication, Indication::TotalPassed, "{ctx}: ETSI indication");
                    }
                }
                compared += 1;
            }
        }
    }
    assert_eq!(compared, 38);

    // The ETSI terms an archivist reads, case by case, with the root trusted.
    let reader = reader(vec![root]);
    let first = |file: &str| {
        let (_, a) = reader.read_file(&dir.path().join(file), file).unwrap();
        let doc = a.fields.document.unwrap();
        let v = doc.signatures[0].validation.clone().unwrap();
        (v, a.findings, doc.signatures.len())
    };
    use caregate_schemas::extracted::{PadesLevel, TimeSource};
    let (v, findings, _) = first("simple.pdf");
    assert_eq!((v.indication, v.pades_level, v.time_source), (Indication::TotalPassed, Some(PadesLevel::BB), TimeSource::Claimed));
    assert_eq!(
        v.chain,
        [
            "CN=Directeur CH Exemple,O=caregate PKI de test,C=FR",
            "CN=Intermédiaire de test,O=caregate PKI de test,C=FR",
            "CN=Racine de test,O=caregate PKI de test,C=FR"
        ]
    );
    assert!(findings.iter().all(|f| !f.code.as_str().starts_with("signature")), "{findings:?}");
    let (v, _, _) = first("horodatee.pdf");
    assert_eq!((v.pades_level, v.time_source), (Some(PadesLevel::BT), TimeSource::Timestamp));
    assert!(v.timestamp.unwrap().authority.unwrap().contains("Horodatage de test"));
    let (v, _, _) = first("long-terme.pdf");
    assert_eq!((v.pades_level, v.revocation), (Some(PadesLevel::BLt), RevocationStatus::Good));
    let (v, _, n) = first("archivage.pdf");
    assert_eq!((v.pades_level, n), (Some(PadesLevel::BLta), 2));
    let (v, findings, _) = first("revoquee.pdf");
    assert_eq!((v.indication, v.sub_indication), (Indication::Indeterminate, Some(SubIndication::RevokedNoPoe)));
    assert!(findings.iter().any(|f| f.code == FindingCode::SignatureIndeterminate && f.message.contains("révoqué")), "{findings:?}");
    // Status by OCSP: the intermediate's own answer (good), a delegated responder's
    // (revoked, with its date); revoked two days ago but timestamped ten days ago.
    let (v, _, _) = first("long-terme-ocsp.pdf");
    assert_eq!((v.indication, v.revocation, v.pades_level), (Indication::TotalPassed, RevocationStatus::Good, Some(PadesLevel::BLt)));
    let (v, _, _) = first("revoquee-ocsp.pdf");
    assert_eq!((v.indication, v.sub_indication, v.revocation), (Indication::Indeterminate, Some(SubIndication::RevokedNoPoe), RevocationStatus::Revoked));
    let revoked_at = v.revoked_at.expect("the OCSP response's revocation time");
    assert!((chrono::Utc::now() - revoked_at - chrono::Duration::days(2)).num_hours().abs() < 2, "{revoked_at}");
    let (v, findings, _) = first("revoquee-apres-horodatage.pdf");
    assert_eq!((v.indication, v.revocation, v.time_source), (Indication::TotalPassed, RevocationStatus::Revoked, TimeSource::Timestamp));
    let (stamped, revoked_at) = (v.timestamp.unwrap().time.unwrap(), v.revoked_at.expect("the CRL's revocation date"));
    assert!(stamped < revoked_at && v.judged_at == stamped, "{stamped} {revoked_at} {}", v.judged_at);
    assert!(findings.iter().all(|f| !f.code.as_str().starts_with("signature")), "{findings:?}");
    let (v, _, _) = first("expiree.pdf");
    assert_eq!(v.sub_indication, Some(SubIndication::OutOfBoundsNoPoe));
    let (v, _, _) = first("ac-inconnue.pdf");
    assert_eq!(v.sub_indication, Some(SubIndication::NoCertificateChainFound));
    let (v, findings, _) = first("modifiee-apres-signature.pdf");
    assert_eq!((v.indication, v.modification_level), (Indication::TotalFailed, ModificationLevel::Other));
    assert!(findings.iter().any(|f| f.code == FindingCode::ModifiedAfterSigning && f.severity == caregate_schemas::Severity::Error), "{findings:?}");
    let (v, _, _) = first("certifiee-remplie.pdf");
    assert_eq!((v.certification, v.modification_level, v.indication), (Some(2), ModificationLevel::FormFilling, Indication::TotalPassed));
    // A second signature is form filling for the first; the first one's appearance
    // rewritten afterwards fails both, whatever the grading by kind of object would say.
    let (v, findings, n) = first("deux-signatures.pdf");
    assert_eq!((v.modification_level, v.indication, n), (ModificationLevel::FormFilling, Indication::TotalPassed, 2));
    assert!(findings.iter().all(|f| !f.code.as_str().starts_with("signature") && f.code != FindingCode::ModifiedAfterSigning), "{findings:?}");
    let (v, findings, _) = first("apparence-remplacee.pdf");
    assert_eq!((v.indication, v.modification_level, v.modifications_permitted), (Indication::TotalFailed, ModificationLevel::Other, false));
    assert_eq!(findings.iter().filter(|f| f.code == FindingCode::ModifiedAfterSigning).count(), 2, "{findings:?}");
}

fn copy(dir: &Path, file: &str) -> Vec<u8> {
    std::fs::read(dir.join(file)).unwrap()
}

/// The verdict uses the validation: an attestation changed after signing does not
/// prove its objective; one whose signer is not trusted goes to a controller with the
/// reason in French; a trusted one proves it.
async fn the_verdict_follows_the_signature(stack: common::Stack) {
    let Some(dir) = signed_pdfs() else { return };
    for (file, verdict, code) in [
        ("simple.pdf", Verdict::Met, FindingCode::EvidencePresent),
        ("modifiee-apres-signature.pdf", Verdict::NotMet, FindingCode::SignatureInvalid),
        ("ac-inconnue.pdf", Verdict::NeedsReview, FindingCode::SignatureIndeterminate),
    ] {
        let mut env = common::TestEnv::new(stack).await;
        env.config.signatures.trust_anchors = vec![dir.path().join("pki/root.pem")];
        let (app, sub, _) = common::process_files(&env, vec![(file, copy(dir.path(), file))]).await;
        let v = app.wait_for_verification(sub.submission_id, 1, std::time::Duration::from_secs(20)).await.unwrap();
        let pre = v.objectives.iter().find(|o| o.objective == "D1.PRE").unwrap();
        assert_eq!(pre.verdict, verdict, "{stack:?} {file}: {:?}", pre.reasons);
        let reason = pre.reasons.iter().find(|r| r.code == code).unwrap_or_else(|| panic!("{file}: {:?}", pre.reasons));
        if code == FindingCode::SignatureIndeterminate {
            assert!(
                reason.message.contains("aucune chaîne vers une autorité de confiance") && reason.message.contains("NO_CERTIFICATE_CHAIN_FOUND"),
                "{}",
                reason.message
            );
        }
    }
}
common::on_each_stack!(the_verdict_follows_the_signature);

/// Trust changes over the years: a dossier read when nobody trusted the signer's CA is
/// validated again once the archive trusts it; the new validation is in the record, its
/// history keeps both, and the verdict follows.
async fn signatures_are_validated_again_with_todays_anchors(stack: common::Stack) {
    let Some(dir) = signed_pdfs() else { return };
    let env = common::TestEnv::new(stack).await;
    let (app, sub, records) = common::process_files(&env, vec![("attestation.pdf", copy(dir.path(), "simple.pdf"))]).await;
    let v = app.wait_for_verification(sub.submission_id, 1, std::time::Duration::from_secs(20)).await.unwrap();
    let pre = v.objectives.iter().find(|o| o.objective == "D1.PRE").unwrap();
    assert_eq!(pre.verdict, Verdict::NeedsReview, "no trust anchor: {:?}", pre.reasons);

    let mut config = env.config.clone();
    config.signatures.trust_anchors = vec![dir.path().join("pki")];
    let later = caregate::App::open(config).await.unwrap();
    let done =
        caregate_archive::signatures::revalidate(Stores::of(&later.backends), &later.config.reader().unwrap(), &later.verifier().unwrap(), sub.submission_id)
            .await
            .unwrap();
    assert_eq!(done.len(), 1, "{stack:?}");
    assert_eq!((done[0].before.as_slice(), done[0].after.as_slice()), (&[Some(Indication::Indeterminate)][..], &[Some(Indication::TotalPassed)][..]));
    let rec = later.backends.index.get(records[0].evidence_id).await.unwrap().unwrap();
    let validation = rec.fields.document.as_ref().unwrap().signatures[0].validation.clone().unwrap();
    assert!(validation.trusted && validation.trust_anchors >= 1, "{validation:?}");
    assert!(!rec.findings.iter().any(|f| f.code == FindingCode::SignatureIndeterminate), "{:?}", rec.findings);
    let events = later.backends.index.events(rec.evidence_id).await.unwrap();
    let last = events.last().unwrap();
    assert_eq!(last.kind, "signatures_validated");
    assert_eq!((last.detail["before"][0].as_str(), last.detail["after"][0].as_str()), (Some("INDETERMINATE"), Some("TOTAL_PASSED")));
    let v = later.backends.index.verification(sub.submission_id).await.unwrap().unwrap();
    let pre = v.objectives.iter().find(|o| o.objective == "D1.PRE").unwrap();
    assert_eq!(pre.verdict, Verdict::Met, "{:?}", pre.reasons);
}
common::on_each_stack!(signatures_are_validated_again_with_todays_anchors);
