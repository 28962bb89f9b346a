//! The worker side of caregate: the pipeline stages a received file goes through (scan,
//! verify its hash, identify, read and classify, store, index, then judge its submission
//! against the objectives) and the loop that takes jobs off the queue, runs them and
//! turns each job's outcome into exactly one queue action.

pub mod clamd;
pub mod identify;
pub mod pipeline;
pub mod read;
pub mod stage;
pub mod verify;
pub mod worker;

pub use clamd::{Clamd, ClamdConfig, ClamdReply, ScanError};
pub use pipeline::{JobOutcome, Pipeline};
pub use stage::{Hold, Stage, Stop};
pub use verify::{Verified, Verifier, VerifyError};
pub use worker::{requeue_unfinished, sweep_orphans, Worker, WorkerConfig, WorkerError, WorkerStats};
