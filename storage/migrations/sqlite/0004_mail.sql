-- Migration 4: e-mail notifications (see `index/mail.rs` and `mail.rs`).
--
-- An account's e-mail address, where its holder is told of controllers' decisions on
-- its establishments' dossiers (NULL: told nothing). Set by an administrator for a local
-- account, from the provider's `email` claim for a federated one.
ALTER TABLE accounts ADD COLUMN email TEXT;

-- Mails waiting for the SMTP server, one row per recipient, written in the transaction
-- of the decision they tell of and deleted once the server took them. `not_before` is
-- both the lease of the relay sending a row and the next attempt after a failure.
-- `message_id` is derived from the decision and the recipient: a copy sent again
-- (a relay that died before deleting its row) carries the same Message-ID.
CREATE TABLE IF NOT EXISTS mail_outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL UNIQUE,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL,
    not_before TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS mail_outbox_due ON mail_outbox (not_before, seq);
