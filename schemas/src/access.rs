//! Who may do what: the four roles, the scope each is limited to, and the principal an
//! authenticated request acts as. Identity providers (local accounts and API tokens,
//! OpenID providers) all end in a [`Principal`], so authorisation never asks how someone
//! logged in.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// An establishment's staff: uploads and follows its own dossiers.
    Submitter,
    /// ANS/ARS: reviews what the machine flagged, in its regions or nationally.
    Controller,
    /// Retrieves, searches and exports stored evidence; decides nothing.
    Archivist,
    /// Runs the service: accounts and deletion after retention; reads no dossier.
    Admin,
}

named_enum!(Role, UnknownRole, "role", {
    Submitter => "submitter",
    Controller => "controller",
    Archivist => "archivist",
    Admin => "admin",
});

/// The establishments a principal's role applies to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case", tag = "kind", content = "values")]
pub enum Scope {
    /// Every establishment.
    #[default]
    National,
    /// Establishments of these regions (ISO 3166-2:FR codes without `FR-`: `IDF`, `ARA`...).
    Regions(Vec<String>),
    /// These establishments (FINESS numbers).
    Establishments(Vec<String>),
}

impl Scope {
    pub fn covers(&self, finess: &str) -> bool {
        match self {
            Scope::National => true,
            Scope::Regions(regions) => region_of_finess(finess).is_some_and(|r| regions.iter().any(|x| x.eq_ignore_ascii_case(r))),
            Scope::Establishments(list) => list.iter().any(|e| e == finess),
        }
    }
}

/// Why a scope makes no sense for a role.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    #[error("{} {role} must be scoped to {expected}, not to {given}", article(.role))]
    Mismatch { role: Role, given: &'static str, expected: &'static str },
    #[error("{} {role} scoped to {what} needs at least one", article(.role))]
    Empty { role: Role, what: &'static str },
    #[error("{0:?} is not a FINESS number (9 digits; 2A/2B first for Corsica)")]
    NotFiness(String),
    #[error("unknown region {0:?} (one of {known})", known = REGIONS.iter().map(|(r, _)| *r).collect::<Vec<_>>().join(", "))]
    UnknownRegion(String),
}

fn article(role: &Role) -> &'static str {
    match role {
        Role::Archivist | Role::Admin => "an",
        Role::Submitter | Role::Controller => "a",
    }
}

impl Scope {
    fn kind_name(&self) -> &'static str {
        match self {
            Scope::National => "the whole country",
            Scope::Regions(_) => "regions",
            Scope::Establishments(_) => "establishments",
        }
    }
}

impl Role {
    /// Whether `scope` makes sense for the role. A submitter speaks for named
    /// establishments, never a region (it would upload for establishments it does not
    /// know); controllers and archivists work on regions or the whole country, never on
    /// one establishment's dossiers alone; an admin runs the whole service. Lists are
    /// non-empty, of FINESS numbers or known region codes.
    pub fn check_scope(self, scope: &Scope) -> Result<(), ScopeError> {
        let expected = match self {
            Role::Submitter => "establishments (FINESS numbers)",
            Role::Controller | Role::Archivist => "regions or the whole country",
            Role::Admin => "the whole country",
        };
        let fits = matches!(
            (self, scope),
            (Role::Submitter, Scope::Establishments(_))
                | (Role::Controller | Role::Archivist, Scope::Regions(_) | Scope::National)
                | (Role::Admin, Scope::National)
        );
        if !fits {
            return Err(ScopeError::Mismatch { role: self, given: scope.kind_name(), expected });
        }
        match scope {
            Scope::National => Ok(()),
            Scope::Regions(regions) => {
                if regions.is_empty() {
                    return Err(ScopeError::Empty { role: self, what: "regions" });
                }
                match regions.iter().find(|r| !REGIONS.iter().any(|(known, _)| known.eq_ignore_ascii_case(r))) {
                    Some(unknown) => Err(ScopeError::UnknownRegion(unknown.clone())),
                    None => Ok(()),
                }
            }
            Scope::Establishments(list) => {
                if list.is_empty() {
                    return Err(ScopeError::Empty { role: self, what: "establishments" });
                }
                match list.iter().find(|e| !is_finess(e)) {
                    Some(bad) => Err(ScopeError::NotFiness(bad.clone())),
                    None => Ok(()),
                }
            }
        }
    }
}

/// A FINESS number's shape: 9 digits, or `2A`/`2B` then 7 digits for Corsica (the same
/// rule the intake applies to uploads).
pub fn is_finess(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 9 && b.iter().enumerate().all(|(i, c)| c.is_ascii_digit() || (i == 1 && b[0] == b'2' && matches!(c, b'A' | b'B')))
}

/// Someone authenticated: what every authorisation decision is made on, and what every
/// audit event names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Principal {
    /// Stable identifier within its issuer (the account name for local accounts, the
    /// `sub` claim for OIDC).
    pub subject: String,
    /// Who vouches for it: `local` (password or API token), or an OIDC issuer URL.
    pub issuer: String,
    pub display_name: String,
    pub role: Role,
    pub scope: Scope,
}

impl Principal {
    /// How audit events name the actor.
    pub fn actor(&self) -> String {
        if self.issuer == "local" {
            format!("{} ({})", self.subject, self.role)
        } else {
            format!("{}@{} ({})", self.subject, self.issuer, self.role)
        }
    }

    /// Whether the principal may act on this establishment's dossiers at all (its role
    /// says which actions).
    pub fn covers(&self, finess: &str) -> bool {
        self.scope.covers(finess)
    }
}

/// The département of a FINESS number: its first two characters (`2A`/`2B` for Corsica);
/// overseas numbers start with `97` and give the département's last digit in the fourth
/// character (`9704…` is La Réunion, 974).
pub fn departement_of_finess(finess: &str) -> Option<String> {
    let b = finess.as_bytes();
    if b.len() < 4 || !b.is_ascii() {
        return None;
    }
    let head = &finess[..2];
    if head == "97" {
        return b[3].is_ascii_digit().then(|| format!("97{}", b[3] as char));
    }
    (b[0].is_ascii_digit() && (b[1].is_ascii_digit() || matches!(b[1], b'A' | b'B'))).then(|| head.to_owned())
}

/// The region (ISO 3166-2:FR code) of a FINESS number's département, as since 2016.
pub fn region_of_finess(finess: &str) -> Option<&'static str> {
    let dep = departement_of_finess(finess)?;
    REGIONS.iter().find(|(_, deps)| deps.contains(&dep.as_str())).map(|(r, _)| *r)
}

/// Every region and its départements: what a controller's regional scope expands to.
pub const REGIONS: &[(&str, &[&str])] = &[
    ("ARA", &["01", "03", "07", "15", "26", "38", "42", "43", "63", "69", "73", "74"]),
    ("BFC", &["21", "25", "39", "58", "70", "71", "89", "90"]),
    ("BRE", &["22", "29", "35", "56"]),
    ("CVL", &["18", "28", "36", "37", "41", "45"]),
    ("COR", &["2A", "2B"]),
    ("GES", &["08", "10", "51", "52", "54", "55", "57", "67", "68", "88"]),
    ("HDF", &["02", "59", "60", "62", "80"]),
    ("IDF", &["75", "77", "78", "91", "92", "93", "94", "95"]),
    ("NOR", &["14", "27", "50", "61", "76"]),
    ("NAQ", &["16", "17", "19", "23", "24", "33", "40", "47", "64", "79", "86", "87"]),
    ("OCC", &["09", "11", "12", "30", "31", "32", "34", "46", "48", "65", "66", "81", "82"]),
    ("PDL", &["44", "49", "53", "72", "85"]),
    ("PAC", &["04", "05", "06", "13", "83", "84"]),
    ("GUA", &["971"]),
    ("MTQ", &["972"]),
    ("GUF", &["973"]),
    ("LRE", &["974"]),
    ("MAY", &["976"]),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finess_numbers_find_their_region() {
        assert_eq!(region_of_finess("750000001"), Some("IDF"));
        assert_eq!(region_of_finess("2A0000012"), Some("COR"));
        assert_eq!(region_of_finess("970421038"), Some("LRE"));
        assert_eq!(region_of_finess("690781810"), Some("ARA"));
        assert_eq!(region_of_finess("99"), None);
        assert_eq!(region_of_finess("é90000000"), None);
        let all: usize = REGIONS.iter().map(|(_, d)| d.len()).sum();
        assert_eq!(all, 101, "96 metropolitan and 5 overseas départements");
    }

    #[test]
    fn each_role_takes_only_the_scopes_that_make_sense() {
        let est = |list: &[&str]| Scope::Establishments(list.iter().map(|s| s.to_string()).collect());
        let reg = |list: &[&str]| Scope::Regions(list.iter().map(|s| s.to_string()).collect());
        assert_eq!(Role::Submitter.check_scope(&est(&["750000001", "2A0000022"])), Ok(()));
        assert!(matches!(Role::Submitter.check_scope(&reg(&["IDF"])), Err(ScopeError::Mismatch { given: "regions", .. })));
        assert!(matches!(Role::Submitter.check_scope(&Scope::National), Err(ScopeError::Mismatch { .. })));
        assert_eq!(Role::Submitter.check_scope(&est(&[])), Err(ScopeError::Empty { role: Role::Submitter, what: "establishments" }));
        for bad in ["75000001", "7500000011", "75000000A", "3A0000001", "2C0000001", "75000000١", ""] {
            assert_eq!(Role::Submitter.check_scope(&est(&["750000001", bad])), Err(ScopeError::NotFiness(bad.into())), "{bad:?}");
        }
        for role in [Role::Controller, Role::Archivist] {
            assert_eq!(role.check_scope(&reg(&["IDF", "ara"])), Ok(()), "{role}");
            assert_eq!(role.check_scope(&Scope::National), Ok(()), "{role}");
            assert!(matches!(role.check_scope(&est(&["750000001"])), Err(ScopeError::Mismatch { given: "establishments", .. })), "{role}");
            assert_eq!(role.check_scope(&reg(&["IDF", "XYZ"])), Err(ScopeError::UnknownRegion("XYZ".into())), "{role}");
            assert!(matches!(role.check_scope(&reg(&[])), Err(ScopeError::Empty { .. })), "{role}");
        }
        assert_eq!(Role::Admin.check_scope(&Scope::National), Ok(()));
        assert!(matches!(Role::Admin.check_scope(&reg(&["IDF"])), Err(ScopeError::Mismatch { .. })));
        assert!(matches!(Role::Admin.check_scope(&est(&["750000001"])), Err(ScopeError::Mismatch { .. })));
        let refusal = Role::Controller.check_scope(&est(&["750000001"])).unwrap_err().to_string();
        assert_eq!(refusal, "a controller must be scoped to regions or the whole country, not to establishments");
        assert!(ScopeError::UnknownRegion("XYZ".into()).to_string().contains("IDF"), "the refusal lists the known codes");
        assert_eq!(
            Role::Admin.check_scope(&Scope::Regions(vec!["IDF".into()])).unwrap_err().to_string(),
            "an admin must be scoped to the whole country, not to regions"
        );
    }

    #[test]
    fn scopes_cover_what_they_name() {
        let idf = Scope::Regions(vec!["IDF".into()]);
        assert!(idf.covers("750000001"));
        assert!(!idf.covers("690781810"));
        assert!(Scope::National.covers("690781810"));
        let one = Scope::Establishments(vec!["750000001".into()]);
        assert!(one.covers("750000001") && !one.covers("750000002"));
    }
}
