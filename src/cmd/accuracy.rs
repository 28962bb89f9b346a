//! Kind, status and key fields of every file in samples/ (or DIR) against its
//! truth file (samples.expected.json), and PDF text speed and word recall next to pdftotext.

use std::path::PathBuf;
use std::process::ExitCode;

use caregate::Config;

use super::init_tracing;

#[derive(clap::Args)]
pub struct Args {
    pub dir: Option<PathBuf>,
    /// Times each PDF is read for the speed comparison (0: skip it).
    #[arg(long, default_value_t = 20)]
    pub pdf_runs: usize,
}

pub async fn run(config: Config, args: Args) -> anyhow::Result<ExitCode> {
    let Args { dir, pdf_runs } = args;
    init_tracing("warn");
    let dir = dir.unwrap_or_else(|| PathBuf::from("samples"));
    let rows = caregate::accuracy::run(&dir, &config.reader()?)?;
    println!("{}", caregate::accuracy::markdown(&rows));
    if pdf_runs > 0 {
        println!("{}", caregate::accuracy::pdf_text_bench(&dir, pdf_runs)?);
    }
    Ok(if rows.iter().all(|r| r.all_right()) { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
