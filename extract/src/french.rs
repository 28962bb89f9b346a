//! French conventions in evidence text: amounts (`1 234,56 €`, `12.500,00`), dates
//! (`12/06/2024`, `12 juin 2024`), SIRET/SIREN and VAT numbers with their check keys, and
//! what an AD audit report in prose states. Amounts are exact decimals, never floats.
//! The invoice reader ([`crate::invoice_text`]) builds on these; nothing here reads an
//! invoice, so the two never depend on each other both ways.

use std::str::FromStr;
use std::sync::LazyLock;

use chrono::NaiveDate;
use regex::Regex;
use rust_decimal::Decimal;

/// An amount as written by a French (or English) invoice: spaces, non-breaking spaces,
/// dots or apostrophes as thousands separators, a comma or a dot as decimal mark, an
/// optional currency sign or code. `None` when the text is not one amount.
pub fn parse_amount(text: &str) -> Option<Decimal> {
    // OCR reads a table's rules beside a cell as bars or brackets ("1 860,00 €|"), and a
    // sentence's full stop may follow the currency ("… 11 160,00 €."): neither is ever
    // part of an amount.
    let text = text.trim().trim_matches(['|', '¦', '[', ']']).trim();
    let text = text.strip_suffix('.').filter(|t| t.ends_with(['€', '$']) || t.ends_with("EUR")).unwrap_or(text);
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

/// A month's number from its name or abbreviation, in any language [`MONTHS`] knows.
pub fn month_number(name: &str) -> Option<u32> {
    let month = fold(name);
    let month = month.trim_end_matches('.');
    MONTHS.iter().find(|(n, _)| month == *n).or_else(|| MONTHS.iter().find(|(n, _)| month.len() >= 3 && n.starts_with(month))).map(|&(_, m)| m)
}

/// Every date in `text` with its byte offset, in order.
pub fn all_dates(text: &str) -> Vec<(usize, NaiveDate)> {
    let mut found = Vec::new();
    for c in NUMERIC_DATE.captures_iter(text) {
        let (d, m, y) = (c[1].parse().ok(), c[2].parse().ok(), c[3].parse().ok());
        if let (Some(d), Some(m), Some(y)) = (d, m, y) {
            // Day first, as in French; an American month first (`03/20/2023`) only where
            // the day-first reading cannot be a date, so no French date is ever turned.
            if let Some(date) = NaiveDate::from_ymd_opt(y, m, d).or_else(|| NaiveDate::from_ymd_opt(y, d, m)) {
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
    let month_of = month_number;
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
static SIREN: LazyLock<Regex> = LazyLock::new(|| {
    // The registry's own order too: `B 421 938 861 RCS Paris`, `421 938 861 R.C.S. Paris`.
    Regex::new(r"(?i)\b(?:SIREN|RCS [A-Za-zé\- ]+?)\s*(?:n[°o]\s*)?:?\s*(\d{3}[ \u{a0}]?\d{3}[ \u{a0}]?\d{3})\b|\b(\d{3}[ \u{a0}]?\d{3}[ \u{a0}]?\d{3})\s*R\.?C\.?S\.?\b")
        .unwrap()
});
static VAT_ID: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\b(FR[ \u{a0}]?[0-9A-HJ-NP-Z]{2}[ \u{a0}]?\d{3}[ \u{a0}]?\d{3}[ \u{a0}]?\d{3})\b").unwrap());
/// A French VAT id grouped otherwise (`FR 604 219 388 61`): taken only when its key checks,
/// since eleven digits grouped at random may be anything.
static VAT_ID_REGROUPED: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\bFR[ \u{a0}]?\d(?:[ \u{a0}]?\d){10}\b").unwrap());

fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_alphanumeric).collect()
}

/// The SIRET stated after a `SIRET` label (14 digits, spaces removed).
pub fn find_siret(text: &str) -> Option<String> {
    all_sirets(text).into_iter().next()
}

/// Every SIRET stated after a `SIRET` label, in order.
pub fn all_sirets(text: &str) -> Vec<String> {
    SIRET.captures_iter(text).map(|c| digits(&c[1])).collect()
}

/// The SIREN stated after a `SIREN` or `RCS <ville>` label, or before `RCS`.
pub fn find_siren(text: &str) -> Option<String> {
    all_sirens(text).into_iter().next()
}

/// Every SIREN stated so, in order.
pub fn all_sirens(text: &str) -> Vec<String> {
    SIREN.captures_iter(text).filter_map(|c| c.get(1).or(c.get(2)).map(|m| digits(m.as_str()))).collect()
}

/// The Luhn check SIREN and SIRET numbers carry (La Poste's establishments, SIREN
/// 356 000 000, sum their digits to a multiple of 5 instead).
pub fn luhn_checks(id: &str) -> bool {
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    if id.len() == 14 && id.starts_with("356000000") {
        return id.bytes().map(|b| u32::from(b - b'0')).sum::<u32>().is_multiple_of(5);
    }
    let sum: u32 = id
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| (u32::from(b - b'0'), i % 2 == 1))
        .map(|(d, double)| if double { (d * 2) / 10 + (d * 2) % 10 } else { d })
        .sum();
    sum.is_multiple_of(10)
}

/// Whether a French VAT id's key agrees with the SIREN it holds: key = (12 + 3 × (SIREN
/// mod 97)) mod 97. Ids with a letter key (the old alphanumeric scheme) are not checked.
pub fn french_vat_key_checks(id: &str) -> bool {
    let (Some(key), Some(siren)) = (id.get(2..4), id.get(4..)) else { return false };
    if !id.starts_with("FR") || siren.len() != 9 {
        return false;
    }
    match (key.parse::<u64>(), siren.parse::<u64>()) {
        (Ok(key), Ok(siren)) => key == (12 + 3 * (siren % 97)) % 97,
        (Err(_), Ok(_)) => true,
        _ => false,
    }
}

/// The SIREN inside a French VAT id (`FR` + key + SIREN).
pub fn siren_of_vat_id(id: &str) -> Option<&str> {
    id.strip_prefix("FR").and_then(|rest| rest.get(2..)).filter(|s| s.len() == 9 && s.bytes().all(|b| b.is_ascii_digit()))
}

/// An intra-community VAT number (`FR` + key + SIREN).
/// Another country's VAT id, only where a VAT label names it on its line (`UStId DE 232
/// 446 240`, `VAT No: GB123456789`, `ATU62353134`, `CHE-123.456.789`), and not the
/// buyer's (`Uw BTW nummer`, `your VAT number`): the country code, at most one letter,
/// then digits (a label on the next line, `FINESS 760000001`, is none).
static LABELLED_FOREIGN_VAT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(.{0,12})\b(?:ust-?id(?:-?nr)?\.?|vat(?:[ -](?:no\.?|number|reg(?:istration)?\.?(?: no\.?)?|id))?|btw[ -]?(?:nummer|nr\.?|id)?|iva|p\.? ?iva|n° tva|tva intracommunautaire)[^\S\n]*:?[^\S\n]*((?:AT|BE|BG|CY|CZ|DE|DK|EE|EL|ES|FI|HR|HU|IE|IT|LT|LU|LV|MT|NL|PL|PT|RO|SE|SI|SK|XI|GB|CH)[ \u{a0}]?[A-Z]?[ \u{a0}-]?\d(?:[ \u{a0}]?[0-9A-Z]){5,12})").unwrap()
});

pub fn find_vat_id(text: &str) -> Option<String> {
    all_vat_ids(text).into_iter().next()
}

/// Every VAT id in `text`: the French ones in order, then the foreign ones a VAT label
/// names.
pub fn all_vat_ids(text: &str) -> Vec<String> {
    let mut found: Vec<(usize, String)> = VAT_ID.captures_iter(text).map(|c| (c.get(1).unwrap().start(), digits(&c[1]))).collect();
    for m in VAT_ID_REGROUPED.find_iter(text) {
        let id = digits(m.as_str());
        if french_vat_key_checks(&id) && !found.iter().any(|(_, f)| *f == id) {
            found.push((m.start(), id));
        }
    }
    found.sort_by_key(|(at, _)| *at);
    let mut ids: Vec<String> = found.into_iter().map(|(_, id)| id).collect();
    if ids.is_empty() {
        ids.extend(LABELLED_FOREIGN_VAT.captures_iter(text).filter_map(|c| {
            let before = fold(&c[1]);
            let buyer = ["uw ", "your", "votre", "client", "kunde", "customer", "acheteur", "ihre"].iter().any(|w| before.contains(w));
            let id = digits(&c[2]).to_ascii_uppercase();
            // A VAT id is mostly digits: `DE Deutsche Bank` is not one.
            (!buyer && id.chars().filter(char::is_ascii_digit).count() >= 6).then_some(id)
        }));
    }
    ids
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

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str_exact(s).unwrap()
    }

    #[test]
    fn table_rules_and_a_full_stop_read_by_ocr_beside_an_amount_are_not_part_of_it() {
        let d = |v: &str| Some(Decimal::from_str(v).unwrap());
        assert_eq!(parse_amount("1 860,00 €|"), d("1860.00"));
        assert_eq!(parse_amount("| 11 160,00 €."), d("11160.00"));
        assert_eq!(parse_amount("[ 12,50 ]"), d("12.50"));
        assert_eq!(parse_amount("12,50 EUR."), d("12.50"));
        assert_eq!(parse_amount("|"), None);
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
        // Month first only where day first cannot be a date.
        assert_eq!(parse_date("Invoice Date: 03/20/2023"), Some(d(2023, 3, 20)));
        assert_eq!(parse_date("04/03/2023"), Some(d(2023, 3, 4)));
    }

    #[test]
    fn identifiers_and_their_keys() {
        assert_eq!(all_vat_ids("N° de TVA intra communautaire: FR 604 219 388 61"), ["FR60421938861"]);
        // Regrouped digits whose key does not check are no VAT id.
        assert!(all_vat_ids("FR 614 219 388 61").is_empty());
        assert_eq!(find_siren("Free SAS au capital de 3.441.812 Euros - B 421 938 861 RCS Paris"), Some("421938861".into()));
        assert_eq!(all_sirets("SIRET 552 100 554 00025, SIRET : 73282932000014"), ["55210055400025", "73282932000014"]);
        assert!(luhn_checks("552100554") && luhn_checks("55210055400021") && !luhn_checks("552100555"));
        assert!(luhn_checks("35600000000015"), "La Poste's establishments sum to a multiple of 5");
        assert!(french_vat_key_checks("FR96552100554") && !french_vat_key_checks("FR40552100554"));
        assert_eq!(siren_of_vat_id("FR96552100554"), Some("552100554"));
        assert_eq!(all_vat_ids("USt-ID : ATU62353134"), ["ATU62353134"]);
        assert!(all_vat_ids("TVA intracommunautaire :\nFINESS 760000001").is_empty(), "a word on the next line is no VAT id");
    }
}

/// "Niveau de maturité ANSSI atteint : niveau 3", "niveau ANSSI 3", "ANSSI level 3": a
/// level next to the ANSSI's name or to "maturité", never a rule table's bare "niveau 2".
static ANSSI_LEVEL: LazyLock<Regex> = LazyLock::new(|| {
    // The third form is the first wrapped by the page after the verb that states it
    // ("… ANSSI atteint :" / "niveau 3."): a line break elsewhere (a heading over a list
    // of checkpoints by level) states nothing.
    Regex::new(
        r"(?i)(?:anssi|maturit[ée])[^.\n]{0,60}?\b(?:niveau|level)\s*:?\s*([1-5])\b|\b(?:niveau|level)\s*(?:anssi|de maturit[ée])\s*:?\s*([1-5])\b|(?:anssi|maturit[ée])[^.\n]{0,60}?\b(?:atteint|obtenu|reached|achieved)\s*:?[ \t]*\n\s*(?:niveau|level)\s*:?\s*([1-5])\b",
    )
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
    let anssi_level = ANSSI_LEVEL.captures(&head).and_then(|c| c.get(1).or(c.get(2)).or(c.get(3))).and_then(|m| m.as_str().parse().ok());
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
        // The statement wrapped by the page after its verb, as Chromium prints it.
        let wrapped = "Domaine audité : millau-ebnl.local\nDate de l'audit : 23/09/2024\nLes contrôleurs ont été audités avec PingCastle. Niveau de maturité ANSSI atteint :\nniveau 3. Les points de contrôle des niveaux 1 et 2 sont validés";
        let a = ad_report_from_text(wrapped).unwrap();
        assert_eq!((a.anssi_level, a.date.as_deref()), (Some(3), Some("2024-09-23")));
        // A heading over checkpoints listed by level states no level.
        assert_eq!(ad_report_from_text("Date de l'audit : 23/09/2024\nPoints de contrôle ANSSI\nNiveau 1 : comptes inactifs").unwrap().anssi_level, None);
    }
}
