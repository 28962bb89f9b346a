//! The last step of every job: judge the file's whole submission again and keep the
//! result. It reads only the index (records, and the same documents in other
//! submissions), so it is cheap to repeat, and it is what `caregate reverify` runs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use caregate_schemas::{SubmissionId, Verdict, Verification, SUBMISSION_NEEDS_REVIEW, SUBMISSION_VERIFIED};
use caregate_storage::{EvidenceIndex, Outbox, Outgoing, StorageError};
use caregate_verify::{dossiers_sharing_invoices, judge, set_aside_establishment_identifiers, Dossier, Referentials};

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("verification cannot be serialised: {0}")]
    Encode(#[from] serde_json::Error),
}

impl VerifyError {
    pub fn is_transient(&self) -> bool {
        matches!(self, VerifyError::Storage(e) if e.is_transient())
    }
}

/// What verifying a submission did.
#[derive(Clone, Debug, PartialEq)]
pub enum Verified {
    /// A new verification was stored (it concludes something new).
    Changed(Verification),
    /// The stored verification already says this.
    Unchanged(Verification),
    /// No referential judges this campaign.
    NoReferential(String),
    /// The submission has no record.
    Empty,
}

/// Judges submissions against the referential of their campaign.
///
/// Contract: `verify` may run any number of times, concurrently for the same
/// submission, and be interrupted anywhere: the index keeps the verification made from
/// the newest view of the submission, and a final verification is announced at least
/// once (marked announced with its announcements queued in the outbox, one transaction).
pub struct Verifier {
    index: Arc<dyn EvidenceIndex>,
    outbox: Arc<Outbox>,
    referentials: Referentials,
    provisional_every: std::time::Duration,
    /// Submissions being judged in this process, and whether another file of theirs
    /// finished meanwhile (then the judge runs once more before letting go).
    in_flight: Mutex<HashMap<SubmissionId, bool>>,
}

/// Takes a submission out of `in_flight` however the judging ends (an error, a job
/// timeout that drops the future, a panic), so it can never stay marked.
struct Flight<'a> {
    map: &'a Mutex<HashMap<SubmissionId, bool>>,
    id: SubmissionId,
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.id);
    }
}

impl Verifier {
    pub fn new(index: Arc<dyn EvidenceIndex>, outbox: Arc<Outbox>, referentials: Referentials) -> Self {
        Self { index, outbox, referentials, provisional_every: std::time::Duration::from_secs(5), in_flight: Mutex::new(HashMap::new()) }
    }

    /// How often, at most, a submission whose files are still being processed is
    /// judged (a provisional verdict); the final one is always computed.
    pub fn provisional_every(mut self, every: std::time::Duration) -> Self {
        self.provisional_every = every;
        self
    }

    /// Judges the submission after one of its files finished: now if no other file is
    /// pending (the final verdict), otherwise at most every `provisional_every`, so a
    /// dossier of thousands of files is not judged thousands of times. Within a process
    /// one judge runs per submission at a time; files finishing meanwhile make it run
    /// once more instead of starting their own.
    ///
    /// The final verdict cannot be missed: each job records its file before calling
    /// this, so of two files finishing at once, the later count sees both done; and a
    /// job whose judging is taken over returns only once the judge that took it over has
    /// been asked to run again, inside a job that is not acknowledged before it has.
    ///
    /// `None`: not judged now (files are pending and it was judged a moment ago, or a
    /// judge of it is already running); a later file's job judges it.
    pub async fn after_file(&self, id: SubmissionId) -> Result<Option<Verified>, VerifyError> {
        {
            let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(again) = in_flight.get_mut(&id) {
                *again = true;
                return Ok(None);
            }
            in_flight.insert(id, false);
        }
        let _flight = Flight { map: &self.in_flight, id };
        loop {
            let result = self.judge_if_due(id).await?;
            let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
            match in_flight.get_mut(&id) {
                Some(again) if *again => *again = false,
                _ => return Ok(result),
            }
        }
    }

    async fn judge_if_due(&self, id: SubmissionId) -> Result<Option<Verified>, VerifyError> {
        let progress = self.index.submission_progress(id).await?;
        let recent = progress.verified_at.is_some_and(|t| (chrono::Utc::now() - t).to_std().unwrap_or_default() < self.provisional_every);
        if progress.pending > 0 && recent {
            return Ok(None);
        }
        self.verify(id).await.map(Some)
    }

    pub fn referentials(&self) -> &Referentials {
        &self.referentials
    }

    /// Judges the submission, then every other submission holding one of its invoices:
    /// the one that sent it first must learn of the duplicate too (and be announced
    /// again), without waiting for a `reverify`. Those are judged once, not followed
    /// further: what they share with others was judged when those others' files came.
    pub async fn verify(&self, id: SubmissionId) -> Result<Verified, VerifyError> {
        let (verified, sharing) = self.verify_one(id).await?;
        for other in sharing {
            if let (Verified::Changed(v), _) = self.verify_one(other).await? {
                tracing::info!(submission = %other, by = %id, verdict = %v.verdict, "judged again: it shares an invoice with another submission");
            }
        }
        Ok(verified)
    }

    /// Judges one submission; also returns the other submissions holding one of its invoices.
    async fn verify_one(&self, id: SubmissionId) -> Result<(Verified, std::collections::BTreeSet<SubmissionId>), VerifyError> {
        let all = self.index.submission(id).await?;
        // Files the establishment took out of its dossier (replaced or withdrawn) are
        // kept, but no longer judged; their withdrawal is part of the view judged, so a
        // verification without them replaces the one made with them.
        let withdrawals = self.index.withdrawals(id).await?;
        let out: std::collections::HashSet<_> = withdrawals.iter().map(|w| w.evidence_id).collect();
        let withdrawn_at = withdrawals.iter().map(|w| w.withdrawn_at).max();
        // The dossier's owner is its first file's, withdrawn or not: a dossier whose every
        // file was withdrawn is still judged (nothing proves anything any more), never
        // left with the verdict its files had.
        let owner = all.iter().min_by_key(|r| (r.received_at, r.evidence_id.to_string())).map(|r| r.submission.clone());
        let mut records: Vec<_> = all.into_iter().filter(|r| !out.contains(&r.evidence_id)).collect();
        let Some(owner) = owner else {
            return Ok((Verified::Empty, Default::default()));
        };
        // The establishment's own identifiers, where an invoice still names them as its
        // seller's, are neither checked nor matched against other dossiers' invoices.
        let own = self.index.establishment_identifiers(&owner.establishment).await?;
        set_aside_establishment_identifiers(&mut records, &own);
        let campaign = owner.campaign.clone();
        let Some(referential) = self.referentials.for_campaign(&campaign) else {
            return Ok((Verified::NoReferential(campaign), Default::default()));
        };
        let done = records.iter().filter(|r| r.status.is_terminal());
        let hashes: Vec<_> = done.clone().map(|r| r.sha256).collect();
        let keys: Vec<String> = done.filter_map(|r| r.invoice_key()).collect();
        let related = self.index.same_documents(id, &hashes, &keys).await?;
        let dossier = Dossier { submission_id: id, records: &records, related: &related };
        let mut verification = judge(&referential, &dossier, chrono::Utc::now());
        if records.is_empty() {
            verification.establishment = owner.establishment;
            verification.campaign = owner.campaign;
        }
        if let Some(t) = withdrawn_at.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)).filter(|t| *t > verification.basis) {
            verification.basis = t;
        }
        let sharing = dossiers_sharing_invoices(&dossier);
        let changed = self.index.put_verification(&verification).await?;
        if let Some(current) = self.index.unannounced(id).await? {
            self.announce(&current).await?;
        }
        Ok((if changed { Verified::Changed(verification) } else { Verified::Unchanged(verification) }, sharing))
    }

    async fn announce(&self, v: &Verification) -> Result<(), VerifyError> {
        let body = serde_json::to_value(v)?;
        let mut announcements = vec![Outgoing::Announcement { topic: SUBMISSION_VERIFIED.to_owned(), body: body.clone() }];
        if v.objectives.iter().any(|o| o.verdict == Verdict::NeedsReview) {
            announcements.push(Outgoing::Announcement { topic: SUBMISSION_NEEDS_REVIEW.to_owned(), body });
        }
        let queued = self.index.announce_verification(v.submission_id, &v.conclusions_digest(), announcements).await?;
        self.outbox.send_now(queued).await;
        tracing::info!(submission = %v.submission_id, verdict = %v.verdict, "submission verified");
        Ok(())
    }
}
