//! PingCastle healthcheck reports (`ad_hc_<domain>.xml`): scores, maturity, risk rules,
//! and the report's own `IntegrityRules` recomputed to see whether rules were edited.

use std::io::BufRead;

use base64::Engine;
use sha2::{Digest, Sha256};

use super::{walk_rooted, XmlEvent};
use crate::{Budget, ExtractError, Limits};
use caregate_schemas::extracted::{AdAudit, Integrity, RiskRule, Scores};

/// PingCastle's integrity value: base64 of the SHA-256 of the triggered RiskIds, sorted,
/// comma-joined, with `-` and `.` removed.
pub fn integrity_of(rules: &[RiskRule]) -> String {
    let mut ids: Vec<String> = rules.iter().map(|r| r.risk_id.replace(['-', '.'], "")).collect();
    ids.sort();
    let digest = Sha256::digest(ids.join(",").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(digest)
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
        Some(s) if s.trim() == integrity_of(&audit.rules) => Integrity::Valid,
        Some(_) => Integrity::Invalid,
    };
    Ok(audit)
}
