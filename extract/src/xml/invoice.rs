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
    Invoice {
        number: None,
        type_code: None,
        issue_date: None,
        seller_name: None,
        seller_siret: None,
        seller_siren: None,
        vat_id: None,
        total_ht: None,
        total_tva: None,
        total_ttc: None,
        currency: None,
        profile: None,
        source,
    }
}

fn amount(text: &str) -> Option<Decimal> {
    Decimal::from_str(text.trim()).ok()
}

/// A SIRET starts with its SIREN: state it when the invoice gave only the SIRET.
fn with_siren_from_siret(mut inv: Invoice) -> Invoice {
    if inv.seller_siren.is_none() {
        inv.seller_siren = inv.seller_siret.as_ref().filter(|s| s.len() == 14).map(|s| s[..9].to_owned());
    }
    inv
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

pub fn parse_cii<R: BufRead>(input: R, source: InvoiceSource, limits: &Limits, budget: &Budget) -> Result<Invoice, ExtractError> {
    let mut inv = empty(source);
    walk_rooted(input, limits, budget, &["CrossIndustryInvoice"], "a CII invoice", |e| {
        match e {
            XmlEvent::Start(_) | XmlEvent::Text(_) => {}
            XmlEvent::End(el, text) => {
                let t = || Some(text.to_owned()).filter(|t| !t.is_empty());
                if el.at(&["GuidelineSpecifiedDocumentContextParameter", "ID"]) {
                    inv.profile = Some(profile_name(text));
                } else if el.at(&["ExchangedDocument", "ID"]) {
                    inv.number = t();
                } else if el.at(&["ExchangedDocument", "TypeCode"]) {
                    inv.type_code = t();
                } else if el.at(&["ExchangedDocument", "IssueDateTime", "DateTimeString"]) {
                    inv.issue_date = parse_compact_date(text);
                } else if el.within("SellerTradeParty") {
                    if el.at(&["SellerTradeParty", "Name"]) {
                        inv.seller_name = t();
                    } else if el.at(&["SellerTradeParty", "GlobalID"]) && el.attr("schemeID") == Some("0009") {
                        inv.seller_siret = t();
                    } else if el.at(&["SpecifiedLegalOrganization", "ID"]) {
                        match el.attr("schemeID") {
                            Some("0009") => inv.seller_siret = t(),
                            _ => inv.seller_siren = t(),
                        }
                    } else if el.at(&["SpecifiedTaxRegistration", "ID"]) && el.attr("schemeID") == Some("VA") {
                        inv.vat_id = t();
                    }
                } else if el.at(&["ApplicableHeaderTradeSettlement", "InvoiceCurrencyCode"]) {
                    inv.currency = t();
                } else if el.within("SpecifiedTradeSettlementHeaderMonetarySummation") {
                    match el.name() {
                        "TaxBasisTotalAmount" => inv.total_ht = amount(text),
                        // Stated twice when the tax currency differs: keep the invoice's.
                        "TaxTotalAmount" if inv.total_tva.is_none() || el.attr("currencyID").is_some() && el.attr("currencyID") == inv.currency.as_deref() => {
                            inv.total_tva = amount(text)
                        }
                        "GrandTotalAmount" => inv.total_ttc = amount(text),
                        _ => {}
                    }
                }
            }
        }
        Ok(())
    })?;
    Ok(with_siren_from_siret(inv))
}

pub fn parse_ubl<R: BufRead>(input: R, limits: &Limits, budget: &Budget) -> Result<Invoice, ExtractError> {
    let mut inv = empty(InvoiceSource::Ubl);
    walk_rooted(input, limits, budget, &["Invoice", "CreditNote"], "a UBL invoice", |e| {
        match e {
            XmlEvent::Start(el) if el.path.len() == 1 && el.name() == "CreditNote" => inv.type_code = Some("381".into()),
            XmlEvent::Start(_) | XmlEvent::Text(_) => {}
            XmlEvent::End(el, text) => {
                let t = || Some(text.to_owned()).filter(|t| !t.is_empty());
                if el.path.len() == 2 {
                    match el.name() {
                        "ID" => inv.number = t(),
                        "IssueDate" => inv.issue_date = parse_compact_date(text),
                        "InvoiceTypeCode" | "CreditNoteTypeCode" => inv.type_code = t(),
                        "DocumentCurrencyCode" => inv.currency = t(),
                        "CustomizationID" => inv.profile = Some(profile_name(text)),
                        _ => {}
                    }
                } else if el.within("AccountingSupplierParty") {
                    if el.at(&["PartyName", "Name"]) || (el.at(&["PartyLegalEntity", "RegistrationName"]) && inv.seller_name.is_none()) {
                        inv.seller_name = t();
                    } else if el.at(&["PartyIdentification", "ID"]) && el.attr("schemeID") == Some("0009") {
                        inv.seller_siret = t();
                    } else if el.at(&["PartyLegalEntity", "CompanyID"]) {
                        match el.attr("schemeID") {
                            Some("0009") => inv.seller_siret = t(),
                            _ => inv.seller_siren = t(),
                        }
                    } else if el.at(&["PartyTaxScheme", "CompanyID"]) {
                        inv.vat_id = t();
                    }
                } else if el.path.len() == 3 && el.at(&["TaxTotal", "TaxAmount"]) && inv.total_tva.is_none() {
                    inv.total_tva = amount(text);
                } else if el.path.len() == 3 && el.within("LegalMonetaryTotal") {
                    match el.name() {
                        "TaxExclusiveAmount" => inv.total_ht = amount(text),
                        "TaxInclusiveAmount" => inv.total_ttc = amount(text),
                        _ => {}
                    }
                }
            }
        }
        Ok(())
    })?;
    Ok(with_siren_from_siret(inv))
}
