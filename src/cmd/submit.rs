//! Upload files and folders for one submission, then print each file's outcome.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use caregate::{report, submit, App, Config};
use caregate_schemas::{EstablishmentIdentifiers, SubmissionId, SubmissionRef};

use super::{init_tracing, print_records};

#[derive(clap::Args)]
pub struct Args {
    /// FINESS number of the establishment.
    #[arg(long)]
    pub establishment: String,
    #[arg(long, default_value = "care-d1-2024")]
    pub campaign: String,
    /// Objective the files claim to prove (repeatable).
    #[arg(long = "objective")]
    pub objectives: Vec<String>,
    /// Funding category of the establishment (ght, public, ebnl, private): sets its ceiling.
    #[arg(long)]
    pub category: Option<String>,
    /// The establishment's own SIRET (repeatable): it is the buyer of its invoices, so this
    /// number is never taken as a seller's.
    #[arg(long = "establishment-siret")]
    pub sirets: Vec<String>,
    /// The establishment's own SIREN (repeatable).
    #[arg(long = "establishment-siren")]
    pub sirens: Vec<String>,
    /// Add to an existing submission instead of starting a new one.
    #[arg(long)]
    pub submission: Option<SubmissionId>,
    /// Send through a running `caregate serve` instead of the configured back ends.
    #[arg(long)]
    pub server: Option<String>,
    /// API token of a submitter account, for --server.
    #[arg(long, env = "CAREGATE_TOKEN", hide_env_values = true, requires = "server")]
    pub token: Option<String>,
    /// One JSON record per file (JSON Lines) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Give up waiting for outcomes after this many seconds.
    #[arg(long, default_value_t = 3600)]
    pub wait_secs: u64,
    /// With --server: keep retrying a file on 429, 502-504 or a lost connection for up to
    /// this many seconds in all, then stop (exit 3) and say how to resume.
    #[arg(long, default_value_t = 900)]
    pub retry_secs: u64,
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
}

pub async fn run(config: Config, args: Args) -> anyhow::Result<ExitCode> {
    let Args { establishment, campaign, objectives, category, sirets, sirens, submission, server, token, json, wait_secs, retry_secs, paths } = args;
    init_tracing("warn");
    let files = submit::collect_files(&paths)?;
    let sub = SubmissionRef { submission_id: submission.unwrap_or_default(), establishment, campaign, objectives, category };
    caregate_ingest::validate_submission(&sub)?;
    let own = EstablishmentIdentifiers::checked(&sub.establishment, &sirens, &sirets)?;
    let wait = Duration::from_secs(wait_secs);
    let records = match server {
        Some(url) => {
            let token = token.context("--server needs an API token (--token or CAREGATE_TOKEN)")?;
            match submit::submit_http(&url, &token, &sub, &own, &files, json, wait, Duration::from_secs(retry_secs)).await {
                Ok(records) => records,
                Err(e) if e.is::<submit::GaveUp>() => {
                    eprintln!("error: {e}");
                    return Ok(ExitCode::from(3));
                }
                Err(e) => return Err(e),
            }
        }
        None => {
            let app = App::open(config).await?;
            submit::add_identifiers(&app, &own).await?;
            submit::submit_direct(&app, &sub, &files, vec![], json, wait).await?
        }
    };
    if !json {
        println!("submission {}", sub.submission_id);
    }
    print_records(&records, json)?;
    Ok(if report::all_stored(&records) { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
