//! Kind, status and key fields of every file in samples/ (or DIR) against its truth file
//! (samples.expected.json); or, with `--corpus DIR --truth FILE`, every file a truth file
//! in the shape of `../shared/real-samples/truth.json` names, per folder and field, then
//! per producer family and per source, worst first. Then PDF text speed and word recall
//! next to pdftotext on the same PDFs.

use std::path::PathBuf;
use std::process::ExitCode;

use caregate::Config;

use super::init_tracing;

#[derive(clap::Args)]
pub struct Args {
    /// A corpus with a samples-style truth file beside it (`DIR.expected.json`).
    #[arg(conflicts_with = "corpus")]
    pub dir: Option<PathBuf>,
    /// A corpus scored field by field against `--truth` (default: DIR/truth.json).
    #[arg(long)]
    pub corpus: Option<PathBuf>,
    #[arg(long, requires = "corpus")]
    pub truth: Option<PathBuf>,
    /// Times each PDF is read for the speed comparison (0: skip it).
    #[arg(long, default_value_t = 20)]
    pub pdf_runs: usize,
}

pub async fn run(config: Config, args: Args) -> anyhow::Result<ExitCode> {
    let Args { dir, corpus, truth, pdf_runs } = args;
    init_tracing("warn");
    let reader = config.inline_reader()?;
    let (dir, all_right) = match corpus {
        Some(corpus) => {
            let truth = caregate::accuracy::load_truth(&truth.unwrap_or_else(|| corpus.join("truth.json")))?;
            let score = caregate::accuracy::score_truth(&corpus, &truth, &reader)?;
            println!("{}", score.markdown());
            if !score.misses.is_empty() {
                println!("Wrong:\n\n- {}\n", score.misses.join("\n- "));
            }
            let ok = score.misses.is_empty();
            (corpus, ok)
        }
        None => {
            let dir = dir.unwrap_or_else(|| PathBuf::from("samples"));
            let rows = caregate::accuracy::run(&dir, &reader)?;
            println!("{}", caregate::accuracy::markdown(&rows));
            (dir, rows.iter().all(|r| r.all_right()))
        }
    };
    if pdf_runs > 0 {
        println!("{}", caregate::accuracy::pdf_text_bench(&dir, pdf_runs, &reader)?);
    }
    Ok(if all_right { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
