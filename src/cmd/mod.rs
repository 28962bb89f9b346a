//! One file per command, each `run(config, args)`, and what several commands share:
//! logging, Ctrl-C, the worker's reconnect loop and how records are printed.

pub mod account;
pub mod accuracy;
pub mod audit;
pub mod bench;
pub mod demo;
pub mod export;
pub mod fixity;
pub mod keygen;
pub mod ocr;
pub mod read;
pub mod read_child;
pub mod report;
pub mod requeue;
pub mod rescan;
pub mod reverify;
pub mod schema;
pub mod serve;
pub mod signatures;
pub mod submit;
pub mod verify_bag;
pub mod verify_transfer;
pub mod worker;

use std::time::Duration;

use caregate::App;
use tokio_util::sync::CancellationToken;

pub fn init_tracing(default: &str) {
    caregate::telemetry::init_logs(default);
}

pub fn ctrl_c_token() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down: finishing jobs in flight");
        t.cancel();
    });
    token
}

/// Runs the worker; when the broker connection (or another back end) is lost, opens
/// everything again with a growing pause, instead of leaving the restart to a supervisor.
/// Jobs in flight at the loss are redelivered by the broker.
pub async fn run_worker_until_stopped(mut app: App, shutdown: CancellationToken) {
    let mut pause = Duration::from_secs(1);
    loop {
        let started = std::time::Instant::now();
        let result = match app.worker() {
            Ok(worker) => worker.run(shutdown.clone()).await.map_err(anyhow::Error::from),
            Err(e) => Err(e),
        };
        if shutdown.is_cancelled() {
            return;
        }
        match result {
            Ok(()) => tracing::warn!("the queue closed; reconnecting"),
            Err(e) => tracing::error!(error = %format!("{e:#}"), "worker stopped; reconnecting in {pause:?}"),
        }
        if started.elapsed() > Duration::from_secs(60) {
            pause = Duration::from_secs(1);
        }
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(pause) => {}
            }
            pause = (pause * 2).min(Duration::from_secs(60));
            match App::open(app.config.clone()).await {
                Ok(fresh) => {
                    app = fresh;
                    break;
                }
                Err(e) => tracing::error!(error = %format!("{e:#}"), "back ends still unavailable; next try in {pause:?}"),
            }
        }
    }
}

pub fn print_records(records: &[caregate_schemas::EvidenceRecord], json: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        caregate::report::json_lines(records, &mut out)?;
    } else {
        caregate::report::table(records, &mut out)?;
    }
    Ok(())
}
