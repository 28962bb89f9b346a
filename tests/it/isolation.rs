//! Parsers run in a child process per file: a file that makes a parser allocate without
//! bound (`hostile/tableau-geant.xlsx`: calamine lays a sheet out as a grid, and this
//! one's last cell is XFD1048576), or a reader that crashes, ends that file with a
//! finding; the worker goes on with the others. Read in the worker's own process, the
//! same sheet aborts it ("memory allocation of 549755813888 bytes failed").

use caregate_schemas::FindingCode;
use std::os::unix::fs::PermissionsExt;

use caregate_schemas::{Kind, Status};

use crate::common::{self, Stack, TestEnv};

fn sample(path: &str) -> Vec<u8> {
    std::fs::read(common::samples_dir().join(path)).unwrap()
}

async fn a_file_that_exhausts_memory_ends_alone_and_the_worker_goes_on(stack: Stack) {
    let env = TestEnv::new(stack).await;
    let files = vec![
        ("bilan-geant.xlsx", sample("hostile/tableau-geant.xlsx")),
        ("facture.pdf", sample("factures/facture-FA-2024-0042.pdf")),
        ("bilan.xlsx", sample("finances/etat-recapitulatif.xlsx")),
    ];
    let (app, _, records) = common::process_files(&env, files).await;
    let by = |name: &str| records.iter().find(|r| r.path == name).unwrap_or_else(|| panic!("{name} missing"));
    let giant = by("bilan-geant.xlsx");
    assert_eq!(giant.status, Status::NeedsReview, "{stack:?}: {:?}", giant.findings);
    let finding = giant.findings.iter().find(|f| f.code == FindingCode::MemoryLimit).unwrap_or_else(|| panic!("{stack:?}: {:?}", giant.findings));
    assert!(finding.message.contains("3072 Mio"), "{}", finding.message);
    // Kept like any clean file, with its history, for a controller to open.
    assert_eq!(app.backends.evidence.size(&giant.sha256.object_key()).await.unwrap(), Some(giant.size));
    let events: Vec<String> = app.backends.index.events(giant.evidence_id).await.unwrap().iter().map(|e| e.kind.as_str().to_owned()).collect();
    assert_eq!(events, ["received", "needs_review"]);
    // The files beside it were read by the same worker.
    assert_eq!(by("facture.pdf").kind, Some(Kind::Invoice));
    assert_eq!(by("facture.pdf").status, Status::Stored, "{:?}", by("facture.pdf").findings);
    assert_eq!(by("bilan.xlsx").kind, Some(Kind::FinancialReport), "{:?}", by("bilan.xlsx").findings);
}
common::on_each_stack!(a_file_that_exhausts_memory_ends_alone_and_the_worker_goes_on);

#[tokio::test]
async fn a_reader_that_crashes_ends_its_file_with_the_reason() {
    let mut env = TestEnv::new(Stack::Embedded).await;
    // A reader that dies by a signal before answering, as a parser's segfault would.
    let crasher = env.dir.path().join("crashing-reader");
    std::fs::write(&crasher, "#!/bin/sh\necho 'reader: segmentation fault' >&2\nkill -SEGV $$\n").unwrap();
    std::fs::set_permissions(&crasher, std::fs::Permissions::from_mode(0o755)).unwrap();
    env.config.worker.reader_program = Some(crasher);
    let (_, _, records) = common::process_files(&env, vec![("facture.pdf", sample("factures/facture-FA-2024-0042.pdf"))]).await;
    let rec = &records[0];
    assert_eq!(rec.status, Status::NeedsReview);
    let f = rec.findings.iter().find(|f| f.code == FindingCode::Unreadable).unwrap_or_else(|| panic!("{:?}", rec.findings));
    assert!(f.message.contains("signal 11") && f.message.contains("segmentation fault"), "{}", f.message);
}

/// The reader itself missing (a broken install, not the file's fault): the job is
/// retried, nothing is decided about the file, and once the reader is back the file is
/// read and stored, once.
async fn a_missing_reader_is_retried_until_it_is_back(stack: Stack) {
    let mut env = TestEnv::new(stack).await;
    let reader = env.dir.path().join("reader-not-yet-installed");
    env.config.worker.reader_program = Some(reader.clone());
    env.config.backends.retry.delays_ms = vec![500, 1000, 2000, 4000];
    let run = common::Running::start(&env).await;
    let app = run.app.clone();
    let sub = common::submission();
    let receipt = run.intake().receive(&sub, "facture.pdf", common::bytes_body(sample("factures/facture-FA-2024-0042.pdf"))).await.unwrap();
    let id = receipt.evidence_id;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let rec = app.backends.index.get(id).await.unwrap().unwrap();
        if rec.attempts >= 1 {
            assert_eq!(rec.status, Status::Received, "{stack:?}: nothing decided while the reader is missing: {:?}", rec.findings);
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{stack:?}: the first attempt never ran");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_caregate"), &reader).unwrap();
    let records = common::wait_done(&app, sub.submission_id, 1, 60).await;
    run.stop().await;
    let rec = &records[0];
    assert_eq!(rec.status, Status::Stored, "{stack:?}: {:?}", rec.findings);
    assert_eq!(rec.kind, Some(Kind::Invoice));
    assert!(rec.attempts >= 2, "{stack:?}: read on a later attempt ({})", rec.attempts);
    let events: Vec<String> = app.backends.index.events(id).await.unwrap().iter().map(|e| e.kind.as_str().to_owned()).collect();
    // Each failed attempt is in the history, the file stored once.
    assert_eq!((events.first().map(String::as_str), events.last().map(String::as_str)), (Some("received"), Some("stored")), "{stack:?}: {events:?}");
    assert!(events.iter().any(|e| e == "retry") && events.iter().filter(|e| *e == "stored").count() == 1, "{stack:?}: {events:?}");
}
common::on_each_stack!(a_missing_reader_is_retried_until_it_is_back);

/// Children are kept between files: one reads file after file (starting this program
/// per file costs more than reading a small PDF). A file that ends its child — here one
/// that exhausts its memory — ends that file only; the next file is read, by a new child,
/// as if nothing had happened; and a child killed while idle is replaced, not reported.
#[test]
fn a_child_reads_file_after_file_and_one_that_kills_it_is_replaced() {
    let reader = common::reader();
    let read = |path: &str| {
        let p = common::samples_dir().join(path);
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        reader.read_file(&p, &name).unwrap().1
    };
    let invoice = "factures/facture-FA-2024-0042.pdf";
    for _ in 0..3 {
        assert_eq!(read(invoice).classification.kind, Kind::Invoice);
    }
    assert_eq!(read("finances/etat-recapitulatif.xlsx").classification.kind, Kind::FinancialReport);
    assert_eq!(reader.children_started(), 1, "one child for four files read one after the other");
    let giant = read("hostile/tableau-geant.xlsx");
    assert!(giant.findings.iter().any(|f| f.code == FindingCode::MemoryLimit), "{:?}", giant.findings);
    let after = read(invoice);
    assert_eq!(after.classification.kind, Kind::Invoice, "{:?}", after.findings);
    assert!(after.findings.iter().all(|f| f.code != FindingCode::Unreadable), "{:?}", after.findings);
    assert_eq!(reader.children_started(), 2, "the child that ran out of memory was replaced once");
    // An idle child killed from outside (the OOM killer, an operator) is not the next
    // file's fault: that file is read by a new child.
    let idle = reader.idle_children();
    assert_eq!(idle.len(), 1, "the child waits for the next file");
    let killed = std::process::Command::new("kill").args(["-KILL", &idle[0].to_string()]).status().unwrap();
    assert!(killed.success());
    std::thread::sleep(std::time::Duration::from_millis(100));
    let next = read(invoice);
    assert_eq!(next.classification.kind, Kind::Invoice, "{:?}", next.findings);
    assert_eq!(reader.children_started(), 3);
}

/// poppler is linked into the reader child: a PDF on which it crashes takes the child
/// down. That PDF is read again without poppler (lopdf's text), and the crash is said.
#[tokio::test]
async fn a_pdf_that_crashes_poppler_is_read_again_without_it() {
    let mut env = TestEnv::new(Stack::Embedded).await;
    // A reader that dies as poppler would on every file it is asked to read with
    // poppler, and reads normally otherwise.
    let reader = env.dir.path().join("reader-whose-poppler-crashes");
    let script = format!(
        "#!/bin/sh\nread -r line\ncase \"$line\" in *'\"poppler\":true'*) echo 'poppler: Segmentation fault' >&2; kill -SEGV $$;; esac\n{{ printf '%s\\n' \"$line\"; cat; }} | exec '{}' read-child --serve\n",
        env!("CARGO_BIN_EXE_caregate")
    );
    std::fs::write(&reader, script).unwrap();
    std::fs::set_permissions(&reader, std::fs::Permissions::from_mode(0o755)).unwrap();
    env.config.worker.reader_program = Some(reader);
    let (_, _, records) = common::process_files(&env, vec![("facture.pdf", sample("factures/facture-FA-2024-0042.pdf"))]).await;
    let rec = &records[0];
    assert_eq!(rec.kind, Some(Kind::Invoice), "read by lopdf: {:?}", rec.findings);
    assert_eq!(rec.status, Status::NeedsReview, "the crash is for a person to see");
    let f = rec.findings.iter().find(|f| f.code == FindingCode::Unreadable).unwrap_or_else(|| panic!("{:?}", rec.findings));
    assert!(f.message.contains("signal 11") && f.message.contains("sans poppler"), "{}", f.message);
}

/// The children outlive files, not their worker: a worker killed (SIGKILL, no clean-up
/// of its own) while its child reads a scan by OCR leaves neither the child nor its
/// Tesseract running on. (An idle child would end anyway, its standard input closed; one
/// busy in a tool only ends because it is killed with its worker.)
#[test]
fn a_killed_worker_leaves_no_reader_child_behind() {
    if !caregate_extract::ocr::tesseract_available() {
        eprintln!("skipped: tesseract is not installed (scripts/services.sh installs it)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let scan = dir.path().join("facture-scannee.png");
    std::fs::write(&scan, crate::ocr::scanned_invoice_png(dir.path())).unwrap();
    let mut reading = std::process::Command::new(env!("CARGO_BIN_EXE_caregate"))
        .arg("read")
        .arg(&scan)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let parent = reading.id();
    let parent_of = |pid: u32| -> Option<u32> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // The parent pid is the second field after the command's closing parenthesis.
        stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()
    };
    let processes = || -> Vec<u32> { std::fs::read_dir("/proc").unwrap().flatten().filter_map(|e| e.file_name().to_str()?.parse().ok()).collect() };
    // Wait for the child to be in Tesseract: the child's own child.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let (child, tool) = loop {
        let all = processes();
        let child = all.iter().copied().find(|p| parent_of(*p) == Some(parent));
        if let Some(child) = child {
            // Tesseract reading a page (not asked for its version or its languages).
            let reading_a_page = |p: u32| {
                let cmdline = std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default();
                let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
                args.first().is_some_and(|a| a.ends_with(b"tesseract")) && !args.iter().any(|a| *a == b"--version" || *a == b"--list-langs")
            };
            if let Some(tool) = all.iter().copied().find(|p| parent_of(*p) == Some(child) && reading_a_page(*p)) {
                break (child, tool);
            }
        }
        assert!(std::time::Instant::now() < deadline, "the reader child never started Tesseract on a page");
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    reading.kill().unwrap();
    reading.wait().unwrap();
    // Gone, or a zombie waiting for its new parent to reap it.
    let alive = |pid: u32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')))
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(500);
    while alive(child) || alive(tool) {
        assert!(
            std::time::Instant::now() < deadline,
            "after its worker was killed, reader {child} alive: {}, its tool {tool} alive: {}",
            alive(child),
            alive(tool)
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}
