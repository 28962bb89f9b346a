//! The broker drops a worker's connections in the middle of a batch (as in a RabbitMQ
//! restart or a network cut): the worker reconnects by itself and every file still ends
//! stored exactly once. Closing connections from the broker side needs `rabbitmqctl`.

use crate::common;

use std::collections::HashSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{submission, Child, Stack, TestEnv};
use caregate_schemas::Status;

/// Local TCP ports of the process's connections to RabbitMQ.
fn amqp_ports_of(pid: u32) -> HashSet<String> {
    let out = Command::new("ss").args(["-tnpH", "state", "established", "( dport = :5672 )"]).output().expect("ss");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(&format!("pid={pid},")))
        .filter_map(|l| l.split_whitespace().nth(2).and_then(|local| local.rsplit(':').next()).map(str::to_owned))
        .collect()
}

/// Closes, from the broker's side, every connection whose client port is in `ports`.
fn close_connections(ports: &HashSet<String>) -> usize {
    let out = Command::new("rabbitmqctl").args(["-q", "list_connections", "pid", "peer_port"]).output().expect("rabbitmqctl");
    let mut closed = 0;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let mut cols = line.split_whitespace();
        if let (Some(conn), Some(port)) = (cols.next(), cols.next()) {
            if ports.contains(port) {
                let ok = Command::new("rabbitmqctl")
                    .args(["-q", "close_connection", conn, "test: simulated broker failure"])
                    .status()
                    .map(|s| s.success())
                    .unwrap_or(false);
                closed += ok as usize;
            }
        }
    }
    closed
}

#[tokio::test]
async fn worker_survives_lost_broker_connections() {
    if !common::stacks().contains(&Stack::Full) {
        return;
    }
    let env = TestEnv::new(Stack::Full).await;
    let app = env.app().await;
    let sub = submission();
    let intake = app.intake().unwrap();
    const FILES: usize = 150;
    for i in 0..FILES {
        let body = format!("pièce {i} — {}", "x".repeat(20_000 + i)).into_bytes();
        intake.receive(&sub, &format!("piece-{i:03}.txt"), common::bytes_body(body)).await.unwrap();
    }
    let mut worker = Command::new(env!("CARGO_BIN_EXE_caregate"))
        .arg("worker")
        .envs(env.child_env())
        .env("CAREGATE_WORKER__PREFETCH", "2")
        .env("CAREGATE_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();

    // Let it start, then cut its connections.
    let start = Instant::now();
    let mut closed = 0;
    let mut done_at_cut = 0;
    while start.elapsed() < Duration::from_secs(30) {
        let done = app.backends.index.count_by_status().await.unwrap().iter().filter(|(s, _)| s.is_terminal()).map(|(_, n)| *n).sum::<u64>();
        if done >= 10 {
            closed = close_connections(&amqp_ports_of(worker.id()));
            done_at_cut = done;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(closed >= 1, "closed the worker's broker connections");
    assert!((done_at_cut as usize) < FILES, "cut mid-batch ({done_at_cut} of {FILES} done)");
    let records = common::wait_done(&app, sub.submission_id, FILES, 120).await;
    app.wait_for_verification(sub.submission_id, FILES, Duration::from_secs(60)).await.expect("the complete dossier is judged");
    assert!(worker.try_wait().unwrap().is_none(), "the worker is still running");
    worker.kill().unwrap();
    worker.wait().unwrap();
    assert!(records.iter().all(|r| r.status == Status::Stored));
    for rec in &records {
        let stored = app.backends.index.events(rec.evidence_id).await.unwrap().iter().filter(|e| e.kind == "stored").count();
        assert_eq!(stored, 1, "{}", rec.path);
    }
    assert_eq!(app.backends.evidence.list("sha256/").await.unwrap().len(), FILES);
}

/// The broker drops `caregate serve`'s connection (as in `rabbitmqctl stop_app;
/// start_app`): the next upload is still accepted (202), its job is published on a
/// reopened connection and the file is processed; no restart of `serve`.
#[tokio::test]
async fn serve_publishes_again_after_the_broker_dropped_its_connection() {
    if !common::stacks().contains(&Stack::Full) {
        return;
    }
    let env = TestEnv::new(Stack::Full).await;
    let app = env.app().await; // declares the queues and buckets first
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let listen = format!("127.0.0.1:{port}");
    let caregate = || {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_caregate"));
        cmd.envs(env.child_env()).env("CAREGATE_LOG", "warn");
        cmd
    };
    let serve = Child(caregate().arg("serve").env("CAREGATE_LISTEN", &listen).stdout(Stdio::null()).spawn().unwrap());
    let _worker = Child(caregate().arg("worker").stdout(Stdio::null()).spawn().unwrap());
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(&listen).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(caregate().args(["account", "add", "depot-750000001", "--role", "submitter", "--establishment", "750000001"]).status().unwrap().success());
    let token = String::from_utf8(caregate().args(["account", "token", "depot-750000001"]).output().unwrap().stdout).unwrap().trim().to_owned();
    let client = common::client(&token);
    let sub = caregate_schemas::SubmissionId::new();
    let upload = |name: &'static str| {
        let form = reqwest::multipart::Form::new()
            .text("establishment", "750000001")
            .text("campaign", "care-d1-2024")
            .text("submission_id", sub.to_string())
            .part("file", reqwest::multipart::Part::bytes(format!("pièce {name} — {}", "x".repeat(2000)).into_bytes()).file_name(name));
        client.post(format!("http://{listen}/api/evidence")).multipart(form).send()
    };
    let before = upload("avant.txt").await.unwrap();
    assert_eq!(before.status(), 202, "token {token:?}: {}", before.text().await.unwrap_or_default());

    let closed = close_connections(&amqp_ports_of(serve.0.id()));
    assert!(closed >= 1, "closed serve's broker connection");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = upload("apres.txt").await.unwrap();
    assert_eq!(after.status(), 202, "accepted after the broker dropped the connection: {}", after.text().await.unwrap_or_default());

    let records = common::wait_done(&app, sub, 2, 60).await;
    assert!(records.iter().all(|r| r.status == Status::Stored), "{:?}", records.iter().map(|r| (&r.path, r.status)).collect::<Vec<_>>());
    for rec in &records {
        let stored = app.backends.index.events(rec.evidence_id).await.unwrap().iter().filter(|e| e.kind == "stored").count();
        assert_eq!(stored, 1, "{} processed once", rec.path);
    }
}
