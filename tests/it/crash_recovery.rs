//! A worker killed with SIGKILL in the middle of a batch loses nothing and duplicates
//! nothing: every file is processed exactly once, whichever process finishes it.

use crate::common;

use std::collections::HashSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{submission, Stack, TestEnv};
use caregate::App;
use caregate_schemas::Status;
use rand::{Rng, SeedableRng};

const FILES: usize = 300;

fn write_corpus(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    for i in 0..FILES {
        let len = rng.random_range(2_000..40_000);
        let mut data = format!("pièce justificative n° {i}\n").into_bytes();
        data.extend((0..len).map(|_| rng.random::<u8>()));
        std::fs::write(dir.join(format!("piece-{i:04}.bin")), data).unwrap();
    }
}

fn caregate(env: &TestEnv, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_caregate"))
        .args(args)
        .envs(env.child_env())
        .env("CAREGATE_WORKER__PREFETCH", "2")
        .env("CAREGATE_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("start caregate")
}

async fn finished(app: &App) -> u64 {
    app.backends.index.count_by_status().await.unwrap().iter().filter(|(s, _)| s.is_terminal()).map(|(_, n)| n).sum()
}

/// Waits until at least `n` files are finished, then kills the child with SIGKILL.
async fn kill_after(app: &App, child: &mut Child, n: u64) -> u64 {
    let start = Instant::now();
    loop {
        let done = finished(app).await;
        if done >= n || start.elapsed() > Duration::from_secs(120) {
            child.kill().expect("SIGKILL");
            child.wait().unwrap();
            return finished(app).await;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn assert_exactly_once(app: &App, stack: Stack, expected: usize) {
    let counts = app.backends.index.count_by_status().await.unwrap();
    let total: u64 = counts.iter().map(|(_, n)| n).sum();
    assert_eq!(total as usize, expected, "{stack:?}: one row per file, {counts:?}");
    assert_eq!(counts, vec![(Status::Stored, expected as u64)], "{stack:?}: all stored");
    let records = app.backends.index.unfinished(10).await.unwrap();
    assert!(records.is_empty());
    let objects = app.backends.evidence.list("sha256/").await.unwrap();
    assert_eq!(objects.len(), expected, "{stack:?}: one object per distinct file");
    assert!(app.backends.quarantine.list("quarantine/").await.unwrap().is_empty(), "quarantine emptied");
    assert_eq!(app.backends.queue.dead_letter_count().await.unwrap(), 0);
}

async fn terminal_events_once(app: &App, sub: caregate_schemas::SubmissionId) {
    let records = app.backends.index.submission(sub).await.unwrap();
    let mut seen = HashSet::new();
    for rec in &records {
        assert!(seen.insert(rec.evidence_id));
        let events = app.backends.index.events(rec.evidence_id).await.unwrap();
        let terminal = events.iter().filter(|e| e.kind == "stored").count();
        assert_eq!(terminal, 1, "{}: exactly one 'stored' event, got {events:?}", rec.path);
    }
}

#[tokio::test]
async fn killed_broker_worker_loses_and_duplicates_nothing() {
    if !common::stacks().contains(&Stack::Full) {
        return;
    }
    let env = TestEnv::new(Stack::Full).await;
    let corpus = env.dir.path().join("corpus");
    write_corpus(&corpus);
    let app = env.app().await;
    let sub = submission();
    let files = caregate::submit::collect_files(&[corpus]).unwrap();
    let intake = app.intake().unwrap();
    caregate::submit::upload_files(&intake, &sub, &files, &indicatif::ProgressBar::hidden()).await.unwrap();

    let mut first = caregate(&env, &["worker"]);
    let at_kill = kill_after(&app, &mut first, 30).await;
    assert!((at_kill as usize) < FILES, "killed mid-run ({at_kill} of {FILES} done)");

    let mut second = caregate(&env, &["worker"]);
    let records = common::wait_done(&app, sub.submission_id, FILES, 180).await;
    // The dossier is judged once complete, whichever worker finished its last file.
    let verification = app.wait_for_verification(sub.submission_id, FILES, Duration::from_secs(60)).await.unwrap();
    assert_eq!(verification.pending, 0);
    second.kill().unwrap();
    second.wait().unwrap();
    assert_eq!(records.len(), FILES);
    assert_exactly_once(&app, Stack::Full, FILES).await;
    terminal_events_once(&app, sub.submission_id).await;
}

#[tokio::test]
async fn killed_embedded_run_is_finished_by_the_next_one() {
    let env = TestEnv::new(Stack::Embedded).await;
    let corpus = env.dir.path().join("corpus");
    write_corpus(&corpus);
    // Records are written by the child; the test reads the same SQLite file.
    let mut run = caregate(&env, &["submit", "--establishment", "750000001", "--json", corpus.to_str().unwrap()]);
    let app = env.app().await;
    let at_kill = kill_after(&app, &mut run, 30).await;
    assert!((at_kill as usize) < FILES, "killed mid-run ({at_kill} of {FILES} done)");
    let recorded = app.backends.index.count_by_status().await.unwrap().iter().map(|(_, n)| *n).sum::<u64>() as usize;

    // No broker: `caregate worker` finishes what the killed process left, then stops. It
    // also removes the quarantined object of an upload cut off before it was recorded
    // (no grace period here; an hour by default).
    let status = Command::new(env!("CARGO_BIN_EXE_caregate"))
        .arg("worker")
        .envs(env.child_env())
        .env("CAREGATE_WORKER__ORPHAN_GRACE_SECS", "0")
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    assert_exactly_once(&app, Stack::Embedded, recorded).await;
}

/// The sweep removes an object left in quarantine by an upload cut off before it was
/// recorded (after the grace period) and the lingering copy of a file already stored;
/// files kept in quarantine on purpose (infected) stay.
async fn sweep_removes_only_quarantine_leftovers(stack: common::Stack) {
    let env = TestEnv::new(stack).await;
    let app = env.app().await;
    let sub = submission();
    let intake = app.intake().unwrap();
    let kept = intake.receive(&sub, "eicar.txt", common::bytes_body(common::eicar())).await.unwrap();
    let stored = intake.receive(&sub, "rapport.txt", common::bytes_body(b"rapport".to_vec())).await.unwrap();
    let run = common::Running::with_app(app.clone()).await;
    common::wait_done(&app, sub.submission_id, 2, 60).await;
    run.stop().await;
    // As if the process had stopped before deleting the stored file's copy.
    let copy = env.dir.path().join("copy");
    std::fs::write(&copy, b"rapport").unwrap();
    let d = caregate_schemas::Sha256Digest::of(b"rapport");
    app.backends.quarantine.put_file(&stored.evidence_id.quarantine_key(), &copy, &d).await.unwrap();
    let orphan = caregate_schemas::EvidenceId::new();
    let path = env.dir.path().join("orphan");
    std::fs::write(&path, b"interrupted").unwrap();
    let digest = caregate_schemas::Sha256Digest::of(b"interrupted");
    app.backends.quarantine.put_file(&orphan.quarantine_key(), &path, &digest).await.unwrap();

    let grace = Duration::from_secs(3600);
    let q = app.backends.quarantine.as_ref();
    let idx = app.backends.index.as_ref();
    assert_eq!(caregate_workers::sweep_orphans(q, idx, grace).await.unwrap(), 1, "the stored file's copy; the orphan is too young");
    assert_eq!(caregate_workers::sweep_orphans(q, idx, Duration::ZERO).await.unwrap(), 1, "{stack:?}: the orphan");
    let left = app.backends.quarantine.list("quarantine/").await.unwrap();
    assert_eq!(left, vec![kept.evidence_id.quarantine_key()]);
}
common::on_each_stack!(sweep_removes_only_quarantine_leftovers);
