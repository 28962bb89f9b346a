//! PingCastle healthcheck reports (`ad_hc_<domain>.xml`): scores, maturity, risk rules,
//! and the report's own `IntegrityRules` recomputed to see whether rules were edited.
//!
//! PingCastle serialises `IntegrityRules` as an attribute of the root `HealthcheckData`
//! (`[XmlAttribute]` in its `HealthcheckData.cs`); some writers put it in a child element
//! instead, so both are read.

use caregate_schemas::FindingCode;
use std::io::BufRead;

use base64::Engine;
use sha2::{Digest, Sha256};

use super::{walk_rooted, XmlEvent};
use crate::{Budget, ExtractError, Limits};
use caregate_schemas::extracted::{AdAudit, Integrity, RiskRule, Scores};
use caregate_schemas::{Finding, Severity};

/// How PingCastle orders the rule ids it hashes: `List<string>.Sort()`, .NET's
/// culture-sensitive comparison (`ComputeIntegrity` in its `HealthcheckData.cs`), not
/// ordinal order. For ids of ASCII letters and digits that is: letters compared without
/// case first (digits before letters), and only strings equal but for case ordered by
/// it, lower case first. So `ADCLdapsChannelBinding` comes before `ADCLdapSign`, where
/// byte order puts `S` (0x53) before `s` (0x73).
pub fn dotnet_culture_order(a: &str, b: &str) -> std::cmp::Ordering {
    let fold = |s: &str| s.to_ascii_lowercase();
    fold(a).cmp(&fold(b)).then_with(|| {
        a.chars().zip(b.chars()).find(|(x, y)| x != y).map_or(a.len().cmp(&b.len()), |(x, y)| {
            // Same letter, other case: lower case first.
            x.is_ascii_uppercase().cmp(&y.is_ascii_uppercase())
        })
    })
}

/// PingCastle's integrity value: base64 of the SHA-256 of the triggered RiskIds with `-`
/// and `.` removed, sorted as PingCastle sorts them ([`dotnet_culture_order`]),
/// comma-joined.
pub fn integrity_of(rules: &[RiskRule]) -> String {
    integrity_sorted(rules, dotnet_culture_order)
}

fn integrity_sorted(rules: &[RiskRule], order: fn(&str, &str) -> std::cmp::Ordering) -> String {
    let mut ids: Vec<String> = rules.iter().map(|r| r.risk_id.replace(['-', '.'], "")).collect();
    ids.sort_by(|a, b| order(a, b));
    let digest = Sha256::digest(ids.join(",").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(digest)
}

/// Whether the stated value is the rules' own. Byte order is accepted beside .NET's:
/// it is the same set of rules in another order (some rewriters of the report sort so),
/// and what the check is for, a rule added or removed, changes the value in both.
fn integrity_matches(stated: &str, rules: &[RiskRule]) -> bool {
    let stated = stated.trim();
    stated == integrity_of(rules) || stated == integrity_sorted(rules, |a, b| a.cmp(b))
}

/// Whether PingCastle seals reports of this engine version and checks the seal when it
/// loads one: `CheckIntegrity` compares only when `EngineVersion` is above 3.0, as .NET
/// compares versions (a missing component ranks below 0, so `3.0.0.1` is above `3.0` and
/// `3.0` is not). An unreadable version is not assumed to seal.
pub fn engine_seals(engine_version: &str) -> bool {
    let Some(word) = engine_version.split_whitespace().next() else { return false };
    let parts: Option<Vec<i64>> = word.split('.').map(|p| p.parse::<u32>().ok().map(i64::from)).collect();
    match parts {
        // .NET's `Version` takes two to four components.
        Some(mut v) if (2..=4).contains(&v.len()) => {
            v.resize(4, -1);
            v.as_slice() > [3, 0, -1, -1].as_slice()
        }
        _ => false,
    }
}

/// What a controller must know of the report's seal: rules that no longer match it, or
/// no seal on a report from an engine that always writes one (PingCastle itself refuses
/// such a report as not verified).
pub fn seal_findings(audit: &AdAudit) -> Vec<Finding> {
    match audit.integrity {
        Integrity::Invalid => vec![Finding::new(
            FindingCode::IntegrityMismatch,
            Severity::Error,
            format!(
                "IntegrityRules ne correspond pas aux {} règles du rapport : elles ont été modifiées après leur écriture par PingCastle",
                audit.rules.len()
            ),
        )
        .at("integrity")],
        Integrity::Absent if audit.tool_version.as_deref().is_some_and(engine_seals) => vec![Finding::new(
            FindingCode::IntegrityAbsent,
            Severity::Warning,
            format!(
                "rapport de PingCastle {} sans IntegrityRules : cette version scelle toujours ses règles, le sceau a été retiré",
                audit.tool_version.as_deref().unwrap_or_default()
            ),
        )
        .at("integrity")],
        _ => Vec::new(),
    }
}

pub fn parse<R: BufRead>(input: R, limits: &Limits, budget: &Budget) -> Result<AdAudit, ExtractError> {
    let mut audit = AdAudit {
        tool: "PingCastle".into(),
        tool_version: None,
        domain: None,
        netbios_name: None,
        forest: None,
        date: None,
        scores: Scores::default(),
        maturity_level: None,
        anssi_level: None,
        rules: Vec::new(),
        integrity: Integrity::Absent,
    };
    // Every seal the report states: the root's attribute (PingCastle 3.x), a child
    // element (other writers). A report stating two must match both.
    let mut stated: Vec<String> = Vec::new();
    let mut rule = RiskRule::default();
    walk_rooted(input, limits, budget, &["HealthcheckData", "EncryptedData"], "a PingCastle report", |e| {
        match e {
            XmlEvent::Start(el) => {
                if el.path.len() == 1 {
                    if el.name() == "EncryptedData" {
                        return Err(ExtractError::EncryptedReport);
                    }
                    stated.extend(el.attr("IntegrityRules").map(str::to_owned));
                }
                if el.at(&["RiskRules", "HealthcheckRiskRule"]) {
                    rule = RiskRule::default();
                }
            }
            XmlEvent::End(el, text) => {
                let n = || text.parse::<u32>().ok();
                if el.path.len() == 2 {
                    match el.name() {
                        "IntegrityRules" => stated.push(text.to_owned()),
                        "EngineVersion" => audit.tool_version = Some(text.to_owned()),
                        "GenerationDate" => audit.date = Some(text.to_owned()),
                        "DomainFQDN" => audit.domain = Some(text.to_owned()),
                        "NetBIOSName" => audit.netbios_name = Some(text.to_owned()),
                        "ForestFQDN" => audit.forest = Some(text.to_owned()),
                        "GlobalScore" => audit.scores.global = n(),
                        "StaleObjectsScore" => audit.scores.stale_objects = n(),
                        "PrivilegiedGroupScore" => audit.scores.privileged_group = n(),
                        "TrustScore" => audit.scores.trust = n(),
                        "AnomalyScore" => audit.scores.anomaly = n(),
                        "MaturityLevel" => audit.maturity_level = n(),
                        _ => {}
                    }
                } else if el.path.len() == 4 && el.within("HealthcheckRiskRule") {
                    let value = Some(text.to_owned());
                    match el.name() {
                        "Points" => rule.points = n(),
                        "Category" => rule.category = value,
                        "Model" => rule.model = value,
                        "RiskId" => rule.risk_id = text.to_owned(),
                        "Rationale" => rule.rationale = value,
                        _ => {}
                    }
                } else if el.at(&["RiskRules", "HealthcheckRiskRule"]) && !rule.risk_id.is_empty() {
                    audit.rules.push(std::mem::take(&mut rule));
                }
            }
            XmlEvent::Text(_) => {}
        }
        Ok(())
    })?;
    audit.integrity = if stated.is_empty() {
        Integrity::Absent
    } else if stated.iter().all(|s| integrity_matches(s, &audit.rules)) {
        Integrity::Valid
    } else {
        Integrity::Invalid
    };
    Ok(audit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(ids: &[&str]) -> Vec<RiskRule> {
        ids.iter().map(|id| RiskRule { risk_id: (*id).to_owned(), ..RiskRule::default() }).collect()
    }

    #[test]
    fn rule_ids_sort_as_dotnet_sorts_them() {
        let mut ids = vec!["ADCLdapSign", "ADCLdapsChannelBinding", "PKerberoasting", "ADCSpooler", "SOSXP", "ADC2016", "Adc"];
        ids.sort_by(|a, b| dotnet_culture_order(a, b));
        assert_eq!(ids, ["Adc", "ADC2016", "ADCLdapsChannelBinding", "ADCLdapSign", "ADCSpooler", "PKerberoasting", "SOSXP"]);
        assert_eq!(dotnet_culture_order("abc", "ABC"), std::cmp::Ordering::Less, "case breaks ties only, lower first");
    }

    #[test]
    fn pingcastle_integrity_with_its_own_order() {
        // The value PingCastle writes: SHA-256 of "ADCLdapsChannelBinding,ADCLdapSign".
        let both = rules(&["A-DCLdapSign", "A-DCLdapsChannelBinding"]);
        let genuine = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(b"ADCLdapsChannelBinding,ADCLdapSign"));
        assert_eq!(integrity_of(&both), genuine);
        assert!(integrity_matches(&genuine, &both), "a report written by PingCastle verifies");
        let ordinal = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(b"ADCLdapSign,ADCLdapsChannelBinding"));
        assert!(integrity_matches(&ordinal, &both), "the same rules in byte order");
        assert!(!integrity_matches(&genuine, &rules(&["A-DCLdapSign"])), "a rule removed is seen");
        assert!(!integrity_matches(&genuine, &rules(&["A-DCLdapSign", "A-DCLdapsChannelBinding", "P-Kerberoasting"])), "a rule added is seen");
    }

    const RULE_IDS: [&str; 5] = ["P-Delegated", "A-DCLdapSign", "S-PwdNeverExpires", "A-LAPS-Not-Installed", "A-DCLdapsChannelBinding"];

    /// PingCastle's seal of [`RULE_IDS`], written out by hand as `ComputeIntegrity` builds
    /// it: ids without `-` and `.`, in .NET's culture order, comma-joined, SHA-256, base64.
    fn sealed() -> String {
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(b"ADCLdapsChannelBinding,ADCLdapSign,ALAPSNotInstalled,PDelegated,SPwdNeverExpires"))
    }

    /// A report as PingCastle writes it: `seal` where the writer puts it, rules in the
    /// order they were found (not sorted).
    fn report(engine: &str, root_seal: Option<&str>, element_seal: Option<&str>, ids: &[&str]) -> String {
        let attr = root_seal.map(|s| format!(" IntegrityRules=\"{s}\"")).unwrap_or_default();
        let rules: String = ids
            .iter()
            .map(|id| format!("<HealthcheckRiskRule><Points>10</Points><Category>Anomalies</Category><RiskId>{id}</RiskId></HealthcheckRiskRule>"))
            .collect();
        let element = element_seal.map(|s| format!("<IntegrityRules>{s}</IntegrityRules>")).unwrap_or_default();
        format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<HealthcheckData xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" \
             xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"{attr}>\n<EngineVersion>{engine}</EngineVersion>\n\
             <GenerationDate>2024-06-06T13:01:09.2643869+02:00</GenerationDate>\n<Level>Normal</Level>\n<MaturityLevel>2</MaturityLevel>\n\
             <DomainFQDN>ch-exemple.local</DomainFQDN>\n<GlobalScore>40</GlobalScore>\n<RiskRules>{rules}</RiskRules>\n{element}</HealthcheckData>\n"
        )
    }

    fn read(xml: &str) -> AdAudit {
        parse(xml.as_bytes(), &Limits::default(), &Budget::new(std::time::Duration::from_secs(10))).unwrap()
    }

    fn codes(audit: &AdAudit) -> Vec<FindingCode> {
        seal_findings(audit).into_iter().map(|f| f.code).collect()
    }

    #[test]
    fn a_3x_report_sealed_on_its_root_verifies_and_keeps_its_own_levels() {
        let audit = read(&report("3.2.0.1", Some(&sealed()), None, &RULE_IDS));
        assert_eq!(audit.integrity, Integrity::Valid);
        assert!(codes(&audit).is_empty());
        assert_eq!(audit.rules.len(), 5);
        assert_eq!(audit.maturity_level, Some(2), "the report's own MaturityLevel");
        assert_eq!(audit.tool_version.as_deref(), Some("3.2.0.1"));
        assert_eq!(audit.date.as_deref(), Some("2024-06-06T13:01:09.2643869+02:00"));
        // No rule triggered: the seal of the empty string.
        let none = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(b""));
        assert_eq!(read(&report("3.3.0.1", Some(&none), None, &[])).integrity, Integrity::Valid);
    }

    #[test]
    fn a_3x_report_with_one_rule_edited_does_not_verify() {
        let seal = sealed();
        let removed = read(&report("3.2.0.1", Some(&seal), None, &RULE_IDS[1..]));
        assert_eq!(removed.integrity, Integrity::Invalid, "a rule removed");
        assert_eq!(codes(&removed), [FindingCode::IntegrityMismatch]);
        assert_eq!(seal_findings(&removed)[0].severity, Severity::Error, "sends the file to a controller");
        let renamed = ["P-Kerberoasting", RULE_IDS[1], RULE_IDS[2], RULE_IDS[3], RULE_IDS[4]];
        assert_eq!(read(&report("3.2.0.1", Some(&seal), None, &renamed)).integrity, Integrity::Invalid, "a rule replaced by another");
        let added = [&RULE_IDS[..], &["S-SMB-v1"]].concat();
        assert_eq!(read(&report("3.2.0.1", Some(&seal), None, &added)).integrity, Integrity::Invalid, "a rule added");
        assert_eq!(read(&report("3.2.0.1", Some("a7F9k2LmPqX8vTz1R4sYbC0N3dE5gH6j"), None, &RULE_IDS)).integrity, Integrity::Invalid, "a made-up seal");
    }

    #[test]
    fn a_seal_in_an_element_is_read_too() {
        assert_eq!(read(&report("2.10.1.0", None, Some(&sealed()), &RULE_IDS)).integrity, Integrity::Valid);
        let edited = read(&report("2.10.1.0", None, Some(&sealed()), &RULE_IDS[..4]));
        assert_eq!(edited.integrity, Integrity::Invalid);
        assert_eq!(codes(&edited), [FindingCode::IntegrityMismatch]);
        // Stated twice, the two must hold.
        assert_eq!(read(&report("3.2.0.1", Some(&sealed()), Some("bm90IHRoZSBzZWFs"), &RULE_IDS)).integrity, Integrity::Invalid);
    }

    #[test]
    fn no_seal_is_a_finding_only_where_pingcastle_always_writes_one() {
        let stripped = read(&report("3.2.0.1", None, None, &RULE_IDS));
        assert_eq!(stripped.integrity, Integrity::Absent);
        assert_eq!(codes(&stripped), [FindingCode::IntegrityAbsent]);
        let old = read(&report("2.9.2.0", None, None, &RULE_IDS));
        assert_eq!(old.integrity, Integrity::Absent);
        assert!(codes(&old).is_empty(), "2.x reports were never sealed");
    }

    #[test]
    fn engine_versions_compare_as_dotnet_compares_them() {
        for (v, seals) in [
            ("3.2.0.1", true),
            ("3.0.0.1", true),
            ("3.0.0", true),
            ("3.0", false),
            ("2.11.0.0", false),
            ("10.0", true),
            ("3.5.0.40 beta", true),
            ("3", false),
            ("trois", false),
            ("", false),
        ] {
            assert_eq!(engine_seals(v), seals, "{v}");
        }
    }
}
