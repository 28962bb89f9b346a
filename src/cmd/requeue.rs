//! Queue a job again for every file still waiting (after a crash or a failed publish).

use std::process::ExitCode;

use caregate::{App, Config};

use super::init_tracing;

pub async fn run(config: Config) -> anyhow::Result<ExitCode> {
    init_tracing("info");
    let app = App::open(config).await?;
    if app.backends.in_process_queue {
        anyhow::bail!("requeue needs a broker; without one, `caregate worker` finishes unfinished files itself");
    }
    let n = caregate_workers::requeue_unfinished(app.backends.index.as_ref(), app.backends.queue.as_ref()).await?;
    println!("requeued {n} jobs");
    Ok(ExitCode::SUCCESS)
}
