//! Archivists' export packages: a submission written as a signed BagIt bag, checked
//! offline; each kind of tampering is caught and named; damaged stored bytes are never
//! packaged.

use crate::common;

use std::path::Path;

use crate::common::{controller_rejects, copy_dir, eicar, process_files, TestEnv};
use caregate::bag::{self, BagProblem, KeyUsed};
use caregate_schemas::Sha256Digest;

async fn a_submission_exports_as_a_signed_bag_and_tampering_is_named(stack: common::Stack) {
    let env = TestEnv::new(stack).await;
    let audit = std::fs::read(common::samples_dir().join("annuaire/ad_hc_ch-exemple.local.xml")).unwrap();
    let files = vec![
        ("annuaire/ad_hc_ch-exemple.local.xml", audit.clone()),
        ("factures/facture été 100%.txt", "FACTURE N° FA-1\nTotal TTC : 1 234,56 €".into()),
        ("eicar.com", eicar()),
    ];
    let (app, sub, _) = process_files(&env, files).await;
    let machine = app.wait_for_verification(sub.submission_id, 3, std::time::Duration::from_secs(20)).await.unwrap();
    // A controller rejected D1.PRE: the bag holds the decision and the decided verdict.
    let decision = controller_rejects(&app, &machine, "D1.PRE").await;

    let keys = tempfile::tempdir().unwrap();
    let public = bag::generate_signing_key(&keys.path().join("archive.key")).unwrap();
    let key = bag::load_signing_key(&keys.path().join("archive.key")).unwrap();
    let out = env.dir.path().join("bag");
    let done = bag::export(&app, sub.submission_id, &out, &key).await.unwrap();
    assert_eq!(done.files, 2, "{stack:?}");
    assert_eq!(done.not_packaged, ["eicar.com"], "infected files never leave quarantine");
    assert_eq!(std::fs::read(out.join("data/files/annuaire/ad_hc_ch-exemple.local.xml")).unwrap(), audit);
    let manifest = std::fs::read_to_string(out.join("manifest-sha256.txt")).unwrap();
    assert!(manifest.contains("data/files/factures/facture été 100%25.txt"), "RFC 8493 encodes %: {manifest}");
    for meta in ["records", "verification", "verification-history", "decisions", "events"] {
        assert!(manifest.contains(&format!("data/metadata/{meta}.json")));
    }
    let verification: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("data/metadata/verification.json")).unwrap()).unwrap();
    assert_eq!(verification["submission_id"], sub.submission_id.to_string());
    let pre = verification["objectives"].as_array().unwrap().iter().find(|o| o["objective"] == "D1.PRE").unwrap();
    assert_eq!((pre["verdict"].as_str(), pre["reasons"][0]["code"].as_str()), (Some("not_met"), Some("controller_rejected")));
    let events: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("data/metadata/events.json")).unwrap()).unwrap();
    let audit_id = app.backends.index.submission(sub.submission_id).await.unwrap().into_iter().find(|r| r.path.starts_with("annuaire/")).unwrap().evidence_id;
    let last = events[audit_id.to_string()].as_array().unwrap().last().unwrap().clone();
    assert_eq!((last["kind"].as_str(), last["detail"]["via"].as_str()), (Some("file_read"), Some("export")), "the export is in the history it carries");
    let decisions: Vec<caregate_schemas::Decision> = serde_json::from_slice(&std::fs::read(out.join("data/metadata/decisions.json")).unwrap()).unwrap();
    assert_eq!(decisions, [decision]);

    let (problems, used) = bag::check(&out, Some(&public));
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(used, Some(KeyUsed::Given(hex::encode(public.as_bytes()))));
    assert!(matches!(bag::check(&out, None).1, Some(KeyUsed::FromBag(_))));

    let tampered = |name: &str, edit: &dyn Fn(&Path)| {
        let copy = env.dir.path().join(name);
        copy_dir(&out, &copy);
        edit(&copy);
        bag::check(&copy, Some(&public)).0
    };
    // A payload file changed.
    let p = tampered("changed", &|b| std::fs::write(b.join("data/files/annuaire/ad_hc_ch-exemple.local.xml"), b"<HealthcheckData/>").unwrap());
    assert!(
        matches!(&p[..], [BagProblem::Changed { path, .. }, BagProblem::PayloadOxum { .. }] if path == "data/files/annuaire/ad_hc_ch-exemple.local.xml"),
        "{p:?}"
    );
    assert!(p[0].to_string().contains("ad_hc_ch-exemple.local.xml changed"), "{}", p[0]);
    // A file removed, a file slipped in.
    let p = tampered("removed", &|b| std::fs::remove_file(b.join("data/metadata/events.json")).unwrap());
    assert!(p.contains(&BagProblem::Missing { manifest: "manifest-sha256.txt".into(), path: "data/metadata/events.json".into() }), "{p:?}");
    let p = tampered("added", &|b| std::fs::write(b.join("data/files/ajout.pdf"), b"%PDF").unwrap());
    assert!(p.contains(&BagProblem::NotInManifest("data/files/ajout.pdf".into())), "{p:?}");
    // The manifests rewritten to match a changed file: the signature no longer holds.
    let p = tampered("resigned", &|b| {
        let file = b.join("data/metadata/records.json");
        std::fs::write(&file, b"[]").unwrap();
        let old = Sha256Digest::of(&std::fs::read(out.join("data/metadata/records.json")).unwrap()).hex();
        let manifest = std::fs::read_to_string(b.join("manifest-sha256.txt")).unwrap().replace(&old, &Sha256Digest::of(b"[]").hex());
        std::fs::write(b.join("manifest-sha256.txt"), &manifest).unwrap();
        let tags: String = ["bagit.txt", "bag-info.txt", "manifest-sha256.txt"]
            .iter()
            .map(|n| format!("{}  {n}\n", Sha256Digest::of(&std::fs::read(b.join(n)).unwrap()).hex()))
            .collect();
        std::fs::write(b.join(bag::TAG_MANIFEST), tags).unwrap();
    });
    assert!(matches!(&p[..], [BagProblem::PayloadOxum { .. }, BagProblem::BadSignature { .. }]), "{p:?}");
    // Signed by another key than the archive's.
    let other = bag::generate_signing_key(&keys.path().join("other.key")).unwrap();
    assert!(matches!(&bag::check(&out, Some(&other)).0[..], [BagProblem::BadSignature { .. }]));

    // Stored bytes damaged since intake: refused, and written into the history.
    let rec = app.backends.index.submission(sub.submission_id).await.unwrap().into_iter().find(|r| r.path.starts_with("annuaire")).unwrap();
    let changed = env.dir.path().join("changed-object");
    std::fs::write(&changed, b"<HealthcheckData/>").unwrap();
    app.backends.evidence.put_file(rec.object_key.as_deref().unwrap(), &changed, &Sha256Digest::of(b"<HealthcheckData/>")).await.unwrap();
    let err = bag::export(&app, sub.submission_id, &env.dir.path().join("bag2"), &key).await.unwrap_err().to_string();
    assert!(err.contains("ad_hc_ch-exemple.local.xml") && err.contains("not exported"), "{err}");
    let last = app.backends.index.events(rec.evidence_id).await.unwrap().pop().unwrap();
    assert_eq!(last.kind, "fixity_failed");
    assert_eq!((&last.detail["during"], &last.detail["found"]["outcome"]), (&serde_json::json!("export"), &serde_json::json!("mismatch")));
}
common::on_each_stack!(a_submission_exports_as_a_signed_bag_and_tampering_is_named);
