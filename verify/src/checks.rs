//! Checks on one piece of evidence, from the kind and fields its reading produced and the
//! referential's parameters. Each failure is a finding with a stable code and a pointer
//! to the field that decided it. Facts that only matter for an objective as a whole (an
//! exposed port on a scan that a later scan may show closed) are recorded as `info`; the
//! objective's verdict weighs them.

use caregate_schemas::extracted::{Content, Fields, Scan};
use caregate_schemas::FindingCode;
use caregate_schemas::{Finding, Kind, Severity};
use chrono::NaiveDate;

use crate::identifiers::{siren_valid, siret_valid, vat_id_valid};
use crate::Referential;

/// The date part of `2024-06-03`, `2024-06-03T09:41:12+02:00`, `Mon Sep 16 14:00:00 2024`.
pub(crate) fn date_of(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s.get(..10)?, "%Y-%m-%d")
        .ok()
        .or_else(|| chrono::NaiveDateTime::parse_from_str(s.trim(), "%a %b %e %H:%M:%S %Y").ok().map(|d| d.date()))
}

fn finding(code: FindingCode, severity: Severity, field: &str, message: String) -> Finding {
    Finding::new(code, severity, message).at(field)
}

/// The field that dates an evidence, and the date it holds, when it has one: an
/// invoice's issue date, a scan's start, an audit's or an attestation's date.
pub fn evidence_date(fields: &Fields) -> Option<(&'static str, NaiveDate)> {
    match &fields.content {
        Content::Invoice(i) => Some(("issue_date", i.issue_date?)),
        Content::Scan(s) => Some(("started", date_of(s.started.as_deref()?)?)),
        Content::AdAudit(a) => Some(("date", date_of(a.date.as_deref()?)?)),
        Content::Attestation(a) => Some(("date", a.date?)),
        _ => None,
    }
}

fn window_check(r: &Referential, field: &str, value: Option<NaiveDate>, what: &str, out: &mut Vec<Finding>) {
    match value {
        Some(d) if !r.window.contains(d) => out.push(finding(
            FindingCode::DateOutsideWindow,
            Severity::Warning,
            field,
            format!(
                "{what} du {} hors de la période du programme ({} – {})",
                d.format("%d/%m/%Y"),
                r.window.start.format("%d/%m/%Y"),
                r.window.end.format("%d/%m/%Y")
            ),
        )),
        Some(_) => {}
        None => out.push(finding(FindingCode::DateMissing, Severity::Warning, field, format!("{what} : date absente ou illisible"))),
    }
}

/// Whether a vulnerability scan item is critical under the referential: severity 4, or
/// a CVSS score at or above its threshold.
pub(crate) fn is_critical(r: &Referential, item: &caregate_schemas::extracted::Vulnerability) -> bool {
    item.severity == 4 || item.cvss.is_some_and(|c| c >= r.parameters.critical_cvss)
}

/// The findings of one evidence of `kind` with these `fields`.
pub fn check_evidence(r: &Referential, kind: Kind, fields: &Fields) -> Vec<Finding> {
    let mut out = Vec::new();
    match (kind, &fields.content) {
        (Kind::Invoice | Kind::CreditNote, content) => {
            let invoice = match content {
                Content::Invoice(i) => Some(i),
                _ => None,
            };
            window_check(r, "issue_date", invoice.and_then(|i| i.issue_date), "Facture", &mut out);
            let given = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
            if let Some(siret) = invoice.and_then(|i| given(&i.seller_siret)) {
                if !siret_valid(&siret) {
                    out.push(finding(
                        FindingCode::SiretInvalid,
                        Severity::Warning,
                        "seller_siret",
                        format!("SIRET du vendeur {siret} invalide (clé de contrôle)"),
                    ));
                }
            } else if let Some(siren) = invoice.and_then(|i| given(&i.seller_siren)) {
                if !siren_valid(&siren) {
                    out.push(finding(
                        FindingCode::SiretInvalid,
                        Severity::Warning,
                        "seller_siren",
                        format!("SIREN du vendeur {siren} invalide (clé de contrôle)"),
                    ));
                }
            }
            if let Some(vat) = invoice.and_then(|i| given(&i.vat_id)) {
                if !vat_id_valid(&vat) {
                    out.push(finding(FindingCode::VatIdInvalid, Severity::Warning, "vat_id", format!("numéro de TVA {vat} invalide (clé)")));
                }
            }
            match invoice.map(|i| (i.total_ht, i.total_tva, i.total_ttc)).unwrap_or_default() {
                (Some(ht), Some(tva), Some(ttc)) if ht + tva != ttc => out.push(finding(
                    FindingCode::TotalsInconsistent,
                    Severity::Warning,
                    "total_ttc",
                    format!("HT {ht} + TVA {tva} = {} ≠ TTC {ttc}", ht + tva),
                )),
                (_, _, None) => out.push(finding(FindingCode::TotalsMissing, Severity::Warning, "total_ttc", "montant TTC absent".into())),
                _ => {}
            }
        }
        (Kind::FinancialReport, Content::FinancialReport(report)) => {
            let sum: Option<rust_decimal::Decimal> = report.rows.iter().map(|row| row.ttc).sum();
            let listed = report.row_count == report.rows.len();
            if let (Some(stated), Some(sum), true) = (report.totals.ttc, sum, listed) {
                if stated != sum {
                    out.push(finding(
                        FindingCode::ReportMismatch,
                        Severity::Warning,
                        "totals.ttc",
                        format!("total TTC annoncé {stated} ≠ somme des lignes {sum}"),
                    ));
                }
            }
            for (i, row) in report.rows.iter().enumerate() {
                if let Some(siret) = row.siret.as_deref().filter(|s| !s.is_empty()) {
                    if !siret_valid(siret) {
                        out.push(finding(
                            FindingCode::SiretInvalid,
                            Severity::Warning,
                            &format!("rows.{i}.siret"),
                            format!("SIRET {siret} invalide (ligne {})", i + 1),
                        ));
                    }
                }
            }
        }
        (Kind::AdAuditReport, Content::AdAudit(audit)) if audit.tool == "PingCastle" => {
            window_check(r, "date", audit.date.as_deref().and_then(date_of), "Audit AD", &mut out);
            if audit.domain.as_deref().is_none_or(str::is_empty) {
                out.push(finding(FindingCode::DomainMissing, Severity::Warning, "domain", "le rapport ne nomme pas de domaine".into()));
            }
        }
        (Kind::ExposureScan | Kind::VulnerabilityScan, Content::Scan(scan)) => check_scan(r, scan, &mut out),
        _ => {}
    }
    out
}

fn check_scan(r: &Referential, scan: &Scan, out: &mut Vec<Finding>) {
    window_check(r, "started", scan.started.as_deref().and_then(date_of), "Scan", out);
    if scan.completed == Some(false) {
        out.push(finding(FindingCode::ScanUnfinished, Severity::Warning, "completed", "le scan ne s'est pas terminé".into()));
    }
    for (h, host) in scan.hosts.iter().enumerate() {
        for (p, port) in host.open_ports.iter().enumerate() {
            if r.parameters.high_risk_ports.iter().any(|&hr| u32::from(hr) == port.port) {
                let service = port.service.as_deref().unwrap_or("?");
                out.push(finding(
                    FindingCode::HighRiskServiceExposed,
                    Severity::Info,
                    &format!("hosts.{h}.open_ports.{p}"),
                    format!("service à risque exposé : {} port {} ({service})", host.address, port.port),
                ));
            }
        }
    }
    for (i, item) in scan.items.iter().enumerate().filter(|(_, item)| is_critical(r, item)) {
        out.push(finding(
            FindingCode::CriticalVulnerability,
            Severity::Info,
            &format!("items.{i}"),
            format!("vulnérabilité critique sur {} : {}", item.host, item.name),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::path::Path;

    fn referential() -> Referential {
        Referential::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/referentials/care-d1-2024.toml")).unwrap()
    }

    fn codes(f: &[Finding]) -> Vec<FindingCode> {
        f.iter().map(|f| f.code).collect()
    }

    /// Fields as a record stores them (JSON), read back typed.
    fn fields(v: serde_json::Value) -> Fields {
        serde_json::from_value(v).expect("fields")
    }

    #[test]
    fn invoices() {
        let r = referential();
        let good =
            fields(json!({"content": "invoice", "source": "text", "issue_date": "2024-06-12", "seller_siret": "73282932000074", "vat_id": "FR44732829320",
                          "total_ht": "8400.00", "total_tva": "1680.00", "total_ttc": "10080.00"}));
        assert!(check_evidence(&r, Kind::Invoice, &good).is_empty());
        let bad =
            fields(json!({"content": "invoice", "source": "text", "issue_date": "2023-12-01", "seller_siret": "73282932000075", "vat_id": "FR40732829320",
                         "total_ht": "8400.00", "total_tva": "1680.00", "total_ttc": "10080.01"}));
        let found = check_evidence(&r, Kind::Invoice, &bad);
        assert_eq!(codes(&found), [FindingCode::DateOutsideWindow, FindingCode::SiretInvalid, FindingCode::VatIdInvalid, FindingCode::TotalsInconsistent]);
        assert_eq!(found[3].pointer.as_deref(), Some("total_ttc"));
    }

    #[test]
    fn scans_and_reports() {
        let r = referential();
        let scan = fields(json!({"content": "scan", "tool": "nmap", "started": "2024-05-02T09:10:00+00:00", "completed": true, "host_count": 1, "items": [],
            "hosts": [{"address": "192.0.2.10", "hostnames": [], "open_ports": [{"port": 443, "protocol": "tcp", "service": "https"}, {"port": 3389, "protocol": "tcp", "service": "ms-wbt-server"}]}]}));
        let found = check_evidence(&r, Kind::ExposureScan, &scan);
        assert_eq!(codes(&found), [FindingCode::HighRiskServiceExposed]);
        assert!(found[0].message.contains("192.0.2.10 port 3389"), "{}", found[0].message);

        let report = fields(
            json!({"content": "financial_report", "columns": [], "row_count": 2, "rows": [{"ttc": "10080.00", "siret": "73282932000074"}, {"ttc": "3000.00", "siret": "44306184100047"}],
                            "totals": {"ttc": "13080.00"}}),
        );
        assert!(check_evidence(&r, Kind::FinancialReport, &report).is_empty());
        let off = fields(json!({"content": "financial_report", "columns": [], "row_count": 1, "rows": [{"ttc": "10080.00"}], "totals": {"ttc": "13080.00"}}));
        assert_eq!(codes(&check_evidence(&r, Kind::FinancialReport, &off)), [FindingCode::ReportMismatch]);

        let audit = fields(
            json!({"content": "ad_audit", "tool": "PingCastle", "date": "2024-06-03T09:41:12.0000000+02:00", "scores": {}, "rules": [], "integrity": "valid"}),
        );
        assert_eq!(codes(&check_evidence(&r, Kind::AdAuditReport, &audit)), [FindingCode::DomainMissing]);
    }
}
