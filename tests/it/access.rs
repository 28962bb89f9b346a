//! Access control: every role (and no credential, and a forged one) against every
//! endpoint, on both stacks. Nothing is read without the right role and scope, and every
//! file read and decision that was allowed is in the hash-chained audit log.

use crate::common;

use std::collections::HashMap;
use std::time::Duration;

use crate::common::{client, serve, TestEnv};
use caregate_schemas::{Role, Scope};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// Who calls.
const CALLERS: [&str; 9] =
    ["anonymous", "forged", "submitter", "submitter_other", "controller_idf", "controller_ara", "controller_national", "archivist", "admin"];

async fn each_role_reaches_only_what_it_may(stack: common::Stack) {
    let env = TestEnv::new(stack).await;
    let srv = serve(&env).await;
    let mut tokens: HashMap<&str, String> = HashMap::new();
    let establishments = |e: &str| Scope::Establishments(vec![e.into()]);
    tokens.insert("forged", "cg_0000000000000000000000000000000000000000000000000000000000000000".into());
    tokens.insert("submitter", srv.account("s1", Role::Submitter, establishments("750000001"), None).await);
    tokens.insert("submitter_other", srv.account("s2", Role::Submitter, establishments("690781810"), None).await);
    tokens.insert("controller_idf", srv.account("c-idf", Role::Controller, Scope::Regions(vec!["IDF".into()]), None).await);
    tokens.insert("controller_ara", srv.account("c-ara", Role::Controller, Scope::Regions(vec!["ARA".into()]), None).await);
    tokens.insert("controller_national", srv.account("c-nat", Role::Controller, Scope::National, None).await);
    tokens.insert("archivist", srv.account("arch", Role::Archivist, Scope::National, None).await);
    tokens.insert("admin", srv.account("adm", Role::Admin, Scope::National, None).await);
    let http = |who: &str| match tokens.get(who) {
        Some(t) => client(t),
        None => reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap(),
    };

    // One dossier of 750000001 (Île-de-France), sent by its submitter.
    let invoice = std::fs::read(common::samples_dir().join("factures/facture-FA-2024-0042.pdf")).unwrap();
    let form = || {
        reqwest::multipart::Form::new()
            .text("establishment", "750000001")
            .text("campaign", "care-d1-2024")
            .text("objective", "D1.FIN")
            .part("file", reqwest::multipart::Part::bytes(invoice.clone()).file_name("facture-FA-2024-0042.pdf"))
    };
    let sent: Value = http("submitter").post(format!("{}/api/evidence", srv.base)).multipart(form()).send().await.unwrap().json().await.unwrap();
    let sub = sent["submission_id"].as_str().unwrap().to_owned();
    let ev = sent["evidence"][0]["evidence_id"].as_str().unwrap().to_owned();
    srv.app.wait_for_verification(sub.parse().unwrap(), 1, Duration::from_secs(30)).await.unwrap();

    // Expected status per caller, in CALLERS order. 200* = allowed but scope-limited
    // to nothing (an empty search).
    let ok = 200;
    let routes: Vec<(Method, String, [u16; 9])> = vec![
        (Method::GET, format!("/api/evidence/{ev}"), [401, 401, ok, 403, ok, 403, ok, ok, 403]),
        (Method::GET, format!("/api/evidence/{ev}/events"), [401, 401, ok, 403, ok, 403, ok, ok, 403]),
        (Method::GET, format!("/api/evidence/{ev}/content"), [401, 401, ok, 403, ok, 403, ok, ok, 403]),
        (Method::GET, format!("/api/evidence/{ev}/text"), [401, 401, ok, 403, ok, 403, ok, ok, 403]),
        (Method::GET, format!("/api/submissions/{sub}"), [401, 401, ok, 403, ok, 403, ok, ok, 403]),
        (Method::GET, format!("/api/submissions/{sub}/verification"), [401, 401, ok, 403, ok, 403, ok, ok, 403]),
        (Method::GET, format!("/submissions/{sub}/verification.html"), [401, 401, ok, 403, ok, 403, ok, ok, 403]),
        (Method::POST, format!("/api/submissions/{sub}/decisions"), [401, 401, 403, 403, ok, 403, ok, 403, 403]),
        (Method::GET, "/api/search?finess=750000001".into(), [401, 401, 403, 403, ok, ok, ok, ok, 403]),
        (Method::POST, "/api/evidence".into(), [401, 401, 202, 403, 403, 403, 403, 403, 403]),
        (Method::DELETE, format!("/api/evidence/{ev}"), [401, 401, 403, 403, 403, 403, 403, 403, 409]),
        (Method::GET, "/console".into(), [303, 303, 403, 403, ok, ok, ok, ok, 403]),
        (Method::GET, format!("/console/evidence/{ev}"), [303, 303, 403, 403, ok, 403, ok, ok, 403]),
        (Method::GET, format!("/console/submissions/{sub}"), [303, 303, 403, 403, ok, 403, ok, ok, 403]),
        (Method::GET, "/console/tableau-de-bord".into(), [303, 303, 403, 403, ok, ok, ok, ok, 403]),
        (Method::GET, "/console/search".into(), [303, 303, 403, 403, ok, ok, ok, ok, 403]),
        (Method::GET, "/api/whoami".into(), [401, 401, ok, ok, ok, ok, ok, ok, ok]),
    ];
    let mut failures = Vec::new();
    let mut file_reads = 0;
    let mut text_reads = 0;
    let mut decisions = 0;
    for (method, path, expected) in &routes {
        for (who, want) in CALLERS.iter().zip(expected) {
            let url = format!("{}{path}", srv.base);
            let c = http(who);
            let req = match (method.clone(), path.as_str()) {
                (Method::POST, "/api/evidence") => c.post(&url).multipart(form()),
                (Method::POST, _) => c.post(&url).json(&json!({"objective": "D1.FIN", "decision": "accept", "comment": format!("vu par {who}")})),
                (m, _) => c.request(m, &url),
            };
            let resp = req.send().await.unwrap();
            let status = resp.status();
            let body = resp.bytes().await.unwrap();
            if status.as_u16() != *want {
                failures.push(format!(
                    "{who} {method} {path}: {status} (expected {want}) {}",
                    String::from_utf8_lossy(&body).chars().take(160).collect::<String>()
                ));
            }
            if !status.is_success() {
                // A refusal carries nothing of the dossier.
                assert!(!body.windows(8).any(|w| w == b"%PDF-1.7") && !String::from_utf8_lossy(&body).contains("FA-2024-0042"), "{who} {path} leaked");
            }
            if status == StatusCode::OK {
                if path.ends_with("/content") {
                    assert_eq!(&body[..], &invoice[..], "{who}: the file's bytes");
                    file_reads += 1;
                }
                if path.ends_with("/text") || path.starts_with("/console/evidence/") {
                    text_reads += 1;
                }
                if *method == Method::POST && path.ends_with("/decisions") {
                    decisions += 1;
                }
                if path.starts_with("/api/search") && who.ends_with("_ara") {
                    assert_eq!(serde_json::from_slice::<Value>(&body).unwrap(), json!([]), "an ARA controller finds nothing of IDF");
                }
            }
        }
    }
    assert!(failures.is_empty(), "{stack:?}:\n{}", failures.join("\n"));

    // Every allowed read and decision is an audit event, naming who; so is the upload.
    let events = srv.app.backends.index.events(ev.parse().unwrap()).await.unwrap();
    assert_eq!(events[0].kind, "received");
    assert_eq!(events[0].detail["actor"], "s1 (submitter)");
    let actors = |kind: &str| events.iter().filter(|e| e.kind == kind).map(|e| e.detail["actor"].as_str().unwrap_or_default().to_owned()).collect::<Vec<_>>();
    assert_eq!(actors("file_read").len(), file_reads);
    assert_eq!(actors("text_read").len(), text_reads);
    assert!(actors("file_read").contains(&"arch (archivist)".to_owned()), "{:?}", actors("file_read"));
    assert_eq!(actors("deletion_refused"), vec!["adm (admin)".to_owned()]);
    let recorded = srv.app.backends.index.decisions(sub.parse().unwrap()).await.unwrap();
    assert_eq!(recorded.len(), decisions);
    assert!(recorded.iter().all(|d| d.actor.ends_with("(controller)")));
    let chain = srv.app.backends.index.check_chain().await.unwrap();
    assert!(chain.problems.is_empty(), "{chain:?}");
    srv.stop.cancel();
}
common::on_each_stack!(each_role_reaches_only_what_it_may);

/// Console log-in: a session cookie for the right password; after five wrong ones the
/// name is refused for a while, even with the right password.
#[tokio::test]
async fn console_logins_give_a_session_and_guessing_is_stopped() {
    let env = TestEnv::new(common::Stack::Embedded).await;
    let srv = serve(&env).await;
    srv.account("c.martin", Role::Controller, Scope::National, Some("un mot de passe assez long")).await;
    let browser = || reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let login = |password: &'static str| {
        let url = format!("{}/console/login", srv.base);
        async move { browser().post(url).form(&[("name", "c.martin"), ("password", password)]).send().await.unwrap() }
    };
    let ok = login("un mot de passe assez long").await;
    assert_eq!(ok.status(), 303);
    let cookie = ok.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("caregate_session=cg_") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    let session = cookie.split(';').next().unwrap().to_owned();
    let page = browser().get(format!("{}/console", srv.base)).header("cookie", &session).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    let at = page.find("name=\"_csrf\" value=\"").expect("the log-out form carries the session's CSRF token") + "name=\"_csrf\" value=\"".len();
    let csrf = page[at..].split('"').next().unwrap().to_owned();
    for _ in 0..5 {
        assert_eq!(login("devinette").await.status(), 401);
    }
    let refused = login("un mot de passe assez long").await;
    assert_eq!(refused.status(), 429, "guessing stopped, right password or not");
    assert!(refused.text().await.unwrap().contains("Trop d'essais"));
    // Logging out ends the session on the server.
    let out = browser()
        .post(format!("{}/console/logout", srv.base))
        .header("cookie", &session)
        .header("origin", &srv.base)
        .form(&[("_csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
    let after = browser().get(format!("{}/console", srv.base)).header("cookie", &session).send().await.unwrap();
    assert_eq!(after.status(), 303);
    srv.stop.cancel();
}

/// A disabled account's tokens stop working at once; a console session expires.
#[tokio::test]
async fn disabled_accounts_and_revoked_credentials_are_refused() {
    let env = TestEnv::new(common::Stack::Embedded).await;
    let srv = serve(&env).await;
    let token = srv.account("arch", Role::Archivist, Scope::National, None).await;
    let who = |t: &str| {
        let url = format!("{}/api/whoami", srv.base);
        let c = client(t);
        async move { c.get(url).send().await.unwrap().status() }
    };
    assert_eq!(who(&token).await, 200);
    let accounts = &srv.app.backends.accounts;
    let mut a = accounts.account("arch").await.unwrap().unwrap();
    a.disabled = true;
    accounts.put_account(&a).await.unwrap();
    assert_eq!(who(&token).await, 401);
    a.disabled = false;
    accounts.put_account(&a).await.unwrap();
    accounts.revoke_credential(&caregate_ingest::auth::token_digest(&token)).await.unwrap();
    assert_eq!(who(&token).await, 401);
    let expired = caregate_ingest::auth::new_token();
    accounts
        .add_credential(
            &caregate_ingest::auth::token_digest(&expired),
            "arch",
            caregate_storage::CredentialKind::Session,
            "console",
            Some(chrono::Utc::now() - chrono::Duration::seconds(1)),
        )
        .await
        .unwrap();
    assert_eq!(who(&expired).await, 401);
    srv.stop.cancel();
}

/// Two `serve`s behind one load balancer share the log-in throttle: failures made on one
/// count on the other, because they are counted in the database both use.
async fn two_servers_share_the_login_throttle(stack: common::Stack) {
    let env = TestEnv::new(stack).await;
    let a = serve(&env).await;
    let b = serve(&env).await;
    a.account("c.martin", Role::Controller, Scope::National, Some("un mot de passe assez long")).await;
    let login = |base: String, password: &'static str| async move {
        let browser = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        browser.post(format!("{base}/console/login")).form(&[("name", "c.martin"), ("password", password)]).send().await.unwrap().status()
    };
    for i in 0..5 {
        let srv = if i % 2 == 0 { &a } else { &b };
        assert_eq!(login(srv.base.clone(), "devinette").await, 401, "{stack:?}");
    }
    for srv in [&a, &b] {
        assert_eq!(login(srv.base.clone(), "un mot de passe assez long").await, 429, "{stack:?}: five failures across both servers");
    }
    a.stop.cancel();
    b.stop.cancel();
}
common::on_each_stack!(two_servers_share_the_login_throttle);

/// `caregate account …` as an administrator runs it, against this test's back ends.
async fn account_cli(env: &TestEnv, args: &[&str], stdin: Option<&str>) -> std::process::Output {
    use std::process::Stdio;
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_caregate"))
        .envs(env.child_env())
        .env("CAREGATE_LOG", "warn")
        .arg("account")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("caregate account");
    let mut input = child.stdin.take().expect("stdin");
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).await.expect("write stdin");
    }
    drop(input);
    child.wait_with_output().await.expect("caregate account output")
}

/// A token revoked one by one with `caregate account revoke` is refused (401) from the
/// next request while the account's other credentials work; a password change ends the
/// console session and every token; a disabled account enabled again gets none back.
async fn revoked_tokens_and_password_changes_end_access(stack: common::Stack) {
    const PASSWORD: &str = "un mot de passe assez long";
    const NEW_PASSWORD: &str = "un autre mot de passe, plus long";
    let env = TestEnv::new(stack).await;
    let srv = serve(&env).await;
    let accounts = srv.app.backends.accounts.clone();
    let script = srv.account("c.martin", Role::Controller, Scope::Regions(vec!["IDF".into()]), Some(PASSWORD)).await;
    let ecare = caregate_ingest::issue_token(accounts.as_ref(), "c.martin", "ecare").await.unwrap();
    let who = |token: &str| {
        let (url, c) = (format!("{}/api/whoami", srv.base), client(token));
        async move { c.get(url).send().await.unwrap().status().as_u16() }
    };
    let browser = || reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let log_in = |password: &'static str| {
        let url = format!("{}/console/login", srv.base);
        async move {
            let resp = browser().post(url).form(&[("name", "c.martin"), ("password", password)]).send().await.unwrap();
            let cookie = resp.headers().get("set-cookie").map(|c| c.to_str().unwrap().split(';').next().unwrap().to_owned());
            (resp.status().as_u16(), cookie)
        }
    };
    let console = |session: String| {
        let url = format!("{}/console", srv.base);
        async move { browser().get(url).header("cookie", session).send().await.unwrap().status().as_u16() }
    };
    let (status, session) = log_in(PASSWORD).await;
    assert_eq!(status, 303);
    let session = session.expect("a session cookie");
    assert_eq!((who(&script).await, who(&ecare).await, console(session.clone()).await), (200, 200, 200));

    // Listed by a short id, never the secret nor the whole hash; revoked by that id.
    let out = account_cli(&env, &["tokens", "c.martin"], None).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let listing = String::from_utf8(out.stdout).unwrap();
    let digest = caregate_ingest::auth::token_digest(&script);
    let id = &digest[..caregate_storage::CREDENTIAL_ID_LEN];
    assert_eq!(listing.lines().count(), 3, "two tokens and the session:\n{listing}");
    let line = listing.lines().find(|l| l.starts_with(id)).unwrap_or_else(|| panic!("{id} listed:\n{listing}"));
    assert!(line.contains("api_token") && line.contains("test") && line.contains("expires never"), "{line}");
    assert!(listing.lines().any(|l| l.contains("session") && l.contains("console")), "{listing}");
    assert!(!listing.contains(&digest) && !listing.contains(&script) && !listing.contains(&ecare), "{listing}");
    let out = account_cli(&env, &["revoke", "c.martin", id], None).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(who(&script).await, 401, "revoked");
    assert_eq!((who(&ecare).await, console(session.clone()).await), (200, 200), "the account's other credentials still work");
    let again = account_cli(&env, &["revoke", "c.martin", id], None).await;
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("no API token or session of c.martin"), "{}", String::from_utf8_lossy(&again.stderr));
    let short = account_cli(&env, &["revoke", "c.martin", "ab"], None).await;
    assert_eq!(short.status.code(), Some(2), "{}", String::from_utf8_lossy(&short.stderr));
    assert_eq!(who(&ecare).await, 200, "refused revocations revoke nothing");

    // A new display name ends nothing; a new password ends the session and the tokens.
    let mut a = accounts.account("c.martin").await.unwrap().unwrap();
    a.display_name = "Claire Martin".into();
    accounts.put_account(&a).await.unwrap();
    assert_eq!((who(&ecare).await, console(session.clone()).await), (200, 200));
    let out = account_cli(&env, &["add", "c.martin", "--role", "controller", "--region", "IDF", "--password-stdin"], Some(&format!("{NEW_PASSWORD}\n"))).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("2 API token(s) and session(s) ended"), "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(console(session.clone()).await, 303, "the session ended with the password");
    assert_eq!(who(&ecare).await, 401, "and so did the token");
    assert_eq!(log_in(PASSWORD).await.0, 401);
    let (status, fresh) = log_in(NEW_PASSWORD).await;
    assert_eq!(status, 303);
    assert_eq!(console(fresh.clone().expect("a session cookie")).await, 200);

    // Disabled then enabled: nothing issued before comes back.
    let kept = caregate_ingest::issue_token(accounts.as_ref(), "c.martin", "before").await.unwrap();
    assert!(account_cli(&env, &["disable", "c.martin"], None).await.status.success());
    let refused = account_cli(&env, &["token", "c.martin"], None).await;
    assert_eq!(refused.status.code(), Some(2), "a disabled account is given no token: {}", String::from_utf8_lossy(&refused.stdout));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("no enabled account"), "{}", String::from_utf8_lossy(&refused.stderr));
    assert!(account_cli(&env, &["enable", "c.martin"], None).await.status.success());
    assert_eq!((who(&kept).await, console(fresh.unwrap()).await), (401, 303), "enabling again revives nothing");
    let out = account_cli(&env, &["token", "c.martin"], None).await;
    assert_eq!(who(String::from_utf8(out.stdout).unwrap().trim()).await, 200, "new tokens work");
    srv.stop.cancel();
}
common::on_each_stack!(revoked_tokens_and_password_changes_end_access);
