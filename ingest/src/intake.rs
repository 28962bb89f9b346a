use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use caregate_schemas::{EvidenceId, EvidenceRecord, Sha256Digest, SubmissionId, SubmissionRef};
use caregate_storage::{Backends, EvidenceIndex, KeyedReceipt, ObjectStore, Outbox, StorageError};
use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tempfile::TempPath;
use tokio::io::AsyncWriteExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use utoipa::ToSchema;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IntakeConfig {
    /// Largest file accepted. Keep it at or below clamd's StreamMaxLength, MaxFileSize and
    /// MaxScanSize, or large files could never be fully scanned.
    pub max_file_bytes: u64,
    /// Largest HTTP request body (several files may travel in one request).
    pub max_request_bytes: u64,
    /// Upload requests handled at once; more get 429 with Retry-After.
    pub max_concurrent_uploads: usize,
    /// Of those, held at once by one account: a single client (or a stalled script)
    /// never takes every slot.
    pub max_uploads_per_account: usize,
    /// Longest text field of an upload form (`establishment`, `campaign`...), in bytes.
    pub max_field_bytes: u64,
    /// Most bytes read between two parts' contents, which a part's header block must
    /// fit in (with the boundary): headers are buffered whole while they are parsed.
    pub max_part_header_bytes: u64,
    /// Slowest upload kept, in bytes per second on average, once it has run for a
    /// minute: a client trickling bytes to hold its slot is cut off (408).
    pub min_upload_bytes_per_sec: u64,
    /// Where uploads are spooled while hashed; the system temp dir when unset.
    pub spool_dir: Option<PathBuf>,
}

impl Default for IntakeConfig {
    fn default() -> Self {
        Self {
            max_file_bytes: 1536 * 1024 * 1024,
            max_request_bytes: 2048 * 1024 * 1024,
            max_concurrent_uploads: 64,
            max_uploads_per_account: 8,
            max_field_bytes: 1024,
            max_part_header_bytes: 64 * 1024,
            min_upload_bytes_per_sec: 1024,
            spool_dir: None,
        }
    }
}

impl IntakeConfig {
    /// Limits that would refuse every upload or never bind; each problem names its key
    /// under `[intake]`.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        for (key, value) in [
            ("max_file_bytes", self.max_file_bytes),
            ("max_request_bytes", self.max_request_bytes),
            ("max_concurrent_uploads", self.max_concurrent_uploads as u64),
            // Above `max_concurrent_uploads` it simply never binds.
            ("max_uploads_per_account", self.max_uploads_per_account as u64),
        ] {
            if value == 0 {
                problems.push(format!("{key} must be at least 1"));
            }
        }
        if self.max_file_bytes > self.max_request_bytes {
            problems.push(format!(
                "max_file_bytes ({}) is larger than max_request_bytes ({}): such a file could never be uploaded",
                self.max_file_bytes, self.max_request_bytes
            ));
        }
        if !(64..=65536).contains(&self.max_field_bytes) {
            problems.push(format!("max_field_bytes = {} (64 to 65536)", self.max_field_bytes));
        }
        if !(1024..=16 * 1024 * 1024).contains(&self.max_part_header_bytes) {
            problems.push(format!("max_part_header_bytes = {} (1 KiB to 16 MiB)", self.max_part_header_bytes));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("refused file name {0:?}: {1}")]
    BadName(String, &'static str),
    #[error("invalid {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("file larger than the {limit}-byte limit")]
    TooLarge { limit: u64 },
    #[error("request body over the server's size limit")]
    RequestTooLarge,
    #[error("malformed upload: {0}")]
    Malformed(String),
    #[error("too many uploads in progress, try again shortly")]
    Busy,
    /// One account holds its whole share of the upload slots.
    #[error("trop d'envois en cours pour ce compte ({limit} au plus) : réessayez quand les précédents sont terminés")]
    AccountBusy { limit: usize },
    /// The client stopped sending, or sends too slowly to ever finish.
    #[error("envoi interrompu : {0}")]
    Stalled(String),
    /// A campaign, objective or category the deployment does not know, or an id that
    /// cannot be a submission's.
    #[error("{field} inconnu : {reason}")]
    Unknown { field: &'static str, reason: String },
    /// A form field sent twice, or after the first file.
    #[error("formulaire mal ordonné : {0}")]
    FieldOrder(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("spooling the upload: {0}")]
    Io(#[from] std::io::Error),
}

/// What the uploader gets back for each file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Receipt {
    pub evidence_id: EvidenceId,
    pub submission_id: SubmissionId,
    pub path: String,
    pub sha256: Sha256Digest,
    pub size: u64,
}

/// A file fully received and hashed on local disk, not yet handed to the pipeline.
pub struct Spooled {
    pub path: String,
    pub file: TempPath,
    pub sha256: Sha256Digest,
    pub size: u64,
}

/// The name rules are the schemas' (shared with archive expansion); the intake's callers
/// keep finding them here.
pub use caregate_schemas::names::sanitize_name;

impl From<caregate_schemas::names::NameError> for IntakeError {
    fn from(e: caregate_schemas::names::NameError) -> Self {
        IntakeError::BadName(e.raw, e.reason)
    }
}

/// FINESS: 9 characters, digits, except Corsica's department code `2A`/`2B` in the first
/// two (e.g. `2A0000022`).
pub fn validate_finess(s: &str) -> Result<(), IntakeError> {
    let ok = s.len() == 9
        && s.chars().enumerate().all(|(i, c)| c.is_ascii_digit() || (i == 1 && (c == 'A' || c == 'B')))
        && (s.as_bytes()[1].is_ascii_digit() || s.as_bytes()[0] == b'2');
    if ok {
        Ok(())
    } else {
        Err(IntakeError::Invalid { field: "establishment", reason: format!("{s:?} is not a FINESS number (9 digits; 2A/2B first for Corsica)") })
    }
}

fn validate_token(field: &'static str, s: &str, allowed: impl Fn(char) -> bool) -> Result<(), IntakeError> {
    if !s.is_empty() && s.len() <= 64 && s.chars().all(allowed) {
        Ok(())
    } else {
        Err(IntakeError::Invalid { field, reason: format!("{s:?} has characters or a length that are not allowed") })
    }
}

/// Checks who is submitting what, before any byte is accepted.
pub fn validate_submission(sub: &SubmissionRef) -> Result<(), IntakeError> {
    validate_finess(&sub.establishment)?;
    validate_token("campaign", &sub.campaign, |c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')?;
    for o in &sub.objectives {
        validate_token("objective", o, |c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_')?;
    }
    if let Some(c) = &sub.category {
        validate_token("category", c, |c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')?;
    }
    Ok(())
}

/// What [`Intake::check_known`] checks, against these referentials.
pub fn known(referentials: &caregate_verify::Referentials, sub: &SubmissionRef) -> Result<(), IntakeError> {
    if sub.submission_id.0.is_nil() {
        return Err(IntakeError::Unknown { field: "submission_id", reason: "l'identifiant nul ne désigne aucun dossier".into() });
    }
    let Some(r) = referentials.for_campaign(&sub.campaign) else {
        let known: Vec<&str> = referentials.campaigns().collect();
        return Err(IntakeError::Unknown { field: "campaign", reason: format!("{:?} (campagnes ouvertes : {})", sub.campaign, known.join(", ")) });
    };
    for o in &sub.objectives {
        if !r.objectives.iter().any(|x| &x.id == o) {
            let ids: Vec<&str> = r.objectives.iter().map(|x| x.id.as_str()).collect();
            return Err(IntakeError::Unknown { field: "objective", reason: format!("{o:?} n'est pas un objectif de {} ({})", r.id, ids.join(", ")) });
        }
    }
    if let Some(c) = &sub.category {
        if !r.ceilings.contains_key(c) {
            let names: Vec<&str> = r.ceilings.keys().map(String::as_str).collect();
            return Err(IntakeError::Unknown { field: "category", reason: format!("{c:?} n'est pas une catégorie de {} ({})", r.id, names.join(", ")) });
        }
    }
    Ok(())
}

/// The intake: uploads become quarantined objects, `received` records and jobs.
///
/// Contract: a receipt is returned only once the bytes are in quarantine and the record
/// with its job is committed; a retried upload without a key makes a new record (the
/// stale copy of an interrupted one is swept), with a key it returns the first receipt.
#[derive(Clone)]
pub struct Intake {
    quarantine: Arc<dyn ObjectStore>,
    index: Arc<dyn EvidenceIndex>,
    outbox: Arc<Outbox>,
    config: IntakeConfig,
    spool_dir: PathBuf,
    permits: Arc<Semaphore>,
    /// Upload slots held per account (entries leave at zero).
    held: Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>>,
    /// What may be submitted to: each campaign's objectives and categories.
    referentials: Arc<caregate_verify::Referentials>,
}

/// One upload slot, and the account's share of it; both are given back on drop.
pub struct UploadSlot {
    _permit: OwnedSemaphorePermit,
    account: String,
    held: Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>>,
}

impl Drop for UploadSlot {
    fn drop(&mut self) {
        let mut held = self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = held.get_mut(&self.account) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                held.remove(&self.account);
            }
        }
    }
}

impl Intake {
    /// Where files in transit are spooled (uploads, and downloads being checked).
    pub fn spool_dir(&self) -> &std::path::Path {
        &self.spool_dir
    }

    pub fn new(backends: &Backends, config: IntakeConfig, referentials: Arc<caregate_verify::Referentials>) -> Result<Self, IntakeError> {
        let spool_dir = config.spool_dir.clone().unwrap_or_else(std::env::temp_dir);
        std::fs::create_dir_all(&spool_dir)?;
        Ok(Self {
            quarantine: backends.quarantine.clone(),
            index: backends.index.clone(),
            outbox: backends.outbox.clone(),
            permits: Arc::new(Semaphore::new(config.max_concurrent_uploads)),
            held: Arc::default(),
            referentials,
            spool_dir,
            config,
        })
    }

    pub fn config(&self) -> &IntakeConfig {
        &self.config
    }

    /// What may be submitted to: each campaign's objectives and categories.
    pub fn referentials(&self) -> &caregate_verify::Referentials {
        &self.referentials
    }

    /// Admits one upload, or says at once that we are busy (never queue work that will
    /// time out).
    pub fn try_admit(&self) -> Result<OwnedSemaphorePermit, IntakeError> {
        self.permits.clone().try_acquire_owned().map_err(|_| IntakeError::Busy)
    }

    /// [`Self::try_admit`] for one account, within its share
    /// ([`IntakeConfig::max_uploads_per_account`]): past it, that account is told to wait
    /// while everyone else still gets in.
    pub fn try_admit_for(&self, account: &str) -> Result<UploadSlot, IntakeError> {
        let mut held = self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = held.entry(account.to_owned()).or_insert(0);
        if *n >= self.config.max_uploads_per_account {
            return Err(IntakeError::AccountBusy { limit: self.config.max_uploads_per_account });
        }
        let permit = self.permits.clone().try_acquire_owned().map_err(|_| IntakeError::Busy)?;
        *n += 1;
        Ok(UploadSlot { _permit: permit, account: account.to_owned(), held: self.held.clone() })
    }

    /// Refuses what this deployment cannot judge: an unknown campaign, an objective
    /// that is not the campaign's, a category it sets no ceiling for, the nil id.
    pub fn check_known(&self, sub: &SubmissionRef) -> Result<(), IntakeError> {
        known(&self.referentials, sub)
    }

    /// Streams a file to local disk while hashing it, enforcing the size limit. Only the
    /// current chunk is ever in memory.
    pub async fn spool<S, E>(&self, name: &str, body: S) -> Result<Spooled, IntakeError>
    where
        S: Stream<Item = Result<Bytes, E>>,
        E: Into<IntakeError>,
    {
        let path = sanitize_name(name)?;
        let (file, temp) = tempfile::Builder::new().prefix("upload-").tempfile_in(&self.spool_dir)?.into_parts();
        let mut file = tokio::fs::File::from_std(file);
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut body = std::pin::pin!(body);
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(Into::into)?;
            size += chunk.len() as u64;
            if size > self.config.max_file_bytes {
                return Err(IntakeError::TooLarge { limit: self.config.max_file_bytes });
            }
            hasher.update(&chunk);
            file.write_all(&chunk).await?;
        }
        file.flush().await?;
        Ok(Spooled { path, file: temp, sha256: hasher.into(), size })
    }

    /// Hands a spooled file to the pipeline: quarantine, then the record with its job in
    /// the outbox (one transaction), then the job sent. In that order a crash leaves at
    /// worst an unsent job in the outbox, which the relay sends; a broker outage delays
    /// the job, never the upload.
    /// `uploaded_by`: the actor of an authenticated upload, kept in the record and its
    /// `received` event.
    pub async fn commit(&self, sub: &SubmissionRef, spooled: Spooled, uploaded_by: Option<&str>) -> Result<Receipt, IntakeError> {
        self.commit_keyed(sub, spooled, uploaded_by, None).await
    }

    /// [`Self::commit`] under an idempotency key (already scoped to the caller): the
    /// first upload under the key is recorded; a repeat of it (a client retrying after a
    /// lost answer) gets the first one's receipt (its job is in the outbox already). The
    /// same key with other bytes is refused.
    pub async fn commit_keyed(&self, sub: &SubmissionRef, spooled: Spooled, uploaded_by: Option<&str>, key: Option<&str>) -> Result<Receipt, IntakeError> {
        let evidence_id = EvidenceId::new();
        let quarantine_key = evidence_id.quarantine_key();
        self.quarantine.put_owned(&quarantine_key, spooled.file, &spooled.sha256).await?;
        let mut record = EvidenceRecord::received(evidence_id, sub.clone(), spooled.path.clone(), spooled.sha256, spooled.size, quarantine_key.clone());
        record.uploaded_by = uploaded_by.map(str::to_owned);
        let queued = match key {
            Some(key) => match self.index.record_received_once(&record, key).await? {
                KeyedReceipt::Recorded(queued) => queued,
                KeyedReceipt::Repeat(first) => return self.repeated(first, &quarantine_key, &spooled.sha256).await,
            },
            None => self.index.record_received(&record).await?,
        };
        self.outbox.send_now(queued.into_iter().collect()).await;
        tracing::info!(evidence = %evidence_id, path = %spooled.path, size = spooled.size, "received");
        Ok(Receipt { evidence_id, submission_id: sub.submission_id, path: spooled.path, sha256: spooled.sha256, size: spooled.size })
    }

    /// The receipt of the first upload under a key, for its repeat.
    async fn repeated(&self, first: EvidenceId, quarantine_key: &str, sha256: &Sha256Digest) -> Result<Receipt, IntakeError> {
        // This copy is not needed; the sweep would remove it too, later.
        if let Err(e) = self.quarantine.delete(quarantine_key).await {
            tracing::warn!(error = %e, "could not remove the quarantined copy of a repeated upload");
        }
        let first =
            self.index.get(first).await?.ok_or_else(|| IntakeError::Malformed(format!("idempotency key names evidence {first}, which has no record")))?;
        if first.sha256 != *sha256 {
            return Err(IntakeError::Invalid {
                field: "Idempotency-Key",
                reason: format!("already used for other bytes ({}, sha256 {})", first.path, first.sha256),
            });
        }
        tracing::info!(evidence = %first.evidence_id, path = %first.path, "repeated upload: the first receipt stands");
        Ok(Receipt { evidence_id: first.evidence_id, submission_id: first.submission.submission_id, path: first.path, sha256: first.sha256, size: first.size })
    }

    /// Spool and commit in one go (command-line submissions, one file at a time).
    pub async fn receive<S, E>(&self, sub: &SubmissionRef, name: &str, body: S) -> Result<Receipt, IntakeError>
    where
        S: Stream<Item = Result<Bytes, E>>,
        E: Into<IntakeError>,
    {
        validate_submission(sub)?;
        self.check_known(sub)?;
        let spooled = self.spool(name, body).await?;
        self.commit(sub, spooled, None).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intake_config_names_each_bad_key() {
        assert!(IntakeConfig::default().validate().is_ok());
        let bad = IntakeConfig { max_concurrent_uploads: 0, max_file_bytes: 10, max_request_bytes: 5, max_field_bytes: 1, ..IntakeConfig::default() };
        let problems = bad.validate().unwrap_err();
        assert_eq!(problems[0], "max_concurrent_uploads must be at least 1");
        assert!(problems[1].starts_with("max_file_bytes (10) is larger than max_request_bytes (5)"), "{problems:?}");
        assert_eq!(problems[2], "max_field_bytes = 1 (64 to 65536)");
        assert_eq!(problems.len(), 3);
    }

    #[test]
    fn names_are_cleaned_and_traversal_refused() {
        assert_eq!(sanitize_name("facture été.pdf").unwrap(), "facture été.pdf");
        assert_eq!(sanitize_name("dossier\\sous/./rapport.pdf").unwrap(), "dossier/sous/rapport.pdf");
        assert_eq!(sanitize_name("a\u{7}b.pdf").unwrap(), "ab.pdf");
        for bad in ["../../etc/passwd", "/etc/passwd", "C:\\Windows\\x", "a/../../b", "", "a\0b", "..\\x"] {
            assert!(sanitize_name(bad).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn finess_and_campaign_are_checked() {
        let sub = |e: &str, c: &str| SubmissionRef {
            submission_id: SubmissionId::new(),
            establishment: e.into(),
            campaign: c.into(),
            objectives: vec!["D1.AD.AUDIT".into()],
            category: None,
        };
        assert!(validate_submission(&sub("750000001", "care-d1-2024")).is_ok());
        assert!(validate_submission(&sub("2A0000022", "care-d1-2024")).is_ok());
        assert!(validate_submission(&sub("2B0000001", "care-d1-2024")).is_ok());
        assert!(validate_submission(&sub("3A0000001", "care-d1-2024")).is_err());
        assert!(validate_submission(&sub("75A000001", "care-d1-2024")).is_err());
        assert!(validate_submission(&sub("75000001", "care-d1-2024")).is_err());
        assert!(validate_submission(&sub("750000001", "CARE D1")).is_err());
    }
}
