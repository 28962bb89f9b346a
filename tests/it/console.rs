//! The review console in a real browser (Debian's headless Chromium through
//! chromedriver): a controller logs in, filters the queue, opens an evidence, decides on
//! an objective (a decision without a comment is refused) and sees the verdict change.
//! A screenshot of every page is kept under the test output directory.

use crate::common;
use caregate_schemas::FindingCode;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::{serve, Stack, TestEnv};
use caregate_schemas::{Role, Scope, Verdict};
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

const PASSWORD: &str = "contrôle-des-preuves-2024";

/// A chromedriver of this test's own, on a free port; killed when dropped.
pub(crate) struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    pub(crate) async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (Debian package chromium-driver; scripts/services.sh installs it)");
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Self { child, url: format!("http://127.0.0.1:{port}") }
    }

    pub(crate) async fn browser(&self) -> Client {
        let caps = json!({
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1100", "--lang=fr-FR"]
            }
        });
        let serde_json::Value::Object(caps) = caps else { unreachable!() };
        // chromedriver listens on the loopback in plain HTTP: a plain connector, no TLS.
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        ClientBuilder::new(connector).capabilities(caps).connect(&self.url).await.expect("a Chromium session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Shots {
    dir: PathBuf,
    n: usize,
}

impl Shots {
    fn new(stack: Stack) -> Self {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots").join(format!("{stack:?}").to_lowercase());
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
        // Every page a controller sees is checked as it is shown.
        assert_accessible(browser, &axe_source(), name).await;
    }
}

/// axe-core, as `scripts/services.sh dsfr` installs it from npm.
pub(crate) fn axe_source() -> String {
    let path = common::services_dir().join("dsfr/node_modules/axe-core/axe.min.js");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e} (run `bash scripts/services.sh dsfr`)", path.display()))
}

/// Runs axe-core on the page as it stands, WCAG 2.1 A and AA rules; panics with every
/// violation found.
pub(crate) async fn assert_accessible(browser: &Client, axe: &str, page: &str) {
    browser.execute(&format!("{axe}\nreturn true;"), vec![]).await.expect("axe-core injected");
    let found = browser
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } })
               .then(r => done(r.violations.map(v => v.id + ' (' + v.impact + '): ' + v.nodes.map(n => n.target.join(' ') + ' — ' + n.failureSummary).join(' | '))))
               .catch(e => done(['axe failed: ' + e]));",
            vec![],
        )
        .await
        .expect("axe-core ran");
    let violations: Vec<String> = serde_json::from_value(found).unwrap();
    assert!(violations.is_empty(), "{page}: {} WCAG 2.1 AA violation(s):\n{}", violations.len(), violations.join("\n"));
}

/// One key pressed on the keyboard, whatever has the focus (typing into a file field
/// would give it a path instead).
pub(crate) async fn press(browser: &Client, key: Key) {
    use fantoccini::actions::{InputSource, KeyAction, KeyActions};
    let key = char::from(key);
    let actions = KeyActions::new("clavier".into()).then(KeyAction::Down { value: key }).then(KeyAction::Up { value: key });
    browser.perform_actions(actions).await.unwrap();
}

pub(crate) async fn tab(browser: &Client) {
    press(browser, Key::Tab).await;
}

pub(crate) async fn active_id(browser: &Client) -> String {
    browser
        .execute("return document.activeElement.id || document.activeElement.textContent.trim()", vec![])
        .await
        .unwrap()
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Tabs until the element with this id has the focus; panics past `most` presses.
pub(crate) async fn tab_to(browser: &Client, id: &str, most: usize) -> usize {
    for n in 1..=most {
        tab(browser).await;
        if active_id(browser).await == id {
            return n;
        }
    }
    panic!("#{id} not reached in {most} presses of Tab (last: {})", active_id(browser).await);
}

/// Types into a field, replacing what it held.
pub(crate) async fn fill(browser: &Client, css: &str, value: &str) {
    let field = browser.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}"));
    field.clear().await.unwrap();
    field.send_keys(value).await.unwrap();
}

/// Clicks, then waits for the next page (a new document, marked pages are old) to show
/// `expect`.
pub(crate) async fn click_then(browser: &Client, css: &str, expect: &str) {
    browser.execute("document.body.dataset.seen = '1'", vec![]).await.unwrap();
    browser.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}")).click().await.unwrap();
    wait_for_new_page(browser, expect).await;
}

/// Waits for a new document (the old one was marked `data-seen`) showing `expect`.
pub(crate) async fn wait_for_new_page(browser: &Client, expect: &str) {
    for _ in 0..200 {
        let fresh = browser.execute("return document.readyState === 'complete' && document.body && !document.body.dataset.seen", vec![]).await.ok();
        if fresh == Some(serde_json::Value::Bool(true)) && browser.find(Locator::Css(expect)).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no new page with {expect}");
}

/// A label's words as written, whatever case the style shows them in (the DSFR's
/// badges are drawn in capitals, and WebDriver reads the drawn text).
pub(crate) async fn written(browser: &Client, css: &str) -> String {
    let element = browser.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}"));
    element.prop("textContent").await.unwrap().unwrap_or_default().trim().to_owned()
}

pub(crate) async fn text(browser: &Client, css: &str) -> String {
    browser.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}")).text().await.unwrap()
}

async fn a_controller_reviews_and_decides_in_the_browser(stack: common::Stack) {
    let driver = Driver::start().await;
    let env = TestEnv::new(stack).await;
    let srv = serve(&env).await;
    srv.account("c.martin", Role::Controller, Scope::Regions(vec!["IDF".into()]), Some(PASSWORD)).await;

    // A dossier of 750000001: an invoice and a photographed attestation (too small for
    // OCR to read a word: to review); D1.PRE waits on a controller. Another dossier of the
    // same establishment holds a signed attestation.
    let sub = common::submission();
    let intake = srv.app.intake().unwrap();
    let sample = |p: &str| std::fs::read(common::samples_dir().join(p)).unwrap();
    for (name, path) in [("facture-FA-2024-0042.pdf", "factures/facture-FA-2024-0042.pdf"), ("photo-attestation.png", "divers/photo-attestation.png")] {
        intake.receive(&sub, name, common::bytes_body(sample(path))).await.unwrap();
    }
    let signed_sub = common::submission();
    let signed = intake.receive(&signed_sub, "attestation-signee.pdf", common::bytes_body(sample("divers/attestation-signee.pdf"))).await.unwrap();
    // A third: an invoice dated before the programme, its date pointed at.
    let dated = common::submission();
    let invoice = common::text_pdf(&[
        "SECURINFO CONSEIL SAS",
        "12 rue de la Paix, 75002 Paris",
        "SIRET : 732 829 320 00074",
        "",
        "FACTURE N° FA-2019-0007",
        "Date de facture : 12/06/2019",
        "Facturé à : Centre hospitalier Exemple",
        "",
        "Audit de l'annuaire Active Directory",
        "Total HT : 1 000,00 €",
        "TVA 20 % : 200,00 €",
        "Total TTC : 1 200,00 €",
    ]);
    let dated_invoice = intake.receive(&dated, "facture-2019.pdf", common::bytes_body(invoice)).await.unwrap();
    let before = srv.app.wait_for_verification(sub.submission_id, 2, Duration::from_secs(60)).await.unwrap();
    srv.app.wait_for_verification(dated.submission_id, 1, Duration::from_secs(60)).await.unwrap();
    common::wait_done(&srv.app, signed_sub.submission_id, 1, 60).await;
    let pre = before.objectives.iter().find(|o| o.objective == "D1.PRE").unwrap();
    assert_eq!(pre.verdict, Verdict::NeedsReview, "{stack:?}: {pre:?}");

    let mut announced = srv.app.backends.announcer.subscribe("submission.verified").await.unwrap();
    let browser = driver.browser().await;
    let mut shots = Shots::new(stack);
    let base = &srv.base;

    // Not logged in: sent to the login page; a wrong password is told, in French.
    browser.goto(&format!("{base}/console")).await.unwrap();
    assert!(browser.current_url().await.unwrap().as_str().ends_with("/console/login"));
    fill(&browser, "input[name=name]", "c.martin").await;
    fill(&browser, "input[name=password]", "mauvais mot de passe").await;
    click_then(&browser, "button[type=submit]", "p.error").await;
    assert_eq!(text(&browser, "p.error").await, "Identifiant ou mot de passe incorrect.");
    shots.take(&browser, "login-refused").await;
    fill(&browser, "input[name=name]", "c.martin").await;
    fill(&browser, "input[name=password]", PASSWORD).await;
    click_then(&browser, "button[type=submit]", "#objectives").await;

    // The queue.
    assert!(browser.current_url().await.unwrap().as_str().ends_with("/console"));
    let queue = text(&browser, "#objectives").await;
    assert!(queue.contains("D1.PRE"), "{queue}");
    assert!(text(&browser, "#files").await.contains("photo-attestation.png"));
    shots.take(&browser, "queue").await;

    // Filters: objective and region narrow it; another region empties it.
    fill(&browser, "form.filters input[name=objective]", "D1.PRE").await;
    browser.find(Locator::Css("form.filters select[name=region]")).await.unwrap().select_by_value("IDF").await.unwrap();
    click_then(&browser, "form.filters button[type=submit]", "#objectives").await;
    let url = browser.current_url().await.unwrap();
    assert!(url.as_str().contains("objective=D1.PRE") && url.as_str().contains("region=IDF"), "{url}");
    let rows = browser.find_all(Locator::Css("#objectives tr")).await.unwrap();
    // Every dossier's D1.PRE: the signed attestation's signer chains to no trusted
    // authority (none is configured), so a controller judges it too; the invoice alone
    // proves no prerequisite.
    assert_eq!(rows.len(), 4, "the header and D1.PRE of the three dossiers");
    assert!(text(&browser, "#objectives").await.contains("D1.PRE"));
    shots.take(&browser, "queue-filtered").await;
    browser.goto(&format!("{base}/console?region=ARA")).await.unwrap();
    assert_eq!(text(&browser, "#objective-count").await, "0");
    assert_eq!(text(&browser, "#file-count").await, "0");
    browser.goto(&format!("{base}/console?code=no_text")).await.unwrap();
    assert_eq!(text(&browser, "#file-count").await, "1");

    // An evidence: metadata, findings with their code, text, download; then the signed one.
    click_then(&browser, "#files a", "#metadata").await;
    assert!(text(&browser, "table.findings").await.contains(FindingCode::NoText.as_str()));
    assert!(text(&browser, "#metadata").await.contains("750000001"));
    shots.take(&browser, "evidence").await;
    browser.goto(&format!("{base}/console/evidence/{}", signed.evidence_id)).await.unwrap();
    let sig = text(&browser, "#signatures").await;
    assert!(sig.contains("ETSI.CAdES.detached") || sig.contains("adbe.pkcs7.detached"), "{sig}");
    assert!(sig.contains("indéterminée") && sig.contains("NO_CERTIFICATE_CHAIN_FOUND") && sig.contains("non reconnue"), "{sig}");
    assert!(sig.contains("déclaration du signataire (non prouvée)") && sig.contains("aucune"), "{sig}");
    assert!(!text(&browser, "#text").await.is_empty(), "text preview");
    browser.find(Locator::Id("download")).await.unwrap();
    shots.take(&browser, "evidence-signed").await;

    // Where a value was read: the dossier's reason links to the page, rendered by the
    // server, with the box of every field read and the one pointed at in red.
    browser.goto(&format!("{base}/console/submissions/{}", dated.submission_id)).await.unwrap();
    let why = text(&browser, "#objectifs").await;
    assert!(why.contains("Pièce facture-2019.pdf, champ « date » (encadré page 1)"), "the file and the field named, the box pointed at: {why}");
    click_then(&browser, "a.pointer[href*='champ=issue_date']", "#page").await;
    assert!(text(&browser, "#page h2").await.contains("Page 1 sur 1"));
    browser.find(Locator::Css("#page a.champ.signale[data-champ='issue_date']")).await.unwrap();
    for field in ["total_ttc", "seller_siret", "number", "seller_name"] {
        browser.find(Locator::Css(&format!("#page a.champ[data-champ='{field}']:not(.signale)"))).await.unwrap_or_else(|e| panic!("{field}: {e}"));
    }
    let drawn = browser
        .execute(
            "const i = document.querySelector('#page img'); const b = document.querySelector(\"#page a.champ[data-champ='issue_date']\").getBoundingClientRect(); const r = i.getBoundingClientRect(); return [i.complete, i.naturalWidth, i.naturalHeight, b.top - r.top, b.left - r.left];",
            vec![],
        )
        .await
        .unwrap();
    let drawn: (bool, u32, u32, f64, f64) = serde_json::from_value(drawn).unwrap();
    // A4 at 96 dpi; the date line 114 pt from the top, 60 pt from the left.
    assert!(drawn.0 && drawn.1.abs_diff(794) <= 1 && drawn.2.abs_diff(1123) <= 1, "{drawn:?}");
    assert!((drawn.3 - 114.0 * 96.0 / 72.0).abs() < 8.0 && (drawn.4 - 60.0 * 96.0 / 72.0).abs() < 8.0, "{drawn:?}");
    shots.take(&browser, "evidence-page").await;
    // The data read, as a French table (amounts, dates, SIRET as written in France),
    // each value linked to the box where it was read.
    let table = text(&browser, "#fields-table").await.replace('\u{a0}', " ");
    for said in ["FA-2019-0007", "12/06/2019", "1 000,00 €", "200,00 €", "1 200,00 €", "732 829 320 00074", "SECURINFO CONSEIL SAS"] {
        assert!(table.contains(said), "{said} in {table}");
    }
    click_then(&browser, "#fields-table tr[data-champ='total_ttc'] a.champ-lien", "#page a.champ.signale[data-champ='total_ttc']").await;
    shots.take(&browser, "evidence-fields").await;
    let seen = srv.app.backends.index.events(dated_invoice.evidence_id).await.unwrap();
    assert!(
        seen.iter().any(|e| e.kind == "file_read" && e.detail["via"] == "console_page" && e.detail["actor"].as_str().is_some_and(|a| a.contains("c.martin"))),
        "{seen:?}"
    );

    // Decide on D1.PRE in the dossier's one form: without a comment, refused; with one,
    // the verdict changes. The objective's files and reasons are beside the choice.
    browser.goto(&format!("{base}/console/submissions/{}", sub.submission_id)).await.unwrap();
    assert!(written(&browser, "tr[id='D1.PRE'] .objective-verdict").await.contains("À examiner"));
    assert!(text(&browser, "#objectifs").await.contains("photo-attestation.png"), "the files beside the objective");
    // The photo was not recognised as an attestation: the objective has no proof, and the
    // controller is asked whether the dossier's other files prove it all the same.
    let asked = text(&browser, "tr[id='D1.PRE'] p.question").await;
    assert_eq!(asked, "Question : Aucune pièce recevable pour cet objectif : les autres pièces du dossier le prouvent-elles quand même ?");
    shots.take(&browser, "submission").await;
    let choice = "#decision select[name='decision:D1.PRE']";
    browser.find(Locator::Css(choice)).await.unwrap().select_by_value("accept").await.unwrap();
    click_then(&browser, "#decide", "#decision-error").await;
    assert!(text(&browser, "#decision-error").await.contains("commentaire est obligatoire"));
    shots.take(&browser, "comment-required").await;
    browser.find(Locator::Css(choice)).await.unwrap().select_by_value("accept").await.unwrap();
    fill(&browser, "#comment", "Attestation SUN-ES vérifiée auprès de l'ARS le 12/06/2024").await;
    click_then(&browser, "#decide", "#decisions").await;
    assert!(written(&browser, "tr[id='D1.PRE'] .objective-verdict").await.contains("Atteint"));
    let decisions = text(&browser, "#decisions").await;
    assert!(decisions.contains("c.martin (controller)") && decisions.contains("vérifiée auprès de l'ARS"), "{decisions}");
    shots.take(&browser, "decided").await;

    // Out of the queue (the other two still wait), and the API says the same.
    browser.goto(&format!("{base}/console?objective=D1.PRE")).await.unwrap();
    assert_eq!(text(&browser, "#objective-count").await, "2");
    shots.take(&browser, "queue-after").await;
    // The archive search, dates as French people write them.
    browser.goto(&format!("{base}/console/search?finess=750000001&from=01/01/2020")).await.unwrap();
    assert_eq!(browser.find(Locator::Id("filtre-from")).await.unwrap().prop("value").await.unwrap().as_deref(), Some("01/01/2020"));
    shots.take(&browser, "search").await;
    browser.close().await.unwrap();

    let token = caregate_ingest::issue_token(srv.app.backends.accounts.as_ref(), "c.martin", "test").await.unwrap();
    let v: caregate_schemas::Verification =
        common::client(&token).get(format!("{base}/api/submissions/{}/verification", sub.submission_id)).send().await.unwrap().json().await.unwrap();
    let pre = v.objectives.iter().find(|o| o.objective == "D1.PRE").unwrap();
    assert_eq!(pre.verdict, Verdict::Met);
    assert_eq!(pre.reasons[0].code, FindingCode::ControllerAccepted);
    // Systems following verdicts hear of the decision as of any new verification.
    let decided = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let (_, body) = announced.next().await.unwrap().unwrap();
            let v: caregate_schemas::Verification = serde_json::from_value(body).unwrap();
            if v.submission_id == sub.submission_id && v.objectives.iter().any(|o| o.objective == "D1.PRE" && o.verdict == Verdict::Met) {
                return v;
            }
        }
    })
    .await
    .expect("the decided verification announced");
    assert_eq!(decided.objectives.iter().find(|o| o.objective == "D1.PRE").unwrap().reasons[0].code, FindingCode::ControllerAccepted);
    srv.stop.cancel();
}
common::on_each_stack!(a_controller_reviews_and_decides_in_the_browser);
