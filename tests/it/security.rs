//! No one in where they don't belong (issue #22), probed as an attacker would: an
//! upload's fields resent after a file, a file pushed into another establishment's
//! dossier, unknown campaigns, a huge anonymous log-in, guesses in parallel, a forged
//! console POST, stalled uploads holding every slot, the operations endpoints. The role ×
//! route matrix itself is `access::each_role_reaches_only_what_it_may`, on both stacks.

use std::time::{Duration, Instant};

use caregate_schemas::{Role, Scope};
use reqwest::multipart::{Form, Part};
use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{self, client, serve, Server, TestEnv};

fn invoice() -> Vec<u8> {
    std::fs::read(common::samples_dir().join("factures/facture-FA-2024-0042.pdf")).unwrap()
}

fn file(name: &str) -> Part {
    Part::bytes(invoice()).file_name(name.to_owned())
}

async fn post(c: &reqwest::Client, srv: &Server, form: Form) -> (StatusCode, Value) {
    let r = c.post(format!("{}/api/evidence", srv.base)).multipart(form).send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn establishments(e: &str) -> Scope {
    Scope::Establishments(vec![e.into()])
}

/// One invoice sent for 750000001 by `c`, judged; its dossier's id.
async fn judged_dossier(c: &reqwest::Client, srv: &Server) -> String {
    let (status, sent) = post(
        c,
        srv,
        Form::new().text("establishment", "750000001").text("campaign", "care-d1-2024").text("objective", "D1.FIN").part("file", file("facture.pdf")),
    )
    .await;
    assert_eq!(status, 202, "{sent}");
    let sub = sent["submission_id"].as_str().unwrap().to_owned();
    srv.app.wait_for_verification(sub.parse().unwrap(), 1, Duration::from_secs(60)).await.unwrap();
    sub
}

/// The fields of an upload are fixed before its first file: sent again after it (or
/// twice), the request is refused and nothing is recorded, for either establishment.
async fn upload_fields_cannot_change_after_the_first_file(stack: common::Stack) {
    let env = TestEnv::new(stack).await;
    let srv = serve(&env).await;
    let me = client(&srv.account("s1", Role::Submitter, establishments("750000001"), None).await);
    let other = client(&srv.account("s2", Role::Submitter, establishments("690781810"), None).await);
    let (status, first) = post(
        &other,
        &srv,
        Form::new().text("establishment", "690781810").text("campaign", "care-d1-2024").text("objective", "D1.FIN").part("file", file("leur.pdf")),
    )
    .await;
    assert_eq!(status, 202, "{first}");
    let theirs: String = first["submission_id"].as_str().unwrap().into();

    let swaps: Vec<(&str, Form)> = vec![
        (
            "establishment after a file",
            Form::new()
                .text("establishment", "750000001")
                .text("campaign", "care-d1-2024")
                .part("file", file("a.pdf"))
                .text("establishment", "690781810")
                .part("file", file("b.pdf")),
        ),
        (
            "submission_id after a file",
            Form::new()
                .text("establishment", "750000001")
                .text("campaign", "care-d1-2024")
                .part("file", file("a.pdf"))
                .text("submission_id", theirs.clone())
                .part("file", file("b.pdf")),
        ),
        (
            "campaign twice",
            Form::new().text("establishment", "750000001").text("campaign", "care-d1-2024").text("campaign", "autre").part("file", file("a.pdf")),
        ),
        (
            "establishment twice",
            Form::new().text("establishment", "750000001").text("establishment", "690781810").text("campaign", "care-d1-2024").part("file", file("a.pdf")),
        ),
        (
            "category after a file",
            Form::new().text("establishment", "750000001").text("campaign", "care-d1-2024").part("file", file("a.pdf")).text("category", "ght"),
        ),
    ];
    for (what, form) in swaps {
        let (status, body) = post(&me, &srv, form).await;
        assert_eq!(status, 400, "{stack:?} {what}: {body}");
        assert_eq!(body["error"], "field_order", "{what}: {body}");
    }
    // Nothing of those requests was recorded anywhere.
    let archivist = client(&srv.account("arch", Role::Archivist, Scope::National, None).await);
    for finess in ["750000001", "690781810"] {
        let found: Vec<Value> = archivist.get(format!("{}/api/search?finess={finess}", srv.base)).send().await.unwrap().json().await.unwrap();
        let names: Vec<&str> = found.iter().filter_map(|r| r["path"].as_str()).collect();
        assert!(!names.contains(&"a.pdf") && !names.contains(&"b.pdf"), "{stack:?}: {finess} holds {names:?}");
    }
    let theirs_now: Value = archivist.get(format!("{}/api/submissions/{theirs}", srv.base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(theirs_now["evidence"].as_array().unwrap().len(), 1, "{stack:?}: their dossier is untouched");
    srv.stop.cancel();
}
common::on_each_stack!(upload_fields_cannot_change_after_the_first_file);

/// A dossier is its first file's establishment's forever: another establishment's
/// submitter can neither add to it nor read it, and its owner keeps it.
async fn a_dossier_belongs_to_its_first_establishment(stack: common::Stack) {
    let env = TestEnv::new(stack).await;
    let srv = serve(&env).await;
    let owner = client(&srv.account("s1", Role::Submitter, establishments("750000001"), None).await);
    let intruder = client(&srv.account("s2", Role::Submitter, establishments("690781810"), None).await);
    let idf = client(&srv.account("c-idf", Role::Controller, Scope::Regions(vec!["IDF".into()]), None).await);
    let ara = client(&srv.account("c-ara", Role::Controller, Scope::Regions(vec!["ARA".into()]), None).await);
    let sub = judged_dossier(&owner, &srv).await;

    // Its own establishment, someone else's dossier: refused before a byte is kept.
    let (status, body) = post(
        &intruder,
        &srv,
        Form::new().text("establishment", "690781810").text("campaign", "care-d1-2024").text("submission_id", sub.clone()).part("file", file("intrus.pdf")),
    )
    .await;
    assert_eq!(status, 403, "{stack:?}: {body}");
    // The owner cannot move its own dossier to another campaign either.
    let (status, body) = post(
        &owner,
        &srv,
        Form::new().text("establishment", "750000001").text("campaign", "care-d1-2024-bis").text("submission_id", sub.clone()).part("file", file("x.pdf")),
    )
    .await;
    assert_eq!(status, 400, "{stack:?}: an unknown campaign first: {body}");

    let owner_of = srv.app.backends.index.submission_owner(sub.parse().unwrap()).await.unwrap().unwrap();
    assert_eq!(owner_of.establishment, "750000001");
    for (who, c, want) in [("owner", &owner, 200), ("intruder", &intruder, 403), ("IDF", &idf, 200), ("ARA", &ara, 403)] {
        for path in [format!("/api/submissions/{sub}"), format!("/api/submissions/{sub}/verification"), format!("/submissions/{sub}/verification.html")] {
            let status = c.get(format!("{}{path}", srv.base)).send().await.unwrap().status();
            assert_eq!(status, want, "{stack:?}: {who} on {path}");
        }
    }
    let decision = serde_json::json!({"objective": "D1.FIN", "decision": "accept", "comment": "hors de ma région"});
    let status = ara.post(format!("{}/api/submissions/{sub}/decisions", srv.base)).json(&decision).send().await.unwrap().status();
    assert_eq!(status, 403, "{stack:?}: a controller of another region decides nothing");
    let v: Value = owner.get(format!("{}/api/submissions/{sub}/verification", srv.base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(v["establishment"], "750000001");
    assert_eq!(v["evidence"].as_array().unwrap().len(), 1, "{stack:?}: nothing was added");
    srv.stop.cancel();
}
common::on_each_stack!(a_dossier_belongs_to_its_first_establishment);

/// What the deployment cannot judge is refused at the door, in French.
#[tokio::test]
async fn unknown_campaigns_objectives_categories_and_the_nil_id_are_refused() {
    let env = TestEnv::new(common::Stack::Embedded).await;
    let srv = serve(&env).await;
    let me = client(&srv.account("s1", Role::Submitter, establishments("750000001"), None).await);
    let base = || Form::new().text("establishment", "750000001");
    let cases: Vec<(&str, Form)> = vec![
        ("campagne", base().text("campaign", "care-d9-2099").part("file", file("a.pdf"))),
        ("objectif", base().text("campaign", "care-d1-2024").text("objective", "D9.RIEN").part("file", file("a.pdf"))),
        ("catégorie", base().text("campaign", "care-d1-2024").text("category", "luxe").part("file", file("a.pdf"))),
        ("identifiant nul", base().text("campaign", "care-d1-2024").text("submission_id", uuid::Uuid::nil().to_string()).part("file", file("a.pdf"))),
    ];
    for (what, form) in cases {
        let (status, body) = post(&me, &srv, form).await;
        assert_eq!(status, 400, "{what}: {body}");
        assert_eq!(body["error"], "unknown_value", "{what}: {body}");
        assert!(body["message"].as_str().unwrap().contains("inconnu"), "{what}: said in French: {body}");
    }
    let (status, body) =
        post(&me, &srv, base().text("campaign", "care-d1-2024").text("category", "ght").text("objective", "D1.FIN").part("file", file("a.pdf"))).await;
    assert_eq!(status, 202, "a known campaign, objective and category pass: {body}");
    srv.stop.cancel();
}

/// This process's resident memory, in bytes (the server runs in it).
fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    statm.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 4096
}

/// A body of `len` bytes made as it is sent: the client itself holds none of it.
fn streamed(len: usize, byte: u8) -> reqwest::Body {
    const CHUNK: usize = 64 * 1024;
    let chunks = (0..len.div_ceil(CHUNK)).map(move |i| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![byte; CHUNK.min(len - i * CHUNK)])));
    reqwest::Body::wrap_stream(futures::stream::iter(chunks))
}

/// Nobody without an account can make the server read a large body: a 64 MB log-in is
/// refused with 413, an upload's oversized text field and a 100 MB part header are
/// refused, and memory barely moves.
#[tokio::test]
async fn large_bodies_without_reason_are_refused_and_memory_stays_put() {
    let env = TestEnv::new(common::Stack::Embedded).await;
    let srv = serve(&env).await;
    let me = client(&srv.account("s1", Role::Submitter, establishments("750000001"), None).await);
    let before = resident_bytes();
    let anonymous = reqwest::Client::new();
    let login = anonymous
        .post(format!("{}/console/login", srv.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("content-length", (64 * 1024 * 1024).to_string())
        .body(streamed(64 * 1024 * 1024, b'a'))
        .send()
        .await;
    // The server may answer 413 and close before the client has sent everything.
    if let Ok(r) = login {
        assert_eq!(r.status(), 413);
    }
    // Without a length announced, the body is cut at the limit.
    let chunked = anonymous
        .post(format!("{}/console/login", srv.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(streamed(64 * 1024 * 1024, b'a'))
        .send()
        .await;
    if let Ok(r) = chunked {
        assert_eq!(r.status(), 413);
    }

    // An upload's text field over its cap.
    let (status, body) =
        post(&me, &srv, Form::new().text("establishment", "7".repeat(64 * 1024)).text("campaign", "care-d1-2024").part("file", file("a.pdf"))).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["message"].as_str().unwrap().contains("longer than"), "{body}");

    // A part whose header block never ends (100 MB of one header line).
    let boundary = "caregate-limite";
    let head = format!("--{boundary}\r\nContent-Disposition: form-data; name=\"establishment\"\r\nX-Long: ");
    let body = futures::stream::iter(
        std::iter::once(Ok::<_, std::io::Error>(bytes::Bytes::from(head))).chain((0..1600).map(|_| Ok(bytes::Bytes::from(vec![b'x'; 64 * 1024])))),
    );
    let r = me
        .post(format!("{}/api/evidence", srv.base))
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await;
    if let Ok(r) = r {
        let status = r.status();
        let text = r.text().await.unwrap_or_default();
        assert_eq!(status, 400, "{text}");
        assert!(text.contains("en-têtes de partie trop longs"), "{text}");
    }
    let grown = resident_bytes().saturating_sub(before);
    assert!(grown < 48 * 1024 * 1024, "memory grew by {} MB", grown / (1024 * 1024));
    // The server still serves.
    assert_eq!(reqwest::get(format!("{}/healthz", srv.base)).await.unwrap().status(), 200);
    srv.stop.cancel();
}

/// A client of another address than 127.0.0.1 (the loopback network is all ours).
fn from(address: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder().local_address(std::net::IpAddr::from(address)).redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// Guesses sent at once are counted before any password is checked: of 20 simultaneous
/// wrong log-ins at most 5 are checked, the rest throttled, and the right password then
/// too — from that address. The account's owner, elsewhere, still logs in.
async fn simultaneous_guesses_are_throttled_without_locking_the_owner_out(stack: common::Stack) {
    let env = TestEnv::new(stack).await;
    let srv = serve(&env).await;
    srv.account("c.martin", Role::Controller, Scope::National, Some("un mot de passe assez long")).await;
    let url = format!("{}/console/login", srv.base);
    let guesses = (0..20).map(|i| {
        let url = url.clone();
        async move { from([127, 0, 0, 1]).post(url).form(&[("name", "c.martin"), ("password", format!("devinette-{i}").as_str())]).send().await.unwrap() }
    });
    let answers = futures::future::join_all(guesses).await;
    let checked = answers.iter().filter(|r| r.status() == 401).count();
    let throttled = answers.iter().filter(|r| r.status() == 429).count();
    assert!(checked <= 5 && checked + throttled == 20, "{checked} checked, {throttled} throttled");
    let refused = from([127, 0, 0, 1]).post(&url).form(&[("name", "c.martin"), ("password", "un mot de passe assez long")]).send().await.unwrap();
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    let page = refused.text().await.unwrap();
    assert!(page.contains("Réessayez dans") && page.contains("UTC"), "the owner is told until when and why: {page}");
    let owner = from([127, 0, 0, 2]).post(&url).form(&[("name", "c.martin"), ("password", "un mot de passe assez long")]).send().await.unwrap();
    assert_eq!(owner.status(), 303, "guessing from one address does not lock the owner out from another");
    srv.stop.cancel();
}
common::on_each_stack!(simultaneous_guesses_are_throttled_without_locking_the_owner_out);

/// The hidden CSRF field of a console page.
fn csrf_of(page: &str) -> String {
    let at = page.find("name=\"_csrf\" value=\"").expect("a CSRF field") + "name=\"_csrf\" value=\"".len();
    page[at..].split('"').next().unwrap().to_owned()
}

/// A console POST must come from caregate's own page: its Origin, and the session's
/// token. Pages cannot be framed, sniffed or cached, and the session cookie is Secure
/// unless served on loopback.
#[tokio::test]
async fn console_posts_come_from_console_pages_only() {
    let env = TestEnv::new(common::Stack::Embedded).await;
    let srv = serve(&env).await;
    srv.account("c.martin", Role::Controller, Scope::National, Some("un mot de passe assez long")).await;
    let submitter = srv.submitter().await;
    let sub = judged_dossier(&submitter, &srv).await;

    let origin = srv.base.clone();
    let browser = from([127, 0, 0, 1]);
    let logged = browser
        .post(format!("{origin}/console/login"))
        .header("origin", &origin)
        .form(&[("name", "c.martin"), ("password", "un mot de passe assez long")])
        .send()
        .await
        .unwrap();
    assert_eq!(logged.status(), 303);
    let cookie = logged.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(!cookie.contains("Secure"), "served on loopback: {cookie}");
    let session = cookie.split(';').next().unwrap().to_owned();
    let page = browser.get(format!("{origin}/console/submissions/{sub}")).header("cookie", &session).send().await.unwrap();
    for (name, want) in [("x-frame-options", "DENY"), ("x-content-type-options", "nosniff"), ("cache-control", "no-store"), ("referrer-policy", "same-origin")]
    {
        assert_eq!(page.headers().get(name).and_then(|v| v.to_str().ok()), Some(want), "{name}");
    }
    assert!(page.headers()["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"));
    let token = csrf_of(&page.text().await.unwrap());

    let decide = |origin: Option<&str>, token: Option<&str>| {
        let mut req = browser.post(format!("{}/console/submissions/{sub}/decisions", srv.base)).header("cookie", &session);
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        let mut form = vec![("decision:D1.FIN", "accept"), ("comment", "vu")];
        if let Some(t) = token {
            form.push(("_csrf", t));
        }
        req.form(&form).send()
    };
    assert_eq!(decide(Some(&origin), None).await.unwrap().status(), 403, "no token");
    assert_eq!(decide(Some(&origin), Some("0".repeat(64).as_str())).await.unwrap().status(), 403, "a wrong token");
    let other_port = origin.rsplit_once(':').map(|(h, _)| format!("{h}:1")).unwrap();
    assert_eq!(decide(Some(&other_port), Some(&token)).await.unwrap().status(), 403, "another port is another site");
    assert_eq!(decide(None, Some(&token)).await.unwrap().status(), 403, "no origin at all");
    let decisions = srv.app.backends.index.decisions(sub.parse().unwrap()).await.unwrap();
    assert!(decisions.is_empty(), "no forged decision recorded: {decisions:?}");
    assert_eq!(decide(Some(&origin), Some(&token)).await.unwrap().status(), 303, "the console's own form");
    assert_eq!(srv.app.backends.index.decisions(sub.parse().unwrap()).await.unwrap().len(), 1);

    // Logging out is a POST like any other: forged, it does nothing.
    let out = browser
        .post(format!("{origin}/console/logout"))
        .header("cookie", &session)
        .header("origin", "http://ailleurs.example")
        .form(&[("_csrf", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 403);
    assert_eq!(browser.get(format!("{origin}/console")).header("cookie", &session).send().await.unwrap().status(), 200, "still logged in");
    srv.stop.cancel();

    // Served on any other address, the cookie goes over HTTPS only.
    let mut config = env.config.clone();
    config.listen = "0.0.0.0:8443".parse().unwrap();
    let state = caregate::App::open(config).await.unwrap().http_state().unwrap();
    assert_eq!(state.http.auth.secure_cookies, Some(true));
}

/// A raw client for the connection-level tests.
async fn raw(srv: &Server) -> tokio::net::TcpStream {
    tokio::net::TcpStream::connect(srv.base.trim_start_matches("http://")).await.unwrap()
}

/// Reads until the server closes (or `limit` passes); what it said.
async fn until_closed(stream: &mut tokio::net::TcpStream, limit: Duration) -> Option<String> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline.into(), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(String::from_utf8_lossy(&out).into_owned()),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => return None,
        }
    }
}

/// Starts an upload and stops sending halfway through its file.
async fn stalled_upload(srv: &Server, token: &str) -> tokio::net::TcpStream {
    let mut s = raw(srv).await;
    let boundary = "caregate-lent";
    let head = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"establishment\"\r\n\r\n750000001\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"campaign\"\r\n\r\ncare-d1-2024\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"lent.pdf\"\r\n\r\n%PDF-1.4 le début"
    );
    let request = format!(
        "POST /api/evidence HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: 100000\r\n\r\n{head}",
        srv.base.trim_start_matches("http://")
    );
    s.write_all(request.as_bytes()).await.unwrap();
    s
}

/// Stalled uploads hold their slot only until their body goes quiet for
/// `http.serve.body_idle_secs`; one account never holds more than its share; a half-sent
/// request line is closed after `http.serve.header_read_secs`.
#[tokio::test]
async fn stalled_clients_are_cut_off_and_their_slots_freed() {
    let mut env = TestEnv::new(common::Stack::Embedded).await;
    env.config.http.serve.body_idle_secs = 3;
    env.config.http.serve.header_read_secs = 2;
    env.config.intake.max_concurrent_uploads = 3;
    env.config.intake.max_uploads_per_account = 2;
    let srv = serve(&env).await;
    let slow_token = srv.account("lent", Role::Submitter, establishments("750000001"), None).await;
    let other = client(&srv.account("autre", Role::Submitter, establishments("750000001"), None).await);
    let form = || Form::new().text("establishment", "750000001").text("campaign", "care-d1-2024").part("file", file("a.pdf"));

    let mut stalled = vec![stalled_upload(&srv, &slow_token).await, stalled_upload(&srv, &slow_token).await];
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, body) = post(&client(&slow_token), &srv, form()).await;
    assert_eq!(status, 429, "the stalled account holds its whole share: {body}");
    assert_eq!(body["error"], "account_busy");
    let (status, body) = post(&other, &srv, form()).await;
    assert_eq!(status, 202, "everyone else still gets in: {body}");

    // Both are cut once quiet for 3 s, told why.
    let started = Instant::now();
    for s in &mut stalled {
        let said = until_closed(s, Duration::from_secs(15)).await.expect("the stalled upload is cut off");
        assert!(said.starts_with("HTTP/1.1 408"), "{said}");
        assert!(said.contains("upload_stalled"), "{said}");
    }
    assert!(started.elapsed() < Duration::from_secs(14));
    let (status, body) = post(&client(&slow_token), &srv, form()).await;
    assert_eq!(status, 202, "the slots are free again: {body}");

    // Half a request line, then nothing; and an idle connection.
    let mut half = raw(&srv).await;
    half.write_all(b"GET /healthz HT").await.unwrap();
    let mut idle = raw(&srv).await;
    for s in [&mut half, &mut idle] {
        assert!(until_closed(s, Duration::from_secs(10)).await.is_some(), "closed after the header-read timeout");
    }
    srv.stop.cancel();
}

/// `/metrics` and `/readyz` move to their own address when `http.ops_listen` is set.
#[tokio::test]
async fn operations_endpoints_can_leave_the_service_address() {
    let mut env = TestEnv::new(common::Stack::Embedded).await;
    let ops_address = common::free_listen_address();
    env.config.http.ops_listen = Some(ops_address.parse().unwrap());
    let srv = serve(&env).await;
    let state = srv.app.http_state().unwrap();
    let listener = tokio::net::TcpListener::bind(&ops_address).await.unwrap();
    let stop = srv.stop.clone();
    tokio::spawn(async move { caregate_ingest::serve(listener, caregate_ingest::ops_router(state), &Default::default(), stop).await });
    for path in ["/readyz", "/metrics"] {
        assert_eq!(reqwest::get(format!("{}{path}", srv.base)).await.unwrap().status(), 404, "{path} is not on the service address");
    }
    let ready = reqwest::get(format!("http://{ops_address}/readyz")).await.unwrap();
    assert_eq!(ready.status(), 200, "{:?}", ready.text().await);
    assert_eq!(reqwest::get(format!("{}/healthz", srv.base)).await.unwrap().status(), 200);
    srv.stop.cancel();
}
