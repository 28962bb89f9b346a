//! The worker side of caregate: the pipeline stages a received file goes through (scan,
//! check its digest, identify, read and classify, expand an archive, store, keep its
//! text, index, then verify its submission against the objectives), each a [`Stage`]
//! with a named input and a `Result<Output, Stop>`, and the loop that takes jobs off the
//! queue, runs them and turns each job's [`JobOutcome`] into exactly one queue action;
//! beside it, the OCR pool that reads scans once they are stored.

pub mod clamd;
pub mod identify;
pub mod ocr;
pub mod pipeline;
pub mod read;
pub mod rescan;
pub mod stage;
pub mod verify;
pub mod worker;

pub use clamd::{Clamd, ClamdConfig, ClamdReply, ScanError, SignatureDatabase};
pub use ocr::{OcrError, OcrPool};
pub use pipeline::{JobOutcome, Pipeline};
pub use rescan::{RescanError, RescanSummary, Rescanner};
pub use stage::{Hold, Stage, StageName, Stop};
pub use verify::{Verified, Verifier, VerifyError};
pub use worker::{requeue_unfinished, sweep_orphans, Worker, WorkerConfig, WorkerError, WorkerStats};
