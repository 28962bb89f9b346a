//! Consume jobs from the queue and run the pipeline, until Ctrl-C.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use caregate::{App, Config};

use super::{ctrl_c_token, init_tracing, run_worker_until_stopped};

pub async fn run(config: Config) -> anyhow::Result<ExitCode> {
    init_tracing("info");
    let metrics = caregate::telemetry::install_metrics();
    let app = App::open(config).await?;
    let shutdown = ctrl_c_token();
    if let (Some(address), Some(handle)) = (app.config.worker.metrics_listen, metrics) {
        serve_metrics(&app, address, handle, shutdown.clone()).await?;
    }
    app.sweep_orphans().await?;
    if app.backends.in_process_queue {
        // No broker: nothing can reach this process's queue but the records left
        // unfinished by an earlier run, which it finishes before it stops.
        tracing::info!("no broker configured: processing unfinished evidence, then stopping");
        let counts = app.backends.index.count_by_status().await?;
        let pending = counts.iter().find(|(s, _)| *s == caregate_schemas::Status::Received).map_or(0, |(_, n)| *n);
        let handle = app.spawn_worker(shutdown.clone()).await?;
        let start = std::time::Instant::now();
        // Unfinished records, and scans stored but not yet read by the OCR pool.
        let ocr = app.config.worker.ocr_threads > 0 && app.config.worker.ocr_poll_secs > 0;
        while (!app.backends.index.unfinished(1).await?.is_empty()
            || ocr && !app.backends.index.with_finding(caregate_schemas::FindingCode::OcrPending, 1).await?.is_empty())
            && !shutdown.is_cancelled()
        {
            if start.elapsed() > Duration::from_secs(24 * 3600) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        tracing::info!(pending, "done");
        shutdown.cancel();
        handle.await.ok();
    } else {
        let background = app.spawn_background(shutdown.clone())?;
        run_worker_until_stopped(app, shutdown).await;
        background.join().await;
    }
    Ok(ExitCode::SUCCESS)
}

/// `GET /metrics` on its own listener: a worker serves nothing else.
async fn serve_metrics(
    app: &App,
    address: std::net::SocketAddr,
    handle: metrics_exporter_prometheus::PrometheusHandle,
    shutdown: tokio_util::sync::CancellationToken,
) -> anyhow::Result<()> {
    let scrape = caregate::telemetry::scrape(app, handle);
    let router = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let scrape = scrape.clone();
            async move { ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], (scrape.render)().await) }
        }),
    );
    let listener = tokio::net::TcpListener::bind(address).await.with_context(|| format!("binding {address} for metrics"))?;
    tracing::info!("metrics on http://{}/metrics", listener.local_addr()?);
    tokio::spawn(async move {
        if let Err(e) = caregate_ingest::serve(listener, router, &caregate_ingest::ServeConfig::default(), shutdown).await {
            tracing::warn!(error = %e, "the metrics listener stopped");
        }
    });
    Ok(())
}
