//! `caregate submit`: send files and folders for one submission, then report each file's
//! outcome. Directly through the configured back ends, or through a server's HTTP API.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use caregate_ingest::{Intake, IntakeError, Receipt};
use caregate_schemas::{EvidenceRecord, SubmissionRef};
use futures::TryStreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use tokio_util::io::ReaderStream;
use tokio_util::sync::CancellationToken;

use crate::App;

/// One file to send: where it is on disk and the name it is sent under (its path
/// relative to the folder given on the command line).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalFile {
    pub disk: PathBuf,
    pub name: String,
    pub size: u64,
}

/// Expands files and folders (recursively, sorted, hidden entries skipped).
pub fn collect_files(paths: &[PathBuf]) -> anyhow::Result<Vec<LocalFile>> {
    fn walk(dir: &Path, base: &Path, out: &mut Vec<LocalFile>) -> anyhow::Result<()> {
        let mut entries: Vec<_> = std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?.collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let path = entry.path();
            let meta = entry.metadata()?;
            if meta.is_dir() {
                walk(&path, base, out)?;
            } else if meta.is_file() {
                let name = path.strip_prefix(base).unwrap_or(&path).to_string_lossy().into_owned();
                out.push(LocalFile { disk: path, name, size: meta.len() });
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).with_context(|| format!("{}", p.display()))?;
        if meta.is_dir() {
            walk(p, p, &mut out)?;
        } else {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            out.push(LocalFile { disk: p.clone(), name, size: meta.len() });
        }
    }
    if out.is_empty() {
        bail!("no files to submit");
    }
    Ok(out)
}

pub fn progress_bar(total: u64, hidden: bool) -> ProgressBar {
    if hidden {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(total);
    pb.set_style(
        ProgressStyle::with_template("{msg:>12} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} {eta}").expect("valid template").progress_chars("=> "),
    );
    pb
}

/// Streams each file into the intake, advancing the progress bar as bytes go.
pub async fn upload_files(intake: &Intake, sub: &SubmissionRef, files: &[LocalFile], pb: &ProgressBar) -> anyhow::Result<Vec<Receipt>> {
    pb.set_message("uploading");
    let mut receipts = Vec::with_capacity(files.len());
    for f in files {
        let file = tokio::fs::File::open(&f.disk).await.with_context(|| format!("opening {}", f.disk.display()))?;
        let body = ReaderStream::with_capacity(file, 256 * 1024).inspect_ok(|chunk| pb.inc(chunk.len() as u64)).map_err(IntakeError::from);
        let receipt = intake.receive(sub, &f.name, body).await.with_context(|| format!("submitting {}", f.name))?;
        receipts.push(receipt);
    }
    Ok(receipts)
}

/// Submits through the configured back ends: the files on disk, then `in_memory` ones
/// (name, bytes), such as a test string built at run time. With the in-process queue, the
/// files are also processed here before this returns.
pub async fn submit_direct(
    app: &App,
    sub: &SubmissionRef,
    files: &[LocalFile],
    in_memory: Vec<(String, Vec<u8>)>,
    quiet: bool,
    wait: Duration,
) -> anyhow::Result<Vec<EvidenceRecord>> {
    let shutdown = CancellationToken::new();
    let worker = if app.backends.in_process_queue { Some(app.spawn_worker(shutdown.clone()).await?) } else { None };
    let pb = progress_bar(files.iter().map(|f| f.size).sum(), quiet);
    let intake = app.intake()?;
    let mut expected = upload_files(&intake, sub, files, &pb).await?.len();
    for (name, bytes) in in_memory {
        let body = futures::stream::iter([Ok::<_, IntakeError>(bytes::Bytes::from(bytes))]);
        intake.receive(sub, &name, body).await.with_context(|| format!("submitting {name}"))?;
        expected += 1;
    }
    pb.set_message("checking");
    pb.set_length(expected as u64);
    pb.set_position(0);
    pb.set_style(ProgressStyle::with_template("{msg:>12} [{bar:40}] {pos}/{len} files").expect("valid template"));
    let records = app.wait_for_submission(sub.submission_id, expected, wait, |done| pb.set_position(done as u64)).await;
    pb.finish_and_clear();
    shutdown.cancel();
    if let Some(w) = worker {
        w.await.ok();
    }
    records
}

/// Adds the establishment's own identifiers given on the command line to what the index
/// knows (as an upload through the API does), before any file is read.
pub async fn add_identifiers(app: &App, own: &caregate_schemas::EstablishmentIdentifiers) -> anyhow::Result<()> {
    if own.sirens.is_empty() && own.sirets.is_empty() {
        return Ok(());
    }
    let known = app.backends.index.establishment_identifiers(&own.finess).await?;
    let mut more = known.clone();
    more.add(own);
    if more != known {
        let change = caregate_schemas::IdentifiersChange { identifiers: own.clone(), replace: false, by: "cli:submit".into(), at: chrono::Utc::now() };
        app.backends.index.change_identifiers(&change).await?;
    }
    Ok(())
}

/// The client gave up on an outage: the server (or a back end behind it) stayed
/// unavailable past the retry limit. What was accepted stays accepted; the same command
/// with `--submission` sends the rest.
#[derive(Debug, thiserror::Error)]
#[error("gave up after {waited:?}: {last}; {accepted} of {total} files were accepted. Resume with: caregate submit --submission {submission} ... (the same files; accepted ones are skipped)")]
pub struct GaveUp {
    pub submission: caregate_schemas::SubmissionId,
    pub accepted: usize,
    pub total: usize,
    pub waited: Duration,
    pub last: String,
}

/// How long to wait before trying again: the server's `Retry-After` when it gave one,
/// else 0.5 s doubling to 30 s, each with up to 50 % random jitter (so that clients cut
/// off together do not come back together).
fn backoff(attempt: u32, retry_after: Option<Duration>) -> Duration {
    use rand::Rng;
    let base = retry_after.unwrap_or_else(|| Duration::from_millis(500).saturating_mul(1 << attempt.min(6)).min(Duration::from_secs(30)));
    base + base.mul_f64(rand::rng().random_range(0.0..0.5))
}

/// A passing failure worth another try (429, 502–504, or no answer at all): why, and the
/// server's `Retry-After` when it gave one. `None` for any other answer.
fn passing_failure(sent: &reqwest::Result<reqwest::Response>) -> Option<(String, Option<Duration>)> {
    match sent {
        Ok(resp) if matches!(resp.status().as_u16(), 429 | 502 | 503 | 504) => {
            let after = resp.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok()).map(Duration::from_secs);
            Some((format!("server answered {}", resp.status()), after))
        }
        Ok(_) => None,
        Err(e) => Some((e.to_string(), None)),
    }
}

/// A file's idempotency key: the same submission, path and content give the same key, so
/// a repeat is recognised whoever sends it again and whenever.
fn idempotency_key(sub: &SubmissionRef, name: &str, sha256: &caregate_schemas::Sha256Digest) -> String {
    caregate_schemas::Sha256Digest::of(format!("{}\n{name}\n{sha256}", sub.submission_id).as_bytes()).hex()
}

async fn file_sha256(path: &Path) -> anyhow::Result<caregate_schemas::Sha256Digest> {
    use sha2::Digest;
    let file = tokio::fs::File::open(path).await.with_context(|| format!("opening {}", path.display()))?;
    let mut hasher = sha2::Sha256::new();
    let mut chunks = ReaderStream::with_capacity(file, 256 * 1024);
    while let Some(chunk) = chunks.try_next().await? {
        hasher.update(&chunk);
    }
    Ok(hasher.into())
}

/// Submits through a running `caregate serve`, one request per file, then polls the
/// submission until every file has a final status.
///
/// Each file carries an idempotency key; on 429, 502–504 or a connection error it is
/// sent again after [`backoff`], for up to `retry_for` in all, and a repeat the server
/// already accepted gets its first receipt. Files of the submission already on the server
/// (same path and content) are not sent again, so the same command resumes a dossier.
#[allow(clippy::too_many_arguments)]
pub async fn submit_http(
    server: &str,
    token: &str,
    sub: &SubmissionRef,
    own: &caregate_schemas::EstablishmentIdentifiers,
    files: &[LocalFile],
    quiet: bool,
    wait: Duration,
    retry_for: Duration,
) -> anyhow::Result<Vec<EvidenceRecord>> {
    let client = reqwest::Client::new();
    let base = server.trim_end_matches('/');
    let pb = progress_bar(files.iter().map(|f| f.size).sum(), quiet);
    pb.set_message("uploading");
    let started = std::time::Instant::now();
    let already = accepted_before(&client, base, token, sub, started, retry_for).await?;
    let mut accepted = 0;
    for f in files {
        let sha256 = file_sha256(&f.disk).await?;
        if already.contains(&(f.name.clone(), sha256)) {
            pb.inc(f.size);
            accepted += 1;
            continue;
        }
        let key = idempotency_key(sub, &f.name, &sha256);
        let mut attempt = 0u32;
        loop {
            let file = tokio::fs::File::open(&f.disk).await.with_context(|| format!("opening {}", f.disk.display()))?;
            let pb2 = pb.clone();
            let body = ReaderStream::with_capacity(file, 256 * 1024).inspect_ok(move |c| pb2.inc(c.len() as u64));
            let part = reqwest::multipart::Part::stream_with_length(reqwest::Body::wrap_stream(body), f.size).file_name(f.name.clone());
            let mut form = reqwest::multipart::Form::new()
                .text("establishment", sub.establishment.clone())
                .text("campaign", sub.campaign.clone())
                .text("submission_id", sub.submission_id.to_string());
            for o in &sub.objectives {
                form = form.text("objective", o.clone());
            }
            if let Some(c) = &sub.category {
                form = form.text("category", c.clone());
            }
            for s in &own.sirets {
                form = form.text("establishment_siret", s.clone());
            }
            for s in &own.sirens {
                form = form.text("establishment_siren", s.clone());
            }
            let sent =
                client.post(format!("{base}/api/evidence")).bearer_auth(token).header("Idempotency-Key", &key).multipart(form.part("file", part)).send().await;
            let Some((why, retry_after)) = passing_failure(&sent) else {
                let resp = sent?;
                if resp.status().is_success() {
                    break;
                }
                let status = resp.status();
                bail!("{}: server answered {status}: {}", f.name, resp.text().await.unwrap_or_default());
            };
            // The bytes sent so far are sent again.
            pb.set_position(pb.position().saturating_sub(f.size.min(pb.position())));
            let pause = backoff(attempt, retry_after);
            if started.elapsed() + pause > retry_for {
                pb.finish_and_clear();
                return Err(GaveUp {
                    submission: sub.submission_id,
                    accepted,
                    total: files.len(),
                    waited: started.elapsed(),
                    last: format!("{}: {why}", f.name),
                }
                .into());
            }
            attempt += 1;
            pb.set_message(format!("retry {attempt}"));
            tokio::time::sleep(pause).await;
        }
        pb.set_message("uploading");
        accepted += 1;
    }
    pb.finish_and_clear();
    let start = std::time::Instant::now();
    loop {
        let sent = client.get(format!("{base}/api/submissions/{}", sub.submission_id)).bearer_auth(token).send().await;
        // An outage while waiting is waited out like the processing itself.
        if passing_failure(&sent).is_none() {
            let view: serde_json::Value = sent?.error_for_status()?.json().await?;
            if view["complete"].as_bool() == Some(true) {
                return Ok(serde_json::from_value(view["evidence"].clone())?);
            }
        }
        if start.elapsed() > wait {
            bail!("submission {} not complete after {wait:?}", sub.submission_id);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// What the submission already holds on the server (path and content), when it exists:
/// those files are not sent again. Retried like an upload while the server is away.
async fn accepted_before(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    sub: &SubmissionRef,
    started: std::time::Instant,
    retry_for: Duration,
) -> anyhow::Result<HashSet<(String, caregate_schemas::Sha256Digest)>> {
    let mut attempt = 0;
    loop {
        let sent = client.get(format!("{base}/api/submissions/{}", sub.submission_id)).bearer_auth(token).send().await;
        let Some((why, retry_after)) = passing_failure(&sent) else {
            let resp = sent?;
            if resp.status() == reqwest::StatusCode::NOT_FOUND {
                return Ok(HashSet::new());
            }
            if !resp.status().is_success() {
                let status = resp.status();
                bail!("reading submission {}: server answered {status}: {}", sub.submission_id, resp.text().await.unwrap_or_default());
            }
            let view: serde_json::Value = resp.json().await?;
            let records: Vec<EvidenceRecord> = serde_json::from_value(view["evidence"].clone())?;
            return Ok(records.into_iter().map(|r| (r.path, r.sha256)).collect());
        };
        let pause = backoff(attempt, retry_after);
        if started.elapsed() + pause > retry_for {
            return Err(GaveUp { submission: sub.submission_id, accepted: 0, total: 0, waited: started.elapsed(), last: why }.into());
        }
        attempt += 1;
        tokio::time::sleep(pause).await;
    }
}
