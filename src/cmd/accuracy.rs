//! Kind, status and key fields of every file in samples/ (or DIR) against its truth file
//! (samples.expected.json); or, with `--corpus DIR --truth FILE`, every file a truth file
//! in the shape of `../shared/real-samples/truth.json` names, per folder and field, then
//! per producer family and per source, worst first. Then PDF text speed and word recall
//! next to pdftotext on the same PDFs. With `--dossiers DIR`, whole dossiers sent end to
//! end (embedded back ends) and each objective's verdict compared with a controller's.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use caregate::Config;

use super::init_tracing;

#[derive(clap::Args)]
pub struct Args {
    /// A corpus with a samples-style truth file beside it (`DIR.expected.json`).
    #[arg(conflicts_with_all = ["corpus", "dossiers"])]
    pub dir: Option<PathBuf>,
    /// A corpus scored field by field against `--truth` (default: DIR/truth.json).
    #[arg(long)]
    pub corpus: Option<PathBuf>,
    #[arg(long, requires = "corpus")]
    pub truth: Option<PathBuf>,
    /// Times each PDF is read for the speed comparison (0: skip it).
    #[arg(long, default_value_t = 20)]
    pub pdf_runs: usize,
    /// Whole dossiers (folders with an `expected.json`, as scripts/make-dossiers.py
    /// writes them), sent end to end with the embedded back ends and judged; per
    /// objective the controller's verdict against caregate's.
    #[arg(long, conflicts_with = "corpus")]
    pub dossiers: Option<PathBuf>,
    /// With --dossiers: the score as JSON instead of Markdown tables.
    #[arg(long, requires = "dossiers")]
    pub json: bool,
    /// With --dossiers: give up on a dossier not judged after this many seconds.
    #[arg(long, default_value_t = 900, requires = "dossiers")]
    pub wait_secs: u64,
    /// With --dossiers: do not give the establishments' own SIRETs at upload (to measure
    /// what reading does without them).
    #[arg(long, requires = "dossiers")]
    pub without_establishment_ids: bool,
}

pub async fn run(config: Config, args: Args) -> anyhow::Result<ExitCode> {
    let Args { dir, corpus, truth, pdf_runs, dossiers, json, wait_secs, without_establishment_ids } = args;
    init_tracing("warn");
    if let Some(dir) = dossiers {
        return run_dossiers(config, &dir, json, Duration::from_secs(wait_secs), !without_establishment_ids).await;
    }
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

/// In a fresh embedded data directory (`<data_dir>/accuracy-dossiers`, cleared first, as
/// `caregate demo` does), so that the dossiers meet only each other. Signatures are
/// validated against the corpus's own authority (`DIR/pki/root.pem`, the throw-away PKI
/// the generator signs with) when the configuration names none.
async fn run_dossiers(config: Config, dir: &std::path::Path, json: bool, wait: Duration, give_identifiers: bool) -> anyhow::Result<ExitCode> {
    let mut config = config.embedded();
    let data_dir = config.backends.data_dir.join("accuracy-dossiers");
    if data_dir.exists() {
        std::fs::remove_dir_all(&data_dir).with_context(|| format!("clearing {}", data_dir.display()))?;
    }
    config.backends.data_dir = data_dir;
    let corpus_authority = dir.join("pki/root.pem");
    let mut trusted = None;
    if config.signatures.trust_anchors.is_empty() && corpus_authority.is_file() {
        config.signatures.trust_anchors = vec![corpus_authority.clone()];
        trusted = Some(corpus_authority);
    }
    let app = caregate::App::open(config).await?;
    app.clamd.ping().await.with_context(|| format!("clamd does not answer at {}; start it with `scripts/services.sh clamd`", app.config.clamd.address))?;
    let score = caregate::accuracy::dossiers::run(&app, dir, wait, give_identifiers).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&score)?);
    } else {
        if let Some(root) = trusted {
            println!("Signatures validated against {} (the corpus's authority).\n", root.display());
        }
        println!("{}", score.markdown());
    }
    let all = score.counts(None);
    Ok(if all.right == all.total { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
