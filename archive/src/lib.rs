//! The archivists' side of caregate: what leaves it to be kept for years and what
//! proves, years later, that it is still what was received. A submission written as a
//! signed BagIt bag ([`bag`]) or as a SEDA 2.3 transfer for the public archives
//! ([`seda`]), both built on what every package carries ([`package`]) and each checked
//! offline as an archivist would; the fixity check of every stored object ([`fixity`]);
//! the PDF signatures of a dossier validated again with today's trust anchors
//! ([`signatures`]).
//!
//! Everything here works on the back ends it is lent ([`Stores`]: the index and the
//! evidence store) and on its own configuration ([`ArchiveConfig`]), never on the
//! application's wiring: the `caregate` binary opens the back ends and calls in. Errors
//! are typed, one enum per operation ([`ExportError`], [`RevalidateError`],
//! [`KeyError`]; fixity fails only with the store's own error); the packages' own checks
//! ([`bag::check`], [`seda::check`]) return every problem found rather than the first.

#![forbid(unsafe_code)]

pub mod bag;
pub mod fixity;
pub mod package;
pub mod seda;
pub mod signatures;
pub mod signing;

#[cfg(test)]
mod on_embedded_stores;

pub use package::{ExportError, RecordsError};
pub use signatures::RevalidateError;
pub use signing::KeyError;

use std::path::PathBuf;

use caregate_storage::{Backends, EvidenceIndex, ObjectStore};
use serde::{Deserialize, Serialize};

/// The back ends archive work goes through: the index (records and their history) and
/// the evidence store (the bytes kept). Borrowed: a command opens them once and lends
/// them; nothing here needs the quarantine, the queue or the accounts.
#[derive(Clone, Copy)]
pub struct Stores<'a> {
    pub index: &'a dyn EvidenceIndex,
    pub evidence: &'a dyn ObjectStore,
}

impl<'a> Stores<'a> {
    pub fn of(backends: &'a Backends) -> Self {
        Self { index: backends.index.as_ref(), evidence: backends.evidence.as_ref() }
    }
}

/// What archivists' exports need (`[archive]`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ArchiveConfig {
    /// File holding the Ed25519 key (64 hex digits) that signs export packages
    /// (`caregate keygen FILE` makes one).
    pub signing_key: Option<PathBuf>,
    /// Transfers to public archives (`caregate export --format seda`).
    pub seda: seda::SedaConfig,
}

impl ArchiveConfig {
    /// Every value an export could not work with, each naming its key (`; ` between
    /// them).
    pub fn validate(&self) -> Result<(), String> {
        self.seda.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_configuration_is_valid() {
        ArchiveConfig::default().validate().unwrap();
    }

    #[test]
    fn every_identifier_empty_or_spaced_is_named_by_its_key() {
        let mut config = ArchiveConfig::default();
        config.seda.archival_agency = String::new();
        config.seda.access_rule = "REGLE COMMUNICABILITE".into();
        config.seda.archival_agreement = Some("contrat\tversement".into());
        let problems = config.validate().unwrap_err();
        assert_eq!(
            problems,
            "archive.seda.archival_agency must be a non-empty identifier without spaces (got \"\"); \
             archive.seda.access_rule must be a non-empty identifier without spaces (got \"REGLE COMMUNICABILITE\"); \
             archive.seda.archival_agreement must be a non-empty identifier without spaces (got \"contrat\\tversement\")"
        );
        config.seda = seda::SedaConfig { archival_agreement: Some("CONTRAT-2024".into()), ..Default::default() };
        config.validate().unwrap();
    }

    #[test]
    fn unknown_keys_are_refused_at_every_level() {
        let read = |json: &str| serde_json::from_str::<ArchiveConfig>(json);
        let config = read(r#"{"signing_key": "/etc/caregate/archive.key", "seda": {"final_action": "Destroy", "access_years": 25}}"#).unwrap();
        assert_eq!((config.seda.final_action, config.seda.access_years), (seda::FinalAction::Destroy, 25));
        assert_eq!(config.seda.archival_agency, "ARCHIVES", "what is not given keeps its default");
        assert!(read(r#"{"signing_keys": "/etc/caregate/archive.key"}"#).unwrap_err().to_string().contains("unknown field `signing_keys`"));
        assert!(read(r#"{"seda": {"archival_agence": "AD75"}}"#).unwrap_err().to_string().contains("unknown field `archival_agence`"));
        assert!(read(r#"{"seda": {"final_action": "Transfer"}}"#).is_err(), "a final action SEDA does not know");
    }
}
