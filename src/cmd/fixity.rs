//! Re-read every stored object and check it against its record (SHA-256 and size);
//! damaged or missing objects are listed and written into their history.

use std::process::ExitCode;

use caregate::{App, Config};
use caregate_archive::Stores;

use super::init_tracing;

#[derive(clap::Args)]
pub struct Args {
    /// Every stored object (the default).
    #[arg(long, conflicts_with = "since")]
    pub all: bool,
    /// Only files received on or after this date (YYYY-MM-DD).
    #[arg(long)]
    pub since: Option<chrono::NaiveDate>,
    /// One JSON line per object instead of only the problems.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(config: Config, args: Args) -> anyhow::Result<ExitCode> {
    let Args { all: _, since, json } = args;
    init_tracing("warn");
    let app = App::open(config).await?;
    let since = since.map(|d| d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc());
    let report = caregate_archive::fixity::run(Stores::of(&app.backends), since, |rec, fixity| {
        if json {
            println!("{}", serde_json::json!({"evidence_id": rec.evidence_id, "path": rec.path, "sha256": rec.sha256, "fixity": fixity}));
        } else if *fixity != caregate_archive::fixity::Fixity::Intact {
            println!("{}  {}  {:?}", rec.evidence_id, rec.path, fixity);
        }
    })
    .await?;
    eprintln!("{}", report.summary());
    Ok(if report.problems.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
