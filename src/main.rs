//! The `caregate` command line: the commands people type, each one call into its file
//! under `cmd/` (one per command), which does the work with the library's wiring.

mod cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use caregate::Config;
use clap::{Parser, Subcommand};
use cmd::*;

#[derive(Parser)]
#[command(name = "caregate", version, about = "Intake, scanning, checking and archiving of CaRE programme evidence")]
struct Cli {
    /// Configuration file (TOML); default `caregate.toml` if present, or $CAREGATE_CONFIG.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// HTTP API for uploads and status queries (with the embedded queue, also runs the worker).
    Serve,
    /// Consume jobs from the queue and run the pipeline, until Ctrl-C.
    Worker,
    /// Upload files and folders for one submission, then print each file's outcome.
    Submit(submit::Args),
    /// The whole pipeline in one process on samples/ (or DIR), embedded back ends.
    Demo(demo::Args),
    /// Queue a job again for every file still waiting (after a crash or a failed publish).
    Requeue,
    /// Scan kept files again now (newer signatures), oldest first; a file found infected
    /// goes back to quarantine and its dossier is judged again. Exit 1 if any was.
    Rescan(rescan::Args),
    /// Read by OCR now every stored scan still waiting for it, and judge their dossiers
    /// again (workers do it in their OCR pool unless `worker.ocr_poll_secs` is 0).
    Ocr,
    /// Judge submissions again from their stored records (no rescan, no parsing), e.g.
    /// after the referential changed.
    Reverify(reverify::Args),
    /// A submission's verdict per objective, with reasons and evidence.
    Report(report::Args),
    /// Re-read every stored object and check it against its record (SHA-256 and size);
    /// damaged or missing objects are listed and written into their history.
    Fixity(fixity::Args),
    /// Make a new Ed25519 key for signing export packages; prints its public key.
    Keygen(keygen::Args),
    /// Write a submission as a signed BagIt bag (RFC 8493, default) or a SEDA 2.3
    /// transfer for public archives: files, records, verdicts and history; every file
    /// re-hashed on the way out.
    Export(export::Args),
    /// Check a bag offline: every hash, the payload against its manifest, and the
    /// signature; says exactly what is wrong.
    VerifyBag(verify_bag::Args),
    /// Check a SEDA transfer offline: schemas, every digest and size, content against
    /// the manifest, the signature; says exactly what is wrong.
    VerifyTransfer(verify_transfer::Args),
    /// Validate a submission's PDF signatures again with today's trust anchors; the
    /// result goes into each file's history and the dossier is judged again.
    Signatures(signatures::Args),
    /// Local accounts and their API tokens.
    Account(account::Args),
    /// The audit log (every evidence's history, hash-chained).
    Audit(audit::Args),
    /// Print the JSON Schema of the per-file record (or of the verification).
    Schema(schema::Args),
    /// Read files as the worker does (no scan, no storage) and print what was found.
    Read(read::Args),
    /// Kind, status and key fields of every file in samples/ (or DIR) against its
    /// truth file (samples.expected.json), and PDF text speed and word recall next to pdftotext.
    Accuracy(accuracy::Args),
    /// Measure throughput, latency and memory on a generated corpus, next to sha256sum
    /// and clamdscan on the same files.
    Bench(bench::Args),
    /// Read one file and print its analysis as JSON: what a worker runs in a child
    /// process per file, under limits. Not for people.
    #[command(hide = true)]
    ReadChild(read_child::Args),
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = Config::load(cli.config.as_deref())?;
    match cli.command {
        Command::Serve => serve::run(config).await,
        Command::Worker => worker::run(config).await,
        Command::Submit(args) => submit::run(config, args).await,
        Command::Demo(args) => demo::run(config, args).await,
        Command::Requeue => requeue::run(config).await,
        Command::Rescan(args) => rescan::run(config, args).await,
        Command::Ocr => ocr::run(config).await,
        Command::Reverify(args) => reverify::run(config, args).await,
        Command::Report(args) => report::run(config, args).await,
        Command::Fixity(args) => fixity::run(config, args).await,
        Command::Keygen(args) => keygen::run(config, args).await,
        Command::Export(args) => export::run(config, args).await,
        Command::VerifyBag(args) => verify_bag::run(config, args).await,
        Command::VerifyTransfer(args) => verify_transfer::run(config, args).await,
        Command::Signatures(args) => signatures::run(config, args).await,
        Command::Account(args) => account::run(config, args).await,
        Command::Audit(args) => audit::run(config, args).await,
        Command::Schema(args) => schema::run(config, args).await,
        Command::Read(args) => read::run(config, args).await,
        Command::Accuracy(args) => accuracy::run(config, args).await,
        Command::Bench(args) => bench::run(config, args).await,
        Command::ReadChild(_) => unreachable!("answered before any runtime or configuration"),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A child reading one file: no configuration, no runtime, no logs, started per file.
    if let Command::ReadChild(args) = cli.command {
        return read_child::run(args);
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
