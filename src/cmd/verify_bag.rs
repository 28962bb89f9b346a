//! Check a bag offline: every hash, the payload against its manifest, and the
//! signature; says exactly what is wrong.

use std::path::PathBuf;
use std::process::ExitCode;

use caregate::Config;

#[derive(clap::Args)]
pub struct Args {
    pub dir: PathBuf,
    /// The archive's public key (64 hex digits); without it the key named in the bag
    /// is used, which proves integrity since export but not origin.
    #[arg(long)]
    pub public_key: Option<String>,
}

pub async fn run(_config: Config, args: Args) -> anyhow::Result<ExitCode> {
    let Args { dir, public_key } = args;
    let trusted = public_key.as_deref().map(caregate_archive::signing::parse_public_key).transpose()?;
    let (problems, key) = caregate_archive::bag::check(&dir, trusted.as_ref());
    for p in &problems {
        println!("{p}");
    }
    if problems.is_empty() {
        match key {
            Some(caregate_archive::signing::KeyUsed::Given(k)) => println!("bag valid; signed by the given key {k}"),
            Some(caregate_archive::signing::KeyUsed::FromBag(k)) => {
                println!("bag valid; signed by {k}, the key the bag names (pass --public-key to check its origin)")
            }
            None => {}
        }
        Ok(ExitCode::SUCCESS)
    } else {
        Ok(ExitCode::from(1))
    }
}
