//! What every request handler shares: the opened back ends, the HTTP configuration and
//! the log-in throttle. A leaf: it names no handler, so handlers, the console and
//! authentication all depend on it and never on each other through it.

use std::sync::Arc;

use caregate_storage::{AccountStore, Announcer, EvidenceIndex, ObjectStore};
use serde::{Deserialize, Serialize};

use crate::intake::Intake;

#[derive(Clone)]
pub struct AppState {
    pub intake: Intake,
    pub index: Arc<dyn EvidenceIndex>,
    pub accounts: Arc<dyn AccountStore>,
    /// The evidence store files are retrieved from.
    pub evidence: Arc<dyn ObjectStore>,
    /// Where decided verifications are announced (`submission.verified`).
    pub announcer: Arc<dyn Announcer>,
    pub http: HttpConfig,
    pub logins: LoginThrottle,
    /// What `/readyz` asks: every back end `serve` needs, by name.
    pub probes: Arc<Vec<Probe>>,
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
/// [`LoginThrottle::MAX_FAILURES`] failures within the window, the name is refused until
/// the window has passed, right password or not. Per process: with several `serve`
/// processes, each keeps its own count.
#[derive(Clone, Default)]
pub struct LoginThrottle {
    failures: Arc<std::sync::Mutex<std::collections::HashMap<String, (u32, std::time::Instant)>>>,
}

impl LoginThrottle {
    pub const MAX_FAILURES: u32 = 5;
    pub const WINDOW: std::time::Duration = std::time::Duration::from_secs(15 * 60);

    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, (u32, std::time::Instant)>> {
        // A panic while holding this lock leaves counts that are still counts.
        self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether the name may try now.
    pub fn allows(&self, name: &str) -> bool {
        let mut map = self.lock();
        match map.get(name) {
            Some(&(n, since)) if since.elapsed() < Self::WINDOW => n < Self::MAX_FAILURES,
            Some(_) => {
                map.remove(name);
                true
            }
            None => true,
        }
    }

    pub fn failed(&self, name: &str) {
        let mut map = self.lock();
        // Bounded memory under a flood of invented names: forget expired entries first.
        if map.len() > 10_000 {
            map.retain(|_, (_, since)| since.elapsed() < Self::WINDOW);
        }
        let entry = map.entry(name.to_owned()).or_insert((0, std::time::Instant::now()));
        entry.0 += 1;
    }

    pub fn succeeded(&self, name: &str) {
        self.lock().remove(name);
    }
}
