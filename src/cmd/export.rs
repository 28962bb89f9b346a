//! Write a submission as an archive package: a signed BagIt bag (RFC 8493, the
//! default) or a SEDA 2.3 transfer for public archives; every file re-hashed on the
//! way out.

use std::path::PathBuf;
use std::process::ExitCode;

use caregate::{App, Config};
use caregate_archive::Stores;
use caregate_schemas::SubmissionId;

use super::init_tracing;

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Format {
    /// BagIt bag: files and JSON records, tag manifest signed.
    Bag,
    /// SEDA 2.3 ArchiveTransfer (manifest.xml + content/), manifest signed.
    Seda,
}

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    pub submission: SubmissionId,
    #[arg(long, value_enum, default_value = "bag")]
    pub format: Format,
    /// Signing key file (default: `archive.signing_key` of the configuration).
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// Directory to create.
    pub out: PathBuf,
}

pub async fn run(config: Config, args: Args) -> anyhow::Result<ExitCode> {
    let Args { submission, format, key, out } = args;
    init_tracing("warn");
    let key_file = key
        .or_else(|| config.archive.signing_key.clone())
        .ok_or_else(|| anyhow::anyhow!("no signing key: pass --key FILE or set archive.signing_key (make one with `caregate keygen FILE`)"))?;
    let key = caregate_archive::signing::load_signing_key(&key_file)?;
    let (seda, retention_days) = (config.archive.seda.clone(), config.worker.retention_days);
    let app = App::open(config).await?;
    // Each export is checked as verify-bag / verify-transfer would check it before it is
    // moved into place; one that fails its check is an error here, and leaves nothing.
    let (files, bytes, not_packaged, renamed, schemas_unchecked) = match format {
        Format::Bag => {
            let done = caregate_archive::bag::export(Stores::of(&app.backends), submission, &out, &key).await?;
            (done.files, done.bytes, done.not_packaged, done.renamed, None)
        }
        Format::Seda => {
            let done = caregate_archive::seda::export(Stores::of(&app.backends), &seda, retention_days, submission, &out, &key).await?;
            (done.files, done.bytes, done.not_packaged, Vec::new(), done.schemas_unchecked)
        }
    };
    println!("{}: {files} files, {bytes} bytes of payload, checked", out.display());
    for p in &not_packaged {
        println!("  not packaged (kept in quarantine): {p}");
    }
    for (path, payload) in &renamed {
        println!("  renamed (its name is shared or not clean): {path:?} -> data/files/{payload}");
    }
    if let Some(why) = schemas_unchecked {
        println!("  SEDA schemas not checked: {why}");
    }
    Ok(ExitCode::SUCCESS)
}
