//! New signatures, old files: a file stored clean is found infected once clamd knows
//! it, and `caregate rescan` moves it back to quarantine, out of the evidence bucket,
//! and judges its dossier again; a file still clean records the new scan.
//!
//! The signature matches this test's own bytes only (a SHA-256 hash signature, `.hsb`),
//! so the other tests, scanning through the same clamd, are not disturbed.

use caregate_schemas::FindingCode;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use caregate_schemas::{ScanResult, Status, Verdict};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{self, Stack, TestEnv};

/// The clamd of `scripts/services.sh` reads its signatures here.
fn signatures_dir() -> PathBuf {
    let state = std::env::var("CAREGATE_SERVICES_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/caregate-services"));
    state.join("clamav-db")
}

async fn clamd_command(command: &str) -> String {
    let mut conn = tokio::net::TcpStream::connect(common::CLAMD).await.unwrap();
    conn.write_all(format!("z{command}\0").as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    conn.read_to_end(&mut answer).await.unwrap();
    String::from_utf8_lossy(&answer).trim_end_matches(['\0', '\n']).to_owned()
}

/// A signature file of its own, removed (and clamd reloaded) when dropped.
struct Signature(PathBuf);

impl Signature {
    async fn add(bytes: &[u8], name: &str) -> Self {
        let path = signatures_dir().join(format!("{name}.hsb"));
        std::fs::write(&path, format!("{}:{}:{name}\n", hex::encode(Sha256::digest(bytes)), bytes.len())).unwrap();
        assert_eq!(clamd_command("RELOAD").await, "RELOADING");
        Signature(path)
    }
}

impl Drop for Signature {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        // Best effort: the next reload (another test's, or the next start) forgets it.
        let _ = std::process::Command::new("bash").args(["-c", "exec 3<>/dev/tcp/127.0.0.1/3310; printf 'zRELOAD\\0' >&3; head -c 20 <&3"]).output();
    }
}

async fn new_signatures_find_an_old_file_infected(stack: Stack) {
    let env = TestEnv::new(stack).await;
    let marker = uuid::Uuid::new_v4().simple().to_string();
    // A PingCastle report that proves the AD audit, made unique by a comment.
    let mut audit = std::fs::read(common::samples_dir().join("annuaire/ad_hc_ch-exemple.local.xml")).unwrap();
    audit.extend_from_slice(format!("\n<!-- {marker} -->\n").as_bytes());
    let note = format!("note de synthèse {marker}").into_bytes();
    let (app, sub, records) = common::process_files(&env, vec![("audit-ad.xml", audit.clone()), ("note.txt", note)]).await;
    assert!(records.iter().all(|r| r.status == Status::Stored), "{stack:?}: {:?}", records.iter().map(|r| (&r.path, r.status)).collect::<Vec<_>>());
    let before = app.backends.index.verification(sub.submission_id).await.unwrap().expect("judged");
    let audit_verdict = |v: &caregate_schemas::Verification| v.objectives.iter().find(|o| o.objective == "D1.AD.AUDIT").unwrap().verdict;
    assert_eq!(audit_verdict(&before), Verdict::Met, "{stack:?}");
    let audit_rec = records.iter().find(|r| r.path == "audit-ad.xml").unwrap().clone();
    let object_key = audit_rec.object_key.clone().unwrap();

    let signature = format!("Caregate.Test.Rescan-{marker}");
    let _signature = Signature::add(&audit, &signature).await;
    // clamd swaps its database in the background: wait until it knows the new one.
    let clamd = caregate_workers::Clamd::new(env.config.clamd.clone());
    let start = Instant::now();
    loop {
        let body = futures::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from(audit.clone()))]);
        // Signatures outside the official databases are named `<name>.UNOFFICIAL`.
        if let caregate_workers::ClamdReply::Found(found) = clamd.scan(body).await.unwrap() {
            assert!(found.starts_with(&signature), "{found}");
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "clamd did not load the signature");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let out = Command::new(env!("CARGO_BIN_EXE_caregate")).arg("rescan").envs(env.child_env()).env("CAREGATE_LOG", "warn").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stack:?}: exit 1 when a file is found infected\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains(&audit_rec.evidence_id.to_string()), "{stdout}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 infectés"), "{}", String::from_utf8_lossy(&out.stderr));

    let infected = app.backends.index.get(audit_rec.evidence_id).await.unwrap().unwrap();
    assert_eq!(infected.status, Status::Infected);
    assert_eq!(infected.object_key, None);
    let scan = infected.scan.as_ref().unwrap();
    assert_eq!(scan.result, ScanResult::Infected);
    assert!(scan.signature.as_deref().is_some_and(|s| s.starts_with(&signature)), "{scan:?}");
    assert!(infected.findings.iter().any(|f| f.code == FindingCode::Infected));
    assert_eq!(app.backends.evidence.size(&object_key).await.unwrap(), None, "{stack:?}: out of the evidence bucket");
    assert_eq!(app.backends.quarantine.size(&audit_rec.evidence_id.quarantine_key()).await.unwrap(), Some(audit.len() as u64), "back in quarantine");
    let kinds: Vec<String> = app.backends.index.events(audit_rec.evidence_id).await.unwrap().into_iter().map(|e| e.kind).collect();
    assert_eq!(kinds.last().map(String::as_str), Some("infected_on_rescan"), "{kinds:?}");

    let clean = records.iter().find(|r| r.path == "note.txt").unwrap();
    let clean_now = app.backends.index.get(clean.evidence_id).await.unwrap().unwrap();
    assert_eq!(clean_now.status, Status::Stored);
    assert!(clean_now.scan.unwrap().scanned_at > clean.scan.as_ref().unwrap().scanned_at, "the new scan is recorded");
    let kinds: Vec<String> = app.backends.index.events(clean.evidence_id).await.unwrap().into_iter().map(|e| e.kind).collect();
    assert_eq!(kinds.last().map(String::as_str), Some("rescanned"), "{kinds:?}");

    let after = app.backends.index.verification(sub.submission_id).await.unwrap().unwrap();
    assert_ne!(audit_verdict(&after), Verdict::Met, "{stack:?}: the dossier is judged again without the infected report");
    assert!(app.backends.index.check_chain().await.unwrap().problems.is_empty(), "the audit chain holds");
}
common::on_each_stack!(new_signatures_find_an_old_file_infected);
