//! `caregate fixity`: years later, prove the stored files are still the files received.
//! Every stored object is read again (streamed, never whole in memory) and its SHA-256
//! and size compared with the record made at intake. A mismatch or a missing object is
//! reported, and written into the evidence's append-only history, by the same checked
//! read as downloads and exports ([`caregate_storage::check_stored`]).

use caregate_schemas::EvidenceRecord;
use caregate_storage::{check_stored, ReadPurpose, StorageError};
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;

use crate::Stores;

pub use caregate_storage::Fixity;

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

/// Checks every stored object of records received since `since` (all when `None`), four
/// at a time; `each` sees every result as it comes. Only an outage stops it: a damaged
/// or missing object is a result.
pub async fn run(stores: Stores<'_>, since: Option<DateTime<Utc>>, mut each: impl FnMut(&EvidenceRecord, &Fixity)) -> Result<FixityReport, StorageError> {
    let mut report = FixityReport::default();
    let actor = crate::package::local_actor();
    let actor = &actor;
    let mut after: Option<EvidenceRecord> = None;
    loop {
        let page = stores.index.stored_records(since, after.as_ref(), 500).await?;
        let Some(last) = page.last().cloned() else { break };
        let checks = futures::stream::iter(page.iter().filter_map(|rec| rec.object_key.as_deref().map(|key| (rec, key))))
            .map(|(rec, key)| async move {
                let checked = check_stored(stores.evidence, stores.index, rec, key, None, ReadPurpose::FixityCheck, actor).await;
                checked.map(|f| (rec, f))
            })
            .buffered(4);
        let results: Vec<(&EvidenceRecord, Fixity)> = checks.try_collect().await?;
        for (rec, fixity) in results {
            report.checked += 1;
            each(rec, &fixity);
            if fixity == Fixity::Intact {
                report.intact += 1;
                continue;
            }
            report.problems.push((rec.path.clone(), rec.evidence_id.to_string(), fixity));
        }
        after = Some(last);
    }
    Ok(report)
}
