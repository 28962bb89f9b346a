//! Read files as the worker does (no scan, no storage) and print what was found.

use std::path::PathBuf;
use std::process::ExitCode;

use caregate::Config;

use super::init_tracing;

#[derive(clap::Args)]
pub struct Args {
    /// Print the extracted text (as the worker keeps it: a PDF's in reading order)
    /// instead of the record fields.
    #[arg(long)]
    pub text: bool,
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
}

pub async fn run(config: Config, args: Args) -> anyhow::Result<ExitCode> {
    let Args { text, paths } = args;
    init_tracing("warn");
    let reader = config.inline_reader()?;
    for path in paths {
        let name = path.to_string_lossy().into_owned();
        let (identity, a) = reader.read_file(&path, &name)?;
        if text {
            println!("{}", a.text);
            continue;
        }
        let out = serde_json::json!({
            "path": name, "media_type": identity.media_type, "format": a.format,
            "kind": a.classification.kind, "confidence": a.classification.confidence,
            "reasons": a.classification.reasons, "findings": identity.findings.iter().chain(&a.findings).collect::<Vec<_>>(),
            "fields": a.fields,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    }
    Ok(ExitCode::SUCCESS)
}
