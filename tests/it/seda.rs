//! Transfers to public archives: a dossier exported as a SEDA 2.3 `ArchiveTransfer`
//! validates against the archives' official schemas (xmllint), reads back with every
//! digest matching its file, describes the dossier, its objectives and its evidence
//! (infected files described, never packaged), and a tampered transfer is caught and
//! named — by `caregate verify-transfer` too.

use crate::common;

use std::path::Path;
use std::process::Command;

use crate::common::{controller_rejects, copy_dir, eicar, submission, wait_done, Running, TestEnv};
use caregate_archive::seda::{self, SchemaError, TransferProblem};
use caregate_archive::signing;
use caregate_archive::Stores;
use caregate_schemas::Sha256Digest;

/// The schemas' verdict on a manifest; `None` (and a note on stderr) where xmllint or
/// the schemas are absent.
fn schema_verdict(manifest: &Path) -> Option<Result<(), String>> {
    match seda::validate_schema(manifest, &seda::schemas_dir()) {
        Ok(()) => Some(Ok(())),
        Err(SchemaError::Invalid(why)) => Some(Err(why)),
        Err(SchemaError::Unavailable(why)) => {
            eprintln!("SEDA schemas not checked ({why}): install libxml2-utils and set CAREGATE_SEDA_SCHEMAS");
            None
        }
    }
}

async fn a_dossier_transfers_as_seda_and_tampering_is_named(stack: common::Stack) {
    let env = TestEnv::new(stack).await;
    let run = Running::start(&env).await;
    let app = run.app.clone();
    let sub = submission();
    let intake = run.intake();
    let samples = common::samples_dir();
    let audit = std::fs::read(samples.join("annuaire/ad_hc_ch-exemple.local.xml")).unwrap();
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("annuaire/ad_hc_ch-exemple.local.xml", audit.clone()),
        ("factures/facture été 100% <&>.txt", "FACTURE N° FA-1\nTotal TTC : 1 234,56 €".into()),
        ("divers/pieces-justificatives.zip", std::fs::read(samples.join("divers/pieces-justificatives.zip")).unwrap()),
        ("eicar.com", eicar()),
    ];
    for (name, body) in files {
        intake.receive(&sub, name, common::bytes_body(body)).await.unwrap();
    }
    // Four uploads and the zip's two members.
    let records = wait_done(&app, sub.submission_id, 6, 90).await;
    let machine = app.wait_for_verification(sub.submission_id, 6, std::time::Duration::from_secs(30)).await.unwrap();
    run.stop().await;
    controller_rejects(&app, &machine, "D1.PRE").await;

    let keys = tempfile::tempdir().unwrap();
    let public = signing::generate_signing_key(&keys.path().join("archive.key")).unwrap();
    let key = signing::load_signing_key(&keys.path().join("archive.key")).unwrap();
    let out = env.dir.path().join("transfert");
    let done =
        seda::export(Stores::of(&app.backends), &app.config.archive.seda, app.config.worker.retention_days, sub.submission_id, &out, &key).await.unwrap();
    assert_eq!(done.not_packaged, ["eicar.com"], "infected files never leave quarantine");
    // Five clean files, and the dossier's six records (verification, its history,
    // decisions, events, records, rules).
    assert_eq!(done.files, 11, "{stack:?}");

    let manifest_path = out.join(seda::MANIFEST);
    if let Some(verdict) = schema_verdict(&manifest_path) {
        verdict.unwrap_or_else(|why| panic!("{stack:?}: manifest invalid: {why}"));
    }
    // Read back: every packaged file is one object whose digest is the record's.
    let manifest = std::fs::read_to_string(&manifest_path).unwrap();
    let eicar_rec = records.iter().find(|r| r.path == "eicar.com").unwrap();
    for rec in &records {
        let uri = format!("content/{}", rec.evidence_id);
        if rec.evidence_id == eicar_rec.evidence_id {
            assert!(
                !manifest.contains(&uri)
                    && !out.join("content").read_dir().unwrap().any(|e| e.unwrap().file_name().to_string_lossy().contains(&rec.evidence_id.to_string()))
            );
            continue;
        }
        let file = std::fs::read_dir(out.join("content"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_string_lossy().contains(&rec.evidence_id.to_string()))
            .unwrap();
        assert_eq!(Sha256Digest::of(&std::fs::read(&file).unwrap()), rec.sha256, "{}", rec.path);
        assert!(manifest.contains(&format!("<MessageDigest algorithm=\"SHA-256\">{}</MessageDigest>", rec.sha256)), "{}", rec.path);
    }
    assert_eq!(
        std::fs::read(out.join(format!("content/{}.xml", records.iter().find(|r| r.path == "annuaire/ad_hc_ch-exemple.local.xml").unwrap().evidence_id)))
            .unwrap(),
        audit
    );
    // What an archivist reads: the establishment, the rules, the verdicts and reasons,
    // the file names as uploaded (escaped), the infected file described in quarantine.
    for expected in [
        "<Identifier schemeName=\"FINESS\">",
        "<Rule>CAREGATE-DUA</Rule>",
        "<FinalAction>Keep</FinalAction>",
        "<Rule>CAREGATE-COMMUNICABILITE</Rule>",
        "Objectif D1.PRE",
        "Refusé par un contrôleur",
        "<Filename>facture été 100% &lt;&amp;&gt;.txt</Filename>",
        "conservé en quarantaine, jamais transféré",
        "<EventTypeCode>file_read</EventTypeCode>",
        "<EventType>fichier communiqué</EventType>",
        "<ArchiveUnitRefId>",
    ] {
        assert!(manifest.contains(expected), "{stack:?}: manifest lacks {expected}");
    }
    let rules = std::fs::read_to_string(out.join("content/dossier/regles-de-gestion.csv")).unwrap();
    assert!(rules.contains("\"CAREGATE-DUA\",\"AppraisalRule\"") && rules.contains("\"3653\",\"DAY\""), "{rules}");
    let verification: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("content/dossier/verification.json")).unwrap()).unwrap();
    let pre = verification["objectives"].as_array().unwrap().iter().find(|o| o["objective"] == "D1.PRE").unwrap();
    assert_eq!(pre["verdict"], "not_met");

    let (problems, used) = seda::check(&out, Some(&public), None);
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(used, Some(signing::KeyUsed::Given(hex::encode(public.as_bytes()))));
    assert!(matches!(seda::check(&out, None, None), (p, Some(signing::KeyUsed::FromBag(_))) if p.is_empty()));

    let tampered = |name: &str, edit: &dyn Fn(&Path)| {
        let copy = env.dir.path().join(name);
        copy_dir(&out, &copy);
        edit(&copy);
        seda::check(&copy, Some(&public), None).0
    };
    let audit_file = format!("content/{}.xml", records.iter().find(|r| r.path == "annuaire/ad_hc_ch-exemple.local.xml").unwrap().evidence_id);
    let p = tampered("changed", &|t| std::fs::write(t.join(&audit_file), b"<HealthcheckData/>").unwrap());
    assert!(matches!(&p[..], [TransferProblem::Changed { uri, .. }, TransferProblem::SizeChanged { .. }] if *uri == audit_file), "{p:?}");
    assert!(p[0].to_string().contains("a changé"), "{}", p[0]);
    let p = tampered("removed", &|t| std::fs::remove_file(t.join("content/dossier/events.json")).unwrap());
    assert_eq!(p, [TransferProblem::Missing { uri: "content/dossier/events.json".into() }]);
    let p = tampered("added", &|t| std::fs::write(t.join("content/ajout.pdf"), b"%PDF").unwrap());
    assert_eq!(p, [TransferProblem::NotInManifest("content/ajout.pdf".into())]);
    // The manifest rewritten to match a changed file: its signature no longer holds.
    let p = tampered("rewritten", &|t| {
        let file = t.join("content/dossier/records.json");
        let old = Sha256Digest::of(&std::fs::read(&file).unwrap()).hex();
        std::fs::write(&file, b"[]").unwrap();
        let manifest = std::fs::read_to_string(t.join(seda::MANIFEST)).unwrap().replace(&old, &Sha256Digest::of(b"[]").hex());
        std::fs::write(t.join(seda::MANIFEST), manifest).unwrap();
    });
    assert!(p.iter().any(|p| matches!(p, TransferProblem::BadSignature { .. })), "{p:?}");
    assert!(!p.iter().any(|p| matches!(p, TransferProblem::Changed { .. })), "the digest matches the rewritten manifest: {p:?}");
    let other = signing::generate_signing_key(&keys.path().join("other.key")).unwrap();
    assert!(matches!(&seda::check(&out, Some(&other), None).0[..], [TransferProblem::BadSignature { .. }]));
    // A manifest that is no longer SEDA: the schemas say so (where they can be run).
    let broken = env.dir.path().join("broken");
    copy_dir(&out, &broken);
    let text = std::fs::read_to_string(broken.join(seda::MANIFEST)).unwrap();
    let start = text.find("  <ArchivalAgency>").unwrap();
    let end = text.find("</ArchivalAgency>").unwrap() + "</ArchivalAgency>".len();
    std::fs::write(broken.join(seda::MANIFEST), format!("{}{}", &text[..start], &text[end..])).unwrap();
    if let Some(verdict) = schema_verdict(&broken.join(seda::MANIFEST)) {
        let why = verdict.unwrap_err();
        assert!(why.contains("ArchivalAgency") || why.contains("TransferringAgency"), "{why}");
        let problems = seda::check(&broken, Some(&public), Some(&seda::schemas_dir())).0;
        assert!(problems.iter().any(|p| matches!(p, TransferProblem::Schema(_))), "{problems:?}");
    }

    // The command says the same, in French, and fails on a tampered transfer.
    let verify = |dir: &Path| {
        let output = Command::new(env!("CARGO_BIN_EXE_caregate"))
            .arg("verify-transfer")
            .arg(dir)
            .arg("--public-key")
            .arg(hex::encode(public.as_bytes()))
            .output()
            .unwrap();
        (output.status.code(), String::from_utf8_lossy(&output.stdout).into_owned())
    };
    let (code, stdout) = verify(&out);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(stdout.contains("transfert valide"), "{stdout}");
    let (code, stdout) = verify(&env.dir.path().join("changed"));
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.contains(&format!("{audit_file} a changé")), "{stdout}");
}
common::on_each_stack!(a_dossier_transfers_as_seda_and_tampering_is_named);
