//! A submission's verdict per objective, with reasons and evidence.

use std::process::ExitCode;

use caregate::{App, Config};
use caregate_schemas::SubmissionId;

use super::init_tracing;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    pub submission: SubmissionId,
    /// The verification as JSON.
    #[arg(long, conflicts_with = "html")]
    pub json: bool,
    /// The French HTML report.
    #[arg(long)]
    pub html: bool,
}

pub async fn run(config: Config, args: Args) -> anyhow::Result<ExitCode> {
    let Args { submission, json, html } = args;
    init_tracing("warn");
    let app = App::open(config).await?;
    let Some(v) = app.backends.index.verification(submission).await? else {
        anyhow::bail!("submission {submission} has no verification (unknown, or no referential for its campaign)");
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else if html {
        println!("{}", caregate_verify::report::html(&v, |id| format!("/api/evidence/{id}")));
    } else {
        print!("{}", caregate_verify::report::text(&v));
    }
    Ok(ExitCode::from(match v.verdict {
        caregate_schemas::Verdict::Met => 0,
        _ => 1,
    }))
}
