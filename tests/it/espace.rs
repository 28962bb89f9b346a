//! The establishments' space in a real browser (Debian's headless Chromium through
//! chromedriver), on the real services: an establishment uploads a folder, sees one file
//! refused and why, replaces it; answers a controller's request for information, which
//! the controller reads on the console before accepting; a cut connection is waited out
//! and resumed without sending again the files already held. Every page is checked by
//! axe-core (WCAG 2.1 A and AA, injected into the page) and screenshotted; the upload is
//! walked through with the keyboard alone.

use std::path::{Path, PathBuf};
use std::time::Duration;

use caregate_schemas::{FindingCode, Role, Scope, Verdict};
use fantoccini::key::Key;
use fantoccini::{Client, Locator};
use serde_json::json;

use crate::common::{self, serve, Stack, TestEnv};
use crate::console::{assert_accessible, axe_source, click_then, fill, press, tab_to, text, Driver};

const PASSWORD: &str = "dépôt-des-preuves-2024";
const CONTROLLER_PASSWORD: &str = "contrôle-des-preuves-2024";
const FINESS: &str = "750000001";

struct Shots {
    dir: PathBuf,
    n: usize,
}

impl Shots {
    fn new(test: &str, stack: Stack) -> Self {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("espace-screenshots").join(test).join(format!("{stack:?}").to_lowercase());
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self { dir, n: 0 }
    }

    async fn take(&mut self, browser: &Client, name: &str) {
        self.n += 1;
        let png = browser.screenshot().await.expect("screenshot");
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        let path = self.dir.join(format!("{:02}-{name}.png", self.n));
        std::fs::write(&path, png).unwrap();
        eprintln!("screenshot: {}", path.display());
    }
}

/// The page's DSFR stylesheet loaded (the notice shown without it is hidden by it).
async fn assert_dsfr(browser: &Client) {
    let shown = browser.execute("return getComputedStyle(document.getElementById('sans-dsfr')).display", vec![]).await.unwrap();
    assert_eq!(shown, json!("none"), "the DSFR's stylesheet is served and applied");
}

async fn log_in(browser: &Client, base: &str, name: &str, password: &str, expect: &str) {
    browser.goto(&format!("{base}/console/login")).await.unwrap();
    fill(browser, "input[name=name]", name).await;
    fill(browser, "input[name=password]", password).await;
    click_then(browser, "form[action='/console/login'] button[type=submit]", expect).await;
}

async fn log_out(browser: &Client) {
    click_then(browser, "#deconnexion", "input[name=password]").await;
}

/// Waits until `css` shows (the page's script brings parts of it up to date).
async fn wait_for(browser: &Client, css: &str, secs: u64) {
    for _ in 0..secs * 10 {
        if browser.find(Locator::Css(css)).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no {css} after {secs} s; page: {}", browser.source().await.unwrap_or_default());
}

/// Reloads the page until `css` shows (a verdict computed by the worker).
async fn reload_until(browser: &Client, css: &str, secs: u64) {
    for _ in 0..secs {
        browser.refresh().await.unwrap();
        if browser.find(Locator::Css(css)).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    panic!("no {css} after {secs} s; page: {}", browser.source().await.unwrap_or_default());
}

fn invoice(number: &str, date: &str) -> Vec<u8> {
    common::text_pdf(&[
        "SECURINFO CONSEIL SAS",
        "12 rue de la Paix, 75002 Paris",
        "SIRET : 732 829 320 00074",
        "",
        &format!("FACTURE N° {number}"),
        &format!("Date de facture : {date}"),
        "Facturé à : Centre hospitalier Exemple",
        "",
        "Audit de l'annuaire Active Directory",
        "Total HT : 1 000,00 €",
        "TVA 20 % : 200,00 €",
        "Total TTC : 1 200,00 €",
    ])
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, bytes).unwrap();
    path
}

/// The dossier's id, from the page's address.
async fn dossier_id(browser: &Client) -> caregate_schemas::SubmissionId {
    let url = browser.current_url().await.unwrap();
    let id = url.path().trim_start_matches("/espace/dossiers/").to_owned();
    id.parse().unwrap_or_else(|_| panic!("not a dossier page: {url}"))
}

async fn an_establishment_uploads_a_folder_and_replaces_a_refused_file(stack: Stack) {
    assert!(common::dsfr_dist().join("dsfr.min.css").is_file(), "the DSFR is installed (bash scripts/services.sh dsfr)");
    let driver = Driver::start().await;
    let env = TestEnv::new(stack).await;
    let srv = serve(&env).await;
    srv.account("ch-exemple", Role::Submitter, Scope::Establishments(vec![FINESS.into()]), Some(PASSWORD)).await;
    let axe = axe_source();
    let browser = driver.browser().await;
    let mut shots = Shots::new("dossier", stack);
    let base = &srv.base;

    // Not signed in: the space sends people to the log-in page, which lands a
    // submitter in their space.
    browser.goto(&format!("{base}/espace")).await.unwrap();
    assert!(browser.current_url().await.unwrap().as_str().ends_with("/console/login"));
    assert_dsfr(&browser).await;
    assert_accessible(&browser, &axe, "log-in").await;
    shots.take(&browser, "connexion").await;
    log_in(&browser, base, "ch-exemple", PASSWORD, "#nouveau").await;
    assert!(browser.current_url().await.unwrap().as_str().ends_with("/espace"));
    assert!(text(&browser, "#aucun-dossier").await.contains("Aucun dossier"));
    assert!(text(&browser, ".fr-header__service-title").await.contains("caregate — CaRE"));
    assert_accessible(&browser, &axe, "mes dossiers (vide)").await;
    shots.take(&browser, "mes-dossiers-vide").await;

    // A new dossier, and a folder of two invoices: one dated before the programme.
    click_then(&browser, "#nouveau button[type=submit]", "#depot").await;
    assert_accessible(&browser, &axe, "nouveau dossier").await;
    shots.take(&browser, "nouveau-dossier").await;
    let files = tempfile::tempdir().unwrap();
    write(files.path(), "bilan-care/facture-2019.pdf", &invoice("FA-2019-0007", "12/06/2019"));
    write(files.path(), "bilan-care/facture-FA-2024-0042.pdf", &std::fs::read(common::samples_dir().join("factures/facture-FA-2024-0042.pdf")).unwrap());
    browser.find(Locator::Css("label[for='objectif-D1.FIN']")).await.unwrap().click().await.unwrap();
    browser.find(Locator::Id("repertoire")).await.unwrap().send_keys(&files.path().join("bilan-care").display().to_string()).await.unwrap();
    wait_for(&browser, "tr[data-nom='bilan-care/facture-2019.pdf'][data-etat='en-attente']", 10).await;
    browser.find(Locator::Id("envoyer")).await.unwrap().click().await.unwrap();
    wait_for(&browser, "#depot-resultat[data-envoyes='2']", 60).await;
    assert_eq!(text(&browser, "tr[data-nom='bilan-care/facture-2019.pdf'] .statut").await, "reçu");
    assert_accessible(&browser, &axe, "dépôt terminé").await;
    shots.take(&browser, "depot-termine").await;

    // The dossier: the old invoice's date is told, with what to do.
    click_then(&browser, "#voir-dossier", "#pieces").await;
    let sub = dossier_id(&browser).await;
    common::wait_done(&srv.app, sub, 2, 90).await;
    srv.app.wait_for_verification(sub, 2, Duration::from_secs(60)).await.unwrap();
    reload_until(&browser, "#verdicts .constat", 30).await;
    let audit = text(&browser, "section[id='objectif-D1.FIN']").await;
    assert!(audit.contains("bilan-care/facture-2019.pdf datée du 12/06/2019 hors de la période du programme"), "{audit}");
    assert!(audit.contains("À faire : remplacez cette pièce par une pièce datée dans la période du programme"), "{audit}");
    assert_accessible(&browser, &axe, "dossier").await;
    shots.take(&browser, "dossier-piece-refusee").await;

    // Replaced by the invoice of the right year: the old one is withdrawn, kept, and no
    // longer judged; the verdict says so without a reload.
    let old = srv.app.backends.index.submission(sub).await.unwrap().into_iter().find(|r| r.path == "bilan-care/facture-2019.pdf").unwrap();
    click_then(&browser, &format!("tr[data-piece='{}'] a.remplacer", old.evidence_id), "#depot").await;
    assert_accessible(&browser, &axe, "remplacer une pièce").await;
    shots.take(&browser, "remplacer").await;
    let replacement = write(files.path(), "facture-FA-2024-0117.pdf", &invoice("FA-2024-0117", "12/06/2024"));
    browser.find(Locator::Id("fichiers")).await.unwrap().send_keys(&replacement.display().to_string()).await.unwrap();
    browser.find(Locator::Id("envoyer")).await.unwrap().click().await.unwrap();
    wait_for(&browser, "#depot-resultat[data-envoyes='1']", 60).await;
    click_then(&browser, "#voir-dossier", "#pieces").await;
    common::wait_done(&srv.app, sub, 3, 90).await;
    wait_for(&browser, "#retirees", 5).await;
    for _ in 0..60 {
        if !text(&browser, "section[id='objectif-D1.FIN']").await.contains("facture-2019.pdf") {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let audit = text(&browser, "section[id='objectif-D1.FIN']").await;
    assert!(!audit.contains("facture-2019.pdf"), "the withdrawn file is no longer judged: {audit}");
    let retirees = text(&browser, "#retirees").await;
    assert!(retirees.contains("bilan-care/facture-2019.pdf") && retirees.contains("facture-FA-2024-0117.pdf"), "{retirees}");
    assert!(!text(&browser, "#pieces").await.contains("facture-2019.pdf"));
    assert_accessible(&browser, &axe, "dossier après remplacement").await;
    shots.take(&browser, "dossier-remplacee").await;

    // Kept, and its history says who took it out.
    let kept = srv.app.backends.index.get(old.evidence_id).await.unwrap().expect("the record is kept");
    assert!(kept.object_key.is_some(), "its bytes are kept");
    let events = srv.app.backends.index.events(old.evidence_id).await.unwrap();
    let withdrawn = events.iter().find(|e| e.kind == "withdrawn").expect("a withdrawal event");
    assert!(withdrawn.detail["actor"].as_str().unwrap().contains("ch-exemple"), "{withdrawn:?}");
    assert!(withdrawn.detail["replaced_by"].is_string(), "{withdrawn:?}");
    let v = srv.app.backends.index.verification(sub).await.unwrap().unwrap();
    assert!(v.evidence.iter().all(|e| e.evidence_id != old.evidence_id), "judged without it");

    // The list of dossiers, and another establishment's dossier refused.
    browser.goto(&format!("{base}/espace")).await.unwrap();
    assert!(text(&browser, "#dossiers").await.contains(FINESS));
    assert_accessible(&browser, &axe, "mes dossiers").await;
    shots.take(&browser, "mes-dossiers").await;
    let mut other = common::submission();
    other.establishment = "130000001".into();
    srv.app.intake().unwrap().receive(&other, "autre.pdf", common::bytes_body(invoice("X-1", "12/06/2024"))).await.unwrap();
    browser.goto(&format!("{base}/espace/dossiers/{}", other.submission_id)).await.unwrap();
    assert!(text(&browser, "#erreur").await.contains("n'est pas dans votre périmètre"));
    assert_accessible(&browser, &axe, "accès refusé").await;
    shots.take(&browser, "acces-refuse").await;
    browser.close().await.unwrap();
    srv.stop.cancel();
}
common::on_each_stack!(an_establishment_uploads_a_folder_and_replaces_a_refused_file);

async fn an_establishment_answers_a_request_for_information(stack: Stack) {
    let driver = Driver::start().await;
    let env = TestEnv::new(stack).await;
    let srv = serve(&env).await;
    srv.account("ch-exemple", Role::Submitter, Scope::Establishments(vec![FINESS.into()]), Some(PASSWORD)).await;
    let controller = srv.account("c.martin", Role::Controller, Scope::Regions(vec!["IDF".into()]), Some(CONTROLLER_PASSWORD)).await;
    let axe = axe_source();
    let base = &srv.base;

    // A dossier whose prerequisite is a photographed attestation: a controller must look,
    // and asks for the signed one.
    let sub = common::submission();
    let sample = |p: &str| std::fs::read(common::samples_dir().join(p)).unwrap();
    srv.app.intake().unwrap().receive(&sub, "photo-attestation.png", common::bytes_body(sample("divers/photo-attestation.png"))).await.unwrap();
    let machine = srv.app.wait_for_verification(sub.submission_id, 1, Duration::from_secs(90)).await.unwrap();
    assert_eq!(machine.objectives.iter().find(|o| o.objective == "D1.PRE").unwrap().verdict, Verdict::NeedsReview);
    let asked = common::client(&controller)
        .post(format!("{base}/api/submissions/{}/decisions", sub.submission_id))
        .json(&json!({"objective": "D1.PRE", "decision": "request_information", "comment": "Merci de joindre l'attestation SUN-ES signée électroniquement."}))
        .send()
        .await
        .unwrap();
    assert!(asked.status().is_success(), "{}", asked.text().await.unwrap());

    let browser = driver.browser().await;
    let mut shots = Shots::new("complement", stack);
    log_in(&browser, base, "ch-exemple", PASSWORD, "#dossiers").await;
    click_then(&browser, "#dossiers a", "#verdicts").await;
    let pre = "section[id='objectif-D1.PRE']";
    assert!(text(&browser, &format!("{pre} .demande-texte")).await.contains("attestation SUN-ES signée"));
    assert!(text(&browser, &format!("{pre} .a-faire")).await.contains("répondez au contrôleur"));
    assert_accessible(&browser, &axe, "dossier avec demande de complément").await;
    shots.take(&browser, "demande").await;

    // The signed attestation, dropped on the zone (the drop a person makes, as the
    // page's script receives it), then the answer pointing at it.
    let files = tempfile::tempdir().unwrap();
    browser
        .execute(
            "const [name, bytes] = arguments;
             const dropped = new DataTransfer();
             dropped.items.add(new File([new Uint8Array(bytes)], name, { type: 'application/pdf' }));
             document.getElementById('zone-depot').dispatchEvent(new DragEvent('drop', { dataTransfer: dropped, bubbles: true, cancelable: true }));
             return true;",
            vec![json!("attestation-signee.pdf"), json!(sample("divers/attestation-signee.pdf"))],
        )
        .await
        .unwrap();
    wait_for(&browser, "tr[data-nom='attestation-signee.pdf'][data-etat='en-attente']", 10).await;
    browser.find(Locator::Id("envoyer")).await.unwrap().click().await.unwrap();
    wait_for(&browser, "#depot-resultat[data-envoyes='1']", 60).await;
    browser.refresh().await.unwrap();
    let piece = format!("{pre} form.reponse input[name=piece]");
    wait_for(&browser, &piece, 5).await;
    assert!(browser.find(Locator::Css(&piece)).await.unwrap().is_selected().await.unwrap(), "the file sent since the request is joined");
    fill(&browser, &format!("{pre} form.reponse textarea"), "Voici l'attestation signée par notre directeur.").await;
    // And a letter joined with the answer itself: deposited first, then joined.
    let letter =
        write(files.path(), "courrier-directeur.pdf", &common::text_pdf(&["Centre hospitalier Exemple", "Le directeur atteste des prérequis SUN-ES."]));
    browser.find(Locator::Css(&format!("{pre} form.reponse input[type=file]"))).await.unwrap().send_keys(&letter.display().to_string()).await.unwrap();
    click_then(&browser, &format!("{pre} form.reponse button[type=submit]"), ".reponse.fr-alert").await;
    let answered = text(&browser, &format!("{pre} .reponse.fr-alert")).await;
    assert!(answered.contains("attestation signée par notre directeur"), "{answered}");
    assert!(answered.contains("attestation-signee.pdf") && answered.contains("courrier-directeur.pdf"), "both files joined: {answered}");
    assert_accessible(&browser, &axe, "dossier après réponse").await;
    shots.take(&browser, "reponse").await;
    log_out(&browser).await;

    // The controller reads it on the console's dossier page and accepts.
    log_in(&browser, base, "c.martin", CONTROLLER_PASSWORD, "#objectives").await;
    browser.goto(&format!("{base}/console/submissions/{}", sub.submission_id)).await.unwrap();
    let answers = text(&browser, "#reponses").await;
    assert!(
        answers.contains("attestation signée par notre directeur") && answers.contains("attestation-signee.pdf") && answers.contains("D1.PRE"),
        "{answers}"
    );
    shots.take(&browser, "console-reponse").await;
    // The dossier's one decision form (the console's).
    browser.find(Locator::Css("#decision select[name='decision:D1.PRE']")).await.unwrap().select_by_value("accept").await.unwrap();
    fill(&browser, "#comment", "Attestation signée reçue en réponse.").await;
    click_then(&browser, "#decide", "#decisions").await;
    log_out(&browser).await;

    // The establishment sees the objective met.
    log_in(&browser, base, "ch-exemple", PASSWORD, "#dossiers").await;
    browser.goto(&format!("{base}/espace/dossiers/{}", sub.submission_id)).await.unwrap();
    wait_for(&browser, &format!("{pre} .verdict-objectif [data-verdict='met']"), 5).await;
    assert!(browser.find(Locator::Css(&format!("{pre} .demande"))).await.is_err(), "no request left");
    // The request is closed (answered, then decided): another answer to it is refused.
    let again = browser
        .execute(
            "const [url, field] = arguments;
             const token = document.querySelector(`input[name=${field}]`).value;
             const body = new URLSearchParams({ [field]: token, objective: 'D1.PRE', comment: 'Une autre réponse.' });
             return fetch(url, { method: 'POST', body }).then(r => r.status);",
            vec![json!(format!("/espace/dossiers/{}/reponses", sub.submission_id)), json!(caregate_ingest::guard::CSRF_FIELD)],
        )
        .await
        .unwrap();
    assert_eq!(again, json!(400), "an answer to a closed request");
    assert_eq!(srv.app.backends.index.answers(sub.submission_id).await.unwrap().len(), 1, "nothing more recorded");
    shots.take(&browser, "accepte").await;
    let events = srv.app.backends.index.events(caregate_schemas::EvidenceId(sub.submission_id.0)).await.unwrap();
    assert!(events.iter().any(|e| e.kind == "information_answered"), "the answer is in the history: {events:?}");
    let v: caregate_schemas::Verification =
        common::client(&controller).get(format!("{base}/api/submissions/{}/verification", sub.submission_id)).send().await.unwrap().json().await.unwrap();
    let pre = v.objectives.iter().find(|o| o.objective == "D1.PRE").unwrap();
    assert_eq!((pre.verdict, pre.reasons[0].code), (Verdict::Met, FindingCode::ControllerAccepted));
    browser.close().await.unwrap();
    srv.stop.cancel();
}
common::on_each_stack!(an_establishment_answers_a_request_for_information);

async fn a_cut_upload_resumes_without_sending_held_files_again(stack: Stack) {
    let driver = Driver::start().await;
    let env = TestEnv::new(stack).await;
    let srv = serve(&env).await;
    srv.account("ch-exemple", Role::Submitter, Scope::Establishments(vec![FINESS.into()]), Some(PASSWORD)).await;
    let axe = axe_source();
    // The browser reaches caregate through a relay the test can cut.
    let target: &'static str = Box::leak(srv.base.trim_start_matches("http://").to_owned().into_boxed_str());
    let proxy = common::Proxy::start(target, common::Link::Up).await;
    let base = format!("http://127.0.0.1:{}", proxy.port);
    let browser = driver.browser().await;
    let mut shots = Shots::new("reprise", stack);
    log_in(&browser, &base, "ch-exemple", PASSWORD, "#nouveau").await;

    // Keyboard only: to the objective, the folder field, and the button.
    click_then(&browser, "#nouveau button[type=submit]", "#depot").await;
    let files = tempfile::tempdir().unwrap();
    let folder = files.path().join("pieces");
    write(files.path(), "pieces/a-facture.pdf", &invoice("FA-2024-0001", "12/06/2024"));
    write(files.path(), "pieces/b-facture.pdf", &invoice("FA-2024-0002", "13/06/2024"));
    browser.execute("document.activeElement.blur(); window.scrollTo(0, 0)", vec![]).await.unwrap();
    tab_to(&browser, "objectif-D1.AD.AUDIT", 40).await;
    press(&browser, Key::Space).await;
    assert!(browser.find(Locator::Id("objectif-D1.AD.AUDIT")).await.unwrap().is_selected().await.unwrap(), "checked with the space bar");
    tab_to(&browser, "repertoire", 20).await;
    // What the folder chooser would give: chromedriver types the path into the focused field.
    browser.active_element().await.unwrap().send_keys(&folder.display().to_string()).await.unwrap();
    wait_for(&browser, "tr[data-nom='pieces/b-facture.pdf']", 10).await;
    tab_to(&browser, "envoyer", 10).await;
    shots.take(&browser, "clavier").await;
    press(&browser, Key::Enter).await;
    wait_for(&browser, "#depot-resultat[data-envoyes='2']", 60).await;
    assert_accessible(&browser, &axe, "dépôt au clavier").await;
    let sub: caregate_schemas::SubmissionId =
        browser.find(Locator::Id("depot")).await.unwrap().attr("data-submission").await.unwrap().unwrap().parse().unwrap();

    // The folder again, a third file in it, with the connection cut: nothing goes, the
    // page says it waits; back up, the two held files are not sent again, the third is.
    write(files.path(), "pieces/c-facture.pdf", &invoice("FA-2024-0003", "14/06/2024"));
    proxy.set(common::Link::Down);
    browser.find(Locator::Id("repertoire")).await.unwrap().send_keys(&folder.display().to_string()).await.unwrap();
    wait_for(&browser, "tr[data-nom='pieces/c-facture.pdf']", 10).await;
    browser.find(Locator::Id("envoyer")).await.unwrap().click().await.unwrap();
    wait_for(&browser, "tr[data-nom='pieces/c-facture.pdf'][data-etat='interrompu']", 30).await;
    assert!(text(&browser, "tr[data-nom='pieces/c-facture.pdf'] .statut").await.contains("connexion interrompue"));
    shots.take(&browser, "connexion-coupee").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    proxy.set(common::Link::Up);
    wait_for(&browser, "#depot-resultat[data-envoyes='1'][data-deja='2']", 90).await;
    for held in ["a", "b"] {
        assert_eq!(text(&browser, &format!("tr[data-nom='pieces/{held}-facture.pdf'] .statut")).await, "déjà reçu : non renvoyé");
    }
    assert_eq!(text(&browser, "tr[data-nom='pieces/c-facture.pdf'] .statut").await, "reçu");
    shots.take(&browser, "reprise").await;
    let records = common::wait_done(&srv.app, sub, 3, 90).await;
    let mut paths: Vec<&str> = records.iter().map(|r| r.path.as_str()).collect();
    paths.sort();
    assert_eq!(paths, ["pieces/a-facture.pdf", "pieces/b-facture.pdf", "pieces/c-facture.pdf"], "one record per file");
    for r in &records {
        let received = srv.app.backends.index.events(r.evidence_id).await.unwrap().iter().filter(|e| e.kind == "received").count();
        assert_eq!(received, 1, "{} received once", r.path);
    }
    browser.close().await.unwrap();
    srv.stop.cancel();
}
common::on_each_stack!(a_cut_upload_resumes_without_sending_held_files_again);

/// The value of a hidden field of a page (`name="…" value="…"`).
fn hidden(page: &str, name: &str) -> String {
    let at = page.find(&format!("name=\"{name}\" value=\"")).unwrap_or_else(|| panic!("no field {name} in the page"));
    let rest = &page[at + name.len() + 15..];
    rest[..rest.find('"').unwrap()].to_owned()
}

/// Without a script: the plain form posts every file at once with its CSRF token first,
/// and a withdrawal is a plain form too; a forged upload (no token, a wrong one, the
/// token after a file, another site) is refused before any file is kept.
async fn the_plain_forms_work_without_a_script(stack: Stack) {
    let env = TestEnv::new(stack).await;
    let srv = serve(&env).await;
    srv.account("ch-exemple", Role::Submitter, Scope::Establishments(vec![FINESS.into()]), Some(PASSWORD)).await;
    let base = &srv.base;
    let browser = reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let logged =
        browser.post(format!("{base}/console/login")).header("origin", base).form(&[("name", "ch-exemple"), ("password", PASSWORD)]).send().await.unwrap();
    assert_eq!(logged.status(), 303);
    assert_eq!(logged.headers()["location"], "/espace", "a submitter lands in the space");
    let page = browser.get(format!("{base}/espace/nouveau?establishment={FINESS}&campaign=care-d1-2024")).send().await.unwrap().text().await.unwrap();
    let (csrf, id) = (hidden(&page, "_csrf"), hidden(&page, "submission_id"));
    let form = |token: Option<&str>, token_last: bool| {
        let mut f = reqwest::multipart::Form::new();
        if let (Some(t), false) = (token, token_last) {
            f = f.text("_csrf", t.to_owned());
        }
        f = f.text("establishment", FINESS).text("campaign", "care-d1-2024").text("submission_id", id.clone()).text("objective", "D1.FIN");
        f = f.part("file", reqwest::multipart::Part::bytes(invoice("FA-2024-0042", "12/06/2024")).file_name("facture.pdf"));
        if let (Some(t), true) = (token, token_last) {
            f = f.text("_csrf", t.to_owned());
        }
        f
    };
    for (why, token, last, origin) in [
        ("no token", None, false, Some(base.as_str())),
        ("a wrong token", Some("0".repeat(64)), false, Some(base.as_str())),
        ("the token after the file", Some(csrf.clone()), true, Some(base.as_str())),
        ("another site", Some(csrf.clone()), false, Some("http://ailleurs.example")),
    ] {
        let mut req = browser.post(format!("{base}/espace/depot")).multipart(form(token.as_deref(), last));
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        let answer = req.send().await.unwrap();
        assert_eq!(answer.status(), 403, "{why}: {}", answer.text().await.unwrap());
    }
    assert!(srv.app.backends.index.submission(id.parse().unwrap()).await.unwrap().is_empty(), "nothing kept from a forged upload");

    let sent = browser.post(format!("{base}/espace/depot")).header("origin", base).multipart(form(Some(&csrf), false)).send().await.unwrap();
    assert_eq!(sent.status(), 303, "{}", sent.text().await.unwrap());
    assert_eq!(sent.headers()["location"].to_str().unwrap(), format!("/espace/dossiers/{id}?recus=1"));
    let held: serde_json::Value = browser.get(format!("{base}/espace/dossiers/{id}/recus")).send().await.unwrap().json().await.unwrap();
    assert_eq!(held[0]["path"], "facture.pdf");
    let record = srv.app.backends.index.submission(id.parse().unwrap()).await.unwrap().remove(0);
    assert!(record.uploaded_by.as_deref().is_some_and(|u| u.contains("ch-exemple")), "{:?}", record.uploaded_by);

    // Withdrawn with the plain form: no longer held, still kept.
    let withdrawn = browser
        .post(format!("{base}/espace/pieces/{}/retrait", record.evidence_id))
        .header("origin", base)
        .form(&[("_csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(withdrawn.status(), 303);
    let held: serde_json::Value = browser.get(format!("{base}/espace/dossiers/{id}/recus")).send().await.unwrap().json().await.unwrap();
    assert_eq!(held, json!([]), "a withdrawn file is not held: sent again, it would count again");
    assert!(srv.app.backends.index.get(record.evidence_id).await.unwrap().is_some());
    // Someone else's file cannot be withdrawn.
    let mut other = common::submission();
    other.establishment = "130000001".into();
    let theirs = srv.app.intake().unwrap().receive(&other, "autre.pdf", common::bytes_body(invoice("X-1", "12/06/2024"))).await.unwrap();
    let refused = browser
        .post(format!("{base}/espace/pieces/{}/retrait", theirs.evidence_id))
        .header("origin", base)
        .form(&[("_csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    assert!(srv.app.backends.index.withdrawals(other.submission_id).await.unwrap().is_empty());
    srv.stop.cancel();
}
common::on_each_stack!(the_plain_forms_work_without_a_script);
