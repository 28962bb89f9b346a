//! `caregate fixity`: years later, prove the stored files are still the files received.
//! Every stored object is read again (streamed, never whole in memory) and its SHA-256
//! and size compared with the record made at intake. A mismatch or a missing object is
//! reported, and written into the evidence's append-only history.

use caregate_schemas::{EvidenceRecord, Sha256Digest};
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;
use serde_json::json;

use crate::App;

/// What re-reading one stored object found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Fixity {
    Intact,
    /// The object's bytes no longer hash to the recorded digest.
    Mismatch {
        actual_sha256: String,
        actual_size: u64,
    },
    Missing,
}

#[derive(Debug, Default, Serialize)]
pub struct FixityReport {
    pub checked: usize,
    pub intact: usize,
    /// Every object that is not intact, with its record's path and id.
    pub problems: Vec<(String, String, Fixity)>,
}

impl FixityReport {
    pub fn summary(&self) -> String {
        format!("{} objects checked: {} intact, {} damaged or missing", self.checked, self.intact, self.problems.len())
    }
}

/// Streams a stored object through SHA-256, copying it to `copy` on the way when given;
/// `None` when the object is not there.
pub(crate) async fn hash_object(app: &App, key: &str, copy: Option<&mut tokio::fs::File>) -> anyhow::Result<Option<(Sha256Digest, u64)>> {
    match caregate_storage::hash_object(app.backends.evidence.as_ref(), key, copy).await {
        Ok(found) => Ok(Some(found)),
        Err(caregate_storage::StorageError::NotFound(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

async fn check_one(app: &App, rec: &EvidenceRecord, key: &str) -> anyhow::Result<Fixity> {
    Ok(match hash_object(app, key, None).await? {
        None => Fixity::Missing,
        Some((actual, size)) if actual == rec.sha256 && size == rec.size => Fixity::Intact,
        Some((actual, size)) => Fixity::Mismatch { actual_sha256: actual.hex(), actual_size: size },
    })
}

/// Checks every stored object of records received since `since` (all when `None`), four
/// at a time; `each` sees every result as it comes.
pub async fn run(app: &App, since: Option<DateTime<Utc>>, mut each: impl FnMut(&EvidenceRecord, &Fixity)) -> anyhow::Result<FixityReport> {
    let mut report = FixityReport::default();
    let mut after: Option<EvidenceRecord> = None;
    loop {
        let page = app.backends.index.stored_records(since, after.as_ref(), 500).await?;
        let Some(last) = page.last().cloned() else { break };
        let checks = futures::stream::iter(page.iter().filter_map(|rec| rec.object_key.as_deref().map(|key| (rec, key))))
            .map(|(rec, key)| async move { check_one(app, rec, key).await.map(|f| (rec, f)) })
            .buffered(4);
        let results: Vec<(&EvidenceRecord, Fixity)> = checks.try_collect().await?;
        for (rec, fixity) in results {
            report.checked += 1;
            each(rec, &fixity);
            if fixity == Fixity::Intact {
                report.intact += 1;
                continue;
            }
            let detail = json!({"object_key": rec.object_key, "expected_sha256": rec.sha256, "expected_size": rec.size, "found": fixity});
            app.backends.index.record_event(rec.evidence_id, "fixity_failed", detail).await?;
            report.problems.push((rec.path.clone(), rec.evidence_id.to_string(), fixity));
        }
        after = Some(last);
    }
    Ok(report)
}
