//! Running an outside reader (Tesseract, poppler's `pdftoppm`, the worker's own reader
//! child) on untrusted files, so that whatever
//! the file makes it do — crash, loop, allocate without bound — ends that file with a
//! reason and never the worker: its own process, with limits on memory (address space),
//! CPU time, file size and open files, a wall-clock timeout, an empty environment, a
//! temporary directory of its own as working directory, and a cap on what it may print.
//! Network access is not cut (that needs a network namespace); the tools we run open no
//! socket.

// Unsafe code allowed here only: limits, pidfd and poll are system calls with no safe wrapper in std.
#![allow(unsafe_code)]

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What one run may use.
#[derive(Clone, Copy, Debug)]
pub struct SandboxLimits {
    pub memory_bytes: u64,
    pub wall: Duration,
    /// Most bytes read from its standard output (the rest is an error).
    pub max_output: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("{0} is not installed")]
    Missing(String),
    #[error("{tool} ran longer than {limit:?}")]
    Timeout { tool: String, limit: Duration },
    #[error("{tool} printed more than {limit} bytes")]
    TooMuchOutput { tool: String, limit: usize },
    #[error("{tool} failed ({status}): {stderr}")]
    Failed { tool: String, status: String, stderr: String },
    #[error("running {tool}: {error}")]
    Io { tool: String, error: std::io::Error },
}

/// Whether `tool` can be started (asked with a harmless `probe` argument such as
/// `--version`); callers keep the answer for the process's life.
pub fn installed(tool: &str, probe: &str) -> bool {
    Command::new(tool).arg(probe).stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok()
}

/// A command for `tool` confined as every reader is: `workdir` as working and temporary
/// directory, an empty environment, `memory_bytes` of address space, `cpu_secs` of CPU
/// time when given (a lasting child sets its own, per file), no core dump, files of at
/// most 512 MiB, 64 descriptors, its own process group (a timeout kills whatever it
/// started too), and killed with the thread that starts it. Standard output and error
/// are piped; standard input is null.
pub fn confined(tool: &str, workdir: &Path, memory_bytes: u64, cpu_secs: Option<u64>) -> Command {
    let mut cmd = Command::new(tool);
    cmd.current_dir(workdir)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("LANG", "C.UTF-8")
        // Tesseract: one thread per process; the worker decides how many run at once.
        .env("OMP_THREAD_LIMIT", "1")
        .env("TMPDIR", workdir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: only async-signal-safe calls (getrlimit, setrlimit, setpgid, prctl) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let set = |resource, value: u64| {
                // Never above what this process may use itself: a reader in its own
                // child process runs tools under the child's own, lower, ceiling.
                let mut current = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
                let value = if libc::getrlimit(resource, &mut current) == 0 { (value as libc::rlim_t).min(current.rlim_max) } else { value as libc::rlim_t };
                let lim = libc::rlimit { rlim_cur: value, rlim_max: value };
                if libc::setrlimit(resource, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            };
            set(libc::RLIMIT_AS, memory_bytes)?;
            if let Some(cpu) = cpu_secs {
                set(libc::RLIMIT_CPU, cpu)?;
            }
            set(libc::RLIMIT_CORE, 0)?;
            set(libc::RLIMIT_FSIZE, 512 << 20)?;
            set(libc::RLIMIT_NOFILE, 64)?;
            libc::setpgid(0, 0);
            // Ended with whoever started it: a worker killed mid-file leaves no reader
            // running on, nor a reader its tools. (The signal follows the starting
            // *thread*: a child meant to outlive one file is started by
            // [`spawn_lasting`].)
            #[cfg(target_os = "linux")]
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    cmd
}

/// Starts `cmd` from a thread that lives as long as this process. Linux sends a
/// child's parent-death signal when the thread that forked it ends, and the threads a
/// file is read on come and go (tokio retires idle blocking threads): a child kept for
/// many files would be killed between two of them.
pub fn spawn_lasting(cmd: Command) -> std::io::Result<std::process::Child> {
    type Job = (Command, std::sync::mpsc::Sender<std::io::Result<std::process::Child>>);
    static SPAWNER: std::sync::LazyLock<Option<std::sync::mpsc::Sender<Job>>> = std::sync::LazyLock::new(|| {
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("caregate-spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
            })
            .ok()
            .map(|_| tx)
    });
    let Some(spawner) = SPAWNER.as_ref() else { return Err(std::io::Error::other("cannot start the spawner thread")) };
    let (tx, rx) = std::sync::mpsc::channel();
    spawner.send((cmd, tx)).map_err(|_| std::io::Error::other("the spawner thread is gone"))?;
    rx.recv().map_err(|_| std::io::Error::other("the spawner thread is gone"))?
}

/// Runs `tool args...` in `workdir` under `limits`; its standard output when it exits 0.
pub fn run(tool: &str, args: &[&std::ffi::OsStr], workdir: &Path, limits: SandboxLimits) -> Result<Vec<u8>, SandboxError> {
    let io = |error| SandboxError::Io { tool: tool.to_owned(), error };
    let mut cmd = confined(tool, workdir, limits.memory_bytes, Some(limits.wall.as_secs().max(1) + 1));
    cmd.args(args);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(SandboxError::Missing(tool.to_owned())),
        Err(e) => return Err(io(e)),
    };
    let pid = child.id() as i32;
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let cap = limits.max_output;
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        let n = (&mut stdout).take(cap as u64 + 1).read_to_end(&mut out);
        if out.len() > cap {
            // SAFETY: signalling the process group we made for the child.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
        }
        n.map(|_| out)
    });
    let err_reader = std::thread::spawn(move || {
        let mut err = Vec::new();
        let _ = (&mut stderr).take(4096).read_to_end(&mut err);
        let _ = std::io::copy(&mut stderr, &mut std::io::sink());
        err
    });
    let status = match wait_until(&mut child, limits.wall).map_err(io)? {
        Some(status) => status,
        None => {
            // SAFETY: signalling the process group we made for the child, which is not
            // reaped yet: its pid cannot have been reused.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
            let _ = child.kill();
            let _ = child.wait();
            return Err(SandboxError::Timeout { tool: tool.to_owned(), limit: limits.wall });
        }
    };
    let out = reader.join().unwrap_or_else(|_| Ok(Vec::new())).map_err(io)?;
    let err = err_reader.join().unwrap_or_default();
    if out.len() > cap {
        return Err(SandboxError::TooMuchOutput { tool: tool.to_owned(), limit: cap });
    }
    if !status.success() {
        return Err(SandboxError::Failed { tool: tool.to_owned(), status: exit_status(&status), stderr: last_words(&err) });
    }
    Ok(out)
}

/// How a process ended, as a finding says it: `signal 11`, or its exit status.
pub fn exit_status(status: &std::process::ExitStatus) -> String {
    match std::os::unix::process::ExitStatusExt::signal(status) {
        Some(sig) => format!("signal {sig}"),
        None => status.to_string(),
    }
}

/// What a finding keeps of a process's standard error: its first 300 characters.
pub fn last_words(stderr: &[u8]) -> String {
    String::from_utf8_lossy(stderr).trim().chars().take(300).collect()
}

/// Waits for `child` to end, at most `wall`: its status, or `None` when it is still
/// running (not reaped, so its pid and process group can still be signalled). On Linux
/// the wait is a `poll` on a pidfd, woken the moment the child exits: a reader started
/// per file must not pay a polling interval each time (a worker's read runs two of them,
/// nested). Elsewhere, or where pidfds are refused, a short polling loop.
fn wait_until(child: &mut std::process::Child, wall: Duration) -> std::io::Result<Option<std::process::ExitStatus>> {
    let start = Instant::now();
    #[cfg(target_os = "linux")]
    {
        // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, child.id() as libc::pid_t, 0) };
        if fd >= 0 {
            // SAFETY: a descriptor we just opened and own from here on.
            let fd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd as i32) };
            loop {
                let left = wall.saturating_sub(start.elapsed());
                if left.is_zero() {
                    return child.try_wait();
                }
                let mut pfd = libc::pollfd { fd: std::os::fd::AsRawFd::as_raw_fd(&fd), events: libc::POLLIN, revents: 0 };
                let ms = left.as_millis().clamp(1, i32::MAX as u128) as i32;
                // SAFETY: one valid pollfd for the duration of the call.
                let ready = unsafe { libc::poll(&mut pfd, 1, ms) };
                if ready > 0 {
                    return child.wait().map(Some);
                }
                if ready < 0 {
                    let e = std::io::Error::last_os_error();
                    if e.kind() != std::io::ErrorKind::Interrupted {
                        return Err(e);
                    }
                }
            }
        }
    }
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if start.elapsed() > wall {
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(wall_ms: u64) -> SandboxLimits {
        SandboxLimits { memory_bytes: 256 << 20, wall: Duration::from_millis(wall_ms), max_output: 1 << 20 }
    }

    #[test]
    fn a_runaway_tool_is_stopped_and_a_missing_one_named() {
        let dir = tempfile::tempdir().unwrap();
        let sh = |script: &str| [std::ffi::OsStr::new("-c"), std::ffi::OsStr::new(script)].map(|s| s.to_owned());
        let args = sh("echo bonjour");
        let refs: Vec<&std::ffi::OsStr> = args.iter().map(|s| s.as_os_str()).collect();
        assert_eq!(run("sh", &refs, dir.path(), limits(5000)).unwrap(), b"bonjour\n");
        let args = sh("while :; do :; done");
        let refs: Vec<&std::ffi::OsStr> = args.iter().map(|s| s.as_os_str()).collect();
        assert!(matches!(run("sh", &refs, dir.path(), limits(300)), Err(SandboxError::Timeout { .. })));
        // Allocating past the limit fails inside the tool, not in the caller.
        let args = sh("awk 'BEGIN { s = \"x\"; while (1) s = s s }'");
        let refs: Vec<&std::ffi::OsStr> = args.iter().map(|s| s.as_os_str()).collect();
        assert!(run("sh", &refs, dir.path(), limits(20_000)).is_err());
        assert!(matches!(run("caregate-no-such-tool", &[], dir.path(), limits(1000)), Err(SandboxError::Missing(_))));
        let args = sh("yes");
        let refs: Vec<&std::ffi::OsStr> = args.iter().map(|s| s.as_os_str()).collect();
        assert!(matches!(run("sh", &refs, dir.path(), limits(5000)), Err(SandboxError::TooMuchOutput { .. })));
    }
}
