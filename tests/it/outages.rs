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
