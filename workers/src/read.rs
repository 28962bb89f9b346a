//! The read stage (reading and classifying, with `caregate-extract`). A file is read by a
//! [`Reader`]: by default in a child process of its own (this same program, asked
//! `caregate read-child`), under a memory ceiling, a CPU limit and a wall-clock timeout,
//! in a temporary directory of its own, with an empty environment. Whatever a parser
//! underneath does with a hostile file — panic, abort, loop, allocate without bound —
//! ends that one file with a finding that says so, and the worker goes on. The child
//! hands its [`Analysis`] back as JSON on its standard output.
//!
//! [`Isolation::Thread`] reads on a thread of the worker instead (behind
//! `catch_unwind` and a timeout): a process start cheaper per file, but an abort or an
//! exhausted memory in a parser takes the worker down with it.

use std::ffi::OsString;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use caregate_extract::sandbox::{self, SandboxError, SandboxLimits};
use caregate_extract::{analyse, Analysis, Kind, Limits, Source};
use caregate_schemas::{Finding, Severity};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use crate::identify::Identity;
use crate::stage::{Stage, Stop};

/// Parsers recurse (lopdf on nested objects, calamine, zip); a deep file gets a deep
/// stack rather than a crash. Only touched pages are committed, so this costs address
/// space, not memory.
const PARSER_STACK: usize = 256 * 1024 * 1024;

/// Most a child may print: the analysis of one file, its text capped by
/// `Limits::max_text_chars` (4 bytes a character at worst) and its listed rows.
const MAX_ANSWER: usize = 64 << 20;

/// Where a file is read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Isolation {
    /// In a child process under limits (the default).
    #[default]
    Process,
    /// On a thread of this process, behind `catch_unwind` and a timeout.
    Thread,
}

/// Reads one file, isolated as configured.
#[derive(Clone, Debug)]
pub struct Reader {
    pub limits: Limits,
    pub isolation: Isolation,
    /// The program started as the child: a `caregate` binary.
    pub program: PathBuf,
    /// Address space the child may use (parsers, their stack, the tools it starts).
    pub memory_bytes: u64,
}

/// The reader itself could not be run (not the file's fault): the job is retried.
#[derive(Debug, thiserror::Error)]
#[error("cannot start the reader {program}: {reason}")]
pub struct ReaderError {
    pub program: String,
    pub reason: String,
}

fn failed(code: &str, message: String) -> Analysis {
    Analysis::unread("unknown", Kind::Other, Finding::new(code, Severity::Warning, message))
}

impl Reader {
    /// How long one file may take, parsers' own budget plus a grace for a stuck library.
    pub fn deadline(&self) -> Duration {
        Duration::from_secs(self.limits.time_budget_secs + 15)
    }

    /// Reads `path` (known to the submitter as `name`). Blocks: call it off the async
    /// runtime. Never fails because of the file; only when the child cannot be started.
    pub fn read(&self, identity: &Identity, path: &Path, name: &str) -> Result<Analysis, ReaderError> {
        match self.isolation {
            Isolation::Thread => Ok(read_here(&identity.source(path, name), &self.limits)),
            Isolation::Process => self.read_in_child(identity, path, name),
        }
    }

    fn read_in_child(&self, identity: &Identity, path: &Path, name: &str) -> Result<Analysis, ReaderError> {
        let program = self.program.to_string_lossy().into_owned();
        let cannot = |reason: String| ReaderError { program: program.clone(), reason };
        // The child runs in its own directory: give it the file by absolute path.
        let path = std::path::absolute(path).map_err(|e| cannot(e.to_string()))?;
        let limits = serde_json::to_string(&self.limits).map_err(|e| cannot(e.to_string()))?;
        let mut args: Vec<OsString> = vec!["read-child".into(), "--media-type".into(), identity.media_type.clone().into(), "--limits".into(), limits.into()];
        if let Some(root) = &identity.xml_root {
            args.extend(["--xml-root".into(), root.into()]);
        }
        args.extend([path.into_os_string(), name.into()]);
        let args: Vec<&std::ffi::OsStr> = args.iter().map(OsString::as_os_str).collect();
        let workdir = tempfile::Builder::new().prefix("caregate-read-").tempdir().map_err(|e| cannot(e.to_string()))?;
        let limits = SandboxLimits { memory_bytes: self.memory_bytes, wall: self.deadline(), max_output: MAX_ANSWER };
        let answer = match sandbox::run(&program, &args, workdir.path(), limits) {
            Ok(answer) => answer,
            Err(SandboxError::Missing(_)) => return Err(cannot("not found".into())),
            Err(SandboxError::Io { error, .. }) => return Err(cannot(error.to_string())),
            Err(SandboxError::Timeout { limit, .. }) => {
                return Ok(failed("time_budget", format!("reading took longer than {} s; stored unread", limit.as_secs())));
            }
            Err(SandboxError::TooMuchOutput { limit, .. }) => {
                return Ok(failed("unreadable", format!("the reader's answer exceeded {} MiB; stored unread", limit >> 20)));
            }
            Err(SandboxError::Failed { status, stderr, .. }) => return Ok(ended(&status, &stderr, self.memory_bytes)),
        };
        match serde_json::from_slice::<Analysis>(&answer) {
            Ok(analysis) => Ok(analysis),
            Err(e) => Ok(failed("unreadable", format!("the reader's answer could not be read: {e}"))),
        }
    }
}

/// A child that ended without an answer: out of memory (Rust's allocator says so before
/// aborting; a C library's own words differ) or another crash.
fn ended(status: &str, stderr: &str, memory_bytes: u64) -> Analysis {
    let out_of_memory = ["memory allocation of", "out of memory", "bad_alloc", "Cannot allocate memory"].iter().any(|m| stderr.contains(m));
    if out_of_memory {
        tracing::warn!(%status, %stderr, "a parser ran out of memory on this file");
        return failed("memory_limit", format!("reading this file needed more than {} MiB of memory; stored unread", memory_bytes >> 20));
    }
    tracing::warn!(%status, %stderr, "the reader crashed on this file");
    failed("unreadable", format!("the reader crashed on this file ({status}): {stderr}"))
}

/// Reads on the calling thread's own big-stack helper thread, a panic becoming a
/// finding. Used in the child process, and in-process under [`Isolation::Thread`].
fn read_here(source: &Source, limits: &Limits) -> Analysis {
    std::thread::scope(|scope| {
        let reading = std::thread::Builder::new()
            .name("extract".into())
            .stack_size(PARSER_STACK)
            .spawn_scoped(scope, || catch_unwind(AssertUnwindSafe(|| analyse(source, limits))));
        match reading.map(|h| h.join()) {
            Ok(Ok(Ok(analysis))) => analysis,
            Ok(Ok(Err(panic))) | Ok(Err(panic)) => {
                let msg = crate::stage::panic_message(&*panic);
                tracing::warn!(error = %msg, "a parser crashed on this file");
                failed("unreadable", format!("the parser crashed on this file: {msg}"))
            }
            Err(e) => failed("unreadable", format!("cannot start a parser thread: {e}")),
        }
    })
}

/// The child's side (`caregate read-child`): reads one file and prints its analysis.
pub fn read_child(path: &Path, name: &str, media_type: &str, xml_root: Option<&str>, limits: &Limits) -> std::io::Result<()> {
    let analysis = read_here(&Source { path, name, media_type, xml_root }, limits);
    let stdout = std::io::stdout().lock();
    serde_json::to_writer(std::io::BufWriter::new(stdout), &analysis).map_err(std::io::Error::other)
}

pub struct ReadInput {
    pub working_copy: PathBuf,
    pub name: String,
    pub identity: Identity,
}

pub struct ReadStage {
    reader: Arc<Reader>,
    slots: Arc<Semaphore>,
}

impl ReadStage {
    pub fn new(reader: Reader, threads: usize) -> Self {
        Self { reader: Arc::new(reader), slots: Arc::new(Semaphore::new(threads)) }
    }
}

#[async_trait]
impl Stage for ReadStage {
    type Input = ReadInput;
    type Output = Analysis;

    fn name(&self) -> &'static str {
        "extract"
    }

    async fn run(&self, input: ReadInput) -> Result<Analysis, Stop> {
        let permit = match self.slots.clone().acquire_owned().await {
            Ok(p) => p,
            Err(_) => return Err(Stop::Retry("extract: worker shutting down".into())),
        };
        let reader = self.reader.clone();
        let reading = tokio::task::spawn_blocking(move || {
            // The slot is released when the reading is really done, even after a timeout.
            let _permit = permit;
            reader.read(&input.identity, &input.working_copy, &input.name)
        });
        // A child process is killed at its deadline; this catches a parser stuck inside a
        // library on a thread of this process, which cannot be.
        let grace = self.reader.deadline() + Duration::from_secs(5);
        match tokio::time::timeout(grace, reading).await {
            Ok(Ok(Ok(analysis))) => Ok(analysis),
            Ok(Ok(Err(e))) => Err(Stop::Retry(format!("extract: {e}"))),
            Ok(Err(e)) => Ok(failed("unreadable", format!("the reader thread ended without an answer: {e}"))),
            Err(_) => Ok(failed("time_budget", format!("reading took longer than {} s; stored unread", grace.as_secs()))),
        }
    }
}
