-- Migration 3: the controllers' queue and who holds which dossier (see
-- `index/review.rs`).
--
-- One row per objective of each current verification, as decided (the controllers'
-- decisions laid over the machine's verdicts), written with the verification or the
-- decision in their transaction: the queue is paged, sorted and filtered here, and the
-- campaign's dashboard is aggregate queries over it. Filled once from the verifications
-- already there when the index starts (`fill_review_items`).
CREATE TABLE IF NOT EXISTS review_items (
    submission_id TEXT NOT NULL,
    objective TEXT NOT NULL,
    title TEXT NOT NULL,
    establishment TEXT NOT NULL,
    region TEXT NOT NULL,
    campaign TEXT NOT NULL,
    machine_verdict TEXT NOT NULL,
    verdict TEXT NOT NULL,
    awaiting BIGINT NOT NULL,
    decided BIGINT NOT NULL,
    codes TEXT NOT NULL,
    computed_at TEXT NOT NULL,
    PRIMARY KEY (submission_id, objective)
);
CREATE INDEX IF NOT EXISTS review_items_awaiting ON review_items (awaiting, computed_at);
CREATE INDEX IF NOT EXISTS review_items_region ON review_items (region, objective, verdict);

-- Who holds a dossier in the console (« je prends ce dossier »): at most one controller;
-- each take and release is an event of the audit chain under the submission's id.
CREATE TABLE IF NOT EXISTS assignments (
    submission_id TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    since TEXT NOT NULL
);
