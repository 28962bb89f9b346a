//! Local accounts and their credentials (API tokens, console sessions), kept in the same
//! database as the index. Only hashes are stored: a password's argon2 PHC string, a
//! token's SHA-256. Hashing and checking are the caller's (the HTTP edge): the store
//! never sees a secret.

use async_trait::async_trait;
use caregate_schemas::{Role, Scope};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::sql::{bounded, parse_ts, ts};
use crate::{SqlIndex, StorageError};

/// A local account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// The login, and the principal's subject.
    pub name: String,
    pub display_name: String,
    pub role: Role,
    pub scope: Scope,
    /// Argon2 PHC string; `None`: the account signs in with API tokens only.
    pub password_hash: Option<String>,
    pub disabled: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialKind {
    /// Long-lived, for scripts and establishments' tools.
    ApiToken,
    /// A console session, expiring.
    Session,
}

impl CredentialKind {
    fn as_str(self) -> &'static str {
        match self {
            CredentialKind::ApiToken => "api_token",
            CredentialKind::Session => "session",
        }
    }
}

/// Accounts and credentials.
///
/// Contract: a credential is found only while it is unexpired, unrevoked and its
/// account enabled; disabling an account or revoking a credential takes effect on the
/// next request.
#[async_trait]
pub trait AccountStore: Send + Sync + 'static {
    /// Creates or replaces the account of that name.
    async fn put_account(&self, account: &Account) -> Result<(), StorageError>;
    async fn account(&self, name: &str) -> Result<Option<Account>, StorageError>;
    async fn accounts(&self) -> Result<Vec<Account>, StorageError>;
    /// Records a credential by the SHA-256 of its secret (hex).
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
    /// Failed log-ins of this name since `since`.
    async fn login_failures(&self, name: &str, since: DateTime<Utc>) -> Result<u32, StorageError>;
    /// One more failed log-in; failures older than `forget_before` (of any name) go.
    async fn record_login_failure(&self, name: &str, at: DateTime<Utc>, forget_before: DateTime<Utc>) -> Result<(), StorageError>;
    /// A successful log-in forgets the name's failures.
    async fn clear_login_failures(&self, name: &str) -> Result<(), StorageError>;
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
    })
}

const ACCOUNT_COLUMNS: &str = "a.name, a.display_name, a.role, a.scope, a.password_hash, a.disabled";

#[async_trait]
impl AccountStore for SqlIndex {
    async fn put_account(&self, a: &Account) -> Result<(), StorageError> {
        let scope = serde_json::to_string(&a.scope).map_err(|e| StorageError::Corrupt(format!("scope: {e}")))?;
        sqlx::query(
            "INSERT INTO accounts (name, display_name, role, scope, password_hash, disabled, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (name) DO UPDATE SET display_name = excluded.display_name, role = excluded.role,
                scope = excluded.scope, password_hash = excluded.password_hash, disabled = excluded.disabled,
                updated_at = excluded.updated_at",
        )
        .bind(a.name.clone())
        .bind(a.display_name.clone())
        .bind(a.role.as_str())
        .bind(scope)
        .bind(a.password_hash.clone())
        .bind(a.disabled as i64)
        .bind(ts(Utc::now()))
        .execute(self.pool())
        .await?;
        Ok(())
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
        sqlx::query("INSERT INTO credentials (token_sha256, account, kind, label, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(token_sha256.to_owned())
            .bind(account.to_owned())
            .bind(kind.as_str())
            .bind(label.to_owned())
            .bind(ts(Utc::now()))
            .bind(expires_at.map(ts))
            .execute(self.pool())
            .await?;
        Ok(())
    }

    async fn credential_account(&self, token_sha256: &str, now: DateTime<Utc>) -> Result<Option<Account>, StorageError> {
        // Asked on every request: bounded, so a frozen database is a 503, not a hang.
        bounded(credential_account(self, token_sha256, now)).await
    }

    async fn revoke_credential(&self, token_sha256: &str) -> Result<(), StorageError> {
        sqlx::query("DELETE FROM credentials WHERE token_sha256 = $1").bind(token_sha256.to_owned()).execute(self.pool()).await?;
        Ok(())
    }

    async fn login_failures(&self, name: &str, since: DateTime<Utc>) -> Result<u32, StorageError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM login_failures WHERE name = $1 AND at >= $2")
            .bind(name.to_owned())
            .bind(ts(since))
            .fetch_one(self.pool())
            .await?;
        Ok(row.try_get::<i64, _>("n")? as u32)
    }

    async fn record_login_failure(&self, name: &str, at: DateTime<Utc>, forget_before: DateTime<Utc>) -> Result<(), StorageError> {
        let mut tx = self.pool().begin().await?;
        sqlx::query("DELETE FROM login_failures WHERE at < $1").bind(ts(forget_before)).execute(&mut *tx).await?;
        sqlx::query("INSERT INTO login_failures (name, at) VALUES ($1, $2)").bind(name.to_owned()).bind(ts(at)).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn clear_login_failures(&self, name: &str) -> Result<(), StorageError> {
        sqlx::query("DELETE FROM login_failures WHERE name = $1").bind(name.to_owned()).execute(self.pool()).await?;
        Ok(())
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
