//! Console sign-in through OpenID providers, beside local accounts: French agencies
//! sign their agents in through ProConnect, health professionals through Pro Santé
//! Connect. The authorization code flow with PKCE, state and nonce, the ID token checked
//! (issuer, audience, expiry, signature against the keys the provider publishes) and the
//! userinfo read, all by the `openidconnect` crate; what is ours is the configuration
//! ([`OidcProvider`]) and how a person's claims become a role and a scope
//! ([`OidcProvider::map`]): an agent's organisation (its SIRET for ProConnect) names a
//! role and regions, an establishment's FINESS numbers make a submitter of them.
//!
//! Nothing is kept between the two legs of a sign-in but a short-lived cookie holding
//! the state, nonce and PKCE verifier ([`Pending`]): a callback that does not come back
//! to the browser that started it has nothing to match.

use std::sync::OnceLock;
use std::time::Duration;

use caregate_schemas::{is_finess, Role, Scope};
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreErrorResponseType, CoreGenderClaim, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
    CoreProviderMetadata, CoreResponseType, CoreRevocableToken, CoreRevocationErrorResponse, CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AdditionalClaims, AuthenticationFlow, AuthorizationCode, ClaimsVerificationError, Client, ClientId, ClientSecret, CsrfToken, DiscoveryError,
    EmptyExtraTokenFields, EndpointMaybeSet, EndpointNotSet, EndpointSet, IdTokenFields, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, RequestTokenError, StandardErrorResponse, StandardTokenResponse, SubjectIdentifier, UserInfoError,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One OpenID provider people may sign in to the console through (`[[http.auth.oidc]]`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcProvider {
    /// Short name, in the sign-in's addresses (`/console/oidc/<name>`) and in the
    /// accounts it makes (`<name>:<sub>`): lower-case letters, digits and `-`.
    pub name: String,
    /// What the button says: "Se connecter avec <label>".
    pub label: String,
    /// The provider's issuer URL; its discovery document is at
    /// `<issuer>/.well-known/openid-configuration`.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    /// Where the provider sends people back: caregate's public origin followed by
    /// `/console/oidc/<name>/callback`, as registered with the provider.
    pub redirect_url: String,
    /// Scopes asked for besides `openid` (ProConnect: `given_name usual_name email
    /// siret`; Pro Santé Connect: `scope_all`).
    #[serde(default)]
    pub scopes: Vec<String>,
    /// The claims whose values, joined by spaces, make the name shown in the console
    /// (the first non-empty of `name`, `email` and `sub` when none of them is there).
    #[serde(default = "default_name_claims")]
    pub name_claims: Vec<String>,
    /// The claim naming an agent's organisation (ProConnect: `siret`), matched
    /// against [`Self::organisations`].
    #[serde(default)]
    pub organisation_claim: Option<String>,
    /// Which organisations' agents are what: the first entry whose `organisation` is a
    /// value of the organisation claim gives the role and regions.
    #[serde(default)]
    pub organisations: Vec<OrganisationRole>,
    /// The claim listing an establishment's FINESS numbers: a person with one or more
    /// (and no organisation above) signs in as the submitter of those establishments.
    #[serde(default)]
    pub finess_claim: Option<String>,
}

/// The role of an organisation's agents.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrganisationRole {
    /// The organisation claim's value (a SIRET for ProConnect).
    pub organisation: String,
    /// `controller`, `archivist` or `admin` (submitters come from the FINESS claim).
    pub role: Role,
    /// Region codes (`IDF`, `ARA`...); empty: the whole country.
    #[serde(default)]
    pub regions: Vec<String>,
}

fn default_name_claims() -> Vec<String> {
    vec!["given_name".into(), "family_name".into()]
}

/// A claim path: names separated by dots, each step into an object; arrays on the way
/// are walked whole (`SubjectRefPro.exercices.activities.numeroFinessSite` gives every
/// activity's FINESS in every practice).
fn claim_values<'a>(claims: &'a Value, path: &str) -> Vec<&'a Value> {
    let mut here = vec![claims];
    for step in path.split('.') {
        let mut next = Vec::new();
        for v in here {
            let mut push = |v: &'a Value| match v {
                Value::Array(items) => next.extend(items.iter()),
                other => next.push(other),
            };
            if let Some(v) = v.get(step) {
                push(v);
            }
        }
        here = next;
    }
    here.into_iter().flat_map(|v| if let Value::Array(items) = v { items.iter().collect() } else { vec![v] }).collect()
}

/// A claim's values as text (strings, and numbers as written).
fn claim_texts(claims: &Value, path: &str) -> Vec<String> {
    claim_values(claims, path)
        .into_iter()
        .filter_map(|v| match v {
            Value::String(s) => Some(s.trim().to_owned()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
        .filter(|s| !s.is_empty())
        .collect()
}

/// Why a person's claims give them no role in caregate, in French, for the refusal page.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unmapped(pub String);

impl OidcProvider {
    pub fn validate(&self) -> Result<(), String> {
        let at = format!("http.auth.oidc {:?}", self.name);
        let mut problems = Vec::new();
        if self.name.is_empty() || self.name.len() > 32 || !self.name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
            problems.push(format!("{at}: name must be 1 to 32 lower-case letters, digits or '-'"));
        }
        if self.label.trim().is_empty() {
            problems.push(format!("{at}: label is empty (the button says \"Se connecter avec <label>\")"));
        }
        for (key, value) in [("issuer", &self.issuer), ("redirect_url", &self.redirect_url)] {
            match url::Url::parse(value) {
                Ok(u) if u.scheme() == "https" || (u.scheme() == "http" && is_loopback(&u)) => {}
                Ok(_) => problems.push(format!("{at}: {key} = {value:?} must be https (plain http only on this machine's loopback)")),
                Err(e) => problems.push(format!("{at}: {key} = {value:?} is not a URL ({e})")),
            }
        }
        if let Ok(u) = url::Url::parse(&self.redirect_url) {
            let expected = format!("/console/oidc/{}/callback", self.name);
            if u.path() != expected || u.query().is_some() || u.fragment().is_some() {
                problems.push(format!("{at}: redirect_url must end in {expected}, caregate's callback for this provider"));
            }
        }
        if self.client_id.trim().is_empty() || self.client_secret.is_empty() {
            problems.push(format!("{at}: client_id and client_secret are required"));
        }
        if let Some(bad) = self.scopes.iter().find(|s| s.is_empty() || s.contains(char::is_whitespace)) {
            problems.push(format!("{at}: scope {bad:?} (one scope per entry, no spaces)"));
        }
        let paths = self.name_claims.iter().chain(&self.organisation_claim).chain(&self.finess_claim);
        if let Some(bad) = paths.into_iter().find(|p| p.split('.').any(str::is_empty)) {
            problems.push(format!("{at}: claim {bad:?} (names separated by single dots)"));
        }
        if !self.organisations.is_empty() && self.organisation_claim.is_none() {
            problems.push(format!("{at}: organisations are listed but no organisation_claim says where to find them"));
        }
        if self.organisations.is_empty() && self.finess_claim.is_none() {
            problems.push(format!("{at}: neither organisations nor finess_claim: nobody could sign in"));
        }
        for (i, o) in self.organisations.iter().enumerate() {
            if o.organisation.trim().is_empty() {
                problems.push(format!("{at}: organisations[{i}] names no organisation"));
            }
            if self.organisations[..i].iter().any(|p| p.organisation == o.organisation) {
                problems.push(format!("{at}: organisation {:?} is listed twice", o.organisation));
            }
            if o.role == Role::Submitter {
                problems.push(format!("{at}: organisation {:?}: submitters come from finess_claim, not from an organisation", o.organisation));
            } else if let Err(e) = o.role.check_scope(&o.scope()) {
                problems.push(format!("{at}: organisation {:?}: {e}", o.organisation));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }

    /// The role and scope a person's claims (the ID token's and the userinfo's) give
    /// them: an organisation listed in the configuration first (an agent), else the
    /// FINESS numbers they hold (an establishment's staff).
    pub fn map(&self, claims: &Value) -> Result<(Role, Scope), Unmapped> {
        let organisations = self.organisation_claim.as_deref().map(|c| claim_texts(claims, c)).unwrap_or_default();
        if let Some(o) = self.organisations.iter().find(|o| organisations.contains(&o.organisation)) {
            return Ok((o.role, o.scope()));
        }
        let mut finess: Vec<String> =
            self.finess_claim.as_deref().map(|c| claim_texts(claims, c)).unwrap_or_default().into_iter().filter(|f| is_finess(f)).collect();
        finess.sort();
        finess.dedup();
        if !finess.is_empty() {
            return Ok((Role::Submitter, Scope::Establishments(finess)));
        }
        let mut seen = Vec::new();
        if self.organisation_claim.is_some() {
            seen.push(match organisations.as_slice() {
                [] => "aucune organisation indiquée".to_owned(),
                list => format!("organisation {} non rattachée", list.join(", ")),
            });
        }
        if self.finess_claim.is_some() {
            seen.push("aucun numéro FINESS d'établissement".to_owned());
        }
        Err(Unmapped(seen.join(", ")))
    }

    /// Where the person is told of decisions: the standard `email` claim, when the
    /// provider sends one that is an address and does not say it is unverified
    /// (`email_verified: false`). Anything else gives no address, never a refused sign-in.
    pub fn email(&self, claims: &Value) -> Option<String> {
        if claims.get("email_verified").and_then(Value::as_bool) == Some(false) {
            return None;
        }
        claims.get("email").and_then(Value::as_str).and_then(|e| caregate_storage::check_email(e).ok())
    }

    /// The name shown in the console.
    pub fn display_name(&self, claims: &Value) -> String {
        let joined = self.name_claims.iter().flat_map(|c| claim_texts(claims, c).into_iter().take(1)).collect::<Vec<_>>().join(" ");
        [Some(joined), claim_texts(claims, "name").pop(), claim_texts(claims, "email").pop(), claim_texts(claims, "sub").pop()]
            .into_iter()
            .flatten()
            .find(|s| !s.trim().is_empty())
            .unwrap_or_default()
    }
}

impl OrganisationRole {
    pub fn scope(&self) -> Scope {
        if self.regions.is_empty() {
            Scope::National
        } else {
            Scope::Regions(self.regions.iter().map(|r| r.to_uppercase()).collect())
        }
    }
}

fn is_loopback(u: &url::Url) -> bool {
    match u.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    }
}

/// Checks every provider and that no two share a name.
pub fn validate_providers(providers: &[OidcProvider]) -> Result<(), String> {
    let mut problems: Vec<String> = providers.iter().filter_map(|p| p.validate().err()).collect();
    for (i, p) in providers.iter().enumerate() {
        if providers[..i].iter().any(|q| q.name == p.name) {
            problems.push(format!("http.auth.oidc: two providers are named {:?}", p.name));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

// ---------------------------------------------------------------- the flow

/// Every claim the provider sends beyond the standard ones (ProConnect's `siret`, `usual_name`,
/// Pro Santé Connect's `SubjectRefPro`), kept as they came for the mapping.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
struct OtherClaims {
    #[serde(flatten)]
    claims: serde_json::Map<String, Value>,
}

impl AdditionalClaims for OtherClaims {}

type TokenResponse = StandardTokenResponse<
    IdTokenFields<OtherClaims, EmptyExtraTokenFields, CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm>,
    CoreTokenType,
>;

/// A client as discovery makes it: authorization endpoint known, token and userinfo
/// endpoints if the provider names them.
type OidcClient = Client<
    OtherClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    TokenResponse,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// How long caregate waits on a provider before calling it unavailable.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);

/// The HTTP client every call to a provider goes through. Redirects are not followed:
/// a provider's endpoints are the ones its discovery document names, and following
/// them would let an answer send caregate elsewhere.
fn http() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .timeout(PROVIDER_TIMEOUT)
            .build()
            .unwrap_or_default()
    })
}

/// Why a sign-in through a provider did not open a session. Each is said to the person in
/// French ([`SignInError::message_fr`]) and logged with its [`SignInError::reason`].
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    #[error("provider unavailable: {0}")]
    Unavailable(String),
    #[error("no sign-in was started from this browser (or it expired)")]
    NoPending,
    #[error("the state sent back is not the one this browser was given")]
    StateMismatch,
    #[error("the answer names another issuer ({0})")]
    WrongIssuer(String),
    #[error("the provider answered {error}: {description}")]
    ProviderRefused { error: String, description: String },
    #[error("the token endpoint refused the code: {0}")]
    CodeRefused(String),
    #[error("the token response has no ID token")]
    NoIdToken,
    #[error("ID token for another audience: {0}")]
    WrongAudience(String),
    #[error("ID token expired: {0}")]
    Expired(String),
    #[error("ID token refused: {0}")]
    InvalidToken(String),
    #[error("userinfo refused: {0}")]
    UserInfo(String),
    #[error("no role for these claims: {0}")]
    Unmapped(Unmapped),
    #[error("the account is disabled")]
    Disabled,
    #[error("the account {0:?} is a local account's or another person's")]
    NameTaken(String),
}

impl SignInError {
    /// A short stable word for the log.
    pub fn reason(&self) -> &'static str {
        match self {
            SignInError::Unavailable(_) => "provider_unavailable",
            SignInError::NoPending => "no_pending_sign_in",
            SignInError::StateMismatch => "state_mismatch",
            SignInError::WrongIssuer(_) => "wrong_issuer",
            SignInError::ProviderRefused { .. } => "provider_refused",
            SignInError::CodeRefused(_) => "code_refused",
            SignInError::NoIdToken => "no_id_token",
            SignInError::WrongAudience(_) => "wrong_audience",
            SignInError::Expired(_) => "token_expired",
            SignInError::InvalidToken(_) => "token_invalid",
            SignInError::UserInfo(_) => "userinfo_refused",
            SignInError::Unmapped(_) => "no_mapping",
            SignInError::Disabled => "account_disabled",
            SignInError::NameTaken(_) => "account_name_taken",
        }
    }

    pub fn status(&self) -> axum::http::StatusCode {
        use axum::http::StatusCode;
        match self {
            SignInError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            SignInError::NoPending | SignInError::StateMismatch | SignInError::WrongIssuer(_) => StatusCode::BAD_REQUEST,
            SignInError::Unmapped(_) | SignInError::Disabled | SignInError::NameTaken(_) => StatusCode::FORBIDDEN,
            _ => StatusCode::UNAUTHORIZED,
        }
    }

    /// What the person reads on the log-in page.
    pub fn message_fr(&self, label: &str) -> String {
        match self {
            SignInError::Unavailable(_) => format!("{label} ne répond pas pour le moment. Réessayez dans quelques instants."),
            SignInError::NoPending => "Votre demande de connexion a expiré ou n'a pas été faite depuis ce navigateur. Recommencez avec le bouton de votre fournisseur d'identité.".into(),
            SignInError::StateMismatch => format!("La réponse de {label} ne correspond pas à la demande de connexion faite depuis ce navigateur : connexion refusée. Recommencez."),
            SignInError::WrongIssuer(_) => format!("La réponse reçue ne vient pas de {label} : connexion refusée."),
            SignInError::ProviderRefused { error, .. } if error == "access_denied" => format!("{label} n'a pas autorisé la connexion."),
            SignInError::ProviderRefused { .. } | SignInError::CodeRefused(_) | SignInError::NoIdToken => {
                format!("{label} n'a pas confirmé votre connexion : recommencez. Si cela se reproduit, prévenez votre administrateur.")
            }
            SignInError::WrongAudience(_) => {
                format!("L'attestation d'identité envoyée par {label} était destinée à un autre service que caregate : connexion refusée.")
            }
            SignInError::Expired(_) => format!(
                "L'attestation d'identité envoyée par {label} avait déjà expiré à son arrivée : connexion refusée. Recommencez ; si cela se reproduit, prévenez votre administrateur."
            ),
            SignInError::InvalidToken(_) => format!("L'attestation d'identité envoyée par {label} n'a pas pu être vérifiée : connexion refusée."),
            SignInError::UserInfo(_) => format!("Les informations de votre compte n'ont pas pu être obtenues de {label} de façon sûre : connexion refusée."),
            SignInError::Unmapped(why) => format!(
                "Votre compte {label} n'est rattaché à aucun rôle dans caregate ({why}). Demandez à votre administrateur de rattacher votre organisation ou votre établissement."
            ),
            SignInError::Disabled => "Votre compte est désactivé dans caregate. Adressez-vous à votre administrateur.".into(),
            SignInError::NameTaken(_) => "Votre identité ne correspond pas au compte caregate de ce nom : connexion refusée. Prévenez votre administrateur.".into(),
        }
    }
}

/// What a sign-in started keeps in the browser until the provider sends the person
/// back: which provider, and the state, nonce and PKCE verifier it was given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pending {
    pub provider: String,
    state: String,
    nonce: String,
    verifier: String,
}

impl Pending {
    /// As a cookie value: the provider's name (letters, digits, `-`) and three
    /// base64url secrets, none of which holds a dot.
    pub fn encode(&self) -> String {
        format!("{}.{}.{}.{}", self.provider, self.state, self.nonce, self.verifier)
    }

    pub fn decode(value: &str) -> Option<Self> {
        let mut parts = value.split('.');
        let pending = Pending {
            provider: parts.next()?.to_owned(),
            state: parts.next()?.to_owned(),
            nonce: parts.next()?.to_owned(),
            verifier: parts.next()?.to_owned(),
        };
        (parts.next().is_none() && [&pending.state, &pending.nonce, &pending.verifier].iter().all(|s| !s.is_empty())).then_some(pending)
    }
}

/// The person a provider vouched for, with every claim it sent about them.
#[derive(Clone, Debug)]
pub struct Identity {
    pub issuer: String,
    pub subject: String,
    pub claims: Value,
}

/// What the provider sent back to the callback.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Callback {
    pub code: Option<String>,
    pub state: Option<String>,
    /// RFC 9207: the issuer that sent the answer, when the provider says it.
    pub iss: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

fn unavailable(what: &str, e: impl std::fmt::Display) -> SignInError {
    SignInError::Unavailable(format!("{what}: {e}"))
}

/// The provider's discovery document and keys, read anew at each step so that a key
/// rotation is seen at once.
async fn client(p: &OidcProvider) -> Result<OidcClient, SignInError> {
    let issuer = IssuerUrl::new(p.issuer.clone()).map_err(|e| unavailable("issuer", e))?;
    let metadata = CoreProviderMetadata::discover_async(issuer, http()).await.map_err(|e| match e {
        DiscoveryError::Request(e) => unavailable("discovery", e),
        other => unavailable("discovery", other),
    })?;
    let redirect = RedirectUrl::new(p.redirect_url.clone()).map_err(|e| unavailable("redirect_url", e))?;
    Ok(OidcClient::from_provider_metadata(metadata, ClientId::new(p.client_id.clone()), Some(ClientSecret::new(p.client_secret.clone())))
        .set_redirect_uri(redirect))
}

/// Where to send the person to sign in, and what to keep until they come back.
pub async fn start(p: &OidcProvider) -> Result<(url::Url, Pending), SignInError> {
    let client = client(p).await?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client.authorize_url(AuthenticationFlow::<CoreResponseType>::AuthorizationCode, CsrfToken::new_random, Nonce::new_random);
    for scope in p.scopes.iter().filter(|s| *s != "openid") {
        request = request.add_scope(openidconnect::Scope::new(scope.clone()));
    }
    let (url, state, nonce) = request.set_pkce_challenge(challenge).url();
    let pending = Pending { provider: p.name.clone(), state: state.secret().clone(), nonce: nonce.secret().clone(), verifier: verifier.secret().clone() };
    Ok((url, pending))
}

/// Checks what the provider sent back against what this browser was given, redeems the
/// code, checks the ID token and reads the userinfo.
pub async fn finish(p: &OidcProvider, pending: Option<Pending>, answer: &Callback) -> Result<Identity, SignInError> {
    let pending = pending.filter(|pending| pending.provider == p.name).ok_or(SignInError::NoPending)?;
    let given = answer.state.as_deref().unwrap_or_default();
    // Compared as digests, in constant time for equal lengths: the state is a secret of
    // this browser's.
    if caregate_schemas::Sha256Digest::of(given.as_bytes()) != caregate_schemas::Sha256Digest::of(pending.state.as_bytes()) {
        return Err(SignInError::StateMismatch);
    }
    if let Some(error) = &answer.error {
        return Err(SignInError::ProviderRefused { error: error.clone(), description: answer.error_description.clone().unwrap_or_default() });
    }
    if let Some(iss) = answer.iss.as_deref().filter(|iss| iss.trim_end_matches('/') != p.issuer.trim_end_matches('/')) {
        return Err(SignInError::WrongIssuer(iss.to_owned()));
    }
    let code = answer.code.clone().ok_or_else(|| SignInError::ProviderRefused { error: "no_code".into(), description: "no code in the answer".into() })?;
    let client = client(p).await?;
    let exchange = client.exchange_code(AuthorizationCode::new(code)).map_err(|e| unavailable("token endpoint", e))?;
    let tokens = exchange.set_pkce_verifier(PkceCodeVerifier::new(pending.verifier.clone())).request_async(http()).await.map_err(|e| match e {
        RequestTokenError::ServerResponse(r) => SignInError::CodeRefused(r.to_string()),
        RequestTokenError::Request(e) => unavailable("token endpoint", e),
        other => unavailable("token endpoint", other),
    })?;
    let id_token = tokens.extra_fields().id_token().ok_or(SignInError::NoIdToken)?;
    let verified = id_token.claims(&client.id_token_verifier(), &Nonce::new(pending.nonce.clone())).map_err(|e| match e {
        ClaimsVerificationError::InvalidAudience(m) => SignInError::WrongAudience(m),
        ClaimsVerificationError::Expired(m) => SignInError::Expired(m),
        other => SignInError::InvalidToken(other.to_string()),
    })?;
    let subject = verified.subject().clone();
    let mut claims = serde_json::to_value(verified).map_err(|e| SignInError::InvalidToken(e.to_string()))?;
    if client.user_info_url().is_some() {
        let request =
            client.user_info(tokens.access_token().clone(), Some(SubjectIdentifier::new(subject.to_string()))).map_err(|e| unavailable("userinfo", e))?;
        let info: openidconnect::UserInfoClaims<OtherClaims, CoreGenderClaim> = request.request_async(http()).await.map_err(|e| match e {
            UserInfoError::Request(e) => unavailable("userinfo", e),
            UserInfoError::Response(status, _, m) if status.is_server_error() => unavailable("userinfo", format!("{status} {m}")),
            other => SignInError::UserInfo(other.to_string()),
        })?;
        // The userinfo's claims, checked for the same subject, complete the ID token's.
        if let (Value::Object(all), Ok(Value::Object(more))) = (&mut claims, serde_json::to_value(&info)) {
            for (k, v) in more {
                all.entry(k).or_insert(v);
            }
        }
    }
    Ok(Identity { issuer: p.issuer.clone(), subject: subject.to_string(), claims })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn proconnect() -> OidcProvider {
        OidcProvider {
            name: "proconnect".into(),
            label: "ProConnect".into(),
            issuer: "https://auth.agentconnect.gouv.fr/api/v2".into(),
            client_id: "caregate".into(),
            client_secret: "secret".into(),
            redirect_url: "https://caregate.sante.fr/console/oidc/proconnect/callback".into(),
            scopes: vec!["given_name".into(), "usual_name".into(), "siret".into()],
            name_claims: vec!["given_name".into(), "usual_name".into()],
            organisation_claim: Some("siret".into()),
            organisations: vec![
                OrganisationRole { organisation: "13002526500013".into(), role: Role::Controller, regions: vec!["idf".into()] },
                OrganisationRole { organisation: "18000000000019".into(), role: Role::Archivist, regions: vec![] },
            ],
            finess_claim: Some("SubjectRefPro.exercices.activities.numeroFinessSite".into()),
        }
    }

    #[test]
    fn the_email_claim_gives_the_address_when_it_is_one_and_not_said_unverified() {
        let p = proconnect();
        assert_eq!(p.email(&json!({"email": " Camille.Durand@ars.sante.fr "})).as_deref(), Some("Camille.Durand@ars.sante.fr"));
        assert_eq!(p.email(&json!({"email": "c@ars.sante.fr", "email_verified": true})).as_deref(), Some("c@ars.sante.fr"));
        assert_eq!(p.email(&json!({"email": "c@ars.sante.fr", "email_verified": false})), None);
        assert_eq!(p.email(&json!({"email": "pas une adresse"})), None);
        assert_eq!(p.email(&json!({"email": 12})), None);
        assert_eq!(p.email(&json!({"sub": "x"})), None);
    }

    #[test]
    fn a_sound_provider_is_valid_and_each_mistake_is_named() {
        proconnect().validate().unwrap();
        let broken = |f: &dyn Fn(&mut OidcProvider)| {
            let mut p = proconnect();
            f(&mut p);
            p.validate().unwrap_err()
        };
        assert!(broken(&|p| p.name = "Pro Connect".into()).contains("name must be"));
        assert!(broken(&|p| p.label = " ".into()).contains("label is empty"));
        assert!(broken(&|p| p.issuer = "http://auth.example.fr".into()).contains("must be https"));
        assert!(broken(&|p| p.issuer = "pas une adresse".into()).contains("is not a URL"));
        assert!(broken(&|p| p.redirect_url = "https://caregate.sante.fr/console/oidc/autre/callback".into())
            .contains("must end in /console/oidc/proconnect/callback"));
        assert!(broken(&|p| p.client_secret = String::new()).contains("client_secret"));
        assert!(broken(&|p| p.scopes = vec!["given_name usual_name".into()]).contains("one scope per entry"));
        assert!(broken(&|p| p.organisation_claim = None).contains("no organisation_claim"));
        assert!(broken(&|p| p.finess_claim = Some("a..b".into())).contains("single dots"));
        assert!(broken(&|p| {
            p.organisations.clear();
            p.finess_claim = None
        })
        .contains("nobody could sign in"));
        assert!(broken(&|p| p.organisations[1].organisation = "13002526500013".into()).contains("listed twice"));
        assert!(broken(&|p| p.organisations[0].role = Role::Submitter).contains("submitters come from finess_claim"));
        assert!(broken(&|p| p.organisations[0].regions = vec!["XYZ".into()]).contains("unknown region"));
        assert!(broken(&|p| {
            p.organisations[0].role = Role::Admin;
        })
        .contains("an admin must be scoped to the whole country"));
        // Plain HTTP is for a provider and a caregate on this machine only (tests).
        let mut local = proconnect();
        local.issuer = "http://127.0.0.1:4000".into();
        local.redirect_url = "http://localhost:8080/console/oidc/proconnect/callback".into();
        local.validate().unwrap();
        assert!(validate_providers(&[proconnect(), proconnect()]).unwrap_err().contains("two providers are named \"proconnect\""));
    }

    #[test]
    fn unknown_keys_are_refused() {
        let toml = r#"
            name = "proconnect"
            label = "ProConnect"
            issuer = "https://auth.agentconnect.gouv.fr/api/v2"
            client_id = "caregate"
            client_secret = "s"
            redirect_url = "https://caregate.sante.fr/console/oidc/proconnect/callback"
            organisation_claim = "siret"
            [[organisations]]
            organisation = "13002526500013"
            role = "controller"
            regions = ["IDF"]
            couleur = "bleu"
        "#;
        let e = toml::from_str::<OidcProvider>(toml).unwrap_err().to_string();
        assert!(e.contains("couleur"), "{e}");
        let ok = toml.replace("couleur = \"bleu\"", "");
        let p: OidcProvider = toml::from_str(&ok).unwrap();
        assert_eq!(p.name_claims, ["given_name", "family_name"], "the standard claims by default");
        assert_eq!(p.organisations[0].scope(), Scope::Regions(vec!["IDF".into()]));
    }

    #[test]
    fn an_agents_organisation_gives_its_role_and_regions() {
        let p = proconnect();
        let claims = json!({"sub": "a1", "siret": "13002526500013", "given_name": "Camille", "usual_name": "Durand"});
        assert_eq!(p.map(&claims), Ok((Role::Controller, Scope::Regions(vec!["IDF".into()]))));
        assert_eq!(p.map(&json!({"siret": "18000000000019"})), Ok((Role::Archivist, Scope::National)), "no regions: the whole country");
        assert_eq!(p.display_name(&claims), "Camille Durand");
        let unknown = p.map(&json!({"siret": "99999999999999"})).unwrap_err();
        assert_eq!(unknown.0, "organisation 99999999999999 non rattachée, aucun numéro FINESS d'établissement");
        assert_eq!(p.map(&json!({})).unwrap_err().0, "aucune organisation indiquée, aucun numéro FINESS d'établissement");
    }

    #[test]
    fn an_establishments_finess_numbers_make_it_their_submitter() {
        let p = proconnect();
        // Pro Santé Connect's shape: practices, each with activities in establishments.
        let claims = json!({"sub": "899700000001", "family_name": "Petit", "SubjectRefPro": {"exercices": [
            {"activities": [{"numeroFinessSite": "750000001"}, {"numeroFinessSite": "2A0000012"}]},
            {"activities": [{"numeroFinessSite": "750000001"}, {"numeroFinessSite": "pas un FINESS"}, {"numeroFinessSite": ""}]}
        ]}});
        assert_eq!(p.map(&claims), Ok((Role::Submitter, Scope::Establishments(vec!["2A0000012".into(), "750000001".into()]))));
        let psc = OidcProvider { name_claims: default_name_claims(), ..proconnect() };
        assert_eq!(psc.display_name(&claims), "Petit", "the name claims that are there");
        assert_eq!(p.display_name(&claims), "899700000001", "none of them: the subject");
        assert_eq!(p.display_name(&json!({"sub": "x", "email": "a@b.fr"})), "a@b.fr");
        // An organisation listed wins over FINESS numbers: an agent is an agent.
        let both = json!({"siret": "13002526500013", "SubjectRefPro": {"exercices": [{"activities": [{"numeroFinessSite": "750000001"}]}]}});
        assert_eq!(p.map(&both).unwrap().0, Role::Controller);
        assert_eq!(claim_texts(&json!({"a": [[1, "x"], {"b": 2}]}), "a"), ["1", "x"]);
    }

    #[test]
    fn the_pending_sign_in_round_trips_through_its_cookie() {
        let p = Pending { provider: "psc".into(), state: "s-1_x".into(), nonce: "n".into(), verifier: "v".into() };
        assert_eq!(Pending::decode(&p.encode()), Some(p));
        assert_eq!(Pending::decode("psc.s.n"), None);
        assert_eq!(Pending::decode("psc.s.n.v.w"), None);
        assert_eq!(Pending::decode("psc..n.v"), None);
    }
}
