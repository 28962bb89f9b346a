//! `caregate demo`: the whole pipeline in one process on the sample corpus, with the
//! embedded back ends, then a summary a newcomer can read.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use caregate_schemas::{EvidenceRecord, SubmissionId, SubmissionRef, Verification};

use crate::submit::{collect_files, submit_direct};
use crate::{App, Config};

/// The EICAR test string, assembled at run time so that no file of the project carries it.
pub fn eicar() -> Vec<u8> {
    let parts = ["X5O!P%@AP[4\\PZX54(P^)7CC)7}$", "EICAR-STANDARD-ANTIVIRUS-", "TEST-FILE!$H+H*"];
    parts.concat().into_bytes()
}

pub struct DemoOutcome {
    pub records: Vec<EvidenceRecord>,
    /// The samples judged as one dossier against the shipped referential.
    pub verification: Verification,
    pub elapsed: Duration,
    pub data_dir: PathBuf,
}

pub async fn run(config: Config, dir: PathBuf, with_eicar: bool, quiet: bool) -> anyhow::Result<DemoOutcome> {
    let mut config = config.embedded();
    let data_dir = config.backends.data_dir.join("demo");
    if data_dir.exists() {
        std::fs::remove_dir_all(&data_dir).with_context(|| format!("clearing {}", data_dir.display()))?;
    }
    config.backends.data_dir = data_dir.clone();
    let app = App::open(config).await?;
    app.clamd.ping().await.with_context(|| format!("clamd does not answer at {}; start it with `scripts/services.sh clamd`", app.config.clamd.address))?;

    let files = collect_files(&[dir])?;
    let sub = SubmissionRef {
        submission_id: SubmissionId::new(),
        establishment: "750000001".into(),
        campaign: "care-d1-2024".into(),
        objectives: vec![],
        category: Some("public".into()),
    };
    let in_memory = if with_eicar { vec![("genere-a-l-execution/eicar.txt".to_owned(), eicar())] } else { vec![] };
    let start = Instant::now();
    let records = submit_direct(&app, &sub, &files, in_memory, quiet, Duration::from_secs(600)).await?;
    let verification = app.wait_for_verification(sub.submission_id, records.len(), Duration::from_secs(60)).await?;
    Ok(DemoOutcome { records, verification, elapsed: start.elapsed(), data_dir })
}
