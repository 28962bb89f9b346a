//! Tables: spreadsheets through calamine (XLSX, XLS, ODS) and CSV (separator sniffed,
//! UTF-8 or Windows-1252). A table becomes typed cells, a detected header row, and, when
//! its columns are those of an expense statement, a [`FinancialReport`].

use std::io::Cursor;
use std::str::FromStr;

use calamine::{open_workbook_auto_from_rs, Data, Reader, Sheets};
use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::french::{fold, parse_amount, parse_date};
use crate::{Budget, ExtractError, Limits};
use caregate_schemas::extracted::{ExpenseRow, FinancialReport, Totals};

#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    Empty,
    Text(String),
    Number(Decimal),
    Date(NaiveDate),
}

impl Cell {
    /// A cell from text as typed in a French spreadsheet or CSV.
    pub fn from_text(raw: &str) -> Cell {
        let t = raw.trim();
        if t.is_empty() {
            return Cell::Empty;
        }
        if t.chars().any(|c| c.is_ascii_digit()) {
            if let Some(d) = parse_date(t).filter(|_| t.len() <= 20) {
                return Cell::Date(d);
            }
            if let Some(n) = parse_amount(t) {
                return Cell::Number(n);
            }
        }
        Cell::Text(t.to_owned())
    }

    fn text(&self) -> String {
        match self {
            Cell::Empty => String::new(),
            Cell::Text(t) => t.clone(),
            Cell::Number(n) => n.to_string(),
            Cell::Date(d) => d.format("%d/%m/%Y").to_string(),
        }
    }

    /// An amount, with at least cents (a spreadsheet's 8400 is 8400.00 €).
    fn number(&self) -> Option<Decimal> {
        let mut n = match self {
            Cell::Number(n) => *n,
            Cell::Text(t) => parse_amount(t)?,
            _ => return None,
        };
        if n.scale() < 2 {
            n.rescale(2);
        }
        Some(n)
    }
}

#[derive(Clone, Debug, Default)]
pub struct Table {
    pub sheet: Option<String>,
    pub rows: Vec<Vec<Cell>>,
    /// Where each row is in the file, as people count (sheet row or CSV line, from 1),
    /// so a finding can point at it.
    pub lines: Vec<u32>,
    /// Cells left unread because the sheet was larger than the limit.
    pub truncated: bool,
}

impl Table {
    /// Text for classification: sheet name and the first rows.
    pub fn text(&self) -> String {
        let mut out = self.sheet.clone().unwrap_or_default();
        out.push('\n');
        for row in self.rows.iter().take(50) {
            out.push_str(&row.iter().map(Cell::text).collect::<Vec<_>>().join(" ; "));
            out.push('\n');
        }
        out
    }
}

fn from_data(d: &Data) -> Cell {
    match d {
        Data::Int(i) => Cell::Number(Decimal::from(*i)),
        // The shortest decimal that prints as the float: what the spreadsheet shows.
        Data::Float(f) => Decimal::from_str(&f.to_string()).map(Cell::Number).unwrap_or(Cell::Empty),
        Data::String(s) => Cell::from_text(s),
        Data::Bool(b) => Cell::Text(b.to_string()),
        Data::DateTime(dt) => dt.as_datetime().map(|d| Cell::Date(d.date())).unwrap_or(Cell::Empty),
        Data::DateTimeIso(s) => NaiveDate::parse_from_str(s.get(..10).unwrap_or(s), "%Y-%m-%d").map(Cell::Date).unwrap_or(Cell::Empty),
        Data::DurationIso(s) => Cell::Text(s.clone()),
        Data::Error(_) | Data::Empty => Cell::Empty,
    }
}

/// Every sheet of a workbook, each checked against the cell limit before it is loaded.
pub fn read_workbook(bytes: &[u8], limits: &Limits, budget: &Budget) -> Result<Vec<Table>, ExtractError> {
    let unreadable = |e: &dyn std::fmt::Display| ExtractError::Unreadable(format!("spreadsheet: {e}"));
    let mut book = open_workbook_auto_from_rs(Cursor::new(bytes)).map_err(|e| match e {
        calamine::Error::Xlsx(calamine::XlsxError::Password) | calamine::Error::Xls(calamine::XlsError::Password) => ExtractError::Encrypted,
        e => unreadable(&e),
    })?;
    let mut tables = Vec::new();
    for name in book.sheet_names() {
        budget.check()?;
        if let Sheets::Xlsx(x) = &mut book {
            let dims = x.worksheet_cells_reader(&name).map_err(|e| unreadable(&e))?.dimensions();
            if dims.len() > limits.max_sheet_cells {
                return Err(ExtractError::TooLarge(format!("sheet {name} declares {} cells", dims.len())));
            }
        }
        let range = book.worksheet_range(&name).map_err(|e| unreadable(&e))?;
        let (h, w) = range.get_size();
        if (h as u64) * (w as u64) > limits.max_sheet_cells {
            return Err(ExtractError::TooLarge(format!("sheet {name} has {h}×{w} cells")));
        }
        let rows: Vec<Vec<Cell>> = range.rows().map(|r| r.iter().map(from_data).collect()).collect();
        let first = range.start().map_or(0, |(row, _)| row) + 1;
        tables.push(Table { sheet: Some(name), lines: (first..).take(rows.len()).collect(), rows, truncated: false });
    }
    Ok(tables)
}

/// Text of a CSV file: UTF-8 (with or without BOM), else Windows-1252.
pub fn decode_text(bytes: &[u8]) -> String {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        // Cut inside the last character (a truncated read): still UTF-8.
        Err(e) if e.error_len().is_none() => String::from_utf8_lossy(&bytes[..e.valid_up_to()]).into_owned(),
        Err(_) => encoding_rs::WINDOWS_1252.decode(bytes).0.into_owned(),
    }
}

pub fn read_csv(bytes: &[u8], limits: &Limits, budget: &Budget) -> Result<Table, ExtractError> {
    let text = decode_text(bytes);
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let sep = [b';', b'\t', b','].into_iter().max_by_key(|s| first.matches(*s as char).count()).unwrap_or(b';');
    let mut reader = csv::ReaderBuilder::new().delimiter(sep).has_headers(false).flexible(true).from_reader(text.as_bytes());
    let mut rows = Vec::new();
    let mut lines = Vec::new();
    let mut cells = 0u64;
    let mut truncated = false;
    for (i, record) in reader.records().enumerate() {
        if i.is_multiple_of(1024) {
            budget.check()?;
        }
        let record = record.map_err(|e| ExtractError::Unreadable(format!("CSV: {e}")))?;
        cells += record.len() as u64;
        if cells > limits.max_sheet_cells {
            truncated = true;
            break;
        }
        lines.push(record.position().map_or(0, |p| p.line() as u32));
        rows.push(record.iter().map(Cell::from_text).collect());
    }
    Ok(Table { sheet: None, rows, lines, truncated })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Column {
    Number,
    Date,
    Supplier,
    Siret,
    Ht,
    Tva,
    Ttc,
}

fn column_of(header: &str) -> Option<Column> {
    let h = fold(header);
    let h = h.trim();
    let has = |w: &str| h.split(|c: char| !c.is_alphanumeric() && c != '°').any(|t| t == w);
    Some(if h.contains("siret") || h.contains("siren") {
        Column::Siret
    } else if has("ttc") || h.contains("toutes taxes") {
        Column::Ttc
    } else if has("ht") || h.contains("hors tax") {
        Column::Ht
    } else if has("tva") || has("vat") {
        Column::Tva
    } else if h.contains("fournisseur") || h.contains("prestataire") || h.contains("raison sociale") || h.contains("supplier") || h.contains("titulaire") {
        Column::Supplier
    } else if h.starts_with("date") {
        Column::Date
    } else if h.starts_with("n°") || h.starts_with("no ") || h.starts_with("numero") || h.contains("facture") || h.starts_with("ref") {
        Column::Number
    } else {
        return None;
    })
}

/// Reads an expense statement out of a table: the first row (of the first 20) naming at
/// least an amount column and one other known column is the header.
pub fn financial_report(table: &Table, limits: &Limits) -> Option<FinancialReport> {
    let (header_at, columns) = table.rows.iter().take(20).enumerate().find_map(|(i, row)| {
        let cols: Vec<Option<Column>> = row.iter().map(|c| if let Cell::Text(t) = c { column_of(t) } else { None }).collect();
        let amounts = cols.iter().flatten().filter(|c| matches!(c, Column::Ht | Column::Ttc | Column::Tva)).count();
        let others = cols.iter().flatten().count() - amounts;
        (amounts >= 1 && others >= 1).then_some((i, cols))
    })?;
    let col = |which: Column| columns.iter().position(|c| *c == Some(which));
    let mut report =
        FinancialReport { sheet: table.sheet.clone(), columns: table.rows[header_at].iter().map(Cell::text).collect(), ..FinancialReport::default() };
    let mut stated: Option<Totals> = None;
    let mut sums = Totals::default();
    let add = |sum: &mut Option<Decimal>, v: Option<Decimal>| {
        if let Some(v) = v {
            *sum = Some(sum.unwrap_or_default() + v);
        }
    };
    for (k, row) in table.rows[header_at + 1..].iter().enumerate() {
        let get = |which: Column| col(which).and_then(|i| row.get(i));
        let text = |which: Column| get(which).map(Cell::text).filter(|t| !t.is_empty());
        let amount = |which: Column| get(which).and_then(Cell::number);
        let (ht, tva, ttc) = (amount(Column::Ht), amount(Column::Tva), amount(Column::Ttc));
        if ht.is_none() && ttc.is_none() && tva.is_none() {
            continue;
        }
        let is_total = row.iter().any(|c| matches!(c, Cell::Text(t) if fold(t).trim_start().starts_with("total")));
        if is_total {
            stated = Some(Totals { ht, tva, ttc });
            continue;
        }
        add(&mut sums.ht, ht);
        add(&mut sums.tva, tva);
        add(&mut sums.ttc, ttc);
        report.row_count += 1;
        if report.rows.len() < limits.max_listed {
            report.rows.push(ExpenseRow {
                line: table.lines.get(header_at + 1 + k).copied().filter(|&l| l > 0),
                number: text(Column::Number),
                date: get(Column::Date).and_then(|c| match c {
                    Cell::Date(d) => Some(*d),
                    Cell::Text(t) => parse_date(t),
                    _ => None,
                }),
                supplier: text(Column::Supplier),
                siret: text(Column::Siret).map(|s| s.chars().filter(char::is_ascii_digit).collect()),
                ht,
                tva,
                ttc,
            });
        }
    }
    report.totals = stated.unwrap_or(sums);
    Some(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn french_csv_in_windows_1252() {
        let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode("N° facture;Date;Fournisseur;SIRET;Montant HT;TVA;Montant TTC\nFA-1;12/06/2024;Société Sécurité;552 100 554 00025;1 000,00;200,00;1 200,00\nFA-2;13/06/2024;Éditeur;;2 500,50;500,10;3 000,60\nTotal;;;;3 500,50;700,10;4 200,60\n");
        let table = read_csv(&bytes, &Limits::default(), &Budget::new(Duration::from_secs(5))).unwrap();
        let report = financial_report(&table, &Limits::default()).unwrap();
        assert_eq!(report.row_count, 2);
        assert_eq!(report.rows[0].supplier.as_deref(), Some("Société Sécurité"));
        assert_eq!(report.rows[0].siret.as_deref(), Some("55210055400025"));
        assert_eq!(report.rows[1].ttc, Some(Decimal::from_str("3000.60").unwrap()));
        assert_eq!(report.totals.ttc, Some(Decimal::from_str("4200.60").unwrap()));
    }
}
