//! Structured invoices: UN/CEFACT CII (`CrossIndustryInvoice`, the XML inside Factur-X
//! and ZUGFeRD) and UBL 2.1 (`Invoice`, `CreditNote`).

use std::io::BufRead;
use std::str::FromStr;

use rust_decimal::Decimal;

use super::{walk_rooted, XmlEvent};
use crate::french::parse_compact_date;
use crate::{Budget, ExtractError, Limits};
use caregate_schemas::extracted::{Invoice, InvoiceSource};

fn empty(source: InvoiceSource) -> Invoice {
    Invoice::empty(source)
}

/// Notes where a field was read: the element's path from the root.
fn located(inv: &mut Invoice, field: &str, path: &[String]) {
    inv.locations.insert(field.to_owned(), caregate_schemas::extracted::Location::Xml { path: path.join("/") });
}

fn amount(text: &str) -> Option<Decimal> {
    Decimal::from_str(text.trim()).ok()
}

/// The seller's identifiers as the invoice states them, sorted once the whole party is
/// read (its country may come after them): SIREN is scheme `0002`, or nine digits with no
/// scheme for a French seller; SIRET is scheme `0009`, or fourteen digits; anything else
/// (a foreign registration, a GLN) is kept with its scheme and never judged as French.
#[derive(Default)]
struct SellerIds {
    ids: Vec<(String, Option<String>)>,
    country: Option<String>,
}

impl SellerIds {
    fn push(&mut self, id: &str, scheme: Option<&str>) {
        let id = id.trim();
        if !id.is_empty() && !self.ids.iter().any(|(i, _)| i == id) {
            self.ids.push((id.to_owned(), scheme.map(str::to_owned).filter(|s| !s.is_empty())));
        }
    }

    fn apply(self, inv: &mut Invoice) {
        let french = self.country.as_deref().is_none_or(|c| c.eq_ignore_ascii_case("FR"));
        for (id, scheme) in self.ids {
            let digits: String = id.chars().filter(|c| !c.is_whitespace()).collect();
            let numeric = digits.chars().all(|c| c.is_ascii_digit());
            match (scheme.as_deref(), numeric, digits.len()) {
                (Some("0009"), true, 14) | (None | Some("0002"), true, 14) => {
                    inv.seller_siret.get_or_insert(digits);
                }
                (Some("0002"), true, 9) => {
                    inv.seller_siren.get_or_insert(digits);
                }
                (None, true, 9) if french && self.country.is_some() => {
                    inv.seller_siren.get_or_insert(digits);
                }
                _ => inv.seller_legal_ids.push(caregate_schemas::extracted::LegalId { id, scheme }),
            }
        }
        if inv.seller_siren.is_none() {
            inv.seller_siren = inv.seller_siret.as_ref().filter(|s| s.len() == 14).map(|s| s[..9].to_owned());
        }
        // `FR 32 123 456 789` is `FR32123456789`.
        if let Some(vat) = inv.vat_id.as_mut() {
            vat.retain(|c| !c.is_whitespace());
        }
    }
}

/// The Factur-X profile named by a guideline URN.
pub fn profile_name(urn: &str) -> String {
    let u = urn.to_ascii_lowercase();
    let name = if u.contains("extended") {
        "extended"
    } else if u.contains("basicwl") {
        "basicwl"
    } else if u.contains("basic") {
        "basic"
    } else if u.contains("minimum") {
        "minimum"
    } else if u.contains("en16931") {
        "en16931"
    } else if u.contains("xrechnung") {
        "xrechnung"
    } else {
        return urn.to_owned();
    };
    name.to_owned()
}

/// CII in its three shapes: the invoice of Factur-X and ZUGFeRD 2 (`CrossIndustryInvoice`),
/// ZUGFeRD 1.0 (`CrossIndustryDocument`: `HeaderExchangedDocument`, trade agreement and
/// settlement, `SpecifiedTradeSettlementMonetarySummation`) and the Order-X purchase order
/// (`SCRDMCCBDACIOMessageStructure`, TypeCode 220, `OrderCurrencyCode`).
pub fn parse_cii<R: BufRead>(input: R, source: InvoiceSource, limits: &Limits, budget: &Budget) -> Result<Invoice, ExtractError> {
    let mut inv = empty(source);
    let mut ids = SellerIds::default();
    let roots = ["CrossIndustryInvoice", "CrossIndustryDocument", "SCRDMCCBDACIOMessageStructure"];
    walk_rooted(input, limits, budget, &roots, "a CII invoice", |e| {
        match e {
            XmlEvent::Start(_) | XmlEvent::Text(_) => {}
            XmlEvent::End(el, text) => {
                let t = || Some(text.to_owned()).filter(|t| !t.is_empty());
                let document =
                    el.path.get(1).is_some_and(|p| p.as_str() == "ExchangedDocument" || p.as_str() == "HeaderExchangedDocument") && el.path.len() >= 3;
                // Line items repeat the header's element names (ZUGFeRD 1.0): header only.
                if el.within("IncludedSupplyChainTradeLineItem") {
                    return Ok(());
                }
                if el.at(&["GuidelineSpecifiedDocumentContextParameter", "ID"]) {
                    inv.profile = Some(profile_name(text));
                } else if document && el.path.len() == 3 && el.name() == "ID" {
                    inv.number = t();
                    located(&mut inv, "number", el.path);
                } else if document && el.path.len() == 3 && el.name() == "TypeCode" {
                    inv.type_code = t();
                } else if document && el.at(&["IssueDateTime", "DateTimeString"]) {
                    inv.issue_date = parse_compact_date(text);
                    located(&mut inv, "issue_date", el.path);
                } else if el.within("SellerTradeParty") {
                    if el.at(&["SellerTradeParty", "Name"]) {
                        inv.seller_name = t();
                        located(&mut inv, "seller_name", el.path);
                    } else if el.at(&["SellerTradeParty", "GlobalID"]) || el.at(&["SpecifiedLegalOrganization", "ID"]) {
                        ids.push(text, el.attr("schemeID"));
                    } else if el.at(&["PostalTradeAddress", "CountryID"]) {
                        ids.country = t();
                    } else if el.at(&["SpecifiedTaxRegistration", "ID"]) && el.attr("schemeID") == Some("VA") {
                        inv.vat_id = t();
                        located(&mut inv, "vat_id", el.path);
                    }
                } else if matches!(el.name(), "InvoiceCurrencyCode" | "OrderCurrencyCode") && inv.currency.is_none() {
                    inv.currency = t();
                } else if el.within("SpecifiedTradeSettlementHeaderMonetarySummation") || el.within("SpecifiedTradeSettlementMonetarySummation") {
                    match el.name() {
                        "TaxBasisTotalAmount" => {
                            inv.total_ht = amount(text);
                            located(&mut inv, "total_ht", el.path);
                        }
                        // Stated twice when the tax currency differs: keep the invoice's.
                        "TaxTotalAmount" if inv.total_tva.is_none() || el.attr("currencyID").is_some() && el.attr("currencyID") == inv.currency.as_deref() => {
                            inv.total_tva = amount(text);
                            located(&mut inv, "total_tva", el.path);
                        }
                        "GrandTotalAmount" => {
                            inv.total_ttc = amount(text);
                            located(&mut inv, "total_ttc", el.path);
                        }
                        _ => {}
                    }
                }
            }
        }
        Ok(())
    })?;
    ids.apply(&mut inv);
    Ok(inv)
}

pub fn parse_ubl<R: BufRead>(input: R, limits: &Limits, budget: &Budget) -> Result<Invoice, ExtractError> {
    let mut inv = empty(InvoiceSource::Ubl);
    let mut ids = SellerIds::default();
    let (mut legal_name, mut tax_company_id) = (false, None::<String>);
    walk_rooted(input, limits, budget, &["Invoice", "CreditNote"], "a UBL invoice", |e| {
        match e {
            XmlEvent::Start(el) if el.path.len() == 1 && el.name() == "CreditNote" => inv.type_code = Some("381".into()),
            XmlEvent::Start(_) | XmlEvent::Text(_) => {}
            XmlEvent::End(el, text) => {
                let t = || Some(text.to_owned()).filter(|t| !t.is_empty());
                if el.path.len() == 2 {
                    match el.name() {
                        "ID" => {
                            inv.number = t();
                            located(&mut inv, "number", el.path);
                        }
                        "IssueDate" => {
                            inv.issue_date = parse_compact_date(text);
                            located(&mut inv, "issue_date", el.path);
                        }
                        "InvoiceTypeCode" | "CreditNoteTypeCode" => inv.type_code = t(),
                        "DocumentCurrencyCode" => inv.currency = t(),
                        "CustomizationID" => inv.profile = Some(profile_name(text)),
                        _ => {}
                    }
                } else if el.within("AccountingSupplierParty") && !el.within("ServiceProviderParty") && !el.within("AgentParty") {
                    // The legal name before any trading name (BT-27 over BT-28).
                    if el.at(&["PartyLegalEntity", "RegistrationName"]) {
                        inv.seller_name = t();
                        located(&mut inv, "seller_name", el.path);
                        legal_name = true;
                    } else if el.at(&["PartyName", "Name"]) && !legal_name {
                        inv.seller_name = t();
                        located(&mut inv, "seller_name", el.path);
                    } else if el.at(&["PartyIdentification", "ID"]) || el.at(&["PartyLegalEntity", "CompanyID"]) {
                        ids.push(text, el.attr("schemeID"));
                    } else if el.at(&["PostalAddress", "Country", "IdentificationCode"]) {
                        ids.country = t();
                    } else if el.at(&["PartyTaxScheme", "CompanyID"]) {
                        tax_company_id = t();
                    } else if el.at(&["PartyTaxScheme", "TaxScheme", "ID"]) {
                        // Only the VAT scheme's registration is the VAT id.
                        if text.trim().eq_ignore_ascii_case("VAT") {
                            inv.vat_id = tax_company_id.take().or(inv.vat_id.take());
                            let mut path = el.path.to_vec();
                            path.truncate(path.len().saturating_sub(2));
                            path.push("CompanyID".into());
                            located(&mut inv, "vat_id", &path);
                        }
                        tax_company_id = None;
                    }
                } else if el.path.len() == 3 && el.at(&["TaxTotal", "TaxAmount"]) && inv.total_tva.is_none() {
                    inv.total_tva = amount(text);
                    located(&mut inv, "total_tva", el.path);
                } else if el.path.len() == 3 && el.within("LegalMonetaryTotal") {
                    match el.name() {
                        "TaxExclusiveAmount" => {
                            inv.total_ht = amount(text);
                            located(&mut inv, "total_ht", el.path);
                        }
                        "TaxInclusiveAmount" => {
                            inv.total_ttc = amount(text);
                            located(&mut inv, "total_ttc", el.path);
                        }
                        _ => {}
                    }
                }
            }
        }
        Ok(())
    })?;
    ids.apply(&mut inv);
    Ok(inv)
}
