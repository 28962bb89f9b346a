use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::{
    AccountStore, AmqpQueue, Announcer, EvidenceIndex, JobQueue, LocalObjectStore, MemoryQueue, ObjectStore, Outbox, RetryPolicy, S3ObjectStore, SqlIndex,
    StorageError,
};

/// Which back end serves each boundary. Anything left out falls back to the embedded one
/// under `data_dir`, so an empty configuration runs with no server at all.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackendsConfig {
    /// Embedded back ends keep their files here (`quarantine/`, `evidence/`, `index.sqlite`).
    pub data_dir: PathBuf,
    pub s3: Option<S3Config>,
    pub database: Option<DatabaseConfig>,
    pub amqp: Option<AmqpConfig>,
    pub retry: RetryPolicy,
}

impl Default for BackendsConfig {
    fn default() -> Self {
        Self { data_dir: PathBuf::from("./data"), s3: None, database: None, amqp: None, retry: RetryPolicy::default() }
    }
}

impl BackendsConfig {
    /// Back ends that would open but misbehave: quarantine and evidence in one bucket
    /// (quarantine must stay apart), a pool of no connection, retries that never wait.
    /// Each problem names its key under `[backends]`.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        if let Some(s3) = &self.s3 {
            if s3.quarantine_bucket == s3.evidence_bucket {
                problems.push("s3.quarantine_bucket and s3.evidence_bucket must differ: quarantine must stay apart".to_owned());
            }
        }
        if self.database.as_ref().is_some_and(|db| db.max_connections == 0) {
            problems.push("database.max_connections must be at least 1".to_owned());
        }
        if self.retry.delays_ms.is_empty() {
            problems.push("retry.delays_ms needs at least one delay".to_owned());
        }
        if self.retry.delays_ms.contains(&0) {
            problems.push("retry.delays_ms: a delay of 0 ms retries at once, in a loop".to_owned());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Config {
    pub endpoint: String,
    pub region: String,
    pub access_key: String,
    pub secret_key: String,
    /// Files not yet known to be clean; only the pipeline may read it.
    pub quarantine_bucket: String,
    /// Clean evidence under content-addressed keys.
    pub evidence_bucket: String,
    /// Create the buckets at start-up when missing (convenient in development).
    pub create_buckets: bool,
    /// Put an Object Lock retention (compliance mode) on every stored evidence until its
    /// `retain_until`. The evidence bucket must have been created with Object Lock
    /// enabled; Garage has no Object Lock, so it stays off there.
    pub object_lock: bool,
}

impl Default for S3Config {
    fn default() -> Self {
        Self {
            endpoint: "http://127.0.0.1:3900".into(),
            region: "garage".into(),
            access_key: String::new(),
            secret_key: String::new(),
            quarantine_bucket: "caregate-quarantine".into(),
            evidence_bucket: "caregate-evidence".into(),
            create_buckets: false,
            object_lock: false,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `postgres://...` (or `sqlite://...`).
    pub url: String,
    pub max_connections: u32,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self { url: "postgres://postgres@127.0.0.1:5432/test".into(), max_connections: 10 }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AmqpConfig {
    pub url: String,
    /// Prefix of every exchange and queue name, so several deployments (or test runs)
    /// can share one broker.
    pub prefix: String,
}

impl Default for AmqpConfig {
    fn default() -> Self {
        Self { url: "amqp://guest:guest@127.0.0.1:5672/%2f".into(), prefix: "caregate".into() }
    }
}

/// The back ends, opened and ready.
#[derive(Clone)]
pub struct Backends {
    pub quarantine: Arc<dyn ObjectStore>,
    pub evidence: Arc<dyn ObjectStore>,
    pub index: Arc<dyn EvidenceIndex>,
    /// Local accounts and credentials, in the index's database.
    pub accounts: Arc<dyn AccountStore>,
    /// Log-in attempts, in the index's database.
    pub logins: Arc<dyn crate::LoginAttempts>,
    pub queue: Arc<dyn JobQueue>,
    /// Announcements to other systems, on the same broker as the jobs.
    pub announcer: Arc<dyn Announcer>,
    /// Sends what the index queued for the broker (jobs, announcements).
    pub outbox: Arc<Outbox>,
    /// True when the queue lives in this process: jobs exist only while it runs, so the
    /// process must also run the worker, and unfinished records are requeued at start.
    pub in_process_queue: bool,
}

impl Backends {
    pub async fn open(cfg: &BackendsConfig) -> Result<Self, StorageError> {
        let (quarantine, evidence): (Arc<dyn ObjectStore>, Arc<dyn ObjectStore>) = match &cfg.s3 {
            Some(s3) => {
                let q = S3ObjectStore::new(s3, &s3.quarantine_bucket);
                let e = S3ObjectStore::new(s3, &s3.evidence_bucket);
                if s3.create_buckets {
                    q.ensure_bucket().await?;
                    e.ensure_bucket().await?;
                }
                (Arc::new(q), Arc::new(e))
            }
            None => (
                Arc::new(LocalObjectStore::open_dir(cfg.data_dir.join("quarantine")).await?),
                Arc::new(LocalObjectStore::open_dir(cfg.data_dir.join("evidence")).await?),
            ),
        };
        let index: Arc<SqlIndex> = match &cfg.database {
            Some(db) => Arc::new(SqlIndex::connect(&db.url, db.max_connections).await?),
            None => {
                tokio::fs::create_dir_all(&cfg.data_dir).await?;
                let url = format!("sqlite://{}?mode=rwc", cfg.data_dir.join("index.sqlite").display());
                // Writers queue on SQLite's lock (every write transaction starts with its
                // write, so none deadlocks upgrading); readers run beside them under WAL.
                Arc::new(SqlIndex::connect(&url, 4).await?)
            }
        };
        let (queue, announcer, in_process_queue): (Arc<dyn JobQueue>, Arc<dyn Announcer>, bool) = match &cfg.amqp {
            Some(amqp) => {
                let q = Arc::new(AmqpQueue::connect(&amqp.url, &amqp.prefix, cfg.retry.clone()).await?);
                (q.clone(), q, false)
            }
            None => {
                let q = Arc::new(MemoryQueue::new(cfg.retry.clone()));
                (q.clone(), q, true)
            }
        };
        let outbox = Arc::new(Outbox::new(index.clone(), queue.clone(), announcer.clone()));
        Ok(Self { quarantine, evidence, accounts: index.clone(), logins: index.clone(), index, queue, announcer, outbox, in_process_queue })
    }

    /// One line per boundary, for logs and summaries.
    pub fn describe(&self) -> String {
        format!(
            "quarantine: {}; evidence: {}; index: {}; queue: {}",
            self.quarantine.describe(),
            self.evidence.describe(),
            self.index.describe(),
            self.queue.describe()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backends_config_names_each_bad_key() {
        assert!(BackendsConfig::default().validate().is_ok());
        let s3 = S3Config { evidence_bucket: "same".into(), quarantine_bucket: "same".into(), ..S3Config::default() };
        let bad = BackendsConfig {
            s3: Some(s3),
            database: Some(DatabaseConfig { max_connections: 0, ..DatabaseConfig::default() }),
            retry: RetryPolicy { delays_ms: vec![0] },
            ..BackendsConfig::default()
        };
        let problems = bad.validate().unwrap_err();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].starts_with("s3.quarantine_bucket and s3.evidence_bucket must differ"));
        assert_eq!(problems[1], "database.max_connections must be at least 1");
        assert!(problems[2].starts_with("retry.delays_ms: a delay of 0 ms"));
        let none = BackendsConfig { retry: RetryPolicy { delays_ms: vec![] }, ..BackendsConfig::default() };
        assert_eq!(none.validate().unwrap_err(), vec!["retry.delays_ms needs at least one delay"]);
    }
}
