//! Check a SEDA transfer offline: the manifest against the SEDA 2.3 schemas, every
//! file against its digest and size, `content/` against the manifest both ways, and the
//! manifest's signature; says exactly what is wrong, in French.

use std::path::PathBuf;
use std::process::ExitCode;

use caregate::Config;
use caregate_archive::seda::{self, SchemaError};

#[derive(clap::Args)]
pub struct Args {
    pub dir: PathBuf,
    /// The archive's public key (64 hex digits); without it the key the manifest names
    /// is used, which proves integrity since export but not origin.
    #[arg(long)]
    pub public_key: Option<String>,
    /// Directory of the SEDA 2.3 schemas (default: `CAREGATE_SEDA_SCHEMAS`, else
    /// ../shared/reference/seda-2.3).
    #[arg(long)]
    pub schemas: Option<PathBuf>,
}

pub async fn run(_config: Config, args: Args) -> anyhow::Result<ExitCode> {
    let Args { dir, public_key, schemas } = args;
    let trusted = public_key.as_deref().map(caregate_archive::signing::parse_public_key).transpose()?;
    let schemas = schemas.unwrap_or_else(seda::schemas_dir);
    // Say when the schema could not be checked at all, rather than pass in silence.
    let schema_checked = match seda::validate_schema(&dir.join(seda::MANIFEST), &schemas) {
        Err(SchemaError::Unavailable(why)) => {
            println!("schémas non vérifiés : {why}");
            false
        }
        _ => true,
    };
    let (problems, key) = seda::check(&dir, trusted.as_ref(), schema_checked.then_some(schemas.as_path()));
    for p in &problems {
        println!("{p}");
    }
    if !problems.is_empty() {
        return Ok(ExitCode::from(1));
    }
    let schema = if schema_checked { "conforme aux schémas SEDA 2.3, " } else { "" };
    match key {
        Some(caregate_archive::signing::KeyUsed::Given(k)) => println!("transfert valide ({schema}fichiers intacts) ; signé par la clé donnée {k}"),
        Some(caregate_archive::signing::KeyUsed::FromBag(k)) => {
            println!("transfert valide ({schema}fichiers intacts) ; signé par {k}, la clé que nomme le bordereau (--public-key pour en vérifier l'origine)")
        }
        None => {}
    }
    Ok(ExitCode::SUCCESS)
}
