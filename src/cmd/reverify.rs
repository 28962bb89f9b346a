//! Judge submissions again from their stored records (no rescan, no parsing), e.g.
//! after the referential changed.

use std::process::ExitCode;

use caregate::{App, Config};
use caregate_schemas::SubmissionId;

use super::init_tracing;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, required_unless_present = "all", conflicts_with = "all")]
    pub submission: Option<SubmissionId>,
    /// Every submission in the index.
    #[arg(long)]
    pub all: bool,
}

pub async fn run(config: Config, args: Args) -> anyhow::Result<ExitCode> {
    let Args { submission, all } = args;
    init_tracing("warn");
    let app = App::open(config).await?;
    let ids = match submission {
        Some(id) if !all => vec![id],
        _ => app.backends.index.submission_ids().await?,
    };
    let summary = caregate::reverify(&app, &ids, |id, outcome| println!("{id}  {outcome}")).await?;
    println!("{summary}");
    Ok(ExitCode::SUCCESS)
}
