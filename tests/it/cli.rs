//! The `caregate` command as people run it: demo, submit (direct and through a server),
//! report and reverify, keygen, export and verify-bag.

use crate::common;

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::common::{Stack, TestEnv};
use caregate_schemas::{EvidenceRecord, Status, Verification};

fn caregate(env: &TestEnv) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_caregate"));
    cmd.envs(env.child_env()).env("CAREGATE_LOG", "warn");
    cmd
}

fn records(out: &Output) -> Vec<EvidenceRecord> {
    String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("JSON line {l:?}: {e}"))).collect()
}

#[test]
fn demo_runs_the_pipeline_on_the_samples() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let env = rt.block_on(TestEnv::new(Stack::Embedded));
    let out = caregate(&env).args(["demo", "--json", "--eicar"]).arg(common::samples_dir()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let recs = records(&out);
    let expected = caregate::accuracy::load_expected(&common::samples_dir()).unwrap();
    // Every sample, the three members of the two zips, and EICAR.
    assert_eq!(recs.len(), expected.len() + 3 + 1);
    for r in &recs {
        let status = match (r.path.as_str(), expected.get(&r.path)) {
            ("genere-a-l-execution/eicar.txt", _) => Status::Infected,
            (_, Some(e)) => e.status,
            _ => Status::Stored,
        };
        assert_eq!(r.status, status, "{}", r.path);
    }
    let review = expected.values().filter(|e| e.status == Status::NeedsReview).count();
    let stored = expected.len() + 3 - review;
    let table = caregate(&env).arg("demo").arg(common::samples_dir()).output().unwrap();
    let text = String::from_utf8_lossy(&table.stdout);
    let summary = format!("{} files: {review} needs_review, {stored} stored", expected.len() + 3);
    assert!(text.contains(&summary), "{summary} in {text}");

    // The samples judged as one dossier, then reported and judged again from the index.
    assert!(text.contains("D1.EXP.REMED") && text.contains("Conclusion : Non atteint"), "{text}");
    let id = text.lines().find_map(|l| l.strip_prefix("Dossier ")).and_then(|l| l.split_whitespace().next()).expect("dossier id");
    let data = text.lines().find_map(|l| l.split("data kept in ").nth(1)).expect("data dir").trim();
    let report = caregate(&env).env("CAREGATE_BACKENDS__DATA_DIR", data).args(["report", "--json", "--submission", id]).output().unwrap();
    assert_eq!(report.status.code(), Some(1), "not every objective is met: {}", String::from_utf8_lossy(&report.stderr));
    let v: Verification = serde_json::from_slice(&report.stdout).unwrap();
    assert_eq!((v.objectives.len(), v.pending, v.evidence.len()), (6, 0, expected.len() + 3));
    let html = caregate(&env).env("CAREGATE_BACKENDS__DATA_DIR", data).args(["report", "--html", "--submission", id]).output().unwrap();
    assert!(String::from_utf8_lossy(&html.stdout).starts_with("<!DOCTYPE html>"));
    let again = caregate(&env).env("CAREGATE_BACKENDS__DATA_DIR", data).args(["reverify", "--all"]).output().unwrap();
    let again = String::from_utf8_lossy(&again.stdout);
    assert!(again.contains("1 submissions: 0 changed, 1 unchanged, 0 skipped"), "{again}");

    // The archivist's round trip: a key, a signed bag, checked offline, a change caught.
    let key = env.dir.path().join("archive.key");
    let keygen = caregate(&env).arg("keygen").arg(&key).output().unwrap();
    let public = String::from_utf8_lossy(&keygen.stdout).trim().to_owned();
    assert_eq!(public.len(), 64, "{public}");
    let bag = env.dir.path().join("dossier.bag");
    let export = caregate(&env)
        .env("CAREGATE_BACKENDS__DATA_DIR", data)
        .env("CAREGATE_ARCHIVE__SIGNING_KEY", &key)
        .args(["export", "--submission", id])
        .arg(&bag)
        .output()
        .unwrap();
    assert!(export.status.success(), "{}", String::from_utf8_lossy(&export.stderr));
    let check = caregate(&env).arg("verify-bag").arg(&bag).args(["--public-key", &public]).output().unwrap();
    assert!(check.status.success() && String::from_utf8_lossy(&check.stdout).contains("bag valid"), "{}", String::from_utf8_lossy(&check.stdout));
    std::fs::write(bag.join("data/files/finances/bilan-financier.csv"), "N° facture;Montant TTC\nFA-1;99 999,00\n").unwrap();
    let check = caregate(&env).arg("verify-bag").arg(&bag).args(["--public-key", &public]).output().unwrap();
    assert_eq!(check.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&check.stdout).contains("data/files/finances/bilan-financier.csv changed"), "{}", String::from_utf8_lossy(&check.stdout));
}

#[test]
fn submit_reports_each_file_and_fails_on_infected() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let env = rt.block_on(TestEnv::new(Stack::Embedded));
    let dir = env.dir.path().join("dossier");
    std::fs::create_dir_all(dir.join("factures")).unwrap();
    std::fs::write(dir.join("factures/facture.txt"), "FACTURE N° FA-1\nTotal TTC : 1 234,56 €\nNet à payer : 1 234,56 €").unwrap();
    std::fs::write(dir.join("rapport.xml"), "<?xml version=\"1.0\"?><nmaprun/>").unwrap();
    let args = ["submit", "--establishment", "750000001", "--objective", "D1.FIN", "--json"];
    let out = caregate(&env).args(args).arg(&dir).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let recs = records(&out);
    let paths: Vec<&str> = recs.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, ["factures/facture.txt", "rapport.xml"]);
    assert!(recs.iter().all(|r| r.status == Status::Stored && r.submission.objectives == ["D1.FIN"]));

    std::fs::write(dir.join("eicar.com"), common::eicar()).unwrap();
    let out = caregate(&env).args(args).arg(&dir).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "an infected file makes submit fail");
    assert!(records(&out).iter().any(|r| r.status == Status::Infected));

    let bad = caregate(&env).args(["submit", "--establishment", "123", "--json"]).arg(&dir).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("FINESS"));
}

/// `serve` and `worker` as separate processes on RabbitMQ, PostgreSQL and Garage, and an
/// establishment's `submit --server` talking to them over HTTP.
#[test]
fn submit_through_a_server_on_the_full_stack() {
    if !common::stacks().contains(&Stack::Full) {
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let env = rt.block_on(TestEnv::new(Stack::Full));
    // Declares the queues and creates the buckets before the processes start.
    drop(rt.block_on(env.app()));
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let listen = format!("127.0.0.1:{port}");
    let _serve = common::Child(caregate(&env).arg("serve").env("CAREGATE_LISTEN", &listen).stdout(Stdio::null()).spawn().unwrap());
    let _worker = common::Child(caregate(&env).arg("worker").stdout(Stdio::null()).spawn().unwrap());
    let mut up = false;
    for _ in 0..100 {
        if std::net::TcpStream::connect(&listen).is_ok() {
            up = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(up, "serve listens");
    // The establishment's account and token, made with the CLI.
    let out = caregate(&env).args(["account", "add", "depot-2a", "--role", "submitter", "--establishment", "2A0000022"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = caregate(&env).args(["account", "token", "depot-2a"]).output().unwrap();
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(token.starts_with("cg_"), "{token}");
    // `submit --server` as an establishment's tool runs it: a plain process, the token
    // in its environment.
    let submit = |finess: &str, extra: &[&str], paths: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_caregate"));
        cmd.args(["submit", "--establishment", finess, "--json", "--wait-secs", "60", "--server", &format!("http://{listen}")])
            .args(extra)
            .env("CAREGATE_TOKEN", &token);
        cmd.args(paths.iter().map(|p| common::samples_dir().join(p))).output().unwrap()
    };
    let refused = submit("750000001", &[], &["exposition"]);
    assert!(!refused.status.success(), "another establishment's files are refused");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("403"), "{}", String::from_utf8_lossy(&refused.stderr));
    let out = submit("2A0000022", &["--objective", "D1.EXP.AUDIT"], &["exposition", "annuaire/ad_hc_ch-exemple.local.xml"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let recs = records(&out);
    assert_eq!(recs.len(), 4);
    // A disabled account's token stops working at once.
    assert!(caregate(&env).args(["account", "disable", "depot-2a"]).status().unwrap().success());
    let after = submit("2A0000022", &[], &["exposition"]);
    assert!(String::from_utf8_lossy(&after.stderr).contains("401"), "{}", String::from_utf8_lossy(&after.stderr));
    for r in &recs {
        assert_eq!(r.status, Status::Stored, "{}", r.path);
        assert_eq!(r.submission.establishment, "2A0000022");
        let kind = if r.path.contains("ad_hc_") { "ad_audit_report" } else { "exposure_scan" };
        assert_eq!(r.kind.map(|k| k.as_str()), Some(kind), "{}", r.path);
    }
}

/// `caregate accuracy` agrees with the truth file on every sample (exit 0), and `read`
/// prints the record fields of one file.
#[test]
fn accuracy_and_read_on_the_samples() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let env = rt.block_on(TestEnv::new(Stack::Embedded));
    let out = caregate(&env).args(["accuracy", "--pdf-runs", "0"]).arg(common::samples_dir()).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("files entirely right"), "{text}");

    let out = caregate(&env).arg("read").arg(common::samples_dir().join("factures/facturx-basic-FA-2024-0062.pdf")).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["kind"], "invoice");
    assert_eq!(v["fields"]["total_ttc"], "2940.60");
    assert_eq!(v["fields"]["source"], "facturx");
}

/// A typo in a key, in the file or in a variable, stops `caregate serve` with the key's
/// name; so does a value that cannot work, with the key it is under.
#[test]
fn strict_configuration_names_the_wrong_key() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let env = rt.block_on(TestEnv::new(Stack::Embedded));
    let refused = |cmd: &mut Command| -> String {
        let out = cmd.arg("serve").output().unwrap();
        assert!(!out.status.success(), "serve started with a wrong configuration");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let file = env.dir.path().join("caregate.toml");
    std::fs::write(&file, "[worker]\nprefech = 32\n").unwrap();
    let err = refused(caregate(&env).env("CAREGATE_CONFIG", &file));
    assert!(err.contains("prefech"), "{err}");

    let err = refused(caregate(&env).env("CAREGATE_WORKER__PREFECH", "32"));
    assert!(err.contains("prefech"), "{err}");

    let err = refused(caregate(&env).env("CAREGATE_WORKER__PREFETCH", "0"));
    assert!(err.contains("worker.prefetch must be at least 1"), "{err}");

    let err = refused(caregate(&env).env("CAREGATE_WORKER__STALE_AFTER_SECS", "60").env("CAREGATE_BACKENDS__RETRY__DELAYS_MS", "[1000, 600000]"));
    assert!(err.contains("worker.stale_after_secs (60 s) must be longer than the longest retry delay (600000 ms"), "{err}");

    // The harness's own variables are not configuration, and are not refused.
    let out = caregate(&env).env("CAREGATE_TEST_STACKS", "embedded").args(["schema"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// `submit --server` rides out an outage and resumes: started while nothing listens yet,
/// it retries until `serve` is up and finishes the dossier (exit 0); run again with
/// `--submission`, it sends nothing twice; against a server that never comes, it stops
/// after `--retry-secs` with exit 3 and says how to resume.
#[test]
fn submit_retries_through_an_outage_and_resumes_without_duplicates() {
    if !common::stacks().contains(&Stack::Full) {
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let env = rt.block_on(TestEnv::new(Stack::Full));
    let app = rt.block_on(env.app());
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let listen = format!("127.0.0.1:{port}");
    assert!(caregate(&env)
        .args(["account", "add", "depot-750000001", "--role", "submitter", "--establishment", "750000001"])
        .output()
        .unwrap()
        .status
        .success());
    let token = String::from_utf8(caregate(&env).args(["account", "token", "depot-750000001"]).output().unwrap().stdout).unwrap().trim().to_owned();
    let sub = caregate_schemas::SubmissionId::new();
    let submit = |server: &str, retry_secs: &str| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_caregate"));
        cmd.args(["submit", "--establishment", "750000001", "--json", "--wait-secs", "60", "--retry-secs", retry_secs, "--server", server])
            .args(["--submission", &sub.to_string()])
            .arg(common::samples_dir().join("exposition"))
            .env("CAREGATE_TOKEN", &token)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    };
    // Nothing listens yet: the client keeps trying.
    let client = submit(&format!("http://{listen}"), "120").spawn().unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let _serve = common::Child(caregate(&env).arg("serve").env("CAREGATE_LISTEN", &listen).stdout(Stdio::null()).spawn().unwrap());
    let _worker = common::Child(caregate(&env).arg("worker").stdout(Stdio::null()).spawn().unwrap());
    let out = client.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let first = records(&out);
    assert_eq!(first.len(), 3);
    assert!(first.iter().all(|r| r.status == Status::Stored));

    // Again, as a resume: nothing new is recorded.
    let out = submit(&format!("http://{listen}"), "30").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(records(&out).len(), 3);
    assert_eq!(rt.block_on(app.backends.index.submission(sub)).unwrap().len(), 3, "no record twice");

    // A server that never comes: exit 3, and how to resume.
    let gone = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let out = submit(&format!("http://{gone}"), "2").output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("--submission {sub}")), "{}", String::from_utf8_lossy(&out.stderr));
}

/// `CAREGATE_LOG_FORMAT=json`: every log line is one JSON object with its level, target
/// and message (what a log collector ingests).
#[test]
fn logs_can_be_json_lines() {
    use std::io::BufRead;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let env = rt.block_on(TestEnv::new(Stack::Embedded));
    let mut serve = caregate(&env)
        .arg("serve")
        .env("CAREGATE_LISTEN", common::free_listen_address())
        .env("CAREGATE_LOG", "info")
        .env("CAREGATE_LOG_FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = serve.stderr.take().unwrap();
    let serve = common::Child(serve);
    let mut seen = Vec::new();
    for line in std::io::BufReader::new(stderr).lines() {
        let line = line.unwrap();
        let event: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("not a JSON line: {line:?}: {e}"));
        assert!(event["level"].is_string() && event["target"].is_string() && event["timestamp"].is_string(), "{line}");
        let message = event["message"].as_str().unwrap_or_default().to_owned();
        seen.push(message.clone());
        if message.starts_with("listening on") {
            break;
        }
    }
    drop(serve);
    assert!(seen.iter().any(|m| m.starts_with("no account yet")), "{seen:?}");
}

/// `account add` refuses a scope that makes no sense for the role, with the rule in the
/// message and exit 2, and writes nothing; sensible ones are accepted.
#[test]
fn account_scopes_must_fit_the_role() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let env = rt.block_on(TestEnv::new(Stack::Embedded));
    let refused: [(&[&str], &str); 6] = [
        (&["s1", "--role", "submitter", "--region", "IDF"], "a submitter must be scoped to establishments"),
        (&["s2", "--role", "submitter"], "a submitter must be scoped to establishments (FINESS numbers), not to the whole country"),
        (&["s3", "--role", "submitter", "--establishment", "750000001", "--establishment", "75000001"], "\"75000001\" is not a FINESS number"),
        (&["c1", "--role", "controller", "--establishment", "750000001"], "a controller must be scoped to regions or the whole country, not to establishments"),
        (&["c2", "--role", "controller", "--region", "XYZ"], "unknown region \"XYZ\""),
        (&["a1", "--role", "admin", "--region", "IDF"], "an admin must be scoped to the whole country"),
    ];
    for (args, message) in refused {
        let out = caregate(&env).arg("account").arg("add").args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
    let accepted: [&[&str]; 5] = [
        &["s1", "--role", "submitter", "--establishment", "750000001", "--establishment", "2A0000022"],
        &["c1", "--role", "controller", "--region", "idf", "--region", "ARA"],
        &["c2", "--role", "controller"],
        &["r1", "--role", "archivist", "--region", "OCC"],
        &["a1", "--role", "admin"],
    ];
    for args in accepted {
        let out = caregate(&env).arg("account").arg("add").args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let list = caregate(&env).args(["account", "list"]).output().unwrap();
    let names: Vec<String> = String::from_utf8_lossy(&list.stdout).lines().map(|l| l.split('\t').next().unwrap_or_default().to_owned()).collect();
    assert_eq!(names, ["a1", "c1", "c2", "r1", "s1"], "only what was accepted");
    assert!(String::from_utf8_lossy(&list.stdout).contains("Regions([\"IDF\", \"ARA\"])"), "region codes kept in capitals");

    // The address decisions are told at: checked, kept when the account is replaced
    // without one, changed and removed by `account email`.
    let out =
        caregate(&env).args(["account", "add", "s2", "--role", "submitter", "--establishment", "750000001", "--email", "pas une adresse"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("\"pas une adresse\" is not an e-mail address"), "{}", String::from_utf8_lossy(&out.stderr));
    let email_of = |name: &str| {
        let list = caregate(&env).args(["account", "list"]).output().unwrap();
        let line = String::from_utf8_lossy(&list.stdout).lines().find(|l| l.starts_with(&format!("{name}\t"))).map(str::to_owned).unwrap_or_default();
        line.split('\t').find(|f| f.contains('@')).map(str::to_owned)
    };
    let ok = |args: &[&str]| {
        let out = caregate(&env).args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    ok(&["account", "add", "s1", "--role", "submitter", "--establishment", "750000001", "--email", " depot@chu-exemple.fr "]);
    assert_eq!(email_of("s1").as_deref(), Some("depot@chu-exemple.fr"));
    ok(&["account", "add", "s1", "--role", "submitter", "--establishment", "750000001", "--display-name", "Dépôt"]);
    assert_eq!(email_of("s1").as_deref(), Some("depot@chu-exemple.fr"), "kept by a replacement without --email");
    ok(&["account", "email", "s1", "autre@chu-exemple.fr"]);
    assert_eq!(email_of("s1").as_deref(), Some("autre@chu-exemple.fr"));
    let out = caregate(&env).args(["account", "email", "s1", "autre@"]).output().unwrap();
    assert!(!out.status.success(), "an invalid address is refused");
    ok(&["account", "email", "s1", "--none"]);
    assert_eq!(email_of("s1"), None);
}
