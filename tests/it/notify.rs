//! E-mail notifications of controllers' decisions, against a real SMTP server: aiosmtpd,
//! started by each test from `tests/smtp/server.py` (installed by `scripts/services.sh`),
//! which records every message it accepts as Python's e-mail parser reads it. A decision
//! and a request for information each reach the establishment's people, and nobody else,
//! in French, with the link to their space; an SMTP outage delays the mail and loses
//! nothing; a relay that dies after the server took a letter but before recording it
//! makes the letter come twice, with the same Message-ID (at least once, never lost).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use caregate_schemas::{Decision, DecisionKind, ObjectiveVerdict, Role, Scope, SubmissionId, Verdict, Verification};
use caregate_storage::{Account, AccountStore, MailConfig, MailRelay, Mailer, SmtpMailer, SmtpSecurity};
use serde::Deserialize;
use serde_json::json;

use crate::common::{self, Child, Stack, TestEnv};

/// One aiosmtpd, killed when dropped.
struct SmtpServer {
    address: String,
    mailbox: PathBuf,
    _child: Child,
}

/// A message as the server received it.
#[derive(Debug, Deserialize)]
struct Received {
    rcpt_tos: Vec<String>,
    message_id: String,
    to: String,
    subject: String,
    content_type: String,
    text: String,
}

impl SmtpServer {
    async fn start(env: &TestEnv, address: &str) -> Self {
        let (host, port) = address.split_once(':').unwrap();
        let mailbox = env.dir.path().join(format!("mailbox-{port}.jsonl"));
        let log = std::fs::File::create(env.dir.path().join(format!("smtp-{port}.log"))).unwrap();
        let child = Command::new("python3")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/smtp/server.py"))
            .args([host, port])
            .arg(&mailbox)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("python3 for aiosmtpd (scripts/services.sh installs it)");
        let child = Child(child);
        common::wait_listening(address, 20).await;
        Self { address: address.to_owned(), mailbox, _child: child }
    }

    fn received(&self) -> Vec<Received> {
        match std::fs::read_to_string(&self.mailbox) {
            Ok(lines) => lines.lines().map(|l| serde_json::from_str(l).expect("a recorded message")).collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Waits until `n` messages were received, and returns them all.
    async fn wait_for(&self, n: usize, secs: u64) -> Vec<Received> {
        let start = Instant::now();
        loop {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            assert!(start.elapsed() < Duration::from_secs(secs), "{} of {n} e-mails received on {} after {secs} s: {got:?}", got.len(), self.address);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

const ESTABLISHMENT: &str = "750000001";
const ANNE: &str = "anne.martin@chu-exemple.fr";

/// `[mail]` towards a server on this machine, retrying fast.
fn mail_config(smtp: &str) -> MailConfig {
    let (host, port) = smtp.split_once(':').unwrap();
    MailConfig {
        enabled: true,
        smtp_host: host.into(),
        smtp_port: Some(port.parse().unwrap()),
        security: SmtpSecurity::None,
        from: "CaRE <ne-pas-repondre@caregate.example.fr>".into(),
        public_base_url: "https://caregate.example.fr/".into(),
        timeout_secs: 5,
        retry_first_secs: 1,
        retry_max_secs: 2,
        ..MailConfig::default()
    }
}

/// The establishment's submitter (with an address), another establishment's (with one:
/// told nothing of this dossier), and one of this establishment without an address.
async fn people(accounts: &dyn AccountStore) {
    let person = |name: &str, finess: &str, email: Option<&str>| Account {
        name: name.into(),
        display_name: name.into(),
        role: Role::Submitter,
        scope: Scope::Establishments(vec![finess.into()]),
        password_hash: None,
        disabled: false,
        federated: None,
        email: email.map(str::to_owned),
    };
    accounts.put_account(&person("depot-750000001", ESTABLISHMENT, Some(ANNE))).await.unwrap();
    accounts.put_account(&person("depot-750000001-bis", ESTABLISHMENT, None)).await.unwrap();
    accounts.put_account(&person("depot-690781810", "690781810", Some("depot@ch-ailleurs.fr"))).await.unwrap();
}

/// A dossier of 750000001 judged by the machine (one photographed attestation: D1.PRE
/// waits on a controller), served with the given `[mail]`; a controller's client.
async fn dossier(env: &TestEnv) -> (common::Server, SubmissionId, reqwest::Client) {
    let srv = common::serve(env).await;
    people(srv.app.backends.accounts.as_ref()).await;
    let token = srv.account("c.martin", Role::Controller, Scope::National, None).await;
    let sub = common::submission();
    let photo = std::fs::read(common::samples_dir().join("divers/photo-attestation.png")).unwrap();
    srv.app.intake().unwrap().receive(&sub, "photo-attestation.png", common::bytes_body(photo)).await.unwrap();
    srv.app.wait_for_verification(sub.submission_id, 1, Duration::from_secs(60)).await.unwrap();
    (srv, sub.submission_id, common::client(&token))
}

async fn decide(srv: &common::Server, controller: &reqwest::Client, sub: SubmissionId, decision: &str, comment: &str) {
    let form = json!({"objective": "D1.PRE", "decision": decision, "comment": comment});
    let answer = controller.post(format!("{}/api/submissions/{sub}/decisions", srv.base)).json(&form).send().await.unwrap();
    assert_eq!(answer.status(), 200, "{}", answer.text().await.unwrap_or_default());
}

async fn wait_mail_outbox_empty(app: &caregate::App) {
    let start = Instant::now();
    loop {
        let backlog = app.backends.index.mail_backlog().await.unwrap();
        if backlog.pending == 0 {
            return;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "e-mails still in the mail outbox once received: {backlog:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn one_line(text: &str) -> String {
    text.replace("\r\n", "\n")
}

async fn a_decision_and_a_request_for_information_each_send_one_mail(stack: Stack) {
    let mut env = TestEnv::new(stack).await;
    let smtp = SmtpServer::start(&env, &common::free_listen_address()).await;
    env.config.mail = mail_config(&smtp.address);
    let (srv, sub, controller) = dossier(&env).await;
    let link = format!("https://caregate.example.fr/espace/dossiers/{sub}");

    decide(&srv, &controller, sub, "request_information", "attestation illisible : la renvoyer signée").await;
    let got = smtp.wait_for(1, 20).await;
    let asked = &got[0];
    assert_eq!((asked.rcpt_tos.as_slice(), asked.to.as_str()), ([ANNE.to_owned()].as_slice(), ANNE), "the establishment's submitter only");
    assert_eq!(asked.subject, "CaRE — dossier 750000001 : complément demandé (D1.PRE)");
    assert_eq!(asked.content_type, "text/plain");
    let text = one_line(&asked.text);
    for part in [
        "Le contrôleur vous demande un complément avant de décider.",
        "Établissement : 750000001 (FINESS)",
        "Campagne : care-d1-2024",
        "Objectif : D1.PRE — ",
        "Décision : Complément demandé, le ",
        "Ce que demande le contrôleur :\n  attestation illisible : la renvoyer signée\n",
        "Répondez depuis votre espace",
        &link,
    ] {
        assert!(text.contains(part), "{part:?} in\n{text}");
    }
    assert!(asked.message_id.starts_with("<caregate.decision.") && asked.message_id.ends_with("@caregate.example.fr>"), "{}", asked.message_id);

    decide(&srv, &controller, sub, "accept", "attestation signée reçue par courrier").await;
    let got = smtp.wait_for(2, 20).await;
    let accepted = &got[1];
    assert_eq!(accepted.rcpt_tos, [ANNE]);
    assert_eq!(accepted.subject, "CaRE — dossier 750000001 : objectif atteint (D1.PRE)");
    let text = one_line(&accepted.text);
    assert!(
        text.contains("Le contrôleur a accepté cet objectif : il est atteint.")
            && text.contains("attestation signée reçue par courrier")
            && text.contains(&link),
        "{text}"
    );
    assert_ne!(accepted.message_id, asked.message_id, "two decisions, two messages");

    // Each once: nothing left to send, nothing sent again.
    wait_mail_outbox_empty(&srv.app).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(smtp.received().len(), 2, "one e-mail per decision");
    srv.stop.cancel();
}
common::on_each_stack!(a_decision_and_a_request_for_information_each_send_one_mail);

async fn an_smtp_outage_delays_the_mail_and_loses_nothing(stack: Stack) {
    let mut env = TestEnv::new(stack).await;
    // Nothing listens there yet: the SMTP server is down when the controller decides.
    let address = common::free_listen_address();
    env.config.mail = mail_config(&address);
    let (srv, sub, controller) = dossier(&env).await;

    decide(&srv, &controller, sub, "reject", "la facture ne porte pas sur le périmètre du programme").await;
    let start = Instant::now();
    let backlog = loop {
        let backlog = srv.app.backends.index.mail_backlog().await.unwrap();
        if backlog.failing > 0 {
            break backlog;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "no attempt to send: {backlog:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(backlog.pending, 1, "the e-mail waits in the mail outbox");
    assert!(backlog.last_error.as_deref().is_some_and(|e| e.contains("SMTP server unavailable")), "{backlog:?}");

    // The server comes back: the relay, retrying with its backoff (1 s, then 2 s), sends it.
    let smtp = SmtpServer::start(&env, &address).await;
    let got = smtp.wait_for(1, 20).await;
    assert_eq!(got[0].rcpt_tos, [ANNE]);
    assert_eq!(got[0].subject, "CaRE — dossier 750000001 : objectif non atteint (D1.PRE)");
    assert!(one_line(&got[0].text).contains("Commentaire du contrôleur :\n  la facture ne porte pas sur le périmètre du programme\n"), "{}", got[0].text);
    wait_mail_outbox_empty(&srv.app).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(smtp.received().len(), 1, "sent once, once taken");
    srv.stop.cancel();
}
common::on_each_stack!(an_smtp_outage_delays_the_mail_and_loses_nothing);

/// A relay that claimed three letters and died after the server took the first, before
/// recording it: once the lease ends, the next relay sends all three. The first arrives
/// twice, with the same Message-ID (what at-least-once allows, and how a mail client
/// recognises the copy); the other two once; nothing is lost.
async fn a_relay_that_dies_mid_way_sends_again_under_the_same_message_id(stack: Stack) {
    let mut env = TestEnv::new(stack).await;
    let smtp = SmtpServer::start(&env, &common::free_listen_address()).await;
    env.config.mail = mail_config(&smtp.address);
    // No worker and no relay: the test is both relays.
    let app = env.app().await;
    let index = app.backends.index.clone();
    people(app.backends.accounts.as_ref()).await;
    let machine = Verification {
        submission_id: SubmissionId::new(),
        establishment: ESTABLISHMENT.into(),
        campaign: "care-d1-2024".into(),
        referential_id: "care-d1-2024".into(),
        referential_version: "x".into(),
        basis: "b".into(),
        computed_at: chrono::Utc::now(),
        pending: 0,
        verdict: Verdict::NeedsReview,
        objectives: vec![ObjectiveVerdict {
            objective: "D1.PRE".into(),
            title: "Prérequis".into(),
            verdict: Verdict::NeedsReview,
            claimed: true,
            evidence: vec![],
            reasons: vec![],
        }],
        evidence: vec![],
    };
    let mut expected = Vec::new();
    for (kind, comment) in
        [(DecisionKind::RequestInformation, "devis manquant"), (DecisionKind::Reject, "devis hors délai"), (DecisionKind::Accept, "devis reçu")]
    {
        let d = Decision {
            submission_id: machine.submission_id,
            objective: "D1.PRE".into(),
            decision: kind,
            comment: comment.into(),
            actor: "c.martin (controller)".into(),
            decided_at: chrono::Utc::now(),
            basis: "b".into(),
        };
        let draft = caregate_ingest::notify::decision_mail(&env.config.mail, &machine, std::slice::from_ref(&d));
        expected.push(draft.message_id(ANNE));
        assert_eq!(index.put_decisions(std::slice::from_ref(&d), vec![], Some(&draft)).await.unwrap().mails, 1);
    }

    // Relay A claims the three, hands the first to the server, and dies.
    let claimed = index.mail_claim(Duration::from_secs(2), 10).await.unwrap();
    assert_eq!(claimed.len(), 3);
    let mailer = Arc::new(SmtpMailer::new(&env.config.mail).unwrap());
    mailer.send(&claimed[0].letter).await.unwrap();
    drop(claimed);
    assert_eq!(smtp.wait_for(1, 10).await.len(), 1);

    // Relay B: nothing while A's lease holds, then all three.
    let relay = Arc::new(MailRelay::new(index.clone(), mailer, env.config.mail.clone()));
    let stop = tokio_util::sync::CancellationToken::new();
    let running = relay.spawn(stop.clone());
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(smtp.received().len(), 1, "A's letters are its own until its lease ends");
    let got = smtp.wait_for(4, 20).await;
    wait_mail_outbox_empty(&app).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let got_after = smtp.received();
    assert_eq!(got_after.len(), 4, "{got:?}");
    let ids: Vec<&str> = got_after.iter().map(|m| m.message_id.as_str()).collect();
    assert_eq!(ids[0], expected[0]);
    assert_eq!(ids.iter().filter(|id| **id == expected[0]).count(), 2, "the letter A sent comes again, under the same Message-ID: {ids:?}");
    for id in &expected[1..] {
        assert_eq!(ids.iter().filter(|x| *x == id).count(), 1, "{id} once: {ids:?}");
    }
    assert!(got_after.iter().all(|m| m.rcpt_tos == [ANNE]));
    stop.cancel();
    running.await.unwrap();
}
common::on_each_stack!(a_relay_that_dies_mid_way_sends_again_under_the_same_message_id);
