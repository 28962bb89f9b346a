//! Local accounts and their credentials (API tokens, console sessions), kept in the same
//! database as the index. Only hashes are stored: a password's argon2 PHC string, a
//! token's SHA-256. Hashing and checking are the caller's (the HTTP edge): the store
//! never sees a secret.
//!
//! A person an OpenID provider vouches for (ProConnect, Pro Santé Connect) has an account
//! too, made and kept up to date by their sign-ins ([`AccountStore::put_federated_account`]):
//! their sessions are credentials like any other, listed, revoked and ended by a disable
//! the same way.

use async_trait::async_trait;
use caregate_schemas::{Role, Scope};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::sql::{parse_ts, ts};
use crate::{SqlIndex, StorageError};

/// A local account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// The login, and the principal's subject.
    pub name: String,
    pub display_name: String,
    pub role: Role,
    pub scope: Scope,
    /// Argon2 PHC string; `None`: the account signs in with API tokens only (or
    /// through its OpenID provider).
    pub password_hash: Option<String>,
    pub disabled: bool,
    /// `None`: a local account. `Some`: a person an OpenID provider vouches for; the
    /// account (named `<provider>:<sub>`) has no password, and its role and scope are
    /// what the provider's claims map to at each sign-in.
    #[serde(default)]
    pub federated: Option<FederatedIdentity>,
    /// Where its holder is told of controllers' decisions on its establishments'
    /// dossiers (a submitter's); `None`: told nothing. Checked by [`check_email`] before
    /// it is stored. A federated account's comes from its provider's `email` claim.
    #[serde(default)]
    pub email: Option<String>,
}

/// Why an e-mail address is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{address:?} is not an e-mail address ({why})")]
pub struct InvalidEmail {
    pub address: String,
    pub why: String,
}

/// An e-mail address as it will be stored and written to: trimmed, checked by the SMTP
/// client's own parser (the one that will send to it, so what is stored can be sent to),
/// and limited to what SMTP allows (254 characters).
pub fn check_email(address: &str) -> Result<String, InvalidEmail> {
    let trimmed = address.trim();
    let invalid = |why: String| InvalidEmail { address: address.to_owned(), why };
    if trimmed.len() > 254 {
        return Err(invalid("longer than 254 characters".to_owned()));
    }
    let parsed: lettre::Address = trimmed.parse().map_err(|e: lettre::address::AddressError| invalid(e.to_string()))?;
    Ok(parsed.to_string())
}

/// Who vouches for a federated account: the OpenID provider's issuer, and the person's
/// identifier (`sub`) there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FederatedIdentity {
    pub issuer: String,
    pub subject: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialKind {
    /// Long-lived, for scripts and establishments' tools.
    ApiToken,
    /// A console session, expiring.
    Session,
}

impl CredentialKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialKind::ApiToken => "api_token",
            CredentialKind::Session => "session",
        }
    }

    fn parse(s: &str) -> Result<Self, StorageError> {
        match s {
            "api_token" => Ok(CredentialKind::ApiToken),
            "session" => Ok(CredentialKind::Session),
            other => Err(StorageError::Corrupt(format!("credential kind {other:?}"))),
        }
    }
}

/// How many hex characters of a credential's SHA-256 name it in listings: enough that two
/// credentials of one account never share it in practice, and the secret cannot be
/// recovered from it (nor from the whole hash).
pub const CREDENTIAL_ID_LEN: usize = 12;

/// The shortest id prefix accepted for a revocation, so a slip of the keyboard cannot
/// match most of an account's credentials.
pub const CREDENTIAL_ID_MIN_LEN: usize = 6;

/// A credential as listed to administrators: never its secret, nor its whole hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credential {
    /// The first [`CREDENTIAL_ID_LEN`] hex characters of the stored SHA-256.
    pub id: String,
    pub kind: CredentialKind,
    pub label: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// What a revocation by id did. Only a match of exactly one credential revokes anything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Revocation {
    Revoked(Credential),
    /// No credential of the account has an id starting so.
    NoMatch,
    /// Several do; none was revoked.
    Ambiguous(Vec<Credential>),
}

/// Accounts and credentials.
///
/// Contract: a credential is found only while it is unexpired, unrevoked and its
/// account enabled; disabling an account or revoking a credential takes effect on the
/// next request. A password change or a disable ends (deletes) every credential of the
/// account, sessions and API tokens alike, in the same transaction as the account's
/// change: nothing issued before it is usable after it, and enabling the account again
/// revives nothing (it needs new tokens). Any other change (display name, role, scope)
/// ends nothing. Every call is bounded in time like the index's (a credential is looked
/// up on every request: a frozen database is a 503, never a hang).
#[async_trait]
pub trait AccountStore: Send + Sync + 'static {
    /// Creates or replaces the account of that name (refused, `Rejected`, when its e-mail
    /// address does not pass [`check_email`]); returns how many credentials it
    /// ended: all of them when the account is disabled or its password hash changes
    /// (set, removed or replaced; a new account starts with none), else none.
    async fn put_account(&self, account: &Account) -> Result<u64, StorageError>;
    /// Creates the account of a person an OpenID provider vouches for
    /// (`account.federated` set, no password), or brings its display name, role and
    /// scope up to date (and its e-mail address, when one is given: a sign-in without one
    /// keeps the address known), in one statement that never touches `disabled`: a disable made
    /// by an administrator holds whatever the provider says. Returns the account as
    /// stored (disabled or not). Refused (`Rejected`) when the name belongs to a local
    /// account or to another identity.
    async fn put_federated_account(&self, account: &Account) -> Result<Account, StorageError>;
    async fn account(&self, name: &str) -> Result<Option<Account>, StorageError>;
    async fn accounts(&self) -> Result<Vec<Account>, StorageError>;
    /// Records a credential by the SHA-256 of its secret (hex); refused (`Rejected`)
    /// unless the account exists and is enabled, so a disabled account gets nothing that
    /// enabling it would revive.
    async fn add_credential(
        &self,
        token_sha256: &str,
        account: &str,
        kind: CredentialKind,
        label: &str,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<(), StorageError>;
    /// The account a credential belongs to, if it is usable at `now`.
    async fn credential_account(&self, token_sha256: &str, now: DateTime<Utc>) -> Result<Option<Account>, StorageError>;
    async fn revoke_credential(&self, token_sha256: &str) -> Result<(), StorageError>;
    /// Every credential of the account, expired ones included, oldest first.
    async fn credentials(&self, account: &str) -> Result<Vec<Credential>, StorageError>;
    /// Revokes the one credential of the account whose id starts with `id_prefix` (hex,
    /// at least [`CREDENTIAL_ID_MIN_LEN`] characters, any case); refused (`Rejected`)
    /// when the prefix is not that.
    async fn revoke_credential_by_id(&self, account: &str, id_prefix: &str) -> Result<Revocation, StorageError>;
}

fn row_to_account(row: &AnyRow) -> Result<Account, StorageError> {
    let role: String = row.try_get("role")?;
    let scope: String = row.try_get("scope")?;
    Ok(Account {
        name: row.try_get("name")?,
        display_name: row.try_get("display_name")?,
        role: role.parse().map_err(|e| StorageError::Corrupt(format!("{e}")))?,
        scope: serde_json::from_str(&scope).map_err(|e| StorageError::Corrupt(format!("scope: {e}")))?,
        password_hash: row.try_get("password_hash")?,
        disabled: row.try_get::<i64, _>("disabled")? != 0,
        federated: match (row.try_get::<Option<String>, _>("issuer")?, row.try_get::<Option<String>, _>("subject")?) {
            (Some(issuer), Some(subject)) => Some(FederatedIdentity { issuer, subject }),
            _ => None,
        },
        email: row.try_get("email")?,
    })
}

const CREDENTIAL_COLUMNS: &str = "token_sha256, kind, label, created_at, expires_at";

/// The stored hash (what a revocation deletes by) and the credential as listed.
fn row_to_credential(row: &AnyRow) -> Result<(String, Credential), StorageError> {
    let digest: String = row.try_get("token_sha256")?;
    let kind: String = row.try_get("kind")?;
    let created: String = row.try_get("created_at")?;
    let expires: Option<String> = row.try_get("expires_at")?;
    let credential = Credential {
        id: digest.chars().take(CREDENTIAL_ID_LEN).collect(),
        kind: CredentialKind::parse(&kind)?,
        label: row.try_get("label")?,
        created_at: parse_ts(&created)?,
        expires_at: expires.as_deref().map(parse_ts).transpose()?,
    };
    Ok((digest, credential))
}

const ACCOUNT_COLUMNS: &str = "a.name, a.display_name, a.role, a.scope, a.password_hash, a.disabled, a.issuer, a.subject, a.email";

/// The account's address checked, or the account refused.
fn checked_email(a: &Account) -> Result<Option<String>, StorageError> {
    a.email.as_deref().map(check_email).transpose().map_err(|e| StorageError::rejected("accounts", e))
}

#[caregate_macros::bounded]
#[async_trait]
impl AccountStore for SqlIndex {
    async fn put_account(&self, a: &Account) -> Result<u64, StorageError> {
        let scope = serde_json::to_string(&a.scope).map_err(|e| StorageError::Corrupt(format!("scope: {e}")))?;
        let email = checked_email(a)?;
        let mut tx = self.pool().begin().await?;
        // Judged against the row as it was, before the upsert below replaces it; a write
        // first, so SQLite takes its write lock at once instead of upgrading a read.
        // Hashes are never empty, so '' stands for "no password" on both databases.
        let ended = sqlx::query(
            "DELETE FROM credentials WHERE account = $1
             AND ($2 = 1 OR NOT EXISTS (SELECT 1 FROM accounts WHERE name = $1 AND COALESCE(password_hash, '') = COALESCE($3, '')))",
        )
        .bind(a.name.clone())
        .bind(a.disabled as i64)
        .bind(a.password_hash.clone())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query(
            "INSERT INTO accounts (name, display_name, role, scope, password_hash, disabled, updated_at, issuer, subject, email)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (name) DO UPDATE SET display_name = excluded.display_name, role = excluded.role,
                scope = excluded.scope, password_hash = excluded.password_hash, disabled = excluded.disabled,
                updated_at = excluded.updated_at, issuer = excluded.issuer, subject = excluded.subject, email = excluded.email",
        )
        .bind(a.name.clone())
        .bind(a.display_name.clone())
        .bind(a.role.as_str())
        .bind(scope)
        .bind(a.password_hash.clone())
        .bind(a.disabled as i64)
        .bind(ts(Utc::now()))
        .bind(a.federated.as_ref().map(|f| f.issuer.clone()))
        .bind(a.federated.as_ref().map(|f| f.subject.clone()))
        .bind(email)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(ended)
    }

    async fn put_federated_account(&self, a: &Account) -> Result<Account, StorageError> {
        let Some(identity) = a.federated.clone().filter(|_| a.password_hash.is_none()) else {
            return Err(StorageError::rejected("accounts", format!("{:?} is not a federated account without a password", a.name)));
        };
        let scope = serde_json::to_string(&a.scope).map_err(|e| StorageError::Corrupt(format!("scope: {e}")))?;
        let email = checked_email(a)?;
        // The update applies only to the same identity's row: a local account of that
        // name (or another person's) is left as it is, and refused below. A sign-in
        // without an address keeps the one known.
        sqlx::query(
            "INSERT INTO accounts (name, display_name, role, scope, password_hash, disabled, updated_at, issuer, subject, email)
             VALUES ($1, $2, $3, $4, NULL, 0, $5, $6, $7, $8)
             ON CONFLICT (name) DO UPDATE SET display_name = excluded.display_name, role = excluded.role,
                scope = excluded.scope, updated_at = excluded.updated_at, email = COALESCE(excluded.email, accounts.email)
             WHERE accounts.issuer = excluded.issuer AND accounts.subject = excluded.subject AND accounts.password_hash IS NULL",
        )
        .bind(a.name.clone())
        .bind(a.display_name.clone())
        .bind(a.role.as_str())
        .bind(scope)
        .bind(ts(Utc::now()))
        .bind(identity.issuer.clone())
        .bind(identity.subject.clone())
        .bind(email)
        .execute(self.pool())
        .await?;
        match self.account(&a.name).await? {
            Some(stored) if stored.federated.as_ref() == Some(&identity) && stored.password_hash.is_none() => Ok(stored),
            _ => Err(StorageError::rejected("accounts", format!("the account {:?} belongs to someone else", a.name))),
        }
    }

    async fn account(&self, name: &str) -> Result<Option<Account>, StorageError> {
        sqlx::query(&format!("SELECT {ACCOUNT_COLUMNS} FROM accounts a WHERE a.name = $1"))
            .bind(name.to_owned())
            .fetch_optional(self.pool())
            .await?
            .as_ref()
            .map(row_to_account)
            .transpose()
    }

    async fn accounts(&self) -> Result<Vec<Account>, StorageError> {
        let rows = sqlx::query(&format!("SELECT {ACCOUNT_COLUMNS} FROM accounts a ORDER BY a.name")).fetch_all(self.pool()).await?;
        rows.iter().map(row_to_account).collect()
    }

    async fn add_credential(
        &self,
        token_sha256: &str,
        account: &str,
        kind: CredentialKind,
        label: &str,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<(), StorageError> {
        // Checked in the insert itself: a log-in that checked the password just before a
        // disable must not leave a session behind it.
        let added = sqlx::query(
            "INSERT INTO credentials (token_sha256, account, kind, label, created_at, expires_at)
             SELECT $1, $2, $3, $4, $5, $6 WHERE EXISTS (SELECT 1 FROM accounts WHERE name = $2 AND disabled = 0)",
        )
        .bind(token_sha256.to_owned())
        .bind(account.to_owned())
        .bind(kind.as_str())
        .bind(label.to_owned())
        .bind(ts(Utc::now()))
        .bind(expires_at.map(ts))
        .execute(self.pool())
        .await?
        .rows_affected();
        if added == 0 {
            return Err(StorageError::rejected("accounts", format!("no enabled account {account:?} to give a credential to")));
        }
        Ok(())
    }

    async fn credential_account(&self, token_sha256: &str, now: DateTime<Utc>) -> Result<Option<Account>, StorageError> {
        credential_account(self, token_sha256, now).await
    }

    async fn revoke_credential(&self, token_sha256: &str) -> Result<(), StorageError> {
        sqlx::query("DELETE FROM credentials WHERE token_sha256 = $1").bind(token_sha256.to_owned()).execute(self.pool()).await?;
        Ok(())
    }

    async fn credentials(&self, account: &str) -> Result<Vec<Credential>, StorageError> {
        let rows = sqlx::query(&format!("SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE account = $1 ORDER BY created_at, token_sha256"))
            .bind(account.to_owned())
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(|r| row_to_credential(r).map(|(_, c)| c)).collect()
    }

    async fn revoke_credential_by_id(&self, account: &str, id_prefix: &str) -> Result<Revocation, StorageError> {
        let prefix = id_prefix.trim().to_ascii_lowercase();
        // Hex only, which also keeps LIKE's wildcards out of the pattern.
        if prefix.len() < CREDENTIAL_ID_MIN_LEN || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(StorageError::rejected(
                "accounts",
                format!("{id_prefix:?} is not a credential id: at least {CREDENTIAL_ID_MIN_LEN} hexadecimal characters, as listed"),
            ));
        }
        let mut tx = self.pool().begin().await?;
        let rows = sqlx::query(&format!("SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE account = $1 AND token_sha256 LIKE $2 ORDER BY created_at"))
            .bind(account.to_owned())
            .bind(format!("{prefix}%"))
            .fetch_all(&mut *tx)
            .await?;
        let mut found = rows.iter().map(row_to_credential).collect::<Result<Vec<_>, _>>()?;
        if found.len() > 1 {
            return Ok(Revocation::Ambiguous(found.into_iter().map(|(_, c)| c).collect()));
        }
        let Some((digest, credential)) = found.pop() else { return Ok(Revocation::NoMatch) };
        sqlx::query("DELETE FROM credentials WHERE token_sha256 = $1 AND account = $2").bind(digest).bind(account.to_owned()).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(Revocation::Revoked(credential))
    }
}

async fn credential_account(index: &SqlIndex, token_sha256: &str, now: DateTime<Utc>) -> Result<Option<Account>, StorageError> {
    // Timestamps are written in one fixed RFC 3339 form, so text order is time order.
    let row = sqlx::query(&format!(
        "SELECT {ACCOUNT_COLUMNS}, c.expires_at FROM credentials c JOIN accounts a ON a.name = c.account
         WHERE c.token_sha256 = $1 AND a.disabled = 0"
    ))
    .bind(token_sha256.to_owned())
    .fetch_optional(index.pool())
    .await?;
    let Some(row) = row else { return Ok(None) };
    if let Some(expires) = row.try_get::<Option<String>, _>("expires_at")? {
        if parse_ts(&expires)? <= now {
            return Ok(None);
        }
    }
    row_to_account(&row).map(Some)
}

#[cfg(test)]
mod tests {
    use crate::{conformance, SqlIndex};

    /// The account suites on SQLite, without the integration harness's services: the
    /// quick loop while changing this file (PostgreSQL runs them in tests/it).
    #[tokio::test]
    async fn sqlite_accounts_conform() {
        let dir = tempfile::tempdir().expect("tempdir");
        let index = SqlIndex::connect(&format!("sqlite://{}?mode=rwc", dir.path().join("index.sqlite").display()), 2).await.expect("connect");
        conformance::accounts(&index).await;
        conformance::credential_lifecycle(&index).await;
        conformance::login_attempts(&index).await;
        conformance::mail_outbox(&index).await;
    }
}
