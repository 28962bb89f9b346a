//! Judging evidence against a programme's objectives. The objectives live in data
//! ([`referential`], one TOML file per domain under `schemas/referentials/`), validated
//! when loaded; [`identifiers`] holds the checks of French company identifiers that the
//! financial rules use.
//!
//! This crate is the foundation of the verification stage (issue #4): the verdicts per
//! objective, their storage and the reports build on it.

pub mod identifiers;
pub mod referential;

pub use referential::{Objective, Parameters, Referential, ReferentialError, Rule, Window};
