//! Archivists' fixity check: every stored object is read again and compared with its
//! record; a damaged or vanished object is reported and written into its history.

use crate::common;

use crate::common::{process_files, TestEnv};
use caregate_archive::fixity::{self, Fixity};
use caregate_archive::Stores;
use caregate_schemas::Sha256Digest;

async fn fixity_catches_a_damaged_and_a_missing_object(stack: common::Stack) {
    let env = TestEnv::new(stack).await;
    let files = [("rapport.txt", "rapport d'audit AD"), ("facture.txt", "FACTURE N° FA-9\nTotal TTC : 12,00 €"), ("note.txt", "note")];
    let (app, _, records) = process_files(&env, files.iter().map(|(n, b)| (*n, b.as_bytes().to_vec())).collect()).await;

    let all = fixity::run(Stores::of(&app.backends), None, |_, _| {}).await.unwrap();
    assert_eq!((all.checked, all.intact), (3, 3), "{stack:?}: {:?}", all.problems);

    // Years later: one object's bytes changed under its key, another gone.
    let by_path = |p: &str| records.iter().find(|r| r.path == p).unwrap();
    let damaged = by_path("rapport.txt");
    let changed = env.dir.path().join("changed");
    std::fs::write(&changed, b"rapport d'audit AD, modifie").unwrap();
    let key = damaged.object_key.clone().unwrap();
    app.backends.evidence.put_file(&key, &changed, &Sha256Digest::of(b"rapport d'audit AD, modifie")).await.unwrap();
    let missing = by_path("facture.txt");
    app.backends.evidence.delete(missing.object_key.as_deref().unwrap()).await.unwrap();

    let mut seen = Vec::new();
    let report = fixity::run(Stores::of(&app.backends), None, |rec, f| seen.push((rec.path.clone(), f.clone()))).await.unwrap();
    assert_eq!((report.checked, report.intact, report.problems.len()), (3, 1, 2), "{stack:?}");
    assert!(seen.contains(&("rapport.txt".into(), Fixity::Mismatch { actual_sha256: Sha256Digest::of(b"rapport d'audit AD, modifie").hex(), actual_size: 27 })));
    assert!(seen.contains(&("facture.txt".into(), Fixity::Missing)));
    let events: Vec<String> = app.backends.index.events(damaged.evidence_id).await.unwrap().into_iter().map(|e| e.kind).collect();
    assert_eq!(events.last().map(String::as_str), Some("fixity_failed"), "written into the history");
    let gone = app.backends.index.events(missing.evidence_id).await.unwrap().pop().unwrap();
    assert_eq!(
        (gone.kind.as_str(), &gone.detail["during"], &gone.detail["found"]["outcome"]),
        ("fixity_failed", &serde_json::json!("fixity_check"), &serde_json::json!("missing"))
    );

    // --since: nothing was received tomorrow.
    let tomorrow = chrono::Utc::now() + chrono::Duration::days(1);
    assert_eq!(fixity::run(Stores::of(&app.backends), Some(tomorrow), |_, _| {}).await.unwrap().checked, 0);
}
common::on_each_stack!(fixity_catches_a_damaged_and_a_missing_object);
