-- Migration 5: what establishments do on their dossiers in their space (see
-- `index/establishments.rs`): answers to controllers' requests for information, and the
-- files they took out of a dossier (replaced or withdrawn; the files themselves are
-- kept until their retention is over). Both append-only, like decisions.
CREATE TABLE IF NOT EXISTS answers (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    submission_id TEXT NOT NULL,
    objective TEXT NOT NULL,
    document TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS answers_submission ON answers (submission_id, seq);
CREATE TABLE IF NOT EXISTS withdrawals (
    evidence_id TEXT PRIMARY KEY,
    submission_id TEXT NOT NULL,
    document TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS withdrawals_submission ON withdrawals (submission_id);
DROP TRIGGER IF EXISTS answers_append_only ON answers;
CREATE TRIGGER answers_append_only BEFORE UPDATE OR DELETE ON answers
 FOR EACH ROW EXECUTE FUNCTION caregate_append_only();
DROP TRIGGER IF EXISTS withdrawals_append_only ON withdrawals;
CREATE TRIGGER withdrawals_append_only BEFORE UPDATE OR DELETE ON withdrawals
 FOR EACH ROW EXECUTE FUNCTION caregate_append_only();
