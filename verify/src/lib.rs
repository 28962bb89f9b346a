//! Judging evidence against a programme's objectives. The objectives live in data
//! ([`referential`], one TOML file per domain under `schemas/referentials/`), validated
//! when loaded; [`checks`] judges one piece of evidence from its extracted fields (each
//! failure a finding with a stable code and the field behind it); [`judge`] turns a whole
//! submission's records into a verdict per objective with its reasons; [`identifiers`]
//! holds the checks of French company identifiers.
//!
//! It reads the typed fields of `caregate_schemas::extracted` and depends on no reader:
//! the judge compiles without a PDF or spreadsheet parser.
//!
//! Everything here works on stored records, never on files: a submission is judged again
//! under a changed referential without scanning or parsing anything.

#![forbid(unsafe_code)]

pub mod checks;
pub mod establishment;
pub mod identifiers;
pub mod judge;
pub mod referential;
pub mod report;

pub use establishment::set_aside_establishment_identifiers;
pub use judge::{dossiers_sharing_invoices, judge, Dossier};
pub use referential::{Objective, Parameters, Referential, ReferentialError, Referentials, Rule, Window};
