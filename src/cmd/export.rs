//! Write a submission as a signed BagIt bag (RFC 8493): files, records, verdicts and
//! history; every file re-hashed on the way out.

use std::path::PathBuf;
use std::process::ExitCode;

use caregate::{App, Config};
use caregate_schemas::SubmissionId;

use super::init_tracing;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    pub submission: SubmissionId,
    /// Signing key file (default: `archive.signing_key` of the configuration).
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// Directory to create.
    pub out: PathBuf,
}

pub async fn run(config: Config, args: Args) -> anyhow::Result<ExitCode> {
    let Args { submission, key, out } = args;
    init_tracing("warn");
    let key_file = key
        .or_else(|| config.archive.signing_key.clone())
        .ok_or_else(|| anyhow::anyhow!("no signing key: pass --key FILE or set archive.signing_key (make one with `caregate keygen FILE`)"))?;
    let key = caregate::bag::load_signing_key(&key_file)?;
    let app = App::open(config).await?;
    let done = caregate::bag::export(&app, submission, &out, &key).await?;
    println!("{}: {} files, {} bytes of payload", out.display(), done.files, done.bytes);
    for p in &done.not_packaged {
        println!("  not packaged (kept in quarantine): {p}");
    }
    Ok(ExitCode::SUCCESS)
}
