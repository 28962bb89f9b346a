//! Archive work end to end on the embedded back ends (a local directory for the bytes,
//! SQLite for the index): a bag and a SEDA transfer written and checked, damaged bytes
//! refused at export and found by fixity, a submission still being read refused. No
//! service is needed, so these run in the fast tier (`cargo test --lib`).

use std::path::Path;

use caregate_schemas::{EvidenceId, EvidenceRecord, Sha256Digest, Status, SubmissionId, SubmissionRef};
use caregate_storage::{AuditLog, Fixity, LocalObjectStore, ObjectStore, Records, SqlIndex};
use ed25519_dalek::SigningKey;
use serde_json::json;

use crate::package::{ExportError, RecordsError};
use crate::{bag, fixity, seda, Stores};

struct Embedded {
    dir: tempfile::TempDir,
    index: SqlIndex,
    evidence: LocalObjectStore,
    submission: SubmissionRef,
}

impl Embedded {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let index = SqlIndex::connect(&format!("sqlite://{}?mode=rwc", dir.path().join("index.sqlite").display()), 2).await.unwrap();
        let evidence = LocalObjectStore::open_dir(dir.path().join("evidence")).await.unwrap();
        let submission = SubmissionRef {
            submission_id: SubmissionId::new(),
            establishment: "750000001".into(),
            campaign: "care-d1-2024".into(),
            objectives: vec!["D1.PRE".into()],
            category: None,
        };
        Self { dir, index, evidence, submission }
    }

    fn stores(&self) -> Stores<'_> {
        Stores { index: &self.index, evidence: &self.evidence }
    }

    fn id(&self) -> SubmissionId {
        self.submission.submission_id
    }

    /// A file received, then finished with `status`: kept in the evidence store unless
    /// infected (then it stays in quarantine and has no object), left `received` when
    /// `status` is.
    async fn file(&self, path: &str, body: &[u8], status: Status) -> EvidenceRecord {
        let id = EvidenceId::new();
        let sha256 = Sha256Digest::of(body);
        let mut rec = EvidenceRecord::received(id, self.submission.clone(), path.into(), sha256, body.len() as u64, id.quarantine_key());
        self.index.record_received(&rec).await.unwrap();
        if status == Status::Received {
            return rec;
        }
        if status != Status::Infected {
            let key = sha256.object_key();
            self.put(&key, body).await;
            rec.object_key = Some(key);
        }
        rec.status = status;
        assert!(self.index.finish(&rec, json!({})).await.unwrap());
        rec
    }

    async fn put(&self, key: &str, body: &[u8]) {
        let file = self.dir.path().join("upload");
        std::fs::write(&file, body).unwrap();
        self.evidence.put_file(key, &file, &Sha256Digest::of(body)).await.unwrap();
    }

    async fn last_event(&self, rec: &EvidenceRecord) -> caregate_schemas::EvidenceEvent {
        self.index.events(rec.evidence_id).await.unwrap().pop().unwrap()
    }
}

fn key() -> SigningKey {
    SigningKey::from_bytes(&[42; 32])
}

#[tokio::test]
async fn a_bag_is_written_checked_and_carries_its_own_making() {
    let at = Embedded::new().await;
    let invoice = at.file("factures/facture été 100%.txt", b"FACTURE N 1\nTotal TTC : 12,00 EUR", Status::Stored).await;
    at.file("factures/Facture été 100%.TXT", b"une autre facture", Status::NeedsReview).await;
    at.file("eicar.com", b"X5O!P%@AP", Status::Infected).await;
    let out = at.dir.path().join("sac");

    let done = bag::export(at.stores(), at.id(), &out, &key()).await.unwrap();
    assert_eq!((done.files, done.not_packaged.as_slice()), (2, &["eicar.com".to_owned()][..]));
    assert_eq!(done.renamed.len(), 2, "two names equal without case both take their id: {:?}", done.renamed);
    let (problems, used) = bag::check(&out, Some(&key().verifying_key()));
    assert!(problems.is_empty(), "{problems:?}");
    assert!(matches!(used, Some(crate::signing::KeyUsed::Given(_))));
    let manifest = std::fs::read_to_string(out.join("manifest-sha256.txt")).unwrap();
    assert!(manifest.contains(&format!("factures/facture été 100%25.{}.txt", invoice.evidence_id)), "{manifest}");

    let read = at.last_event(&invoice).await;
    assert_eq!((read.kind.as_str(), &read.detail["via"], &read.detail["format"]), ("file_read", &json!("export"), &json!("bag")));
    let events: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("data/metadata/events.json")).unwrap()).unwrap();
    let carried = events[invoice.evidence_id.to_string()].as_array().unwrap();
    assert_eq!(carried.last().unwrap()["kind"], "file_read", "the bag carries the record of its own making");

    // A package is written into a new directory only.
    let again = bag::export(at.stores(), at.id(), &out, &key()).await.unwrap_err();
    assert!(matches!(again, ExportError::Exists(_)), "{again}");
}

#[tokio::test]
async fn a_seda_transfer_is_written_and_checked() {
    let at = Embedded::new().await;
    at.file("annuaire/rapport.txt", b"rapport d'audit", Status::Stored).await;
    at.file("eicar.com", b"X5O!P%@AP", Status::Infected).await;
    let out = at.dir.path().join("transfert");
    let done = seda::export(at.stores(), &seda::SedaConfig::default(), 3650, at.id(), &out, &key()).await.unwrap();
    assert_eq!(done.not_packaged, ["eicar.com"]);
    assert_eq!(done.files, 1 + 6, "the stored file and the dossier's six records");
    let (problems, _) = seda::check(&out, Some(&key().verifying_key()), None);
    assert!(problems.is_empty(), "{problems:?}");
    let rules = std::fs::read_to_string(out.join("content/dossier/regles-de-gestion.csv")).unwrap();
    assert!(rules.contains("\"CAREGATE-DUA\",\"AppraisalRule\"") && rules.contains("\"3650\",\"DAY\""), "{rules}");
}

#[tokio::test]
async fn damaged_bytes_are_refused_at_export_leave_nothing_and_are_found_by_fixity() {
    let at = Embedded::new().await;
    let kept = at.file("rapport.txt", b"rapport d'audit AD", Status::Stored).await;
    let other = at.file("note.txt", b"note", Status::Stored).await;
    let report = fixity::run(at.stores(), None, |_, _| {}).await.unwrap();
    assert_eq!((report.checked, report.intact), (2, 2));

    at.put(kept.object_key.as_deref().unwrap(), b"rapport d'audit AD, modifie").await;
    let out = at.dir.path().join("sac");
    let err = bag::export(at.stores(), at.id(), &out, &key()).await.unwrap_err();
    assert!(matches!(&err, ExportError::Damaged { path, actual_size: 27, .. } if path == "rapport.txt"), "{err}");
    assert!(err.to_string().contains("rapport.txt") && err.to_string().contains("not exported"), "{err}");
    assert!(!out.exists() && !at.dir.path().join(".sac.partiel").exists(), "no half package");
    let failed = at.last_event(&kept).await;
    assert_eq!((failed.kind.as_str(), &failed.detail["during"]), ("fixity_failed", &json!("export")));

    at.evidence.delete(other.object_key.as_deref().unwrap()).await.unwrap();
    let mut seen = Vec::new();
    let report = fixity::run(at.stores(), None, |rec, f| seen.push((rec.path.clone(), f.clone()))).await.unwrap();
    assert_eq!((report.checked, report.intact, report.problems.len()), (2, 0, 2));
    assert!(seen.contains(&("note.txt".into(), Fixity::Missing)), "{seen:?}");
    assert_eq!(fixity::run(at.stores(), Some(chrono::Utc::now() + chrono::Duration::days(1)), |_, _| {}).await.unwrap().checked, 0);
}

#[tokio::test]
async fn a_submission_unknown_or_still_being_read_is_not_packaged() {
    let at = Embedded::new().await;
    let out = at.dir.path().join("sac");
    let err = bag::export(at.stores(), at.id(), &out, &key()).await.unwrap_err();
    assert!(matches!(err, ExportError::Records(RecordsError::NoRecord(id)) if id == at.id()), "{err}");
    at.file("rapport.txt", b"rapport", Status::Stored).await;
    at.file("en-cours.pdf", b"%PDF-", Status::Received).await;
    let err = seda::export(at.stores(), &seda::SedaConfig::default(), 3650, at.id(), &out, &key()).await.unwrap_err();
    assert_eq!(err.to_string(), "en-cours.pdf is still being processed: export once the submission is complete");
    assert!(!out.exists() && !Path::new(&at.dir.path().join(".sac.partiel")).exists());
}
