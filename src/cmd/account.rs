//! Local accounts and their API tokens.

use std::process::ExitCode;

use anyhow::Context;
use caregate::{App, Config};
use caregate_storage::{Account, AccountStore, Revocation};
use clap::Subcommand;

use super::init_tracing;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: AccountCommand,
}

pub async fn run(config: Config, args: Args) -> anyhow::Result<ExitCode> {
    let Args { command } = args;
    init_tracing("warn");
    let app = App::open(config).await?;
    account(&app, command).await
}

#[derive(Subcommand)]
pub enum AccountCommand {
    /// Create or replace an account. The password, if any, is read from standard input
    /// (one line), never from the command line. Replacing an account's password (with
    /// another, or with none) ends all its sessions and API tokens.
    Add {
        name: String,
        #[arg(long)]
        role: caregate_schemas::Role,
        /// Limit to these regions (ISO codes: IDF, ARA...); controllers and archivists.
        /// Repeatable. Neither this nor --establishment: the whole country.
        #[arg(long = "region", conflicts_with = "establishments")]
        regions: Vec<String>,
        /// Limit to these establishments (FINESS); submitters, who must name theirs.
        /// Repeatable.
        #[arg(long = "establishment")]
        establishments: Vec<String>,
        #[arg(long)]
        display_name: Option<String>,
        /// Read a password for console log-in from standard input.
        #[arg(long)]
        password_stdin: bool,
        /// Where the account is told of controllers' decisions on its establishments'
        /// dossiers (submitters). Replacing an account without it keeps its address.
        #[arg(long)]
        email: Option<String>,
    },
    /// Set the e-mail address the account is told of decisions at, or remove it
    /// (`--none`). A federated account's comes from its provider's `email` claim.
    Email {
        name: String,
        #[arg(required_unless_present = "none")]
        address: Option<String>,
        /// Remove the address: the account is told nothing.
        #[arg(long, conflicts_with = "address")]
        none: bool,
    },
    /// Issue an API token for the account; printed once, stored only as its hash.
    Token {
        name: String,
        #[arg(long, default_value = "cli")]
        label: String,
    },
    /// The account's API tokens and console sessions: id, kind, label, created,
    /// expires. The id is the start of the stored hash, never the secret.
    Tokens { name: String },
    /// End one API token or session of the account from its next request, by its id as
    /// `tokens` lists it (or its first characters, at least 6, if they name only one).
    Revoke { name: String, id: String },
    /// Every account, its role and scope.
    List,
    /// Refuse the account from its next request and end all its API tokens and
    /// sessions: `enable` revives none, the account needs new tokens (`account token`)
    /// or a new log-in.
    Disable { name: String },
    /// Allow a disabled account again; it signs in anew (log-in or `account token`),
    /// none of its old credentials come back.
    Enable { name: String },
}

async fn account(app: &App, command: AccountCommand) -> anyhow::Result<ExitCode> {
    use caregate_schemas::Scope;
    let accounts = &app.backends.accounts;
    match command {
        AccountCommand::Add { name, role, regions, establishments, display_name, password_stdin, email } => {
            let scope = if !regions.is_empty() {
                Scope::Regions(regions.iter().map(|r| r.to_uppercase()).collect())
            } else if !establishments.is_empty() {
                Scope::Establishments(establishments)
            } else {
                Scope::National
            };
            let existing = accounts.account(&name).await?;
            if let Some(f) = existing.as_ref().and_then(|a| a.federated.clone()) {
                anyhow::bail!(
                    "{name} signs in through its OpenID provider ({}): its role and scope come from http.auth.oidc, not from here (disable or enable it instead)",
                    f.issuer
                );
            }
            role.check_scope(&scope).map_err(|e| anyhow::anyhow!("{e} (--establishment FINESS, --region CODE, or neither for the whole country)"))?;
            let password_hash = if password_stdin {
                let mut line = String::new();
                std::io::stdin().read_line(&mut line)?;
                let password = line.trim_end_matches(['\n', '\r']);
                anyhow::ensure!(password.chars().count() >= 12, "a password needs at least 12 characters");
                Some(caregate_ingest::hash_password(password)?)
            } else {
                None
            };
            let a = caregate_storage::Account {
                display_name: display_name.unwrap_or_else(|| name.clone()),
                name,
                role,
                scope,
                password_hash,
                disabled: false,
                federated: None,
                email: match email {
                    Some(address) => Some(caregate_storage::check_email(&address)?),
                    None => existing.and_then(|a| a.email),
                },
            };
            let ended = accounts.put_account(&a).await?;
            println!("account {} ({}, {:?}){}", a.name, a.role, a.scope, a.email.as_deref().map(|e| format!(", e-mail {e}")).unwrap_or_default());
            if ended > 0 {
                println!("password changed: {ended} API token(s) and session(s) ended");
            }
        }
        AccountCommand::Token { name, label } => {
            println!("{}", caregate_ingest::issue_token(accounts.as_ref(), &name, &label).await?);
        }
        AccountCommand::Tokens { name } => {
            existing(accounts.as_ref(), &name).await?;
            let now = chrono::Utc::now();
            let when = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            for c in accounts.credentials(&name).await? {
                let expires = c.expires_at.map_or_else(|| "never".to_owned(), when);
                let expired = if c.expires_at.is_some_and(|t| t <= now) { "\texpired" } else { "" };
                println!("{}\t{}\t{}\tcreated {}\texpires {expires}{expired}", c.id, c.kind.as_str(), c.label, when(c.created_at));
            }
        }
        AccountCommand::Revoke { name, id } => {
            existing(accounts.as_ref(), &name).await?;
            match accounts.revoke_credential_by_id(&name, &id).await? {
                Revocation::Revoked(c) => println!("revoked {} {} ({}) of {name}", c.kind.as_str(), c.id, c.label),
                Revocation::NoMatch => anyhow::bail!("no API token or session of {name} has the id {id:?} (see `caregate account tokens {name}`)"),
                Revocation::Ambiguous(found) => {
                    let ids: Vec<&str> = found.iter().map(|c| c.id.as_str()).collect();
                    anyhow::bail!("the id {id:?} names {} credentials of {name} ({}): give more of it; nothing was revoked", found.len(), ids.join(", "))
                }
            }
        }
        AccountCommand::Email { name, address, none: _ } => {
            let mut a = existing(accounts.as_ref(), &name).await?;
            if let Some(f) = &a.federated {
                anyhow::bail!("{name} signs in through its OpenID provider ({}): its e-mail address comes from the provider's email claim", f.issuer);
            }
            a.email = address.as_deref().map(caregate_storage::check_email).transpose()?;
            accounts.put_account(&a).await?;
            match &a.email {
                Some(e) => println!("account {name}: decisions are told to {e}"),
                None => println!("account {name}: no e-mail address, told nothing"),
            }
        }
        AccountCommand::Disable { name } => set_disabled(accounts.as_ref(), &name, true).await?,
        AccountCommand::Enable { name } => set_disabled(accounts.as_ref(), &name, false).await?,
        AccountCommand::List => {
            for a in accounts.accounts().await? {
                let login = match (&a.federated, &a.password_hash) {
                    (Some(f), _) => format!("OpenID {}", f.issuer),
                    (None, Some(_)) => "password".to_owned(),
                    (None, None) => "token only".to_owned(),
                };
                let email = a.email.as_deref().map(|e| format!("\t{e}")).unwrap_or_default();
                println!("{}\t{}\t{:?}\t{}{email}{}", a.name, a.role, a.scope, login, if a.disabled { "\tdisabled" } else { "" });
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn existing(accounts: &dyn AccountStore, name: &str) -> anyhow::Result<Account> {
    accounts.account(name).await?.with_context(|| format!("no account {name:?}"))
}

async fn set_disabled(accounts: &dyn AccountStore, name: &str, disabled: bool) -> anyhow::Result<()> {
    let mut a = existing(accounts, name).await?;
    a.disabled = disabled;
    let ended = accounts.put_account(&a).await?;
    if disabled {
        println!("account {name} disabled; {ended} API token(s) and session(s) ended");
    } else {
        println!("account {name} enabled; it needs new tokens (`caregate account token {name}`) or a new log-in");
    }
    Ok(())
}
