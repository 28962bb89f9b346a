//! The one suite every back end must pass, called from the integration tests with each
//! back end in turn (embedded and production), like quickwit's storage test suite.
//! Its functions panic on the first broken promise, naming it.

use std::time::Duration;

use caregate_schemas::{
    EvidenceId, EvidenceReceived, EvidenceRecord, ObjectiveVerdict, ScanReport, ScanResult, Sha256Digest, Status, SubmissionId, SubmissionRef, Verdict,
    Verification,
};
use serde_json::json;
use tokio::io::AsyncReadExt;

use crate::{
    Account, AccountStore, Announcer, AuditLog, CredentialKind, EvidenceIndex, JobQueue, KeyedReceipt, ObjectStore, OutboxStore, Outgoing, QueueQuery,
    QueueSort, Records, Revocation, SearchQuery, SqlIndex, StorageError, Submissions, Taken,
};

async fn read_all(store: &dyn ObjectStore, key: &str) -> Vec<u8> {
    let mut out = Vec::new();
    store.open(key).await.expect("open").read_to_end(&mut out).await.expect("read");
    out
}

/// Puts, reads, lists, refuses bad digests and bad keys, deletes idempotently.
pub async fn object_store(store: &dyn ObjectStore) {
    let dir = tempfile::tempdir().expect("tempdir");
    let body: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let path = dir.path().join("body");
    tokio::fs::write(&path, &body).await.expect("write");
    let digest = Sha256Digest::of(&body);
    let key = digest.object_key();

    assert_eq!(store.size(&key).await.expect("size"), None, "fresh store has no object");
    store.put_file(&key, &path, &digest).await.expect("put_file");
    assert_eq!(store.size(&key).await.expect("size"), Some(body.len() as u64));
    assert_eq!(read_all(store, &key).await, body, "read back the same bytes");
    store.put_file(&key, &path, &digest).await.expect("putting the same bytes again is harmless");

    let wrong = Sha256Digest::of(b"something else");
    match store.put_file("conformance/wrong", &path, &wrong).await {
        Err(StorageError::ChecksumMismatch { .. }) => {}
        other => panic!("a wrong digest must be refused with ChecksumMismatch, got {other:?}"),
    }
    assert_eq!(store.size("conformance/wrong").await.expect("size"), None, "refused bytes are not stored");

    assert!(matches!(store.open("conformance/missing").await, Err(StorageError::NotFound(_))));
    for bad in ["../escape", "/abs", "a//b", "a/../b", "sp ace"] {
        assert!(store.size(bad).await.is_err(), "key {bad:?} must be refused");
    }

    // A file handed over: stored (moved or copied), and refused when its digest is wrong.
    let owned_body = b"piece remise au stockage".to_vec();
    let owned = tempfile::NamedTempFile::new_in(dir.path()).expect("temp").into_temp_path();
    tokio::fs::write(&owned, &owned_body).await.expect("write");
    let owned_digest = Sha256Digest::of(&owned_body);
    store.put_owned("conformance/owned", owned, &owned_digest).await.expect("put_owned");
    assert_eq!(read_all(store, "conformance/owned").await, owned_body);
    store.delete("conformance/owned").await.expect("delete");
    let bad = tempfile::NamedTempFile::new_in(dir.path()).expect("temp").into_temp_path();
    tokio::fs::write(&bad, b"not what the digest says").await.expect("write");
    assert!(matches!(store.put_owned("conformance/owned-bad", bad, &owned_digest).await, Err(StorageError::ChecksumMismatch { .. })));
    assert_eq!(store.size("conformance/owned-bad").await.expect("size"), None);

    let listed = store.list("sha256/").await.expect("list");
    assert_eq!(listed, vec![key.clone()]);
    store.delete(&key).await.expect("delete");
    store.delete(&key).await.expect("deleting a missing object succeeds");
    assert_eq!(store.size(&key).await.expect("size"), None);
}

fn sample_record(submission: SubmissionId, name: &str) -> EvidenceRecord {
    let sha = Sha256Digest::of(name.as_bytes());
    EvidenceRecord::received(
        EvidenceId::new(),
        SubmissionRef {
            submission_id: submission,
            establishment: "750000001".into(),
            campaign: "care-d1-2024".into(),
            objectives: vec!["D1.FIN".into()],
            category: None,
        },
        name.into(),
        sha,
        name.len() as u64,
        format!("quarantine/{name}"),
    )
}

/// Records, finishes once and only once, keeps history in order.
pub async fn evidence_index(index: &dyn EvidenceIndex) {
    let sub = SubmissionId::new();
    let a = sample_record(sub, "facture-été.pdf");
    let b = sample_record(sub, "scan.xml");
    index.record_received(&a).await.expect("record a");
    index.record_received(&a).await.expect("recording a twice is harmless");
    index.record_received(&b).await.expect("record b");

    let got = index.get(a.evidence_id).await.expect("get").expect("a exists");
    assert_eq!(got.path, "facture-été.pdf", "accents survive");
    assert_eq!(got.status, Status::Received);
    assert_eq!(index.submission(sub).await.expect("submission").len(), 2);
    assert!(index.get(EvidenceId::new()).await.expect("get").is_none());

    // A submission is its first file's establishment's, in its campaign, forever: a
    // record naming another is refused and nothing of it is written.
    let owner = index.submission_owner(sub).await.expect("owner").expect("a submission with files has an owner");
    assert_eq!((owner.establishment.as_str(), owner.campaign.as_str()), ("750000001", "care-d1-2024"));
    assert_eq!(index.submission_owner(SubmissionId::new()).await.expect("owner"), None);
    for (establishment, campaign) in [("690781810", "care-d1-2024"), ("750000001", "care-d2-2025")] {
        let mut foreign = sample_record(sub, "intrus.pdf");
        foreign.submission.establishment = establishment.into();
        foreign.submission.campaign = campaign.into();
        let refused = index.record_received(&foreign).await;
        assert!(matches!(refused, Err(StorageError::ForeignSubmission(_))), "{establishment} {campaign}: {refused:?}");
        assert!(index.get(foreign.evidence_id).await.expect("get").is_none(), "nothing of a refused record is written");
    }
    assert_eq!(index.submission(sub).await.expect("submission").len(), 2);

    index.record_retry(a.evidence_id, 2, "clamd unavailable").await.expect("retry");
    assert_eq!(index.get(a.evidence_id).await.unwrap().unwrap().attempts, 2);

    let mut done = got.clone();
    done.status = Status::Stored;
    done.object_key = Some(done.sha256.object_key());
    done.scan = Some(ScanReport { engine: "test".into(), result: ScanResult::Clean, signature: None, scanned_at: chrono::Utc::now() });
    assert!(index.finish(&done, json!({"object_key": done.object_key})).await.expect("finish"));
    let mut again = done.clone();
    again.status = Status::Failed;
    assert!(!index.finish(&again, json!({})).await.expect("finish again"), "a record finishes once");
    let stored = index.get(a.evidence_id).await.unwrap().unwrap();
    assert_eq!(stored.status, Status::Stored);
    assert_eq!(stored.scan.as_ref().map(|s| s.result), Some(ScanResult::Clean));

    let listed: Vec<EvidenceId> = index.stored_records(None, None, 10).await.expect("stored").iter().map(|r| r.evidence_id).collect();
    assert!(listed.contains(&a.evidence_id) && !listed.contains(&b.evidence_id), "only finished, kept files");
    let first = index.stored_records(None, None, 1).await.expect("stored");
    assert!(index.stored_records(None, first.last(), 10).await.expect("stored").iter().all(|r| r.evidence_id != first[0].evidence_id), "pages do not overlap");
    index.record_event(a.evidence_id, caregate_schemas::EventKind::FixityFailed, json!({"found": "missing"})).await.expect("event");
    let kinds: Vec<String> = index.events(a.evidence_id).await.expect("events").into_iter().map(|e| e.kind).collect();
    assert_eq!(kinds, ["received", "retry", "stored", "fixity_failed"]);
    let chain = index.check_chain().await.expect("chain");
    assert!(chain.problems.is_empty() && chain.events >= 5, "every write is chained: {chain:?}");

    let pending: Vec<EvidenceId> = index.unfinished(100).await.expect("unfinished").iter().map(|r| r.evidence_id).collect();
    assert!(pending.contains(&b.evidence_id) && !pending.contains(&a.evidence_id));
    let idle: Vec<EvidenceId> = index.stale(Duration::ZERO, 100).await.expect("stale").iter().map(|r| r.evidence_id).collect();
    assert_eq!(idle, vec![b.evidence_id], "only unfinished records go stale");
    assert!(index.stale(Duration::from_secs(3600), 100).await.expect("stale").is_empty(), "b is fresh");
    let counts = index.count_by_status().await.expect("counts");
    assert!(counts.contains(&(Status::Stored, 1)) && counts.contains(&(Status::Received, 1)), "{counts:?}");
    // Under an idempotency key: the first is recorded, a repeat (another id, same key)
    // writes nothing and names the first.
    let other_sub = SubmissionId::new();
    let keyed = sample_record(other_sub, "repete.pdf");
    assert!(matches!(index.record_received_once(&keyed, "depot\ncle\n0").await.expect("keyed"), KeyedReceipt::Recorded(Some(_))));
    let repeat = sample_record(other_sub, "repete.pdf");
    assert_eq!(index.record_received_once(&repeat, "depot\ncle\n0").await.expect("repeat"), KeyedReceipt::Repeat(keyed.evidence_id));
    assert!(matches!(index.record_received_once(&repeat, "depot\ncle\n1").await.expect("another key"), KeyedReceipt::Recorded(Some(_))));
    assert_eq!(index.submission(other_sub).await.expect("submission").len(), 2, "one record per key");

    // A scan stored before OCR read it: found by its finding, resolved once.
    let ocr_sub = SubmissionId::new();
    let mut scan = sample_record(ocr_sub, "scan_ocr.pdf");
    index.record_received(&scan).await.expect("record scan");
    scan.status = Status::NeedsReview;
    scan.object_key = Some(scan.sha256.object_key());
    scan.findings.push(caregate_schemas::Finding::new(caregate_schemas::FindingCode::OcrPending, caregate_schemas::Severity::Warning, "en attente"));
    assert!(index.finish(&scan, json!({})).await.expect("finish scan"));
    // Another code of the same family is not taken for it (the SQL pre-filter is a LIKE;
    // the exact code is checked on the record).
    let mut other = sample_record(ocr_sub, "autre.pdf");
    index.record_received(&other).await.expect("record other");
    other.status = Status::NeedsReview;
    other.findings.push(caregate_schemas::Finding::new(caregate_schemas::FindingCode::OcrLowConfidence, caregate_schemas::Severity::Warning, "autre"));
    assert!(index.finish(&other, json!({})).await.expect("finish other"));
    let waiting = |rs: Vec<EvidenceRecord>| rs.into_iter().filter(|r| r.submission.submission_id == ocr_sub).map(|r| r.evidence_id).collect::<Vec<_>>();
    assert_eq!(waiting(index.with_finding(caregate_schemas::FindingCode::OcrPending, 100).await.expect("with finding")), vec![scan.evidence_id]);
    let mut read = scan.clone();
    read.findings.clear();
    read.status = Status::Stored;
    let kind = caregate_schemas::EventKind::OcrRead;
    assert!(index.resolve_finding(&read, caregate_schemas::FindingCode::OcrPending, kind, json!({"pages": 1})).await.expect("resolve"));
    assert!(!index.resolve_finding(&read, caregate_schemas::FindingCode::OcrPending, kind, json!({"pages": 1})).await.expect("resolve again"), "resolved once");
    assert_eq!(index.get(scan.evidence_id).await.unwrap().unwrap().status, Status::Stored);
    assert!(waiting(index.with_finding(caregate_schemas::FindingCode::OcrPending, 100).await.expect("with finding")).is_empty());
    let kinds: Vec<String> = index.events(scan.evidence_id).await.expect("events").into_iter().map(|e| e.kind).collect();
    assert_eq!(kinds, ["received", "needs_review", "ocr_read"]);
}

fn invoice(submission: SubmissionId, establishment: &str, name: &str, number: &str) -> EvidenceRecord {
    let mut rec = sample_record(submission, name);
    rec.submission.establishment = establishment.into();
    rec.status = Status::Stored;
    rec.kind = Some(caregate_schemas::Kind::Invoice);
    rec.fields =
        serde_json::from_value(json!({"content": "invoice", "source": "text", "number": number, "seller_siret": "73282932000074"})).expect("invoice fields");
    rec
}

/// Finds finished records by identifiers, scope and French text; keeps decisions in
/// order and in the audit chain; keeps a deletion in the history.
pub async fn archive_index(index: &dyn EvidenceIndex) {
    let sub = SubmissionId::new();
    let mut inv = invoice(sub, "690781810", "facture.pdf", "FA 2024/0042");
    inv.status = Status::Received;
    index.record_received(&inv).await.expect("record");
    inv.status = Status::Stored;
    inv.object_key = Some(inv.sha256.object_key());
    assert!(index.finish(&inv, json!({})).await.expect("finish"));
    index.put_text(inv.evidence_id, "Facture des prestations d'audit de sécurité\0 réalisées à Lyon").await.expect("text");
    index.put_text(inv.evidence_id, "Factures des prestations d'audit de sécurité réalisées à Lyon").await.expect("text replaced");
    assert_eq!(index.text(inv.evidence_id).await.expect("text").as_deref(), Some("Factures des prestations d'audit de sécurité réalisées à Lyon"));

    let find =
        |q: SearchQuery| async move { index.search(&SearchQuery { limit: 50, ..q }).await.expect("search").iter().map(|r| r.evidence_id).collect::<Vec<_>>() };
    let one = vec![inv.evidence_id];
    assert_eq!(
        find(SearchQuery {
            keys: vec!["invoice_number:FA20240042".into(), "siren:732829320".into()],
            establishment: Some("690781810".into()),
            ..Default::default()
        })
        .await,
        one
    );
    assert_eq!(find(SearchQuery { establishment: Some("690781810".into()), status: Some(Status::Stored), ..Default::default() }).await, one);
    assert_eq!(find(SearchQuery { text: Some("sécurité Lyon".into()), establishment: Some("690781810".into()), ..Default::default() }).await, one);
    assert_eq!(find(SearchQuery { text: Some("réalisées".into()), departements: Some(vec!["69".into()]), ..Default::default() }).await, one);
    assert!(
        find(SearchQuery { text: Some("réalisées".into()), departements: Some(vec!["75".into()]), ..Default::default() }).await.is_empty(),
        "another département"
    );
    assert!(find(SearchQuery { keys: vec!["kind:exposure_scan".into()], establishment: Some("690781810".into()), ..Default::default() }).await.is_empty());
    assert!(find(SearchQuery {
        received_from: Some(chrono::Utc::now() + chrono::Duration::days(1)),
        establishment: Some("690781810".into()),
        ..Default::default()
    })
    .await
    .is_empty());

    let decision = |kind: caregate_schemas::DecisionKind, comment: &str| caregate_schemas::Decision {
        submission_id: sub,
        objective: "D1.FIN".into(),
        decision: kind,
        comment: comment.into(),
        actor: "c (controller)".into(),
        decided_at: chrono::Utc::now(),
        basis: "b1".into(),
    };
    index.put_decisions(&[decision(caregate_schemas::DecisionKind::RequestInformation, "devis manquant")], vec![], None).await.expect("decision");
    index.put_decisions(&[decision(caregate_schemas::DecisionKind::Accept, "devis reçu")], vec![], None).await.expect("decision");
    let got = index.decisions(sub).await.expect("decisions");
    assert_eq!(got.iter().map(|d| d.comment.as_str()).collect::<Vec<_>>(), ["devis manquant", "devis reçu"]);
    // One form is all or nothing: an empty one, or one that spans two dossiers, writes
    // nothing; two objectives of one dossier are recorded together.
    assert!(index.put_decisions(&[], vec![], None).await.is_err(), "no decision, nothing to record");
    let mut elsewhere = decision(caregate_schemas::DecisionKind::Reject, "autre dossier");
    elsewhere.submission_id = SubmissionId::new();
    assert!(index.put_decisions(&[decision(caregate_schemas::DecisionKind::Reject, "refusé"), elsewhere], vec![], None).await.is_err());
    assert_eq!(index.decisions(sub).await.expect("decisions").len(), 2, "nothing of the refused form written");
    let mut other_objective = decision(caregate_schemas::DecisionKind::Accept, "un formulaire");
    other_objective.objective = "D1.PRE".into();
    index.put_decisions(&[decision(caregate_schemas::DecisionKind::Accept, "un formulaire"), other_objective], vec![], None).await.expect("one form");
    let got = index.decisions(sub).await.expect("decisions");
    assert_eq!(
        got.iter().map(|d| (d.objective.as_str(), d.comment.as_str())).skip(2).collect::<Vec<_>>(),
        [("D1.FIN", "un formulaire"), ("D1.PRE", "un formulaire")]
    );

    index.mark_deleted(inv.evidence_id, "a (admin)").await.expect("deleted");
    let after = index.get(inv.evidence_id).await.expect("get").expect("record kept");
    assert_eq!(after.object_key, None);
    assert_eq!(index.events(inv.evidence_id).await.expect("events").last().map(|e| e.kind.as_str()), Some("deleted"));
    let chain = index.check_chain().await.expect("chain");
    assert!(chain.problems.is_empty(), "decisions and deletions are chained: {chain:?}");
}

/// Accounts by name; credentials by hash while unexpired, unrevoked and enabled.
pub async fn accounts(store: &dyn AccountStore) {
    let mut a = Account {
        name: "c.martin".into(),
        display_name: "Claire Martin".into(),
        role: caregate_schemas::Role::Controller,
        scope: caregate_schemas::Scope::Regions(vec!["IDF".into(), "ARA".into()]),
        password_hash: Some("$argon2id$v=19$...".into()),
        disabled: false,
        federated: None,
        email: None,
    };
    store.put_account(&a).await.expect("put");
    assert_eq!(store.account("c.martin").await.expect("get"), Some(a.clone()));
    assert_eq!(store.account("inconnu").await.expect("get"), None);
    let now = chrono::Utc::now();
    store.add_credential("aa11", "c.martin", CredentialKind::ApiToken, "script", None).await.expect("token");
    store.add_credential("bb22", "c.martin", CredentialKind::Session, "console", Some(now + chrono::Duration::hours(1))).await.expect("session");
    store.add_credential("cc33", "c.martin", CredentialKind::Session, "console", Some(now - chrono::Duration::seconds(1))).await.expect("expired");
    assert_eq!(store.credential_account("aa11", now).await.expect("lookup").map(|a| a.name), Some("c.martin".into()));
    assert!(store.credential_account("bb22", now).await.expect("lookup").is_some());
    assert!(store.credential_account("cc33", now).await.expect("lookup").is_none(), "expired");
    assert!(store.credential_account("bb22", now + chrono::Duration::hours(2)).await.expect("lookup").is_none(), "expires");
    assert!(store.credential_account("zz99", now).await.expect("lookup").is_none());
    store.revoke_credential("aa11").await.expect("revoke");
    assert!(store.credential_account("aa11", now).await.expect("lookup").is_none(), "revoked");
    a.disabled = true;
    store.put_account(&a).await.expect("disable");
    assert!(store.credential_account("bb22", now).await.expect("lookup").is_none(), "disabled account");
    assert_eq!(store.accounts().await.expect("list").len(), 1);

    // A person an OpenID provider vouches for: made by the first sign-in, kept up to
    // date by the next ones, never re-enabled by them, never taking a local account's
    // name.
    let identity = crate::FederatedIdentity { issuer: "https://auth.example.fr".into(), subject: "4f2a".into() };
    let mut f = Account {
        name: "proconnect:4f2a".into(),
        display_name: "Camille Durand".into(),
        role: caregate_schemas::Role::Controller,
        scope: caregate_schemas::Scope::Regions(vec!["IDF".into()]),
        password_hash: None,
        disabled: false,
        federated: Some(identity.clone()),
        email: None,
    };
    assert_eq!(store.put_federated_account(&f).await.expect("first sign-in"), f);
    f.scope = caregate_schemas::Scope::National;
    f.display_name = "Camille Durand-Petit".into();
    assert_eq!(store.put_federated_account(&f).await.expect("next sign-in"), f, "brought up to date");
    store.add_credential("ff66", "proconnect:4f2a", CredentialKind::Session, "console", Some(now + chrono::Duration::hours(1))).await.expect("session");
    assert_eq!(store.credential_account("ff66", now).await.expect("lookup").and_then(|a| a.federated), Some(identity.clone()));
    store.put_account(&Account { disabled: true, ..f.clone() }).await.expect("disable");
    assert!(store.credential_account("ff66", now).await.expect("lookup").is_none(), "a disable ends its sessions");
    assert!(store.put_federated_account(&f).await.expect("sign-in while disabled").disabled, "a sign-in does not re-enable");
    let other = Account { federated: Some(crate::FederatedIdentity { subject: "9999".into(), ..identity.clone() }), ..f.clone() };
    assert!(matches!(store.put_federated_account(&other).await, Err(crate::StorageError::Rejected { .. })), "another identity under that name");
    let local = Account { name: "c.martin".into(), ..f.clone() };
    assert!(matches!(store.put_federated_account(&local).await, Err(crate::StorageError::Rejected { .. })), "a local account's name");
    assert_eq!(store.account("c.martin").await.expect("get").and_then(|a| a.federated), None, "the local account is untouched");
}

/// Log-in attempts: counted per key within a window, atomically (twenty at once get
/// twenty different counts), a new window after the old one, and a success clears or
/// takes back an attempt.
pub async fn login_attempts(store: &dyn crate::LoginAttempts) {
    let now = chrono::Utc::now();
    let window = |at: chrono::DateTime<chrono::Utc>| at - chrono::Duration::minutes(15);
    let key = format!("name\n{}", uuid::Uuid::new_v4());
    let address = format!("from\n{}", uuid::Uuid::new_v4());
    let keys = [key.clone(), address.clone()];
    let at_once = futures::future::join_all((0..20).map(|_| store.attempt(&keys, now, window(now)))).await;
    let mut seen: Vec<u32> = at_once.into_iter().map(|c| c.expect("attempt")[0].attempts).collect();
    seen.sort_unstable();
    assert_eq!(seen, (1..=20).collect::<Vec<_>>(), "each attempt is counted before the next one reads the count");
    let counts = store.attempt(&keys, now, window(now)).await.expect("attempt");
    assert_eq!((counts[0].attempts, counts[1].attempts), (21, 21));
    let first_start = counts[0].window_start;
    store.succeeded(std::slice::from_ref(&key), std::slice::from_ref(&address)).await.expect("success");
    let after = store.attempt(&keys, now, window(now)).await.expect("attempt");
    assert_eq!((after[0].attempts, after[1].attempts), (1, 21), "the name starts again; the address gets its attempt back");
    let later = now + chrono::Duration::minutes(16);
    let next = store.attempt(&keys, later, window(later)).await.expect("attempt");
    assert_eq!(next[1].attempts, 1, "a new window");
    assert!(next[1].window_start > first_start);
}

/// Credentials end with their account's password or its enabling: a password change and
/// a disable end every session and token at once, enabling again revives none, a display
/// name change ends nothing, and a disabled account is given none. One credential is
/// listed and revoked by its short id, only among its own account's.
pub async fn credential_lifecycle(store: &dyn AccountStore) {
    // Stored hashes are 64 hex characters; these share prefixes on purpose.
    let digest = |head: &str| format!("{head:0<64}");
    let usable = |d: String| async move { store.credential_account(&d, chrono::Utc::now()).await.expect("lookup").is_some() };
    let mut a = Account {
        name: "l.durand".into(),
        display_name: "Léa Durand".into(),
        role: caregate_schemas::Role::Submitter,
        scope: caregate_schemas::Scope::Establishments(vec!["750000001".into()]),
        password_hash: Some("$argon2id$v=19$first".into()),
        disabled: false,
        federated: None,
        email: None,
    };
    assert_eq!(store.put_account(&a).await.expect("put"), 0, "a new account has nothing to end");
    let other = Account { name: "m.petit".into(), display_name: "Marc Petit".into(), ..a.clone() };
    store.put_account(&other).await.expect("put other");
    let in_hour = Some(chrono::Utc::now() + chrono::Duration::hours(1));
    store.add_credential(&digest("abcdef01"), "l.durand", CredentialKind::ApiToken, "script", None).await.expect("token");
    store.add_credential(&digest("abcdef02"), "l.durand", CredentialKind::ApiToken, "ecare", None).await.expect("token");
    store.add_credential(&digest("123456"), "l.durand", CredentialKind::Session, "console", in_hour).await.expect("session");
    store.add_credential(&digest("abcdef03"), "m.petit", CredentialKind::ApiToken, "script", None).await.expect("other's token");

    let listed = store.credentials("l.durand").await.expect("list");
    let mut ids: Vec<&str> = listed.iter().map(|c| c.id.as_str()).collect();
    ids.sort();
    assert_eq!(ids, ["123456000000", "abcdef010000", "abcdef020000"], "the account's own, each by its first 12 hex characters only");
    let session = listed.iter().find(|c| c.id == "123456000000").expect("session listed");
    assert_eq!((session.kind, session.label.as_str()), (CredentialKind::Session, "console"));
    assert_eq!(session.expires_at.map(|t| t.timestamp()), in_hour.map(|t| t.timestamp()));
    let token = listed.iter().find(|c| c.id == "abcdef010000").expect("token listed");
    assert_eq!((token.kind, token.label.as_str(), token.expires_at), (CredentialKind::ApiToken, "script", None));
    assert!((chrono::Utc::now() - token.created_at).num_minutes().abs() < 5, "created now: {}", token.created_at);
    assert!(store.credentials("nobody").await.expect("list").is_empty());

    a.display_name = "Léa Durand-Moreau".into();
    assert_eq!(store.put_account(&a).await.expect("rename"), 0, "a new display name ends nothing");
    for head in ["abcdef01", "abcdef02", "123456"] {
        assert!(usable(digest(head)).await, "{head} survives a display name change");
    }

    match store.revoke_credential_by_id("l.durand", "abcdef").await.expect("revoke") {
        Revocation::Ambiguous(found) => assert_eq!(found.len(), 2, "only the account's own count: {found:?}"),
        other => panic!("two of the account's ids start with abcdef: {other:?}"),
    }
    assert!(usable(digest("abcdef01")).await && usable(digest("abcdef02")).await, "an ambiguous id revokes nothing");
    assert_eq!(store.revoke_credential_by_id("l.durand", "fedcba").await.expect("revoke"), Revocation::NoMatch);
    assert_eq!(store.revoke_credential_by_id("m.petit", "123456").await.expect("revoke"), Revocation::NoMatch, "another account's credential");
    assert!(usable(digest("123456")).await);
    for bad in ["abc", "abcdef%", "abcde_", ""] {
        assert!(matches!(store.revoke_credential_by_id("l.durand", bad).await, Err(StorageError::Rejected { .. })), "{bad:?} must be refused");
    }
    match store.revoke_credential_by_id("l.durand", "ABCDEF01").await.expect("revoke") {
        Revocation::Revoked(c) => assert_eq!((c.id.as_str(), c.label.as_str()), ("abcdef010000", "script")),
        other => panic!("abcdef01 names one credential: {other:?}"),
    }
    assert!(!usable(digest("abcdef01")).await, "revoked");
    assert!(usable(digest("abcdef02")).await && usable(digest("123456")).await, "the others stay");
    assert!(usable(digest("abcdef03")).await, "another account's credential with the same prefix stays");

    a.scope = caregate_schemas::Scope::Establishments(vec!["750000001".into(), "690781810".into()]);
    assert_eq!(store.put_account(&a).await.expect("same password"), 0, "the same hash written again is no password change");
    a.password_hash = Some("$argon2id$v=19$second".into());
    assert_eq!(store.put_account(&a).await.expect("new password"), 2, "a password change ends the session and the token");
    assert!(!usable(digest("abcdef02")).await && !usable(digest("123456")).await);
    assert!(store.credentials("l.durand").await.expect("list").is_empty());
    assert!(usable(digest("abcdef03")).await, "another account's credentials stay");

    store.add_credential(&digest("c0ffee"), "l.durand", CredentialKind::ApiToken, "after", None).await.expect("token");
    a.disabled = true;
    assert_eq!(store.put_account(&a).await.expect("disable"), 1);
    let while_disabled = store.add_credential(&digest("bad"), "l.durand", CredentialKind::Session, "console", in_hour).await;
    assert!(matches!(while_disabled, Err(StorageError::Rejected { .. })), "a disabled account gets no credential: {while_disabled:?}");
    let unknown = store.add_credential(&digest("bad"), "nobody", CredentialKind::ApiToken, "script", None).await;
    assert!(matches!(unknown, Err(StorageError::Rejected { .. })), "nor does an unknown one: {unknown:?}");
    a.disabled = false;
    assert_eq!(store.put_account(&a).await.expect("enable"), 0);
    assert!(!usable(digest("c0ffee")).await && !usable(digest("bad")).await, "enabling again revives no credential");
    assert!(store.credentials("l.durand").await.expect("list").is_empty());
    store.add_credential(&digest("d00d"), "l.durand", CredentialKind::ApiToken, "new", None).await.expect("token");
    assert!(usable(digest("d00d")).await, "an enabled account works with new tokens");
    a.password_hash = None;
    assert_eq!(store.put_account(&a).await.expect("no password"), 1, "removing the password is a password change");
    assert!(!usable(digest("d00d")).await);
}

fn verification(sub: SubmissionId, basis: &str, verdict: Verdict) -> Verification {
    Verification {
        submission_id: sub,
        establishment: "750000001".into(),
        campaign: "care-d1-2024".into(),
        referential_id: "care-d1-2024".into(),
        referential_version: "v1".into(),
        basis: basis.into(),
        computed_at: chrono::Utc::now(),
        pending: 0,
        verdict,
        objectives: vec![ObjectiveVerdict {
            objective: "D1.FIN".into(),
            title: "Dépenses justifiées".into(),
            verdict,
            claimed: true,
            evidence: vec![],
            reasons: vec![],
        }],
        evidence: vec![],
    }
}

/// The outbox: a new record queues its job in the same write, held by its writer; a
/// relay claims what nobody holds, once while it holds it, again once its lease ran out;
/// what is sent leaves, and messages come back as they were written.
pub async fn outbox(index: &dyn EvidenceIndex) {
    let before = index.outbox_backlog().await.expect("backlog").pending;
    let rec = sample_record(SubmissionId::new(), "en-attente-du-courtier.pdf");
    let job = index.record_received(&rec).await.expect("record").expect("a new record queues its job");
    assert_eq!(job.message, Outgoing::Job(rec.job()));
    assert!(index.record_received(&rec).await.expect("record").is_none(), "no second job for the same record");
    let body = json!({"verdict": "needs_review", "texte": "à revoir"});
    let note = index.enqueue(vec![Outgoing::Announcement { topic: "submission.needs_review".into(), body: body.clone() }]).await.expect("enqueue").remove(0);
    let backlog = index.outbox_backlog().await.expect("backlog");
    assert_eq!(backlog.pending, before + 2);
    assert!(backlog.oldest.is_some_and(|t| t <= chrono::Utc::now()));

    let seqs = |claimed: &[crate::Queued]| claimed.iter().map(|q| q.seq).collect::<Vec<_>>();
    let held = index.outbox_claim(Duration::from_secs(30), 1000).await.expect("claim");
    assert!(!seqs(&held).contains(&job.seq) && !seqs(&held).contains(&note.seq), "the writer holds its rows");
    index.outbox_release(&[job.seq, note.seq]).await.expect("release");
    let claimed = index.outbox_claim(Duration::from_secs(30), 1000).await.expect("claim");
    let mine: Vec<_> = claimed.iter().filter(|q| q.seq == job.seq || q.seq == note.seq).cloned().collect();
    assert_eq!(mine, vec![job.clone(), note.clone()], "released rows are anyone's, oldest first, as written");
    let again = index.outbox_claim(Duration::from_secs(30), 1000).await.expect("claim");
    assert!(!seqs(&again).contains(&job.seq), "a held row is not claimed twice");
    index.outbox_release(&[note.seq]).await.expect("release");
    assert!(seqs(&index.outbox_claim(Duration::ZERO, 1000).await.expect("claim")).contains(&note.seq));
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert!(seqs(&index.outbox_claim(Duration::ZERO, 1000).await.expect("claim")).contains(&note.seq), "a lease that ran out frees the row");
    index.outbox_sent(&[job.seq, note.seq]).await.expect("sent");
    assert_eq!(index.outbox_backlog().await.expect("backlog").pending, before, "sent rows leave");
}

/// Finds the same document in other submissions (by content or invoice key); keeps the
/// verification judged on the newest view, stores a redone one only if it says something
/// new, and keeps every stored one in the history.
pub async fn verifications(index: &dyn EvidenceIndex) {
    let (one, two) = (SubmissionId::new(), SubmissionId::new());
    let mut a = invoice(one, "750000001", "facture.pdf", "FA-2024-0042");
    let mut b = invoice(two, "690000002", "copie.pdf", "fa 2024/0042");
    let mut c = invoice(two, "690000002", "facture.pdf", "AUTRE-1");
    for rec in [&mut a, &mut b, &mut c] {
        let mut received = rec.clone();
        received.status = Status::Received;
        index.record_received(&received).await.expect("record");
        assert!(index.finish(rec, json!({})).await.expect("finish"));
    }
    let key = a.invoice_key().expect("an invoice has a key");
    assert_eq!(b.invoice_key().as_deref(), Some(key.as_str()), "the key ignores case and punctuation");
    let same: Vec<EvidenceId> = index.same_documents(one, &[a.sha256], std::slice::from_ref(&key)).await.expect("same").iter().map(|r| r.evidence_id).collect();
    assert_eq!(same.len(), 2, "b by its key, c by its bytes: {same:?}");
    assert!(same.contains(&b.evidence_id) && same.contains(&c.evidence_id));
    assert!(index.same_documents(two, &[], &[key]).await.expect("same").iter().all(|r| r.submission.submission_id != two), "never its own submission");
    let ids = index.submission_ids().await.expect("ids");
    assert!(ids.contains(&one) && ids.contains(&two));

    assert!(index.verification(one).await.expect("get").is_none());
    let progress = index.submission_progress(two).await.expect("progress");
    assert_eq!((progress.files, progress.pending, progress.verified_at), (2, 0, None));
    let mut waiting = sample_record(two, "en-attente.pdf");
    waiting.submission.establishment = "690000002".into();
    index.record_received(&waiting).await.expect("record");
    assert_eq!(index.submission_progress(two).await.expect("progress").pending, 1);
    let first = verification(one, "2024-06-01T00:00:00.000000Z", Verdict::NeedsReview);
    assert!(index.put_verification(&first).await.expect("put"));
    assert!(index.submission_progress(one).await.expect("progress").verified_at.is_some());
    assert!(!index.put_verification(&first).await.expect("put"), "the same conclusions again store nothing");
    let older = verification(one, "2024-05-01T00:00:00.000000Z", Verdict::Met);
    assert!(!index.put_verification(&older).await.expect("put"), "an older view never replaces a newer one");
    let newer = verification(one, "2024-07-01T00:00:00.000000Z", Verdict::Met);
    assert!(index.put_verification(&newer).await.expect("put"));
    let mut rejudged = newer.clone();
    rejudged.referential_version = "v2".into();
    rejudged.verdict = Verdict::NotMet;
    assert!(index.put_verification(&rejudged).await.expect("put"), "the same view judged differently is stored");
    assert_eq!(index.verification(one).await.expect("get"), Some(rejudged.clone()));
    assert_eq!(index.unannounced(one).await.expect("unannounced"), Some(rejudged.clone()));
    let body = json!({"verdict": "not_met"});
    let queued = index
        .announce_verification(one, &rejudged.conclusions_digest(), vec![Outgoing::Announcement { topic: "submission.verified".into(), body: body.clone() }])
        .await
        .expect("mark");
    assert_eq!(queued.len(), 1, "the announcement is queued with the mark");
    assert_eq!(queued[0].message, Outgoing::Announcement { topic: "submission.verified".into(), body });
    assert_eq!(index.unannounced(one).await.expect("unannounced"), None, "announced once");
    let mut provisional = verification(two, "2024-07-01T00:00:00.000000Z", Verdict::Met);
    provisional.pending = 1;
    assert!(index.put_verification(&provisional).await.expect("put"));
    assert_eq!(index.unannounced(two).await.expect("unannounced"), None, "provisional verdicts are not announced");
    let history: Vec<String> = index.verification_history(one).await.expect("history").iter().map(|v| v.verdict.to_string()).collect();
    assert_eq!(history, ["needs_review", "met", "not_met"]);
    let listed = index.verifications_with(Verdict::NotMet, 10).await.expect("list");
    assert_eq!(listed.iter().map(|v| v.submission_id).collect::<Vec<_>>(), vec![one]);
    assert!(index.verifications_with(Verdict::NeedsReview, 10).await.expect("list").is_empty());

    // A record changed after the view its verification was judged on (2024 here): the
    // submission is owed a judging, once none of its files is still received.
    let stale = index.unjudged_submissions(100).await.expect("unjudged");
    assert!(stale.contains(&one), "{stale:?}");
    assert!(!stale.contains(&two), "a submission with a file still received is its jobs' to judge");
    let latest = index.get(a.evidence_id).await.unwrap().unwrap().updated_at;
    let current = verification(one, &latest.to_rfc3339_opts(chrono::SecondsFormat::Micros, true), Verdict::Met);
    assert!(index.put_verification(&current).await.expect("put"));
    assert!(!index.unjudged_submissions(100).await.expect("unjudged").contains(&one), "judged on its latest view");
}

/// An establishment's own identifiers: an upload adds, a controller sets (replacing what
/// was known), an upload after that adds to the setting; each establishment its own; a
/// FINESS unknown is known by its FINESS alone; a malformed FINESS refused; the history
/// kept whole, oldest first, and never rewritten.
pub async fn establishment_identifiers(index: &dyn EvidenceIndex) {
    use caregate_schemas::{EstablishmentIdentifiers, IdentifiersChange};
    // Establishments of this run only, so other data in the database changes nothing.
    let run = &SubmissionId::new().to_string()[..4];
    let digits: String = run.bytes().map(|b| char::from(b'0' + b % 10)).collect();
    let (chu, other) = (format!("76{digits}001"), format!("14{digits}002"));
    let t0 = chrono::DateTime::parse_from_rfc3339("2024-06-03T09:00:00Z").unwrap().with_timezone(&chrono::Utc);
    let at = |minutes: i64| t0 + chrono::Duration::minutes(minutes);
    let ids = |finess: &str, sirens: &[&str], sirets: &[&str]| EstablishmentIdentifiers {
        finess: finess.to_owned(),
        sirens: sirens.iter().map(|s| s.to_string()).collect(),
        sirets: sirets.iter().map(|s| s.to_string()).collect(),
    };
    let change = |identifiers, replace, by: &str, minutes| IdentifiersChange { identifiers, replace, by: by.to_owned(), at: at(minutes) };

    assert_eq!(index.establishment_identifiers(&chu).await.expect("read"), EstablishmentIdentifiers::of_finess(&chu), "known by its FINESS alone");
    index.change_identifiers(&change(ids(&chu, &[], &["26750045200003"]), false, "local:depot", 0)).await.expect("added at an upload");
    index.change_identifiers(&change(ids(&chu, &[], &["26750045200003"]), false, "local:depot", 1)).await.expect("added again");
    index.change_identifiers(&change(ids(&chu, &[], &["26750045200011"]), false, "local:depot", 2)).await.expect("another site");
    index.change_identifiers(&change(ids(&other, &["732829320"], &[]), false, "local:autre", 2)).await.expect("another establishment");
    let known = index.establishment_identifiers(&chu).await.expect("read");
    assert_eq!(known, ids(&chu, &[], &["26750045200003", "26750045200011"]), "each once, in the order given");
    assert!(known.owns("267 500 452 00003") && !known.owns("732829320"), "its own, not another's");

    // A controller sets them: what was known is replaced; an upload after adds to it.
    index.change_identifiers(&change(ids(&chu, &["267500452"], &[]), true, "local:c.martin", 3)).await.expect("set by a controller");
    assert_eq!(index.establishment_identifiers(&chu).await.expect("read"), ids(&chu, &["267500452"], &[]));
    index.change_identifiers(&change(ids(&chu, &[], &["26750045200003"]), false, "local:depot", 4)).await.expect("added after");
    assert_eq!(index.establishment_identifiers(&chu).await.expect("read"), ids(&chu, &["267500452"], &["26750045200003"]));
    assert_eq!(index.establishment_identifiers(&other).await.expect("read"), ids(&other, &["732829320"], &[]));

    let history = index.identifier_changes(&chu).await.expect("history");
    assert_eq!(history.len(), 5, "every change kept");
    assert_eq!((history[3].replace, history[3].by.as_str(), history[3].at), (true, "local:c.martin", at(3)));
    assert!(index.change_identifiers(&change(ids("75-000001", &[], &[]), false, "x", 5)).await.is_err(), "a malformed FINESS refused");
}

/// The controllers' queue: only what awaits a controller, within the scope, filtered,
/// sorted and paged by the database with the whole count; a decision takes an objective
/// out; a dossier is held by one controller at a time, each take and release in the
/// audit chain; the dashboard's figures count what was stored.
pub async fn review_queue(index: &dyn EvidenceIndex) {
    use caregate_schemas::{Decision, DecisionKind, FindingCode, Reason, Scope};
    // Establishments of this run only, so other data in the database changes nothing.
    let run = &SubmissionId::new().to_string()[..4];
    let digits: String = run.bytes().map(|b| char::from(b'0' + b % 10)).collect();
    let idf = format!("75{digits}001");
    let ara = format!("69{digits}002");
    let scope = Scope::Establishments(vec![idf.clone(), ara.clone()]);
    let t0 = chrono::DateTime::parse_from_rfc3339("2024-06-03T09:00:00Z").unwrap().with_timezone(&chrono::Utc);
    let mut subs = Vec::new();
    for (i, finess) in [&idf, &idf, &idf, &ara].into_iter().enumerate() {
        let sub = SubmissionId::new();
        let mut rec = sample_record(sub, &format!("piece-{i}.pdf"));
        rec.submission.establishment = finess.clone();
        rec.received_at = t0 + chrono::Duration::days(i as i64 % 2);
        index.record_received(&rec).await.expect("record");
        let mut v = verification(sub, "2024-06-01T00:00:00.000000Z", Verdict::NeedsReview);
        v.establishment = finess.clone();
        v.computed_at = t0 + chrono::Duration::hours(i as i64);
        v.objectives[0].verdict = Verdict::NeedsReview;
        v.objectives[0].reasons = vec![Reason {
            code: FindingCode::SignatureIndeterminate,
            verdict: Verdict::NeedsReview,
            message: "à voir".into(),
            evidence_id: None,
            pointer: None,
        }];
        let mut met = v.objectives[0].clone();
        met.objective = "D1.PRE".into();
        met.verdict = Verdict::Met;
        met.reasons.clear();
        v.objectives.push(met);
        assert!(index.put_verification(&v).await.expect("put"));
        subs.push((sub, v));
    }
    let query = |q: QueueQuery| QueueQuery { scope: scope.clone(), limit: if q.limit == 0 { 10 } else { q.limit }, ..q };
    let all = index.review_queue(&query(QueueQuery::default())).await.expect("queue");
    assert_eq!(all.total, 4, "one objective awaits a controller in each dossier, the met one never: {all:?}");
    assert_eq!(all.items.iter().map(|i| i.submission_id).collect::<Vec<_>>(), subs.iter().map(|s| s.0).collect::<Vec<_>>(), "oldest first");
    assert!(all.items.iter().all(|i| i.objective == "D1.FIN" && i.codes == ["signature_indeterminate"] && i.holder.is_none()));
    assert_eq!(all.items[3].region, "ARA");
    let page = index
        .review_queue(&query(QueueQuery { sort: QueueSort::ComputedAt, descending: true, offset: 1, limit: 2, ..Default::default() }))
        .await
        .expect("page");
    assert_eq!(page.total, 4, "the count is of every page");
    assert_eq!(page.items.iter().map(|i| i.submission_id).collect::<Vec<_>>(), vec![subs[2].0, subs[1].0], "page 2 of 2 newest first");
    let by_finess = index.review_queue(&query(QueueQuery { sort: QueueSort::Establishment, descending: true, ..Default::default() })).await.expect("sorted");
    assert_eq!(by_finess.items[0].establishment, idf, "75… after 69… descending");
    let idf_only = index.review_queue(&query(QueueQuery { region: Some("idf".into()), ..Default::default() })).await.expect("region");
    assert_eq!(idf_only.total, 3);
    let coded = index.review_queue(&query(QueueQuery { code: Some("signature".into()), ..Default::default() })).await.expect("code");
    assert_eq!(coded.total, 0, "a code matches whole");
    let day = t0.date_naive() + chrono::Duration::days(1);
    let none = index.review_queue(&query(QueueQuery { from: Some(day), ..Default::default() })).await.expect("from");
    assert_eq!(none.total, 0, "judged on 03/06 only");
    let same_day = index.review_queue(&query(QueueQuery { from: Some(t0.date_naive()), to: Some(t0.date_naive()), ..Default::default() })).await.expect("day");
    assert_eq!(same_day.total, 4, "`to` keeps its whole day");
    let other_scope = index
        .review_queue(&QueueQuery { scope: Scope::Regions(vec!["BRE".into()]), limit: 10, establishment: Some(idf.clone()), ..Default::default() })
        .await
        .expect("scope");
    assert_eq!(other_scope.total, 0, "nothing outside the scope");

    // Held by one controller at a time; each take and release in the chain.
    let (first, _) = &subs[0];
    assert_eq!(index.take(*first, "c.martin (controller)", t0).await.expect("take"), Taken::Yours);
    assert_eq!(index.take(*first, "c.martin (controller)", t0).await.expect("take"), Taken::Yours, "taking again is harmless");
    match index.take(*first, "a.bernard (controller)", t0).await.expect("take") {
        Taken::HeldBy(a) => assert_eq!(a.holder, "c.martin (controller)"),
        other => panic!("{other:?}"),
    }
    let held = index.review_queue(&query(QueueQuery { sort: QueueSort::Holder, descending: true, ..Default::default() })).await.expect("queue");
    assert_eq!(held.items[0].holder.as_deref(), Some("c.martin (controller)"), "the holder is shown, and sorted on");
    assert!(!index.release(*first, "a.bernard (controller)", t0).await.expect("release"), "only the holder releases");
    assert!(index.release(*first, "c.martin (controller)", t0).await.expect("release"));
    assert!(!index.release(*first, "c.martin (controller)", t0).await.expect("release"), "releasing again changes nothing");
    assert_eq!(index.assignment(*first).await.expect("assignment"), None);
    let kinds: Vec<String> = index.events(EvidenceId(first.0)).await.expect("events").into_iter().map(|e| e.kind).collect();
    assert_eq!(kinds.iter().filter(|k| *k == "assigned").count(), 1, "{kinds:?}");
    assert_eq!(kinds.iter().filter(|k| *k == "released").count(), 1, "{kinds:?}");

    // A decision takes its objective out of the queue, and is counted.
    let (sub, v) = &subs[1];
    let d = Decision {
        submission_id: *sub,
        objective: "D1.FIN".into(),
        decision: DecisionKind::Accept,
        comment: "vu".into(),
        actor: "c.martin (controller)".into(),
        decided_at: t0 + chrono::Duration::days(2),
        basis: v.basis.clone(),
    };
    // Held by another controller: refused in the decisions' own transaction, nothing written.
    assert_eq!(index.take(*sub, "a.bernard (controller)", t0).await.expect("take"), Taken::Yours);
    match index.put_decisions(std::slice::from_ref(&d), vec![], None).await {
        Err(StorageError::HeldByOther(holder)) => assert_eq!(holder, "a.bernard (controller)"),
        other => panic!("a decision on a dossier another holds: {other:?}"),
    }
    assert!(index.decisions(*sub).await.expect("decisions").is_empty(), "nothing of the refused form written");
    assert!(index.release(*sub, "a.bernard (controller)", t0).await.expect("release"));
    index.put_decisions(std::slice::from_ref(&d), vec![], None).await.expect("decide");
    assert_eq!(index.review_queue(&query(QueueQuery::default())).await.expect("queue").total, 3);

    let figures = index.dashboard(&scope, Some("care-d1-2024")).await.expect("dashboard");
    assert_eq!(figures.objectives, 8);
    assert_eq!(figures.settled_by_machine, 4, "the four met D1.PRE");
    assert_eq!(figures.decided, 1);
    let count = |region: &str, objective: &str, verdict: Verdict| {
        figures.by_region_objective.iter().find(|(r, o, v, _)| r == region && o == objective && *v == verdict).map_or(0, |x| x.3)
    };
    assert_eq!(count("IDF", "D1.FIN", Verdict::NeedsReview), 2);
    assert_eq!(count("IDF", "D1.FIN", Verdict::Met), 1, "as decided");
    assert_eq!(count("IDF", "D1.PRE", Verdict::Met), 3);
    assert_eq!(count("ARA", "D1.FIN", Verdict::NeedsReview), 1);
    assert_eq!(figures.files_per_day, vec![(t0.date_naive(), 2), (day, 2)]);
    assert_eq!(figures.upload_to_decision_secs.len(), 1, "one decided dossier");
    let only_ara = index.dashboard(&Scope::Establishments(vec![ara.clone()]), None).await.expect("dashboard");
    assert_eq!(only_ara.objectives, 2);
}

async fn next_announcement(s: &mut dyn crate::AnnouncementStream) -> (String, serde_json::Value) {
    tokio::time::timeout(Duration::from_secs(10), s.next()).await.expect("announcement in time").expect("stream open").expect("announcement")
}

/// Delivers announcements to subscribers whose pattern matches, and only those.
pub async fn announcer(a: &dyn Announcer) {
    let mut all = a.subscribe("submission.#").await.expect("subscribe");
    let mut review = a.subscribe("submission.needs_review").await.expect("subscribe");
    a.announce("evidence.other", &json!({"n": 0})).await.expect("announce");
    a.announce("submission.verified", &json!({"n": 1})).await.expect("announce");
    a.announce("submission.needs_review", &json!({"n": 2, "texte": "à revoir"})).await.expect("announce");
    assert_eq!(next_announcement(&mut *all).await, ("submission.verified".to_owned(), json!({"n": 1})));
    assert_eq!(next_announcement(&mut *all).await.0, "submission.needs_review");
    assert_eq!(next_announcement(&mut *review).await, ("submission.needs_review".to_owned(), json!({"n": 2, "texte": "à revoir"})));
}

fn job(name: &str) -> EvidenceReceived {
    EvidenceReceived {
        evidence_id: EvidenceId::new(),
        quarantine_key: format!("quarantine/{name}"),
        sha256: Sha256Digest::of(name.as_bytes()),
        size: name.len() as u64,
        path: name.into(),
    }
}

/// Delivers, retries after a delay with the attempt counted, dead-letters.
/// The queue must be fresh and use short retry delays (well under a second).
pub async fn job_queue(queue: &dyn JobQueue) {
    let wait = Duration::from_secs(20);
    let first = job("first");
    queue.publish(&first).await.expect("publish");
    // Counted while nobody consumes (RabbitMQ counts asynchronously: poll briefly).
    let mut waiting = 0;
    for _ in 0..50 {
        waiting = queue.waiting_count().await.expect("waiting");
        if waiting == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(waiting, 1, "a published job waits for a worker");
    let mut stream = queue.consume(4).await.expect("consume");
    let d = tokio::time::timeout(wait, stream.next()).await.expect("delivered in time").expect("open").expect("ok");
    assert_eq!(d.job(), &first);
    assert_eq!(d.attempt(), 1);
    d.retry().await.expect("retry");

    let d = tokio::time::timeout(wait, stream.next()).await.expect("retried in time").expect("open").expect("ok");
    assert_eq!(d.job(), &first, "the retried job comes back");
    assert_eq!(d.attempt(), 2, "and its attempt is counted");
    let before = queue.dead_letter_count().await.expect("count");
    d.dead_letter("gave up in conformance test").await.expect("dead-letter");
    // RabbitMQ counts asynchronously: poll briefly.
    let mut after = before;
    for _ in 0..50 {
        after = queue.dead_letter_count().await.expect("count");
        if after > before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(after, before + 1, "dead-lettered job is kept");

    let second = job("second");
    queue.publish(&second).await.expect("publish");
    let d = tokio::time::timeout(wait, stream.next()).await.expect("delivered").expect("open").expect("ok");
    assert_eq!(d.job(), &second);
    d.ack().await.expect("ack");
    assert!(tokio::time::timeout(Duration::from_millis(500), stream.next()).await.is_err(), "an acked job is not delivered again");
}

/// Copies between two stores of the same back end: in place where the back end can (then
/// the store checks the digest), or says it cannot; never a wrong or partial object.
/// Returns whether the copy was done in place.
pub async fn object_copy(src: &dyn ObjectStore, dst: &dyn ObjectStore) -> bool {
    let dir = tempfile::tempdir().expect("tempdir");
    let body = b"facture FA-2024-0042, total TTC 10 080,00 \xe2\x82\xac".to_vec();
    let path = dir.path().join("body");
    tokio::fs::write(&path, &body).await.expect("write");
    let digest = Sha256Digest::of(&body);
    src.put_file("quarantine/copy-source", &path, &digest).await.expect("put source");
    let key = digest.object_key();
    let in_place = dst.copy_from(src, "quarantine/copy-source", &key, &digest).await.expect("copy_from");
    if in_place {
        assert_eq!(read_all(dst, &key).await, body, "copied bytes are the source's");
        let wrong = Sha256Digest::of(b"other bytes");
        match dst.copy_from(src, "quarantine/copy-source", "conformance/wrong-copy", &wrong).await {
            Err(StorageError::ChecksumMismatch { .. }) => {}
            other => panic!("a copy with the wrong digest must be refused, got {other:?}"),
        }
        assert_eq!(dst.size("conformance/wrong-copy").await.expect("size"), None, "refused copy removed");
        dst.delete(&key).await.expect("delete");
    } else {
        assert_eq!(dst.size(&key).await.expect("size"), None, "no object when the copy is declined");
    }
    src.delete("quarantine/copy-source").await.expect("delete source");
    in_place
}

/// The schema as caregate created it before versioned migrations, frozen (one file per
/// database): what [`upgrade_from_before_migrations`] starts from.
pub const PRE_MIGRATIONS_SQLITE: &str = include_str!("../tests/fixtures/pre-migrations-sqlite.sql");
pub const PRE_MIGRATIONS_POSTGRES: &str = include_str!("../tests/fixtures/pre-migrations-postgres.sql");

/// A database created by caregate before versioned migrations (`old_url`, empty: given the
/// frozen schema of that time here, and a record written by the index's queries), opened
/// by this code: the record reads back with its history and its job, every migration is
/// recorded as applied, the schema is exactly the one a new database (`new_url`, empty)
/// gets, and opening it again changes nothing.
pub async fn upgrade_from_before_migrations(old_url: &str, new_url: &str) {
    let fixture = if old_url.starts_with("sqlite:") { PRE_MIGRATIONS_SQLITE } else { PRE_MIGRATIONS_POSTGRES };
    let old = SqlIndex::open(old_url, 2).await.expect("open the old database");
    sqlx::raw_sql(fixture).execute(old.pool()).await.expect("the schema of before migrations");
    assert!(old.applied_migrations().await.expect("applied").is_empty(), "the old schema has no migrations table");
    let rec = sample_record(SubmissionId::new(), "attestation-2024.pdf");
    old.record_received(&rec).await.expect("a record in the old schema").expect("its job");
    let summary = |r: EvidenceRecord| (r.evidence_id, r.path, r.status, r.sha256);

    let upgraded = SqlIndex::connect(old_url, 2).await.expect("the old database opened by this code");
    assert_eq!(upgraded.get(rec.evidence_id).await.expect("get").map(summary), Some(summary(rec.clone())), "the record reads back");
    let events = upgraded.events(rec.evidence_id).await.expect("events");
    assert_eq!(events.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(), ["received"]);
    let chain = upgraded.check_chain().await.expect("chain");
    assert_eq!((chain.events, chain.unchained, chain.problems), (1, 0, vec![]), "the history's chain holds");
    assert_eq!(upgraded.outbox_backlog().await.expect("backlog").pending, 1, "its job still waits");
    assert_eq!(upgraded.submission_owner(rec.submission.submission_id).await.expect("owner").map(|o| o.establishment), Some("750000001".into()));
    let applied = upgraded.applied_migrations().await.expect("applied");
    assert_eq!(applied.iter().map(|m| m.0).collect::<Vec<_>>(), upgraded.migrations(), "every migration recorded as applied");

    let new = SqlIndex::connect(new_url, 2).await.expect("a new database");
    let shape = upgraded.schema_shape().await.expect("shape");
    assert_eq!(shape, new.schema_shape().await.expect("shape"), "the upgraded schema is a new database's");

    let again = SqlIndex::connect(old_url, 2).await.expect("opened again");
    assert_eq!(again.applied_migrations().await.expect("applied"), applied, "a second opening applies nothing");
    assert_eq!(again.schema_shape().await.expect("shape"), shape, "a second opening changes no table");
    assert_eq!(again.get(rec.evidence_id).await.expect("get").map(summary), Some(summary(rec)));
}

/// The mail outbox: a decision's e-mails written with it, one per distinct address of the
/// establishment's enabled submitters and no one else; a claim holds them, a failure
/// keeps them (counted, with its error) until their next attempt, a deferral does not
/// count, a send removes them; a lease that ends frees them; an address that is not one
/// is refused with its account, a federated sign-in without one keeps the known one.
pub async fn mail_outbox<I: EvidenceIndex + AccountStore>(index: &I) {
    use crate::MailDraft;
    let person = |name: &str, finess: &str, email: Option<&str>| Account {
        name: name.into(),
        display_name: name.into(),
        role: caregate_schemas::Role::Submitter,
        scope: caregate_schemas::Scope::Establishments(vec![finess.into()]),
        password_hash: None,
        disabled: false,
        federated: None,
        email: email.map(str::to_owned),
    };
    let finess = "130000011";
    index.put_account(&person("m.anne", finess, Some(" anne.martin@chu.example.fr "))).await.expect("put");
    index.put_account(&person("m.anne-2", finess, Some("anne.martin@chu.example.fr"))).await.expect("the same person twice");
    index.put_account(&person("b.bruno", finess, Some("bruno@chu.example.fr"))).await.expect("put");
    index.put_account(&person("sans-adresse", finess, None)).await.expect("put");
    index.put_account(&Account { disabled: true, ..person("parti", finess, Some("parti@chu.example.fr")) }).await.expect("put");
    index.put_account(&person("ailleurs", "690781810", Some("autre@ch.example.fr"))).await.expect("put");
    index
        .put_account(&Account {
            role: caregate_schemas::Role::Controller,
            scope: caregate_schemas::Scope::National,
            ..person("controle", finess, Some("controle@ars.example.fr"))
        })
        .await
        .expect("put");
    assert_eq!(index.account("m.anne").await.expect("get").and_then(|a| a.email).as_deref(), Some("anne.martin@chu.example.fr"), "stored trimmed");
    for bad in ["pas une adresse", "a@", "@chu.example.fr", "anne@@chu.example.fr"] {
        let refused = index.put_account(&person("mauvaise", finess, Some(bad))).await;
        assert!(matches!(refused, Err(StorageError::Rejected { .. })), "{bad:?} refused: {refused:?}");
    }
    assert!(index.account("mauvaise").await.expect("get").is_none());

    let sub = SubmissionId::new();
    let decision = caregate_schemas::Decision {
        submission_id: sub,
        objective: "D1.FIN".into(),
        decision: caregate_schemas::DecisionKind::RequestInformation,
        comment: "devis manquant".into(),
        actor: "c (controller)".into(),
        decided_at: chrono::Utc::now(),
        basis: "b1".into(),
    };
    let draft = MailDraft {
        establishment: finess.into(),
        key: format!("decision.{}", uuid::Uuid::new_v4().simple()),
        domain: "caregate.example.fr".into(),
        subject: "Complément demandé".into(),
        text: "Bonjour,\nle contrôleur demande un devis.".into(),
    };
    let recorded = index.put_decisions(std::slice::from_ref(&decision), vec![], Some(&draft)).await.expect("decision");
    assert_eq!(recorded.mails, 2, "one per distinct address of the establishment's enabled submitters");
    let mut claimed = index.mail_claim(Duration::from_secs(60), 10).await.expect("claim");
    claimed.sort_by(|a, b| a.letter.to.cmp(&b.letter.to));
    let to: Vec<&str> = claimed.iter().map(|m| m.letter.to.as_str()).collect();
    assert_eq!(to, ["anne.martin@chu.example.fr", "bruno@chu.example.fr"]);
    for m in &claimed {
        assert_eq!(m.letter.message_id, draft.message_id(&m.letter.to));
        assert!(m.letter.message_id.starts_with(&format!("<{}.", draft.key)) && m.letter.message_id.ends_with("@caregate.example.fr>"));
        assert_eq!((m.attempts, m.letter.subject.as_str(), m.letter.text.as_str()), (0, draft.subject.as_str(), draft.text.as_str()));
    }
    assert_ne!(claimed[0].letter.message_id, claimed[1].letter.message_id);
    assert!(index.mail_claim(Duration::from_secs(60), 10).await.expect("claim").is_empty(), "held by their claim");

    let now = chrono::Utc::now();
    index.mail_failed(claimed[0].seq, now - chrono::Duration::seconds(1), "421 try again later").await.expect("failed");
    index.mail_defer(&[claimed[1].seq], now + chrono::Duration::hours(1)).await.expect("defer");
    let backlog = index.mail_backlog().await.expect("backlog");
    assert_eq!((backlog.pending, backlog.failing, backlog.last_error.as_deref()), (2, 1, Some("421 try again later")));
    let again = index.mail_claim(Duration::ZERO, 10).await.expect("claim");
    assert_eq!(again.iter().map(|m| (m.seq, m.attempts)).collect::<Vec<_>>(), [(claimed[0].seq, 1)], "due again, its failure counted; the deferred one waits");
    // Claimed with no lease: a relay that died at once leaves it free.
    assert_eq!(index.mail_claim(Duration::from_secs(60), 10).await.expect("claim").len(), 1, "a lease that ended frees the letter");
    for m in &claimed {
        index.mail_sent(m.seq).await.expect("sent");
        index.mail_sent(m.seq).await.expect("sent twice is harmless");
    }
    assert_eq!(index.mail_backlog().await.expect("backlog").pending, 0);

    // Without a draft, nothing; for an establishment with no address, nothing.
    assert_eq!(index.put_decisions(std::slice::from_ref(&decision), vec![], None).await.expect("decision").mails, 0);
    let nobody = MailDraft { establishment: "750000001".into(), key: "decision.nobody".into(), ..draft.clone() };
    assert_eq!(index.put_decisions(std::slice::from_ref(&decision), vec![], Some(&nobody)).await.expect("decision").mails, 0);
    assert_eq!(index.mail_backlog().await.expect("backlog").pending, 0);

    // A federated person's address comes with the sign-in; a sign-in without one keeps it.
    let identity = crate::FederatedIdentity { issuer: "https://psc.example.fr".into(), subject: "810000000001".into() };
    let mut f = Account { federated: Some(identity), ..person("psc:810000000001", finess, Some("claire@chu.example.fr")) };
    assert_eq!(index.put_federated_account(&f).await.expect("sign-in").email.as_deref(), Some("claire@chu.example.fr"));
    f.email = None;
    assert_eq!(index.put_federated_account(&f).await.expect("sign-in").email.as_deref(), Some("claire@chu.example.fr"), "kept");
}
