//! What operators see of a running process: its metrics in Prometheus' text format
//! (`GET /metrics` on `serve`, and on `worker.metrics_listen` for workers) and its logs
//! (plain or JSON lines). Counters and histograms are recorded where things happen,
//! through the `metrics` facade; the gauges that describe back ends (queue depth,
//! outbox backlog, records by status, clamd's signatures) are asked at each scrape.

use std::sync::OnceLock;
use std::time::Duration;

use caregate_ingest::Scrape;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::App;

static RECORDER: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs this process's metrics recorder (once; later calls return the same handle).
/// `None` if another recorder was installed first.
pub fn install_metrics() -> Option<PrometheusHandle> {
    RECORDER
        .get_or_init(|| {
            // Seconds, from a fast stage (hashing a small file) to a long one (a large
            // scan, a slow upload).
            let buckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0];
            let builder = PrometheusBuilder::new().set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &buckets);
            match builder.and_then(|b| b.install_recorder()) {
                Ok(handle) => {
                    describe();
                    Some(handle)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "no metrics: the recorder could not be installed");
                    None
                }
            }
        })
        .clone()
}

/// The recorder [`install_metrics`] installed, if it did.
pub fn recorder() -> Option<PrometheusHandle> {
    RECORDER.get().cloned().flatten()
}

/// The metrics' help texts (in `# HELP` lines; docs/operations.md lists them too).
fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!("caregate_uploads_total", "Files accepted, or upload requests refused, by outcome");
    describe_counter!("caregate_files_total", "Files that reached a final status, by status");
    describe_counter!("caregate_jobs_total", "Jobs ended, by outcome (finished, redelivered, retried, dead_lettered)");
    describe_histogram!("caregate_job_duration_seconds", Unit::Seconds, "Time to run one job");
    describe_histogram!("caregate_stage_duration_seconds", Unit::Seconds, "Time spent in each pipeline stage");
    describe_gauge!("caregate_jobs_in_flight", "Jobs being run by this process");
    describe_counter!("caregate_outbox_sent_total", "Outbox messages the broker confirmed");
    describe_gauge!("caregate_outbox_pending", "Messages waiting in the outbox");
    describe_gauge!("caregate_outbox_oldest_age_seconds", Unit::Seconds, "Age of the oldest message waiting in the outbox (0 when empty)");
    describe_counter!("caregate_mail_sent_total", "Decisions' e-mails the SMTP server took");
    describe_counter!("caregate_mail_failures_total", "Attempts to send a decision's e-mail that failed (each is tried again)");
    describe_gauge!("caregate_mail_pending", "Decisions' e-mails waiting in the mail outbox");
    describe_gauge!("caregate_mail_failing", "Of which failed at least once");
    describe_gauge!("caregate_mail_oldest_age_seconds", Unit::Seconds, "Age of the oldest e-mail waiting in the mail outbox (0 when empty)");
    describe_gauge!("caregate_queue_waiting", "Jobs waiting for a worker in the work queue");
    describe_gauge!("caregate_queue_dead_letters", "Jobs in the dead-letter queue");
    describe_gauge!("caregate_records", "Evidence records by status");
    describe_gauge!("caregate_clamd_up", "1 when clamd answered the last scrape");
    describe_gauge!("caregate_clamd_database_version", "Version of clamd's signature database (0 when it reports none)");
    describe_gauge!("caregate_clamd_database_age_seconds", Unit::Seconds, "Age of clamd's signature database, when it reports its date");
    describe_counter!("caregate_http_requests_total", "HTTP requests by route, method and status");
    describe_histogram!("caregate_http_request_duration_seconds", Unit::Seconds, "HTTP request duration by route and method");
    describe_counter!("caregate_scrape_errors_total", "Back ends that did not answer a scrape, by source");
}

/// How `/metrics` renders for this process.
pub fn scrape(app: &App, handle: PrometheusHandle) -> Scrape {
    let app = app.clone();
    Scrape::new(move || {
        let (app, handle) = (app.clone(), handle.clone());
        async move {
            refresh_gauges(&app).await;
            handle.render()
        }
    })
}

/// Asks every back end for its gauges at once, each within 2 s; one that does not answer
/// keeps its last values and counts a scrape error.
pub async fn refresh_gauges(app: &App) {
    let b = &app.backends;
    let bound = |source: &'static str, f: futures::future::BoxFuture<'static, Result<(), String>>| async move {
        match tokio::time::timeout(Duration::from_secs(2), f).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::debug!(source, error = %e, "scrape");
                metrics::counter!("caregate_scrape_errors_total", "source" => source).increment(1);
            }
            Err(_) => metrics::counter!("caregate_scrape_errors_total", "source" => source).increment(1),
        }
    };
    let (index, queue, clamd) = (b.index.clone(), b.queue.clone(), app.clamd.clone());
    let outbox = {
        let index = index.clone();
        Box::pin(async move {
            let backlog = index.outbox_backlog().await.map_err(|e| e.to_string())?;
            metrics::gauge!("caregate_outbox_pending").set(backlog.pending as f64);
            let age = backlog.oldest.map_or(0.0, |t| (chrono::Utc::now() - t).num_milliseconds().max(0) as f64 / 1000.0);
            metrics::gauge!("caregate_outbox_oldest_age_seconds").set(age);
            let mail = index.mail_backlog().await.map_err(|e| e.to_string())?;
            metrics::gauge!("caregate_mail_pending").set(mail.pending as f64);
            metrics::gauge!("caregate_mail_failing").set(mail.failing as f64);
            let age = mail.oldest.map_or(0.0, |t| (chrono::Utc::now() - t).num_milliseconds().max(0) as f64 / 1000.0);
            metrics::gauge!("caregate_mail_oldest_age_seconds").set(age);
            Ok(())
        }) as futures::future::BoxFuture<'static, Result<(), String>>
    };
    let records = Box::pin(async move {
        for (status, n) in index.count_by_status().await.map_err(|e| e.to_string())? {
            metrics::gauge!("caregate_records", "status" => status.as_str()).set(n as f64);
        }
        Ok(())
    });
    let queue = Box::pin(async move {
        metrics::gauge!("caregate_queue_waiting").set(queue.waiting_count().await.map_err(|e| e.to_string())? as f64);
        metrics::gauge!("caregate_queue_dead_letters").set(queue.dead_letter_count().await.map_err(|e| e.to_string())? as f64);
        Ok(())
    });
    let clamd = Box::pin(async move {
        let version = clamd.version().await;
        metrics::gauge!("caregate_clamd_up").set(if version.is_ok() { 1.0 } else { 0.0 });
        let signatures = caregate_workers::SignatureDatabase::parse(&version.map_err(|e| e.to_string())?);
        metrics::gauge!("caregate_clamd_database_version").set(signatures.version.unwrap_or(0) as f64);
        if let Some(date) = signatures.date {
            metrics::gauge!("caregate_clamd_database_age_seconds").set((chrono::Utc::now() - date).num_seconds().max(0) as f64);
        }
        Ok(())
    });
    futures::future::join4(bound("outbox", outbox), bound("records", records), bound("queue", queue), bound("clamd", clamd)).await;
}

/// Starts the log subscriber: `CAREGATE_LOG` filters (default `default`), and
/// `CAREGATE_LOG_FORMAT=json` writes one JSON object per line (for a log collector)
/// instead of text.
pub fn init_logs(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CAREGATE_LOG").unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if std::env::var("CAREGATE_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json")) {
        builder.json().flatten_event(true).init();
    } else {
        builder.init();
    }
}
