//! A controller's walk through the console that decides fast, in a real browser
//! (Debian's headless Chromium through chromedriver): the queue sorted by FINESS and
//! paged by the index, French dates in the filters, « je prends ce dossier » (another
//! controller is then refused), the one decision form, « je relâche », every take and
//! release in the audit log; then the campaign's dashboard, its figures checked against
//! the index's. Screenshots are kept under the test output directory.

use std::path::PathBuf;
use std::time::Duration;

use caregate_schemas::{Role, Scope, Verdict};
use caregate_storage::{QueueQuery, Records, ReviewQueue, Taken, Verifications};
use fantoccini::{Client, Locator};

use crate::common::{self, serve, Stack, TestEnv};
use crate::console::{assert_accessible, axe_source, click_then, fill, press, tab_to, text, wait_for_new_page, written, Driver};
use fantoccini::key::Key;

const PASSWORD: &str = "contrôle-des-preuves-2024";

async fn shot(browser: &Client, stack: Stack, name: &str) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots").join(format!("walk-{stack:?}").to_lowercase());
    std::fs::create_dir_all(&dir).unwrap();
    let png = browser.screenshot().await.expect("screenshot");
    assert!(png.starts_with(b"\x89PNG"));
    let path = dir.join(format!("{name}.png"));
    std::fs::write(&path, png).unwrap();
    eprintln!("screenshot: {}", path.display());
    assert_accessible(browser, &axe_source(), name).await;
}

async fn cells(browser: &Client, css: &str) -> Vec<String> {
    let mut out = Vec::new();
    for e in browser.find_all(Locator::Css(css)).await.unwrap() {
        out.push(e.text().await.unwrap());
    }
    out
}

async fn a_controller_takes_decides_and_releases_from_a_sorted_page(stack: common::Stack) {
    let driver = Driver::start().await;
    let env = TestEnv::new(stack).await;
    let srv = serve(&env).await;
    srv.account("c.martin", Role::Controller, Scope::Regions(vec!["IDF".into()]), Some(PASSWORD)).await;
    let idf = Scope::Regions(vec!["IDF".into()]);

    // Five dossiers of five Paris establishments, each a signed attestation whose signer
    // chains to no trusted authority (none is configured): D1.PRE waits on a controller.
    let intake = srv.app.intake().unwrap();
    let attestation = std::fs::read(common::samples_dir().join("divers/attestation-signee.pdf")).unwrap();
    let mut subs = Vec::new();
    for n in 1..=5 {
        let mut sub = common::submission();
        sub.establishment = format!("75000000{n}");
        sub.objectives = vec!["D1.PRE".into()];
        intake.receive(&sub, "attestation-signee.pdf", common::bytes_body(attestation.clone())).await.unwrap();
        subs.push(sub);
    }
    for sub in &subs {
        let v = srv.app.wait_for_verification(sub.submission_id, 1, Duration::from_secs(90)).await.unwrap();
        assert!(v.awaits_controller("D1.PRE"), "{stack:?}: {v:?}");
    }
    let index = &srv.app.backends.index;
    let waiting = |q: QueueQuery| async move { index.review_queue(&QueueQuery { scope: Scope::Regions(vec!["IDF".into()]), limit: 50, ..q }).await.unwrap() };
    assert_eq!(waiting(QueueQuery { objective: Some("D1.PRE".into()), ..Default::default() }).await.total, 5);

    let browser = driver.browser().await;
    let base = &srv.base;
    browser.goto(&format!("{base}/console/login")).await.unwrap();
    fill(&browser, "input[name=name]", "c.martin").await;
    fill(&browser, "input[name=password]", PASSWORD).await;
    click_then(&browser, "button[type=submit]", "#objectives").await;

    // Two a page, sorted by FINESS: a click sorts ascending, another descending.
    browser.goto(&format!("{base}/console?objective=D1.PRE&par_page=2")).await.unwrap();
    assert_eq!(text(&browser, "#objective-count").await, "5");
    assert_eq!(text(&browser, "#page-count").await, "3");
    click_then(&browser, "a.tri[data-tri=finess]", "#objectives").await;
    assert_eq!(cells(&browser, "#objectives td.finess").await, ["750000001", "750000002"]);
    click_then(&browser, "a.tri[data-tri=finess]", "#objectives").await;
    assert_eq!(cells(&browser, "#objectives td.finess").await, ["750000005", "750000004"]);
    assert!(browser.find(Locator::Css("th[aria-sort=descending] a[data-tri=finess]")).await.is_ok(), "the sorted column says so");
    click_then(&browser, "#page-next", "#objectives").await;
    assert_eq!(text(&browser, "#page-current").await, "2");
    let url = browser.current_url().await.unwrap();
    assert!(url.as_str().contains("tri=finess") && url.as_str().contains("ordre=desc") && url.as_str().contains("page=2"), "{url}");
    assert_eq!(cells(&browser, "#objectives td.finess").await, ["750000003", "750000002"], "page 2 of the descending order");
    shot(&browser, stack, "01-queue-page-2-sorted").await;

    // French dates: typed and shown as jj/mm/aaaa, and the sort and page size kept.
    let today = chrono::Utc::now().date_naive();
    fill(&browser, "#filtre-from", &today.format("%d/%m/%Y").to_string()).await;
    fill(&browser, "#filtre-to", &today.format("%d/%m/%Y").to_string()).await;
    click_then(&browser, "form.filters button[type=submit]", "#objectives").await;
    assert_eq!(text(&browser, "#objective-count").await, "5");
    let shown = browser.find(Locator::Css("#filtre-from")).await.unwrap().prop("value").await.unwrap().unwrap();
    assert_eq!(shown, today.format("%d/%m/%Y").to_string(), "the date stays French");
    assert_eq!(browser.find(Locator::Css("#filtre-from")).await.unwrap().attr("type").await.unwrap().as_deref(), Some("text"), "no mm/dd/yyyy picker");
    let tomorrow = (today + chrono::Duration::days(1)).format("%d/%m/%Y").to_string();
    fill(&browser, "#filtre-from", &tomorrow).await;
    fill(&browser, "#filtre-to", "").await;
    click_then(&browser, "form.filters button[type=submit]", "#objectives").await;
    assert_eq!(text(&browser, "#objective-count").await, "0");
    shot(&browser, stack, "02-queue-date-filter").await;

    // Page 2 again; the first dossier there is 750000003's: take it.
    browser.goto(&format!("{base}/console?objective=D1.PRE&par_page=2&tri=finess&ordre=desc&page=2")).await.unwrap();
    click_then(&browser, "#objectives tr.waiting a", "#objectifs").await;
    let taken = subs.iter().find(|s| s.establishment == "750000003").unwrap().submission_id;
    assert!(browser.current_url().await.unwrap().as_str().contains(&taken.to_string()));
    click_then(&browser, "#take", "#release").await;
    assert!(text(&browser, "#holder").await.contains("c.martin"));
    // Why it waits, as a controller can sign it: each reason names the file and the field,
    // and asks its question beside it; the decision's choice is described by them.
    let why = text(&browser, "tr[id='D1.PRE'] td.motifs").await;
    assert!(why.contains("Pièce attestation-signee.pdf") && why.contains("champ « signature 1 »"), "{why}");
    let questions = cells(&browser, "tr[id='D1.PRE'] p.question").await;
    assert!(questions.iter().any(|q| q.starts_with("Question : La signature de cette pièce n'est pas confirmée") && q.ends_with(" ?")), "{questions:?}");
    let described = browser.find(Locator::Id("choix-D1.PRE")).await.unwrap().attr("aria-describedby").await.unwrap().expect("the choice names its questions");
    let mut described_texts = Vec::new();
    for id in described.split(' ') {
        described_texts.push(text(&browser, &format!("[id='{id}']")).await);
    }
    assert_eq!(described_texts, questions, "the choice is described by the questions it answers");
    assert!(text(&browser, "tr[id='D1.PRE'] .repondre").await.contains("« Accepter » répond oui"));
    shot(&browser, stack, "03-dossier-taken").await;
    // The field's link leads to the signature's row in the file's page.
    click_then(&browser, "tr[id='D1.PRE'] a.pointer", "#signatures").await;
    let url = browser.current_url().await.unwrap();
    assert!(url.as_str().ends_with("#signature-1"), "{url}");
    assert!(text(&browser, "tr#signature-1").await.contains("indéterminée"));
    let held = index.assignment(taken).await.unwrap().expect("held");
    assert!(held.holder.starts_with("c.martin"), "{held:?}");
    // Another controller cannot take it, and the queue says who holds it.
    assert!(matches!(index.take(taken, "a.bernard (controller)", chrono::Utc::now()).await.unwrap(), Taken::HeldBy(a) if a.holder == held.holder));
    browser.goto(&format!("{base}/console?objective=D1.PRE&tri=detenteur&ordre=desc")).await.unwrap();
    assert!(cells(&browser, "#objectives td.holder").await[0].contains("c.martin"));
    shot(&browser, stack, "04-queue-holder").await;

    // One form decides the dossier; then let go of it.
    browser.goto(&format!("{base}/console/submissions/{taken}")).await.unwrap();
    // With the keyboard alone: to the objective's choice (down twice: « Rejeter »), to
    // the comment, to the button.
    browser.execute("document.activeElement.blur(); window.scrollTo(0, 0)", vec![]).await.unwrap();
    tab_to(&browser, "choix-D1.PRE", 60).await;
    press(&browser, Key::Down).await;
    press(&browser, Key::Down).await;
    let chosen = browser.execute("return document.getElementById('choix-D1.PRE').value", vec![]).await.unwrap();
    assert_eq!(chosen, serde_json::json!("reject"), "chosen with the arrow keys");
    tab_to(&browser, "comment", 20).await;
    browser.active_element().await.unwrap().send_keys("Signataire inconnu de l'ARS : attestation à refaire").await.unwrap();
    tab_to(&browser, "decide", 10).await;
    browser.execute("document.body.dataset.seen = '1'", vec![]).await.unwrap();
    press(&browser, Key::Enter).await;
    wait_for_new_page(&browser, "#decisions").await;
    assert!(written(&browser, "tr[id='D1.PRE'] .objective-verdict").await.contains("Non atteint"));
    shot(&browser, stack, "05-dossier-decided").await;
    click_then(&browser, "#release", "#take").await;
    assert_eq!(index.assignment(taken).await.unwrap(), None);
    let kinds: Vec<String> = index.events(caregate_schemas::EvidenceId(taken.0)).await.unwrap().into_iter().map(|e| e.kind).collect();
    for kind in ["assigned", "decision", "released"] {
        assert_eq!(kinds.iter().filter(|k| *k == kind).count(), 1, "{kind} in {kinds:?}");
    }
    assert_eq!(waiting(QueueQuery { objective: Some("D1.PRE".into()), ..Default::default() }).await.total, 4, "decided, out of the queue");

    // The dashboard: its figures are the index's.
    browser.goto(&format!("{base}/console/tableau-de-bord")).await.unwrap();
    let figures = index.dashboard(&idf, None).await.unwrap();
    assert_eq!(text(&browser, "#objectives-total").await, figures.objectives.to_string());
    assert_eq!(text(&browser, "#settled-by-machine").await, figures.settled_by_machine.to_string());
    assert_eq!(text(&browser, "#decided").await, "1");
    assert_eq!(figures.decided, 1);
    let rate = text(&browser, "#automation-rate").await.replace('\u{a0}', " ");
    assert_eq!(rate, format!("{:.1} %", figures.settled_by_machine as f64 * 100.0 / figures.objectives as f64).replace('.', ","));
    for (region, objective, verdict, n) in &figures.by_region_objective {
        let cell = format!("#verdicts-region-objectif tr[data-region='{region}'][data-objective='{objective}'] td[data-verdict='{}']", verdict.as_str());
        assert_eq!(text(&browser, &cell).await, n.to_string(), "{cell}");
    }
    let pre = |v: Verdict| figures.by_region_objective.iter().find(|x| x.0 == "IDF" && x.1 == "D1.PRE" && x.2 == v).map_or(0, |x| x.3);
    assert_eq!((pre(Verdict::NeedsReview), pre(Verdict::NotMet)), (4, 1));
    let files: u64 = figures.files_per_day.iter().map(|x| x.1).sum();
    assert_eq!(files, 5);
    assert_eq!(text(&browser, "#pieces-par-jour tbody td:last-child").await, "5");
    assert_eq!(browser.find_all(Locator::Css("figure.graphique svg[role=img]")).await.unwrap().len(), 3, "three charts, drawn by the server");
    shot(&browser, stack, "06-dashboard").await;
    browser.close().await.unwrap();
    srv.stop.cancel();
}
common::on_each_stack!(a_controller_takes_decides_and_releases_from_a_sorted_page);

/// The dashboard's figures with 10,000 dossiers in the index (40,000 objectives, 10,000
/// files): the aggregate queries answer well within a page's patience. The time is
/// printed for BENCHMARKS.md.
async fn the_dashboard_answers_quickly_with_ten_thousand_dossiers(stack: common::Stack) {
    use caregate_schemas::{EvidenceRecord, ObjectiveVerdict, Sha256Digest, SubmissionId, SubmissionRef, Verification};
    use futures::StreamExt;
    let env = TestEnv::new(stack).await;
    // The index alone: no worker to take the records' jobs.
    let url = match stack {
        Stack::Embedded => format!("sqlite://{}?mode=rwc", env.dir.path().join("index.sqlite").display()),
        Stack::Full => env.config.backends.database.clone().unwrap().url,
    };
    let index = std::sync::Arc::new(caregate_storage::SqlIndex::connect(&url, 8).await.unwrap());
    let t0 = chrono::Utc::now() - chrono::Duration::days(60);
    let regions = ["750000001", "690000002", "130000003", "330000004", "590000005", "350000006", "670000007", "310000008"];
    let started = std::time::Instant::now();
    futures::stream::iter(0..10_000u32)
        .map(|i| {
            let index = index.clone();
            async move {
                let id = SubmissionId::new();
                let finess = regions[i as usize % regions.len()].to_owned();
                let at = t0 + chrono::Duration::minutes(i as i64 * 8);
                let sub = SubmissionRef {
                    submission_id: id,
                    establishment: finess.clone(),
                    campaign: "care-d1-2024".into(),
                    objectives: vec!["D1.FIN".into()],
                    category: None,
                };
                let mut rec = EvidenceRecord::received(
                    caregate_schemas::EvidenceId::new(),
                    sub,
                    "facture.pdf".into(),
                    Sha256Digest::of(&i.to_le_bytes()),
                    100,
                    "quarantine/x".into(),
                );
                rec.received_at = at;
                index.record_received(&rec).await.unwrap();
                let verdict = [Verdict::Met, Verdict::Met, Verdict::NeedsReview, Verdict::NotMet][i as usize % 4];
                let objectives = ["D1.PRE", "D1.AD.AUDIT", "D1.EXPO", "D1.FIN"]
                    .iter()
                    .map(|o| ObjectiveVerdict { objective: (*o).into(), title: (*o).into(), verdict, claimed: true, evidence: vec![], reasons: vec![] })
                    .collect();
                let v = Verification {
                    submission_id: id,
                    establishment: finess,
                    campaign: "care-d1-2024".into(),
                    referential_id: "care-d1-2024".into(),
                    referential_version: "v1".into(),
                    basis: "2024-06-01T00:00:00.000000Z".into(),
                    computed_at: at,
                    pending: 0,
                    verdict,
                    objectives,
                    evidence: vec![],
                };
                index.put_verification(&v).await.unwrap();
            }
        })
        // SQLite writes one transaction at a time: writers in parallel would only wait on
        // its lock (and, on a loaded machine, past its timeout).
        .buffer_unordered(if stack == Stack::Embedded { 1 } else { 8 })
        .collect::<Vec<()>>()
        .await;
    eprintln!("{stack:?}: 10,000 dossiers written in {:.1} s", started.elapsed().as_secs_f64());
    let mut times = Vec::new();
    for _ in 0..5 {
        let started = std::time::Instant::now();
        let f = index.dashboard(&Scope::National, None).await.unwrap();
        times.push(started.elapsed());
        assert!(f.objectives >= 40_000, "{}", f.objectives);
    }
    times.sort();
    let deep = QueueQuery {
        scope: Scope::National,
        sort: caregate_storage::QueueSort::Establishment,
        descending: true,
        offset: 2000,
        limit: 25,
        ..Default::default()
    };
    let started = std::time::Instant::now();
    let page = index.review_queue(&deep).await.unwrap();
    let queue_ms = started.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(page.items.len(), 25);
    eprintln!(
        "{stack:?}: dashboard with 10,000 dossiers: median {:.0} ms (min {:.0}, max {:.0}); queue page 81 sorted by FINESS: {queue_ms:.0} ms",
        times[2].as_secs_f64() * 1000.0,
        times[0].as_secs_f64() * 1000.0,
        times[4].as_secs_f64() * 1000.0
    );
    assert!(times[2] < Duration::from_secs(2), "{times:?}");
}
common::on_each_stack!(the_dashboard_answers_quickly_with_ten_thousand_dossiers);
