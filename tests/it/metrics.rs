//! What operators see: `GET /metrics` on `caregate serve` (and on a worker's
//! `worker.metrics_listen`) is Prometheus text whose counters say what the test did.

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use caregate_schemas::{Role, Scope, Status};

use crate::common::{self, Child, Stack, TestEnv};

/// Parses Prometheus' text format strictly enough to refuse what a scraper would:
/// every sample line is `name{label="value",...} number`.
fn parse(text: &str) -> HashMap<String, f64> {
    let mut samples = HashMap::new();
    for line in text.lines().filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("no value: {line:?}"));
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("not a number: {line:?}"));
        let name_end = series.find('{').unwrap_or(series.len());
        let name = &series[..name_end];
        assert!(
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') && !name.starts_with(|c: char| c.is_ascii_digit()),
            "bad metric name: {line:?}"
        );
        if name_end < series.len() {
            let labels = series[name_end..].strip_prefix('{').and_then(|l| l.strip_suffix('}')).unwrap_or_else(|| panic!("bad labels: {line:?}"));
            for pair in labels.split("\",").filter(|p| !p.is_empty()) {
                let (k, v) = pair.split_once("=\"").unwrap_or_else(|| panic!("bad label {pair:?} in {line:?}"));
                assert!(k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "bad label name in {line:?}");
                assert!(!v.trim_end_matches('"').contains('"') || v.contains("\\\""), "unescaped quote in {line:?}");
            }
        }
        samples.insert(series.to_owned(), value);
    }
    samples
}

async fn scrape(client: &reqwest::Client, url: &str) -> HashMap<String, f64> {
    let answer = client.get(url).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    assert!(answer.headers()[reqwest::header::CONTENT_TYPE].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    parse(&answer.text().await.unwrap())
}

async fn metrics_count_what_happened(stack: Stack) {
    let mut env = TestEnv::new(stack).await;
    env.config.worker.stale_check_secs = 3600;
    let app = env.app().await;
    let (listen, worker_listen) = (common::free_listen_address(), common::free_listen_address());
    let caregate = || {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_caregate"));
        cmd.envs(env.child_env()).env("CAREGATE_LOG", "warn").stdout(Stdio::null());
        cmd
    };
    let _serve = Child(caregate().arg("serve").env("CAREGATE_LISTEN", &listen).spawn().unwrap());
    // With a broker, a worker of its own, answering /metrics beside its work.
    let _worker = (stack == Stack::Full).then(|| Child(caregate().arg("worker").env("CAREGATE_WORKER__METRICS_LISTEN", &worker_listen).spawn().unwrap()));
    common::wait_listening(&listen, 30).await;
    app.backends
        .accounts
        .put_account(&caregate_storage::Account {
            name: "depot".into(),
            display_name: "depot".into(),
            role: Role::Submitter,
            scope: Scope::Establishments(vec!["750000001".into()]),
            password_hash: None,
            disabled: false,
            federated: None,
            email: None,
        })
        .await
        .unwrap();
    let client = common::client(&caregate_ingest::issue_token(app.backends.accounts.as_ref(), "depot", "test").await.unwrap());

    let sub = caregate_schemas::SubmissionId::new();
    let upload = |name: &str, body: Vec<u8>| {
        let form = reqwest::multipart::Form::new()
            .text("establishment", "750000001")
            .text("campaign", "care-d1-2024")
            .text("submission_id", sub.to_string())
            .part("file", reqwest::multipart::Part::bytes(body).file_name(name.to_owned()));
        client.post(format!("http://{listen}/api/evidence")).multipart(form).send()
    };
    for (name, body) in [("rapport-1.txt", b"rapport un".to_vec()), ("rapport-2.txt", b"rapport deux".to_vec()), ("eicar.com", common::eicar())] {
        assert_eq!(upload(name, body).await.unwrap().status(), 202);
    }
    assert_eq!(upload("../hors-du-depot.txt", b"x".to_vec()).await.unwrap().status(), 400);
    let records = common::wait_done(&app, sub, 3, 90).await;
    assert_eq!(records.iter().filter(|r| r.status == Status::Infected).count(), 1);

    // The dossier's announcements leave the outbox a moment after its last file.
    let start = Instant::now();
    let served = loop {
        let m = scrape(&client, &format!("http://{listen}/metrics")).await;
        if m.get("caregate_outbox_pending") == Some(&0.0) || start.elapsed() > Duration::from_secs(10) {
            break m;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let get = |m: &HashMap<String, f64>, series: &str| {
        m.get(series).copied().unwrap_or_else(|| panic!("{stack:?}: no {series} in {:?}", m.keys().collect::<Vec<_>>()))
    };
    assert_eq!(get(&served, r#"caregate_uploads_total{outcome="accepted"}"#), 3.0);
    assert_eq!(get(&served, r#"caregate_uploads_total{outcome="refused"}"#), 1.0);
    assert_eq!(get(&served, r#"caregate_http_requests_total{route="/api/evidence",method="POST",status="202"}"#), 3.0);
    assert_eq!(get(&served, r#"caregate_http_requests_total{route="/api/evidence",method="POST",status="400"}"#), 1.0);
    assert_eq!(get(&served, "caregate_outbox_pending"), 0.0);
    assert_eq!(get(&served, r#"caregate_records{status="stored"}"#), 2.0);
    assert_eq!(get(&served, "caregate_clamd_up"), 1.0);

    // The processing side: serve itself with the embedded queue, the worker otherwise.
    // A job is counted once it ends, a moment after its file's record is final.
    let url = match stack {
        Stack::Embedded => format!("http://{listen}/metrics"),
        Stack::Full => format!("http://{worker_listen}/metrics"),
    };
    let start = Instant::now();
    let working = loop {
        let m = scrape(&client, &url).await;
        let done = m.get(r#"caregate_jobs_total{outcome="finished"}"#) == Some(&3.0) && m.get("caregate_jobs_in_flight") == Some(&0.0);
        if done || start.elapsed() > Duration::from_secs(10) {
            break m;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    drop(served);
    assert_eq!(get(&working, r#"caregate_files_total{status="stored"}"#), 2.0, "{stack:?}");
    assert_eq!(get(&working, r#"caregate_files_total{status="infected"}"#), 1.0, "{stack:?}");
    assert_eq!(get(&working, r#"caregate_jobs_total{outcome="finished"}"#), 3.0, "{stack:?}");
    assert_eq!(get(&working, r#"caregate_stage_duration_seconds_count{stage="scan"}"#), 3.0, "{stack:?}");
    assert_eq!(get(&working, "caregate_jobs_in_flight"), 0.0);
    assert_eq!(get(&working, "caregate_queue_waiting"), 0.0);
}
common::on_each_stack!(metrics_count_what_happened);
