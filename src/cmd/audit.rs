//! The audit log (every evidence's history, hash-chained).

use std::process::ExitCode;

use caregate::{App, Config};
use clap::Subcommand;

use super::init_tracing;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: AuditCommand,
}

pub async fn run(config: Config, args: Args) -> anyhow::Result<ExitCode> {
    let Args { command: AuditCommand::Verify } = args;
    init_tracing("warn");
    let app = App::open(config).await?;
    let report = app.backends.index.check_chain().await?;
    for p in &report.problems {
        println!("{p}");
    }
    println!(
        "{} events checked{}: {}",
        report.events,
        if report.unchained > 0 { format!(" ({} older events carry no hash)", report.unchained) } else { String::new() },
        if report.problems.is_empty() { "the chain is intact" } else { "the history was altered" }
    );
    Ok(if report.problems.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Recompute the hash chain of every event; names each changed or removed event.
    Verify,
}
