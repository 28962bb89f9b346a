//! Local accounts and their API tokens.

use std::process::ExitCode;

use anyhow::Context;
use caregate::{App, Config};
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
