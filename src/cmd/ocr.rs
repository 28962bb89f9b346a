//! Read now, by OCR, every stored scan still waiting for it (when no worker runs an OCR
//! pool, `worker.ocr_poll_secs = 0`, or to catch up), then judge their dossiers again.

use std::process::ExitCode;

use caregate::{App, Config};

use super::{ctrl_c_token, init_tracing};

pub async fn run(config: Config) -> anyhow::Result<ExitCode> {
    init_tracing("warn");
    let app = App::open(config).await?;
    // Announcements of dossiers judged again go through the outbox.
    let shutdown = ctrl_c_token();
    let relay = app.spawn_relay(shutdown.clone());
    let summary = app.ocr_pool()?.pass(&shutdown).await?;
    eprintln!("{} scan(s) lu(s) par OCR, {} en échec (à reprendre)", summary.read, summary.failed);
    app.backends.outbox.relay_once().await.ok();
    shutdown.cancel();
    relay.await.ok();
    Ok(if summary.failed > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
