//! A referential: one domain's objectives as data (TOML), validated when loaded. A new
//! domain is a new file; the version that judged a submission is the file's SHA-256.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use caregate_schemas::{Kind, Verdict};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum ReferentialError {
    #[error("reading referential {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("referential {path}: {message}")]
    Parse { path: String, message: String },
    #[error("referential {path} is not valid:\n  - {}", problems.join("\n  - "))]
    Invalid { path: String, problems: Vec<String> },
    #[error("objective {objective} is not in referential {referential}")]
    UnknownObjective { referential: String, objective: String },
}

/// The programme window: work and invoices must fall inside it (both days included).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    pub start: NaiveDate,
    pub end: NaiveDate,
}

impl Window {
    pub fn contains(&self, d: NaiveDate) -> bool {
        self.start <= d && d <= self.end
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Parameters {
    pub target_anssi_level: u8,
    pub critical_cvss: f64,
    pub high_risk_ports: Vec<u16>,
}

/// A machine check an objective applies. Parameters come from [`Parameters`] unless the
/// rule states its own.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case", deny_unknown_fields)]
pub enum Rule {
    /// At least one evidence of an accepted kind; without, the objective is `otherwise`
    /// (`not_met` unless stated).
    EvidencePresent {
        #[serde(default)]
        otherwise: Option<Verdict>,
    },
    DateInWindow,
    DomainNamed,
    ReportReadable,
    IntegrityValid,
    /// The AD's ANSSI level, computed from a PingCastle report's rules, at least `level`
    /// (the target by default). A level a report only states (a consultancy's PDF) is
    /// the auditor's word, not a measurement: at or above the target it gives `stated`
    /// (`needs_review` unless stated: a controller confirms it; `not_met` refuses such
    /// statements); under the target it is enough to say not met.
    AnssiLevelAtLeast {
        #[serde(default)]
        level: Option<u8>,
        #[serde(default)]
        stated: Option<Verdict>,
    },
    ScanFinished,
    PublicHostScanned,
    NoHighRiskService,
    NoCriticalVulnerability,
    IdentifiersValid,
    /// HT + TVA = TTC on every invoice. Totals an OCR reading broke are a misreading
    /// as often as an error of the invoice: they give `ocr` (`needs_review` unless stated).
    TotalsConsistent {
        #[serde(default)]
        ocr: Option<Verdict>,
    },
    /// The financial report in force (the latest received that has rows with amounts)
    /// against the invoices; an invoice the report does not list gives `unreported`
    /// (`needs_review` unless stated).
    ReportMatchesInvoices {
        #[serde(default)]
        unreported: Option<Verdict>,
    },
    WithinCeiling,
    NoDuplicate,
    /// Every signature of the evidence holds: one that fails does not prove the
    /// objective; one that cannot be confirmed goes to a controller.
    SignaturesValid,
    /// Met only on an evidence carrying an electronic signature that holds (ETSI
    /// TOTAL-PASSED); unsigned or unconfirmed evidence gives `otherwise` (`needs_review`
    /// unless stated), with the question a controller answers.
    SignatureHolds {
        #[serde(default)]
        otherwise: Option<Verdict>,
    },
}

impl Rule {
    /// The verdicts a rule gives evidence weaker than it asks for: never `met`.
    fn fallbacks(&self) -> Vec<(&'static str, Verdict)> {
        match self {
            Rule::TotalsConsistent { ocr } => ocr.map(|v| ("ocr", v)).into_iter().collect(),
            Rule::ReportMatchesInvoices { unreported } => unreported.map(|v| ("unreported", v)).into_iter().collect(),
            Rule::SignatureHolds { otherwise } => otherwise.map(|v| ("otherwise", v)).into_iter().collect(),
            Rule::AnssiLevelAtLeast { stated, .. } => stated.map(|v| ("stated", v)).into_iter().collect(),
            _ => Vec::new(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Objective {
    pub id: String,
    /// French title, shown to establishments and controllers.
    pub title: String,
    /// Kinds of evidence that can prove it (`invoice`, `ad_audit_report`...).
    pub kinds: Vec<String>,
    pub rules: Vec<Rule>,
    /// Scans count only when they reached a public address: a scan of private addresses
    /// says nothing of what the internet sees (the objective is judged on the others,
    /// `no_public_host` when none is left).
    #[serde(default)]
    pub public_scans_only: bool,
}

impl Objective {
    pub fn accepts(&self, kind: Kind) -> bool {
        self.kinds.iter().any(|k| k == kind.as_str())
    }
}

/// The levels PingCastle gives one rule: the ANSSI checkpoint's (`RuleDurANSSI`), absent
/// when the rule is no ANSSI checkpoint, and PingCastle's own (`RuleMaturityLevel`). Both
/// absent (`{}`): a rule PingCastle knows but grades at neither level.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleLevels {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anssi: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maturity: Option<u8>,
}

impl RuleLevels {
    /// The level the rule gives the report's `MaturityLevel`: PingCastle's `RuleBase`
    /// takes the lower of the two, 5 (which lowers nothing) for a rule with neither.
    pub fn maturity(&self) -> u8 {
        self.anssi.into_iter().chain(self.maturity).min().unwrap_or(5)
    }
}

/// A PingCastle version as dotted numbers (`3.2.0.1`); `None` when it is not one.
pub fn pingcastle_version(v: &str) -> Option<Vec<u32>> {
    let parts: Option<Vec<u32>> = v.trim().split('.').map(|p| p.parse().ok()).collect();
    parts.filter(|p| !p.is_empty())
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Referential {
    pub id: String,
    pub title: String,
    pub window: Window,
    pub parameters: Parameters,
    /// Ceiling per establishment category, euros TTC.
    #[serde(default)]
    pub ceilings: BTreeMap<String, Decimal>,
    /// PingCastle's own levels of its rules, per PingCastle version (the lowest version
    /// the table holds for; generated from PingCastle's source by
    /// `scripts/pingcastle-levels.py`, not typed).
    #[serde(default)]
    pub pingcastle_levels: BTreeMap<String, BTreeMap<String, RuleLevels>>,
    pub objectives: Vec<Objective>,
    /// SHA-256 of the file it was read from.
    #[serde(skip)]
    pub version: String,
}

impl Referential {
    pub fn load(path: &Path) -> Result<Self, ReferentialError> {
        let name = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| ReferentialError::Io { path: name.clone(), source })?;
        Self::parse(&name, &bytes)
    }

    /// Reads and validates a referential; `name` only labels errors.
    pub fn parse(name: &str, bytes: &[u8]) -> Result<Self, ReferentialError> {
        let text = std::str::from_utf8(bytes).map_err(|e| ReferentialError::Parse { path: name.to_owned(), message: format!("not UTF-8: {e}") })?;
        let mut r: Referential = toml::from_str(text).map_err(|e| ReferentialError::Parse { path: name.to_owned(), message: e.to_string() })?;
        r.version = hex::encode(Sha256::digest(bytes));
        let problems = r.problems();
        if problems.is_empty() {
            Ok(r)
        } else {
            Err(ReferentialError::Invalid { path: name.to_owned(), problems })
        }
    }

    fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if self.id.trim().is_empty() {
            p.push("id is empty".to_owned());
        }
        if self.window.start > self.window.end {
            p.push(format!("window starts ({}) after it ends ({})", self.window.start, self.window.end));
        }
        if !(1..=5).contains(&self.parameters.target_anssi_level) {
            p.push(format!("target_anssi_level {} is not an ANSSI level (1 to 5)", self.parameters.target_anssi_level));
        }
        if !(0.0..=10.0).contains(&self.parameters.critical_cvss) {
            p.push(format!("critical_cvss {} is not a CVSS score (0 to 10)", self.parameters.critical_cvss));
        }
        for (version, rules) in &self.pingcastle_levels {
            if pingcastle_version(version).is_none() {
                p.push(format!("pingcastle_levels: {version:?} is not a PingCastle version (numbers and dots)"));
            }
            for (rule, levels) in rules {
                for (name, level) in [("anssi", levels.anssi), ("maturity", levels.maturity)] {
                    if let Some(l) = level.filter(|l| !(1..=5).contains(l)) {
                        p.push(format!("pingcastle_levels.{version}: {rule} {name} = {l} is not a level (1 to 5)"));
                    }
                }
            }
        }
        for (category, ceiling) in &self.ceilings {
            if ceiling.is_sign_negative() {
                p.push(format!("ceiling of {category} is negative"));
            }
        }
        if self.objectives.is_empty() {
            p.push("no objectives".to_owned());
        }
        let mut seen = HashSet::new();
        for o in &self.objectives {
            if !seen.insert(o.id.as_str()) {
                p.push(format!("objective {} is listed twice", o.id));
            }
            if o.kinds.is_empty() {
                p.push(format!("objective {} accepts no kind of evidence", o.id));
            }
            for k in &o.kinds {
                match Kind::parse(k) {
                    None => {
                        let known: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
                        p.push(format!("objective {}: unknown evidence kind {k:?} (known: {})", o.id, known.join(", ")));
                    }
                    Some(kind) if kind.proves_nothing() => p.push(format!("objective {}: a {k} proves nothing by itself, no objective accepts it", o.id)),
                    Some(_) => {}
                }
            }
            if o.rules.is_empty() {
                p.push(format!("objective {} has no rules", o.id));
            }
            for rule in &o.rules {
                if let Rule::AnssiLevelAtLeast { level: Some(l), .. } = rule {
                    if !(1..=5).contains(l) {
                        p.push(format!("objective {}: ANSSI level {l} is not 1 to 5", o.id));
                    }
                }
                for (field, verdict) in rule.fallbacks() {
                    if verdict == Verdict::Met {
                        p.push(format!("objective {}: {field} = \"met\" would say met on evidence the rule does not accept", o.id));
                    }
                }
            }
        }
        p
    }

    /// The table for a report of PingCastle `version`: the one of the highest version not
    /// above it. `None` for a report older than every table or stating no version: levels
    /// move between versions, and a newer table could grade its rules higher than its own
    /// engine did, so its rules are left unknown rather than guessed.
    pub fn pingcastle_table(&self, version: Option<&str>) -> Option<(&str, &BTreeMap<String, RuleLevels>)> {
        let wanted = pingcastle_version(version?)?;
        self.pingcastle_levels
            .iter()
            .filter_map(|(v, t)| pingcastle_version(v).map(|n| (n, v.as_str(), t)))
            .filter(|(n, ..)| *n <= wanted)
            .max_by(|a, b| a.0.cmp(&b.0))
            .map(|(_, v, t)| (v, t))
    }

    pub fn objective(&self, id: &str) -> Result<&Objective, ReferentialError> {
        self.objectives.iter().find(|o| o.id == id).ok_or_else(|| ReferentialError::UnknownObjective { referential: self.id.clone(), objective: id.to_owned() })
    }
}

/// The referentials a deployment judges with, one per campaign (a referential's `id` is
/// the campaign it judges, e.g. `care-d1-2024`).
#[derive(Clone, Debug, Default)]
pub struct Referentials {
    by_campaign: BTreeMap<String, std::sync::Arc<Referential>>,
}

/// The referentials shipped with caregate, used when no directory is configured.
const SHIPPED: &[(&str, &str)] = &[("care-d1-2024.toml", include_str!("../../schemas/referentials/care-d1-2024.toml"))];

impl Referentials {
    pub fn shipped() -> Result<Self, ReferentialError> {
        Self::from_files(SHIPPED.iter().map(|(name, text)| Referential::parse(name, text.as_bytes())))
    }

    /// Every `*.toml` file of `dir`; one bad file is an error (a deployment must not run
    /// with half its rules).
    pub fn load_dir(dir: &Path) -> Result<Self, ReferentialError> {
        let io = |source| ReferentialError::Io { path: dir.display().to_string(), source };
        let mut paths: Vec<_> =
            std::fs::read_dir(dir).map_err(io)?.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|x| x == "toml")).collect();
        paths.sort();
        if paths.is_empty() {
            return Err(ReferentialError::Invalid { path: dir.display().to_string(), problems: vec!["no referential (*.toml) in this directory".into()] });
        }
        Self::from_files(paths.iter().map(|p| Referential::load(p)))
    }

    fn from_files(files: impl Iterator<Item = Result<Referential, ReferentialError>>) -> Result<Self, ReferentialError> {
        let mut by_campaign = BTreeMap::new();
        for r in files {
            let r = r?;
            if by_campaign.contains_key(&r.id) {
                return Err(ReferentialError::Invalid { path: r.id.clone(), problems: vec![format!("two referentials have the id {}", r.id)] });
            }
            by_campaign.insert(r.id.clone(), std::sync::Arc::new(r));
        }
        Ok(Self { by_campaign })
    }

    pub fn for_campaign(&self, campaign: &str) -> Option<std::sync::Arc<Referential>> {
        self.by_campaign.get(campaign).cloned()
    }

    pub fn campaigns(&self) -> impl Iterator<Item = &str> {
        self.by_campaign.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped() -> Vec<u8> {
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/referentials/care-d1-2024.toml")).unwrap()
    }

    fn edited(from: &str, to: &str) -> Result<Referential, ReferentialError> {
        let text = String::from_utf8(shipped()).unwrap();
        assert!(text.contains(from), "{from}");
        Referential::parse("edited.toml", text.replacen(from, to, 1).as_bytes())
    }

    #[test]
    fn the_shipped_referential_loads() {
        let r = Referential::parse("care-d1-2024.toml", &shipped()).unwrap();
        assert_eq!(r.id, "care-d1-2024");
        assert_eq!(r.objectives.len(), 6);
        assert!(r.window.contains(NaiveDate::from_ymd_opt(2024, 6, 12).unwrap()));
        assert!(!r.window.contains(NaiveDate::from_ymd_opt(2024, 3, 17).unwrap()));
        assert!(r.parameters.high_risk_ports.contains(&3389));
        assert_eq!(r.version.len(), 64);
        assert!(r.objective("D1.FIN").unwrap().accepts(Kind::Invoice));
        assert!(r.objective("D1.EXP.REMED").unwrap().public_scans_only && !r.objective("D1.EXP.AUDIT").unwrap().public_scans_only);
        assert!(r.objective("D1.PRE").unwrap().rules.contains(&Rule::SignatureHolds { otherwise: Some(Verdict::NeedsReview) }));
        assert!(matches!(r.objective("D9.X"), Err(ReferentialError::UnknownObjective { .. })));
    }

    #[test]
    fn mistakes_are_reported_clearly() {
        let e = edited("kinds = [\"attestation\"]", "kinds = [\"attestaion\"]").unwrap_err().to_string();
        assert!(e.contains("unknown evidence kind \"attestaion\""), "{e}");
        // What accompanies the proofs is never one (issue #24).
        for kind in ["cover_letter", "quote", "purchase_order", "diagram", "slide_deck", "contract"] {
            let e = edited("kinds = [\"attestation\"]", &format!("kinds = [\"attestation\", \"{kind}\"]")).unwrap_err().to_string();
            assert!(e.contains(&format!("a {kind} proves nothing")), "{e}");
        }

        let e = edited("start = \"2024-03-18\"", "start = \"2024-13-18\"").unwrap_err().to_string();
        assert!(e.contains("edited.toml"), "{e}");

        let e = edited("{ rule = \"domain_named\" }", "{ rule = \"domain_nammed\" }").unwrap_err().to_string();
        assert!(e.contains("domain_nammed"), "{e}");

        let e = edited("start = \"2024-03-18\"", "start = \"2026-03-18\"").unwrap_err().to_string();
        assert!(e.contains("window starts"), "{e}");

        let e = edited("id = \"D1.AD.LEVEL\"", "id = \"D1.PRE\"").unwrap_err().to_string();
        assert!(e.contains("listed twice"), "{e}");

        let e = edited("\"S-Inactive\" = { anssi = 1 }", "\"S-Inactive\" = { anssi = 6 }").unwrap_err().to_string();
        assert!(e.contains("S-Inactive anssi = 6 is not a level"), "{e}");
        // A rule PingCastle grades at neither level is listed, known, with no level.
        let r = edited("\"S-Inactive\" = { anssi = 1 }", "\"S-Inactive\" = {}").unwrap();
        let neither = r.pingcastle_levels.values().find_map(|t| t.get("S-Inactive")).unwrap();
        assert_eq!((neither.anssi, neither.maturity()), (None, 5));
        let e = edited("[pingcastle_levels.\"", "[pingcastle_levels.\"v").unwrap_err().to_string();
        assert!(e.contains("is not a PingCastle version"), "{e}");

        let e =
            edited("{ rule = \"anssi_level_at_least\", stated = \"needs_review\" }", "{ rule = \"anssi_level_at_least\", level = 7 }").unwrap_err().to_string();
        assert!(e.contains("ANSSI level 7"), "{e}");

        // A rule's verdict for evidence weaker than it asks for is never "met".
        let e = edited("{ rule = \"signature_holds\", otherwise = \"needs_review\" }", "{ rule = \"signature_holds\", otherwise = \"met\" }")
            .unwrap_err()
            .to_string();
        assert!(e.contains("objective D1.PRE: otherwise = \"met\""), "{e}");
        let e = edited("unreported = \"needs_review\"", "unreported = \"met\"").unwrap_err().to_string();
        assert!(e.contains("objective D1.FIN: unreported = \"met\""), "{e}");
        let e = edited("ocr = \"needs_review\"", "ocr = \"met\"").unwrap_err().to_string();
        assert!(e.contains("objective D1.FIN: ocr = \"met\""), "{e}");
    }

    #[test]
    fn version_follows_the_content() {
        let a = Referential::parse("a", &shipped()).unwrap();
        let b = edited("target_anssi_level = 3", "target_anssi_level = 2").unwrap();
        assert_ne!(a.version, b.version);
        assert_eq!(b.parameters.target_anssi_level, 2);
    }
}
