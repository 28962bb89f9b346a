//! Make a new Ed25519 key for signing export packages; prints its public key.

use std::path::PathBuf;
use std::process::ExitCode;

use caregate::Config;

#[derive(clap::Args)]
pub struct Args {
    pub file: PathBuf,
}

pub async fn run(_config: Config, args: Args) -> anyhow::Result<ExitCode> {
    let Args { file } = args;
    let public = caregate_archive::signing::generate_signing_key(&file)?;
    println!("{}", hex::encode(public.as_bytes()));
    Ok(ExitCode::SUCCESS)
}
