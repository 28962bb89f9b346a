//! Scan kept files again now, whatever signatures they were scanned with (after adding
//! signatures clamd's version number does not show, or to check a period again).

use std::process::ExitCode;

use caregate::{App, Config};
use caregate_schemas::ScanResult;

use super::{ctrl_c_token, init_tracing};

#[derive(clap::Args)]
pub struct Args {
    /// Only files received on or after this date (YYYY-MM-DD); every kept file otherwise.
    #[arg(long)]
    pub since: Option<chrono::NaiveDate>,
}

pub async fn run(config: Config, args: Args) -> anyhow::Result<ExitCode> {
    init_tracing("warn");
    let app = App::open(config).await?;
    // Announcements of dossiers judged again go through the outbox.
    let shutdown = ctrl_c_token();
    let relay = app.spawn_relay(shutdown.clone());
    let since = args.since.map(|d| d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc());
    let summary = app
        .rescanner()?
        .pass(true, since, &shutdown, |rec, result| {
            if result == ScanResult::Infected {
                println!("infecté  {}  {}  (dossier {})", rec.evidence_id, rec.path, rec.submission.submission_id);
            }
        })
        .await?;
    eprintln!("{summary}");
    // What the relay could not send yet stays in the outbox for serve's and the workers'.
    app.backends.outbox.relay_once().await.ok();
    shutdown.cancel();
    relay.await.ok();
    Ok(if summary.infected > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
