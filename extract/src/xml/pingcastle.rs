//! PingCastle healthcheck reports (`ad_hc_<domain>.xml`): scores, maturity, risk rules,
//! and the report's own `IntegrityRules` recomputed to see whether rules were edited.

use std::io::BufRead;

use base64::Engine;
use sha2::{Digest, Sha256};

use super::{walk_rooted, XmlEvent};
use crate::{Budget, ExtractError, Limits};
use caregate_schemas::extracted::{AdAudit, Integrity, RiskRule, Scores};

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
    let mut stated_integrity: Option<String> = None;
    let mut rule = RiskRule::default();
    walk_rooted(input, limits, budget, &["HealthcheckData", "EncryptedData"], "a PingCastle report", |e| {
        match e {
            XmlEvent::Start(el) => {
                if el.path.len() == 1 && el.name() == "EncryptedData" {
                    return Err(ExtractError::EncryptedReport);
                }
                if el.at(&["RiskRules", "HealthcheckRiskRule"]) {
                    rule = RiskRule::default();
                }
            }
            XmlEvent::End(el, text) => {
                let n = || text.parse::<u32>().ok();
                if el.name() == "IntegrityRules" {
                    stated_integrity = Some(text.to_owned());
                } else if el.path.len() == 2 {
                    match el.name() {
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
    audit.integrity = match stated_integrity {
        None => Integrity::Absent,
        Some(s) if integrity_matches(&s, &audit.rules) => Integrity::Valid,
        Some(_) => Integrity::Invalid,
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
}
