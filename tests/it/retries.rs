//! Transient failures are retried with growing delays, never marked clean; a job that
//! cannot succeed ends failed with its reason and in the dead-letter queue.

use crate::common;
use caregate_schemas::FindingCode;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::common::{bytes_body, submission, wait_done, Running, TestEnv};
use caregate_schemas::{ScanResult, Status};
use tokio::net::{TcpListener, TcpStream};

/// A TCP relay in front of the real clamd that can be switched off (connections are then
/// closed at once, as when clamd is gone), to play "clamd stopped" without stopping the
/// clamd that other tests share.
struct ClamdSwitch {
    addr: String,
    up: Arc<AtomicBool>,
}

impl ClamdSwitch {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let up = Arc::new(AtomicBool::new(false));
        let flag = up.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !flag.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(common::CLAMD).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Self { addr, up }
    }
}

async fn clamd_outage_is_retried_and_never_clean(stack: common::Stack) {
    let mut env = TestEnv::new(stack).await;
    let switch = ClamdSwitch::start().await;
    env.config.clamd.address = switch.addr.clone();
    env.config.backends.retry.delays_ms = vec![300, 300, 300, 300, 300, 300, 300, 300, 300, 300];
    let run = Running::start(&env).await;
    let app = run.app.clone();
    let sub = submission();
    let intake = run.intake();
    let clean = intake.receive(&sub, "rapport.txt", bytes_body(b"compte rendu de r\xc3\xa9union".to_vec())).await.unwrap();
    let bad = intake.receive(&sub, "eicar.txt", bytes_body(common::eicar())).await.unwrap();

    // While clamd is down: retries pile up, nothing is decided.
    let mut retried = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let rec = app.backends.index.get(clean.evidence_id).await.unwrap().unwrap();
        assert_eq!(rec.status, Status::Received, "{stack:?}: nothing decided while clamd is down");
        assert!(rec.scan.is_none());
        if rec.attempts >= 2 {
            retried = true;
            break;
        }
    }
    assert!(retried, "{stack:?}: the job was retried");
    let events = app.backends.index.events(clean.evidence_id).await.unwrap();
    assert!(events.iter().any(|e| e.kind == "retry" && e.detail["reason"].as_str().unwrap().contains("clamd")), "{events:?}");

    switch.up.store(true, Ordering::SeqCst);
    let records = wait_done(&app, sub.submission_id, 2, 60).await;
    run.stop().await;
    let get = |id| records.iter().find(|r| r.evidence_id == id).unwrap();
    assert_eq!(get(clean.evidence_id).status, Status::Stored);
    assert_eq!(get(clean.evidence_id).scan.as_ref().unwrap().result, ScanResult::Clean);
    assert_eq!(get(bad.evidence_id).status, Status::Infected, "{stack:?}");
}
common::on_each_stack!(clamd_outage_is_retried_and_never_clean);

async fn exhausted_retries_end_failed_and_dead_lettered(stack: common::Stack) {
    let mut env = TestEnv::new(stack).await;
    let switch = ClamdSwitch::start().await; // never switched on
    env.config.clamd.address = switch.addr.clone();
    env.config.backends.retry.delays_ms = vec![100, 200];
    let run = Running::start(&env).await;
    let app = run.app.clone();
    let sub = submission();
    app.intake().unwrap().receive(&sub, "rapport.txt", bytes_body(b"x".to_vec())).await.unwrap();
    let records = wait_done(&app, sub.submission_id, 1, 60).await;
    let rec = &records[0];
    assert_eq!(rec.status, Status::Failed, "{stack:?}");
    assert_eq!(rec.attempts, 3, "first try plus one per delay");
    let finding = rec.findings.iter().find(|f| f.code == FindingCode::ProcessingFailed).expect("reason recorded");
    assert!(finding.message.contains("gave up after 3 attempts") && finding.message.contains("clamd"), "{}", finding.message);
    let mut dead = 0;
    for _ in 0..50 {
        dead = app.backends.queue.dead_letter_count().await.unwrap();
        if dead == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(dead, 1, "{stack:?}: the job is in the dead-letter queue");
    run.stop().await;
}
common::on_each_stack!(exhausted_retries_end_failed_and_dead_lettered);

/// A job whose quarantined object vanished cannot succeed: failed at once, with why.
async fn missing_quarantine_object_is_dead_lettered(stack: common::Stack) {
    let env = TestEnv::new(stack).await;
    let app = env.app().await;
    let sub = submission();
    let r = app.intake().unwrap().receive(&sub, "perdu.pdf", bytes_body(b"%PDF-1.4".to_vec())).await.unwrap();
    app.backends.quarantine.delete(&r.evidence_id.quarantine_key()).await.unwrap();
    let run = Running::with_app(app.clone()).await;
    let records = wait_done(&app, sub.submission_id, 1, 60).await;
    run.stop().await;
    assert_eq!(records[0].status, Status::Failed);
    assert_eq!(records[0].attempts, 1, "{stack:?}: not retried");
    assert!(records[0].findings[0].message.contains("missing"));
}
common::on_each_stack!(missing_quarantine_object_is_dead_lettered);

/// An upload recorded whose job never reached the queue (the publish failed after the
/// record was written) does not wait forever: a worker queues it again once it is idle.
async fn a_record_whose_job_was_lost_is_queued_again(stack: common::Stack) {
    let mut env = TestEnv::new(stack).await;
    env.config.worker.stale_after_secs = 1;
    env.config.worker.stale_check_secs = 1;
    let app = env.app().await;
    // The worker is already running (so no start-up requeue sees the record), when an
    // upload is recorded and its publish is lost: what the intake does, minus the publish.
    let run = Running::with_app(app.clone()).await;
    let body = b"rapport d'exposition".to_vec();
    let digest = caregate_schemas::Sha256Digest::of(&body);
    let path = env.dir.path().join("lost");
    std::fs::write(&path, &body).unwrap();
    let id = caregate_schemas::EvidenceId::new();
    app.backends.quarantine.put_file(&id.quarantine_key(), &path, &digest).await.unwrap();
    let sub = submission();
    let rec = caregate_schemas::EvidenceRecord::received(id, sub.clone(), "perdu.txt".into(), digest, body.len() as u64, id.quarantine_key());
    app.backends.index.record_received(&rec).await.unwrap();

    let records = wait_done(&app, sub.submission_id, 1, 60).await;
    run.stop().await;
    assert_eq!(records[0].status, Status::Stored, "{stack:?}");
    let events = app.backends.index.events(id).await.unwrap();
    assert!(events.iter().any(|e| e.kind == "retry" && e.detail["reason"].as_str().unwrap().contains("queued again")), "{events:?}");
}
common::on_each_stack!(a_record_whose_job_was_lost_is_queued_again);
