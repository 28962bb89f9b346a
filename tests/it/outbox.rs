//! The outbox: what must reach the broker (uploads' jobs, decisions' announcements) is
//! written with the change it carries, so a broker outage delays it and loses nothing.
//! The outage is one process's: its broker connection goes through a proxy the test
//! cuts ([`Proxy`]), the shared broker stays up for every other test.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use caregate_schemas::{Role, Scope, Status, Verification};
use serde_json::json;

use crate::common::{self, Child, Link, Proxy, Stack, TestEnv};

/// `serve` started while the broker is unreachable accepts uploads (202); their jobs
/// wait in the outbox, `/readyz` says the broker is down, and once it is back the
/// relay sends them: every file processed exactly once, the outbox empty.
// Several threads: the proxy keeps forwarding whatever the test is waiting on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_accepts_uploads_while_the_broker_is_down_and_sends_them_when_it_is_back() {
    if !common::stacks().contains(&Stack::Full) {
        return;
    }
    let env = TestEnv::new(Stack::Full).await;
    let app = env.app().await; // declares the queues and buckets, straight to the broker
    let (proxy, broker_url) = Proxy::broker(Link::Down).await;
    let listen = common::free_listen_address();
    // Both lose the broker: either's relay would send the other's messages.
    let caregate = || {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_caregate"));
        cmd.envs(env.child_env()).env("CAREGATE_LOG", "warn").env("CAREGATE_BACKENDS__AMQP__URL", &broker_url).stdout(Stdio::null());
        cmd
    };
    let _serve = Child(caregate().arg("serve").env("CAREGATE_LISTEN", &listen).spawn().unwrap());
    let _worker = Child(caregate().arg("worker").spawn().unwrap());
    common::wait_listening(&listen, 30).await;
    let token = caregate_ingest::issue_token(app.backends.accounts.as_ref(), &account(&app, "depot-750000001", Role::Submitter).await, "test").await.unwrap();
    let client = common::client(&token);

    let sub = caregate_schemas::SubmissionId::new();
    const FILES: usize = 5;
    for i in 0..FILES {
        let form = reqwest::multipart::Form::new()
            .text("establishment", "750000001")
            .text("campaign", "care-d1-2024")
            .text("submission_id", sub.to_string())
            .part("file", reqwest::multipart::Part::bytes(format!("pièce {i} — {}", "x".repeat(3000 + i)).into_bytes()).file_name(format!("piece-{i}.txt")));
        let answer = client.post(format!("http://{listen}/api/evidence")).multipart(form).send().await.unwrap();
        assert_eq!(answer.status(), 202, "accepted with the broker down: {}", answer.text().await.unwrap_or_default());
    }
    let ready = client.get(format!("http://{listen}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    assert!(ready.text().await.unwrap().contains("broker"));
    let records = app.backends.index.submission(sub).await.unwrap();
    assert_eq!(records.len(), FILES);
    assert!(records.iter().all(|r| r.status == Status::Received), "nothing reached the worker");
    let backlog = app.backends.index.outbox_backlog().await.unwrap();
    assert_eq!(backlog.pending, FILES as u64, "every job waits in the outbox");

    proxy.set(Link::Up);
    let records = common::wait_done(&app, sub, FILES, 90).await;
    assert!(records.iter().all(|r| r.status == Status::Stored), "{:?}", records.iter().map(|r| (&r.path, r.status)).collect::<Vec<_>>());
    for rec in &records {
        let stored = app.backends.index.events(rec.evidence_id).await.unwrap().iter().filter(|e| e.kind == "stored").count();
        assert_eq!(stored, 1, "{} processed once", rec.path);
    }
    wait_outbox_empty(&app).await;
}

async fn wait_outbox_empty(app: &caregate::App) {
    let start = Instant::now();
    loop {
        let pending = app.backends.index.outbox_backlog().await.unwrap().pending;
        if pending == 0 {
            return;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{pending} messages still in the outbox once sent");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn account(app: &caregate::App, name: &str, role: Role) -> String {
    app.backends
        .accounts
        .put_account(&caregate_storage::Account {
            name: name.into(),
            display_name: name.into(),
            role,
            scope: Scope::Establishments(vec!["750000001".into()]),
            password_hash: None,
            disabled: false,
            federated: None,
            email: None,
        })
        .await
        .unwrap();
    name.to_owned()
}

/// A controller's decision taken while the broker is unreachable is stored (200) and
/// announced once the broker is back, carrying the decided verdict.
// Several threads: the proxy keeps forwarding whatever the test is waiting on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decision_taken_during_a_broker_outage_is_announced_after_it() {
    if !common::stacks().contains(&Stack::Full) {
        return;
    }
    let mut env = TestEnv::new(Stack::Full).await;
    let direct = env.app().await;
    let (proxy, broker_url) = Proxy::broker(Link::Up).await;
    env.config.backends.amqp.as_mut().unwrap().url = broker_url;
    let srv = common::serve(&env).await;
    let token = srv.account("c.martin", Role::Controller, Scope::Establishments(vec!["750000001".into()]), None).await;
    let controller = common::client(&token);

    let sub = common::submission();
    let photo = std::fs::read(common::samples_dir().join("divers/photo-attestation.png")).unwrap();
    srv.app.intake().unwrap().receive(&sub, "photo-attestation.png", common::bytes_body(photo)).await.unwrap();
    srv.app.wait_for_verification(sub.submission_id, 1, Duration::from_secs(60)).await.unwrap();
    let mut announced = direct.backends.announcer.subscribe("submission.verified").await.unwrap();

    proxy.set(Link::Down);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let decision = json!({"objective": "D1.PRE", "decision": "request_information", "comment": "attestation illisible : la renvoyer signée"});
    let answer = controller.post(format!("{}/api/submissions/{}/decisions", srv.base, sub.submission_id)).json(&decision).send().await.unwrap();
    assert_eq!(answer.status(), 200, "{}", answer.text().await.unwrap_or_default());
    assert_eq!(srv.app.backends.index.outbox_backlog().await.unwrap().pending, 1, "the announcement waits in the outbox");
    let early = tokio::time::timeout(Duration::from_secs(1), announced.next()).await;
    assert!(early.is_err(), "nothing announced while the broker is out of reach: {early:?}");

    proxy.set(Link::Up);
    let start = Instant::now();
    let body = loop {
        let next = tokio::time::timeout(Duration::from_secs(60), announced.next()).await.expect("announced after the outage");
        let (_, body) = next.expect("stream open").expect("announcement");
        let v: Verification = serde_json::from_value(body).unwrap();
        let decided = |v: &Verification| v.objectives.iter().any(|o| o.reasons.iter().any(|r| r.message.contains("attestation illisible")));
        if v.submission_id == sub.submission_id && decided(&v) {
            break v;
        }
        assert!(start.elapsed() < Duration::from_secs(60));
    };
    let pre = body.objectives.iter().find(|o| o.objective == "D1.PRE").unwrap();
    assert!(pre.reasons[0].message.ends_with("attestation illisible : la renvoyer signée"), "{pre:?}");
    // The row leaves once its confirm is recorded, a moment after the delivery.
    wait_outbox_empty(&srv.app).await;
    srv.stop.cancel();
}
