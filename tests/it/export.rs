//! Archivists' export packages: a submission written as a signed BagIt bag, checked
//! offline; each kind of tampering is caught and named; damaged stored bytes are never
//! packaged.

use crate::common;
use caregate_schemas::FindingCode;

use std::path::Path;

use crate::common::{controller_rejects, copy_dir, eicar, process_files, TestEnv};
use caregate_archive::bag::{self, BagProblem};
use caregate_archive::signing::{self, KeyUsed};
use caregate_archive::Stores;
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
    let public = signing::generate_signing_key(&keys.path().join("archive.key")).unwrap();
    let key = signing::load_signing_key(&keys.path().join("archive.key")).unwrap();
    let out = env.dir.path().join("bag");
    let done = bag::export(Stores::of(&app.backends), sub.submission_id, &out, &key).await.unwrap();
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
    assert_eq!((pre["verdict"].as_str(), pre["reasons"][0]["code"].as_str()), (Some("not_met"), Some(FindingCode::ControllerRejected.as_str())));
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
    let other = signing::generate_signing_key(&keys.path().join("other.key")).unwrap();
    assert!(matches!(&bag::check(&out, Some(&other)).0[..], [BagProblem::BadSignature { .. }]));

    // Stored bytes damaged since intake: refused, and written into the history.
    let rec = app.backends.index.submission(sub.submission_id).await.unwrap().into_iter().find(|r| r.path.starts_with("annuaire")).unwrap();
    let changed = env.dir.path().join("changed-object");
    std::fs::write(&changed, b"<HealthcheckData/>").unwrap();
    app.backends.evidence.put_file(rec.object_key.as_deref().unwrap(), &changed, &Sha256Digest::of(b"<HealthcheckData/>")).await.unwrap();
    let err = bag::export(Stores::of(&app.backends), sub.submission_id, &env.dir.path().join("bag2"), &key).await.unwrap_err().to_string();
    assert!(err.contains("ad_hc_ch-exemple.local.xml") && err.contains("not exported"), "{err}");
    let last = app.backends.index.events(rec.evidence_id).await.unwrap().pop().unwrap();
    assert_eq!(last.kind, "fixity_failed");
    assert_eq!((&last.detail["during"], &last.detail["found"]["outcome"]), (&serde_json::json!("export"), &serde_json::json!("mismatch")));
}
common::on_each_stack!(a_submission_exports_as_a_signed_bag_and_tampering_is_named);

/// A zip of these members, in this order. A name may be given twice (a hand-made or
/// hostile zip): the writer refuses that, so the second is written under a stand-in of
/// the same length and renamed in the bytes; names are not covered by any checksum.
pub(crate) fn zip_with(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    let mut z = zip::ZipWriter::new(&mut out);
    let mut renamed = Vec::new();
    for (n, (name, body)) in members.iter().enumerate() {
        let mut written = name.to_string();
        if members[..n].iter().any(|(m, _)| m == name) {
            written.pop();
            written.push('\u{1}');
            renamed.push((written.clone(), name.to_string()));
        }
        z.start_file(written.as_str(), zip::write::SimpleFileOptions::default()).unwrap();
        std::io::Write::write_all(&mut z, body).unwrap();
    }
    z.finish().unwrap();
    let mut bytes = out.into_inner();
    for (from, to) in renamed {
        let (from, to) = (from.as_bytes(), to.as_bytes());
        while let Some(at) = bytes.windows(from.len()).position(|w| w == from) {
            bytes[at..at + from.len()].copy_from_slice(to);
        }
    }
    bytes
}

/// Files whose payload paths would meet — two uploads of one name, a name differing only
/// in case, two members of one name in a zip, and a member recorded under its raw name
/// `a/../b.txt` before names were cleaned (it would land on its sibling `b.txt`) — are
/// each packaged under a path of their own with their own bytes, and `caregate
/// verify-bag` finds the bag valid.
async fn colliding_payload_paths_are_packaged_apart_and_the_bag_verifies(stack: common::Stack) {
    let env = TestEnv::new(stack).await;
    let run = common::Running::start(&env).await;
    let app = run.app.clone();
    let sub = common::submission();
    let zip = zip_with(&[("b.txt", b"membre b"), ("dup.txt", b"premier dup"), ("dup.txt", b"second dup")]);
    let uploads: Vec<(&str, Vec<u8>)> = vec![
        ("factures/facture.txt", "FACTURE N° FA-1\nTotal TTC : 100,00 €".into()),
        ("factures/facture.txt", "FACTURE N° FA-2\nTotal TTC : 200,00 €".into()),
        ("factures/FACTURE.txt", "FACTURE N° FA-3\nTotal TTC : 300,00 €".into()),
        ("rapport.txt", "Rapport de sécurité de l'annuaire.".into()),
        ("x.zip", zip.clone()),
    ];
    for (name, body) in uploads {
        run.intake().receive(&sub, name, common::bytes_body(body)).await.unwrap();
    }
    // Five uploads and the zip's three members.
    let records = common::wait_done(&app, sub.submission_id, 8, 90).await;
    run.stop().await;
    assert_eq!(records.len(), 8, "{stack:?}: {:?}", records.iter().map(|r| &r.path).collect::<Vec<_>>());

    // A member recorded by a version that kept raw member names.
    let archive = records.iter().find(|r| r.path == "x.zip").unwrap();
    let old = b"membre a/../b.txt, nom brut".to_vec();
    let (sha256, id) = (Sha256Digest::of(&old), archive.evidence_id.member("a/../b.txt"));
    let mut legacy = caregate_schemas::EvidenceRecord::received(id, sub.clone(), "x.zip/a/../b.txt".into(), sha256, old.len() as u64, id.quarantine_key());
    legacy.parent = Some(archive.evidence_id);
    app.backends.index.record_received(&legacy).await.unwrap();
    let file = env.dir.path().join("legacy-member");
    std::fs::write(&file, &old).unwrap();
    app.backends.evidence.put_file(&sha256.object_key(), &file, &sha256).await.unwrap();
    (legacy.status, legacy.object_key, legacy.quarantine_key) = (caregate_schemas::Status::Stored, Some(sha256.object_key()), None);
    assert!(app.backends.index.finish(&legacy, serde_json::json!({})).await.unwrap());
    let records = app.backends.index.submission(sub.submission_id).await.unwrap();

    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("archive.key");
    let public = hex::encode(signing::generate_signing_key(&key_file).unwrap().as_bytes());
    let out = env.dir.path().join("bag");
    let caregate = |args: &[&std::ffi::OsStr]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_caregate")).envs(env.child_env()).env("CAREGATE_LOG", "warn").args(args).output().unwrap()
    };
    let id = sub.submission_id.to_string();
    let export = caregate(&["export".as_ref(), "--submission".as_ref(), id.as_ref(), "--key".as_ref(), key_file.as_os_str(), out.as_os_str()]);
    let said = String::from_utf8_lossy(&export.stdout);
    assert!(export.status.success(), "{stack:?}: {said}{}", String::from_utf8_lossy(&export.stderr));
    assert!(said.contains("renamed (its name is shared or not clean): \"factures/facture.txt\""), "{said}");
    let check = caregate(&["verify-bag".as_ref(), out.as_os_str(), "--public-key".as_ref(), public.as_ref()]);
    let verdict = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success() && verdict.contains("bag valid"), "{stack:?}: {verdict}");

    // Each file under its own path, with its own bytes.
    let manifest = std::fs::read_to_string(out.join("manifest-sha256.txt")).unwrap();
    let payload: Vec<(&str, &str)> = manifest.lines().filter_map(|l| l.split_once("  ")).filter(|(_, p)| p.starts_with("data/files/")).collect();
    assert_eq!(payload.len(), 9, "{manifest}");
    let by = |path: &str, body: &[u8]| records.iter().find(|r| r.path == path && r.sha256 == Sha256Digest::of(body)).unwrap().evidence_id;
    let expected = [
        (
            format!("factures/facture.{}.txt", by("factures/facture.txt", "FACTURE N° FA-1\nTotal TTC : 100,00 €".as_bytes())),
            "FACTURE N° FA-1\nTotal TTC : 100,00 €".as_bytes(),
        ),
        (
            format!("factures/facture.{}.txt", by("factures/facture.txt", "FACTURE N° FA-2\nTotal TTC : 200,00 €".as_bytes())),
            "FACTURE N° FA-2\nTotal TTC : 200,00 €".as_bytes(),
        ),
        (
            format!("factures/FACTURE.{}.txt", by("factures/FACTURE.txt", "FACTURE N° FA-3\nTotal TTC : 300,00 €".as_bytes())),
            "FACTURE N° FA-3\nTotal TTC : 300,00 €".as_bytes(),
        ),
        ("rapport.txt".to_owned(), "Rapport de sécurité de l'annuaire.".as_bytes()),
        ("x.zip".to_owned(), zip.as_slice()),
        ("x.zip.members/b.txt".to_owned(), b"membre b".as_slice()),
        (format!("x.zip.members/dup.{}.txt", by("x.zip/dup.txt", b"premier dup")), b"premier dup".as_slice()),
        (format!("x.zip.members/dup.{}.txt", by("x.zip/dup.txt", b"second dup")), b"second dup".as_slice()),
        (format!("{}.txt", legacy.evidence_id), old.as_slice()),
    ];
    for (path, body) in &expected {
        assert_eq!(std::fs::read(out.join("data/files").join(path)).unwrap_or_default(), *body, "{stack:?}: {path} in {manifest}");
        assert!(payload.contains(&(Sha256Digest::of(body).hex().as_str(), format!("data/files/{path}").as_str())), "{path} in {manifest}");
    }
}
common::on_each_stack!(colliding_payload_paths_are_packaged_apart_and_the_bag_verifies);
