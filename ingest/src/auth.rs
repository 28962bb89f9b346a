//! Who is calling, and whether they may. A request carries an API token
//! (`Authorization: Bearer cg_…`) or a console session cookie; either resolves, through
//! the account store, to a [`Principal`]. Authorisation is one table ([`Action`] ×
//! [`Role`]) plus the principal's scope, checked by every handler before it reads
//! anything.
//!
//! Secrets are never stored: passwords as argon2id PHC strings, tokens and sessions as
//! their SHA-256 (a 256-bit random token needs no slow hash).

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use caregate_schemas::{Principal, Role, Sha256Digest};
use caregate_storage::{Account, AccountStore, CredentialKind, StorageError};
use chrono::{DateTime, Utc};
use rand::RngCore;

use crate::error::ApiError;
use crate::state::AppState;

/// The console's session cookie.
pub const SESSION_COOKIE: &str = "caregate_session";

/// What a request wants to do; each handler names one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Send files for an establishment.
    Upload,
    /// Read records, histories, verifications of an establishment's dossiers.
    ReadRecords,
    /// Download a file's bytes or read its text (each read is an audit event).
    ReadFile,
    /// The controllers' console: queue and evidence pages.
    Review,
    /// Accept, reject, or ask for more on an objective.
    Decide,
    /// Search stored evidence.
    Search,
    /// Delete a stored file once its retention is over.
    Delete,
}

impl Action {
    /// The roles that may do it at all (the principal's scope then limits where).
    /// Admins run the service and read no dossier; archivists read everything and
    /// decide nothing.
    pub fn roles(self) -> &'static [Role] {
        match self {
            Action::Upload => &[Role::Submitter],
            Action::ReadRecords | Action::ReadFile => &[Role::Submitter, Role::Controller, Role::Archivist],
            Action::Review => &[Role::Controller, Role::Archivist],
            Action::Decide => &[Role::Controller],
            Action::Search => &[Role::Controller, Role::Archivist],
            Action::Delete => &[Role::Admin],
        }
    }
}

/// Why a caller may not do what it asked: its role, or its scope.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Denied(pub String);

/// The authenticated caller of a request, and the CSRF token its pages must post back
/// when it came with a console session (`None` for an API token, which a browser never
/// sends on its own).
#[derive(Clone, Debug)]
pub struct Caller(pub Principal, pub Option<String>);

impl Caller {
    /// Refuses unless the caller's role may do `action`, on `establishment` when the
    /// action concerns one (403 at the HTTP edge).
    pub fn may(&self, action: Action, establishment: Option<&str>) -> Result<(), Denied> {
        let p = &self.0;
        if !action.roles().contains(&p.role) {
            // Said in French: the console and the space show it as it is.
            return Err(Denied(format!("votre rôle ({}) ne permet pas cette action", crate::ui::role_fr(p.role))));
        }
        match establishment {
            Some(finess) if !p.covers(finess) => Err(Denied(format!("l'établissement {finess} n'est pas dans votre périmètre"))),
            _ => Ok(()),
        }
    }

    pub fn actor(&self) -> String {
        self.0.actor()
    }

    /// The CSRF token of the caller's console session, for the forms of its pages.
    pub fn csrf(&self) -> &str {
        self.1.as_deref().unwrap_or_default()
    }
}

/// The CSRF token of a console session: derived from its secret, so that only a page
/// the session itself was served can carry it (a cross-site page can neither read the
/// cookie nor compute this), and nothing more is stored.
pub fn csrf_token(session_secret: &str) -> String {
    Sha256Digest::of(format!("caregate-csrf\n{session_secret}").as_bytes()).hex()
}

/// The principal an account acts as: for a federated one, the person its OpenID
/// provider vouches for (issuer and `sub`), whatever the account's name.
pub fn principal_of(account: &Account) -> Principal {
    let (subject, issuer) = match &account.federated {
        Some(f) => (f.subject.clone(), f.issuer.clone()),
        None => (account.name.clone(), "local".into()),
    };
    Principal { subject, issuer, display_name: account.display_name.clone(), role: account.role, scope: account.scope.clone() }
}

/// Why a request has no caller. The console sends people to its login page; the API
/// answers 401 with a challenge.
pub enum Unauthenticated {
    Api(ApiError),
    Console,
    Failed(ApiError),
}

impl IntoResponse for Unauthenticated {
    fn into_response(self) -> Response {
        match self {
            Unauthenticated::Api(e) => {
                let mut r = e.into_response();
                r.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer realm=\"caregate\""));
                r
            }
            Unauthenticated::Console => Redirect::to("/console/login").into_response(),
            Unauthenticated::Failed(e) => e.into_response(),
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Unauthenticated;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Self::Rejection> {
        let bearer =
            parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")).map(str::trim).map(str::to_owned);
        let cookie = CookieJar::from_headers(&parts.headers).get(SESSION_COOKIE).map(|c| c.value().to_owned());
        // Pages (the console, the establishments' space) send people to the log-in page.
        let console = parts.uri.path().starts_with("/console") || parts.uri.path().starts_with("/espace");
        let missing = || {
            if console {
                Unauthenticated::Console
            } else {
                Unauthenticated::Api(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthenticated",
                    "an API token (Authorization: Bearer) or a console session is required",
                ))
            }
        };
        let csrf = if bearer.is_none() { cookie.as_deref().map(csrf_token) } else { None };
        let Some(secret) = bearer.or(cookie) else { return Err(missing()) };
        match st.accounts.credential_account(&token_digest(&secret), Utc::now()).await {
            Ok(Some(account)) => Ok(Caller(principal_of(&account), csrf)),
            Ok(None) => Err(missing()),
            Err(e) => Err(Unauthenticated::Failed(e.into())),
        }
    }
}

/// A fresh secret: 256 random bits, recognisable by its prefix in logs and secret
/// scanners.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("cg_{}", hex::encode(bytes))
}

/// What the store keeps of a token.
pub fn token_digest(token: &str) -> String {
    Sha256Digest::of(token.as_bytes()).hex()
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("password hashing: {0}")]
    Hash(String),
    #[error("unknown account {0:?}")]
    UnknownAccount(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    SignIn(crate::oidc::SignInError),
}

/// An argon2id PHC string of the password, with a random salt.
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| AuthError::Hash(e.to_string()))?;
    Argon2::default().hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(|e| AuthError::Hash(e.to_string()))
}

fn password_matches(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// Issues an API token for the account; returns the token, shown once.
pub async fn issue_token(accounts: &dyn AccountStore, account: &str, label: &str) -> Result<String, AuthError> {
    if accounts.account(account).await?.is_none() {
        return Err(AuthError::UnknownAccount(account.to_owned()));
    }
    let token = new_token();
    accounts.add_credential(&token_digest(&token), account, CredentialKind::ApiToken, label, None).await?;
    Ok(token)
}

/// Checks a login and opens a console session; `None` when the name or the password is
/// wrong (which of the two is not told).
pub async fn log_in(accounts: &Arc<dyn AccountStore>, name: &str, password: &str, hours: u32) -> Result<Option<(Account, String, DateTime<Utc>)>, AuthError> {
    let account = accounts.account(name).await?.filter(|a| !a.disabled);
    let phc = account.as_ref().and_then(|a| a.password_hash.clone());
    let password = password.to_owned();
    // Argon2 takes tens of milliseconds of CPU: off the async threads. An unknown name
    // costs the same as a wrong password, so timing does not reveal which names exist.
    let ok = tokio::task::spawn_blocking(move || match phc {
        Some(phc) => password_matches(&password, &phc),
        None => {
            let _ = password_matches(&password, DUMMY_PHC);
            false
        }
    })
    .await
    .unwrap_or(false);
    let Some(account) = account.filter(|_| ok) else { return Ok(None) };
    let token = new_token();
    let expires = Utc::now() + chrono::Duration::hours(hours.into());
    let digest = token_digest(&token);
    accounts.add_credential(&digest, &account.name, CredentialKind::Session, "console", Some(expires)).await?;
    // A password change or a disable that committed between the check and the session
    // ended every credential but this one, made after it: it goes too. (One committed
    // after the session ends it by itself.)
    let now = accounts.account(&account.name).await?;
    if now.as_ref().is_none_or(|a| a.disabled || a.password_hash != account.password_hash) {
        accounts.revoke_credential(&digest).await?;
        return Ok(None);
    }
    Ok(Some((account, token, expires)))
}

/// Opens a console session for a person an OpenID provider vouched for, as their claims
/// map them: their account is made or brought up to date first (never re-enabled).
pub async fn open_federated_session(accounts: &Arc<dyn AccountStore>, account: &Account, hours: u32) -> Result<(Account, String), AuthError> {
    use crate::oidc::SignInError;
    let stored = match accounts.put_federated_account(account).await {
        Ok(stored) => stored,
        Err(StorageError::Rejected { .. }) => return Err(AuthError::SignIn(SignInError::NameTaken(account.name.clone()))),
        Err(e) => return Err(e.into()),
    };
    if stored.disabled {
        return Err(AuthError::SignIn(SignInError::Disabled));
    }
    let token = new_token();
    let expires = Utc::now() + chrono::Duration::hours(hours.into());
    // Refused in the insert itself if a disable committed since.
    match accounts.add_credential(&token_digest(&token), &stored.name, CredentialKind::Session, "console (OpenID)", Some(expires)).await {
        Ok(()) => Ok((stored, token)),
        Err(StorageError::Rejected { .. }) => Err(AuthError::SignIn(SignInError::Disabled)),
        Err(e) => Err(e.into()),
    }
}

/// An argon2id hash of a random password nobody knows, verified against when the account
/// does not exist.
const DUMMY_PHC: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$4cAVq1Q9dItZQzBkfw6C4uQ4Qm1GkLx9yqs3OUnB1lk";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_against_their_hash_only() {
        let phc = hash_password("Motdepasse-éprouvé 2024").unwrap();
        assert!(phc.starts_with("$argon2id$"));
        assert!(password_matches("Motdepasse-éprouvé 2024", &phc));
        assert!(!password_matches("motdepasse-éprouvé 2024", &phc));
        assert!(PasswordHash::new(DUMMY_PHC).is_ok(), "the dummy hash parses, so unknown names cost a real verification");
    }

    #[test]
    fn roles_match_the_access_table() {
        assert_eq!(Action::Decide.roles(), &[Role::Controller]);
        assert!(!Action::ReadFile.roles().contains(&Role::Admin));
        assert!(!Action::Upload.roles().contains(&Role::Archivist));
    }
}
