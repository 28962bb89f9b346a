//! The fault matrix on the upload path: a dossier of a few hundred files sent with
//! `caregate submit --server` while, in turn, the broker goes away (as in `rabbitmqctl
//! stop_app; start_app`), the database drops every connection (a restart), the object
//! store freezes (SIGSTOP/SIGCONT) and the worker is SIGKILLed. Every file must be
//! accepted once, processed once, none left `received`; fixity and the audit chain hold.
//!
//! The outages are those of `serve` and the workers only: they reach the broker, the
//! database and the store through [`Proxy`]s the test cuts or freezes, so that the other
//! tests, sharing the same services, go on undisturbed.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use caregate_schemas::{Status, SubmissionId};

use crate::common::{self, Child, Link, Proxy, Stack, TestEnv};

const FILES: usize = 300;

// Several threads: the proxies must keep forwarding while the test waits on a child.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dossier_survives_every_outage_while_it_is_sent() {
    if !common::stacks().contains(&Stack::Full) {
        return;
    }
    let env = TestEnv::new(Stack::Full).await;
    let app = env.app().await; // declares queues and buckets; the test's own direct view
    let (broker, broker_url) = Proxy::broker(Link::Up).await;
    let db = Proxy::start("127.0.0.1:5432", Link::Up).await;
    let s3 = Proxy::start("127.0.0.1:3900", Link::Up).await;
    let db_url = format!("postgres://postgres@127.0.0.1:{}/{}", db.port, env.db_name.clone().unwrap());
    let proxied = |cmd: &mut Command| {
        cmd.envs(env.child_env())
            .env("CAREGATE_LOG", "warn")
            .env("CAREGATE_BACKENDS__AMQP__URL", &broker_url)
            .env("CAREGATE_BACKENDS__DATABASE__URL", &db_url)
            .env("CAREGATE_BACKENDS__S3__ENDPOINT", format!("http://127.0.0.1:{}", s3.port))
            .stdout(Stdio::null());
    };
    let caregate = || Command::new(env!("CARGO_BIN_EXE_caregate"));
    let listen = common::free_listen_address();
    let mut serve = caregate();
    proxied(serve.arg("serve").env("CAREGATE_LISTEN", &listen));
    let _serve = Child(serve.spawn().unwrap());
    let start_worker = || {
        let mut worker = caregate();
        proxied(worker.arg("worker"));
        Child(worker.spawn().unwrap())
    };
    let mut worker = start_worker();
    common::wait_listening(&listen, 30).await;

    let out = caregate().envs(env.child_env()).args(["account", "add", "depot", "--role", "submitter", "--establishment", "750000001"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let token = String::from_utf8(caregate().envs(env.child_env()).args(["account", "token", "depot"]).output().unwrap().stdout).unwrap().trim().to_owned();

    let dossier = env.dir.path().join("dossier");
    std::fs::create_dir_all(&dossier).unwrap();
    for i in 0..FILES {
        let body = format!("pièce justificative n° {i} — {}\n", "contenu ".repeat(2000 + i * 7));
        std::fs::write(dossier.join(format!("piece-{i:03}.txt")), body).unwrap();
    }
    let sub = SubmissionId::new();
    let mut submit = caregate();
    submit
        .args(["submit", "--establishment", "750000001", "--json", "--wait-secs", "600", "--retry-secs", "600"])
        .args(["--server", &format!("http://{listen}"), "--submission", &sub.to_string()])
        .arg(&dossier)
        .env("CAREGATE_TOKEN", &token)
        .env("CAREGATE_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let client = submit.spawn().unwrap();

    // The faults, one after the other, each once the dossier has gone on a little.
    let counts = || async {
        let records = app.backends.index.submission(sub).await.unwrap();
        (records.len(), records.iter().filter(|r| r.status.is_terminal()).count())
    };
    let wait_for = |what: &'static str, received: usize| async move {
        let start = Instant::now();
        loop {
            let (n, _) = counts().await;
            if n >= received {
                return;
            }
            assert!(start.elapsed() < Duration::from_secs(300), "{what}: only {n} files received");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    wait_for("before the broker outage", 30).await;
    broker.set(Link::Down);
    tokio::time::sleep(Duration::from_secs(5)).await;
    broker.set(Link::Up);
    wait_for("before the database restart", 90).await;
    db.set(Link::Down);
    tokio::time::sleep(Duration::from_secs(3)).await;
    db.set(Link::Up);
    wait_for("before the store freezes", 150).await;
    s3.set(Link::Frozen);
    tokio::time::sleep(Duration::from_secs(6)).await;
    s3.set(Link::Up);
    wait_for("before the worker is killed", 210).await;
    worker.0.kill().unwrap(); // SIGKILL
    worker.0.wait().unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    worker = start_worker();

    let out = tokio::task::spawn_blocking(move || client.wait_with_output().unwrap()).await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(matches!(out.status.code(), Some(0 | 1)), "submit ended with {:?}:\n{stderr}", out.status.code());
    drop(worker);

    let records = app.backends.index.submission(sub).await.unwrap();
    assert_eq!(records.len(), FILES, "one record per file, no duplicate from retries");
    let mut paths: Vec<&str> = records.iter().map(|r| r.path.as_str()).collect();
    paths.sort();
    paths.dedup();
    assert_eq!(paths.len(), FILES, "each file once");
    let left: Vec<_> = records.iter().filter(|r| r.status == Status::Received).map(|r| &r.path).collect();
    assert!(left.is_empty(), "left received: {left:?}");
    assert!(
        records.iter().all(|r| r.status == Status::Stored),
        "{:?}",
        records.iter().filter(|r| r.status != Status::Stored).map(|r| (&r.path, r.status)).collect::<Vec<_>>()
    );
    for rec in &records {
        let finished = app.backends.index.events(rec.evidence_id).await.unwrap().iter().filter(|e| e.kind == "stored").count();
        assert_eq!(finished, 1, "{} processed once", rec.path);
    }
    assert_eq!(app.backends.evidence.list("sha256/").await.unwrap().len(), FILES, "every file stored once");
    let fixity = caregate().envs(env.child_env()).arg("fixity").output().unwrap();
    assert!(fixity.status.success(), "fixity: {}", String::from_utf8_lossy(&fixity.stderr));
    let audit = caregate().envs(env.child_env()).args(["audit", "verify"]).output().unwrap();
    assert!(audit.status.success(), "audit verify: {}{}", String::from_utf8_lossy(&audit.stdout), String::from_utf8_lossy(&audit.stderr));
}
