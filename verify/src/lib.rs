//! Judging evidence against a programme's objectives. The objectives live in data
//! ([`referential`], one TOML file per domain under `schemas/referentials/`), validated
//! when loaded; [`checks`] judges one piece of evidence from its extracted fields (each
//! failure a finding with a stable code and the field behind it); [`identifiers`] holds
//! the checks of French company identifiers.
//!
//! This crate is the foundation of the verification stage (issue #4): the verdicts per
//! objective, their storage and the reports build on it.

pub mod checks;
pub mod identifiers;
pub mod referential;

pub use referential::{Objective, Parameters, Referential, ReferentialError, Rule, Window};
