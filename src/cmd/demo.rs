//! The whole pipeline in one process on samples/ (or DIR), embedded back ends.

use std::path::PathBuf;
use std::process::ExitCode;

use caregate::{demo, Config};

use super::{init_tracing, print_records};

#[derive(clap::Args)]
pub struct Args {
    pub dir: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
    /// Also submit the EICAR test string (built in memory), to see an infected file.
    #[arg(long)]
    pub eicar: bool,
}

pub async fn run(config: Config, args: Args) -> anyhow::Result<ExitCode> {
    let Args { dir, json, eicar } = args;
    init_tracing("warn");
    let dir = dir.unwrap_or_else(|| PathBuf::from("samples"));
    let outcome = demo::run(config, dir.clone(), eicar, json).await?;
    print_records(&outcome.records, json)?;
    if !json {
        println!("\n{}", caregate_verify::report::text(&outcome.verification));
        let bytes: u64 = outcome.records.iter().map(|r| r.size).sum();
        println!(
            "processed {} files ({} bytes) from {} in {:.2} s; data kept in {}",
            outcome.records.len(),
            bytes,
            dir.display(),
            outcome.elapsed.as_secs_f64(),
            outcome.data_dir.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
