//! `caregate demo`: the whole pipeline in one process on the sample corpus, with the
//! embedded back ends, then a summary a newcomer can read.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use caregate_ingest::IntakeError;
use caregate_schemas::{EvidenceRecord, SubmissionId, SubmissionRef};
use tokio_util::sync::CancellationToken;

use crate::submit::{collect_files, progress_bar, upload_files};
use crate::{App, Config};

/// The EICAR test string, assembled at run time so that no file of the project carries it.
pub fn eicar() -> Vec<u8> {
    let parts = ["X5O!P%@AP[4\\PZX54(P^)7CC)7}$", "EICAR-STANDARD-ANTIVIRUS-", "TEST-FILE!$H+H*"];
    parts.concat().into_bytes()
}

pub struct DemoOutcome {
    pub records: Vec<EvidenceRecord>,
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
    app.clamd.ping().await.with_context(|| {
        format!(
            "clamd does not answer at {}; start it with `scripts/services.sh clamd`",
            app.config.clamd.address
        )
    })?;

    let files = collect_files(&[dir])?;
    let sub = SubmissionRef {
        submission_id: SubmissionId::new(),
        establishment: "750000001".into(),
        campaign: "care-d1-2024".into(),
        objectives: vec![],
    };
    let start = Instant::now();
    let shutdown = CancellationToken::new();
    let worker = app.spawn_worker(shutdown.clone()).await?;
    let intake = app.intake()?;
    let pb = progress_bar(files.iter().map(|f| f.size).sum(), quiet);
    let mut expected = upload_files(&intake, &sub, &files, &pb).await?.len();
    pb.finish_and_clear();
    if with_eicar {
        let body = futures::stream::iter([Ok::<_, IntakeError>(bytes::Bytes::from(eicar()))]);
        intake.receive(&sub, "genere-a-l-execution/eicar.txt", body).await?;
        expected += 1;
    }
    let records = app
        .wait_for_submission(sub.submission_id, expected, Duration::from_secs(600), |_| {})
        .await?;
    let elapsed = start.elapsed();
    shutdown.cancel();
    worker.await.ok();
    Ok(DemoOutcome {
        records,
        elapsed,
        data_dir,
    })
}
