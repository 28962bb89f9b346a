//! E-mail notifications: the [`Mailer`] boundary (one letter to the SMTP server), its
//! SMTP back end ([`SmtpMailer`], lettre), and the relay that delivers what decisions
//! wrote to the mail outbox ([`MailRelay`], see [`crate::index::MailOutbox`]).
//!
//! Why a mail outbox and not the broker's: the broker's relay runs in every process and
//! must never wait on an SMTP server; mail has its own outages (the SMTP server down for
//! an hour is ordinary), its own pace (a letter retried with growing delays, each on its
//! own) and is sent only by processes told how to reach the SMTP server (`[mail]`).

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::index::{Letter, MailBacklog, PendingMail};
use crate::{EvidenceIndex, StorageError};

/// How the connection to the SMTP server is protected.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpSecurity {
    /// Plain connection upgraded by STARTTLS, which the server must offer (port 587).
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No TLS: only towards this machine (a local MTA that relays onwards).
    None,
}

/// `[mail]`: e-mail notifications of controllers' decisions. Off by default.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MailConfig {
    /// Whether decisions write e-mails and this process delivers them.
    pub enabled: bool,
    /// The SMTP server (submission or relay).
    pub smtp_host: String,
    /// Unset: 587 for `starttls`, 465 for `tls`, 25 for `none`.
    pub smtp_port: Option<u16>,
    pub security: SmtpSecurity,
    /// SMTP AUTH, when the server asks for it (both or neither).
    pub username: Option<String>,
    pub password: Option<String>,
    /// The sender, `Name <address>` or an address (`CaRE <ne-pas-repondre@example.fr>`);
    /// its domain is also the Message-IDs' right part.
    pub from: String,
    /// The public address of caregate (`https://caregate.example.fr`), which the
    /// e-mails' links to the establishment's space start with.
    pub public_base_url: String,
    /// One SMTP exchange at most (connect, TLS, send).
    pub timeout_secs: u64,
    /// The wait after a letter's first failure; doubled after each next one.
    pub retry_first_secs: u64,
    /// The longest wait between two attempts (a letter is never given up).
    pub retry_max_secs: u64,
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            smtp_host: "localhost".to_owned(),
            smtp_port: None,
            security: SmtpSecurity::Starttls,
            username: None,
            password: None,
            from: String::new(),
            public_base_url: String::new(),
            timeout_secs: 30,
            retry_first_secs: 10,
            retry_max_secs: 1800,
        }
    }
}

fn is_loopback_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost") || host.trim_matches(['[', ']']).parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl MailConfig {
    /// Each problem names its key under `[mail]`. Off, only the timings are checked.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        if self.timeout_secs == 0 {
            problems.push("timeout_secs must be at least 1".to_owned());
        }
        if self.retry_first_secs == 0 {
            problems.push("retry_first_secs must be at least 1 (0 retries at once, in a loop)".to_owned());
        }
        if self.retry_max_secs < self.retry_first_secs {
            problems.push(format!("retry_max_secs ({}) must not be below retry_first_secs ({})", self.retry_max_secs, self.retry_first_secs));
        }
        if self.enabled {
            if self.smtp_host.trim().is_empty() {
                problems.push("smtp_host is empty".to_owned());
            }
            if self.smtp_port == Some(0) {
                problems.push("smtp_port must not be 0".to_owned());
            }
            if self.security == SmtpSecurity::None && !is_loopback_host(&self.smtp_host) {
                problems.push(format!(
                    "security = \"none\" sends mail in clear: only towards this machine (localhost, 127.0.0.1), not {:?}; use starttls or tls",
                    self.smtp_host
                ));
            }
            if self.username.is_some() != self.password.is_some() {
                problems.push("username and password go together".to_owned());
            }
            if let Err(e) = self.sender() {
                problems.push(e);
            }
            let base = self.public_base_url.trim_end_matches('/');
            let ok = (base.starts_with("https://") || base.starts_with("http://")) && !base.contains(['?', '#', ' ']) && base.len() > "https://".len();
            if !ok {
                problems.push(format!("public_base_url = {:?}: caregate's public address, e.g. https://caregate.example.fr", self.public_base_url));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// The sender as a mailbox.
    pub fn sender(&self) -> Result<Mailbox, String> {
        Mailbox::from_str(self.from.trim()).map_err(|e| format!("from = {:?} is not a sender (`Name <address>` or an address): {e}", self.from))
    }

    /// The right part of the Message-IDs: the sender's domain.
    pub fn message_id_domain(&self) -> String {
        self.sender().map(|m| m.email.domain().to_owned()).unwrap_or_else(|_| "caregate.invalid".to_owned())
    }

    /// The public base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        self.public_base_url.trim_end_matches('/')
    }

    fn port(&self) -> u16 {
        self.smtp_port.unwrap_or(match self.security {
            SmtpSecurity::Starttls => 587,
            SmtpSecurity::Tls => 465,
            SmtpSecurity::None => 25,
        })
    }

    /// The wait before the next attempt of a letter that failed `failures` times.
    pub fn backoff(&self, failures: u32) -> Duration {
        let first = self.retry_first_secs.max(1);
        let secs = first.saturating_mul(1u64 << failures.saturating_sub(1).min(30)).min(self.retry_max_secs.max(first));
        Duration::from_secs(secs)
    }
}

/// Why a letter was not taken.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The server is unreachable, timed out, or answered 4xx: try again later.
    #[error("SMTP server unavailable: {0}")]
    Transient(String),
    /// The server refused the letter (5xx: an unknown recipient, a refused sender) or it
    /// cannot be written: trying again soon would change nothing.
    #[error("SMTP server refused the message: {0}")]
    Permanent(String),
}

/// Hands one letter to the mail system.
///
/// Contract: `send` returns `Ok` only once the server took responsibility for the letter
/// (its 250 after the data); an error says whether trying again later may succeed. It
/// may be called again with the same letter at will: the copy carries the same
/// Message-ID, by which mail clients recognise it.
#[async_trait]
pub trait Mailer: Send + Sync + 'static {
    async fn send(&self, letter: &Letter) -> Result<(), MailError>;
    fn describe(&self) -> String;
}

/// The SMTP back end, with lettre: STARTTLS or TLS through rustls, AUTH when configured.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    describe: String,
}

impl SmtpMailer {
    pub fn new(config: &MailConfig) -> Result<Self, MailError> {
        let builder = match config.security {
            SmtpSecurity::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&config.smtp_host),
            SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&config.smtp_host),
            SmtpSecurity::None => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(config.smtp_host.clone())),
        }
        .map_err(|e| MailError::Permanent(format!("SMTP server {:?}: {e}", config.smtp_host)))?;
        let mut builder = builder.port(config.port()).timeout(Some(Duration::from_secs(config.timeout_secs)));
        if let (Some(user), Some(password)) = (&config.username, &config.password) {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        Ok(Self {
            transport: builder.build(),
            from: config.sender().map_err(MailError::Permanent)?,
            describe: format!("smtp {}:{} ({:?})", config.smtp_host, config.port(), config.security),
        })
    }

    fn message(&self, letter: &Letter) -> Result<Message, MailError> {
        let to = Mailbox::from_str(&letter.to).map_err(|e| MailError::Permanent(format!("recipient {:?}: {e}", letter.to)))?;
        Message::builder()
            .message_id(Some(letter.message_id.clone()))
            .from(self.from.clone())
            .to(to)
            .subject(letter.subject.clone())
            .header(ContentType::TEXT_PLAIN)
            .body(letter.text.clone())
            .map_err(|e| MailError::Permanent(format!("writing the message: {e}")))
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, letter: &Letter) -> Result<(), MailError> {
        let message = self.message(letter)?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(MailError::Permanent(e.to_string())),
            // Connection refused, timeouts, TLS handshakes and 4xx: the server may be back
            // (or accept) later.
            Err(e) => Err(MailError::Transient(e.to_string())),
        }
    }

    fn describe(&self) -> String {
        self.describe.clone()
    }
}

/// How long a relay holds the letters it sends, at least: a batch is sent in well under
/// (each exchange is bounded by `timeout_secs`, and the lease covers a whole batch's).
const LEASE_FLOOR: Duration = Duration::from_secs(60);
/// Letters sent per claim.
const BATCH: u32 = 10;

/// What became of one letter.
enum Delivered {
    Sent,
    /// Refused by the server: kept, tried again at the longest delay.
    Refused,
    /// The server is unreachable: tried again from then.
    Later(chrono::DateTime<Utc>),
}
/// How often the relay looks for letters nobody woke it for (written by another
/// process, or due again after a failure).
const POLL: Duration = Duration::from_secs(1);

/// Delivers the mail outbox, one per process that has `[mail]` enabled (several may run:
/// a letter is held by one at a time).
///
/// Contract: at least once, never lost. A letter leaves the outbox only once the SMTP
/// server took it; a failure keeps it, tried again after a growing delay
/// ([`MailConfig::backoff`], never given up; a refusal waits the longest delay and is
/// logged as an error, for an operator to see); a relay stopped or crashed anywhere leaves
/// its letters to the next one after their lease. The one duplicate possible is a letter
/// the server took just before the relay could record it: sent again, with the same
/// Message-ID.
pub struct MailRelay {
    index: Arc<dyn EvidenceIndex>,
    mailer: Arc<dyn Mailer>,
    config: MailConfig,
    lease: Duration,
    wake: Notify,
    /// Set while the SMTP server is found unreachable, so an outage is logged once.
    down: AtomicBool,
}

impl MailRelay {
    pub fn new(index: Arc<dyn EvidenceIndex>, mailer: Arc<dyn Mailer>, config: MailConfig) -> Self {
        let lease = LEASE_FLOOR.max(Duration::from_secs(config.timeout_secs.saturating_mul(BATCH as u64 + 1)));
        Self { index, mailer, config, lease, wake: Notify::new(), down: AtomicBool::new(false) }
    }

    /// The relay of `[mail]` over the SMTP back end; `None` when mail is off.
    pub fn from_config(index: Arc<dyn EvidenceIndex>, config: &MailConfig) -> Result<Option<Arc<Self>>, MailError> {
        if !config.enabled {
            return Ok(None);
        }
        let mailer = Arc::new(SmtpMailer::new(config)?);
        Ok(Some(Arc::new(Self::new(index, mailer, config.clone()))))
    }

    pub fn config(&self) -> &MailConfig {
        &self.config
    }

    pub fn describe(&self) -> String {
        self.mailer.describe()
    }

    /// Something was just written: look now rather than at the next poll.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub async fn backlog(&self) -> Result<MailBacklog, StorageError> {
        self.index.mail_backlog().await
    }

    /// Sends one batch of due letters, one after the other; how many the server took.
    /// The first letter that finds the server unreachable ends the batch: the others wait
    /// as long as it does, so an outage costs one attempt per delay, not one per letter.
    pub async fn relay_once(&self) -> Result<usize, StorageError> {
        let mut batch = self.index.mail_claim(self.lease, BATCH).await?.into_iter();
        let mut sent = 0;
        while let Some(pending) = batch.next() {
            match self.deliver(pending).await? {
                Delivered::Sent => sent += 1,
                Delivered::Refused => {}
                Delivered::Later(next) => {
                    let rest: Vec<i64> = batch.map(|p| p.seq).collect();
                    if !rest.is_empty() {
                        self.index.mail_defer(&rest, next).await?;
                    }
                    break;
                }
            }
        }
        Ok(sent)
    }

    async fn deliver(&self, pending: PendingMail) -> Result<Delivered, StorageError> {
        let PendingMail { seq, attempts, letter } = pending;
        let error = match self.mailer.send(&letter).await {
            Ok(()) => {
                // Should this fail, the letter is sent again after its lease: a duplicate
                // with the same Message-ID, never a loss.
                self.index.mail_sent(seq).await?;
                metrics::counter!("caregate_mail_sent_total").increment(1);
                if self.down.swap(false, Ordering::Relaxed) {
                    tracing::info!(smtp = %self.mailer.describe(), "the SMTP server takes mail again: the waiting e-mails are being sent");
                }
                return Ok(Delivered::Sent);
            }
            Err(e) => e,
        };
        metrics::counter!("caregate_mail_failures_total").increment(1);
        let failures = attempts + 1;
        let wait = match &error {
            MailError::Transient(_) => {
                if !self.down.swap(true, Ordering::Relaxed) {
                    tracing::warn!(error = %error, smtp = %self.mailer.describe(), "e-mails cannot be sent for now: they wait in the mail outbox and are tried again");
                }
                self.config.backoff(failures)
            }
            MailError::Permanent(_) => {
                tracing::error!(error = %error, message_id = %letter.message_id, to = %letter.to, "the SMTP server refused an e-mail: kept in the mail outbox, tried again at the longest delay");
                Duration::from_secs(self.config.retry_max_secs)
            }
        };
        let next = Utc::now() + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::seconds(60));
        self.index.mail_failed(seq, next, &error.to_string()).await?;
        Ok(match error {
            MailError::Transient(_) => Delivered::Later(next),
            MailError::Permanent(_) => Delivered::Refused,
        })
    }

    /// Delivers the mail outbox until `shutdown`: woken by decisions, and every second
    /// for letters due again. The batch being sent when `shutdown` comes is finished
    /// (at most ten letters, each bounded by `timeout_secs`).
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let mut pause = Duration::from_millis(500);
        loop {
            let wait = match self.relay_once().await {
                Ok(n) if n as u32 >= BATCH => Duration::ZERO,
                Ok(_) => {
                    pause = Duration::from_millis(500);
                    POLL
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the mail outbox cannot be read for now");
                    pause = (pause * 2).min(Duration::from_secs(30));
                    pause
                }
            };
            if shutdown.is_cancelled() {
                return;
            }
            if wait.is_zero() {
                continue;
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Starts [`Self::run`] in the background.
    pub fn spawn(self: &Arc<Self>, shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
        tokio::spawn(self.clone().run(shutdown))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enabled() -> MailConfig {
        MailConfig {
            enabled: true,
            smtp_host: "smtp.example.fr".into(),
            from: "CaRE <ne-pas-repondre@caregate.example.fr>".into(),
            public_base_url: "https://caregate.example.fr/".into(),
            ..MailConfig::default()
        }
    }

    #[test]
    fn off_by_default_and_the_default_is_valid() {
        let c = MailConfig::default();
        assert!(!c.enabled);
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn an_enabled_config_needs_a_sender_and_a_public_address() {
        assert_eq!(enabled().validate(), Ok(()));
        assert_eq!(enabled().message_id_domain(), "caregate.example.fr");
        assert_eq!(enabled().base_url(), "https://caregate.example.fr");
        let bare = MailConfig { enabled: true, ..MailConfig::default() };
        let problems = bare.validate().unwrap_err();
        assert!(problems.iter().any(|p| p.starts_with("from = ")), "{problems:?}");
        assert!(problems.iter().any(|p| p.starts_with("public_base_url = ")), "{problems:?}");
        let bad = MailConfig { from: "pas une adresse".into(), public_base_url: "caregate.example.fr".into(), ..enabled() };
        assert_eq!(bad.validate().unwrap_err().len(), 2);
    }

    #[test]
    fn clear_text_only_towards_this_machine() {
        let remote = MailConfig { security: SmtpSecurity::None, ..enabled() };
        assert!(remote.validate().unwrap_err()[0].contains("only towards this machine"));
        for host in ["localhost", "127.0.0.1", "::1", "[::1]"] {
            let local = MailConfig { security: SmtpSecurity::None, smtp_host: host.into(), ..enabled() };
            assert_eq!(local.validate(), Ok(()), "{host}");
        }
        assert_eq!(MailConfig { security: SmtpSecurity::None, ..MailConfig::default() }.port(), 25);
        assert_eq!(MailConfig { security: SmtpSecurity::Tls, ..MailConfig::default() }.port(), 465);
        assert_eq!(MailConfig::default().port(), 587);
    }

    #[test]
    fn credentials_go_together_and_timings_are_checked() {
        let half = MailConfig { username: Some("u".into()), ..enabled() };
        assert_eq!(half.validate().unwrap_err(), ["username and password go together"]);
        let zero = MailConfig { timeout_secs: 0, retry_first_secs: 0, ..MailConfig::default() };
        assert_eq!(zero.validate().unwrap_err().len(), 2);
        let inverted = MailConfig { retry_first_secs: 60, retry_max_secs: 10, ..MailConfig::default() };
        assert!(inverted.validate().unwrap_err()[0].starts_with("retry_max_secs"));
    }

    #[test]
    fn the_backoff_doubles_up_to_the_longest_wait() {
        let c = MailConfig { retry_first_secs: 10, retry_max_secs: 100, ..MailConfig::default() };
        let waits: Vec<u64> = (1..=6).map(|n| c.backoff(n).as_secs()).collect();
        assert_eq!(waits, [10, 20, 40, 80, 100, 100]);
        assert_eq!(c.backoff(u32::MAX).as_secs(), 100);
    }
}
