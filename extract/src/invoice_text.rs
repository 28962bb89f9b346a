//! Invoice fields from text laid out in rows (see [`crate::layout`]): each row split into
//! its cells where a column gap was seen, a label's value taken from the rest of its
//! cell, the next cell of its row, or the cell under it (a header row over a value row).
//! Labels in French first, then English, German and Dutch, as real invoices print them.
//! The seller is the issuer: the name beside the legal mentions, the one "sold by", or a
//! company name heading the page, never a name under "Facturé à", "Client", "Bill to".

use std::sync::LazyLock;

use regex::Regex;
use rust_decimal::Decimal;

use caregate_schemas::extracted::{Invoice, InvoiceSource, Location};

use crate::french::{all_dates, find_siren, find_siret, find_vat_id, fold, parse_amount};

/// Column gaps in [`crate::layout::Row::text`] are three spaces.
const CELL_GAP: &str = "   ";

struct Cell {
    folded: String,
    raw: String,
    /// Its words and their horizontal extent on the page, when it was laid out.
    words: Vec<(String, f32, f32)>,
    /// Its page (1-based) and vertical extent, when it was laid out.
    place: Option<(usize, f32, f32)>,
}

impl Cell {
    /// Where the cell is, for a field read from it.
    fn location(&self) -> Option<Location> {
        let ((x0, x1), (page, y0, y1)) = (self.span()?, self.place?);
        Some(Location::Page { page: page as u32, x0: x0.floor() as i32, y0: y0.floor() as i32, x1: x1.ceil() as i32, y1: y1.ceil() as i32 })
    }

    fn span(&self) -> Option<(f32, f32)> {
        Some((self.words.first()?.1, self.words.last()?.2))
    }

    /// Where `label` is said by some of the cell's words (from any of them: a header
    /// cell may hold two column titles), their horizontal extent.
    fn label_span(&self, label: &str) -> Option<(f32, f32)> {
        let n = label.split_whitespace().count();
        (0..self.words.len()).find_map(|i| {
            let said: Vec<String> = self.words.iter().skip(i).take(n).map(|(w, ..)| fold(w)).collect();
            (said.len() == n && said.join(" ").trim_end_matches([':', '.']) == label).then(|| (self.words[i].1, self.words[i + n - 1].2))
        })
    }
}

fn cell(text: &str, words: Vec<(String, f32, f32)>, place: Option<(usize, f32, f32)>) -> Cell {
    Cell { folded: fold(text), raw: text.to_owned(), words, place }
}

/// Rows of cells from a layout: a cell ends where the gap to the next word is a
/// column's, as in [`crate::layout::Row::text`].
fn rows_of_layout(layout: &crate::layout::Layout) -> Vec<Vec<Cell>> {
    layout
        .rows()
        .iter()
        .map(|row| {
            let mut cells: Vec<Vec<(String, f32, f32)>> = Vec::new();
            let mut prev: Option<&crate::layout::Word> = None;
            for w in &row.words {
                // A lone dash or bar separates two phrases, as in `rows_of`.
                if matches!(w.text.as_str(), "-" | "–" | "|") {
                    cells.push(Vec::new());
                    prev = None;
                    continue;
                }
                let gap = prev.map(|p| w.x0 - p.x1 > (p.y1 - p.y0).max(1.0) * 1.2);
                if gap.unwrap_or(true) && cells.last().is_none_or(|c| !c.is_empty()) {
                    cells.push(Vec::new());
                }
                cells.last_mut().expect("a cell").push((w.text.clone(), w.x0, w.x1));
                prev = Some(w);
            }
            cells
                .into_iter()
                .filter(|words| !words.is_empty())
                .map(|words| cell(&words.iter().map(|(t, ..)| t.as_str()).collect::<Vec<_>>().join(" "), words, Some((row.page, row.y0(), row.y1()))))
                .collect()
        })
        .collect()
}

fn rows_of(text: &str) -> Vec<Vec<Cell>> {
    text.lines()
        .map(|line| {
            // A dash or a bar between two phrases separates them as a column gap does
            // (`FACTURE N° FA-1 - Total TTC : 120,00 EUR`).
            line.split(CELL_GAP)
                .flat_map(|c| c.split(" - ").flat_map(|c| c.split(" – ")).flat_map(|c| c.split(" | ")))
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(|c| cell(c, Vec::new(), None))
                .collect::<Vec<_>>()
        })
        .filter(|r| !r.is_empty())
        .collect()
}

/// Where `label` starts `cell` (on a word boundary), the raw rest after it. A label
/// written `=word` must be the whole cell (but for a colon).
fn after_label<'a>(cell: &'a Cell, label: &str) -> Option<&'a str> {
    let folded = cell.folded.trim_start_matches(['*', '-', ' ']);
    // Characters skipped: the trimmed ones are ASCII, one byte each.
    let skipped = cell.folded.len() - folded.len();
    if let Some(exact) = label.strip_prefix('=') {
        // `Total`, `Total :`, `Total EUR`, `Total (€)`.
        let bare = folded.trim_end_matches([':', ' ', '.']);
        let bare = ["(eur)", "(€)", "eur", "€", "usd", "$", "chf", "gbp"].iter().find_map(|c| bare.strip_suffix(c)).unwrap_or(bare).trim_end();
        return (bare == exact).then_some("");
    }
    let consumed = label_prefix(folded, label)?;
    if folded.chars().nth(consumed).is_some_and(char::is_alphanumeric) {
        return None;
    }
    // Folding keeps one character per character: the raw rest starts as many characters in.
    let chars = skipped + consumed;
    let at = cell.raw.char_indices().nth(chars).map_or(cell.raw.len(), |(i, _)| i);
    Some(&cell.raw[at..])
}

/// How many characters of `folded` spell `label` at its start, the dots of an
/// abbreviation skipped ("total h.t." is "total ht", "t.v.a." is "tva"): `None` when it
/// does not start so.
fn label_prefix(folded: &str, label: &str) -> Option<usize> {
    let mut text = folded.chars();
    let mut consumed = 0;
    for wanted in label.chars() {
        loop {
            let c = text.next()?;
            consumed += 1;
            if c == wanted {
                break;
            }
            if c != '.' {
                return None;
            }
        }
    }
    Some(consumed)
}

fn clean_value(s: &str) -> &str {
    s.trim().trim_start_matches([':', '.', '°', '#', ' ']).trim()
}

/// The value of the first label found, by priority: in the rest of its cell or in the
/// next cell of its row, for any label; only then in the cell under it. A label with its
/// value beside it is a total; the same words over a column ("Total HT" heading the
/// items' amounts) are a title whose first value is an item's.
fn labelled<T>(rows: &[Vec<Cell>], labels: &[&str], skip: impl Fn(&Cell) -> bool, parse: impl Fn(&str) -> Option<T>) -> Option<(T, Option<Location>)> {
    beside(rows, labels, &skip, &parse).or_else(|| below(rows, labels, &skip, &parse))
}

fn beside<T>(rows: &[Vec<Cell>], labels: &[&str], skip: &impl Fn(&Cell) -> bool, parse: &impl Fn(&str) -> Option<T>) -> Option<(T, Option<Location>)> {
    for label in labels {
        for row in rows {
            for (c, cell) in row.iter().enumerate() {
                let Some(rest) = after_label(cell, label) else { continue };
                if skip(cell) {
                    continue;
                }
                let rest = clean_value(rest);
                if !rest.is_empty() {
                    if let Some(v) = parse(rest) {
                        return Some((v, cell.location()));
                    }
                }
                if let Some(next) = row.get(c + 1) {
                    if let Some(v) = parse(clean_value(&next.raw)) {
                        return Some((v, next.location()));
                    }
                }
            }
        }
    }
    None
}

fn below<T>(rows: &[Vec<Cell>], labels: &[&str], skip: &impl Fn(&Cell) -> bool, parse: &impl Fn(&str) -> Option<T>) -> Option<(T, Option<Location>)> {
    for label in labels {
        for (r, row) in rows.iter().enumerate() {
            for (c, cell) in row.iter().enumerate() {
                if after_label(cell, label).is_none() || skip(cell) {
                    continue;
                }
                // A header row over its values: the same column, one or two rows down.
                // Not for a bare tax word: it titles line items' rate or tax columns too.
                if GENERIC_TAX_WORDS.contains(label) {
                    continue;
                }
                if let Some(v) = under(rows, r, c, cell.label_span(label).or(cell.span()), parse) {
                    return Some(v);
                }
            }
        }
        // A column title inside a header cell that holds two (laid out only).
        if GENERIC_TAX_WORDS.contains(label) {
            continue;
        }
        for (r, row) in rows.iter().enumerate() {
            for (c, cell) in row.iter().enumerate() {
                if let Some(span) = cell.label_span(label).filter(|_| after_label(cell, label).is_none() && !skip(cell)) {
                    if let Some(v) = under(rows, r, c, Some(span), parse) {
                        return Some(v);
                    }
                }
            }
        }
    }
    None
}

/// Tax words that title line items' columns as well as the total's: their value is
/// taken beside them, never under them.
const GENERIC_TAX_WORDS: &[&str] = &["tva", "vat", "tax", "mwst", "ust", "btw"];

/// The value under a header cell: by the page's geometry when known (the cell below
/// that overlaps the title most), else by the column's index.
fn under<T>(rows: &[Vec<Cell>], r: usize, c: usize, span: Option<(f32, f32)>, parse: &impl Fn(&str) -> Option<T>) -> Option<(T, Option<Location>)> {
    for below in rows.iter().skip(r + 1).take(2) {
        let candidate = match span {
            Some((x0, x1)) => below
                .iter()
                .filter_map(|b| b.span().map(|(b0, b1)| (b, x1.min(b1) - x0.max(b0))))
                .filter(|(_, overlap)| *overlap > 0.0)
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .map(|(b, _)| b),
            None => (below.len() == rows[r].len()).then(|| &below[c]),
        };
        if let Some(b) = candidate {
            if let Some(v) = parse(clean_value(&b.raw)) {
                return Some((v, b.location()));
            }
        }
    }
    None
}

static AMOUNT_CELL: LazyLock<Regex> = LazyLock::new(|| {
    // A negative amount may be written in parentheses, both of them: "(20" is the start
    // of a rate a narrow column wrapped ("Montant TVA (20 %)"), not an amount.
    Regex::new(r"^(?:€|\$|£|EUR|USD|GBP|CHF)?\s*(-?\(\d{1,3}(?:[ \u{a0}\u{202f}.',]\d{3})*(?:[.,]\d{1,2})?\)|-?\d{1,3}(?:[ \u{a0}\u{202f}.',]\d{3})*(?:[.,]\d{1,2})?|-?\d+(?:[.,]\d{1,2})?)\s*(?:€|\$|£|EUR|USD|GBP|CHF|euros?)?$")
        .unwrap()
});

static RATE_OR_UNIT: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^(?:\d{1,2}(?:[.,]\d{1,2})?\s*%|\((?:€|EUR|USD|\$|en euros?)\))\s*:?\s*").unwrap());

/// A cell that is an amount and nothing else (a currency sign or code beside it), after
/// a rate or a unit that may follow the label (`TVA 20 % 2 500,00 €`, `Total (EUR) 12,00`).
fn amount(s: &str) -> Option<Decimal> {
    let s = RATE_OR_UNIT.replace(s.trim(), "");
    AMOUNT_CELL.captures(s.trim()).and_then(|c| parse_amount(&c[1]))
}

static NUMBER_TOKEN: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[A-Za-z0-9][A-Za-z0-9\-/_.]*[A-Za-z0-9]$").unwrap());

/// An invoice number: the first token, with a digit, that is not a date.
fn number(s: &str) -> Option<String> {
    // A colon never belongs to a number; OCR sometimes reads one into it (`FA:-2024-0042`).
    // Producers print a hyphen as a minus sign or a non-breaking hyphen (Ghostscript
    // maps `-` to U+2212): the number is the same.
    let token: String = s
        .split_whitespace()
        .next()?
        .trim_end_matches([',', ';'])
        .chars()
        .filter(|c| *c != ':')
        .map(|c| if matches!(c, '\u{2212}' | '\u{2010}' | '\u{2011}' | '\u{2013}') { '-' } else { c })
        .collect();
    let token = token.as_str();
    let ok = token.len() >= 3 && token.chars().any(|c| c.is_ascii_digit()) && NUMBER_TOKEN.is_match(token) && all_dates(token).is_empty();
    ok.then(|| token.to_owned())
}

fn date(s: &str) -> Option<chrono::NaiveDate> {
    all_dates(s).into_iter().find(|(at, _)| *at < 4).map(|(_, d)| d)
}

// Labels by priority, folded (lower case, no accents).
const NUMBER_LABELS: &[&str] = &[
    "n° de facture",
    "n° facture",
    "numero facture",
    "reference facture",
    "reference de la facture",
    "numero de facture",
    "no de facture",
    "facture n°",
    "facture no",
    "facture n",
    "facture numero",
    "avoir n°",
    "devis n°",
    "bon de commande n°",
    "commande n°",
    "invoice number",
    "invoice no",
    "invoice n°",
    "invoice #",
    "rechnungsnummer",
    "rechnungsnr",
    "rechnung nr",
    "factuurnummer",
    "factuurnr",
    "=factuur",
    "=facture",
    "=invoice",
    "=rechnung",
];
const DATE_LABELS: &[&str] = &[
    "date de facture",
    "date de la facture",
    "date d'edition",
    "emise le",
    "emis le",
    "date de facturation",
    "date d'emission",
    "date facture",
    "facture du",
    "invoice date",
    "date of issue",
    "rechnungsdatum",
    "factuur datum",
    "factuurdatum",
    "datum",
    "date",
];
const HT_LABELS: &[&str] = &[
    "total ht",
    "net total",
    "total before tax",
    "total excluding",
    "amount excl",
    "zwischensumme",
    "nettosumme",
    "totaal excl",
    "base imponible",
    "montant total ht",
    "prix total ht",
    "montant hors taxes",
    "total hors tva",
    "net ht",
    "montant ht",
    "total hors taxes",
    "total hors taxe",
    "sous-total ht",
    "base ht",
    "total net ht",
    "subtotal",
    "sub-total",
    "total excl",
    "total (excl",
    "net amount",
    "nettobetrag",
    "summe netto",
    "gesamt netto",
    "subtotaal",
    "grondslag",
];
const TVA_LABELS: &[&str] = &[
    "total tva",
    "montant tva",
    "montant de la tva",
    "tva",
    "total vat",
    "vat amount",
    "vat",
    "tax",
    "sales tax",
    "gst",
    "mwst",
    "ust",
    "btw bedrag",
    "btw",
    "iva",
];
const TTC_LABELS: &[&str] = &[
    "total ttc",
    "grand total",
    "total payable",
    "amount payable",
    "gesamtsumme",
    "bruttobetrag",
    "summe brutto",
    "gesamt brutto",
    "totaal incl",
    "importe total",
    "total factura",
    "montant total ttc",
    "prix total ttc",
    "total net a payer",
    "total a regler",
    "montant a regler",
    "reste a payer",
    "solde a payer",
    "montant ttc",
    "net a payer",
    "total toutes taxes",
    "total a payer",
    "montant a payer",
    "total amount due",
    "amount due",
    "total due",
    "total for this invoice",
    "invoice total",
    "total (incl",
    "total incl",
    "gesamtbetrag",
    "rechnungsbetrag",
    "endbetrag",
    "zu zahlen",
    "factuur totaal",
    "te betalen",
    "=total",
    "=totaal",
    "=summe",
];

/// Cells that carry an identifier, never an amount of tax.
fn is_identifier_cell(cell: &Cell) -> bool {
    let f = &cell.folded;
    f.contains("intracom")
        || f.contains("siret")
        || f.contains("siren")
        || f.contains("numero")
        || f.contains("nummer")
        || f.contains("number")
        || f.contains("n°")
        || f.contains("id") && f.contains("tva")
        || find_vat_id(&cell.raw).is_some()
}

const BUYER_LABELS: &[&str] = &[
    "facture a",
    "facturer a",
    "facture au nom",
    "adresse de facturation",
    "adresse de livraison",
    "livre a",
    "livraison",
    "client",
    "destinataire",
    "bill to",
    "billed to",
    "ship to",
    "sold to",
    "customer",
    "kunde",
    "rechnungsadresse",
    "lieferadresse",
    "factuuradres",
    "afleveradres",
    "klant",
    "t.a.v",
    "attn",
];

/// Cells that belong to the buyer: under a buyer label, its block. On a laid-out page the
/// block is a column: the label's cell (and its value close beside it), then for four
/// rows the cell that starts where the label starts; another column on the same rows
/// (the seller's address beside the client's) is not the buyer's. Text without
/// geometry has no columns: the label's row and the four after it.
fn buyer_cells(rows: &[Vec<Cell>]) -> Vec<Vec<bool>> {
    let mut buyer: Vec<Vec<bool>> = rows.iter().map(|row| vec![false; row.len()]).collect();
    let is_label = |c: &Cell| BUYER_LABELS.iter().any(|l| after_label(c, l).is_some() || c.folded.contains(&format!("{l}:")));
    for (r, row) in rows.iter().enumerate() {
        // Every label of the row: a billing and a delivery address often stand side by
        // side, both the buyer's.
        for c0 in (0..row.len()).filter(|&c| is_label(&row[c])) {
            let Some((x0, x1)) = row[c0].span() else {
                for b in buyer.iter_mut().skip(r).take(5) {
                    b.iter_mut().for_each(|x| *x = true);
                }
                break;
            };
            buyer[r][c0] = true;
            if let Some((n0, _)) = row.get(c0 + 1).and_then(Cell::span) {
                buyer[r][c0 + 1] |= n0 - x1 < 60.0;
            }
            for (below, marks) in rows.iter().zip(buyer.iter_mut()).skip(r + 1).take(4) {
                let nearest = below.iter().enumerate().filter_map(|(i, c)| c.span().map(|(b0, _)| (i, (b0 - x0).abs()))).min_by(|a, b| a.1.total_cmp(&b.1));
                if let Some((i, _)) = nearest.filter(|(_, d)| *d < 40.0) {
                    marks[i] = true;
                }
            }
        }
    }
    buyer
}

static COMPANY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^([A-Z0-9][\w&'’.\-]*(?:[ ,]+[\w&'’.\-()]+){0,6}?,?\s+(?:S\.?A\.?S\.?U?|SARL|EURL|EIRL|EI|SA|SCOP|SCIC|SNC|GIE|SELARL|Inc\.?|Ltd\.?|LLC|LLP|PLC|GmbH|AG|KG|B\.V\.|N\.V\.|BV|NV|S\.A\.|S\.L\.|SpA|S\.p\.A\.)(?:\s*\([^)]{1,30}\))?)(?:$|[\s,.;])")
        .unwrap()
});
static SOLD_BY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?im)\b(?:sold by|vendu par|verkauft (?:von|durch)|issued by|[ée]mise? par)\s+(.{3,60}?(?:Inc\.|Ltd\.|[^.\s]))(?:\.(?:\s|$)|$)").unwrap()
});
const LABEL_WORDS: &[&str] = &["facture", "invoice", "avoir", "devis", "date", "page", "bon de commande", "rechnung", "factuur", "kopie", "copy", "duplicata"];

fn seller(rows: &[Vec<Cell>], text: &str) -> Option<String> {
    let buyer = buyer_cells(rows);
    // The legal mentions: the name on the row before "au capital", "siège social"...
    for (r, row) in rows.iter().enumerate() {
        let line: String = row.iter().map(|c| c.folded.as_str()).collect::<Vec<_>>().join(" ");
        if line.contains("au capital") || line.starts_with("siege social") || line.contains("siege social :") {
            if let Some(name) = COMPANY.captures(&row[0].raw).map(|c| c[1].trim().to_owned()) {
                return Some(name);
            }
            if let Some(prev) = r.checked_sub(1).map(|p| &rows[p]).filter(|p| p.len() == 1 && !buyer[r - 1][0]) {
                let name = prev[0].raw.trim();
                if name.split_whitespace().count() <= 6 && !name.chars().any(|c| c.is_ascii_digit()) {
                    return Some(name.to_owned());
                }
            }
        }
    }
    if let Some(c) = SOLD_BY.captures(text) {
        return Some(c[1].trim().to_owned());
    }
    // A company name heading the page (its own cell, or the first part of one).
    for (r, row) in rows.iter().enumerate().take(25) {
        for (c, cell) in row.iter().enumerate() {
            if buyer[r][c] {
                continue;
            }
            for part in cell.raw.split(" - ").flat_map(|p| p.split(" – ")) {
                if let Some(m) = COMPANY.captures(part.trim()) {
                    return Some(m[1].trim().to_owned());
                }
            }
        }
    }
    // A company name in the legal mentions at the foot, beside its SIRET or VAT id.
    for row in rows.iter().rev().take(8) {
        if row.iter().any(|c| c.folded.contains("siret") || c.folded.contains("siren") || c.folded.contains("r.c.s") || c.folded.contains("tva")) {
            if let Some(m) = row.iter().find_map(|c| COMPANY.captures(c.raw.trim())) {
                return Some(m[1].trim().to_owned());
            }
        }
    }
    // Else the first cell that is not a label, a title, an identifier or the buyer's, in
    // the page's head: above the first row of column titles (three cells or more, no
    // digit), where the body begins — a column title or an item is nobody's name.
    let buyer = &buyer;
    let head = rows.iter().position(|row| row.len() >= 3 && row.iter().all(|c| !c.raw.chars().any(|ch| ch.is_ascii_digit()))).unwrap_or(rows.len());
    rows[..head]
        .iter()
        .enumerate()
        .flat_map(|(r, row)| row.iter().enumerate().filter(move |(c, _)| !buyer[r][*c]).map(|(_, cell)| cell).take(1))
        .find(|c| {
            let f = c.folded.trim();
            !LABEL_WORDS.iter().chain(BUYER_LABELS).any(|w| f.starts_with(w)) && c.raw.chars().any(char::is_alphabetic) && !is_identifier_cell(c)
        })
        .map(|c| c.raw.trim().to_owned())
}

fn currency(text: &str) -> Option<String> {
    let count = |needles: &[&str]| needles.iter().map(|n| text.matches(n).count()).sum::<usize>();
    let found = [("EUR", count(&["€", "EUR"])), ("USD", count(&["$", "USD", "US Dollars"])), ("GBP", count(&["£", "GBP"])), ("CHF", count(&["CHF"]))];
    found.iter().filter(|(_, n)| *n > 0).max_by_key(|(_, n)| *n).map(|(c, _)| (*c).to_owned())
}

static INVOICE_NUMBER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:facture|invoice|avoir|devis|bon de commande)\s*(?:d'avoir\s*)?(?:n[°ºo]\.?|num[ée]ro|number|no\.?|#)\s*:?\s*([A-Z0-9][A-Z0-9\-/_.]{1,30}[A-Z0-9])").unwrap()
});

/// "Facture VT-2024-4436", "Invoice VT/2022/0001": a number right after the title word,
/// with letters and a separator or a digit run, never a word ("Facture du 12 juin").
static TITLED_NUMBER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?im)^\s*(?:facture|invoice|rechnung|factuur)\s+((?:[A-Z]{1,6}[-/_.]?)?\d[A-Z0-9\-/_.]*[A-Z0-9]|\d+)(?:\s|$)").unwrap());

/// An invoice's fields from its text (rows of cells when it was laid out).
pub fn invoice_from_text(text: &str) -> Invoice {
    from_rows(rows_of(text), text)
}

/// The same from a laid-out page: values under their column titles found by geometry.
pub fn invoice_from_layout(layout: &crate::layout::Layout, text: &str) -> Invoice {
    from_rows(rows_of_layout(layout), text)
}

/// A French VAT id a narrow column wrapped over two lines ("N° TVA : FR63 530 848"
/// above "134"): the end of a cell naming the VAT, completed by the digits of the cell
/// below it in the same column, taken only when together they make an id whose key
/// checks (FR + key + SIREN, key = (12 + 3 × (SIREN mod 97)) mod 97).
fn wrapped_vat_id(rows: &[Vec<Cell>]) -> Option<(String, Option<Location>)> {
    static HEAD: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"FR[ \u{a0}]?\d[\d \u{a0}]*$").unwrap());
    let bare = |s: &str| s.chars().filter(char::is_ascii_alphanumeric).collect::<String>();
    for (i, row) in rows.iter().enumerate() {
        for cell in row.iter().filter(|c| c.folded.contains("tva") || c.folded.contains("vat")) {
            let (Some(head), Some((x0, x1)), Some((page, top, bottom))) = (HEAD.find(cell.raw.trim_end()), cell.span(), cell.place) else { continue };
            let head = bare(head.as_str());
            // The next cell down the same column, within a line's height (rows of a
            // slightly askew scan may put another line in between).
            let line = bottom - top;
            let next_down = rows[i + 1..].iter().take(3).flatten().find(|c| {
                c.span().is_some_and(|(a, b)| a < x1 && b > x0)
                    && c.place.is_some_and(|(p, t, _)| p == page && t >= bottom - line / 2.0 && t - bottom < line * 1.5)
            });
            let Some(rest) = next_down.filter(|c| c.raw.trim().chars().all(|ch| ch.is_ascii_digit() || ch == ' ')) else { continue };
            let id = head + &bare(&rest.raw);
            if id.len() == 13 && french_vat_key_checks(&id) {
                return Some((id, cell.location()));
            }
        }
    }
    None
}

fn french_vat_key_checks(id: &str) -> bool {
    let (Ok(key), Ok(siren)) = (id[2..4].parse::<u64>(), id[4..].parse::<u64>()) else { return false };
    key == (12 + 3 * (siren % 97)) % 97
}

/// Where the first cell is whose letters and digits contain `value`'s (spaces, dots and
/// dashes between groups ignored).
fn holding(rows: &[Vec<Cell>], value: &str) -> Option<Location> {
    let bare = |s: &str| s.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_uppercase()).collect::<String>();
    let wanted = bare(value);
    if wanted.is_empty() {
        return None;
    }
    rows.iter().flatten().find(|c| bare(&c.raw).contains(&wanted)).and_then(Cell::location)
}

/// A value found, with where it was found noted under its field's name.
fn kept<T>(locations: &mut std::collections::BTreeMap<String, Location>, field: &str, found: Option<(T, Option<Location>)>) -> Option<T> {
    let (value, at) = found?;
    if let Some(at) = at {
        locations.insert(field.to_owned(), at);
    }
    Some(value)
}

/// Mentions that no VAT is charged on the invoice, folded (French, English, German, Dutch,
/// Spanish).
const WITHOUT_VAT: &[&str] = &[
    "tva non applicable",
    "293 b du cgi",
    "293b du cgi",
    "exoneration de tva",
    "exonere de tva",
    "exoneree de tva",
    "autoliquidation",
    "sans tva",
    "vat not applicable",
    "vat exempt",
    "exempt from vat",
    "reverse charge",
    "ohne mwst",
    "ohne ust",
    "steuerfrei",
    "btw verlegd",
    "exento de iva",
];

fn without_vat(text: &str) -> bool {
    let folded = crate::french::fold(text);
    WITHOUT_VAT.iter().any(|m| folded.contains(m))
}

fn from_rows(rows: Vec<Vec<Cell>>, text: &str) -> Invoice {
    let mut locations = std::collections::BTreeMap::new();
    let number = kept(&mut locations, "number", labelled(&rows, NUMBER_LABELS, |_| false, number))
        .or_else(|| INVOICE_NUMBER.captures(text).map(|c| c[1].to_owned()))
        .or_else(|| TITLED_NUMBER.captures_iter(text).find_map(|c| number(&c[1])));
    let dated = labelled(&rows, DATE_LABELS, |c| c.folded.contains("echeance") || c.folded.contains("due"), date);
    let issue_date = kept(&mut locations, "issue_date", dated).or_else(|| crate::french::parse_date(text));
    let mut total_ht = kept(&mut locations, "total_ht", labelled(&rows, HT_LABELS, is_identifier_cell, amount));
    let mut total_tva = kept(&mut locations, "total_tva", labelled(&rows, TVA_LABELS, is_identifier_cell, amount));
    let mut total_ttc = kept(&mut locations, "total_ttc", labelled(&rows, TTC_LABELS, is_identifier_cell, amount));
    // Two of the three totals tell the third (an invoice with no tax prints no HT).
    match (total_ht, total_tva, total_ttc) {
        (None, Some(tva), Some(ttc)) => total_ht = Some(ttc - tva),
        (Some(ht), None, Some(ttc)) if ttc >= ht => total_tva = Some(ttc - ht),
        (Some(ht), Some(tva), None) => total_ttc = Some(ht + tva),
        // An invoice that says no VAT applies (a French micro-entrepreneur's "TVA non
        // applicable, art. 293 B du CGI", an exemption, a reverse charge) prints one
        // total: it is both.
        (None, None, Some(ttc)) if without_vat(text) => {
            total_ht = Some(ttc);
            if let Some(at) = locations.get("total_ttc").cloned() {
                locations.insert("total_ht".to_owned(), at);
            }
        }
        (Some(ht), None, None) if without_vat(text) => {
            total_ttc = Some(ht);
            if let Some(at) = locations.get("total_ht").cloned() {
                locations.insert("total_ttc".to_owned(), at);
            }
        }
        _ => {}
    }
    let seller_name = seller(&rows, text);
    if let Some(at) = seller_name.as_deref().and_then(|name| rows.iter().flatten().find(|c| c.raw.contains(name)).and_then(Cell::location)) {
        locations.insert("seller_name".to_owned(), at);
    }
    let seller_siret = find_siret(text);
    let seller_siren = find_siren(text).or_else(|| seller_siret.as_ref().map(|s| s[..9].to_owned()));
    let vat_id = find_vat_id(text).or_else(|| {
        let (id, at) = wrapped_vat_id(&rows)?;
        if let Some(at) = at {
            locations.insert("vat_id".to_owned(), at);
        }
        Some(id)
    });
    // Identifiers are found in the running text (they are often cut in groups of digits);
    // their place is the cell that holds them whole, where one does.
    for (field, value) in [("seller_siret", &seller_siret), ("seller_siren", &seller_siren), ("vat_id", &vat_id)] {
        if let Some(at) = value.as_deref().and_then(|v| holding(&rows, v)) {
            locations.insert(field.to_owned(), at);
        }
    }
    Invoice {
        number,
        type_code: None,
        issue_date,
        seller_name,
        seller_siren,
        seller_siret,
        seller_legal_ids: Vec::new(),
        vat_id,
        total_ht,
        total_tva,
        total_ttc,
        currency: currency(text),
        profile: None,
        source: InvoiceSource::Text,
        locations,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str_exact(s).unwrap()
    }

    use crate::layout::{Layout, Page, Word};

    /// A 10-point word at (`x0`, `y`), 6 points a character.
    fn w(text: &str, x0: f32, y: f32) -> Word {
        Word { text: text.into(), x0, y0: y, x1: x0 + 6.0 * text.chars().count() as f32, y1: y + 10.0, size: 10.0 }
    }

    #[test]
    fn french_label_wordings_seen_on_invoices() {
        let text =
            "ACME SAS\nN° facture : F-2024-88\nÉmise le 12 juin 2024\nMontant total HT :   1 000,00 €\nTVA 20 % :   200,00 €\nTotal à régler :   1 200,00 €\n";
        let inv = invoice_from_text(text);
        assert_eq!(inv.number.as_deref(), Some("F-2024-88"));
        assert_eq!(inv.issue_date, chrono::NaiveDate::from_ymd_opt(2024, 6, 12));
        assert_eq!((inv.total_ht, inv.total_tva, inv.total_ttc), (Some(dec("1000.00")), Some(dec("200.00")), Some(dec("1200.00"))));
    }

    #[test]
    fn english_german_and_spanish_total_wordings() {
        for (ht, tva, ttc) in
            [("Net total", "VAT 20%", "Grand total"), ("Zwischensumme", "MwSt. 19 %", "Gesamtsumme"), ("Base imponible", "IVA 21 %", "Importe total")]
        {
            let text = format!("ACME Ltd\nInvoice number: 2024-5\nDate: 02/07/2024\n{ht}:   1 000,00 €\n{tva}:   200,00 €\n{ttc}:   1 200,00 €\n");
            let inv = invoice_from_text(&text);
            assert_eq!((inv.total_ht, inv.total_tva, inv.total_ttc), (Some(dec("1000.00")), Some(dec("200.00")), Some(dec("1200.00"))), "{ht} / {tva} / {ttc}");
        }
    }

    #[test]
    fn abbreviations_with_dots_are_labels() {
        let text = "ACME SAS\nFacture n° F-2024-12\nDate : 02/07/2024\nTotal H.T. :   1 000,00 €\nT.V.A. 20 % :   200,00 €\nTotal T.T.C. :   1 200,00 €\n";
        let inv = invoice_from_text(text);
        assert_eq!((inv.total_ht, inv.total_tva, inv.total_ttc), (Some(dec("1000.00")), Some(dec("200.00")), Some(dec("1200.00"))));
    }

    #[test]
    fn an_invoice_without_vat_has_one_total_for_both() {
        let text = "Jeanne Martin - Conseil informatique\nSIRET : 530 848 134 00017\nFacture n° 2024-017\nDate : 03/07/2024\n\
                    Audit de configuration   1   1 200,00 €\nNet à payer :   1 200,00 €\nTVA non applicable, art. 293 B du CGI\n";
        let inv = invoice_from_text(text);
        assert_eq!((inv.total_ht, inv.total_tva, inv.total_ttc), (Some(dec("1200.00")), None, Some(dec("1200.00"))));
        // With VAT charged, one total says nothing of the other.
        let inv = invoice_from_text(&text.replace("TVA non applicable, art. 293 B du CGI", "Merci de votre confiance"));
        assert_eq!((inv.total_ht, inv.total_ttc), (None, Some(dec("1200.00"))));
    }

    #[test]
    fn label_and_value_in_separate_cells_and_the_seller_by_its_legal_mentions() {
        let text = "ALEXINUX\nde Lattre Alexis\n27 rue Henri Rolland\n69100 Villeurbanne\nFacture n° 2022089083\nDate : 28/11/2022\n\
                    Justificatif PDF   1   0,75 €   0,75 €\nTotal HT :   46,68 €\nTVA 20% :   9,34 €\nTotal TTC :   56,02 €\n\
                    NETPRESSE\nSiège social : 16 rue Mollien - 92100 BOULOGNE\nSarl au capital de 10 000€ - RSC Paris B 530 848 134 – Siret 53084813400017\n";
        let inv = invoice_from_text(text);
        assert_eq!(inv.number.as_deref(), Some("2022089083"));
        assert_eq!(inv.issue_date, chrono::NaiveDate::from_ymd_opt(2022, 11, 28));
        assert_eq!((inv.total_ht, inv.total_tva, inv.total_ttc), (Some(dec("46.68")), Some(dec("9.34")), Some(dec("56.02"))));
        assert_eq!(inv.seller_name.as_deref(), Some("NETPRESSE"), "the issuer, not the buyer heading the page");
        assert_eq!(inv.currency.as_deref(), Some("EUR"));
    }

    #[test]
    fn values_under_their_column_titles_by_geometry() {
        // "Grondslag BTW bedrag" is one header cell over two value columns.
        let words = vec![
            w("Factuur", 40.0, 20.0),
            w("BTW", 40.0, 100.0),
            w("%", 62.0, 100.0),
            w("Grondslag", 120.0, 100.0),
            w("BTW", 176.0, 100.0),
            w("bedrag", 198.0, 100.0),
            w("Totaal", 300.0, 100.0),
            w("21", 40.0, 115.0),
            w("%", 54.0, 115.0),
            w("41,31", 120.0, 115.0),
            w("8,68", 190.0, 115.0),
            w("49,99", 300.0, 115.0),
        ];
        let layout = Layout { pages: vec![Page { width: 595.0, height: 842.0, words }] };
        let inv = invoice_from_layout(&layout, &layout.text());
        assert_eq!((inv.total_ht, inv.total_tva, inv.total_ttc), (Some(dec("41.31")), Some(dec("8.68")), Some(dec("49.99"))));
        // Each field says where it was read, for a verdict to point at.
        assert_eq!(inv.locations.get("total_tva"), Some(&Location::Page { page: 1, x0: 190, y0: 115, x1: 214, y1: 125 }));
    }

    #[test]
    fn a_billing_and_a_delivery_address_side_by_side_are_both_the_buyers() {
        let words = vec![
            w("Adresse", 40.0, 20.0),
            w("de", 88.0, 20.0),
            w("facturation", 106.0, 20.0),
            w("Adresse", 300.0, 20.0),
            w("de", 348.0, 20.0),
            w("livraison", 366.0, 20.0),
            w("Hopital", 40.0, 35.0),
            w("Nord", 88.0, 35.0),
            w("Pavillon", 300.0, 35.0),
            w("B", 354.0, 35.0),
            w("Facture", 40.0, 80.0),
            w("FA-77", 90.0, 80.0),
            w("ACME", 40.0, 700.0),
            w("SECURITE", 70.0, 700.0),
            w("SAS", 124.0, 700.0),
        ];
        let layout = Layout { pages: vec![Page { width: 595.0, height: 842.0, words }] };
        let inv = invoice_from_layout(&layout, &layout.text());
        assert_ne!(inv.seller_name.as_deref(), Some("Pavillon B"), "the delivery address is the buyer's");
        assert_ne!(inv.seller_name.as_deref(), Some("Hopital Nord"));
    }

    #[test]
    fn a_column_title_is_not_the_seller() {
        // The issuer's name is in a picture: nothing in the text names it.
        let words = vec![
            w("Factuuradres", 40.0, 20.0),
            w("Strategic", 40.0, 35.0),
            w("Corp", 100.0, 35.0),
            w("Klant", 40.0, 80.0),
            w("Order", 140.0, 80.0),
            w("Vervaldatum", 240.0, 80.0),
            w("SC0303", 40.0, 95.0),
            w("SC0444", 140.0, 95.0),
            w("22-9-2022", 240.0, 95.0),
            w("Artikel", 40.0, 130.0),
            w("Omschrijving", 140.0, 130.0),
            w("Bedrag", 300.0, 130.0),
        ];
        let layout = Layout { pages: vec![Page { width: 595.0, height: 842.0, words }] };
        assert_eq!(invoice_from_layout(&layout, &layout.text()).seller_name, None);
    }

    #[test]
    fn a_vat_id_wrapped_in_a_narrow_column_is_joined_when_its_key_checks() {
        let page = |last: &str| {
            let words = vec![
                w("Facture", 40.0, 20.0),
                w("12", 40.0, 60.0),
                w("avenue", 56.0, 60.0),
                w("des", 100.0, 60.0),
                w("Tilleuls", 124.0, 60.0),
                w("N°", 300.0, 60.0),
                w("TVA", 316.0, 60.0),
                w(":", 340.0, 60.0),
                w("FR63", 348.0, 60.0),
                w("530", 376.0, 60.0),
                w("848", 398.0, 60.0),
                w("76540", 40.0, 74.0),
                w("Valmont", 74.0, 74.0),
                w(last, 300.0, 74.0),
            ];
            Layout { pages: vec![Page { width: 595.0, height: 842.0, words }] }
        };
        let layout = page("134");
        let inv = invoice_from_layout(&layout, &layout.text());
        assert_eq!(inv.vat_id.as_deref(), Some("FR63530848134"));
        assert!(matches!(inv.locations.get("vat_id"), Some(Location::Page { page: 1, y0: 60, .. })));
        // Digits below that do not complete a valid id are not joined.
        let layout = page("135");
        assert_eq!(invoice_from_layout(&layout, &layout.text()).vat_id, None);
    }

    #[test]
    fn english_german_and_dutch_layouts() {
        let aws = "Amazon Web Services Invoice\nInvoice Number:   42183017\nInvoice Date:   August 3 , 2014\nBill to Address:\nATTN: iViveLabs Limited\n\
                   TOTAL AMOUNT DUE ON August 3 , 2014   $4.11\nCharges   $4.11\nTax *   $0.00\nTotal for this invoice   $4.11\n\
                   All charges and prices are in US Dollars All AWS Services are sold by Amazon Web Services, Inc.\n";
        let inv = invoice_from_text(aws);
        assert_eq!(inv.number.as_deref(), Some("42183017"));
        assert_eq!(inv.issue_date, chrono::NaiveDate::from_ymd_opt(2014, 8, 3));
        assert_eq!(inv.total_ttc, Some(dec("4.11")));
        assert_eq!(inv.total_tva, Some(dec("0.00")));
        assert_eq!(inv.currency.as_deref(), Some("USD"));
        assert_eq!(inv.seller_name.as_deref(), Some("Amazon Web Services, Inc."));

        let de = "QualityHosting AG - Uferweg 40-42 - D-63571 Gelnhausen\niViveLabs Ltd.\nRechnung   Seite 1\nRechnungsnr.   30064443   Kundennr.   47774\nRechnungsdatum   7. Mai 2014\nGesamtbetrag   34,73 EUR\n";
        let inv = invoice_from_text(de);
        assert_eq!(inv.number.as_deref(), Some("30064443"));
        assert_eq!(inv.issue_date, chrono::NaiveDate::from_ymd_opt(2014, 5, 7));
        assert_eq!(inv.seller_name.as_deref(), Some("QualityHosting AG"));
        assert_eq!(inv.total_ttc, Some(dec("34.73")));
        let legal = "Total EUR   34,73\nQualityHosting AG   Registergericht Hanau | HRB 13302\nIm Internet: www.qualityhosting.de   UStId DE 232 446 240\n";
        let inv = invoice_from_text(legal);
        assert_eq!(inv.total_ttc, Some(dec("34.73")), "a total with its currency after the label");
        assert_eq!(inv.vat_id.as_deref(), Some("DE232446240"), "a foreign VAT id where a VAT label names it");
        assert_eq!(invoice_from_text("Uw BTW nummer: NL003335996B01\n").vat_id, None, "not the buyer's");

        let nl = "Klant   Order   Factuur datum   Factuur   Vervaldatum\nSCONL0303006280999   SCONL000000444   8-9-2022   VF1005193039   22-9-2022\n\
                  BTW %   Grondslag   BTW bedrag   Totaal\n21 %   41,31   8,68   49,99\n";
        let inv = invoice_from_text(nl);
        assert_eq!(inv.number.as_deref(), Some("VF1005193039"), "the value under its header");
        assert_eq!(inv.issue_date, chrono::NaiveDate::from_ymd_opt(2022, 9, 8));
        assert_eq!((inv.total_ht, inv.total_tva, inv.total_ttc), (Some(dec("41.31")), Some(dec("8.68")), Some(dec("49.99"))));
    }
}
