//! The read stage (reading and classifying, with `caregate-extract`). A file is read by a
//! [`Reader`]: by default in a child process (this same program, asked `caregate
//! read-child --serve`), under a memory ceiling, a CPU limit and a wall-clock timeout,
//! in a temporary directory of its own, with an empty environment. Whatever a parser
//! underneath does with a hostile file — panic, abort, loop, allocate without bound —
//! ends that one file with a finding that says so, and the worker goes on. The child
//! hands its [`Analysis`] back as JSON on its standard output, and is kept for the next
//! file unless that file ended it.
//!
//! [`Isolation::Thread`] reads on a thread of the worker instead (behind
//! `catch_unwind` and a timeout): a process start cheaper per file, but an abort or an
//! exhausted memory in a parser takes the worker down with it.

// Unsafe code allowed here only: signalling the reader's process group, its CPU limit
// and memory trim are system calls with no safe wrapper in std.
#![allow(unsafe_code)]

use caregate_schemas::FindingCode;
use std::ffi::OsString;
use std::io::{BufRead, Read, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use caregate_extract::sandbox::{self, SandboxError, SandboxLimits};
use caregate_extract::{analyse_for, Analysis, Kind, Limits, Source};
use caregate_schemas::{EstablishmentIdentifiers, Finding, Severity};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use crate::identify::{identify_file, Identity};
use crate::stage::{Stage, StageName, Stop};

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

/// Reads one file, isolated as configured. Clones share their children.
#[derive(Clone, Debug)]
pub struct Reader {
    pub limits: Limits,
    pub isolation: Isolation,
    /// The program started as the child: a `caregate` binary.
    pub program: PathBuf,
    /// Address space the child may use (parsers, their stack, the tools it starts).
    pub memory_bytes: u64,
    children: Arc<Children>,
}

/// The reader itself could not be run (not the file's fault): the job is retried.
#[derive(Debug, thiserror::Error)]
#[error("cannot start the reader {program}: {reason}")]
pub struct ReaderError {
    pub program: String,
    pub reason: String,
}

/// A file on disk that could not be read, for a reason that is not its content's.
#[derive(Debug, thiserror::Error)]
pub enum ReadFileError {
    /// Its first bytes could not be read to identify it.
    #[error("reading {}: {error}", path.display())]
    Identify { path: PathBuf, error: std::io::Error },
    #[error(transparent)]
    Reader(#[from] ReaderError),
}

fn failed(code: FindingCode, message: String) -> Analysis {
    Analysis::unread("unknown", Kind::Other, Finding::new(code, Severity::Warning, message))
}

impl Reader {
    pub fn new(limits: Limits, isolation: Isolation, program: PathBuf, memory_bytes: u64) -> Self {
        Self { limits, isolation, program, memory_bytes, children: Arc::default() }
    }

    /// How many child processes this reader (and its clones) started so far.
    pub fn children_started(&self) -> u64 {
        self.children.started.load(Ordering::Relaxed)
    }

    /// The process ids of the children waiting for a file.
    pub fn idle_children(&self) -> Vec<u32> {
        self.children.idle.lock().unwrap_or_else(|p| p.into_inner()).iter().map(|c| c.child.id()).collect()
    }

    /// How long one file may take, parsers' own budget plus a grace for a stuck library.
    pub fn deadline(&self) -> Duration {
        Duration::from_secs(self.limits.time_budget_secs + 15)
    }

    /// Reads `path` (known to the submitter as `name`). Blocks: call it off the async
    /// runtime. Never fails because of the file; only when the child cannot be started.
    pub fn read(&self, identity: &Identity, path: &Path, name: &str) -> Result<Analysis, ReaderError> {
        self.read_for(identity, path, name, &EstablishmentIdentifiers::NONE)
    }

    /// [`Reader::read`], for a file the establishment `own` submitted: its identifiers
    /// are never an invoice's seller's (see [`caregate_extract::analyse_for`]). They go to
    /// the child with the file.
    pub fn read_for(&self, identity: &Identity, path: &Path, name: &str, own: &EstablishmentIdentifiers) -> Result<Analysis, ReaderError> {
        match self.isolation {
            Isolation::Thread => Ok(read_here(&identity.source(path, name), &self.limits, own)),
            Isolation::Process => self.read_in_lasting_child(identity, path, name, own),
        }
    }

    /// Identifies a file on disk, then reads it, as the pipeline does after a clean scan:
    /// what `caregate read` and `caregate accuracy` show, and how signatures are validated
    /// again from a stored copy. Blocks, like [`Reader::read`].
    pub fn read_file(&self, path: &Path, name: &str) -> Result<(Identity, Analysis), ReadFileError> {
        let identity = identify_file(path, name).map_err(|error| ReadFileError::Identify { path: path.to_owned(), error })?;
        let analysis = self.read(&identity, path, name)?;
        Ok((identity, analysis))
    }

    /// Reads in one of the children kept between files (see [`Children`]). A child that
    /// ends, overruns or misbehaves on a file is gone with it: the next file gets a new one.
    fn read_in_lasting_child(&self, identity: &Identity, path: &Path, name: &str, own: &EstablishmentIdentifiers) -> Result<Analysis, ReaderError> {
        let program = self.program.to_string_lossy().into_owned();
        let cannot = |reason: String| ReaderError { program: program.clone(), reason };
        let path = std::path::absolute(path).map_err(|e| cannot(e.to_string()))?;
        let request =
            Request { path: &path, name, media_type: &identity.media_type, xml_root: identity.xml_root.as_deref(), limits: &self.limits, establishment: own };
        // A path that is not UTF-8 cannot travel in the request: such a file gets a child
        // of its own, with the path as an argument.
        let Ok(line) = serde_json::to_string(&request) else { return self.read_in_child(identity, &path, name, own) };
        loop {
            let (mut child, fresh) = match self.children.take(&self.program, self.memory_bytes) {
                Some(child) => (child, false),
                None => (self.start_child().map_err(|e| cannot(e.to_string()))?, true),
            };
            if let Err(e) = child.send(&line) {
                if fresh {
                    // A new child that cannot take a request died starting: like a
                    // reader that crashes, the file ends with what it said.
                    let (status, stderr) = child.ended();
                    tracing::warn!(error = %e, %status, "the reader ended before taking the file");
                    return Ok(ended(&status, &stderr, self.memory_bytes));
                }
                // An idle child that has gone (killed from outside, say): another one.
                continue;
            }
            return Ok(match child.answer(self.deadline()) {
                Answer::Analysis { json, retire } => match serde_json::from_slice::<Analysis>(&json) {
                    Ok(analysis) => {
                        child.served += 1;
                        if !retire && child.served < FILES_PER_CHILD {
                            self.children.put(child);
                        }
                        analysis
                    }
                    // A child whose answer makes no sense is not asked again.
                    Err(e) => failed(FindingCode::Unreadable, format!("la réponse du lecteur est illisible : {e}")),
                },
                Answer::Timeout => over_time(self.deadline()),
                Answer::TooBig => {
                    failed(FindingCode::Unreadable, format!("la réponse du lecteur dépassait {} Mio ; fichier conservé sans lecture", MAX_ANSWER >> 20))
                }
                Answer::Ended => {
                    let (status, stderr) = child.ended();
                    let crash = ended(&status, &stderr, self.memory_bytes);
                    if identity.media_type == "application/pdf" && self.limits.poppler {
                        return self.read_without_poppler(identity, &path, name, own, crash);
                    }
                    crash
                }
            });
        }
    }

    /// A PDF whose reading ended its child: poppler, linked into it, may have crashed on
    /// the file. Read again with lopdf alone, the crash recorded beside what it read.
    fn read_without_poppler(
        &self,
        identity: &Identity,
        path: &Path,
        name: &str,
        own: &EstablishmentIdentifiers,
        crash: Analysis,
    ) -> Result<Analysis, ReaderError> {
        let mut plain = self.clone();
        plain.limits.poppler = false;
        let mut analysis = plain.read_in_lasting_child(identity, path, name, own)?;
        if analysis.findings.iter().any(|f| {
            matches!(f.code, FindingCode::MemoryLimit | FindingCode::Unreadable | FindingCode::TimeBudget) && analysis.classification.kind == Kind::Other
        }) {
            // lopdf could not read it either: the first reason stands.
            return Ok(crash);
        }
        for f in crash.findings {
            let message = format!("{} ; texte relu sans poppler (lopdf), il peut être incomplet", f.message);
            analysis.findings.push(Finding { message, ..f });
        }
        Ok(analysis)
    }

    fn start_child(&self) -> std::io::Result<LastingChild> {
        let workdir = tempfile::Builder::new().prefix("caregate-read-").tempdir()?;
        // No CPU ceiling from here: the child sets its own before each file.
        let mut cmd = sandbox::confined(&self.program.to_string_lossy(), workdir.path(), self.memory_bytes, None);
        cmd.args(["read-child", "--serve"]).stdin(Stdio::piped());
        let mut child = sandbox::spawn_lasting(cmd)?;
        self.children.started.fetch_add(1, Ordering::Relaxed);
        let (stdin, stdout, stderr) = (child.stdin.take(), child.stdout.take(), child.stderr.take());
        let (Some(stdin), Some(stdout), Some(mut stderr)) = (stdin, stdout, stderr) else { return Err(std::io::Error::other("the child's pipes are missing")) };
        let said = Arc::new(Mutex::new(Vec::new()));
        let (done_tx, stderr_done) = std::sync::mpsc::channel();
        let tail = said.clone();
        std::thread::Builder::new().name("reader-stderr".into()).spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = stderr.read(&mut buf) {
                let mut said = tail.lock().unwrap_or_else(|p| p.into_inner());
                said.extend_from_slice(&buf[..n]);
                let excess = said.len().saturating_sub(STDERR_KEPT);
                said.drain(..excess);
            }
            let _ = done_tx.send(());
        })?;
        Ok(LastingChild {
            child,
            stdin,
            stdout,
            said,
            stderr_done,
            served: 0,
            program: self.program.clone(),
            memory_bytes: self.memory_bytes,
            _workdir: workdir,
        })
    }

    fn read_in_child(&self, identity: &Identity, path: &Path, name: &str, own: &EstablishmentIdentifiers) -> Result<Analysis, ReaderError> {
        let program = self.program.to_string_lossy().into_owned();
        let cannot = |reason: String| ReaderError { program: program.clone(), reason };
        // The child runs in its own directory: give it the file by absolute path.
        let path = std::path::absolute(path).map_err(|e| cannot(e.to_string()))?;
        let limits = serde_json::to_string(&self.limits).map_err(|e| cannot(e.to_string()))?;
        let mut args: Vec<OsString> = vec!["read-child".into(), "--media-type".into(), identity.media_type.clone().into(), "--limits".into(), limits.into()];
        if let Some(root) = &identity.xml_root {
            args.extend(["--xml-root".into(), root.into()]);
        }
        if !own.is_empty() {
            let own = serde_json::to_string(own).map_err(|e| cannot(e.to_string()))?;
            args.extend(["--establishment".into(), own.into()]);
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
                return Ok(over_time(limit));
            }
            Err(SandboxError::TooMuchOutput { limit, .. }) => {
                return Ok(failed(FindingCode::Unreadable, format!("la réponse du lecteur dépassait {} Mio ; fichier conservé sans lecture", limit >> 20)));
            }
            Err(SandboxError::Failed { status, stderr, .. }) => return Ok(ended(&status, &stderr, self.memory_bytes)),
        };
        match serde_json::from_slice::<Analysis>(&answer) {
            Ok(analysis) => Ok(analysis),
            Err(e) => Ok(failed(FindingCode::Unreadable, format!("la réponse du lecteur est illisible : {e}"))),
        }
    }
}

/// A file whose reading overran `limit`.
fn over_time(limit: Duration) -> Analysis {
    failed(FindingCode::TimeBudget, format!("la lecture a dépassé {} s ; fichier conservé sans lecture", limit.as_secs()))
}

/// A child that ended without an answer: out of memory (Rust's allocator says so before
/// aborting; a C library's own words differ) or another crash.
fn ended(status: &str, stderr: &str, memory_bytes: u64) -> Analysis {
    let out_of_memory = ["memory allocation of", "out of memory", "bad_alloc", "Cannot allocate memory"].iter().any(|m| stderr.contains(m));
    if out_of_memory {
        tracing::warn!(%status, %stderr, "a parser ran out of memory on this file");
        return failed(
            FindingCode::MemoryLimit,
            format!("la lecture de ce fichier demandait plus de {} Mio de mémoire ; fichier conservé sans lecture", memory_bytes >> 20),
        );
    }
    tracing::warn!(%status, %stderr, "the reader crashed on this file");
    failed(FindingCode::Unreadable, format!("le lecteur s'est arrêté sur ce fichier ({status}) : {stderr}"))
}

/// Reads on the calling thread's own big-stack helper thread, a panic becoming a
/// finding. Used in the child process, and in-process under [`Isolation::Thread`].
fn read_here(source: &Source, limits: &Limits, own: &EstablishmentIdentifiers) -> Analysis {
    std::thread::scope(|scope| {
        let reading = std::thread::Builder::new()
            .name("extract".into())
            .stack_size(PARSER_STACK)
            .spawn_scoped(scope, || catch_unwind(AssertUnwindSafe(|| analyse_for(source, limits, own))));
        match reading.map(|h| h.join()) {
            Ok(Ok(Ok(analysis))) => analysis,
            Ok(Ok(Err(panic))) | Ok(Err(panic)) => {
                let msg = crate::stage::panic_message(&*panic);
                tracing::warn!(error = %msg, "a parser crashed on this file");
                failed(FindingCode::Unreadable, format!("l'analyseur s'est arrêté sur ce fichier : {msg}"))
            }
            Err(e) => failed(FindingCode::Unreadable, format!("impossible de démarrer l'analyseur : {e}")),
        }
    })
}

/// The child's side (`caregate read-child`): reads one file and prints its analysis.
pub fn read_child(path: &Path, name: &str, media_type: &str, xml_root: Option<&str>, limits: &Limits, own: &EstablishmentIdentifiers) -> std::io::Result<()> {
    let analysis = read_here(&Source { path, name, media_type, xml_root }, limits, own);
    let stdout = std::io::stdout().lock();
    serde_json::to_writer(std::io::BufWriter::new(stdout), &analysis).map_err(std::io::Error::other)
}

/// Files one child reads before it is replaced: whatever a parser leaves behind in a
/// process (a leak, a cache) does not last.
const FILES_PER_CHILD: u32 = 200;

/// Idle children kept for the next files; more are let go.
const IDLE_KEPT: usize = 16;

/// What is kept of a child's standard error: its last words before it ended.
const STDERR_KEPT: usize = 4096;

/// A child whose memory stays above this after a file (freed memory given back) asks
/// to be replaced rather than sit idle holding it.
const RETIRE_RESIDENT_BYTES: u64 = 256 << 20;

/// One file asked of a lasting child, one JSON line on its standard input.
#[derive(Serialize)]
struct Request<'a> {
    path: &'a Path,
    name: &'a str,
    media_type: &'a str,
    xml_root: Option<&'a str>,
    limits: &'a Limits,
    /// The submitting establishment's own identifiers, never a seller's.
    establishment: &'a EstablishmentIdentifiers,
}

#[derive(Deserialize)]
struct OwnedRequest {
    path: PathBuf,
    name: String,
    media_type: String,
    xml_root: Option<String>,
    limits: Limits,
    #[serde(default)]
    establishment: EstablishmentIdentifiers,
}

/// The children that read files, kept between files. Starting this program costs more
/// than reading a small PDF (it is large, and it starts threads and loads its fonts'
/// tables once), so a child reads file after file — each in full isolation from the
/// worker: its crash, overrun or exhausted memory ends that file and that child only.
/// Contract: a child is handed out to one reader at a time; a child whose file did not
/// end in an answer is never handed out again (it is killed); a child may be killed
/// while idle at any moment (it holds nothing).
#[derive(Default)]
struct Children {
    idle: Mutex<Vec<LastingChild>>,
    started: AtomicU64,
}

impl std::fmt::Debug for Children {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Children").field("started", &self.started.load(Ordering::Relaxed)).finish_non_exhaustive()
    }
}

impl Children {
    /// An idle child started as `program` with `memory_bytes`, still alive.
    fn take(&self, program: &Path, memory_bytes: u64) -> Option<LastingChild> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(at) = idle.iter().rposition(|c| c.program == program && c.memory_bytes == memory_bytes) {
            let mut child = idle.swap_remove(at);
            if matches!(child.child.try_wait(), Ok(None)) {
                return Some(child);
            }
        }
        None
    }

    fn put(&self, child: LastingChild) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < IDLE_KEPT {
            idle.push(child);
        }
    }
}

/// A child serving `caregate read-child --serve`.
struct LastingChild {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    stdout: std::process::ChildStdout,
    /// The end of what it wrote on its standard error (read by a thread of its own, so
    /// that a talkative library never blocks it).
    said: Arc<Mutex<Vec<u8>>>,
    stderr_done: std::sync::mpsc::Receiver<()>,
    served: u32,
    program: PathBuf,
    memory_bytes: u64,
    _workdir: tempfile::TempDir,
}

/// How a child's answer to one file came.
enum Answer {
    Analysis {
        json: Vec<u8>,
        retire: bool,
    },
    Timeout,
    TooBig,
    /// The child ended (crashed, killed by a limit) before answering in full.
    Ended,
}

impl LastingChild {
    fn send(&mut self, line: &str) -> std::io::Result<()> {
        self.said.lock().unwrap_or_else(|p| p.into_inner()).clear();
        self.stdin.write_all(line.as_bytes())?;
        self.stdin.write_all(b"\n")?;
        self.stdin.flush()
    }

    /// Reads one answer (a 9-byte header: its length, then whether the child asks to be
    /// replaced; then the analysis as JSON), waiting at most `wall`.
    fn answer(&mut self, wall: Duration) -> Answer {
        let deadline = std::time::Instant::now() + wall;
        let mut header = [0u8; 9];
        match read_by(&mut self.stdout, &mut header, deadline) {
            Ok(()) => {}
            Err(Wait::Timeout) => return Answer::Timeout,
            Err(Wait::Closed) => return Answer::Ended,
        }
        let len = u64::from_le_bytes(header[..8].try_into().unwrap_or_default());
        if len > MAX_ANSWER as u64 {
            return Answer::TooBig;
        }
        let mut json = vec![0u8; len as usize];
        match read_by(&mut self.stdout, &mut json, deadline) {
            Ok(()) => Answer::Analysis { json, retire: header[8] != 0 },
            Err(Wait::Timeout) => Answer::Timeout,
            Err(Wait::Closed) => Answer::Ended,
        }
    }

    /// How the child ended, and its last words (it is killed if it has not ended).
    fn ended(mut self) -> (String, String) {
        self.kill();
        let status = match self.child.wait() {
            Ok(status) => sandbox::exit_status(&status),
            Err(e) => format!("unknown ({e})"),
        };
        // Its standard error is read to its end (bounded: a tool it started might hold it).
        let _ = self.stderr_done.recv_timeout(Duration::from_secs(2));
        let said = self.said.lock().unwrap_or_else(|p| p.into_inner());
        (status, sandbox::last_words(&said))
    }

    fn kill(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            // SAFETY: signalling the process group made for the child, not reaped yet.
            unsafe {
                libc::kill(-(self.child.id() as i32), libc::SIGKILL);
            }
        }
    }
}

impl Drop for LastingChild {
    fn drop(&mut self) {
        self.kill();
        let _ = self.child.wait();
    }
}

enum Wait {
    Timeout,
    Closed,
}

/// Fills `buf` from `from` by `deadline`, `poll`ing so that a stuck child is given up on.
fn read_by(from: &mut std::process::ChildStdout, buf: &mut [u8], deadline: std::time::Instant) -> Result<(), Wait> {
    use std::os::fd::AsRawFd;
    let mut filled = 0;
    while filled < buf.len() {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err(Wait::Timeout);
        }
        let mut pfd = libc::pollfd { fd: from.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd for the duration of the call.
        let ready = unsafe { libc::poll(&mut pfd, 1, left.as_millis().clamp(1, i32::MAX as u128) as i32) };
        if ready == 0 {
            continue;
        }
        if ready < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(Wait::Closed);
        }
        match from.read(&mut buf[filled..]) {
            Ok(0) => return Err(Wait::Closed),
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return Err(Wait::Closed),
        }
    }
    Ok(())
}

/// The lasting child's side (`caregate read-child --serve`): reads the files asked on
/// its standard input, one JSON line each, until it closes; answers each with a header
/// and the analysis. Before each file it sets its own CPU ceiling to what it has used
/// plus that file's budget, so a runaway parser is stopped by the kernel even if the
/// worker is gone.
pub fn serve_child() -> std::io::Result<()> {
    let mut input = std::io::stdin().lock();
    // The answers go to a copy of standard output, and standard output itself to
    // standard error: a library that prints (GLib's g_print, a stray printf) cannot
    // slip bytes into an answer's framing.
    // SAFETY: dup and dup2 on this process's own standard descriptors; the copy is owned
    // by the File from here on.
    let mut out = unsafe {
        let answers = libc::dup(1);
        if answers < 0 || libc::dup2(2, 1) < 0 {
            return Err(std::io::Error::last_os_error());
        }
        std::io::BufWriter::new(<std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(answers))
    };
    let mut line = String::new();
    loop {
        line.clear();
        if input.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let request: OwnedRequest = serde_json::from_str(&line).map_err(std::io::Error::other)?;
        cpu_ceiling(request.limits.time_budget_secs + 15);
        let source = Source { path: &request.path, name: &request.name, media_type: &request.media_type, xml_root: request.xml_root.as_deref() };
        let analysis = read_here(&source, &request.limits, &request.establishment);
        let json = serde_json::to_vec(&analysis).map_err(std::io::Error::other)?;
        drop(analysis);
        let retire = resident_after_trim() > RETIRE_RESIDENT_BYTES;
        out.write_all(&(json.len() as u64).to_le_bytes())?;
        out.write_all(&[u8::from(retire)])?;
        out.write_all(&json)?;
        out.flush()?;
    }
}

/// Lets this process use `secs` more seconds of CPU from now (SIGXCPU past it).
fn cpu_ceiling(secs: u64) {
    // SAFETY: getrusage and setrlimit on this process, with valid pointers.
    unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_SELF, &mut usage) != 0 {
            return;
        }
        let used = (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) as u64 + 1;
        let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        if libc::getrlimit(libc::RLIMIT_CPU, &mut lim) != 0 {
            return;
        }
        lim.rlim_cur = ((used + secs) as libc::rlim_t).min(lim.rlim_max);
        libc::setrlimit(libc::RLIMIT_CPU, &lim);
    }
}

/// This process's resident memory once the allocator has given back what it can.
fn resident_after_trim() -> u64 {
    // SAFETY: malloc_trim only returns free memory to the system.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    unsafe {
        libc::malloc_trim(0);
    }
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|n| n.parse().ok()).unwrap_or(0);
    // SAFETY: sysconf only reads a system setting.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as u64;
    pages * page
}

pub struct ReadInput {
    pub working_copy: PathBuf,
    pub name: String,
    pub identity: Identity,
    /// The submitting establishment's own identifiers (from the index), never a seller's.
    pub establishment: EstablishmentIdentifiers,
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

    fn name(&self) -> StageName {
        StageName::Read
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
            reader.read_for(&input.identity, &input.working_copy, &input.name, &input.establishment)
        });
        // A child process is killed at its deadline; this catches a parser stuck inside a
        // library on a thread of this process, which cannot be.
        let grace = self.reader.deadline() + Duration::from_secs(5);
        match tokio::time::timeout(grace, reading).await {
            Ok(Ok(Ok(analysis))) => Ok(analysis),
            Ok(Ok(Err(e))) => Err(Stop::Retry(format!("extract: {e}"))),
            Ok(Err(e)) => Ok(failed(FindingCode::Unreadable, format!("le lecteur s'est terminé sans réponse : {e}"))),
            Err(_) => Ok(over_time(grace)),
        }
    }
}
