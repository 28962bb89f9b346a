//! Entry points for fuzzing (`fuzz/`, cargo-fuzz) and for the bounded mutation test that
//! runs in CI: each feeds arbitrary bytes to one parser family and must return, whatever
//! the bytes, without panicking.

use std::io::Cursor;
use std::time::Duration;

use crate::{archive, classify, french, invoice_text, office, pdf, sheet, xml, Budget, Limits};

fn limits() -> Limits {
    Limits { max_parse_bytes: 16 * 1024 * 1024, max_sheet_cells: 200_000, time_budget_secs: 10, ..Limits::default() }
}

fn budget() -> Budget {
    Budget::new(Duration::from_secs(10))
}

pub fn pdf(data: &[u8]) {
    let _ = pdf::parse(data, &limits(), &budget());
}

/// Every XML consumer on the same bytes.
pub fn xml(data: &[u8]) {
    let (l, b) = (limits(), budget());
    let _ = xml::walk(data, &l, &b, |_| Ok(()));
    let _ = xml::pingcastle::parse(data, &l, &b);
    let _ = xml::nmap::parse(data, &l, &b);
    let _ = xml::vuln::parse_nessus(data, &l, &b);
    let _ = xml::vuln::parse_openvas(data, &l, &b);
    let _ = xml::invoice::parse_cii(data, caregate_schemas::extracted::InvoiceSource::Cii, &l, &b);
    let _ = xml::invoice::parse_ubl(data, &l, &b);
}

pub fn sheet(data: &[u8]) {
    let (l, b) = (limits(), budget());
    if archive::open(Cursor::new(data), &l).is_ok() || !data.starts_with(b"PK") {
        let _ = sheet::read_workbook(data, &l, &b);
    }
    if let Ok(t) = sheet::read_csv(data, &l, &b) {
        let _ = sheet::financial_report(&t, &l);
    }
}

pub fn zip(data: &[u8]) {
    let l = limits();
    if let Ok((mut z, members)) = archive::open(Cursor::new(data), &l) {
        for m in members.iter().take(16) {
            let _ = archive::copy_member(&mut z, m.index, 1 << 20, &mut std::io::sink());
        }
    }
    if let Ok(members) = archive::members(Cursor::new(data), &l) {
        let wanted: Vec<usize> = members.iter().take(16).map(|m| m.index).collect();
        let _ = archive::for_each_member(Cursor::new(data), Cursor::new(data), &wanted, |_, r| {
            archive::copy_bounded("fuzz", r, 1 << 20, &mut std::io::sink()).map(drop)
        });
    }
    let _ = office::text(Cursor::new(data), &l, &budget());
}

pub fn text(data: &[u8]) {
    let t = String::from_utf8_lossy(data);
    let _ = invoice_text::invoice_from_text(&t);
    let _ = french::parse_amount(&t);
    let _ = french::all_dates(&t);
    let _ = classify::classify_text(&t);
}
