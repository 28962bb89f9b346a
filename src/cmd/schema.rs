//! Print the JSON Schema of the per-file record (or of the verification).

use std::process::ExitCode;

use caregate::Config;

#[derive(clap::Args)]
pub struct Args {
    /// The verification's schema (the body of `submission.verified`).
    #[arg(long)]
    pub verification: bool,
}

pub async fn run(_config: Config, args: Args) -> anyhow::Result<ExitCode> {
    let Args { verification } = args;
    let schema = if verification { caregate_schemas::verification_json_schema() } else { caregate_schemas::evidence_record_json_schema() };
    println!("{}", serde_json::to_string_pretty(&schema)?);
    Ok(ExitCode::SUCCESS)
}
