-- Migration 1: the whole schema as caregate had it when migrations were introduced.
--
-- Every statement is idempotent (IF NOT EXISTS, ON CONFLICT DO NOTHING, DROP TRIGGER IF
-- EXISTS before CREATE TRIGGER), because this migration also runs over databases created before migrations existed (no
-- `_sqlx_migrations` table): on those it changes nothing but what the code of that time
-- would have changed at start-up (the `submissions` rows and the dropped `login_failures`),
-- after `SqlIndex::migrate` added the hash chain's columns to an older events table.
--
-- Applied migrations are checksummed: never edit this file; change the schema in a new
-- migration (see docs/development.md).

-- One row per evidence: its current record (JSON in `record`), with the columns
-- queries filter on.
CREATE TABLE IF NOT EXISTS evidence (
    evidence_id TEXT PRIMARY KEY,
    submission_id TEXT NOT NULL,
    establishment TEXT NOT NULL,
    campaign TEXT NOT NULL,
    path TEXT NOT NULL,
    status TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    received_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS evidence_submission ON evidence (submission_id);

-- Idempotency keys of uploads (caller, client key, file), each naming its evidence.
CREATE TABLE IF NOT EXISTS upload_keys (key TEXT PRIMARY KEY, evidence_id TEXT NOT NULL);

-- Counting a submission's pending files after every job reads the index only.
CREATE INDEX IF NOT EXISTS evidence_submission_status ON evidence (submission_id, status);
CREATE INDEX IF NOT EXISTS evidence_status ON evidence (status, received_at);
CREATE INDEX IF NOT EXISTS evidence_sha256 ON evidence (sha256);

-- Keys that find the same document in other files (seller SIREN + invoice number).
CREATE TABLE IF NOT EXISTS evidence_keys (
    key TEXT NOT NULL,
    evidence_id TEXT NOT NULL,
    submission_id TEXT NOT NULL,
    PRIMARY KEY (key, evidence_id)
);

CREATE TABLE IF NOT EXISTS verifications (
    submission_id TEXT PRIMARY KEY,
    establishment TEXT NOT NULL,
    campaign TEXT NOT NULL,
    referential_version TEXT NOT NULL,
    basis TEXT NOT NULL,
    conclusions TEXT NOT NULL,
    verdict TEXT NOT NULL,
    pending BIGINT NOT NULL,
    computed_at TEXT NOT NULL,
    document TEXT NOT NULL,
    announced TEXT
);
CREATE INDEX IF NOT EXISTS verifications_verdict ON verifications (verdict, computed_at);

-- The head of the events' hash chain: the hash of the last event appended. Every
-- event-writing transaction updates this one row first, which serialises appends.
CREATE TABLE IF NOT EXISTS event_chain (id INTEGER PRIMARY KEY, last_hash TEXT NOT NULL);
INSERT INTO event_chain (id, last_hash) VALUES (1, '') ON CONFLICT DO NOTHING;
CREATE INDEX IF NOT EXISTS evidence_keys_evidence ON evidence_keys (evidence_id);

-- Each submission's owner, fixed by its first file (see `index/submissions.rs`).
CREATE TABLE IF NOT EXISTS submissions (
    submission_id TEXT PRIMARY KEY,
    establishment TEXT NOT NULL,
    campaign TEXT NOT NULL,
    created_at TEXT NOT NULL
);

-- Databases made before the table: each submission is its first file's.
INSERT INTO submissions (submission_id, establishment, campaign, created_at)
 SELECT e.submission_id, e.establishment, e.campaign, e.received_at FROM evidence e
 WHERE NOT EXISTS (SELECT 1 FROM submissions s WHERE s.submission_id = e.submission_id)
   AND NOT EXISTS (SELECT 1 FROM evidence f WHERE f.submission_id = e.submission_id
                   AND (f.received_at < e.received_at OR (f.received_at = e.received_at AND f.evidence_id < e.evidence_id)))
 ON CONFLICT (submission_id) DO NOTHING;

-- Local accounts and their credentials (only hashes), see `accounts.rs`.
CREATE TABLE IF NOT EXISTS accounts (
    name TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL,
    scope TEXT NOT NULL,
    password_hash TEXT,
    disabled BIGINT NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS credentials (
    token_sha256 TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    kind TEXT NOT NULL,
    label TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT
);

-- A password change, a disable and `account tokens` find an account's credentials.
CREATE INDEX IF NOT EXISTS credentials_account ON credentials (account);

-- Failures counted after the password check, replaced by `login_attempts`.
DROP TABLE IF EXISTS login_failures;

-- Log-in attempts counted per key, shared by every `serve` (see `logins.rs`).
CREATE TABLE IF NOT EXISTS login_attempts (
    key TEXT PRIMARY KEY,
    attempts BIGINT NOT NULL,
    window_start TEXT NOT NULL
);

-- The history: append-only, each event chained to the one before (`prev_hash`, `hash`).
CREATE TABLE IF NOT EXISTS evidence_events (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    evidence_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL,
    at TEXT NOT NULL,
    prev_hash TEXT,
    hash TEXT
);
CREATE INDEX IF NOT EXISTS evidence_events_evidence ON evidence_events (evidence_id, seq);

-- Every verification stored, append-only.
CREATE TABLE IF NOT EXISTS verification_history (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    submission_id TEXT NOT NULL,
    document TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS verification_history_submission ON verification_history (submission_id, seq);

-- Controllers' decisions, append-only.
CREATE TABLE IF NOT EXISTS decisions (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    submission_id TEXT NOT NULL,
    objective TEXT NOT NULL,
    document TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS decisions_submission ON decisions (submission_id, seq);

-- Messages for the broker, written with the change they carry (see `index/outbox.rs`).
CREATE TABLE IF NOT EXISTS outbox (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    topic TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL,
    claimed_until TEXT
);
CREATE INDEX IF NOT EXISTS outbox_claim ON outbox (claimed_until, seq);

-- Full text with the French configuration: stemming (`factures` finds `facture`) and
-- French stop words.
CREATE TABLE IF NOT EXISTS evidence_text (
    evidence_id TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    tsv tsvector GENERATED ALWAYS AS (to_tsvector('french', body)) STORED
);
CREATE INDEX IF NOT EXISTS evidence_text_tsv ON evidence_text USING GIN (tsv);

-- The history, verifications' history and decisions are append-only, whoever writes.
CREATE OR REPLACE FUNCTION caregate_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
 BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$;
DROP TRIGGER IF EXISTS evidence_events_append_only ON evidence_events;
CREATE TRIGGER evidence_events_append_only BEFORE UPDATE OR DELETE ON evidence_events
 FOR EACH ROW EXECUTE FUNCTION caregate_append_only();
DROP TRIGGER IF EXISTS verification_history_append_only ON verification_history;
CREATE TRIGGER verification_history_append_only BEFORE UPDATE OR DELETE ON verification_history
 FOR EACH ROW EXECUTE FUNCTION caregate_append_only();
DROP TRIGGER IF EXISTS decisions_append_only ON decisions;
CREATE TRIGGER decisions_append_only BEFORE UPDATE OR DELETE ON decisions
 FOR EACH ROW EXECUTE FUNCTION caregate_append_only();

-- A record names its submission's owner, or is refused: no mixed dossier, whoever
-- writes (check_violation, so it is a refusal, never a retry).
CREATE OR REPLACE FUNCTION caregate_submission_owner() RETURNS trigger LANGUAGE plpgsql AS $$
 BEGIN
   IF NOT EXISTS (SELECT 1 FROM submissions s WHERE s.submission_id = NEW.submission_id
                  AND s.establishment = NEW.establishment AND s.campaign = NEW.campaign) THEN
     RAISE EXCEPTION 'submission % belongs to another establishment or campaign', NEW.submission_id USING ERRCODE = '23514';
   END IF;
   RETURN NEW;
 END $$;
DROP TRIGGER IF EXISTS evidence_submission_owner ON evidence;
CREATE TRIGGER evidence_submission_owner BEFORE INSERT OR UPDATE OF submission_id, establishment, campaign ON evidence
 FOR EACH ROW EXECUTE FUNCTION caregate_submission_owner();
