//! Console sign-in through OpenID providers, against a real one: node's `oidc-provider`
//! (certified), started by the test from `tests/oidc/provider.mjs` (installed by
//! `scripts/services.sh`), and `caregate serve` as a child process reading its
//! `[[http.auth.oidc]]` configuration from a file. An HTTP client keeping cookies plays
//! the browser: log-in page → provider → its log-in and consent pages → callback →
//! console. Every refusal is checked on the page (French, never a 500) and in the
//! server's log (its reason).

use std::process::{Command, Stdio};
use std::time::Duration;

use caregate_schemas::{Role, Scope};
use reqwest::{StatusCode, Url};

use crate::common::{self, Child, Stack, TestEnv};

/// One node `oidc-provider`, killed when dropped.
struct OpenIdProvider {
    issuer: String,
    _child: Child,
}

impl OpenIdProvider {
    /// Starts a provider knowing these clients (id, secret, redirect URL).
    async fn start(env: &TestEnv, tag: &str, clients: &[(&str, &str, String)], extra: &[(&str, &str)]) -> Self {
        let address = common::free_listen_address();
        let port = address.rsplit(':').next().unwrap().to_owned();
        let clients: Vec<serde_json::Value> =
            clients.iter().map(|(id, secret, redirect)| serde_json::json!({"client_id": id, "client_secret": secret, "redirect_uris": [redirect]})).collect();
        let log = std::fs::File::create(env.dir.path().join(format!("oidc-provider-{tag}.log"))).unwrap();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/oidc/provider.mjs");
        let child = Command::new("node")
            .arg(script)
            .env("OIDC_PROVIDER_DIR", common::services_dir().join("oidc-provider"))
            .env("PORT", &port)
            .env("CLIENTS", serde_json::Value::Array(clients).to_string())
            .envs(extra.iter().copied())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("node (run scripts/services.sh)");
        let provider = Self { issuer: format!("http://{address}"), _child: Child(child) };
        let discovery = format!("{}/.well-known/openid-configuration", provider.issuer);
        for _ in 0..150 {
            if reqwest::get(&discovery).await.is_ok_and(|r| r.status() == 200) {
                return provider;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!(
            "oidc-provider did not answer on {address} (is it installed? scripts/services.sh); log: {}",
            env.dir.path().join(format!("oidc-provider-{tag}.log")).display()
        );
    }
}

/// A browser without a screen: keeps cookies, shows redirects instead of following them.
struct Browser(reqwest::Client);

impl Browser {
    fn new() -> Self {
        Self(reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap())
    }

    /// Follows redirects from `url`, and returns the first answer that is not one, or
    /// the first address under `stop_at`, unvisited.
    async fn follow(&self, mut url: Url, stop_at: &str) -> Result<reqwest::Response, Url> {
        for _ in 0..20 {
            if url.as_str().starts_with(stop_at) {
                return Err(url);
            }
            let answer = self.0.get(url.clone()).send().await.unwrap();
            if !answer.status().is_redirection() {
                return Ok(answer);
            }
            url = url.join(answer.headers()[reqwest::header::LOCATION].to_str().unwrap()).unwrap();
        }
        panic!("too many redirects");
    }

    /// Posts the provider's form of this page, with `fields`, and follows on.
    async fn submit(&self, page: reqwest::Response, fields: &[(&str, &str)], stop_at: &str) -> Result<reqwest::Response, Url> {
        let base = page.url().clone();
        let html = page.text().await.unwrap();
        let action = html.split("action=\"").nth(1).and_then(|s| s.split('"').next()).unwrap_or_else(|| panic!("no form in {html}"));
        let answer = self.0.post(base.join(action).unwrap()).form(fields).send().await.unwrap();
        assert!(answer.status().is_redirection(), "{} {}", answer.status(), answer.text().await.unwrap());
        let next = base.join(answer.headers()[reqwest::header::LOCATION].to_str().unwrap()).unwrap();
        self.follow(next, stop_at).await
    }

    /// From caregate's log-in page, through the provider's button, log-in and consent,
    /// up to the callback's address (not visited).
    async fn to_callback(&self, caregate: &str, provider: &str, label: &str, login: &str) -> Url {
        let page = self.0.get(format!("{caregate}/console/login")).send().await.unwrap().text().await.unwrap();
        assert!(page.contains(&format!("href=\"/console/oidc/{provider}\"")), "{page}");
        assert!(page.contains(&format!("Se connecter avec {label}")), "{page}");
        let callback = format!("{caregate}/console/oidc/{provider}/callback");
        let start = Url::parse(&format!("{caregate}/console/oidc/{provider}")).unwrap();
        let login_page = self.follow(start, &callback).await.expect("the provider's log-in page");
        assert_eq!(login_page.status(), 200);
        let consent = match self.submit(login_page, &[("prompt", "login"), ("login", login), ("password", "n'importe")], &callback).await {
            Ok(page) => page,
            Err(url) => return url,
        };
        assert!(consent.url().path().starts_with("/interaction/"), "{}", consent.url());
        self.submit(consent, &[("prompt", "consent")], &callback).await.expect_err("back to caregate after consent")
    }

    async fn get(&self, url: impl reqwest::IntoUrl) -> reqwest::Response {
        self.0.get(url).send().await.unwrap()
    }
}

/// `caregate serve` with these providers, and what it logs.
struct Caregate {
    base: String,
    log: std::path::PathBuf,
    _child: Child,
}

impl Caregate {
    async fn start(env: &TestEnv, listen: &str, providers: &str) -> Self {
        let config = env.dir.path().join("caregate-oidc.toml");
        std::fs::write(&config, providers).unwrap();
        let log = env.dir.path().join("serve.log");
        let child = Command::new(env!("CARGO_BIN_EXE_caregate"))
            .arg("serve")
            .envs(env.child_env())
            .env("CAREGATE_CONFIG", &config)
            .env("CAREGATE_LISTEN", listen)
            .env("CAREGATE_LOG", "warn,caregate_ingest=info")
            .env("CAREGATE_LOG_FORMAT", "json")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let child = Child(child);
        common::wait_listening(listen, 60).await;
        Self { base: format!("http://{listen}"), log, _child: child }
    }

    /// The reasons of the sign-ins refused so far, in order.
    fn refusals(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|e| e["message"] == "OpenID sign-in refused")
            .map(|e| e["reason"].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

fn provider_toml(name: &str, label: &str, issuer: &str, client: &str, caregate: &str, mapping: &str) -> String {
    format!(
        r#"
[[http.auth.oidc]]
name = "{name}"
label = "{label}"
issuer = "{issuer}"
client_id = "{client}"
client_secret = "secret-{client}"
redirect_url = "{caregate}/console/oidc/{name}/callback"
{mapping}
"#
    )
}

const AGENTS: &str = r#"scopes = ["email", "given_name", "usual_name", "siret"]
name_claims = ["given_name", "usual_name"]
organisation_claim = "siret"
[[http.auth.oidc.organisations]]
organisation = "13002526500013"
role = "controller"
regions = ["IDF"]"#;

const PROFESSIONALS: &str = r#"scopes = ["scope_all"]
finess_claim = "SubjectRefPro.exercices.activities.numeroFinessSite""#;

/// Everything a test needs: the provider (and one whose clock is behind), caregate
/// configured with four buttons: ProConnect and Pro Santé Connect on the first provider,
/// a client whose ID tokens the provider issues for another audience, and the late
/// provider.
struct Setup {
    provider: OpenIdProvider,
    late: Option<OpenIdProvider>,
    caregate: Caregate,
}

async fn setup(env: &TestEnv) -> Setup {
    let listen = common::free_listen_address();
    let base = format!("http://{listen}");
    let redirect = |name: &str| format!("{base}/console/oidc/{name}/callback");
    let clients = [
        ("caregate", "secret-caregate", redirect("proconnect")),
        ("caregate-psc", "secret-caregate-psc", redirect("psc")),
        ("caregate-audience", "secret-caregate-audience", redirect("audience")),
    ];
    let provider = OpenIdProvider::start(env, "main", &clients, &[("WRONG_AUDIENCE_CLIENT", "caregate-audience")]).await;
    let late = OpenIdProvider::start(env, "late", &[("caregate", "secret-caregate", redirect("horloge"))], &[("CLOCK_BEHIND_SECONDS", "900")]).await;
    let config = [
        provider_toml("proconnect", "ProConnect", &provider.issuer, "caregate", &base, AGENTS),
        provider_toml("psc", "Pro Santé Connect", &provider.issuer, "caregate-psc", &base, PROFESSIONALS),
        provider_toml("audience", "ProConnect (audience)", &provider.issuer, "caregate-audience", &base, AGENTS),
        provider_toml("horloge", "ProConnect (horloge)", &late.issuer, "caregate", &base, AGENTS),
    ]
    .concat();
    let caregate = Caregate::start(env, &listen, &config).await;
    Setup { provider, late: Some(late), caregate }
}

/// The hidden CSRF field of a console page.
fn csrf_of(page: &str) -> String {
    page.split("name=\"_csrf\" value=\"").nth(1).and_then(|s| s.split('"').next()).unwrap_or_else(|| panic!("no CSRF field in {page}")).to_owned()
}

async fn an_agent_and_a_professional_sign_in_through_their_providers(stack: Stack) {
    let env = TestEnv::new(stack).await;
    let s = setup(&env).await;
    let caregate = &s.caregate.base;
    let accounts = env.app().await.backends.accounts.clone();

    // An agent of the ARS Île-de-France, through ProConnect: a controller of IDF.
    let agent = Browser::new();
    let callback = agent.to_callback(caregate, "proconnect", "ProConnect", "agent-ars-idf").await;
    let query: Vec<(String, String)> = callback.query_pairs().into_owned().collect();
    assert!(query.iter().any(|(k, _)| k == "code") && query.iter().any(|(k, v)| k == "iss" && *v == s.provider.issuer), "{callback}");
    let answer = agent.get(callback).await;
    assert_eq!(answer.status(), 200, "{stack:?}");
    let cookie =
        answer.headers().get_all(reqwest::header::SET_COOKIE).iter().map(|v| v.to_str().unwrap().to_owned()).find(|c| c.starts_with("caregate_session="));
    let cookie = cookie.unwrap_or_else(|| panic!("no session cookie: {:?}", answer.headers()));
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && cookie.contains("Path=/"), "the local log-in's cookie: {cookie}");
    assert!(answer.headers().contains_key("content-security-policy"), "the console's headers");
    let page = answer.text().await.unwrap();
    assert!(page.contains("Connexion réussie") && page.contains("url=/console") && page.contains("Camille Durand"), "{page}");

    let console = agent.get(format!("{caregate}/console")).await;
    assert_eq!(console.status(), 200, "{stack:?}: the session opens the console");
    let page = console.text().await.unwrap();
    assert!(page.contains("Camille Durand — contrôleur"), "{page}");
    let account = accounts.account("proconnect:agent-ars-idf").await.unwrap().expect("the sign-in made the account");
    assert_eq!((account.role, account.scope.clone()), (Role::Controller, Scope::Regions(vec!["IDF".into()])));
    let identity = account.federated.clone().expect("federated");
    assert_eq!((identity.issuer.as_str(), identity.subject.as_str()), (s.provider.issuer.as_str(), "agent-ars-idf"));
    assert_eq!(account.password_hash, None);
    assert_eq!(account.email.as_deref(), Some("camille.durand@ars.sante.fr"), "the provider's email claim");
    assert_eq!(accounts.credentials("proconnect:agent-ars-idf").await.unwrap().len(), 1, "one console session");

    // The session is the local log-in's: its CSRF token guards the log-out.
    let forged = agent.0.post(format!("{caregate}/console/logout")).header("origin", caregate.as_str()).form(&[("_csrf", "faux")]).send().await.unwrap();
    assert_eq!(forged.status(), 403, "{stack:?}");
    let out = agent.0.post(format!("{caregate}/console/logout")).header("origin", caregate.as_str()).form(&[("_csrf", csrf_of(&page))]).send().await.unwrap();
    assert_eq!(out.status(), 303);
    assert!(accounts.credentials("proconnect:agent-ars-idf").await.unwrap().is_empty(), "logging out ends the session on the server");
    assert_eq!(agent.get(format!("{caregate}/console")).await.headers()[reqwest::header::LOCATION], "/console/login");

    // A physician of establishment 750000001, through Pro Santé Connect: its submitter,
    // which the controllers' console then refuses (403, not a log-in page).
    let physician = Browser::new();
    let callback = physician.to_callback(caregate, "psc", "Pro Santé Connect", "medecin-750000001").await;
    assert_eq!(physician.get(callback).await.status(), 200);
    let account = accounts.account("psc:medecin-750000001").await.unwrap().expect("account");
    assert_eq!((account.role, account.scope, account.display_name.as_str()), (Role::Submitter, Scope::Establishments(vec!["750000001".into()]), "Alix Petit"));
    assert_eq!(physician.get(format!("{caregate}/console")).await.status(), 403, "{stack:?}");

    // Disabled by an administrator: the provider's word does not bring it back.
    let mut disabled = accounts.account("proconnect:agent-ars-idf").await.unwrap().unwrap();
    disabled.disabled = true;
    accounts.put_account(&disabled).await.unwrap();
    let again = Browser::new();
    let answer = again.get(again.to_callback(caregate, "proconnect", "ProConnect", "agent-ars-idf").await).await;
    assert_eq!(answer.status(), 403);
    assert!(answer.text().await.unwrap().contains("Votre compte est désactivé dans caregate"));
    assert_eq!(s.caregate.refusals(), ["account_disabled"]);
}
common::on_each_stack!(an_agent_and_a_professional_sign_in_through_their_providers);

/// Asserts a refused callback: its status, its French message, no session.
async fn assert_refused(answer: reqwest::Response, status: StatusCode, says: &str) {
    assert_eq!(answer.status(), status, "{says}");
    assert!(answer.headers().get_all(reqwest::header::SET_COOKIE).iter().all(|c| !c.to_str().unwrap().starts_with("caregate_session=")), "no session");
    let page = answer.text().await.unwrap();
    assert!(page.contains(says), "expected {says:?} in {page}");
    assert!(page.contains("Connexion à la console"), "the log-in page, to try again");
}

async fn sign_ins_that_must_not_open_a_session_are_refused_in_french(stack: Stack) {
    let env = TestEnv::new(stack).await;
    let mut s = setup(&env).await;
    let caregate = s.caregate.base.clone();
    let accounts = env.app().await.backends.accounts.clone();

    // An agent whose organisation caregate does not know.
    let b = Browser::new();
    let answer = b.get(b.to_callback(&caregate, "proconnect", "ProConnect", "agent-inconnu").await).await;
    assert_refused(
        answer,
        StatusCode::FORBIDDEN,
        "Votre compte ProConnect n'est rattaché à aucun rôle dans caregate (organisation 99999999999999 non rattachée)",
    )
    .await;
    assert_eq!(accounts.account("proconnect:agent-inconnu").await.unwrap(), None, "no account made");
    assert_eq!(b.get(format!("{caregate}/console")).await.status(), 303, "not signed in");

    // An ID token the provider issued for another client.
    let b = Browser::new();
    let answer = b.get(b.to_callback(&caregate, "audience", "ProConnect (audience)", "agent-ars-idf").await).await;
    assert_refused(answer, StatusCode::UNAUTHORIZED, "était destinée à un autre service que caregate").await;

    // An ID token from a provider whose clock is 15 minutes behind: expired on arrival.
    let b = Browser::new();
    let answer = b.get(b.to_callback(&caregate, "horloge", "ProConnect (horloge)", "agent-ars-idf").await).await;
    assert_refused(answer, StatusCode::UNAUTHORIZED, "avait déjà expiré à son arrivée").await;

    // A tampered state; then the genuine answer, too late (the pending sign-in is used
    // up) and, from another browser, never started there.
    let b = Browser::new();
    let genuine = b.to_callback(&caregate, "proconnect", "ProConnect", "agent-ars-idf").await;
    let mut tampered = genuine.clone();
    let pairs: Vec<(String, String)> = genuine.query_pairs().into_owned().map(|(k, v)| if k == "state" { (k, format!("{v}x")) } else { (k, v) }).collect();
    tampered.query_pairs_mut().clear().extend_pairs(pairs);
    assert_refused(b.get(tampered).await, StatusCode::BAD_REQUEST, "ne correspond pas à la demande de connexion faite depuis ce navigateur").await;
    assert_refused(b.get(genuine.clone()).await, StatusCode::BAD_REQUEST, "Votre demande de connexion a expiré ou n'a pas été faite depuis ce navigateur")
        .await;
    let stranger = Browser::new();
    assert_refused(stranger.get(genuine).await, StatusCode::BAD_REQUEST, "n'a pas été faite depuis ce navigateur").await;
    assert_eq!(accounts.account("proconnect:agent-ars-idf").await.unwrap(), None, "{stack:?}: nobody signed in");

    // The late provider stopped: its button says so, 503 with Retry-After.
    drop(s.late.take());
    let b = Browser::new();
    let answer = b.get(format!("{caregate}/console/oidc/horloge")).await;
    assert_eq!(answer.headers().get(reqwest::header::RETRY_AFTER).map(|v| v.to_str().unwrap().to_owned()).as_deref(), Some("30"));
    assert_refused(answer, StatusCode::SERVICE_UNAVAILABLE, "ProConnect (horloge) ne répond pas pour le moment").await;

    assert_eq!(
        s.caregate.refusals(),
        ["no_mapping", "wrong_audience", "token_expired", "state_mismatch", "no_pending_sign_in", "no_pending_sign_in", "provider_unavailable"],
        "{stack:?}: each refusal is in the log with its reason"
    );
}
common::on_each_stack!(sign_ins_that_must_not_open_a_session_are_refused_in_french);

/// In Chromium: the button, the provider's pages, and back in the console. What only a
/// real browser says: the pending sign-in's `SameSite=Lax` cookie comes back with the
/// provider's redirect, and the `SameSite=Strict` session cookie is sent on the way from
/// the callback to the console.
async fn a_browser_signs_in_through_the_button(stack: Stack) {
    use crate::console::{click_then, fill, text, Driver};
    let env = TestEnv::new(stack).await;
    let s = setup(&env).await;
    let driver = Driver::start().await;
    let browser = driver.browser().await;
    browser.goto(&format!("{}/console/login", s.caregate.base)).await.unwrap();
    click_then(&browser, "a.provider[href='/console/oidc/proconnect']", "input[name=login]").await;
    fill(&browser, "input[name=login]", "agent-ars-idf").await;
    fill(&browser, "input[name=password]", "n'importe").await;
    click_then(&browser, "button[type=submit]", "input[name=prompt][value=consent]").await;
    click_then(&browser, "button[type=submit]", "span.who").await;
    assert_eq!(text(&browser, "span.who").await, "Camille Durand — contrôleur");
    assert_eq!(browser.current_url().await.unwrap().path(), "/console");
    let _ = browser.close().await;
}

#[tokio::test]
async fn a_browser_signs_in_through_the_button_embedded() {
    common::run_on(Stack::Embedded, a_browser_signs_in_through_the_button).await
}
