//! Measure throughput, latency and memory on a generated corpus, next to sha256sum
//! and clamdscan on the same files.

use std::path::PathBuf;
use std::process::ExitCode;

use caregate::Config;

use super::init_tracing;

#[derive(clap::Args)]
pub struct Args {
    /// Files in the small-file corpus (10 KB to 1 MB each).
    #[arg(long, default_value_t = 2000)]
    pub files: usize,
    /// Size of the one large file, in MiB (0: none).
    #[arg(long, default_value_t = 1024)]
    pub big_mib: u64,
    /// Back ends to measure (the full stack reads its settings from the configuration).
    #[arg(long = "stack", value_enum, default_values_t = [caregate::bench::BenchStack::Embedded, caregate::bench::BenchStack::Full])]
    pub stacks: Vec<caregate::bench::BenchStack>,
    #[arg(long, default_value = "bench-out")]
    pub out: PathBuf,
    /// Uploads in flight at once.
    #[arg(long, default_value_t = 16)]
    pub upload_concurrency: usize,
    /// Measure archiving instead: signature validation on the PDFs of DIR (made by
    /// scripts/make-signed-pdfs.py), next to pyhanko, and a 40-file dossier exported as
    /// SEDA and as a bag (embedded stack).
    #[arg(long, value_name = "DIR")]
    pub archives: Option<PathBuf>,
}

pub async fn run(config: Config, args: Args) -> anyhow::Result<ExitCode> {
    let Args { files, big_mib, stacks, out, upload_concurrency, archives } = args;
    init_tracing("warn");
    if let Some(signed) = archives {
        let report = caregate::bench::archives(config, &signed, &out).await?;
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    let opts = caregate::bench::BenchOptions { files, big_mib, stacks, out, upload_concurrency };
    let report = caregate::bench::run(config, opts).await?;
    println!("{}", caregate::bench::markdown(&report));
    Ok(ExitCode::SUCCESS)
}
