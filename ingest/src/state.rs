//! What every request handler shares: the opened back ends, the HTTP configuration and
//! the log-in throttle. A leaf: it names no handler, so handlers, the console and
//! authentication all depend on it and never on each other through it.

use std::sync::Arc;

use caregate_storage::{AccountStore, EvidenceIndex, LoginAttempts, MailRelay, ObjectStore, Outbox, StorageError};
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
    /// Decisions' e-mails (`[mail]`): its configuration writes them, the relay is woken
    /// when one is written. `None`: mail is off, decisions write none.
    pub mail: Option<Arc<MailRelay>>,
    pub http: HttpConfig,
    pub logins: LoginThrottle,
    /// What `/readyz` asks: every back end `serve` needs, by name.
    pub probes: Arc<Vec<Probe>>,
    /// What `/metrics` answers; `None` when this process records no metrics (404).
    pub metrics: Option<Scrape>,
    /// Judges a dossier again at once, when an establishment takes a file out of it.
    pub rejudge: Rejudge,
}

/// Judges one dossier again now and announces the result (the workers' verifier). The
/// binary builds it, since it alone knows the verifier and the referentials.
#[derive(Clone)]
pub struct Rejudge {
    pub run: Arc<dyn Fn(caregate_schemas::SubmissionId) -> futures::future::BoxFuture<'static, Result<(), String>> + Send + Sync>,
}

impl Rejudge {
    pub fn new<F, Fut>(run: F) -> Self
    where
        F: Fn(caregate_schemas::SubmissionId) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<(), String>> + Send + 'static,
    {
        Self { run: Arc::new(move |id| Box::pin(run(id))) }
    }
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
    /// Largest body of every request but an upload (log-in, decisions...), in bytes.
    pub max_form_bytes: usize,
    /// Connection time limits.
    pub serve: crate::serve::ServeConfig,
    /// The origin browsers reach caregate at (`https://caregate.example.fr`), which a
    /// console POST's `Origin` must be. Unset: the request's own `Host`.
    pub public_origin: Option<String>,
    /// Behind a reverse proxy: the header it writes the client's address in (e.g.
    /// `x-forwarded-for`, whose last entry is taken: the one the proxy added). Unset:
    /// the connection's peer. Only set it when every request comes through the proxy.
    pub client_address_header: Option<String>,
    /// Where `/metrics` and `/readyz` are served. Unset: on the service's own address,
    /// beside the API; set (e.g. `127.0.0.1:9090`): only there.
    pub ops_listen: Option<std::net::SocketAddr>,
    /// The DSFR's `dist/` directory (npm `@gouvfr/dsfr`), served under `/dsfr/` for the
    /// console and the establishments' space. Set but missing: `serve` refuses to start.
    /// Unset: the pages work unstyled and say so on screen.
    pub dsfr_dir: Option<std::path::PathBuf>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            auth: AuthConfig::default(),
            presign_above_bytes: 64 * 1024 * 1024,
            presign_secs: 300,
            max_form_bytes: 16 * 1024,
            serve: crate::serve::ServeConfig::default(),
            public_origin: None,
            client_address_header: None,
            ops_listen: None,
            dsfr_dir: None,
        }
    }
}

impl HttpConfig {
    pub fn validate(&self) -> Result<(), String> {
        let mut problems = Vec::new();
        if !(1024..=1024 * 1024).contains(&self.max_form_bytes) {
            problems.push(format!("http.max_form_bytes = {} (1 KiB to 1 MiB)", self.max_form_bytes));
        }
        if self.auth.session_hours == 0 {
            problems.push("http.auth.session_hours must be at least 1".to_owned());
        }
        if self.presign_secs == 0 {
            problems.push("http.presign_secs must be at least 1".to_owned());
        }
        if let Err(e) = self.serve.validate() {
            problems.push(e);
        }
        if let Err(e) = self.auth.validate() {
            problems.push(e);
        }
        if let Some(o) = &self.public_origin {
            let ok = (o.starts_with("https://") || o.starts_with("http://")) && !o.trim_end_matches('/').contains(['?', '#']) && o.matches('/').count() <= 3;
            if !ok {
                problems.push(format!("http.public_origin = {o:?}: a scheme and a host, e.g. https://caregate.example.fr"));
            }
        }
        if let Some(h) = &self.client_address_header {
            if axum::http::HeaderName::from_bytes(h.as_bytes()).is_err() {
                problems.push(format!("http.client_address_header = {h:?} is not a header name"));
            }
        }
        if let Some(dir) = &self.dsfr_dir {
            // A path set and wrong is a mistake to stop at, not to serve bare pages
            // from: the operator meant the pages to be styled.
            if !dir.join("dsfr.min.css").is_file() {
                problems.push(format!(
                    "http.dsfr_dir = {}: no dsfr.min.css there (the dist/ directory of the npm package @gouvfr/dsfr; `bash scripts/services.sh dsfr` installs it)",
                    dir.display()
                ));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// How long a console session lasts after logging in.
    pub session_hours: u32,
    /// Mark the session cookie `Secure` (sent over HTTPS only). Unset: on, unless
    /// `serve` listens on a loopback address (a local run over plain HTTP).
    pub secure_cookies: Option<bool>,
    /// OpenID providers people may also sign in through (`[[http.auth.oidc]]`), one
    /// button each on the log-in page.
    pub oidc: Vec<crate::oidc::OidcProvider>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self { session_hours: 8, secure_cookies: None, oidc: Vec::new() }
    }
}

impl AuthConfig {
    pub fn validate(&self) -> Result<(), String> {
        crate::oidc::validate_providers(&self.oidc)
    }

    /// The provider of that name, if one is configured.
    pub fn provider(&self, name: &str) -> Option<&crate::oidc::OidcProvider> {
        self.oidc.iter().find(|p| p.name == name)
    }
}

/// Console log-ins, throttled per account name from one client address (the guessing
/// one sees), per client address (one client guessing many names) and per name from
/// everywhere (a guess spread over many addresses), so that nobody can lock an account's
/// owner out from another address by guessing its name. Counted in the accounts'
/// database before the password is checked ([`LoginAttempts`]), so every `serve`
/// process sees the same counts and simultaneous guesses cannot all pass.
#[derive(Clone)]
pub struct LoginThrottle {
    attempts: Arc<dyn LoginAttempts>,
}

/// Why a log-in is not even checked, and until when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Throttled {
    pub until: chrono::DateTime<chrono::Utc>,
    /// In French, for the page: what was counted.
    pub why: &'static str,
}

impl LoginThrottle {
    /// Attempts of one name from one address within [`Self::WINDOW`].
    pub const MAX_PER_NAME_AND_ADDRESS: u32 = 5;
    /// Attempts from one address, whatever the names.
    pub const MAX_PER_ADDRESS: u32 = 30;
    /// Attempts of one name from every address.
    pub const MAX_PER_NAME: u32 = 50;
    pub const WINDOW: std::time::Duration = std::time::Duration::from_secs(15 * 60);

    pub fn new(attempts: Arc<dyn LoginAttempts>) -> Self {
        Self { attempts }
    }

    fn keys(name: &str, address: &str) -> [String; 3] {
        [format!("name-from\n{name}\n{address}"), format!("from\n{address}"), format!("name\n{name}")]
    }

    /// Counts an attempt of `name` from `address` (before its password is checked);
    /// `Err(Throttled)` when one of the limits is passed, and the password must not be
    /// checked at all.
    pub async fn attempt(&self, name: &str, address: &str) -> Result<Result<(), Throttled>, StorageError> {
        let now = chrono::Utc::now();
        let window = chrono::Duration::from_std(Self::WINDOW).unwrap_or_else(|_| chrono::Duration::minutes(15));
        let counts = self.attempts.attempt(&Self::keys(name, address), now, now - window).await?;
        let limits = [
            (Self::MAX_PER_NAME_AND_ADDRESS, "Trop d'essais infructueux pour cet identifiant depuis votre adresse"),
            (Self::MAX_PER_ADDRESS, "Trop d'essais de connexion depuis votre adresse"),
            (Self::MAX_PER_NAME, "Trop d'essais pour cet identifiant, depuis de nombreuses adresses"),
        ];
        for (count, (max, why)) in counts.iter().zip(limits) {
            if count.attempts > max {
                return Ok(Err(Throttled { until: count.window_start + window, why }));
            }
        }
        Ok(Ok(()))
    }

    /// The right password: this name's counts start again, and the address is not held
    /// to the attempt.
    pub async fn succeeded(&self, name: &str, address: &str) -> Result<(), StorageError> {
        let [pair, from, alone] = Self::keys(name, address);
        self.attempts.succeeded(&[pair, alone], &[from]).await
    }
}

#[cfg(test)]
mod tests {
    use super::HttpConfig;

    #[test]
    fn a_dsfr_dir_without_the_dsfr_stops_the_start() {
        let empty = tempfile::tempdir().unwrap();
        let bad = HttpConfig { dsfr_dir: Some(empty.path().to_owned()), ..HttpConfig::default() };
        let problem = bad.validate().unwrap_err();
        assert!(problem.contains("http.dsfr_dir") && problem.contains("dsfr.min.css") && problem.contains("scripts/services.sh dsfr"), "{problem}");
        std::fs::write(empty.path().join("dsfr.min.css"), "").unwrap();
        let good = HttpConfig { dsfr_dir: Some(empty.path().to_owned()), ..HttpConfig::default() };
        assert!(good.validate().is_ok());
        assert!(HttpConfig::default().validate().is_ok(), "unset: the pages work unstyled, and say so");
    }
}
