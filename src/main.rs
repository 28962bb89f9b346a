//! The `caregate` command line.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use caregate::{demo, report, submit, App, Config};
use caregate_ingest::router;
use caregate_schemas::{SubmissionId, SubmissionRef};
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(name = "caregate", version, about = "Intake, scanning, checking and archiving of CaRE programme evidence")]
struct Cli {
    /// Configuration file (TOML); default `caregate.toml` if present, or $CAREGATE_CONFIG.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// HTTP API for uploads and status queries (with the embedded queue, also runs the worker).
    Serve,
    /// Consume jobs from the queue and run the pipeline, until Ctrl-C.
    Worker,
    /// Upload files and folders for one submission, then print each file's outcome.
    Submit {
        /// FINESS number of the establishment.
        #[arg(long)]
        establishment: String,
        #[arg(long, default_value = "care-d1-2024")]
        campaign: String,
        /// Objective the files claim to prove (repeatable).
        #[arg(long = "objective")]
        objectives: Vec<String>,
        /// Funding category of the establishment (ght, public, ebnl, private): sets its ceiling.
        #[arg(long)]
        category: Option<String>,
        /// Add to an existing submission instead of starting a new one.
        #[arg(long)]
        submission: Option<SubmissionId>,
        /// Send through a running `caregate serve` instead of the configured back ends.
        #[arg(long)]
        server: Option<String>,
        /// API token of a submitter account, for --server.
        #[arg(long, env = "CAREGATE_TOKEN", hide_env_values = true, requires = "server")]
        token: Option<String>,
        /// One JSON record per file (JSON Lines) instead of a table.
        #[arg(long)]
        json: bool,
        /// Give up waiting for outcomes after this many seconds.
        #[arg(long, default_value_t = 3600)]
        wait_secs: u64,
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// The whole pipeline in one process on samples/ (or DIR), embedded back ends.
    Demo {
        dir: Option<PathBuf>,
        #[arg(long)]
        json: bool,
        /// Also submit the EICAR test string (built in memory), to see an infected file.
        #[arg(long)]
        eicar: bool,
    },
    /// Queue a job again for every file still waiting (after a crash or a failed publish).
    Requeue,
    /// Judge submissions again from their stored records (no rescan, no parsing), e.g.
    /// after the referential changed.
    Reverify {
        #[arg(long, required_unless_present = "all", conflicts_with = "all")]
        submission: Option<SubmissionId>,
        /// Every submission in the index.
        #[arg(long)]
        all: bool,
    },
    /// A submission's verdict per objective, with reasons and evidence.
    Report {
        #[arg(long)]
        submission: SubmissionId,
        /// The verification as JSON.
        #[arg(long, conflicts_with = "html")]
        json: bool,
        /// The French HTML report.
        #[arg(long)]
        html: bool,
    },
    /// Re-read every stored object and check it against its record (SHA-256 and size);
    /// damaged or missing objects are listed and written into their history.
    Fixity {
        /// Every stored object (the default).
        #[arg(long, conflicts_with = "since")]
        all: bool,
        /// Only files received on or after this date (YYYY-MM-DD).
        #[arg(long)]
        since: Option<chrono::NaiveDate>,
        /// One JSON line per object instead of only the problems.
        #[arg(long)]
        json: bool,
    },
    /// Make a new Ed25519 key for signing export packages; prints its public key.
    Keygen { file: PathBuf },
    /// Write a submission as a signed BagIt bag (RFC 8493): files, records, verdicts and
    /// history; every file re-hashed on the way out.
    Export {
        #[arg(long)]
        submission: SubmissionId,
        /// Signing key file (default: `archive.signing_key` of the configuration).
        #[arg(long)]
        key: Option<PathBuf>,
        /// Directory to create.
        out: PathBuf,
    },
    /// Check a bag offline: every hash, the payload against its manifest, and the
    /// signature; says exactly what is wrong.
    VerifyBag {
        dir: PathBuf,
        /// The archive's public key (64 hex digits); without it the key named in the bag
        /// is used, which proves integrity since export but not origin.
        #[arg(long)]
        public_key: Option<String>,
    },
    /// Local accounts and their API tokens.
    Account {
        #[command(subcommand)]
        command: AccountCommand,
    },
    /// The audit log (every evidence's history, hash-chained).
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Print the JSON Schema of the per-file record (or of the verification).
    Schema {
        /// The verification's schema (the body of `submission.verified`).
        #[arg(long)]
        verification: bool,
    },
    /// Read files as the worker does (no scan, no storage) and print what was found.
    Read {
        /// Print a PDF's extracted text instead of the record fields.
        #[arg(long)]
        text: bool,
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Kind, status and key fields of every file in samples/ (or DIR) against its
    /// truth file (samples.expected.json), and PDF text speed and word recall next to pdftotext.
    Accuracy {
        dir: Option<PathBuf>,
        /// Times each PDF is read for the speed comparison (0: skip it).
        #[arg(long, default_value_t = 20)]
        pdf_runs: usize,
    },
    /// Measure throughput, latency and memory on a generated corpus, next to sha256sum
    /// and clamdscan on the same files.
    Bench {
        /// Files in the small-file corpus (10 KB to 1 MB each).
        #[arg(long, default_value_t = 2000)]
        files: usize,
        /// Size of the one large file, in MiB (0: none).
        #[arg(long, default_value_t = 1024)]
        big_mib: u64,
        /// Back ends to measure (the full stack reads its settings from the configuration).
        #[arg(long = "stack", value_enum, default_values_t = [caregate::bench::BenchStack::Embedded, caregate::bench::BenchStack::Full])]
        stacks: Vec<caregate::bench::BenchStack>,
        #[arg(long, default_value = "bench-out")]
        out: PathBuf,
        /// Uploads in flight at once.
        #[arg(long, default_value_t = 16)]
        upload_concurrency: usize,
    },
}

#[derive(Subcommand)]
enum AccountCommand {
    /// Create or replace an account. The password, if any, is read from standard input
    /// (one line), never from the command line.
    Add {
        name: String,
        #[arg(long)]
        role: caregate_schemas::Role,
        /// Limit to these regions (ISO codes: IDF, ARA...); controllers. Repeatable.
        #[arg(long = "region", conflicts_with = "establishments")]
        regions: Vec<String>,
        /// Limit to these establishments (FINESS); submitters. Repeatable.
        #[arg(long = "establishment")]
        establishments: Vec<String>,
        #[arg(long)]
        display_name: Option<String>,
        /// Read a password for console log-in from standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Issue an API token for the account; printed once, stored only as its hash.
    Token {
        name: String,
        #[arg(long, default_value = "cli")]
        label: String,
    },
    /// Every account, its role and scope.
    List,
    /// Refuse every credential of the account from its next request (its tokens and
    /// sessions are kept, and work again after `enable`).
    Disable {
        name: String,
    },
    Enable {
        name: String,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Recompute the hash chain of every event; names each changed or removed event.
    Verify,
}

fn init_tracing(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CAREGATE_LOG").unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}

fn ctrl_c_token() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down: finishing jobs in flight");
        t.cancel();
    });
    token
}

/// Runs the worker; when the broker connection (or another back end) is lost, opens
/// everything again with a growing pause, instead of leaving the restart to a supervisor.
/// Jobs in flight at the loss are redelivered by the broker.
async fn run_worker_until_stopped(mut app: App, shutdown: CancellationToken) {
    let mut pause = Duration::from_secs(1);
    loop {
        let started = std::time::Instant::now();
        let result = match app.worker() {
            Ok(worker) => worker.run(shutdown.clone()).await.map_err(anyhow::Error::from),
            Err(e) => Err(e),
        };
        if shutdown.is_cancelled() {
            return;
        }
        match result {
            Ok(()) => tracing::warn!("the queue closed; reconnecting"),
            Err(e) => tracing::error!(error = %format!("{e:#}"), "worker stopped; reconnecting in {pause:?}"),
        }
        if started.elapsed() > Duration::from_secs(60) {
            pause = Duration::from_secs(1);
        }
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(pause) => {}
            }
            pause = (pause * 2).min(Duration::from_secs(60));
            match App::open(app.config.clone()).await {
                Ok(fresh) => {
                    app = fresh;
                    break;
                }
                Err(e) => tracing::error!(error = %format!("{e:#}"), "back ends still unavailable; next try in {pause:?}"),
            }
        }
    }
}

fn print_records(records: &[caregate_schemas::EvidenceRecord], json: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        report::json_lines(records, &mut out)?;
    } else {
        report::table(records, &mut out)?;
    }
    Ok(())
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = Config::load(cli.config.as_deref())?;
    match cli.command {
        Command::Serve => {
            init_tracing("info");
            let app = App::open(config).await?;
            let shutdown = ctrl_c_token();
            let worker = if app.backends.in_process_queue { Some(app.spawn_worker(shutdown.clone()).await?) } else { None };
            let state = app.http_state()?;
            if app.backends.accounts.accounts().await?.is_empty() {
                tracing::warn!("no account yet: every request will be refused; create one with `caregate account add`");
            }
            let listener = tokio::net::TcpListener::bind(app.config.listen).await.with_context(|| format!("binding {}", app.config.listen))?;
            tracing::info!("listening on http://{}", listener.local_addr()?);
            let s = shutdown.clone();
            axum::serve(listener, router(state)).with_graceful_shutdown(async move { s.cancelled().await }).await?;
            if let Some(w) = worker {
                w.await.ok();
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Worker => {
            init_tracing("info");
            let app = App::open(config).await?;
            let shutdown = ctrl_c_token();
            app.sweep_orphans().await?;
            if app.backends.in_process_queue {
                // No broker: nothing can reach this process's queue but the records left
                // unfinished by an earlier run, which it finishes before it stops.
                tracing::info!("no broker configured: processing unfinished evidence, then stopping");
                let counts = app.backends.index.count_by_status().await?;
                let pending = counts.iter().find(|(s, _)| *s == caregate_schemas::Status::Received).map_or(0, |(_, n)| *n);
                let handle = app.spawn_worker(shutdown.clone()).await?;
                let start = std::time::Instant::now();
                while !app.backends.index.unfinished(1).await?.is_empty() && !shutdown.is_cancelled() {
                    if start.elapsed() > Duration::from_secs(24 * 3600) {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                tracing::info!(pending, "done");
                shutdown.cancel();
                handle.await.ok();
            } else {
                run_worker_until_stopped(app, shutdown).await;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Submit { establishment, campaign, objectives, category, submission, server, token, json, wait_secs, paths } => {
            init_tracing("warn");
            let files = submit::collect_files(&paths)?;
            let sub = SubmissionRef { submission_id: submission.unwrap_or_default(), establishment, campaign, objectives, category };
            caregate_ingest::validate_submission(&sub)?;
            let wait = Duration::from_secs(wait_secs);
            let records = match server {
                Some(url) => {
                    let token = token.context("--server needs an API token (--token or CAREGATE_TOKEN)")?;
                    submit::submit_http(&url, &token, &sub, &files, json, wait).await?
                }
                None => {
                    let app = App::open(config).await?;
                    submit::submit_direct(&app, &sub, &files, vec![], json, wait).await?
                }
            };
            if !json {
                println!("submission {}", sub.submission_id);
            }
            print_records(&records, json)?;
            Ok(if report::all_stored(&records) { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        Command::Demo { dir, json, eicar } => {
            init_tracing("warn");
            let dir = dir.unwrap_or_else(|| PathBuf::from("samples"));
            let outcome = demo::run(config, dir.clone(), eicar, json).await?;
            print_records(&outcome.records, json)?;
            if !json {
                println!("\n{}", caregate_verify::report::text(&outcome.verification));
                let bytes: u64 = outcome.records.iter().map(|r| r.size).sum();
                println!(
                    "processed {} files ({} bytes) from {} in {:.2} s; data kept in {}",
                    outcome.records.len(),
                    bytes,
                    dir.display(),
                    outcome.elapsed.as_secs_f64(),
                    outcome.data_dir.display()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Requeue => {
            init_tracing("info");
            let app = App::open(config).await?;
            if app.backends.in_process_queue {
                anyhow::bail!("requeue needs a broker; without one, `caregate worker` finishes unfinished files itself");
            }
            let n = caregate_workers::requeue_unfinished(app.backends.index.as_ref(), app.backends.queue.as_ref()).await?;
            println!("requeued {n} jobs");
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench { files, big_mib, stacks, out, upload_concurrency } => {
            init_tracing("warn");
            let opts = caregate::bench::BenchOptions { files, big_mib, stacks, out, upload_concurrency };
            let report = caregate::bench::run(config, opts).await?;
            println!("{}", caregate::bench::markdown(&report));
            Ok(ExitCode::SUCCESS)
        }
        Command::Read { text, paths } => {
            init_tracing("warn");
            for path in paths {
                if text {
                    let limits = &config.worker.extract;
                    let budget = caregate_extract::Budget::new(Duration::from_secs(limits.time_budget_secs));
                    let doc = caregate_extract::pdf::parse(&std::fs::read(&path)?, limits, &budget)?;
                    println!("{}", doc.text);
                    continue;
                }
                let name = path.to_string_lossy().into_owned();
                let (identity, a) = caregate::accuracy::read_file(&path, &name, &config.worker.extract)?;
                let out = serde_json::json!({
                    "path": name, "media_type": identity.media_type, "format": a.format,
                    "kind": a.classification.kind, "confidence": a.classification.confidence,
                    "reasons": a.classification.reasons, "findings": identity.findings.iter().chain(&a.findings).collect::<Vec<_>>(),
                    "fields": a.fields,
                });
                println!("{}", serde_json::to_string_pretty(&out)?);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Accuracy { dir, pdf_runs } => {
            init_tracing("warn");
            let dir = dir.unwrap_or_else(|| PathBuf::from("samples"));
            let rows = caregate::accuracy::run(&dir)?;
            println!("{}", caregate::accuracy::markdown(&rows));
            if pdf_runs > 0 {
                println!("{}", caregate::accuracy::pdf_text_bench(&dir, pdf_runs)?);
            }
            Ok(if rows.iter().all(|r| r.all_right()) { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        Command::Reverify { submission, all } => {
            init_tracing("warn");
            let app = App::open(config).await?;
            let ids = match submission {
                Some(id) if !all => vec![id],
                _ => app.backends.index.submission_ids().await?,
            };
            let summary = caregate::reverify(&app, &ids, |id, outcome| println!("{id}  {outcome}")).await?;
            println!("{summary}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Report { submission, json, html } => {
            init_tracing("warn");
            let app = App::open(config).await?;
            let Some(v) = app.backends.index.verification(submission).await? else {
                anyhow::bail!("submission {submission} has no verification (unknown, or no referential for its campaign)");
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else if html {
                println!("{}", caregate_verify::report::html(&v, |id| format!("/api/evidence/{id}")));
            } else {
                print!("{}", caregate_verify::report::text(&v));
            }
            Ok(ExitCode::from(match v.verdict {
                caregate_schemas::Verdict::Met => 0,
                _ => 1,
            }))
        }
        Command::Fixity { all: _, since, json } => {
            init_tracing("warn");
            let app = App::open(config).await?;
            let since = since.map(|d| d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc());
            let report = caregate::fixity::run(&app, since, |rec, fixity| {
                if json {
                    println!("{}", serde_json::json!({"evidence_id": rec.evidence_id, "path": rec.path, "sha256": rec.sha256, "fixity": fixity}));
                } else if *fixity != caregate::fixity::Fixity::Intact {
                    println!("{}  {}  {:?}", rec.evidence_id, rec.path, fixity);
                }
            })
            .await?;
            eprintln!("{}", report.summary());
            Ok(if report.problems.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        Command::Account { command } => {
            init_tracing("warn");
            let app = App::open(config).await?;
            account(&app, command).await
        }
        Command::Audit { command: AuditCommand::Verify } => {
            init_tracing("warn");
            let app = App::open(config).await?;
            let report = app.backends.index.verify_event_chain().await?;
            for p in &report.problems {
                println!("{p}");
            }
            println!(
                "{} events checked{}: {}",
                report.events,
                if report.unchained > 0 { format!(" ({} older events carry no hash)", report.unchained) } else { String::new() },
                if report.problems.is_empty() { "the chain is intact" } else { "the history was altered" }
            );
            Ok(if report.problems.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        Command::Keygen { file } => {
            let public = caregate::bag::generate_signing_key(&file)?;
            println!("{}", hex::encode(public.as_bytes()));
            Ok(ExitCode::SUCCESS)
        }
        Command::Export { submission, key, out } => {
            init_tracing("warn");
            let key_file = key
                .or_else(|| config.archive.signing_key.clone())
                .ok_or_else(|| anyhow::anyhow!("no signing key: pass --key FILE or set archive.signing_key (make one with `caregate keygen FILE`)"))?;
            let key = caregate::bag::load_signing_key(&key_file)?;
            let app = App::open(config).await?;
            let done = caregate::bag::export(&app, submission, &out, &key).await?;
            println!("{}: {} files, {} bytes of payload", out.display(), done.files, done.bytes);
            for p in &done.not_packaged {
                println!("  not packaged (kept in quarantine): {p}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::VerifyBag { dir, public_key } => {
            let trusted = public_key.as_deref().map(caregate::bag::parse_public_key).transpose()?;
            let (problems, key) = caregate::bag::verify_bag(&dir, trusted.as_ref());
            for p in &problems {
                println!("{p}");
            }
            if problems.is_empty() {
                match key {
                    Some(caregate::bag::KeyUsed::Given(k)) => println!("bag valid; signed by the given key {k}"),
                    Some(caregate::bag::KeyUsed::FromBag(k)) => {
                        println!("bag valid; signed by {k}, the key the bag names (pass --public-key to check its origin)")
                    }
                    None => {}
                }
                Ok(ExitCode::SUCCESS)
            } else {
                Ok(ExitCode::from(1))
            }
        }
        Command::Schema { verification } => {
            let schema = if verification { caregate_schemas::verification_json_schema() } else { caregate_schemas::evidence_record_json_schema() };
            println!("{}", serde_json::to_string_pretty(&schema)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn account(app: &App, command: AccountCommand) -> anyhow::Result<ExitCode> {
    use caregate_schemas::{Role, Scope};
    let accounts = &app.backends.accounts;
    match command {
        AccountCommand::Add { name, role, regions, establishments, display_name, password_stdin } => {
            let scope = if !regions.is_empty() {
                let known: Vec<&str> = caregate_schemas::REGIONS.iter().map(|(r, _)| *r).collect();
                if let Some(bad) = regions.iter().find(|r| !known.contains(&r.to_uppercase().as_str())) {
                    anyhow::bail!("unknown region {bad:?} (one of {})", known.join(", "));
                }
                Scope::Regions(regions.iter().map(|r| r.to_uppercase()).collect())
            } else if !establishments.is_empty() {
                Scope::Establishments(establishments)
            } else if role == Role::Submitter {
                anyhow::bail!("a submitter speaks for named establishments: give --establishment");
            } else {
                Scope::National
            };
            let password_hash = if password_stdin {
                let mut line = String::new();
                std::io::stdin().read_line(&mut line)?;
                let password = line.trim_end_matches(['\n', '\r']);
                anyhow::ensure!(password.chars().count() >= 12, "a password needs at least 12 characters");
                Some(caregate_ingest::hash_password(password)?)
            } else {
                None
            };
            let a = caregate_storage::Account { display_name: display_name.unwrap_or_else(|| name.clone()), name, role, scope, password_hash, disabled: false };
            accounts.put_account(&a).await?;
            println!("account {} ({}, {:?})", a.name, a.role, a.scope);
        }
        AccountCommand::Token { name, label } => {
            println!("{}", caregate_ingest::issue_token(accounts.as_ref(), &name, &label).await?);
        }
        AccountCommand::Disable { name } => set_disabled(accounts.as_ref(), &name, true).await?,
        AccountCommand::Enable { name } => set_disabled(accounts.as_ref(), &name, false).await?,
        AccountCommand::List => {
            for a in accounts.accounts().await? {
                let login = if a.password_hash.is_some() { "password" } else { "token only" };
                println!("{}\t{}\t{:?}\t{}{}", a.name, a.role, a.scope, login, if a.disabled { "\tdisabled" } else { "" });
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn set_disabled(accounts: &dyn caregate_storage::AccountStore, name: &str, disabled: bool) -> anyhow::Result<()> {
    let mut a = accounts.account(name).await?.with_context(|| format!("no account {name:?}"))?;
    a.disabled = disabled;
    accounts.put_account(&a).await?;
    println!("account {name} {}", if disabled { "disabled" } else { "enabled" });
    Ok(())
}
