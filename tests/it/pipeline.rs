//! Upload → scan → hash → identify → store → index, through the real services. (Reading
//! and classifying the samples: tests/extraction.rs.)

use crate::common;
use caregate_schemas::FindingCode;

use crate::common::{bytes_body, submission, wait_done, Running, TestEnv};
use caregate_schemas::{ScanResult, Status};

/// EICAR (built here) and ClamAV's test files inside zip and PDF are infected: kept in
/// quarantine, never copied to the evidence store.
async fn infected_files_stay_in_quarantine(stack: common::Stack) {
    let env = TestEnv::new(stack).await;
    let run = Running::start(&env).await;
    let app = run.app.clone();
    let sub = submission();
    let intake = run.intake();
    intake.receive(&sub, "eicar.txt", bytes_body(common::eicar())).await.unwrap();
    for name in ["clam.zip", "clam.pdf"] {
        let data = std::fs::read(format!("/usr/share/clamav-testfiles/{name}")).expect("clamav-testfiles installed");
        intake.receive(&sub, name, bytes_body(data)).await.unwrap();
    }
    let records = wait_done(&app, sub.submission_id, 3, 60).await;
    run.stop().await;

    for rec in &records {
        assert_eq!(rec.status, Status::Infected, "{stack:?} {}", rec.path);
        let scan = rec.scan.as_ref().unwrap();
        assert_eq!(scan.result, ScanResult::Infected);
        let sig = scan.signature.as_deref().unwrap();
        let expected = if rec.path == "eicar.txt" { "Caregate.Test.EICAR" } else { "Caregate.Test.ClamExe" };
        assert!(sig.starts_with(expected), "{}: {sig}", rec.path);
        assert!(rec.media_type.is_none(), "infected files are never identified or parsed");
        assert_eq!(rec.object_key, None);
        assert_eq!(app.backends.evidence.size(&rec.sha256.object_key()).await.unwrap(), None, "not in evidence store");
        let q = rec.quarantine_key.as_deref().unwrap();
        assert_eq!(app.backends.quarantine.size(q).await.unwrap(), Some(rec.size), "still in quarantine");
    }
    assert!(app.backends.evidence.list("").await.unwrap().is_empty());
}
common::on_each_stack!(infected_files_stay_in_quarantine);

/// The same bytes twice: one stored object, two evidence records pointing at it.
async fn duplicate_bytes_make_one_object(stack: common::Stack) {
    let env = TestEnv::new(stack).await;
    let run = Running::start(&env).await;
    let app = run.app.clone();
    let sub = submission();
    let intake = run.intake();
    let data = "Facture n° 12 — Total TTC : 1 234,56 €".as_bytes().to_vec();
    let a = intake.receive(&sub, "facture.txt", bytes_body(data.clone())).await.unwrap();
    let b = intake.receive(&sub, "copie/facture.txt", bytes_body(data)).await.unwrap();
    assert_ne!(a.evidence_id, b.evidence_id);
    let records = wait_done(&app, sub.submission_id, 2, 60).await;
    run.stop().await;
    assert!(records.iter().all(|r| r.status == Status::Stored));
    assert_eq!(records[0].object_key, records[1].object_key);
    assert_eq!(app.backends.evidence.list("sha256/").await.unwrap().len(), 1, "{stack:?}: one object");
}
common::on_each_stack!(duplicate_bytes_make_one_object);

/// Bytes changed in quarantine after the upload are caught and never stored.
async fn bytes_changed_in_quarantine_fail(stack: common::Stack) {
    let env = TestEnv::new(stack).await;
    let app = env.app().await;
    let sub = submission();
    let intake = app.intake().unwrap();
    let r = intake.receive(&sub, "rapport.txt", bytes_body(b"rapport d'audit AD".to_vec())).await.unwrap();
    // Tamper before any worker runs: overwrite the quarantined object.
    let tampered = env.dir.path().join("tampered");
    std::fs::write(&tampered, b"rapport d'audit AD (modifie)").unwrap();
    let digest = caregate_schemas::Sha256Digest::of(b"rapport d'audit AD (modifie)");
    app.backends.quarantine.put_file(&r.evidence_id.quarantine_key(), &tampered, &digest).await.unwrap();

    let run = Running::with_app(app.clone()).await;
    let records = wait_done(&app, sub.submission_id, 1, 60).await;
    run.stop().await;
    assert_eq!(records[0].status, Status::Failed, "{stack:?}");
    assert_eq!(records[0].findings[0].code, FindingCode::HashMismatch);
    assert!(app.backends.evidence.list("").await.unwrap().is_empty());
}
common::on_each_stack!(bytes_changed_in_quarantine_fail);
