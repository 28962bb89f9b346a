-- Migration 6: the establishments' own identifiers (see `index/establishments.rs`): the
-- SIREN and SIRET numbers given for an establishment at upload or by a controller. It is
-- the buyer on the invoices it submits, so these are never taken as a seller's. Kept as
-- changes, append-only: an upload adds, a controller sets (replaces what was known);
-- what is known now is the last setting and every addition after it.
CREATE TABLE IF NOT EXISTS establishment_identifiers (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    finess TEXT NOT NULL,
    document TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS establishment_identifiers_finess ON establishment_identifiers (finess, seq);
DROP TRIGGER IF EXISTS establishment_identifiers_append_only ON establishment_identifiers;
CREATE TRIGGER establishment_identifiers_append_only BEFORE UPDATE OR DELETE ON establishment_identifiers
 FOR EACH ROW EXECUTE FUNCTION caregate_append_only();
