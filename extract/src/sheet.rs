//! Tables: spreadsheets through calamine (XLSX, XLS, ODS) and CSV (separator sniffed,
//! UTF-8 or Windows-1252). A table becomes typed cells, a detected header row, and, when
//! its columns are those of an expense statement, a [`FinancialReport`].

use std::io::Cursor;
use std::str::FromStr;

use calamine::{open_workbook_auto_from_rs, Data, Reader, Sheets};
use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::french::{fold, parse_amount, parse_date};
use crate::layout::{Layout, Row};
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
    let (mut report, read) = read_report(table, limits)?;
    report.totals = read.stated.unwrap_or(read.sums);
    Some(report)
}

/// What reading a table's rows gave beside the report: the total it states, the sums of
/// its rows, and which columns its header names.
struct ReportRead {
    stated: Option<Totals>,
    sums: Totals,
    columns: Vec<Option<Column>>,
}

fn header_columns(row: &[Cell]) -> Option<Vec<Option<Column>>> {
    let cols: Vec<Option<Column>> = row.iter().map(|c| if let Cell::Text(t) = c { column_of(t) } else { None }).collect();
    let amounts = cols.iter().flatten().filter(|c| matches!(c, Column::Ht | Column::Ttc | Column::Tva)).count();
    let others = cols.iter().flatten().count() - amounts;
    (amounts >= 1 && others >= 1).then_some(cols)
}

fn read_report(table: &Table, limits: &Limits) -> Option<(FinancialReport, ReportRead)> {
    let (header_at, columns) = table.rows.iter().take(20).enumerate().find_map(|(i, row)| header_columns(row).map(|cols| (i, cols)))?;
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
    Some((report, ReportRead { stated, sums, columns }))
}

/// An expense statement printed on a page (a PDF, or a scan read by OCR), where nothing
/// says which cell is which but the geometry: read only when it is one beyond doubt,
/// as every such statement is: a header naming the invoices' date, their number or
/// supplier, and an amount; rows that are invoices (each dated, each numbered or named);
/// and a total that is the sum of the rows, amount by amount. The sum is the check a
/// misread cell, a shifted column or a table of something else cannot pass; a table that
/// fails it is left to the text's reading (and a controller).
pub fn printed_report(layout: &Layout, limits: &Limits) -> Option<FinancialReport> {
    let rows = layout.rows();
    (0..rows.len()).filter_map(|at| table_under_header(&rows, at)).take(20).find_map(|table| {
        let (mut report, read) = read_report(&table, limits)?;
        let has = |c: Column| read.columns.contains(&Some(c));
        let invoices = has(Column::Date) && (has(Column::Number) || has(Column::Supplier) || has(Column::Siret));
        let every_row_an_invoice = report.row_count == report.rows.len()
            && report.rows.iter().all(|r| r.date.is_some() && (r.number.is_some() || r.supplier.is_some() || r.siret.is_some()));
        let stated = read.stated?;
        let compared: Vec<bool> =
            [(stated.ht, read.sums.ht), (stated.tva, read.sums.tva), (stated.ttc, read.sums.ttc)].into_iter().filter_map(|(s, sum)| Some(s? == sum?)).collect();
        let adds_up = compared.contains(&true) && !compared.contains(&false);
        (invoices && report.row_count > 0 && every_row_an_invoice && adds_up).then(|| {
            report.totals = stated;
            report
        })
    })
}

/// Words closer than this share a cell (a space is a quarter of a line); a column's
/// gap, two cells' padding, is wider.
const CELL_GAP: f32 = 0.4;

/// A layout row's cells: its words, parted where the gap between two is a column's;
/// each cell's text and horizontal extent.
fn cells_of(row: &Row) -> Vec<(String, f32, f32)> {
    let mut cells: Vec<(String, f32, f32)> = Vec::new();
    for w in &row.words {
        let height = (w.y1 - w.y0).max(1.0);
        match cells.last_mut() {
            Some(cell) if w.x0 - cell.2 <= height * CELL_GAP => {
                cell.0.push(' ');
                cell.0.push_str(&w.text);
                cell.2 = w.x1;
            }
            _ => cells.push((w.text.clone(), w.x0, w.x1)),
        }
    }
    cells
}

/// The table a header row heads: its column titles (a title wrapped over two or three
/// lines joined), columns split halfway between the titles (a cell's text lies in its
/// column, left-aligned, centred or right-aligned, so its middle is on its column's
/// side of that line), every row below placed cell by cell down to the row that states
/// the total. A line with neither amount nor date below a row is that row's cells
/// wrapped (a long name, a number cut at its dash) and is joined to it.
fn table_under_header(rows: &[Row], at: usize) -> Option<Table> {
    let mut header = cells_of(&rows[at]);
    let mut below = at + 1;
    // Lines of titles only under the first: the rest of wrapped titles ("Montant" / "HT").
    while below < rows.len() && below <= at + 2 {
        let line = cells_of(&rows[below]);
        if line.iter().any(|(t, ..)| !matches!(Cell::from_text(t), Cell::Text(_))) {
            break;
        }
        for (text, x0, x1) in line {
            match header.iter_mut().find(|h| x0 < h.2 && h.1 < x1) {
                Some(title) => {
                    title.0.push(' ');
                    title.0.push_str(&text);
                    (title.1, title.2) = (title.1.min(x0), title.2.max(x1));
                }
                None => header.push((text, x0, x1)),
            }
        }
        header.sort_by(|a, b| a.1.total_cmp(&b.1));
        below += 1;
    }
    let texts: Vec<Cell> = header.iter().map(|(t, ..)| Cell::Text(t.clone())).collect();
    let columns = header_columns(&texts)?;
    let bounds: Vec<f32> = header.windows(2).map(|w| (w[0].2 + w[1].1) / 2.0).collect();
    let column = |x: f32| bounds.iter().position(|b| x < *b).unwrap_or(bounds.len());
    let starts_a_row = |cells: &[String]| {
        cells.iter().zip(&columns).any(|(c, col)| {
            matches!((Cell::from_text(c), col), (Cell::Date(_), Some(Column::Date)) | (Cell::Number(_), Some(Column::Ht | Column::Tva | Column::Ttc)))
        })
    };
    let mut table = Table { sheet: None, rows: vec![texts], lines: vec![0], truncated: false };
    let mut pending: Option<Vec<String>> = None;
    for row in &rows[below..] {
        let mut cells = vec![String::new(); header.len()];
        for (text, x0, x1) in cells_of(row) {
            let cell = &mut cells[column((x0 + x1) / 2.0)];
            if !cell.is_empty() {
                cell.push(' ');
            }
            cell.push_str(&text);
        }
        if !starts_a_row(&cells) {
            if let Some(open) = pending.as_mut() {
                for (cell, more) in open.iter_mut().zip(cells).filter(|(_, more)| !more.is_empty()) {
                    // A number cut after its separator continues without a space.
                    if !cell.is_empty() && !cell.ends_with(['-', '/', '_', '.']) {
                        cell.push(' ');
                    }
                    cell.push_str(&more);
                }
                continue;
            }
        }
        if let Some(done) = pending.replace(cells) {
            table.rows.push(done.iter().map(|c| Cell::from_text(c)).collect());
            table.lines.push(0);
        }
        let total = pending.as_ref().is_some_and(|cells| cells.iter().any(|c| fold(c).trim_start().starts_with("total")));
        if total {
            table.rows.extend(pending.take().map(|cells| cells.iter().map(|c| Cell::from_text(c)).collect()));
            table.lines.push(0);
            return Some(table);
        }
    }
    None
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

    /// A page of rows, each a list of cells (left x, text): words 5 pt a character, one
    /// space (3 pt) apart, 10 pt high.
    fn page(rows: &[&[(f32, &str)]]) -> Layout {
        let mut words = Vec::new();
        for (r, cells) in rows.iter().enumerate() {
            let y0 = 40.0 + 20.0 * r as f32;
            for (x, text) in cells.iter() {
                let mut x = *x;
                for w in text.split(' ') {
                    let x1 = x + 5.0 * w.chars().count() as f32;
                    words.push(crate::layout::Word { text: w.to_owned(), x0: x, y0, x1, y1: y0 + 10.0, size: 10.0 });
                    x = x1 + 3.0;
                }
            }
        }
        Layout { pages: vec![crate::layout::Page { width: 595.0, height: 842.0, words }] }
    }

    const HEADER: &[(f32, &str)] =
        &[(20.0, "N° facture"), (100.0, "Date"), (170.0, "Fournisseur"), (300.0, "SIRET"), (400.0, "Montant HT"), (470.0, "TVA"), (520.0, "Montant TTC")];

    fn report_page(total_ttc: &str) -> Layout {
        page(&[
            &[(20.0, "Bilan financier – programme CaRE, domaine 1")],
            HEADER,
            // Amounts right-aligned under their titles, a long name reaching its column's edge.
            &[
                (20.0, "FA-2024-0012"),
                (100.0, "12/06/2024"),
                (170.0, "Société Sécurité Conseil"),
                (300.0, "552 100 554 00025"),
                (405.0, "8 000,00"),
                (465.0, "1 600,00"),
                (530.0, "9 600,00"),
            ],
            &[
                (20.0, "F2024-77"),
                (100.0, "03/10/2024"),
                (170.0, "Audit & Co"),
                (300.0, "732 829 320 00074"),
                (405.0, "2 500,00"),
                (475.0, "500,00"),
                (530.0, "3 000,00"),
            ],
            &[(20.0, "Total"), (400.0, "10 500,00"), (460.0, "2 100,00"), (525.0, total_ttc)],
            &[(20.0, "Certifié exact, le directeur")],
        ])
    }

    /// A table of invoices printed on a page is read as the spreadsheet's is, its columns
    /// by the header's geometry, only when its total is the sum of its rows.
    #[test]
    fn a_printed_table_of_invoices_whose_total_adds_up_is_a_report() {
        let limits = Limits::default();
        let report = printed_report(&report_page("12 600,00"), &limits).expect("a report");
        assert_eq!(report.row_count, 2);
        let first = &report.rows[0];
        assert_eq!(first.number.as_deref(), Some("FA-2024-0012"));
        assert_eq!(first.date, NaiveDate::from_ymd_opt(2024, 6, 12));
        assert_eq!(first.supplier.as_deref(), Some("Société Sécurité Conseil"));
        assert_eq!(first.siret.as_deref(), Some("55210055400025"));
        assert_eq!((first.ht, first.tva, first.ttc), (Decimal::from_str("8000.00").ok(), Decimal::from_str("1600.00").ok(), Decimal::from_str("9600.00").ok()));
        assert_eq!(report.totals.ttc, Decimal::from_str("12600.00").ok());
        // A total that is not the rows' sum: a cell misread, or not this table's total.
        assert_eq!(printed_report(&report_page("12 700,00"), &limits), None);
        // Rows that are not dated invoices: an invoice's own lines under "Date | Désignation".
        let lines = page(&[
            &[(20.0, "Date"), (100.0, "Désignation"), (400.0, "Montant HT")],
            &[(20.0, "12/06/2024"), (100.0, "Intervention sur site"), (405.0, "800,00")],
            &[(20.0, "Total HT"), (405.0, "800,00")],
        ]);
        assert_eq!(printed_report(&lines, &limits), None);
        // A row with no date is not an invoice of the report.
        let undated = page(&[
            HEADER,
            &[(20.0, "FA-1"), (170.0, "Audit & Co"), (405.0, "800,00"), (465.0, "160,00"), (530.0, "960,00")],
            &[(20.0, "Total"), (405.0, "800,00"), (465.0, "160,00"), (530.0, "960,00")],
        ]);
        assert_eq!(printed_report(&undated, &limits), None);
    }

    /// Narrow columns wrap: titles over two lines ("Montant" / "HT"), a number cut after
    /// its dash and a name over two lines, joined to their row.
    #[test]
    fn wrapped_titles_and_cells_are_joined() {
        let wrapped = page(&[
            &[(20.0, "N° facture"), (100.0, "Date"), (170.0, "Fournisseur"), (300.0, "SIRET"), (400.0, "Montant"), (470.0, "TVA"), (520.0, "Montant")],
            &[(410.0, "HT"), (530.0, "TTC")],
            &[
                (20.0, "2024/83/752"),
                (100.0, "13/05/2024"),
                (170.0, "CYBERVIGIE SA"),
                (300.0, "53084813400017"),
                (405.0, "7 900,00"),
                (465.0, "1 580,00"),
                (530.0, "9 480,00"),
            ],
            &[
                (20.0, "VT-2024-"),
                (100.0, "20/10/2024"),
                (170.0, "ANNUAIRE"),
                (300.0, "80512347800010"),
                (405.0, "8 400,00"),
                (465.0, "1 680,00"),
                (525.0, "10 080,00"),
            ],
            &[(20.0, "3790"), (170.0, "EXPERTISE SAS")],
            &[(20.0, "Total"), (400.0, "16 300,00"), (465.0, "3 260,00"), (525.0, "19 560,00")],
        ]);
        let report = printed_report(&wrapped, &Limits::default()).expect("a report");
        assert_eq!(report.columns[4], "Montant HT");
        assert_eq!(report.row_count, 2);
        assert_eq!(report.rows[1].number.as_deref(), Some("VT-2024-3790"));
        assert_eq!(report.rows[1].supplier.as_deref(), Some("ANNUAIRE EXPERTISE SAS"));
        assert_eq!(report.rows[1].siret.as_deref(), Some("80512347800010"));
        assert_eq!(report.totals.ttc, Decimal::from_str("19560.00").ok());
    }
}
