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
//! application's wiring: the `caregate` binary opens the back ends and calls in.

#![forbid(unsafe_code)]

pub mod bag;
pub mod fixity;
pub mod package;
pub mod seda;
pub mod signatures;

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
