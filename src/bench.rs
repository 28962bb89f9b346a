//! `caregate bench`: throughput, latency and memory of the pipeline on a generated corpus,
//! next to the plain tools (`sha256sum`, `clamdscan --stream`) on the same files in the
//! same run. Results go to `<out>/results.json` and, as a Markdown table, to stdout.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use caregate_schemas::{EvidenceRecord, Status, SubmissionId, SubmissionRef};
use futures::{StreamExt, TryStreamExt};
use rand::{Rng, RngCore, SeedableRng};
use serde::Serialize;
use tokio_util::io::ReaderStream;
use tokio_util::sync::CancellationToken;

use crate::submit::{collect_files, LocalFile};
use crate::{App, Config};
use caregate_archive::Stores;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum BenchStack {
    Embedded,
    Full,
}

pub struct BenchOptions {
    pub files: usize,
    pub big_mib: u64,
    pub stacks: Vec<BenchStack>,
    pub out: PathBuf,
    pub upload_concurrency: usize,
}

#[derive(Debug, Serialize)]
pub struct RunResult {
    pub stack: BenchStack,
    pub corpus: &'static str,
    pub files: usize,
    pub bytes: u64,
    pub seconds: f64,
    pub files_per_sec: f64,
    pub mb_per_sec: f64,
    /// Time from a file's record (upload done) to its final status.
    pub latency_p50_ms: f64,
    pub latency_p95_ms: f64,
    /// Size over latency for one file (upload excluded): the worker's own speed on a
    /// large file, comparable with clamdscan's MB/s on the same file.
    pub processing_mb_per_sec: Option<f64>,
    /// One judgement of the whole submission (read its records and the same documents
    /// elsewhere, judge, compare with the stored verification), as `reverify` does.
    pub judge_ms: f64,
    /// Every stored file read back as the API serves it: streamed from the store through
    /// SHA-256 into a spool, checked against its record, the read written to the audit
    /// log. Comparable with `sha256sum` on the same corpus.
    pub retrieve_mb_per_sec: f64,
    /// Peak resident memory of the process running the worker (a separate process on the
    /// full stack; the whole bench process, intake included, on the embedded one).
    pub worker_peak_rss_mib: f64,
}

#[derive(Debug, Serialize)]
pub struct ToolResult {
    pub tool: String,
    pub corpus: &'static str,
    pub seconds: f64,
    pub files_per_sec: f64,
    pub mb_per_sec: f64,
}

#[derive(Debug, Serialize)]
pub struct BenchReport {
    pub runs: Vec<RunResult>,
    pub tools: Vec<ToolResult>,
}

const MB: f64 = 1_000_000.0;

/// 2,000-ish files between 10 KB and 1 MB, log-uniform (most are small, as real evidence
/// is), random bytes so that nothing compresses or deduplicates.
fn write_small_corpus(dir: &Path, n: usize) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(2024);
    let (lo, hi) = ((10_000f64).ln(), (1_000_000f64).ln());
    let mut buf = vec![0u8; 1_000_000];
    for i in 0..n {
        let len = rng.random_range(lo..hi).exp() as usize;
        rng.fill_bytes(&mut buf[..len]);
        std::fs::write(dir.join(format!("piece-{i:05}.bin")), &buf[..len])?;
    }
    Ok(())
}

fn write_big_file(path: &Path, mib: u64) -> anyhow::Result<()> {
    use std::io::Write;
    std::fs::create_dir_all(path.parent().expect("has parent"))?;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let mut chunk = vec![0u8; 1 << 20];
    for _ in 0..mib {
        rng.fill_bytes(&mut chunk);
        out.write_all(&chunk)?;
    }
    out.flush()?;
    Ok(())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// Uploads every file with a few uploads in flight, as several clients would.
async fn upload_all(app: &App, sub: &SubmissionRef, files: &[LocalFile], concurrency: usize) -> anyhow::Result<()> {
    let intake = app.intake()?;
    futures::stream::iter(files.iter().cloned())
        .map(|f| {
            let intake = intake.clone();
            let sub = sub.clone();
            async move {
                let file = tokio::fs::File::open(&f.disk).await?;
                let body = ReaderStream::with_capacity(file, 256 * 1024).map_err(caregate_ingest::IntakeError::from);
                intake.receive(&sub, &f.name, body).await?;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(concurrency.max(1))
        .try_collect::<Vec<()>>()
        .await?;
    Ok(())
}

/// Reads back every stored file the way `GET /api/evidence/{id}/content` does; MB/s.
async fn retrieve_all(app: &App, records: &[EvidenceRecord]) -> anyhow::Result<f64> {
    let spool = app.intake()?.spool_dir().to_path_buf();
    let start = Instant::now();
    let mut bytes = 0u64;
    for rec in records.iter().filter(|r| r.object_key.is_some()) {
        let got =
            caregate_ingest::retrieval::retrieve(app.backends.evidence.as_ref(), app.backends.index.as_ref(), rec, "bench (archivist)", None, &spool).await;
        match got {
            Ok(_) => bytes += rec.size,
            Err(e) => bail!("retrieving {}: {e}", rec.path),
        }
    }
    Ok(bytes as f64 / MB / start.elapsed().as_secs_f64())
}

fn measure(stack: BenchStack, corpus: &'static str, records: &[EvidenceRecord], elapsed: Duration, rss: f64, judge_ms: f64) -> anyhow::Result<RunResult> {
    if let Some(bad) = records.iter().find(|r| r.status != Status::Stored) {
        bail!("{} ended {} ({:?}): the benchmark measures clean files only", bad.path, bad.status, bad.findings);
    }
    let bytes: u64 = records.iter().map(|r| r.size).sum();
    let mut lat: Vec<f64> = records.iter().map(|r| (r.updated_at - r.received_at).num_microseconds().unwrap_or(0) as f64 / 1000.0).collect();
    lat.sort_by(|a, b| a.total_cmp(b));
    let secs = elapsed.as_secs_f64();
    Ok(RunResult {
        stack,
        corpus,
        files: records.len(),
        bytes,
        seconds: secs,
        files_per_sec: records.len() as f64 / secs,
        mb_per_sec: bytes as f64 / MB / secs,
        latency_p50_ms: percentile(&lat, 0.5),
        latency_p95_ms: percentile(&lat, 0.95),
        processing_mb_per_sec: (records.len() == 1 && lat[0] > 0.0).then(|| bytes as f64 / MB / (lat[0] / 1000.0)),
        judge_ms,
        worker_peak_rss_mib: rss,
        retrieve_mb_per_sec: 0.0,
    })
}

/// A worker in its own process, so that its memory is measured alone.
struct ChildWorker(std::process::Child);

impl ChildWorker {
    fn start(env: &[(String, String)]) -> anyhow::Result<Self> {
        let exe = std::env::current_exe()?;
        let child = Command::new(exe)
            .arg("worker")
            .envs(env.iter().cloned())
            .env("CAREGATE_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .context("starting worker process")?;
        Ok(Self(child))
    }

    fn peak_rss_mib(&self) -> f64 {
        peak_rss_mib(self.0.id())
    }
}

impl Drop for ChildWorker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn run_stack(config: &Config, stack: BenchStack, corpora: &[(&'static str, Vec<LocalFile>)], opts: &BenchOptions) -> anyhow::Result<Vec<RunResult>> {
    let mut config = config.clone();
    let mut child_env = Vec::new();
    match stack {
        BenchStack::Embedded => {
            config = config.embedded();
            config.backends.data_dir = opts.out.join("embedded-data");
            let _ = std::fs::remove_dir_all(&config.backends.data_dir);
        }
        BenchStack::Full => {
            let tag = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
            let (Some(s3), Some(_), Some(amqp)) = (config.backends.s3.as_mut(), &config.backends.database, config.backends.amqp.as_mut()) else {
                bail!("the full stack needs S3, database and broker settings (e.g. `source ~/.cache/caregate-services/env`)");
            };
            s3.quarantine_bucket = format!("cgbench-{tag}-q");
            s3.evidence_bucket = format!("cgbench-{tag}-e");
            s3.create_buckets = true;
            amqp.prefix = format!("cgbench-{tag}");
            child_env = vec![
                ("CAREGATE_BACKENDS__S3__QUARANTINE_BUCKET".to_owned(), s3.quarantine_bucket.clone()),
                ("CAREGATE_BACKENDS__S3__EVIDENCE_BUCKET".to_owned(), s3.evidence_bucket.clone()),
                ("CAREGATE_BACKENDS__AMQP__PREFIX".to_owned(), amqp.prefix.clone()),
            ];
        }
    }
    config.worker.spool_dir = Some(opts.out.join("spool"));
    config.intake.spool_dir = Some(opts.out.join("spool"));
    let app = App::open(config).await?;
    let shutdown = CancellationToken::new();
    let (worker_task, child) = match stack {
        BenchStack::Embedded => (Some(app.spawn_worker(shutdown.clone()).await?), None),
        BenchStack::Full => (None, Some(ChildWorker::start(&child_env)?)),
    };
    let mut results = Vec::new();
    for (name, files) in corpora {
        let sub = bench_submission();
        eprintln!("bench: {stack:?} stack, {name} corpus: {} files", files.len());
        let start = Instant::now();
        upload_all(&app, &sub, files, opts.upload_concurrency).await?;
        let records = app.wait_for_submission(sub.submission_id, files.len(), Duration::from_secs(3600), |_| {}).await?;
        let elapsed = start.elapsed();
        let rss = match &child {
            Some(c) => c.peak_rss_mib(),
            None => peak_rss_mib(std::process::id()),
        };
        let verifier = app.verifier()?;
        let judged = Instant::now();
        verifier.verify(sub.submission_id).await?;
        let judge_ms = judged.elapsed().as_secs_f64() * 1000.0;
        let mut result = measure(stack, name, &records, elapsed, rss, judge_ms)?;
        result.retrieve_mb_per_sec = retrieve_all(&app, &records).await?;
        results.push(result);
    }
    shutdown.cancel();
    if let Some(w) = worker_task {
        w.await.ok();
    }
    drop(child);
    Ok(results)
}

/// A dossier of the benchmark's own establishment.
fn bench_submission() -> SubmissionRef {
    SubmissionRef { submission_id: SubmissionId::new(), establishment: "750000001".into(), campaign: "care-d1-2024".into(), objectives: vec![], category: None }
}

fn time_tool(tool: &str, corpus: &'static str, cmd: &mut Command, files: &[LocalFile]) -> anyhow::Result<ToolResult> {
    let start = Instant::now();
    let out = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).output().with_context(|| format!("running {tool}"))?;
    let secs = start.elapsed().as_secs_f64();
    // clamdscan exits 1 when it finds something; only 2 is an error.
    if out.status.code().is_none_or(|c| c > 1) {
        bail!("{tool} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let bytes: u64 = files.iter().map(|f| f.size).sum();
    Ok(ToolResult { tool: tool.to_owned(), corpus, seconds: secs, files_per_sec: files.len() as f64 / secs, mb_per_sec: bytes as f64 / MB / secs })
}

fn baselines(config: &Config, corpora: &[(&'static str, Vec<LocalFile>)], out: &Path) -> anyhow::Result<Vec<ToolResult>> {
    let (host, port) = config.clamd.address.rsplit_once(':').context("clamd address is host:port")?;
    let conf = out.join("clamdscan.conf");
    // clamdscan takes StreamMaxLength from its own configuration and, past it, silently
    // sends only the head of the file (and clamd answers OK): the baseline must send
    // every byte, as caregate does.
    std::fs::write(&conf, format!("TCPSocket {port}\nTCPAddr {host}\nStreamMaxLength 2000M\n"))?;
    let mut results = Vec::new();
    for (name, files) in corpora {
        let list = out.join(format!("{name}.list"));
        std::fs::write(&list, files.iter().map(|f| format!("{}\n", f.disk.display())).collect::<String>())?;
        let paths: Vec<&Path> = files.iter().map(|f| f.disk.as_path()).collect();
        results.push(time_tool("sha256sum", name, Command::new("sha256sum").args(&paths), files)?);
        let mut clamdscan = Command::new("clamdscan");
        clamdscan.arg(format!("--config-file={}", conf.display())).args(["--stream", "--no-summary"]).arg(format!("--file-list={}", list.display()));
        results.push(time_tool("clamdscan --stream", name, &mut clamdscan, files)?);
    }
    Ok(results)
}

pub async fn run(config: Config, opts: BenchOptions) -> anyhow::Result<BenchReport> {
    std::fs::create_dir_all(&opts.out)?;
    let small_dir = opts.out.join("corpus-small");
    if collect_files(std::slice::from_ref(&small_dir)).map(|f| f.len()).unwrap_or(0) != opts.files {
        let _ = std::fs::remove_dir_all(&small_dir);
        eprintln!("bench: writing {} files to {}", opts.files, small_dir.display());
        write_small_corpus(&small_dir, opts.files)?;
    }
    let mut corpora = vec![("small", collect_files(&[small_dir])?)];
    if opts.big_mib > 0 {
        let big = opts.out.join("corpus-big").join(format!("big-{}MiB.bin", opts.big_mib));
        if std::fs::metadata(&big).map(|m| m.len()).unwrap_or(0) != opts.big_mib << 20 {
            eprintln!("bench: writing {}", big.display());
            write_big_file(&big, opts.big_mib)?;
        }
        corpora.push(("big", collect_files(&[big])?));
    }
    let tools = baselines(&config, &corpora, &opts.out)?;
    let mut runs = Vec::new();
    for stack in &opts.stacks {
        runs.extend(run_stack(&config, *stack, &corpora, &opts).await?);
    }
    let report = BenchReport { runs, tools };
    std::fs::write(opts.out.join("results.json"), serde_json::to_vec_pretty(&report)?)?;
    Ok(report)
}

/// The report as Markdown, with each run's ratio to clamdscan on the same corpus.
pub fn markdown(report: &BenchReport) -> String {
    let mut s = String::from(
        "| stack | corpus | files | MB | s | files/s | MB/s | vs clamdscan | p50 ms | p95 ms | processing MB/s | vs clamdscan | judge ms | retrieve MB/s | vs sha256sum | worker peak RSS MiB |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in &report.runs {
        let clam = report.tools.iter().find(|t| t.corpus == r.corpus && t.tool.starts_with("clamdscan")).map(|t| t.mb_per_sec);
        let ratio = |v: f64| clam.map(|c| format!("{:.2}×", v / c)).unwrap_or_default();
        let sha = report
            .tools
            .iter()
            .find(|t| t.corpus == r.corpus && t.tool == "sha256sum")
            .map(|t| format!("{:.2}×", r.retrieve_mb_per_sec / t.mb_per_sec))
            .unwrap_or_default();
        let (proc, proc_ratio) = match r.processing_mb_per_sec {
            Some(p) => (format!("{p:.1}"), ratio(p)),
            None => ("-".to_owned(), "-".to_owned()),
        };
        s += &format!(
            "| {:?} | {} | {} | {:.0} | {:.2} | {:.0} | {:.1} | {} | {:.1} | {:.1} | {} | {} | {:.0} | {:.1} | {} | {:.0} |\n",
            r.stack,
            r.corpus,
            r.files,
            r.bytes as f64 / MB,
            r.seconds,
            r.files_per_sec,
            r.mb_per_sec,
            ratio(r.mb_per_sec),
            r.latency_p50_ms,
            r.latency_p95_ms,
            proc,
            proc_ratio,
            r.judge_ms,
            r.retrieve_mb_per_sec,
            sha,
            r.worker_peak_rss_mib
        );
    }
    s += "\n| tool | corpus | s | files/s | MB/s |\n|---|---|---|---|---|\n";
    for t in &report.tools {
        s += &format!("| {} | {} | {:.2} | {:.0} | {:.1} |\n", t.tool, t.corpus, t.seconds, t.files_per_sec, t.mb_per_sec);
    }
    s
}

/// What archiving costs: PDF signatures validated (next to pyhanko on the same files, in
/// the same run) and a 40-file dossier written as a SEDA transfer and as a bag, then
/// checked.
#[derive(Debug, Serialize)]
pub struct ArchivesReport {
    pub signatures: usize,
    /// `pdf::parse` (structure and validation of every signature) per signature, in
    /// this process, averaged over repetitions.
    pub caregate_ms_per_signature: f64,
    /// pyhanko's `validate_pdf_signature` / `validate_pdf_timestamp` per signature, in
    /// its own process (interpreter start excluded), same files, same trust anchor.
    pub pyhanko_ms_per_signature: Option<f64>,
    pub dossier_files: usize,
    pub dossier_mb: f64,
    pub seda_export_ms: f64,
    pub bag_export_ms: f64,
    pub verify_transfer_ms: f64,
    pub xmllint_ms: Option<f64>,
}

const PYHANKO_TIMING: &str = r#"
import io, sys, time
from pathlib import Path
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp
from pyhanko_certvalidator import ValidationContext
from asn1crypto import x509, pem
d, reps = Path(sys.argv[1]), int(sys.argv[2])
_, _, der = pem.unarmor((d / "pki/root.pem").read_bytes())
root = x509.Certificate.load(der)
files = sorted(d.glob("*.pdf"))
n, start = 0, time.perf_counter()
for _ in range(reps):
    for f in files:
        r = PdfFileReader(io.BytesIO(f.read_bytes()))
        for emb in r.embedded_signatures:
            vc = ValidationContext(trust_roots=[root], allow_fetching=False)
            if emb.sig_object.get("/Type") == "/DocTimeStamp":
                validate_pdf_timestamp(emb, validation_context=vc)
            else:
                validate_pdf_signature(emb, signer_validation_context=vc, ts_validation_context=vc)
            n += 1
print((time.perf_counter() - start) * 1000 / n)
"#;

pub async fn archives(config: Config, signed: &Path, out: &Path) -> anyhow::Result<ArchivesReport> {
    const REPS: usize = 20;
    std::fs::create_dir_all(out)?;
    let limits = caregate_extract::Limits { trust_anchors: vec![signed.join("pki/root.pem")], ..config.worker.extract.clone() };
    let pdfs: Vec<Vec<u8>> =
        collect_files(&[signed.to_path_buf()])?.into_iter().filter(|f| f.name.ends_with(".pdf")).map(|f| std::fs::read(&f.disk)).collect::<Result<_, _>>()?;
    if pdfs.is_empty() {
        bail!("no PDF in {} (make them with scripts/make-signed-pdfs.py)", signed.display());
    }
    let budget = caregate_extract::Budget::new(Duration::from_secs(60));
    let mut signatures = 0;
    let start = Instant::now();
    for _ in 0..REPS {
        for pdf in &pdfs {
            signatures += caregate_extract::pdf::parse(pdf, &limits, &budget)?.info.signatures.len();
        }
    }
    let caregate_ms_per_signature = start.elapsed().as_secs_f64() * 1000.0 / signatures as f64;
    let pyhanko_ms_per_signature = Command::new("python3")
        .args(["-c", PYHANKO_TIMING])
        .arg(signed)
        .arg("5")
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok());

    // A dossier of 40 files: the samples (hostile ones left out), cycled.
    let samples = collect_files(&[PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("samples")])?;
    let samples: Vec<LocalFile> = samples.into_iter().filter(|f| !f.name.starts_with("hostile/")).collect();
    let dossier: Vec<LocalFile> = (0..40)
        .map(|i| {
            let f = &samples[i % samples.len()];
            LocalFile { disk: f.disk.clone(), name: format!("{:02}-{}", i, f.name.replace('/', "-")), size: f.size }
        })
        .collect();
    let mut config = config.embedded();
    config.backends.data_dir = out.join("archives-data");
    let _ = std::fs::remove_dir_all(&config.backends.data_dir);
    let app = App::open(config).await?;
    let shutdown = CancellationToken::new();
    let worker = app.spawn_worker(shutdown.clone()).await?;
    let sub = SubmissionRef {
        submission_id: SubmissionId::new(),
        establishment: "750000001".into(),
        campaign: "care-d1-2024".into(),
        objectives: vec![],
        category: None,
    };
    upload_all(&app, &sub, &dossier, 8).await?;
    let records = app.wait_for_submission(sub.submission_id, dossier.len(), Duration::from_secs(900), |_| {}).await?;
    app.wait_for_verification(sub.submission_id, records.len(), Duration::from_secs(60)).await?;
    shutdown.cancel();
    worker.await.ok();
    let key = ed25519_dalek::SigningKey::from_bytes(&rand::random());
    let (seda_dir, bag_dir) = (out.join("archives-seda"), out.join("archives-bag"));
    let _ = std::fs::remove_dir_all(&seda_dir);
    let _ = std::fs::remove_dir_all(&bag_dir);
    let t = Instant::now();
    caregate_archive::seda::export(Stores::of(&app.backends), &app.config.archive.seda, app.config.worker.retention_days, sub.submission_id, &seda_dir, &key)
        .await?;
    let seda_export_ms = t.elapsed().as_secs_f64() * 1000.0;
    let t = Instant::now();
    caregate_archive::bag::export(Stores::of(&app.backends), sub.submission_id, &bag_dir, &key).await?;
    let bag_export_ms = t.elapsed().as_secs_f64() * 1000.0;
    let t = Instant::now();
    let (problems, _) = caregate_archive::seda::check(&seda_dir, Some(&key.verifying_key()), None);
    let verify_transfer_ms = t.elapsed().as_secs_f64() * 1000.0;
    if !problems.is_empty() {
        bail!("the benchmark's own transfer does not check: {problems:?}");
    }
    let t = Instant::now();
    let xmllint_ms = caregate_archive::seda::validate_schema(&seda_dir.join(caregate_archive::seda::MANIFEST), &caregate_archive::seda::schemas_dir())
        .ok()
        .map(|()| t.elapsed().as_secs_f64() * 1000.0);
    let report = ArchivesReport {
        signatures: signatures / REPS,
        caregate_ms_per_signature,
        pyhanko_ms_per_signature,
        dossier_files: records.len(),
        dossier_mb: records.iter().map(|r| r.size).sum::<u64>() as f64 / MB,
        seda_export_ms,
        bag_export_ms,
        verify_transfer_ms,
        xmllint_ms,
    };
    std::fs::write(out.join("archives.json"), serde_json::to_vec_pretty(&report)?)?;
    Ok(report)
}
