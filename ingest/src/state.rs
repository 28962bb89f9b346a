//! What every request handler shares: the opened back ends, the HTTP configuration and
//! the log-in throttle. A leaf: it names no handler, so handlers, the console and
//! authentication all depend on it and never on each other through it.

use std::sync::Arc;

use caregate_storage::{AccountStore, EvidenceIndex, ObjectStore, Outbox, StorageError};
use serde::{Deserialize, Serialize};

use crate::intake::Intake;

#[derive(Clone)]
pub struct AppState {
    pub intake: Intake,
    pub index: Arc<dyn EvidenceIndex>,
    pub accounts: Arc<dyn AccountStore>,
    /// The evidence store files are retrieved from.
    pub evidence: Arc<dyn ObjectStore>,
    /// Sends the announcements of controllers' decisions (queued with them).
    pub outbox: Arc<Outbox>,
    pub http: HttpConfig,
    pub logins: LoginThrottle,
    /// What `/readyz` asks: every back end `serve` needs, by name.
    pub probes: Arc<Vec<Probe>>,
    /// What `/metrics` answers; `None` when this process records no metrics (404).
    pub metrics: Option<Scrape>,
}

/// Renders this process's metrics in Prometheus' text format, its gauges (queue depth,
/// outbox backlog, clamd's signatures...) brought up to date first. The binary builds it,
/// since it alone installs the exporter and knows every back end.
#[derive(Clone)]
pub struct Scrape {
    pub render: Arc<dyn Fn() -> futures::future::BoxFuture<'static, String> + Send + Sync>,
}

impl Scrape {
    pub fn new<F, Fut>(render: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = String> + Send + 'static,
    {
        Self { render: Arc::new(move || Box::pin(render())) }
    }
}

/// How to ask one dependency whether it answers now (`/readyz`). The binary builds them,
/// since it alone knows every dependency (clamd is the workers' crate's).
#[derive(Clone)]
pub struct Probe {
    /// `clamd`, `database`, `object_store`, `broker`.
    pub name: &'static str,
    pub check: Arc<dyn Fn() -> futures::future::BoxFuture<'static, Result<(), String>> + Send + Sync>,
}

impl Probe {
    pub fn new<F, Fut>(name: &'static str, check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<(), String>> + Send + 'static,
    {
        Self { name, check: Arc::new(move || Box::pin(check())) }
    }
}

/// How the HTTP service behaves towards its users.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    pub auth: AuthConfig,
    /// Files larger than this are handed out as an expiring presigned URL of the store
    /// (when it can make one) instead of through caregate.
    pub presign_above_bytes: u64,
    /// How long a presigned URL works.
    pub presign_secs: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self { auth: AuthConfig::default(), presign_above_bytes: 64 * 1024 * 1024, presign_secs: 300 }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// How long a console session lasts after logging in.
    pub session_hours: u32,
    /// Mark the session cookie `Secure` (sent over HTTPS only). Turn it on whenever
    /// caregate is reached through TLS, which is every deployment but a local one.
    pub secure_cookies: bool,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self { session_hours: 8, secure_cookies: false }
    }
}

/// Failed console log-ins per account name, to slow password guessing: after
/// [`LoginThrottle::MAX_FAILURES`] failures within the last [`LoginThrottle::WINDOW`],
/// the name is refused, right password or not. Counted in the accounts' database, so
/// that every `serve` process behind a load balancer sees the same count.
#[derive(Clone)]
pub struct LoginThrottle {
    accounts: Arc<dyn AccountStore>,
}

impl LoginThrottle {
    pub const MAX_FAILURES: u32 = 5;
    pub const WINDOW: std::time::Duration = std::time::Duration::from_secs(15 * 60);

    pub fn new(accounts: Arc<dyn AccountStore>) -> Self {
        Self { accounts }
    }

    fn window_start(now: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
        now - chrono::Duration::from_std(Self::WINDOW).unwrap_or_else(|_| chrono::Duration::minutes(15))
    }

    /// Whether the name may try now.
    pub async fn allows(&self, name: &str) -> Result<bool, StorageError> {
        let since = Self::window_start(chrono::Utc::now());
        Ok(self.accounts.login_failures(name, since).await? < Self::MAX_FAILURES)
    }

    pub async fn failed(&self, name: &str) -> Result<(), StorageError> {
        let now = chrono::Utc::now();
        self.accounts.record_login_failure(name, now, Self::window_start(now)).await
    }

    pub async fn succeeded(&self, name: &str) -> Result<(), StorageError> {
        self.accounts.clear_login_failures(name).await
    }
}
