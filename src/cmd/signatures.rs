//! Validate a submission's PDF signatures again with today's trust anchors, record the
//! result in each file's history, and judge the dossier again.

use std::process::ExitCode;

use caregate::{App, Config};
use caregate_archive::Stores;
use caregate_schemas::SubmissionId;

use super::init_tracing;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    pub submission: SubmissionId,
}

pub async fn run(config: Config, args: Args) -> anyhow::Result<ExitCode> {
    init_tracing("warn");
    let anchors = config.signatures.trust_anchors.len();
    let app = App::open(config).await?;
    let done = caregate_archive::signatures::revalidate(Stores::of(&app.backends), &app.config.reader()?, &app.verifier()?, args.submission).await?;
    let name = |i: &Option<caregate_schemas::extracted::Indication>| i.map(|i| i.label_fr()).unwrap_or("non validée");
    for r in &done {
        let before: Vec<&str> = r.before.iter().map(name).collect();
        let after: Vec<&str> = r.after.iter().map(name).collect();
        println!("{}  {} → {}", r.path, before.join(", "), after.join(", "));
    }
    println!("{} fichier(s) signé(s) validé(s) de nouveau ({anchors} source(s) d'autorités de confiance)", done.len());
    Ok(ExitCode::SUCCESS)
}
