//! The read stage (reading and classifying, with `caregate-extract`): runs [`caregate_extract::analyse`] off the async runtime, on its own
//! thread with a large stack, behind `catch_unwind` and a timeout. Whatever a parser does
//! with a hostile file (panic, run long), the job gets an [`Analysis`] with a finding and
//! the worker goes on.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use caregate_extract::{analyse, Analysis, Kind, Limits};
use caregate_schemas::{Finding, Severity};
use tokio::sync::{oneshot, Semaphore};

use crate::identify::Identity;
use crate::stage::{Stage, Stop};

/// Parsers recurse (lopdf on nested objects, calamine, zip); a deep file gets a deep
/// stack rather than a crash. Only touched pages are committed, so this costs address
/// space, not memory.
const PARSER_STACK: usize = 256 * 1024 * 1024;

pub struct ReadInput {
    pub working_copy: PathBuf,
    pub name: String,
    pub identity: Identity,
}

pub struct ReadStage {
    limits: Limits,
    slots: Arc<Semaphore>,
}

impl ReadStage {
    pub fn new(limits: Limits, threads: usize) -> Self {
        Self { limits, slots: Arc::new(Semaphore::new(threads)) }
    }
}

fn failed(code: &str, message: String) -> Analysis {
    Analysis::unread("unknown", Kind::Other, Finding::new(code, Severity::Warning, message))
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
        let limits = self.limits.clone();
        let (tx, rx) = oneshot::channel();
        let spawned = std::thread::Builder::new().name("extract".into()).stack_size(PARSER_STACK).spawn(move || {
            let source = input.identity.source(&input.working_copy, &input.name);
            let result = catch_unwind(AssertUnwindSafe(|| analyse(&source, &limits)));
            // The slot is released when the parser is really done, even after a timeout.
            drop(permit);
            let _ = tx.send(result);
        });
        if let Err(e) = spawned {
            return Err(Stop::Retry(format!("extract: cannot start a parser thread: {e}")));
        }
        // The parsers check the budget themselves; this catches one stuck inside a library.
        let grace = Duration::from_secs(self.limits.time_budget_secs + 15);
        match tokio::time::timeout(grace, rx).await {
            Ok(Ok(Ok(analysis))) => Ok(analysis),
            Ok(Ok(Err(panic))) => {
                let msg = crate::stage::panic_message(&*panic);
                tracing::warn!(error = %msg, "a parser crashed on this file");
                Ok(failed("unreadable", format!("the parser crashed on this file: {msg}")))
            }
            Ok(Err(_)) => Ok(failed("unreadable", "the parser thread ended without an answer".into())),
            Err(_) => Ok(failed("time_budget", format!("reading took longer than {} s; stored unread", grace.as_secs()))),
        }
    }
}
