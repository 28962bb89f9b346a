//! French conventions in evidence text: amounts (`1 234,56 €`, `12.500,00`), dates
//! (`12/06/2024`, `12 juin 2024`), SIRET/SIREN and VAT numbers, and the invoice fields a
//! plain-text invoice states. Amounts are exact decimals, never floats.

use std::str::FromStr;
use std::sync::LazyLock;

use chrono::NaiveDate;
use regex::Regex;
use rust_decimal::Decimal;

use caregate_schemas::extracted::Invoice;

/// An amount as written by a French (or English) invoice: spaces, non-breaking spaces,
/// dots or apostrophes as thousands separators, a comma or a dot as decimal mark, an
/// optional currency sign or code. `None` when the text is not one amount.
pub fn parse_amount(text: &str) -> Option<Decimal> {
    let mut s: String = text
        .trim()
        .trim_end_matches(['€', '$'])
        .trim_end_matches("EUR")
        .trim_start_matches('€')
        .trim()
        .chars()
        .filter(|c| !matches!(c, ' ' | '\u{a0}' | '\u{202f}' | '\'' | '\u{2019}'))
        .collect();
    let negative = s.starts_with('-') || (s.starts_with('(') && s.ends_with(')'));
    s = s.trim_matches(|c| c == '-' || c == '+' || c == '(' || c == ')').to_owned();
    if s.is_empty() || !s.chars().all(|c| c.is_ascii_digit() || c == ',' || c == '.') {
        return None;
    }
    let last_comma = s.rfind(',');
    let last_dot = s.rfind('.');
    let normalized = match (last_comma, last_dot) {
        // Both: the last one is the decimal mark.
        (Some(c), Some(d)) if c > d => s.replace('.', "").replace(',', "."),
        (Some(_), Some(_)) => s.replace(',', ""),
        // Several commas group thousands ("1,234,567"); one is the French decimal mark.
        (Some(_), None) if s.matches(',').count() > 1 => s.replace(',', ""),
        (Some(_), None) => s.replace(',', "."),
        (None, Some(d)) => {
            // "12.500" or "1.234.567": dots grouping thousands; "12.50": decimal mark.
            let groups: Vec<&str> = s.split('.').collect();
            if groups.len() > 2 || (s.len() - d - 1 == 3 && groups[0].len() <= 3 && groups.len() == 2 && !groups[0].is_empty() && groups[0] != "0") {
                s.replace('.', "")
            } else {
                s
            }
        }
        (None, None) => s,
    };
    let value = Decimal::from_str(&normalized).ok()?;
    Some(if negative { -value } else { value })
}

/// Month names as folded (lower case, no accents): French first, then English, German and
/// Dutch, as real invoices print them; abbreviations match by prefix (3 letters or more).
const MONTHS: &[(&str, u32)] = &[
    ("janvier", 1),
    ("fevrier", 2),
    ("mars", 3),
    ("avril", 4),
    ("mai", 5),
    ("juin", 6),
    ("juillet", 7),
    ("aout", 8),
    ("septembre", 9),
    ("octobre", 10),
    ("novembre", 11),
    ("decembre", 12),
    ("fevr", 2),
    ("dec", 12),
    ("january", 1),
    ("february", 2),
    ("march", 3),
    ("april", 4),
    ("may", 5),
    ("june", 6),
    ("july", 7),
    ("august", 8),
    ("september", 9),
    ("october", 10),
    ("november", 11),
    ("december", 12),
    ("januar", 1),
    ("februar", 2),
    ("marz", 3),
    ("maerz", 3),
    ("juni", 6),
    ("juli", 7),
    ("oktober", 10),
    ("dezember", 12),
    ("januari", 1),
    ("februari", 2),
    ("maart", 3),
    ("mei", 5),
    ("augustus", 8),
];

static NUMERIC_DATE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\b(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})\b").unwrap());
static ISO_DATE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\b(\d{4})-(\d{2})-(\d{2})\b").unwrap());
static WORD_DATE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?i)\b(\d{1,2})(?:er|\.)?\s+([a-zéèûôä]{3,9})\.?\s+(\d{4})\b").unwrap());
/// English order: `August 3, 2014`, `Aug 3 , 2014`.
static MONTH_FIRST_DATE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?i)\b([a-z]{3,9})\.?\s+(\d{1,2})(?:st|nd|rd|th)?\s*,\s*(\d{4})\b").unwrap());

/// Lower case without accents, for matching French words however they were typed.
pub fn fold(text: &str) -> String {
    text.chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'à' | 'â' | 'ä' => 'a',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'î' | 'ï' => 'i',
            'ô' | 'ö' => 'o',
            'ù' | 'û' | 'ü' => 'u',
            'ç' => 'c',
            '\u{a0}' | '\u{202f}' => ' ',
            '’' => '\'',
            c => c,
        })
        .collect()
}

/// The first date in `text`: `dd/mm/yyyy` (also `-` and `.`), `yyyy-mm-dd` or
/// `12 juin 2024` / `1er juin 2024`.
pub fn parse_date(text: &str) -> Option<NaiveDate> {
    all_dates(text).into_iter().next().map(|(_, d)| d)
}

/// Every date in `text` with its byte offset, in order.
pub fn all_dates(text: &str) -> Vec<(usize, NaiveDate)> {
    let mut found = Vec::new();
    for c in NUMERIC_DATE.captures_iter(text) {
        let (d, m, y) = (c[1].parse().ok(), c[2].parse().ok(), c[3].parse().ok());
        if let (Some(d), Some(m), Some(y)) = (d, m, y) {
            if let Some(date) = NaiveDate::from_ymd_opt(y, m, d) {
                found.push((c.get(0).unwrap().start(), date));
            }
        }
    }
    for c in ISO_DATE.captures_iter(text) {
        let (y, m, d) = (c[1].parse().ok(), c[2].parse().ok(), c[3].parse().ok());
        if let (Some(y), Some(m), Some(d)) = (y, m, d) {
            if let Some(date) = NaiveDate::from_ymd_opt(y, m, d) {
                found.push((c.get(0).unwrap().start(), date));
            }
        }
    }
    let month_of = |name: &str| {
        let month = fold(name);
        MONTHS.iter().find(|(n, _)| month == *n).or_else(|| MONTHS.iter().find(|(n, _)| month.len() >= 3 && n.starts_with(&month))).map(|&(_, m)| m)
    };
    for c in WORD_DATE.captures_iter(text) {
        let Some(m) = month_of(&c[2]) else { continue };
        if let (Ok(d), Ok(y)) = (c[1].parse(), c[3].parse()) {
            if let Some(date) = NaiveDate::from_ymd_opt(y, m, d) {
                found.push((c.get(0).unwrap().start(), date));
            }
        }
    }
    for c in MONTH_FIRST_DATE.captures_iter(text) {
        let Some(m) = month_of(&c[1]) else { continue };
        if let (Ok(d), Ok(y)) = (c[2].parse(), c[3].parse()) {
            if let Some(date) = NaiveDate::from_ymd_opt(y, m, d) {
                found.push((c.get(0).unwrap().start(), date));
            }
        }
    }
    found.sort_by_key(|(at, _)| *at);
    found
}

/// A date in the CII/UBL formats: `20240612` (format 102) or `2024-06-12`.
pub fn parse_compact_date(text: &str) -> Option<NaiveDate> {
    let t = text.trim();
    // CII format 203 (`202003311232`, with the time) and 204 (with seconds): the date first.
    let t = if t.len() > 8 && t.len() <= 14 && t.bytes().all(|b| b.is_ascii_digit()) { &t[..8] } else { t };
    NaiveDate::parse_from_str(t, "%Y%m%d").or_else(|_| NaiveDate::parse_from_str(t, "%Y-%m-%d")).ok().or_else(|| parse_date(t))
}

static SIRET: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\bSIRET\s*(?:n[°o]\s*)?:?\s*(\d{3}[ \u{a0}]?\d{3}[ \u{a0}]?\d{3}[ \u{a0}]?\d{5})\b").unwrap());
static SIREN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\b(?:SIREN|RCS [A-Za-zé\- ]+?)\s*(?:n[°o]\s*)?:?\s*(\d{3}[ \u{a0}]?\d{3}[ \u{a0}]?\d{3})\b").unwrap());
static VAT_ID: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\b(FR[ \u{a0}]?[0-9A-HJ-NP-Z]{2}[ \u{a0}]?\d{3}[ \u{a0}]?\d{3}[ \u{a0}]?\d{3})\b").unwrap());

fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_alphanumeric).collect()
}

/// The SIRET stated after a `SIRET` label (14 digits, spaces removed).
pub fn find_siret(text: &str) -> Option<String> {
    SIRET.captures(text).map(|c| digits(&c[1]))
}

/// The SIREN stated after a `SIREN` or `RCS <ville>` label.
pub fn find_siren(text: &str) -> Option<String> {
    SIREN.captures(text).map(|c| digits(&c[1]))
}

/// An intra-community VAT number (`FR` + key + SIREN).
/// Another country's VAT id, only where a VAT label names it (`UStId DE 232 446 240`,
/// `VAT No: GB123456789`), and not the buyer's (`Uw BTW nummer`, `your VAT number`).
static LABELLED_FOREIGN_VAT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(.{0,12})\b(?:ust-?id(?:-?nr)?\.?|vat(?:[ -](?:no\.?|number|reg(?:istration)?\.?(?: no\.?)?|id))?|btw[ -]?(?:nummer|nr\.?|id)?|iva|p\.? ?iva|n° tva|tva intracommunautaire)\s*:?\s*((?:AT|BE|BG|CY|CZ|DE|DK|EE|EL|ES|FI|HR|HU|IE|IT|LT|LU|LV|MT|NL|PL|PT|RO|SE|SI|SK|XI|GB|CH)[ \u{a0}]?[0-9A-Z](?:[ \u{a0}]?[0-9A-Z]){6,13})").unwrap()
});

pub fn find_vat_id(text: &str) -> Option<String> {
    VAT_ID.captures(text).map(|c| digits(&c[1])).or_else(|| {
        LABELLED_FOREIGN_VAT.captures_iter(text).find_map(|c| {
            let before = fold(&c[1]);
            let buyer = ["uw ", "your", "votre", "client", "kunde", "customer", "acheteur", "ihre"].iter().any(|w| before.contains(w));
            let id = digits(&c[2]).to_ascii_uppercase();
            // A VAT id is mostly digits: `DE Deutsche Bank` is not one.
            (!buyer && id.chars().filter(char::is_ascii_digit).count() >= 6).then_some(id)
        })
    })
}

/// An amount at the end of a line: `1 234,56 €`, `12.500,00 EUR`, `-150,00`.
static SIGNED_AT: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?i)\bfait\s+(?:à|a)\s+[^,\n]{1,40},?\s+le\s+").unwrap());

/// The date of "Fait à Lyon, le 30 septembre 2024", the usual close of an attestation.
pub fn signing_date(text: &str) -> Option<NaiveDate> {
    SIGNED_AT.find_iter(text).find_map(|m| {
        let head: String = text[m.end()..].chars().take(24).collect();
        all_dates(&head).into_iter().find(|(at, _)| *at == 0).map(|(_, d)| d)
    })
}

/// An invoice's fields from its running text (see [`crate::invoice_text`]).
pub fn invoice_from_text(text: &str) -> Invoice {
    crate::invoice_text::invoice_from_text(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str_exact(s).unwrap()
    }

    #[test]
    fn french_amounts_are_exact() {
        assert_eq!(parse_amount("1 234,56 €"), Some(dec("1234.56")));
        assert_eq!(parse_amount("1\u{202f}234,56\u{a0}€"), Some(dec("1234.56")));
        assert_eq!(parse_amount("12.500,00"), Some(dec("12500.00")));
        assert_eq!(parse_amount("12 500"), Some(dec("12500")));
        assert_eq!(parse_amount("1,234.56"), Some(dec("1234.56")));
        assert_eq!(parse_amount("0,1"), Some(dec("0.1")));
        assert_eq!(parse_amount("12.50"), Some(dec("12.50")));
        assert_eq!(parse_amount("-150,00 EUR"), Some(dec("-150.00")));
        assert_eq!(parse_amount("abc"), None);
        assert_eq!(parse_amount(""), None);
        // 0.1 + 0.2 is exact here.
        assert_eq!(parse_amount("0,1").unwrap() + parse_amount("0,2").unwrap(), dec("0.3"));
    }

    #[test]
    fn french_dates() {
        let d = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        assert_eq!(parse_date("Date : 12/06/2024"), Some(d(2024, 6, 12)));
        assert_eq!(parse_date("émise le 1er juin 2024"), Some(d(2024, 6, 1)));
        assert_eq!(parse_date("le 3 Février 2025"), Some(d(2025, 2, 3)));
        assert_eq!(parse_date("le 17 août 2024"), Some(d(2024, 8, 17)));
        assert_eq!(parse_date("31/02/2024"), None);
        assert_eq!(parse_compact_date("20240612"), Some(d(2024, 6, 12)));
    }

    #[test]
    fn invoice_text_fields() {
        let text = "Cyberdéfense Santé SAS\n12 rue de la Paix, 75002 Paris\nSIRET : 552 100 554 00025\nTVA intracommunautaire : FR40 552100554\n\nFACTURE N° FA-2024-0042\nDate de facture : 12/06/2024\n\nAudit Active Directory  1 0 000,00\nTotal HT 12 500,00 €\nTVA 20 % 2 500,00 €\nTotal TTC 15 000,00 €\nNet à payer 15 000,00 €\n";
        let inv = invoice_from_text(text);
        assert_eq!(inv.number.as_deref(), Some("FA-2024-0042"));
        assert_eq!(inv.issue_date, NaiveDate::from_ymd_opt(2024, 6, 12));
        assert_eq!(inv.seller_name.as_deref(), Some("Cyberdéfense Santé SAS"));
        assert_eq!(inv.seller_siret.as_deref(), Some("55210055400025"));
        assert_eq!(inv.seller_siren.as_deref(), Some("552100554"));
        assert_eq!(inv.vat_id.as_deref(), Some("FR40552100554"));
        assert_eq!(inv.total_ht, Some(dec("12500.00")));
        assert_eq!(inv.total_tva, Some(dec("2500.00")));
        assert_eq!(inv.total_ttc, Some(dec("15000.00")));
        assert_eq!(inv.currency.as_deref(), Some("EUR"));
    }
}

/// "Niveau de maturité ANSSI atteint : niveau 3", "niveau ANSSI 3", "ANSSI level 3": a
/// level next to the ANSSI's name or to "maturité", never a rule table's bare "niveau 2".
static ANSSI_LEVEL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(?:anssi|maturit[ée])[^.\n]{0,60}?\b(?:niveau|level)\s*:?\s*([1-5])\b|\b(?:niveau|level)\s*(?:anssi|de maturit[ée])\s*:?\s*([1-5])\b")
        .unwrap()
});
static AUDIT_DATE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\b(?:date de l'audit|date d'audit|date du rapport|audit (?:r[ée]alis[ée] )?(?:le|du)|r[ée]alis[ée] le|audit date|date of (?:the )?audit)\s*:?\s*",
    )
    .unwrap()
});
static AUDITED_DOMAIN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:domaine(?: audit[ée]| active directory| ad)?|audited domain|domain)\s*:?\s*([a-z0-9][a-z0-9\-]*(?:\.[a-z0-9\-]+)+)\b").unwrap()
});

/// What an AD audit report in prose (a PDF from an auditor) states of itself: its ANSSI
/// level, the audit's date and the domain, when it says them; `None` when it says none.
/// A stated level is the auditor's word, not a computed one (see `caregate-verify`).
pub fn ad_report_from_text(text: &str) -> Option<caregate_schemas::extracted::AdAudit> {
    let head: String = text.chars().take(20_000).collect();
    let anssi_level = ANSSI_LEVEL.captures(&head).and_then(|c| c.get(1).or(c.get(2))).and_then(|m| m.as_str().parse().ok());
    let date = AUDIT_DATE.find_iter(&head).find_map(|m| {
        let after: String = head[m.end()..].chars().take(24).collect();
        all_dates(&after).into_iter().find(|(at, _)| *at == 0).map(|(_, d)| d.to_string())
    });
    let domain = AUDITED_DOMAIN.captures(&head).map(|c| c[1].to_ascii_lowercase());
    if anssi_level.is_none() && date.is_none() && domain.is_none() {
        return None;
    }
    Some(caregate_schemas::extracted::AdAudit {
        tool: caregate_schemas::extracted::AD_REPORT_TOOL.to_owned(),
        tool_version: None,
        domain,
        netbios_name: None,
        forest: None,
        date,
        scores: Default::default(),
        maturity_level: None,
        anssi_level,
        rules: Vec::new(),
        integrity: caregate_schemas::extracted::Integrity::Absent,
    })
}

#[cfg(test)]
mod ad_report_tests {
    use super::*;

    #[test]
    fn a_report_states_its_level_date_and_domain() {
        let a = ad_report_from_text("Rapport d'audit\nDomaine audité : CH-Valmont.local\nDate de l'audit : 11/06/2024\nNiveau de maturité ANSSI atteint : niveau 3.\nRègle   Niveau\nP-Delegated   2").unwrap();
        assert_eq!((a.anssi_level, a.date.as_deref(), a.domain.as_deref()), (Some(3), Some("2024-06-11"), Some("ch-valmont.local")));
        assert_eq!(ad_report_from_text("AD security assessment, ANSSI level 2 reached").unwrap().anssi_level, Some(2));
        // A rule table's levels are not the report's.
        assert!(ad_report_from_text("Règle P-Delegated : niveau 2").is_none());
    }
}
