//! HTTP API for uploads and status queries (with the embedded queue, also runs the worker).

use std::process::ExitCode;

use anyhow::Context;
use caregate::{App, Config};
use caregate_ingest::{ops_router, router, serve};

use super::{ctrl_c_token, init_tracing};

pub async fn run(config: Config) -> anyhow::Result<ExitCode> {
    init_tracing("info");
    caregate::telemetry::install_metrics();
    let app = App::open(config).await?;
    let shutdown = ctrl_c_token();
    // Uploads' jobs and decisions' announcements go through the outbox; its relay sends
    // what could not go at once (the broker was down).
    // Decisions' e-mails go through the mail outbox, delivered by the mail relay (with the
    // embedded queue, among the worker's background loops).
    let worker = if app.backends.in_process_queue { app.spawn_worker(shutdown.clone()).await? } else { app.spawn_relay(shutdown.clone()) };
    let mail = if app.backends.in_process_queue { None } else { app.spawn_mail_relay(shutdown.clone()) };
    let state = app.http_state()?;
    if app.backends.accounts.accounts().await?.is_empty() {
        tracing::warn!("no account yet: every request will be refused; create one with `caregate account add`");
    }
    let listener = tokio::net::TcpListener::bind(app.config.listen).await.with_context(|| format!("binding {}", app.config.listen))?;
    tracing::info!("listening on http://{}", listener.local_addr()?);
    let ops = match app.config.http.ops_listen {
        Some(address) => {
            let ops_listener = tokio::net::TcpListener::bind(address).await.with_context(|| format!("binding {address} (http.ops_listen)"))?;
            tracing::info!("/metrics and /readyz on http://{}", ops_listener.local_addr()?);
            let (ops_app, limits, stop) = (ops_router(state.clone()), app.config.http.serve.clone(), shutdown.clone());
            Some(tokio::spawn(async move { serve(ops_listener, ops_app, &limits, stop).await }))
        }
        None => None,
    };
    serve(listener, router(state), &app.config.http.serve, shutdown.clone()).await?;
    if let Some(ops) = ops {
        ops.await??;
    }
    worker.await.ok();
    if let Some(mail) = mail {
        mail.await.ok();
    }
    Ok(ExitCode::SUCCESS)
}
