//! The typed data each kind of evidence carries into the record's `fields`.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Serialize;

/// Where an invoice's fields were read from, most trustworthy first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceSource {
    /// The CII XML embedded in a Factur-X / ZUGFeRD PDF.
    Facturx,
    Cii,
    Ubl,
    /// French field patterns in the document's text.
    Text,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Invoice {
    pub number: Option<String>,
    /// UNTDID 1001 document type: 380 invoice, 381 credit note, 384 corrected invoice...
    pub type_code: Option<String>,
    pub issue_date: Option<NaiveDate>,
    pub seller_name: Option<String>,
    pub seller_siret: Option<String>,
    pub seller_siren: Option<String>,
    pub vat_id: Option<String>,
    pub total_ht: Option<Decimal>,
    pub total_tva: Option<Decimal>,
    pub total_ttc: Option<Decimal>,
    pub currency: Option<String>,
    /// Factur-X profile (minimum, basicwl, basic, en16931, extended).
    pub profile: Option<String>,
    pub source: InvoiceSource,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Scores {
    pub global: Option<u32>,
    pub stale_objects: Option<u32>,
    pub privileged_group: Option<u32>,
    pub trust: Option<u32>,
    pub anomaly: Option<u32>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RiskRule {
    pub risk_id: String,
    pub category: Option<String>,
    pub model: Option<String>,
    pub points: Option<u32>,
    pub rationale: Option<String>,
}

/// Whether a PingCastle report's `IntegrityRules` matches its own rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Integrity {
    Valid,
    Invalid,
    Absent,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AdAudit {
    pub tool: String,
    pub tool_version: Option<String>,
    pub domain: Option<String>,
    pub netbios_name: Option<String>,
    pub forest: Option<String>,
    /// Generation date as the report states it (ISO 8601).
    pub date: Option<String>,
    pub scores: Scores,
    pub maturity_level: Option<u32>,
    /// ANSSI level (ORADAD results); PingCastle states a maturity level only.
    pub anssi_level: Option<u32>,
    pub rules: Vec<RiskRule>,
    pub integrity: Integrity,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OpenPort {
    pub port: u32,
    pub protocol: String,
    pub service: Option<String>,
    pub product: Option<String>,
    pub version: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Host {
    pub address: String,
    pub hostnames: Vec<String>,
    pub open_ports: Vec<OpenPort>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct BySeverity {
    pub critical: u32,
    pub high: u32,
    pub medium: u32,
    pub low: u32,
    pub info: u32,
}

impl BySeverity {
    /// Counts one finding by its severity on the 0–4 scale Nessus uses.
    pub fn add_level(&mut self, level: u8) {
        match level {
            4.. => self.critical += 1,
            3 => self.high += 1,
            2 => self.medium += 1,
            1 => self.low += 1,
            0 => self.info += 1,
        }
    }

    /// Counts one finding by its CVSS score (CVSS v3 bands).
    pub fn add_cvss(&mut self, score: f64) {
        self.add_level(match score {
            s if s >= 9.0 => 4,
            s if s >= 7.0 => 3,
            s if s >= 4.0 => 2,
            s if s > 0.0 => 1,
            _ => 0,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Vulnerability {
    pub host: String,
    pub port: Option<String>,
    /// Plugin id (Nessus) or NVT OID (OpenVAS).
    pub id: String,
    pub name: String,
    /// 0 info … 4 critical.
    pub severity: u8,
    pub cvss: Option<f64>,
    pub cves: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Scan {
    pub tool: String,
    pub tool_version: Option<String>,
    pub started: Option<String>,
    pub finished: Option<String>,
    /// nmap: `runstats/finished/@exit` was `success`.
    pub completed: Option<bool>,
    pub hosts: Vec<Host>,
    pub host_count: usize,
    pub vulnerabilities: Option<BySeverity>,
    /// Findings of severity low and above (capped; the counts above are complete).
    pub items: Vec<Vulnerability>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ExpenseRow {
    /// Row of the sheet (or line of the CSV file) it was read from, counted from 1.
    pub line: Option<u32>,
    pub number: Option<String>,
    pub date: Option<NaiveDate>,
    pub supplier: Option<String>,
    pub siret: Option<String>,
    pub ht: Option<Decimal>,
    pub tva: Option<Decimal>,
    pub ttc: Option<Decimal>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Totals {
    pub ht: Option<Decimal>,
    pub tva: Option<Decimal>,
    pub ttc: Option<Decimal>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct FinancialReport {
    pub sheet: Option<String>,
    pub columns: Vec<String>,
    pub rows: Vec<ExpenseRow>,
    pub row_count: usize,
    pub totals: Totals,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Attestation {
    pub signed: bool,
    pub date: Option<NaiveDate>,
    /// The first sentences of the text.
    pub summary: String,
}
