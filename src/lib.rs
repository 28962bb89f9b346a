//! The `caregate` application: one typed configuration, the wiring of back ends, stages
//! and services from it, and the commands built on that wiring (submit, demo, bench).
//! This is the binary's edge: errors here are `anyhow`, the libraries below use
//! typed errors.

#![forbid(unsafe_code)]

pub mod accuracy;
pub mod bench;
pub mod demo;
pub mod report;
pub mod submit;
pub mod telemetry;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use caregate_archive::ArchiveConfig;
use caregate_ingest::{AppState, HttpConfig, Intake, IntakeConfig};
use caregate_schemas::{EvidenceRecord, Status, SubmissionId, Verification};
use caregate_storage::{Backends, BackendsConfig, MailConfig, MailRelay};
use caregate_verify::Referentials;
use caregate_workers::{requeue_unfinished, sweep_orphans, Clamd, ClamdConfig, Pipeline, Verified, Verifier, Worker, WorkerConfig};
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

/// Everything caregate can be told. Sources, later ones winning: built-in defaults, the
/// TOML file (`caregate.toml`, or `CAREGATE_CONFIG`), then `CAREGATE_*` environment
/// variables with `__` between levels (`CAREGATE_BACKENDS__S3__ENDPOINT`, `CAREGATE_BACKENDS__DATA_DIR`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where bytes, records and jobs live (`[backends]`, `[backends.s3]`...).
    pub backends: BackendsConfig,
    /// Address `caregate serve` listens on.
    pub listen: SocketAddr,
    pub clamd: ClamdConfig,
    pub worker: WorkerConfig,
    pub intake: IntakeConfig,
    pub archive: ArchiveConfig,
    /// How PDF signatures are validated.
    pub signatures: SignaturesConfig,
    /// Sessions, cookies and file retrieval of `caregate serve`.
    pub http: HttpConfig,
    /// E-mails telling establishments of controllers' decisions (`[mail]`, off by default).
    pub mail: MailConfig,
}

/// What signatures are validated against.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SignaturesConfig {
    /// Trusted certificates: PEM (or DER) files, or directories of `.pem`/`.crt`/`.cer`
    /// files. None by default: every signature is then `INDETERMINATE`
    /// (`NO_CERTIFICATE_CHAIN_FOUND`) until the archive says whom it trusts.
    pub trust_anchors: Vec<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            backends: BackendsConfig::default(),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            clamd: ClamdConfig::default(),
            worker: WorkerConfig::default(),
            intake: IntakeConfig::default(),
            archive: ArchiveConfig::default(),
            signatures: SignaturesConfig::default(),
            http: HttpConfig::default(),
            mail: MailConfig::default(),
        }
    }
}

/// `CAREGATE_*` variables that are not configuration keys (the config file's name, the
/// client's token, the log filter, the test harness's settings): skipped by name, so that
/// any other unknown `CAREGATE_*` variable is refused like an unknown key.
pub const NON_CONFIG_VARIABLES: &[&str] = &["config", "token", "log", "log_format", "test_stacks", "services_dir", "real_samples", "seda_schemas"];

/// A configuration that loaded but cannot work; every problem names its key.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {}", .0.join("; "))]
pub struct InvalidConfig(pub Vec<String>);

impl Config {
    /// How the worker reads a file: isolated as configured, the child being this program
    /// unless another is named; scans are left to the OCR pool when it has threads.
    pub fn reader(&self) -> anyhow::Result<caregate_workers::read::Reader> {
        let program = match &self.worker.reader_program {
            Some(p) => p.clone(),
            None => std::env::current_exe().context("finding this program, to read files in a child process")?,
        };
        Ok(caregate_workers::read::Reader::new(
            caregate_extract::Limits {
                trust_anchors: self.signatures.trust_anchors.clone(),
                defer_ocr: self.worker.ocr_threads > 0,
                ..self.worker.extract.clone()
            },
            self.worker.isolation,
            program,
            self.worker.reader_memory_mb << 20,
        ))
    }

    /// A reader that reads everything now, scans by OCR included (`caregate read`,
    /// `caregate accuracy`): the worker's otherwise.
    pub fn inline_reader(&self) -> anyhow::Result<caregate_workers::read::Reader> {
        let mut reader = self.reader()?;
        reader.limits.defer_ocr = false;
        Ok(reader)
    }

    /// The OCR pool's reader: reading scans now, under the OCR budget.
    pub fn ocr_reader(&self) -> anyhow::Result<caregate_workers::read::Reader> {
        let mut reader = self.inline_reader()?;
        reader.limits.time_budget_secs = self.worker.ocr_time_budget_secs;
        Ok(reader)
    }

    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let file =
            file.map(Path::to_path_buf).or_else(|| std::env::var_os("CAREGATE_CONFIG").map(PathBuf::from)).unwrap_or_else(|| PathBuf::from("caregate.toml"));
        let config: Config = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::file(&file))
            .merge(Env::prefixed("CAREGATE_").ignore(NON_CONFIG_VARIABLES).split("__"))
            .extract()
            .with_context(|| format!("reading configuration ({} and CAREGATE_* variables)", file.display()))?;
        config.validate()?;
        Ok(config)
    }

    /// Every value that would make a component misbehave rather than fail. Each section
    /// checks itself (its `validate()`, beside its struct, names keys under it); what
    /// spans sections is checked here.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        fn under(section: &str, checked: Result<(), Vec<String>>) -> Vec<String> {
            checked.err().into_iter().flatten().map(|p| format!("{section}.{p}")).collect()
        }
        let mut problems = Vec::new();
        problems.extend(under("backends", self.backends.validate()));
        problems.extend(under("clamd", self.clamd.validate()));
        problems.extend(under("worker", self.worker.validate()));
        problems.extend(under("intake", self.intake.validate()));
        problems.extend(under("mail", self.mail.validate()));
        problems.extend(self.http.validate().err());
        problems.extend(self.archive.validate().err());
        if let Err(e) = caregate_extract::signature::TrustAnchors::load(&self.signatures.trust_anchors) {
            problems.push(format!("signatures.trust_anchors: {e}"));
        }
        // A record waiting out its last retry delay is not stale: requeueing it would
        // run the job twice at once.
        let longest_retry_ms = self.backends.retry.delays_ms.iter().max().copied().unwrap_or(0);
        if self.worker.stale_after_secs.saturating_mul(1000) <= longest_retry_ms {
            problems.push(format!(
                "worker.stale_after_secs ({} s) must be longer than the longest retry delay ({longest_retry_ms} ms in backends.retry.delays_ms)",
                self.worker.stale_after_secs
            ));
        }
        if self.http.ops_listen == Some(self.listen) {
            problems.push("http.ops_listen must differ from listen (leave it unset to serve /metrics and /readyz beside the API)".to_owned());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(InvalidConfig(problems))
        }
    }

    /// The same configuration with every server back end switched off.
    pub fn embedded(mut self) -> Self {
        self.backends.s3 = None;
        self.backends.database = None;
        self.backends.amqp = None;
        self
    }
}

/// Judges the given submissions again from their stored records and reports each one's
/// outcome to `each`; returns a summary line. Nothing is scanned or parsed.
pub async fn reverify(app: &App, ids: &[SubmissionId], mut each: impl FnMut(SubmissionId, String)) -> anyhow::Result<String> {
    let verifier = app.verifier()?;
    let (mut changed, mut same, mut skipped) = (0, 0, 0);
    for &id in ids {
        let line = match verifier.verify(id).await? {
            Verified::Changed(v) => {
                changed += 1;
                format!("{}  changed", v.verdict)
            }
            Verified::Unchanged(v) => {
                same += 1;
                format!("{}  unchanged", v.verdict)
            }
            Verified::NoReferential(c) => {
                skipped += 1;
                format!("skipped: no referential for campaign {c}")
            }
            Verified::Empty => {
                skipped += 1;
                "skipped: no record".to_owned()
            }
        };
        each(id, line);
    }
    Ok(format!("{} submissions: {changed} changed, {same} unchanged, {skipped} skipped", ids.len()))
}

/// The opened back ends plus what the pipeline needs, built once per process.
#[derive(Clone)]
pub struct App {
    pub config: Config,
    pub backends: Backends,
    pub clamd: Arc<Clamd>,
    /// Delivers decisions' e-mails; `None` when `[mail]` is off.
    pub mail: Option<Arc<MailRelay>>,
}

impl App {
    pub async fn open(config: Config) -> anyhow::Result<Self> {
        config.validate()?;
        let backends = Backends::open(&config.backends).await.context("opening back ends")?;
        tracing::info!("{}", backends.describe());
        let clamd = Arc::new(Clamd::new(config.clamd.clone()));
        let mail = MailRelay::from_config(backends.index.clone(), &config.mail).context("setting up the SMTP client ([mail])")?;
        if let Some(relay) = &mail {
            tracing::info!("decisions are told by e-mail through {}", relay.describe());
        }
        Ok(Self { config, backends, clamd, mail })
    }

    pub fn intake(&self) -> anyhow::Result<Intake> {
        Ok(Intake::new(&self.backends, self.config.intake.clone(), Arc::new(self.referentials()?))?)
    }

    /// What the HTTP service (API and console) runs on.
    pub fn http_state(&self) -> anyhow::Result<AppState> {
        Ok(AppState {
            intake: self.intake()?,
            index: self.backends.index.clone(),
            accounts: self.backends.accounts.clone(),
            evidence: self.backends.evidence.clone(),
            outbox: self.backends.outbox.clone(),
            mail: self.mail.clone(),
            http: {
                let mut http = self.config.http.clone();
                // Cookies go over HTTPS only, unless this is a local run over plain HTTP.
                http.auth.secure_cookies = Some(http.auth.secure_cookies.unwrap_or(!self.config.listen.ip().is_loopback()));
                http
            },
            logins: caregate_ingest::LoginThrottle::new(self.backends.logins.clone()),
            probes: Arc::new(self.probes()),
            metrics: telemetry::recorder().map(|handle| telemetry::scrape(self, handle)),
            rejudge: {
                let verifier = Arc::new(self.verifier()?);
                caregate_ingest::Rejudge::new(move |id| {
                    let verifier = verifier.clone();
                    async move { verifier.verify(id).await.map(drop).map_err(|e| e.to_string()) }
                })
            },
        })
    }

    /// Every dependency `serve` needs, as `/readyz` asks them: clamd answers its
    /// version, the database a count, both object stores a lookup, the broker a passive
    /// queue declaration.
    pub fn probes(&self) -> Vec<caregate_ingest::Probe> {
        use caregate_ingest::Probe;
        let b = &self.backends;
        let (clamd, index, quarantine, evidence, queue) = (self.clamd.clone(), b.index.clone(), b.quarantine.clone(), b.evidence.clone(), b.queue.clone());
        vec![
            Probe::new("clamd", move || {
                let clamd = clamd.clone();
                async move { clamd.version().await.map(drop).map_err(|e| e.to_string()) }
            }),
            Probe::new("database", move || {
                let index = index.clone();
                async move { index.count_by_status().await.map(drop).map_err(|e| e.to_string()) }
            }),
            Probe::new("object_store", move || {
                let (quarantine, evidence) = (quarantine.clone(), evidence.clone());
                async move {
                    quarantine.size("readiness-probe").await.map_err(|e| format!("quarantine: {e}"))?;
                    evidence.size("readiness-probe").await.map(drop).map_err(|e| format!("evidence: {e}"))
                }
            }),
            Probe::new("broker", move || {
                let queue = queue.clone();
                async move { queue.dead_letter_count().await.map(drop).map_err(|e| e.to_string()) }
            }),
        ]
    }

    /// The referentials submissions are judged with: the configured directory, or the
    /// ones shipped with caregate.
    pub fn referentials(&self) -> anyhow::Result<Referentials> {
        Ok(match &self.config.worker.referentials {
            Some(dir) => Referentials::load_dir(dir)?,
            None => Referentials::shipped()?,
        })
    }

    pub fn verifier(&self) -> anyhow::Result<Verifier> {
        Ok(Verifier::new(self.backends.index.clone(), self.backends.outbox.clone(), self.referentials()?))
    }

    pub fn worker(&self) -> anyhow::Result<Worker> {
        let spool_dir = self.config.worker.spool_dir.clone().unwrap_or_else(std::env::temp_dir);
        std::fs::create_dir_all(&spool_dir).with_context(|| format!("creating {}", spool_dir.display()))?;
        let pipeline = Pipeline::new(
            self.clamd.clone(),
            self.backends.quarantine.clone(),
            self.backends.evidence.clone(),
            self.backends.index.clone(),
            self.backends.outbox.clone(),
            spool_dir,
            self.config.reader()?,
            self.config.worker.extract_threads,
            self.config.worker.retention_days,
            Arc::new(self.verifier()?),
        );
        Ok(Worker::new(Arc::new(pipeline), self.backends.queue.clone(), self.backends.index.clone(), self.config.worker.clone()))
    }

    /// Scans kept files again (see [`caregate_workers::Rescanner`]).
    pub fn rescanner(&self) -> anyhow::Result<caregate_workers::Rescanner> {
        let spool_dir = self.config.worker.spool_dir.clone().unwrap_or_else(std::env::temp_dir);
        std::fs::create_dir_all(&spool_dir).with_context(|| format!("creating {}", spool_dir.display()))?;
        Ok(caregate_workers::Rescanner::new(
            self.clamd.clone(),
            self.backends.quarantine.clone(),
            self.backends.evidence.clone(),
            self.backends.index.clone(),
            Arc::new(self.verifier()?),
            spool_dir,
            Duration::from_millis(self.config.worker.rescan_pause_ms),
        ))
    }

    /// Starts the background rescan on new signatures, unless turned off.
    fn spawn_rescans(&self, shutdown: CancellationToken) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
        let every = self.config.worker.rescan_check_secs;
        if every == 0 {
            return Ok(None);
        }
        let rescanner = self.rescanner()?;
        Ok(Some(tokio::spawn(rescanner.run(Duration::from_secs(every), shutdown))))
    }

    /// Reads stored scans by OCR (see [`caregate_workers::OcrPool`]).
    pub fn ocr_pool(&self) -> anyhow::Result<caregate_workers::OcrPool> {
        let spool_dir = self.config.worker.spool_dir.clone().unwrap_or_else(std::env::temp_dir);
        std::fs::create_dir_all(&spool_dir).with_context(|| format!("creating {}", spool_dir.display()))?;
        Ok(caregate_workers::OcrPool::new(
            self.backends.evidence.clone(),
            self.backends.index.clone(),
            Arc::new(self.verifier()?),
            self.config.ocr_reader()?,
            spool_dir,
            self.config.worker.ocr_threads.max(1),
        ))
    }

    /// Starts the OCR pool in the background, unless scans are read inline or the pool
    /// is turned off.
    fn spawn_ocr(&self, shutdown: CancellationToken) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
        let every = self.config.worker.ocr_poll_secs;
        if every == 0 || self.config.worker.ocr_threads == 0 {
            return Ok(None);
        }
        let pool = self.ocr_pool()?;
        Ok(Some(tokio::spawn(pool.run(Duration::from_secs(every), shutdown))))
    }

    /// Removes quarantined objects left by interrupted uploads (see [`sweep_orphans`]).
    pub async fn sweep_orphans(&self) -> anyhow::Result<usize> {
        let grace = Duration::from_secs(self.config.worker.orphan_grace_secs);
        let n = sweep_orphans(self.backends.quarantine.as_ref(), self.backends.index.as_ref(), grace).await?;
        if n > 0 {
            tracing::info!(objects = n, "removed quarantined objects of interrupted uploads");
        }
        Ok(n)
    }

    /// Starts the outbox relay in the background of this process, until `shutdown`.
    pub fn spawn_relay(&self, shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
        self.backends.outbox.spawn_relay(shutdown)
    }

    /// Starts the mail relay (decisions' e-mails) in the background of this process, until
    /// `shutdown`; nothing when `[mail]` is off.
    pub fn spawn_mail_relay(&self, shutdown: CancellationToken) -> Option<tokio::task::JoinHandle<()>> {
        self.mail.as_ref().map(|relay| relay.spawn(shutdown))
    }

    /// Starts a worker, and the outbox relay, in the background of this process. With
    /// the in-process queue, jobs lost by an earlier run (records still `received`) are
    /// queued again first.
    pub async fn spawn_worker(&self, shutdown: CancellationToken) -> anyhow::Result<tokio::task::JoinHandle<()>> {
        if self.backends.in_process_queue {
            let n = requeue_unfinished(self.backends.index.as_ref(), self.backends.queue.as_ref()).await?;
            if n > 0 {
                tracing::info!(jobs = n, "requeued unfinished evidence from an earlier run");
            }
        }
        let worker = self.worker()?;
        let background = self.spawn_background(shutdown.clone())?;
        Ok(tokio::spawn(async move {
            if let Err(e) = worker.run(shutdown).await {
                tracing::error!(error = %e, "worker stopped");
            }
            background.join().await;
        }))
    }

    /// Starts the loops a worker process runs beside its jobs, each until `shutdown`: the
    /// outbox relay, the mail relay, the rescan on new signatures and the OCR pool (each
    /// unless turned off). The worker's own stale sweep runs inside [`caregate_workers::Worker::run`].
    pub fn spawn_background(&self, shutdown: CancellationToken) -> anyhow::Result<Background> {
        let mut tasks = vec![("relay", self.spawn_relay(shutdown.clone()))];
        tasks.extend(self.spawn_mail_relay(shutdown.clone()).map(|t| ("mail", t)));
        tasks.extend(self.spawn_rescans(shutdown.clone())?.map(|t| ("rescan", t)));
        tasks.extend(self.spawn_ocr(shutdown)?.map(|t| ("ocr", t)));
        Ok(Background { tasks })
    }

    /// Waits for the final verification of a submission of `files` files (it follows the
    /// last file's record by a moment).
    pub async fn wait_for_verification(&self, id: SubmissionId, files: usize, timeout: Duration) -> anyhow::Result<Verification> {
        let start = Instant::now();
        loop {
            let current = self.backends.index.verification(id).await?;
            match current {
                Some(v) if v.pending == 0 && v.evidence.len() == files => return Ok(v),
                _ if start.elapsed() > timeout => anyhow::bail!("no final verification of {id} after {timeout:?} (now: {current:?})"),
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    /// Waits until every file of the submission has a final status, or the timeout.
    pub async fn wait_for_submission(
        &self,
        id: SubmissionId,
        expected: usize,
        timeout: Duration,
        mut progress: impl FnMut(usize),
    ) -> anyhow::Result<Vec<EvidenceRecord>> {
        let start = Instant::now();
        let mut pause = Duration::from_millis(20);
        loop {
            let records = self.backends.index.submission(id).await?;
            // A scan waiting for OCR is stored, but what it says is not known yet.
            let done = records.iter().filter(|r| r.status != Status::Received && !r.awaiting_ocr()).count();
            progress(done);
            if records.len() >= expected && done == records.len() {
                return Ok(records);
            }
            if start.elapsed() > timeout {
                anyhow::bail!("{done} of {expected} files finished after {timeout:?}");
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(500));
        }
    }
}

/// The background loops of one process ([`App::spawn_background`]), waited for together
/// once their shutdown is signalled.
pub struct Background {
    tasks: Vec<(&'static str, tokio::task::JoinHandle<()>)>,
}

impl Background {
    /// Waits for every loop to end; one that panicked is logged, not propagated, so the
    /// others still finish their current item.
    pub async fn join(self) {
        for (name, task) in self.tasks {
            if let Err(e) = task.await {
                tracing::error!(task = name, error = %e, "background loop ended abnormally");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every leaf key of the configuration, dotted, with every optional section present
    /// (what an operator may set).
    fn code_keys() -> std::collections::BTreeSet<String> {
        fn walk(prefix: &str, v: &serde_json::Value, out: &mut std::collections::BTreeSet<String>) {
            match v {
                serde_json::Value::Object(map) => {
                    for (k, v) in map {
                        walk(&if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") }, v, out);
                    }
                }
                // A list of tables (`[[http.auth.oidc]]`): the list itself, and its
                // tables' keys under the same prefix.
                serde_json::Value::Array(items) if items.first().is_some_and(serde_json::Value::is_object) => {
                    out.insert(prefix.to_owned());
                    walk(prefix, &items[0], out);
                }
                _ => {
                    out.insert(prefix.to_owned());
                }
            }
        }
        let mut config = Config::default();
        config.backends.s3 = Some(Default::default());
        config.backends.database = Some(Default::default());
        config.backends.amqp = Some(Default::default());
        config.http.auth.oidc = vec![caregate_ingest::oidc::OidcProvider {
            organisation_claim: Some("siret".into()),
            organisations: vec![caregate_ingest::oidc::OrganisationRole {
                organisation: "13002526500013".into(),
                role: caregate_schemas::Role::Controller,
                regions: vec![],
            }],
            finess_claim: Some("finess".into()),
            ..Default::default()
        }];
        let mut out = std::collections::BTreeSet::new();
        walk("", &serde_json::to_value(&config).unwrap(), &mut out);
        out
    }

    /// docs/configuration.md names every key the code has, by its full dotted path, and
    /// no key the code does not have.
    #[test]
    fn config_keys_are_documented() {
        let doc = include_str!("../docs/configuration.md");
        let documented: std::collections::BTreeSet<String> = doc
            .lines()
            .filter(|l| l.starts_with("| `"))
            .flat_map(|l| l.split('|').nth(1).unwrap_or_default().split('`').skip(1).step_by(2).map(str::to_owned).collect::<Vec<_>>())
            .collect();
        let code = code_keys();
        let missing: Vec<&String> = code.iter().filter(|k| !documented.contains(*k)).collect();
        let unknown: Vec<&String> = documented.iter().filter(|k| !code.contains(*k)).collect();
        assert!(
            missing.is_empty() && unknown.is_empty(),
            "keys in the code but not in docs/configuration.md: {missing:?}\nkeys documented but not in the code: {unknown:?}"
        );
    }

    #[test]
    fn the_default_configuration_is_valid() {
        Config::default().validate().unwrap();
    }

    #[test]
    fn mail_is_off_by_default_strict_and_checked_under_its_section() {
        assert!(!Config::default().mail.enabled, "the embedded default needs nothing but clamd");
        let mut on = Config::default();
        on.mail.enabled = true;
        let problems = on.validate().unwrap_err().to_string();
        assert!(problems.contains("mail.from = ") && problems.contains("mail.public_base_url = "), "{problems}");
        let typo = Figment::from(Serialized::defaults(Config::default())).merge(Toml::string("[mail]\nenable = true\n")).extract::<Config>();
        assert!(typo.unwrap_err().to_string().contains("enable"), "an unknown key is refused by name");
        let set = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::string(
                "[mail]\nenabled = true\nsmtp_host = \"127.0.0.1\"\nsmtp_port = 2525\nsecurity = \"none\"\nfrom = \"CaRE <ne-pas-repondre@caregate.example.fr>\"\npublic_base_url = \"https://caregate.example.fr\"\n",
            ))
            .extract::<Config>()
            .unwrap();
        set.validate().unwrap();
        assert_eq!((set.mail.smtp_port, set.mail.security), (Some(2525), caregate_storage::SmtpSecurity::None));
    }
}
