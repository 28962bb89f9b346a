//! A back end that freezes (a store under SIGSTOP, a database stuck, a network that
//! swallows packets) turns into `503` with `Retry-After` within a client's patience,
//! never a request that hangs or a `500`; once it thaws, uploads are accepted again and
//! every accepted file is processed. The freeze is this server's only: its connections
//! go through a [`Proxy`] the test freezes, the shared services stay up.

use std::time::{Duration, Instant};

use caregate_schemas::Status;
use caregate_storage::DatabaseConfig;

use crate::common::{self, Link, Proxy, Stack, TestEnv};

// Several threads: the proxy keeps forwarding whatever the test is waiting on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_store_or_database_is_a_quick_503_then_uploads_resume() {
    if !common::stacks().contains(&Stack::Full) {
        return;
    }
    let mut env = TestEnv::new(Stack::Full).await;
    let s3 = Proxy::start("127.0.0.1:3900", Link::Up).await;
    let db = Proxy::start("127.0.0.1:5432", Link::Up).await;
    env.config.backends.s3.as_mut().unwrap().endpoint = format!("http://127.0.0.1:{}", s3.port);
    let name = env.db_name.clone().unwrap();
    env.config.backends.database = Some(DatabaseConfig { url: format!("postgres://postgres@127.0.0.1:{}/{name}", db.port), max_connections: 8 });
    let srv = common::serve(&env).await;
    let client = srv.submitter().await;
    let sub = caregate_schemas::SubmissionId::new();
    let upload = |i: usize| {
        let form = reqwest::multipart::Form::new()
            .text("establishment", "750000001")
            .text("campaign", "care-d1-2024")
            .text("submission_id", sub.to_string())
            .part("file", reqwest::multipart::Part::bytes(format!("pièce {i}").into_bytes()).file_name(format!("piece-{i}.txt")));
        client.post(format!("{}/api/evidence", srv.base)).multipart(form).timeout(Duration::from_secs(60)).send()
    };
    assert_eq!(upload(0).await.unwrap().status(), 202);

    let mut accepted = 1;
    for (what, proxy) in [("object store", &s3), ("database", &db)] {
        proxy.set(Link::Frozen);
        let start = Instant::now();
        let answer = upload(accepted).await.unwrap();
        let took = start.elapsed();
        assert_eq!(answer.status(), 503, "{what} frozen: {}", answer.text().await.unwrap_or_default());
        assert!(answer.headers().contains_key(reqwest::header::RETRY_AFTER), "{what}: Retry-After");
        assert!(took < Duration::from_secs(10), "{what} frozen: answered after {took:?}");
        proxy.set(Link::Up);
        // Thawed: accepted again (the first tries may still meet connections the freeze
        // broke; a client retries on 503).
        let start = Instant::now();
        loop {
            let status = upload(accepted).await.unwrap().status();
            if status == 202 {
                break;
            }
            assert_eq!(status, 503, "{what} thawed");
            assert!(start.elapsed() < Duration::from_secs(60), "{what}: still refused after it thawed");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        accepted += 1;
    }
    let records = common::wait_done(&srv.app, sub, accepted, 120).await;
    assert_eq!(records.len(), accepted, "one record per accepted upload");
    assert!(records.iter().all(|r| r.status == Status::Stored), "{:?}", records.iter().map(|r| (&r.path, r.status)).collect::<Vec<_>>());
    srv.stop.cancel();
}

/// The archivists' commands meet outages too: an export (BagIt or SEDA) or a new
/// validation of signatures cut short by the store leaves nothing half done — no
/// package directory an archivist could take for a transfer, no file half validated —
/// and says what was not done; run again once the store answers, each completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_or_a_revalidation_cut_short_by_the_store_leaves_nothing_half_done() {
    use caregate_archive::Stores;
    use caregate_archive::{bag, seda, signatures, signing};
    if !common::stacks().contains(&Stack::Full) {
        return;
    }
    let Some(signed) = crate::signatures::signed_pdfs() else { return };
    let mut env = TestEnv::new(Stack::Full).await;
    let s3 = Proxy::start("127.0.0.1:3900", Link::Up).await;
    env.config.backends.s3.as_mut().unwrap().endpoint = format!("http://127.0.0.1:{}", s3.port);
    let attestation = std::fs::read(signed.path().join("simple.pdf")).unwrap();
    let files = vec![("attestation.pdf", attestation), ("facture.txt", "FACTURE N° FA-1\nTotal TTC : 1 234,56 €".into())];
    let (app, sub, records) = common::process_files(&env, files).await;
    let pdf = records.iter().find(|r| r.path == "attestation.pdf").unwrap().evidence_id;
    let keys = tempfile::tempdir().unwrap();
    let public = signing::generate_signing_key(&keys.path().join("archive.key")).unwrap();
    let key = signing::load_signing_key(&keys.path().join("archive.key")).unwrap();
    let validations = |events: Vec<caregate_schemas::EvidenceEvent>| events.iter().filter(|e| e.kind == "signatures_validated").count();

    s3.set(Link::Down);
    for format in ["bag", "seda"] {
        let out = env.dir.path().join(format);
        let result = match format {
            "bag" => bag::export(Stores::of(&app.backends), sub.submission_id, &out, &key).await.map(|_| ()),
            _ => seda::export(Stores::of(&app.backends), &app.config.archive.seda, app.config.worker.retention_days, sub.submission_id, &out, &key)
                .await
                .map(|_| ()),
        };
        let err = format!("{:#}", result.expect_err("the store is down"));
        assert!(!out.exists(), "{format}: no half package ({err})");
        assert!(!env.dir.path().join(format!(".{format}.partiel")).exists(), "{format}: the staging directory is cleared");
    }
    let err = format!(
        "{:#}",
        signatures::revalidate(Stores::of(&app.backends), &app.config.reader().unwrap(), &app.verifier().unwrap(), sub.submission_id)
            .await
            .expect_err("the store is down")
    );
    assert!(err.contains("attestation.pdf") && err.contains("not validated again"), "{err}");
    assert_eq!(validations(app.backends.index.events(pdf).await.unwrap()), 0, "nothing recorded for a file not read back");

    s3.set(Link::Up);
    let out = env.dir.path().join("bag");
    bag::export(Stores::of(&app.backends), sub.submission_id, &out, &key).await.unwrap();
    assert!(bag::check(&out, Some(&public)).0.is_empty());
    let out = env.dir.path().join("seda");
    seda::export(Stores::of(&app.backends), &app.config.archive.seda, app.config.worker.retention_days, sub.submission_id, &out, &key).await.unwrap();
    assert!(seda::check(&out, Some(&public), None).0.is_empty());
    let done = signatures::revalidate(Stores::of(&app.backends), &app.config.reader().unwrap(), &app.verifier().unwrap(), sub.submission_id).await.unwrap();
    assert_eq!(done.len(), 1);
    assert_eq!(validations(app.backends.index.events(pdf).await.unwrap()), 1);
}

/// The OCR pool meets the store gone: its pass fails and records nothing, the scan keeps
/// waiting (still `ocr_pending`, nothing lost); once the store is back, the next pass
/// reads it, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ocr_pass_cut_short_by_the_store_leaves_the_scan_waiting() {
    if !common::stacks().contains(&Stack::Full) {
        return;
    }
    let mut env = TestEnv::new(Stack::Full).await;
    let s3 = Proxy::start("127.0.0.1:3900", Link::Up).await;
    env.config.backends.s3.as_mut().unwrap().endpoint = format!("http://127.0.0.1:{}", s3.port);
    env.config.worker.ocr_poll_secs = 0;
    let run = common::Running::start(&env).await;
    let app = run.app.clone();
    let sub = common::submission();
    let scan = run.intake().receive(&sub, "facture-scannee.png", common::bytes_body(crate::ocr::scanned_invoice_png(env.dir.path()))).await.unwrap();
    let start = Instant::now();
    while app.backends.index.get(scan.evidence_id).await.unwrap().is_none_or(|r| r.status == Status::Received) {
        assert!(start.elapsed() < Duration::from_secs(60), "the scan was not stored");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    run.stop().await;
    let pool = app.ocr_pool().unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();

    s3.set(Link::Down);
    let pass = pool.pass(&shutdown).await;
    assert!(pass.as_ref().map_or(true, |s| s.read == 0), "{pass:?}");
    let rec = app.backends.index.get(scan.evidence_id).await.unwrap().unwrap();
    assert!(rec.awaiting_ocr(), "still waiting: {:?}", rec.findings);
    let kinds: Vec<String> = app.backends.index.events(scan.evidence_id).await.unwrap().into_iter().map(|e| e.kind).collect();
    assert!(!kinds.iter().any(|k| k == "ocr_read" || k == "fixity_failed"), "an outage is not a damaged file: {kinds:?}");

    s3.set(Link::Up);
    assert_eq!(pool.pass(&shutdown).await.unwrap().read, 1);
    assert_eq!(pool.pass(&shutdown).await.unwrap().read, 0, "read once");
    let events = app.backends.index.events(scan.evidence_id).await.unwrap();
    assert_eq!(events.iter().filter(|e| e.kind == "ocr_read").count(), 1);
    assert!(!app.backends.index.get(scan.evidence_id).await.unwrap().unwrap().awaiting_ocr());
}

/// A console log-in while the database is frozen is a quick 503 with `Retry-After` (a
/// page, for a person), never a hang or a wrong "incorrect password"; thawed, the same
/// log-in succeeds: the attempt the freeze cut short did not lock anyone out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_in_during_a_database_freeze_is_a_quick_503_then_works() {
    if !common::stacks().contains(&Stack::Full) {
        return;
    }
    let mut env = TestEnv::new(Stack::Full).await;
    let db = Proxy::start("127.0.0.1:5432", Link::Up).await;
    let name = env.db_name.clone().unwrap();
    env.config.backends.database = Some(DatabaseConfig { url: format!("postgres://postgres@127.0.0.1:{}/{name}", db.port), max_connections: 8 });
    let srv = common::serve(&env).await;
    srv.account("c.martin", caregate_schemas::Role::Controller, caregate_schemas::Scope::National, Some("un mot de passe assez long")).await;
    let log_in = || {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .post(format!("{}/console/login", srv.base))
            .form(&[("name", "c.martin"), ("password", "un mot de passe assez long")])
            .timeout(Duration::from_secs(60))
            .send()
    };
    db.set(Link::Frozen);
    let start = Instant::now();
    let answer = log_in().await.unwrap();
    let took = start.elapsed();
    assert_eq!(answer.status(), 503);
    assert!(answer.headers().contains_key(reqwest::header::RETRY_AFTER));
    assert!(took < Duration::from_secs(10), "answered after {took:?}");
    assert!(answer.text().await.unwrap().contains("<html"), "a page for a person");
    db.set(Link::Up);
    let start = Instant::now();
    loop {
        let status = log_in().await.unwrap().status();
        if status == 303 {
            break;
        }
        assert_eq!(status, 503, "thawed");
        assert!(start.elapsed() < Duration::from_secs(60), "still refused after the thaw");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    srv.stop.cancel();
}
