//! The harness every integration test shares: finds the real services (clamd, and for
//! the full stack RabbitMQ, PostgreSQL and Garage), waits until they answer, gives each
//! test its own database, queues and buckets, and prints the services' logs when a test
//! fails. Start the services with `scripts/services.sh`.
//!
//! Every scenario that runs on both stacks is one `async fn name(stack: Stack)` and a line
//! `common::on_each_stack!(name)`, which makes the tests `name::embedded` and
//! `name::full`. `CAREGATE_TEST_STACKS=embedded` runs only the embedded back ends (no
//! servers but clamd).

use std::path::{Path, PathBuf};
use std::time::Duration;

use caregate::{App, Config};
use caregate_schemas::{EvidenceRecord, SubmissionId, SubmissionRef};
use caregate_storage::{AmqpConfig, DatabaseConfig, RetryPolicy, S3Config};

pub const CLAMD: &str = "127.0.0.1:3310";
pub const GARAGE_KEY: &str = "GK6361726567617465746573740a";
pub const GARAGE_SECRET: &str = "7365637265742d6f662d7468652d636172656761746574657374732d6f6e6c79";
pub const PG_ADMIN: &str = "postgres://postgres@127.0.0.1:5432/postgres";
pub const AMQP: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stack {
    /// Local directory, SQLite, in-process queue.
    Embedded,
    /// Garage S3, PostgreSQL, RabbitMQ.
    Full,
}

/// The stacks to run each scenario on.
pub fn stacks() -> Vec<Stack> {
    match std::env::var("CAREGATE_TEST_STACKS").as_deref() {
        Ok("embedded") => vec![Stack::Embedded],
        Ok("full") => vec![Stack::Full],
        _ => vec![Stack::Embedded, Stack::Full],
    }
}

/// Runs one scenario on one stack, unless `CAREGATE_TEST_STACKS` leaves that stack out
/// (then it says so: a skipped test must not look like a passed one in the log).
pub async fn run_on<F, Fut>(stack: Stack, scenario: F)
where
    F: FnOnce(Stack) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    if stacks().contains(&stack) {
        scenario(stack).await;
    } else {
        eprintln!("skipped on the {stack:?} stack (CAREGATE_TEST_STACKS)");
    }
}

/// One test per stack for a scenario `async fn name(stack: Stack)`: `name::embedded`
/// and `name::full`, so a failure names its stack and one stack's failure cannot hide
/// the other's run.
macro_rules! on_each_stack {
    ($scenario:ident) => {
        mod $scenario {
            #[tokio::test]
            async fn embedded() {
                $crate::common::run_on($crate::common::Stack::Embedded, super::$scenario).await
            }

            #[tokio::test]
            async fn full() {
                $crate::common::run_on($crate::common::Stack::Full, super::$scenario).await
            }
        }
    };
}
pub(crate) use on_each_stack;

pub fn services_dir() -> PathBuf {
    std::env::var_os("CAREGATE_SERVICES_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/root".into())).join(".cache/caregate-services"))
}

/// The DSFR's `dist/`, as `scripts/services.sh dsfr` installs it.
pub fn dsfr_dist() -> PathBuf {
    services_dir().join("dsfr/node_modules/@gouvfr/dsfr/dist")
}

async fn wait_tcp(addr: &str, what: &str) {
    for _ in 0..150 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{what} does not answer on {addr}: run scripts/services.sh");
}

/// One test's private slice of the services.
pub struct TestEnv {
    pub stack: Stack,
    pub config: Config,
    pub dir: tempfile::TempDir,
    pub db_name: Option<String>,
}

/// Reads files as a worker does: each in a child `caregate read-child`, under limits.
pub fn reader() -> caregate_workers::read::Reader {
    let mut config = Config::default();
    config.worker.reader_program = Some(env!("CARGO_BIN_EXE_caregate").into());
    config.inline_reader().expect("reader")
}

pub fn unique(tag: &str) -> String {
    format!("{tag}{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

/// The back ends a test uses are its own: a shell that sourced the services' `env` file
/// (as docs/usage.md does) must not point the `caregate` children of an embedded
/// test at PostgreSQL or RabbitMQ. Done once, before any test has spawned a child.
fn forget_inherited_backends() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("CAREGATE_BACKENDS__") {
                std::env::remove_var(key);
            }
        }
    });
}

impl TestEnv {
    pub async fn new(stack: Stack) -> Self {
        forget_inherited_backends();
        wait_tcp(CLAMD, "clamd").await;
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = Config::default();
        config.backends.data_dir = dir.path().join("data");
        config.backends.retry = RetryPolicy { delays_ms: vec![200, 400, 800] };
        config.clamd.address = CLAMD.into();
        config.worker.prefetch = 8;
        config.worker.spool_dir = Some(dir.path().join("worker-spool"));
        // Files are read in a child process, as in production: this test binary is not
        // one, the caregate binary built beside it is.
        config.worker.reader_program = Some(env!("CARGO_BIN_EXE_caregate").into());
        config.intake.spool_dir = Some(dir.path().join("intake-spool"));
        // The pages' design system, when scripts/services.sh installed it (the browser
        // tests of the pages require it; the others do not care).
        config.http.dsfr_dir = Some(dsfr_dist()).filter(|d| d.join("dsfr.min.css").is_file());
        let mut db_name = None;
        if stack == Stack::Full {
            wait_tcp("127.0.0.1:5672", "RabbitMQ").await;
            wait_tcp("127.0.0.1:5432", "PostgreSQL").await;
            wait_tcp("127.0.0.1:3900", "Garage").await;
            let name = unique("cgtest_");
            let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(PG_ADMIN).await.expect("PostgreSQL admin connection");
            sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.expect("create test database");
            config.backends.database = Some(DatabaseConfig { url: format!("postgres://postgres@127.0.0.1:5432/{name}"), max_connections: 8 });
            db_name = Some(name);
            let bucket = unique("cgt-");
            config.backends.s3 = Some(S3Config {
                endpoint: "http://127.0.0.1:3900".into(),
                region: "garage".into(),
                access_key: GARAGE_KEY.into(),
                secret_key: GARAGE_SECRET.into(),
                quarantine_bucket: format!("{bucket}-q"),
                evidence_bucket: format!("{bucket}-e"),
                create_buckets: true,
                object_lock: false,
            });
            config.backends.amqp = Some(AmqpConfig { url: AMQP.into(), prefix: unique("cgtest.") });
        }
        Self { stack, config, dir, db_name }
    }

    pub async fn app(&self) -> App {
        App::open(self.config.clone()).await.expect("open app")
    }

    /// Environment variables that give a child `caregate` process this test's config.
    pub fn child_env(&self) -> Vec<(String, String)> {
        let c = &self.config;
        let mut env = vec![
            ("CAREGATE_BACKENDS__DATA_DIR".into(), c.backends.data_dir.display().to_string()),
            ("CAREGATE_CLAMD__ADDRESS".into(), c.clamd.address.clone()),
            ("CAREGATE_BACKENDS__RETRY__DELAYS_MS".into(), format!("{:?}", c.backends.retry.delays_ms)),
            ("CAREGATE_WORKER__PREFETCH".into(), c.worker.prefetch.to_string()),
            ("CAREGATE_CONFIG".into(), self.dir.path().join("none.toml").display().to_string()),
        ];
        if let Some(db) = &c.backends.database {
            env.push(("CAREGATE_BACKENDS__DATABASE__URL".into(), db.url.clone()));
        }
        if let Some(s3) = &c.backends.s3 {
            env.extend([
                ("CAREGATE_BACKENDS__S3__ENDPOINT".into(), s3.endpoint.clone()),
                ("CAREGATE_BACKENDS__S3__REGION".into(), s3.region.clone()),
                ("CAREGATE_BACKENDS__S3__ACCESS_KEY".into(), s3.access_key.clone()),
                ("CAREGATE_BACKENDS__S3__SECRET_KEY".into(), s3.secret_key.clone()),
                ("CAREGATE_BACKENDS__S3__QUARANTINE_BUCKET".into(), s3.quarantine_bucket.clone()),
                ("CAREGATE_BACKENDS__S3__EVIDENCE_BUCKET".into(), s3.evidence_bucket.clone()),
            ]);
        }
        if let Some(a) = &c.backends.amqp {
            env.extend([("CAREGATE_BACKENDS__AMQP__URL".into(), a.url.clone()), ("CAREGATE_BACKENDS__AMQP__PREFIX".into(), a.prefix.clone())]);
        }
        env
    }
}

/// The last lines of a service log, without terminal colour codes.
fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| format!("(cannot read: {e})"));
    let all: Vec<&str> = text.lines().collect();
    let mut out = all[all.len().saturating_sub(lines)..].join("\n");
    while let Some(start) = out.find('\u{1b}') {
        let end = out[start..].find('m').map(|i| start + i + 1).unwrap_or(out.len());
        out.replace_range(start..end, "");
    }
    out
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // Keep what a person needs to see why: the services' logs and this test's data.
            let kept = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("tempdir")).keep();
            eprintln!("--- test failed on the {:?} stack; its data is kept in {}", self.stack, kept.display());
            for log in ["clamd.log", "garage.log"] {
                let path = services_dir().join(log);
                eprintln!("--- last lines of {}:\n{}", path.display(), tail(&path, 15));
            }
        }
        let db = self.db_name.take();
        let amqp = self.config.backends.amqp.clone();
        let retry = self.config.backends.retry.clone();
        if db.is_none() && amqp.is_none() {
            return;
        }
        // Drop is synchronous; a short-lived runtime on its own thread removes this test's
        // database and queues, so that nothing piles up on the shared services.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            rt.block_on(async {
                if let Some(name) = db {
                    if let Ok(mut admin) = <sqlx::PgConnection as sqlx::Connection>::connect(PG_ADMIN).await {
                        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin).await;
                    }
                }
                if let Some(a) = amqp {
                    if let Ok(q) = caregate_storage::AmqpQueue::connect(&a.url, &a.prefix, retry).await {
                        let _ = q.delete_topology().await;
                    }
                }
                Some(())
            })
        })
        .join();
    }
}

/// An opened app with its worker running in this process.
pub struct Running {
    pub app: App,
    stop: tokio_util::sync::CancellationToken,
    worker: tokio::task::JoinHandle<()>,
}

impl Running {
    pub async fn start(env: &TestEnv) -> Self {
        Self::with_app(env.app().await).await
    }

    pub async fn with_app(app: App) -> Self {
        let stop = tokio_util::sync::CancellationToken::new();
        let worker = app.spawn_worker(stop.clone()).await.expect("start worker");
        Self { app, stop, worker }
    }

    pub fn intake(&self) -> caregate_ingest::Intake {
        self.app.intake().expect("intake")
    }

    /// Stops the worker after the jobs in flight.
    pub async fn stop(self) {
        self.stop.cancel();
        self.worker.await.expect("worker task");
    }
}

pub fn submission() -> SubmissionRef {
    SubmissionRef {
        submission_id: SubmissionId::new(),
        establishment: "750000001".into(),
        campaign: "care-d1-2024".into(),
        objectives: vec!["D1.AD.AUDIT".into()],
        category: None,
    }
}

pub fn samples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("samples")
}

pub fn eicar() -> Vec<u8> {
    caregate::demo::eicar()
}

pub fn bytes_body(data: Vec<u8>) -> impl futures::Stream<Item = Result<bytes::Bytes, caregate_ingest::IntakeError>> {
    futures::stream::iter([Ok(bytes::Bytes::from(data))])
}

/// Waits for the submission's files to finish; panics with their state if they do not.
pub async fn wait_done(app: &App, sub: SubmissionId, expected: usize, secs: u64) -> Vec<EvidenceRecord> {
    match app.wait_for_submission(sub, expected, Duration::from_secs(secs), |_| {}).await {
        Ok(r) => r,
        Err(e) => {
            let recs = app.backends.index.submission(sub).await.unwrap_or_default();
            let states: Vec<String> = recs.iter().map(|r| format!("{} {} attempts={}", r.path, r.status, r.attempts)).collect();
            panic!("{e}; records: {states:#?}");
        }
    }
}

/// Runs a worker until the given files, received into a new submission, are all
/// processed; returns the app, the submission and its records.
pub async fn process_files(env: &TestEnv, files: Vec<(&str, Vec<u8>)>) -> (App, SubmissionRef, Vec<EvidenceRecord>) {
    let run = Running::start(env).await;
    let sub = submission();
    let intake = run.intake();
    let n = files.len();
    for (name, body) in files {
        intake.receive(&sub, name, bytes_body(body)).await.unwrap();
    }
    let records = wait_done(&run.app, sub.submission_id, n, 60).await;
    let app = run.app.clone();
    run.stop().await;
    (app, sub, records)
}

/// `caregate serve` in this process (API and console) with its worker.
pub struct Server {
    pub base: String,
    pub app: App,
    pub stop: tokio_util::sync::CancellationToken,
}

pub async fn serve(env: &TestEnv) -> Server {
    let app = env.app().await;
    let stop = tokio_util::sync::CancellationToken::new();
    app.spawn_worker(stop.clone()).await.expect("start worker");
    let state = app.http_state().expect("http state");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let s = stop.clone();
    let limits = state.http.serve.clone();
    tokio::spawn(async move {
        caregate_ingest::serve(listener, caregate_ingest::router(state), &limits, s).await.expect("serve");
    });
    Server { base, app, stop }
}

impl Server {
    /// Creates an account (with a console password when given) and returns an API token
    /// of it.
    pub async fn account(&self, name: &str, role: caregate_schemas::Role, scope: caregate_schemas::Scope, password: Option<&str>) -> String {
        let accounts = &self.app.backends.accounts;
        accounts
            .put_account(&caregate_storage::Account {
                name: name.into(),
                display_name: name.into(),
                role,
                scope,
                password_hash: password.map(|p| caregate_ingest::hash_password(p).expect("hash")),
                disabled: false,
                federated: None,
                email: None,
            })
            .await
            .expect("put account");
        caregate_ingest::issue_token(accounts.as_ref(), name, "test").await.expect("token")
    }

    /// A submitter of 750000001 (the harness's usual establishment) and its client.
    pub async fn submitter(&self) -> reqwest::Client {
        let token =
            self.account("depot-750000001", caregate_schemas::Role::Submitter, caregate_schemas::Scope::Establishments(vec!["750000001".into()]), None).await;
        client(&token)
    }
}

/// An HTTP client that sends this API token with every request, and shows redirects
/// (the console's way of asking for a log-in) instead of following them.
pub fn client(token: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::AUTHORIZATION, format!("Bearer {token}").parse().expect("header"));
    reqwest::Client::builder().default_headers(headers).redirect(reqwest::redirect::Policy::none()).build().expect("client")
}

/// What a [`Proxy`] does with the connections it carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    /// Forwards both ways.
    Up,
    /// Drops every connection and closes new ones at once (a service stopped).
    Down,
    /// Accepts and holds connections, forwarding nothing either way (a service frozen,
    /// as under SIGSTOP, or a network that swallows packets).
    Frozen,
}

/// A TCP relay to a real service that a test can cut or freeze: an outage seen by one
/// process only (stopping or freezing the shared service would disturb every other test).
pub struct Proxy {
    pub port: u16,
    link: tokio::sync::watch::Sender<Link>,
}

impl Proxy {
    pub async fn start(target: &'static str, link: Link) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let (tx, rx) = tokio::sync::watch::channel(link);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let state = rx.clone();
                if *state.borrow() == Link::Down {
                    continue; // dropped: closed at once
                }
                tokio::spawn(async move {
                    let Ok(upstream) = tokio::net::TcpStream::connect(target).await else { return };
                    let (cr, cw) = client.into_split();
                    let (ur, uw) = upstream.into_split();
                    tokio::select! {
                        _ = forward(cr, uw, state.clone()) => {}
                        _ = forward(ur, cw, state) => {}
                    }
                });
            }
        });
        Self { port, link: tx }
    }

    /// A proxy to the test broker, and the AMQP URL that goes through it.
    pub async fn broker(link: Link) -> (Self, String) {
        let proxy = Self::start("127.0.0.1:5672", link).await;
        let url = format!("amqp://guest:guest@127.0.0.1:{}/%2f", proxy.port);
        (proxy, url)
    }

    pub fn set(&self, link: Link) {
        self.link.send_replace(link);
    }
}

/// Copies one direction while the link is up; holds the bytes while it is frozen; ends
/// (closing the connection) when it goes down.
async fn forward(mut from: tokio::net::tcp::OwnedReadHalf, mut to: tokio::net::tcp::OwnedWriteHalf, mut link: tokio::sync::watch::Receiver<Link>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = tokio::select! {
            n = from.read(&mut buf) => match n { Ok(0) | Err(_) => return, Ok(n) => n },
            _ = link.wait_for(|l| *l == Link::Down) => return,
        };
        match link.wait_for(|l| *l != Link::Frozen).await.map(|l| *l) {
            Ok(Link::Up) => {}
            _ => return,
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// A child process, killed when dropped (a failing assertion leaves nothing running).
pub struct Child(pub std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A free local port, and the `host:port` to listen on.
pub fn free_listen_address() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("address").port();
    format!("127.0.0.1:{port}")
}

/// Waits until something listens on `address`.
pub async fn wait_listening(address: &str, secs: u64) {
    let start = std::time::Instant::now();
    while tokio::net::TcpStream::connect(address).await.is_err() {
        assert!(start.elapsed() < Duration::from_secs(secs), "nothing listens on {address} after {secs} s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Copies a directory tree (a package to tamper with).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), dest).unwrap();
        }
    }
}

/// A controller's rejection of `objective` on the verification it was looking at.
pub async fn controller_rejects(app: &App, machine: &caregate_schemas::Verification, objective: &str) -> caregate_schemas::Decision {
    let decision = caregate_schemas::Decision {
        submission_id: machine.submission_id,
        objective: objective.into(),
        decision: caregate_schemas::DecisionKind::Reject,
        comment: "attestation absente".into(),
        actor: "c (controller)".into(),
        decided_at: chrono::Utc::now(),
        basis: machine.basis.clone(),
    };
    app.backends.index.put_decisions(std::slice::from_ref(&decision), vec![], None).await.unwrap();
    decision
}

/// A one-page PDF of text lines (Helvetica 11 pt, WinAnsi), written by hand so that no
/// producer's quirks are involved: what a test needs when the words matter, not the look.
pub fn text_pdf(lines: &[&str]) -> Vec<u8> {
    text_pdf_pages(&[lines])
}

/// A PDF of several pages of text lines, as [`text_pdf`] writes one.
pub fn text_pdf_pages(pages: &[&[&str]]) -> Vec<u8> {
    let font = 3 + 2 * pages.len();
    let kids: Vec<String> = (0..pages.len()).map(|i| format!("{} 0 R", 3 + 2 * i)).collect();
    let mut objects: Vec<Vec<u8>> =
        vec![b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(), format!("<< /Type /Pages /Kids [{}] /Count {} >>", kids.join(" "), pages.len()).into_bytes()];
    for (i, lines) in pages.iter().enumerate() {
        objects.push(
            format!("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 {font} 0 R >> >> /Contents {} 0 R >>", 4 + 2 * i)
                .into_bytes(),
        );
        let content = page_content(lines);
        objects.push([format!("<< /Length {} >>\nstream\n", content.len()).into_bytes(), content, b"\nendstream".to_vec()].concat());
    }
    objects.push(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".to_vec());
    pdf_of(&objects)
}

/// `text` as the bytes of a PDF literal string in WinAnsi (the euro sign at 0x80,
/// parentheses and backslashes escaped), without its parentheses.
pub fn pdf_string(text: &str, content: &mut Vec<u8>) {
    for c in text.chars() {
        let byte = match c {
            '€' => 0x80,
            c if (c as u32) < 256 => c as u8,
            _ => b'?',
        };
        if matches!(byte, b'(' | b')' | b'\\') {
            content.push(b'\\');
        }
        content.push(byte);
    }
}

fn page_content(lines: &[&str]) -> Vec<u8> {
    let mut content = b"BT /F1 11 Tf 60 790 Td 14 TL\n".to_vec();
    for line in lines {
        content.push(b'(');
        pdf_string(line, &mut content);
        content.extend_from_slice(b") Tj T*\n");
    }
    content.extend_from_slice(b"ET");
    content
}

/// A PDF of these objects (numbered from 1, the first the catalog), with its
/// cross-reference table.
pub fn pdf_of(objects: &[Vec<u8>]) -> Vec<u8> {
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", offsets.len() + 1).as_bytes());
    for o in &offsets {
        out.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(format!("trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n", offsets.len() + 1).as_bytes());
    out
}
