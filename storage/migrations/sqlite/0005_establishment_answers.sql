-- Migration 5: what establishments do on their dossiers in their space (see
-- `index/establishments.rs`): answers to controllers' requests for information, and the
-- files they took out of a dossier (replaced or withdrawn; the files themselves are
-- kept until their retention is over). Both append-only, like decisions.
CREATE TABLE IF NOT EXISTS answers (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
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
CREATE TRIGGER IF NOT EXISTS answers_no_update BEFORE UPDATE ON answers
 BEGIN SELECT RAISE(ABORT, 'answers is append-only'); END;
CREATE TRIGGER IF NOT EXISTS answers_no_delete BEFORE DELETE ON answers
 BEGIN SELECT RAISE(ABORT, 'answers is append-only'); END;
CREATE TRIGGER IF NOT EXISTS withdrawals_no_update BEFORE UPDATE ON withdrawals
 BEGIN SELECT RAISE(ABORT, 'withdrawals is append-only'); END;
CREATE TRIGGER IF NOT EXISTS withdrawals_no_delete BEFORE DELETE ON withdrawals
 BEGIN SELECT RAISE(ABORT, 'withdrawals is append-only'); END;
