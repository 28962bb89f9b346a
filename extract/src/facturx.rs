//! A Factur-X / ZUGFeRD PDF states its invoice twice: in the embedded CII XML, which
//! caregate takes the fields from, and on the page, which is what a controller reads.
//! Nothing forces the two to agree (a producer may attach a sample XML, or another
//! invoice's), so where the page has text its fields are read as a plain PDF's are and
//! compared with the XML's.
//!
//! The page reader is weaker than the XML parser: it may take a line amount for the
//! total or the due date for the issue date. A field therefore disagrees only when the
//! page gave a value, that value differs from the XML's, and the XML's value is printed
//! nowhere on the page either; a controller reading that page would not find what the
//! XML says. A field the page did not give is not a disagreement.

use caregate_schemas::FindingCode;
use std::collections::HashSet;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use caregate_schemas::extracted::Invoice;
use caregate_schemas::{invoice_number_key, Finding, Severity};

use crate::french;

/// The page's values that disagree with the XML's, one finding per field.
pub fn page_mismatches(page: &Invoice, page_text: &str, xml: &Invoice) -> Vec<Finding> {
    let printed = Printed::of(page_text);
    let mut out = Vec::new();
    let mut differ = |field: &str, what: &str, page: String, xml: String| {
        out.push(
            Finding::new(
                FindingCode::FacturxPageMismatch,
                Severity::Warning,
                format!("Factur-X : {what} diffère entre la page (« {page} ») et le XML incorporé (« {xml} »)"),
            )
            .at(field),
        );
    };

    if let (Some(p), Some(x)) = (given(&page.number), given(&xml.number)) {
        let key = invoice_number_key(x);
        if !key.is_empty() && invoice_number_key(p) != key && !printed.has_number(&key) {
            differ("number", "le numéro de facture", p.to_owned(), x.to_owned());
        }
    }
    if let (Some(p), Some(x)) = (page.issue_date, xml.issue_date) {
        if p != x && !printed.dates.contains(&x) {
            differ("issue_date", "la date d'émission", p.format("%d/%m/%Y").to_string(), x.format("%d/%m/%Y").to_string());
        }
    }
    // The SIREN is the SIRET's first nine digits where only the SIRET is given: a page
    // showing the SIRET and an XML giving the SIREN still compare.
    let identifiers = [
        ("seller_siren", "le SIREN du vendeur", page.seller_siren().map(identifier), xml.seller_siren().map(identifier)),
        ("seller_siret", "le SIRET du vendeur", given(&page.seller_siret).map(identifier), given(&xml.seller_siret).map(identifier)),
        ("vat_id", "le numéro de TVA du vendeur", given(&page.vat_id).map(identifier), given(&xml.vat_id).map(identifier)),
    ];
    for (field, what, p, x) in identifiers {
        if let (Some(p), Some(x)) = (p, x) {
            if p != x && !printed.compact.contains(&x) {
                differ(field, what, p, x);
            }
        }
    }
    let totals = [
        ("total_ht", "le total HT", page.total_ht, xml.total_ht),
        ("total_tva", "le montant de TVA", page.total_tva, xml.total_tva),
        ("total_ttc", "le total TTC", page.total_ttc, xml.total_ttc),
    ];
    for (field, what, p, x) in totals {
        // A credit note prints its amounts negative where its XML holds them positive
        // under TypeCode 381: the sign is the document type's, not a disagreement.
        if let (Some(p), Some(x)) = (p.map(magnitude), x.map(magnitude)) {
            if p != x && !printed.amounts.contains(&x) {
                differ(field, what, amount_fr(p), amount_fr(x));
            }
        }
    }
    out
}

fn given(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// An identifier as printed in any grouping: `FR 32 123 456 789` = `FR32123456789`.
fn identifier(s: &str) -> String {
    s.chars().filter(char::is_ascii_alphanumeric).collect::<String>().to_ascii_uppercase()
}

fn magnitude(d: Decimal) -> Decimal {
    d.abs().normalize()
}

fn amount_fr(d: Decimal) -> String {
    format!("{:.2}", d).replace('.', ",")
}

/// Every date a numeric word can mean: CII's own `20240718`, which some renderings print
/// as is, and `07/08/2024` or `18.07.24` read day first and month first, since the page
/// may follow another country's order than the reader's.
fn numeric_dates(word: &str) -> Vec<NaiveDate> {
    if word.len() == 8 && word.bytes().all(|b| b.is_ascii_digit()) {
        return NaiveDate::parse_from_str(word, "%Y%m%d").ok().into_iter().collect();
    }
    let parts: Vec<&str> = word.split(['/', '.', '-']).collect();
    let [a, b, y] = parts[..] else { return Vec::new() };
    let (Ok(a), Ok(b), Ok(year)) = (a.parse::<u32>(), b.parse::<u32>(), y.parse::<i32>()) else { return Vec::new() };
    let year = match y.len() {
        4 => year,
        2 => 2000 + year,
        _ => return Vec::new(),
    };
    [(a, b), (b, a)].into_iter().filter_map(|(day, month)| NaiveDate::from_ymd_opt(year, month, day)).collect()
}

/// What the page prints, in the forms the XML's values are compared with.
struct Printed {
    amounts: HashSet<Decimal>,
    dates: HashSet<NaiveDate>,
    /// Invoice-number keys of each run of one to three words.
    numbers: HashSet<String>,
    /// The text's letters and digits only, upper case: identifiers however grouped.
    compact: String,
}

/// Words an amount or a number is printed over at most: `1 234 567,89`, `F 2024 / 0062`.
const MAX_WORDS: usize = 4;

impl Printed {
    fn of(text: &str) -> Self {
        let words: Vec<&str> = text
            .split_whitespace()
            .map(|w| w.trim_matches(|c: char| matches!(c, ':' | ';' | '*' | '|' | '"' | '«' | '»')).trim_end_matches(['.', ',']))
            .collect();
        let mut amounts = HashSet::new();
        let mut numbers = HashSet::new();
        let mut dates: HashSet<NaiveDate> = french::all_dates(text).into_iter().map(|(_, d)| d).collect();
        for start in 0..words.len() {
            for end in start + 1..=(start + MAX_WORDS).min(words.len()) {
                let run = words[start..end].join(" ");
                if let Some(a) = french::parse_amount(&run) {
                    amounts.insert(magnitude(a));
                }
                let key = invoice_number_key(&run);
                if !key.is_empty() {
                    numbers.insert(key);
                }
            }
            dates.extend(numeric_dates(words[start]));
        }
        Printed { amounts, dates, numbers, compact: identifier(text) }
    }

    /// The number printed alone, or after a label run together with it (`Nr.42`, `N°F2024-7`).
    fn has_number(&self, key: &str) -> bool {
        self.numbers.iter().any(|n| n.strip_suffix(key).is_some_and(|label| label.chars().all(|c| c.is_ascii_alphabetic())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn dec(s: &str) -> Option<Decimal> {
        Some(Decimal::from_str(s).unwrap())
    }

    fn blank() -> Invoice {
        Invoice::empty(caregate_schemas::extracted::InvoiceSource::Text)
    }

    fn date(s: &str) -> Option<NaiveDate> {
        Some(NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap())
    }

    /// The XML of a French invoice, and the page that prints it.
    fn agreeing() -> (Invoice, Invoice, &'static str) {
        let xml = Invoice {
            number: Some("FA-2024-0042".into()),
            issue_date: date("2024-06-12"),
            seller_siret: Some("12345678200077".into()),
            seller_siren: Some("123456782".into()),
            vat_id: Some("FR11123456782".into()),
            total_ht: dec("1234.50"),
            total_tva: dec("246.90"),
            total_ttc: dec("1481.40"),
            ..blank()
        };
        let page = Invoice {
            number: Some("FA 2024/0042".into()),
            issue_date: date("2024-06-12"),
            seller_siret: Some("123 456 782 00077".into()),
            seller_siren: None,
            vat_id: Some("FR 11 123456782".into()),
            total_ht: dec("1234.5"),
            total_tva: dec("246.90"),
            total_ttc: dec("1481.40"),
            ..blank()
        };
        let text = "FACTURE N° FA 2024/0042\nDate : 12/06/2024\nSIRET 123 456 782 00077 TVA FR 11 123456782\nTotal HT 1 234,50 €\nTVA 20 % 246,90 €\nTotal TTC 1 481,40 €";
        (page, xml, text)
    }

    fn fields(findings: &[Finding]) -> Vec<&str> {
        findings.iter().map(|f| f.pointer.as_deref().unwrap_or("")).collect()
    }

    #[test]
    fn the_same_invoice_in_another_form_agrees() {
        let (page, xml, text) = agreeing();
        assert!(page_mismatches(&page, text, &xml).is_empty());
    }

    #[test]
    fn another_total_on_the_page_is_a_mismatch_with_both_values() {
        let (mut page, xml, _) = agreeing();
        page.total_ttc = dec("1581.40");
        let text = "FACTURE N° FA 2024/0042\nDate : 12/06/2024\nSIRET 123 456 782 00077\nTotal HT 1 234,50 €\nTVA 246,90 €\nTotal TTC 1 581,40 €";
        let found = page_mismatches(&page, text, &xml);
        assert_eq!(fields(&found), ["total_ttc"]);
        assert_eq!(found[0].code, FindingCode::FacturxPageMismatch);
        assert!(found[0].severity >= Severity::Warning, "sends the file to a controller");
        assert!(found[0].message.contains("1581,40") && found[0].message.contains("1481,40"), "{}", found[0].message);
    }

    #[test]
    fn another_invoice_altogether_disagrees_on_every_field_read() {
        let (_, xml, _) = agreeing();
        let page = Invoice {
            number: Some("RE-20190121/507".into()),
            issue_date: date("2019-01-21"),
            vat_id: Some("DE136695976".into()),
            total_ht: dec("496.00"),
            total_tva: dec("75.04"),
            total_ttc: dec("571.04"),
            ..blank()
        };
        let text = "Rechnung RE-20190121/507 vom 21.01.2019\nUSt-IdNr. DE136695976\nNetto 496,00 EUR\nMwSt 19 % 75,04 EUR\nGesamt 571,04 EUR";
        let found = page_mismatches(&page, text, &xml);
        assert_eq!(fields(&found), ["number", "issue_date", "vat_id", "total_ht", "total_tva", "total_ttc"]);
        assert!(found[0].message.contains("RE-20190121/507") && found[0].message.contains("FA-2024-0042"));
        assert!(found[1].message.contains("21/01/2019") && found[1].message.contains("12/06/2024"));
    }

    #[test]
    fn another_seller_is_a_mismatch_by_siren_and_siret() {
        let (mut page, xml, text) = agreeing();
        page.seller_siret = Some("98765432100029".into());
        page.vat_id = None;
        let text = text.replace("123 456 782 00077", "987 654 321 00029").replace("FR 11 123456782", "");
        assert_eq!(fields(&page_mismatches(&page, &text, &xml)), ["seller_siren", "seller_siret"]);
    }

    #[test]
    fn a_field_the_page_did_not_give_is_no_disagreement() {
        let (_, xml, _) = agreeing();
        let page = Invoice { total_ttc: dec("1481.40"), ..blank() };
        assert!(page_mismatches(&page, "Total TTC 1 481,40 €", &xml).is_empty());
        // Nor does the XML's silence disagree with the page.
        let (page, _, text) = agreeing();
        assert!(page_mismatches(&page, text, &blank()).is_empty());
    }

    #[test]
    fn a_value_misread_on_the_page_is_no_disagreement_when_the_page_prints_the_xmls() {
        // The page reader took a line amount for the HT, the due date for the issue date
        // and the buyer's SIRET for the seller's; the page still prints what the XML says.
        let (mut page, xml, text) = agreeing();
        page.total_ht = dec("90.00");
        page.issue_date = date("2024-07-12");
        page.seller_siret = Some("98765432100029".into());
        page.number = Some("Date".into());
        let text = format!("{text}\nÉchéance 12/07/2024\nClient SIRET 987 654 321 00029\nLigne 1 90,00");
        assert!(page_mismatches(&page, &text, &xml).is_empty());
    }

    #[test]
    fn a_credit_notes_sign_is_no_disagreement() {
        let (mut page, xml, _) = agreeing();
        page.total_ht = dec("-1234.50");
        page.total_tva = dec("-246.90");
        page.total_ttc = dec("-1481.40");
        let text = "AVOIR N° FA-2024-0042 du 12 juin 2024\nSIRET 12345678200077\nTotal HT -1 234,50\nTVA -246,90\nTotal TTC -1 481,40";
        assert!(page_mismatches(&page, text, &xml).is_empty());
    }

    #[test]
    fn forms_the_xml_and_the_page_print_differently_still_agree() {
        // A number run together with its label, CII's compact date, amounts with a dot
        // for thousands, a SIREN printed only inside the SIRET.
        let xml =
            Invoice { number: Some("42".into()), issue_date: date("2020-01-15"), seller_siren: Some("123456789".into()), total_ttc: dec("1589.8"), ..blank() };
        let page = Invoice {
            number: Some("Rechnung".into()),
            issue_date: date("2020-02-14"),
            seller_siren: Some("987654321".into()),
            total_ttc: dec("1420.00"),
            ..blank()
        };
        let text = "Rechnung Nr.42\nDATE DE LIVRAISON : 20200115\nSIREN / SIRET : 123 456 789 00014\nNetto 1.420,00 Gesamt: 1.589,80 EUR\nKunde SIREN 987654321 zahlbar bis 14.02.2020";
        assert!(page_mismatches(&page, text, &xml).is_empty());
        // And the number is not found inside a longer one.
        let text = "Rechnung Nr. 2013112242";
        assert_eq!(fields(&page_mismatches(&Invoice { number: Some("2013112242".into()), ..blank() }, text, &xml)), ["number"]);
    }

    #[test]
    fn dates_month_first_or_with_two_digit_years_and_numbers_over_four_words_are_found() {
        let xml = Invoice { number: Some("F-2024-0062".into()), issue_date: date("2024-07-08"), total_ttc: dec("2940.60"), ..blank() };
        let page = Invoice { number: Some("0062".into()), issue_date: date("2024-08-07"), total_ttc: dec("2450.50"), ..blank() };
        for text in ["Invoice F 2024 / 0062 of 07/08/2024. Total 2,940.60.", "Rechnung F 2024 / 0062 vom 08.07.24 Gesamt 2.940,60"] {
            assert!(page_mismatches(&page, text, &xml).is_empty(), "{text}");
        }
        // Neither reading of the printed date is the XML's.
        let text = "Invoice F 2024 / 0062 of 09/10/2024, total 2,940.60";
        assert_eq!(fields(&page_mismatches(&Invoice { issue_date: date("2024-10-09"), ..page }, text, &xml)), ["issue_date"]);
    }
}
