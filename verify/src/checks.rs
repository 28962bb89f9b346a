//! Checks on one piece of evidence, from the kind and fields its reading produced and the
//! referential's parameters. Each failure is a finding with a stable code and a pointer
//! to the field that decided it. Facts that only matter for an objective as a whole (an
//! exposed port on a scan that a later scan may show closed) are recorded as `info`; the
//! objective's verdict weighs them.

use caregate_schemas::{Finding, Severity};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde_json::Value;
use std::str::FromStr;

use crate::identifiers::{siren_valid, siret_valid, vat_id_valid};
use crate::Referential;

pub(crate) fn text<'a>(fields: &'a Value, key: &str) -> Option<&'a str> {
    fields.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

pub(crate) fn amount(fields: &Value, key: &str) -> Option<Decimal> {
    text(fields, key).and_then(|s| Decimal::from_str(s).ok())
}

/// The date part of `2024-06-03`, `2024-06-03T09:41:12+02:00`, `Mon Sep 16 14:00:00 2024`.
pub(crate) fn date_of(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s.get(..10)?, "%Y-%m-%d")
        .ok()
        .or_else(|| chrono::NaiveDateTime::parse_from_str(s.trim(), "%a %b %e %H:%M:%S %Y").ok().map(|d| d.date()))
}

fn finding(code: &str, severity: Severity, field: &str, message: String) -> Finding {
    Finding::new(code, severity, message).at(field)
}

/// The field that dates an evidence of this kind, and the date it holds, when it has one.
pub fn evidence_date<'a>(kind: &str, fields: &'a Value) -> Option<(&'static str, &'a str, NaiveDate)> {
    let field = match kind {
        "invoice" | "credit_note" | "quote" | "purchase_order" => "issue_date",
        "exposure_scan" | "vulnerability_scan" => "started",
        _ => "date",
    };
    let raw = text(fields, field)?;
    Some((field, raw, date_of(raw)?))
}

fn window_check(r: &Referential, field: &str, value: Option<&str>, what: &str, out: &mut Vec<Finding>) {
    match value.and_then(date_of) {
        Some(d) if !r.window.contains(d) => out.push(finding(
            "date_outside_window",
            Severity::Warning,
            field,
            format!("{what} du {} hors de la période du programme ({} – {})", d.format("%d/%m/%Y"), r.window.start.format("%d/%m/%Y"), r.window.end.format("%d/%m/%Y")),
        )),
        Some(_) => {}
        None => out.push(finding("date_missing", Severity::Warning, field, format!("{what} : date absente ou illisible"))),
    }
}

/// The findings of one evidence of `kind` with these `fields`.
pub fn check_evidence(r: &Referential, kind: &str, fields: &Value) -> Vec<Finding> {
    let mut out = Vec::new();
    match kind {
        "invoice" | "credit_note" => {
            window_check(r, "issue_date", text(fields, "issue_date"), "Facture", &mut out);
            if let Some(siret) = text(fields, "seller_siret") {
                if !siret_valid(siret) {
                    out.push(finding("siret_invalid", Severity::Warning, "seller_siret", format!("SIRET du vendeur {siret} invalide (clé de contrôle)")));
                }
            } else if let Some(siren) = text(fields, "seller_siren") {
                if !siren_valid(siren) {
                    out.push(finding("siret_invalid", Severity::Warning, "seller_siren", format!("SIREN du vendeur {siren} invalide (clé de contrôle)")));
                }
            }
            if let Some(vat) = text(fields, "vat_id") {
                if !vat_id_valid(vat) {
                    out.push(finding("vat_id_invalid", Severity::Warning, "vat_id", format!("numéro de TVA {vat} invalide (clé)")));
                }
            }
            match (amount(fields, "total_ht"), amount(fields, "total_tva"), amount(fields, "total_ttc")) {
                (Some(ht), Some(tva), Some(ttc)) if ht + tva != ttc => out.push(finding(
                    "totals_inconsistent",
                    Severity::Warning,
                    "total_ttc",
                    format!("HT {ht} + TVA {tva} = {} ≠ TTC {ttc}", ht + tva),
                )),
                (_, _, None) => out.push(finding("totals_missing", Severity::Warning, "total_ttc", "montant TTC absent".into())),
                _ => {}
            }
        }
        "financial_report" => {
            let rows = fields.get("rows").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
            let sum = |col: &str| -> Option<Decimal> {
                rows.iter().map(|row| row.get(col).and_then(Value::as_str).and_then(|s| Decimal::from_str(s).ok())).sum()
            };
            let listed = fields.get("row_count").and_then(Value::as_u64).unwrap_or(0) as usize == rows.len();
            if let (Some(stated), Some(sum), true) = (fields.pointer("/totals/ttc").and_then(Value::as_str).and_then(|s| Decimal::from_str(s).ok()), sum("ttc"), listed) {
                if stated != sum {
                    out.push(finding("report_mismatch", Severity::Warning, "totals.ttc", format!("total TTC annoncé {stated} ≠ somme des lignes {sum}")));
                }
            }
            for (i, row) in rows.iter().enumerate() {
                if let Some(siret) = row.get("siret").and_then(Value::as_str).filter(|s| !s.is_empty()) {
                    if !siret_valid(siret) {
                        out.push(finding("siret_invalid", Severity::Warning, &format!("rows.{i}.siret"), format!("SIRET {siret} invalide (ligne {})", i + 1)));
                    }
                }
            }
        }
        "ad_audit_report" if fields.get("tool").and_then(Value::as_str) == Some("PingCastle") => {
            window_check(r, "date", text(fields, "date"), "Audit AD", &mut out);
            if text(fields, "domain").is_none() {
                out.push(finding("domain_missing", Severity::Warning, "domain", "le rapport ne nomme pas de domaine".into()));
            }
        }
        "exposure_scan" | "vulnerability_scan" if fields.get("tool").is_some() => {
            window_check(r, "started", text(fields, "started"), "Scan", &mut out);
            if fields.get("completed").and_then(Value::as_bool) == Some(false) {
                out.push(finding("scan_unfinished", Severity::Warning, "completed", "le scan ne s'est pas terminé".into()));
            }
            for (h, host) in fields.get("hosts").and_then(Value::as_array).into_iter().flatten().enumerate() {
                let address = host.get("address").and_then(Value::as_str).unwrap_or("?");
                for (p, port) in host.get("open_ports").and_then(Value::as_array).into_iter().flatten().enumerate() {
                    let n = port.get("port").and_then(Value::as_u64).unwrap_or(0);
                    if r.parameters.high_risk_ports.iter().any(|&hr| u64::from(hr) == n) {
                        let service = port.get("service").and_then(Value::as_str).unwrap_or("?");
                        out.push(finding(
                            "high_risk_service_exposed",
                            Severity::Info,
                            &format!("hosts.{h}.open_ports.{p}"),
                            format!("service à risque exposé : {address} port {n} ({service})"),
                        ));
                    }
                }
            }
            for (i, item) in fields.get("items").and_then(Value::as_array).into_iter().flatten().enumerate() {
                let cvss = item.get("cvss").and_then(Value::as_f64);
                let critical = item.get("severity").and_then(Value::as_u64) == Some(4) || cvss.is_some_and(|c| c >= r.parameters.critical_cvss);
                if critical {
                    let name = item.get("name").and_then(Value::as_str).unwrap_or("?");
                    let host = item.get("host").and_then(Value::as_str).unwrap_or("?");
                    out.push(finding("critical_vulnerability", Severity::Info, &format!("items.{i}"), format!("vulnérabilité critique sur {host} : {name}")));
                }
            }
        }
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::path::Path;

    fn referential() -> Referential {
        Referential::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/referentials/care-d1-2024.toml")).unwrap()
    }

    fn codes(f: &[Finding]) -> Vec<&str> {
        f.iter().map(|f| f.code.as_str()).collect()
    }

    #[test]
    fn invoices() {
        let r = referential();
        let good = json!({"issue_date": "2024-06-12", "seller_siret": "73282932000074", "vat_id": "FR44732829320",
                          "total_ht": "8400.00", "total_tva": "1680.00", "total_ttc": "10080.00"});
        assert!(check_evidence(&r, "invoice", &good).is_empty());
        let bad = json!({"issue_date": "2023-12-01", "seller_siret": "73282932000075", "vat_id": "FR40732829320",
                         "total_ht": "8400.00", "total_tva": "1680.00", "total_ttc": "10080.01"});
        let found = check_evidence(&r, "invoice", &bad);
        assert_eq!(codes(&found), ["date_outside_window", "siret_invalid", "vat_id_invalid", "totals_inconsistent"]);
        assert_eq!(found[3].pointer.as_deref(), Some("total_ttc"));
    }

    #[test]
    fn scans_and_reports() {
        let r = referential();
        let scan = json!({"tool": "nmap", "started": "2024-05-02T09:10:00+00:00", "completed": true,
            "hosts": [{"address": "192.0.2.10", "open_ports": [{"port": 443, "service": "https"}, {"port": 3389, "service": "ms-wbt-server"}]}]});
        let found = check_evidence(&r, "exposure_scan", &scan);
        assert_eq!(codes(&found), ["high_risk_service_exposed"]);
        assert!(found[0].message.contains("192.0.2.10 port 3389"), "{}", found[0].message);

        let report = json!({"row_count": 2, "rows": [{"ttc": "10080.00", "siret": "73282932000074"}, {"ttc": "3000.00", "siret": "44306184100047"}],
                            "totals": {"ttc": "13080.00"}});
        assert!(check_evidence(&r, "financial_report", &report).is_empty());
        let off = json!({"row_count": 1, "rows": [{"ttc": "10080.00"}], "totals": {"ttc": "13080.00"}});
        assert_eq!(codes(&check_evidence(&r, "financial_report", &off)), ["report_mismatch"]);

        let audit = json!({"tool": "PingCastle", "date": "2024-06-03T09:41:12.0000000+02:00"});
        assert_eq!(codes(&check_evidence(&r, "ad_audit_report", &audit)), ["domain_missing"]);
    }
}
