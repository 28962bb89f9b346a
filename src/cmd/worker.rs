//! Consume jobs from the queue and run the pipeline, until Ctrl-C.

use std::process::ExitCode;
use std::time::Duration;

use caregate::{App, Config};

use super::{ctrl_c_token, init_tracing, run_worker_until_stopped};

pub async fn run(config: Config) -> anyhow::Result<ExitCode> {
    init_tracing("info");
    let app = App::open(config).await?;
    let shutdown = ctrl_c_token();
    app.sweep_orphans().await?;
    if app.backends.in_process_queue {
        // No broker: nothing can reach this process's queue but the records left
        // unfinished by an earlier run, which it finishes before it stops.
        tracing::info!("no broker configured: processing unfinished evidence, then stopping");
        let counts = app.backends.index.count_by_status().await?;
        let pending = counts.iter().find(|(s, _)| *s == caregate_schemas::Status::Received).map_or(0, |(_, n)| *n);
        let handle = app.spawn_worker(shutdown.clone()).await?;
        let start = std::time::Instant::now();
        while !app.backends.index.unfinished(1).await?.is_empty() && !shutdown.is_cancelled() {
            if start.elapsed() > Duration::from_secs(24 * 3600) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        tracing::info!(pending, "done");
        shutdown.cancel();
        handle.await.ok();
    } else {
        let relay = app.spawn_relay(shutdown.clone());
        run_worker_until_stopped(app, shutdown).await;
        relay.await.ok();
    }
    Ok(ExitCode::SUCCESS)
}
