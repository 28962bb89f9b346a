//! Invoice fields from text laid out in rows (see [`crate::layout`]): each row split into
//! its cells where a column gap was seen, a label's value taken from the rest of its
//! cell, the next cell of its row, or the cell under it (a header row over a value row).
//! Labels in French first, then English, German and Dutch, as real invoices print them.
//! The seller is the issuer: the name beside the legal mentions, the one "sold by", or a
//! company name heading the page, never a name under "Facturé à", "Client", "Bill to".

mod totals;

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;
use rust_decimal::Decimal;

use caregate_schemas::extracted::{Invoice, InvoiceSource, Location};
use caregate_schemas::{EstablishmentIdentifiers, Finding};

use crate::french::{all_dates, all_sirens, all_sirets, all_vat_ids, find_vat_id, fold, french_vat_key_checks, parse_amount, siren_of_vat_id};

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
    // Producers print a hyphen or a minus as U+2212 or a non-breaking hyphen (Ghostscript
    // maps `-` to U+2212): "Sous−total HT" is "Sous-total HT", "−1 500,00" is negative.
    // One character for one, so that folded and raw text keep their character positions.
    let text: String = text.chars().map(|c| if matches!(c, '\u{2212}' | '\u{2010}' | '\u{2011}') { '-' } else { c }).collect();
    Cell { folded: fold(&text), raw: text, words, place }
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
    let mut first = beside(rows, labels, &skip, &parse, false);
    if first.is_empty() {
        first = below(rows, labels, &skip, &parse, false);
    }
    first.into_iter().next()
}

/// Every value some label gives, in the same order of priority as [`labelled`]: the
/// candidates for a field, the first one being what the labels alone would choose.
fn labelled_all<T>(rows: &[Vec<Cell>], labels: &[&str], skip: impl Fn(&Cell) -> bool, parse: impl Fn(&str) -> Option<T>) -> Vec<(T, Option<Location>)> {
    let mut all = beside(rows, labels, &skip, &parse, true);
    all.extend(below(rows, labels, &skip, &parse, true));
    all
}

fn beside<T>(rows: &[Vec<Cell>], labels: &[&str], skip: &impl Fn(&Cell) -> bool, parse: &impl Fn(&str) -> Option<T>, all: bool) -> Vec<(T, Option<Location>)> {
    let mut found = Vec::new();
    for label in labels {
        for row in rows {
            for (c, cell) in row.iter().enumerate() {
                let Some(rest) = after_label(cell, label) else { continue };
                if skip(cell) {
                    continue;
                }
                let rest = clean_value(rest);
                let value = (!rest.is_empty()).then(|| parse(rest).map(|v| (v, cell.location()))).flatten().or_else(|| {
                    let next = row.get(c + 1)?;
                    parse(clean_value(&next.raw)).map(|v| (v, next.location()))
                });
                if let Some(v) = value {
                    found.push(v);
                    if !all {
                        return found;
                    }
                }
            }
        }
    }
    found
}

fn below<T>(rows: &[Vec<Cell>], labels: &[&str], skip: &impl Fn(&Cell) -> bool, parse: &impl Fn(&str) -> Option<T>, all: bool) -> Vec<(T, Option<Location>)> {
    let mut found = Vec::new();
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
                    found.push(v);
                    if !all {
                        return found;
                    }
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
                        found.push(v);
                        if !all {
                            return found;
                        }
                    }
                }
            }
        }
    }
    found
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
    all_dates(s).into_iter().find(|(at, _)| *at < 4).map(|(_, d)| d).or_else(|| short_year_date(s))
}

/// A date with a two-digit year (`28 Jan 15`, `15/06/17`), as receipts and some
/// invoices print it: read only where a date label announces it, never in running text
/// where "12 mai 20" may be anything.
fn short_year_date(s: &str) -> Option<chrono::NaiveDate> {
    static SHORT: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^(\d{1,2})(?:[/.\-]|\.?\s+)([0-9]{1,2}|[A-Za-zéèûô]{3,9})\.?(?:[/.\-]|\s+)(\d{2})(?:\s|$)").unwrap());
    let c = SHORT.captures(s.trim())?;
    let month = c[2].parse().ok().or_else(|| crate::french::month_number(&c[2]))?;
    chrono::NaiveDate::from_ymd_opt(2000 + c[3].parse::<i32>().ok()?, month, c[1].parse().ok()?)
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
    "facture d'avoir n°",
    "facture d'acompte n°",
    "acompte n°",
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
    "=avoir",
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
    // An order's date only where nothing dates the invoice itself (receipts, marketplaces).
    "order date",
    "date de commande",
    "bestelldatum",
    "besteldatum",
    "orderdatum",
];
/// Labels of the date payment is due: never the issue date, and after it.
const DUE_LABELS: &[&str] = &[
    "date d'echeance",
    "echeance",
    "date limite de paiement",
    "a payer avant le",
    "due date",
    "payment due",
    "falligkeitsdatum",
    "faelligkeitsdatum",
    "zahlbar bis",
    "vervaldatum",
];
/// Words of a cell that dates something else than the invoice's issue.
const NOT_ISSUE_DATE: &[&str] = &["echeance", "due", "limite", "avant le", "vervaldatum", "falligkeit", "faelligkeit", "zahlbar", "expir", "valable", "valid"];
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
    "montant hors tva",
    "sous-total",
    "sous total",
    "totaal exclusief btw",
    "exclusief btw",
    "=netto",
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
    "taxe sur la valeur ajoutee",
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
    "bedrag inclusief btw",
    "totaal inclusief btw",
    "=brutto",
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
        || f.contains("finess")
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
            // The block runs on while its lines follow each other: an address, then the
            // establishment's own SIRET and FINESS (six lines under the label), never
            // past a blank line's gap. Without geometry, four lines.
            let mut last = row[c0].place;
            for (i, (below, marks)) in rows.iter().zip(buyer.iter_mut()).skip(r + 1).take(6).enumerate() {
                let place = below.first().and_then(|c| c.place);
                let apart = match (last, place) {
                    (Some((p0, _, bottom0)), Some((p1, top, bottom))) => p0 != p1 || top - bottom0 > (bottom - top).max(1.0) * 1.5,
                    _ => i >= 4,
                };
                if apart {
                    break;
                }
                last = place;
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
/// A page's titles and running heads: never a name ("Tax Invoice", "Seite 1 von 1").
const LABEL_WORDS: &[&str] = &[
    "facture",
    "invoice",
    "avoir",
    "devis",
    "date",
    "page",
    "bon de commande",
    "rechnung",
    "factuur",
    "kopie",
    "copy",
    "duplicata",
    "tax invoice",
    "retail invoice",
    "receipt",
    "recu",
    "seite",
    "pagina",
    "quittung",
];

/// The seller's name and how sure the rule that found it is.
fn seller(rows: &[Vec<Cell>], buyer: &[Vec<bool>], text: &str) -> Option<(String, f32)> {
    seller_name(rows, buyer, text).map(|(name, confidence)| (name.trim_start_matches([':', ' ']).to_owned(), confidence))
}

fn seller_name(rows: &[Vec<Cell>], buyer: &[Vec<bool>], text: &str) -> Option<(String, f32)> {
    // The legal mentions: the name on the row before "au capital", "siège social"...
    for (r, row) in rows.iter().enumerate() {
        let line: String = row.iter().map(|c| c.folded.as_str()).collect::<Vec<_>>().join(" ");
        if line.contains("au capital") || line.starts_with("siege social") || line.contains("siege social :") {
            if let Some(name) = COMPANY.captures(&row[0].raw).map(|c| c[1].trim().to_owned()) {
                return Some((name, 0.85));
            }
            if let Some(prev) = r.checked_sub(1).map(|p| &rows[p]).filter(|p| p.len() == 1 && !buyer[r - 1][0]) {
                let name = prev[0].raw.trim();
                if name.split_whitespace().count() <= 6 && !name.chars().any(|c| c.is_ascii_digit()) {
                    return Some((name.to_owned(), 0.8));
                }
            }
        }
    }
    if let Some(c) = SOLD_BY.captures(text) {
        return Some((c[1].trim().to_owned(), 0.8));
    }
    // A company name heading the page (its own cell, or the first part of one).
    for (r, row) in rows.iter().enumerate().take(25) {
        for (c, cell) in row.iter().enumerate() {
            if buyer[r][c] {
                continue;
            }
            for part in cell.raw.split(" - ").flat_map(|p| p.split(" – ")) {
                if let Some(m) = COMPANY.captures(part.trim()) {
                    return Some((m[1].trim().to_owned(), 0.7));
                }
            }
        }
    }
    // A company name in the legal mentions at the foot, beside its SIRET or VAT id.
    for row in rows.iter().rev().take(8) {
        if row.iter().any(|c| c.folded.contains("siret") || c.folded.contains("siren") || c.folded.contains("r.c.s") || c.folded.contains("tva")) {
            if let Some(m) = row.iter().find_map(|c| COMPANY.captures(c.raw.trim())) {
                return Some((m[1].trim().to_owned(), 0.7));
            }
        }
    }
    // Else the first cell that is not a label, a title, an identifier or the buyer's, in
    // the page's head: above the first row of column titles (three cells or more, no
    // digit), where the body begins — a column title or an item is nobody's name.
    let head = rows.iter().position(|row| row.len() >= 3 && row.iter().all(|c| !c.raw.chars().any(|ch| ch.is_ascii_digit()))).unwrap_or(rows.len());
    rows[..head]
        .iter()
        .enumerate()
        .flat_map(|(r, row)| row.iter().enumerate().filter(move |(c, _)| !buyer[r][*c]).map(|(_, cell)| cell).take(1))
        .find(|c| {
            let f = c.folded.trim();
            !LABEL_WORDS.iter().chain(BUYER_LABELS).any(|w| f.starts_with(w)) && c.raw.chars().any(char::is_alphabetic) && !is_identifier_cell(c)
        })
        .map(|c| (c.raw.trim().to_owned(), 0.4))
}

fn currency(text: &str) -> Option<String> {
    let count = |needles: &[&str]| needles.iter().map(|n| text.matches(n).count()).sum::<usize>();
    let found = [("EUR", count(&["€", "EUR"])), ("USD", count(&["$", "USD", "US Dollars"])), ("GBP", count(&["£", "GBP"])), ("CHF", count(&["CHF"]))];
    found.iter().filter(|(_, n)| *n > 0).max_by_key(|(_, n)| *n).map(|(c, _)| (*c).to_owned())
}

static INVOICE_NUMBER: LazyLock<Regex> = LazyLock::new(|| {
    // Within one line: a header row "Facture n°   Date" over its values is no "Facture n° Date".
    Regex::new(r"(?i)\b(?:facture|invoice|avoir|devis|bon de commande)[^\S\n]*(?:d'(?:avoir|acompte)[^\S\n]*)?(?:n[°ºo]\.?|num[ée]ro|number|no\.?|#)[^\S\n]*:?[^\S\n]*([A-Z0-9][A-Z0-9\-/_.]{1,30}[A-Z0-9])").unwrap()
});

/// "Facture VT-2024-4436", "Invoice VT/2022/0001": a number right after the title word,
/// with letters and a separator or a digit run, never a word ("Facture du 12 juin").
static TITLED_NUMBER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?im)^\s*(?:facture|invoice|rechnung|factuur)\s+((?:[A-Z]{1,6}[-/_.]?)?\d[A-Z0-9\-/_.]*[A-Z0-9]|\d+)(?:\s|$)").unwrap());

/// What reading an invoice's text gave: its fields, how sure each is, and what a
/// controller must look at (a field left empty because the page contradicts itself).
#[derive(Clone, Debug)]
pub struct InvoiceReading {
    /// Its fields, each with how sure the reading is (`Invoice.confidence`).
    pub invoice: Invoice,
    /// `invoice_fields_inconsistent` for each set of fields left empty.
    pub findings: Vec<Finding>,
    /// The three totals as printed under their labels, each once, when they do not add
    /// up, and the finding that left them empty.
    printed_totals: Option<([totals::Candidate; 3], Finding)>,
}

impl InvoiceReading {
    /// Takes the totals as the page prints them when they contradict each other but each
    /// is said once under its own label: on a born-digital page that is what the
    /// document says (HT + TVA ≠ TTC is then its own error, a verdict), not a reading in
    /// doubt. Text recognised by OCR keeps them empty, as a question.
    pub fn keep_printed_totals(&mut self) {
        let Some((printed, finding)) = self.printed_totals.take() else { return };
        let [ht, tva, ttc] = printed;
        (self.invoice.total_ht, self.invoice.total_tva, self.invoice.total_ttc) = (Some(ht.value), Some(tva.value), Some(ttc.value));
        for (field, at) in totals::FIELD_NAMES.into_iter().zip([ht.at, tva.at, ttc.at]) {
            self.invoice.confidence.insert(field.to_owned(), 0.9);
            match at {
                Some(at) => self.invoice.locations.insert(field.to_owned(), at),
                None => self.invoice.locations.remove(field),
            };
        }
        self.findings.retain(|f| *f != finding);
    }
}

/// An invoice's fields, their confidence and findings, from its laid-out pages when
/// there are some (values under their column titles found by geometry), else its text.
pub fn read_invoice(layout: Option<&crate::layout::Layout>, text: &str) -> InvoiceReading {
    read_invoice_excluding(layout, text, &EstablishmentIdentifiers::NONE)
}

/// [`read_invoice`] for an invoice the establishment `own` submitted: it is the buyer,
/// and its identifiers (printed in the buyer's block, or anywhere) are never the seller's.
pub fn read_invoice_excluding(layout: Option<&crate::layout::Layout>, text: &str, own: &EstablishmentIdentifiers) -> InvoiceReading {
    let rows = match layout {
        Some(l) => rows_of_layout(l),
        None => rows_of(text),
    };
    read_rows(rows, text, own)
}

/// An invoice's fields from its text (rows of cells when it was laid out).
pub fn invoice_from_text(text: &str) -> Invoice {
    read_invoice(None, text).invoice
}

/// The same from a laid-out page: values under their column titles found by geometry.
pub fn invoice_from_layout(layout: &crate::layout::Layout, text: &str) -> Invoice {
    read_invoice(Some(layout), text).invoice
}

/// A French VAT id a narrow column wrapped over two lines ("N° TVA : FR63 530 848"
/// above "134"): the end of a cell naming the VAT, completed by the digits of the cell
/// below it in the same column, taken only when together they make an id whose key
/// checks (FR + key + SIREN, key = (12 + 3 × (SIREN mod 97)) mod 97).
fn wrapped_vat_id(rows: &[Vec<Cell>], buyer: &[Vec<bool>]) -> Option<(String, Option<Location>)> {
    static HEAD: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"FR[ \u{a0}]?\d[\d \u{a0}]*$").unwrap());
    let bare = |s: &str| s.chars().filter(char::is_ascii_alphanumeric).collect::<String>();
    for (i, row) in rows.iter().enumerate() {
        for (_, cell) in row.iter().enumerate().filter(|(c, cell)| !buyer[i][*c] && (cell.folded.contains("tva") || cell.folded.contains("vat"))) {
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

/// Words of a cell that names the buyer's identifier ("N° TVA client", "your VAT number").
const BUYER_WORDS: &[&str] = &["client", "acheteur", "destinataire", "customer", "buyer", "kunde", "klant", "votre", "your", "uw ", "ihre"];
/// Words of the legal mentions, where the issuer states its own identifiers.
const LEGAL_WORDS: &[&str] = &[
    "au capital",
    "capital social",
    "rcs",
    "r.c.s",
    "siege social",
    "code ape",
    "naf",
    "hrb",
    "registergericht",
    "amtsgericht",
    "handelsregister",
    "geschaftsfuhrer",
    "kvk",
    "company number",
    "registered office",
];

/// The seller's identifiers and what disagreed among them.
#[derive(Default)]
struct Identifiers {
    siret: Option<String>,
    siren: Option<String>,
    vat_id: Option<String>,
    confidence: f32,
    finding: Option<Finding>,
}

/// The seller's SIRET, SIREN and VAT id: never from the buyer's block or a cell naming
/// the buyer's ("N° TVA client"); those in the legal mentions first (the issuer's own,
/// where a header may show the customer's); and agreeing: the SIREN is the one inside a
/// French VAT id, and the SIRET starts with it. A page whose identifiers name two
/// companies with nothing to tell which is the seller's gives none.
fn seller_identifiers(rows: &[Vec<Cell>], buyer: &[Vec<bool>], own: &EstablishmentIdentifiers) -> Identifiers {
    let legal: Vec<bool> = rows.iter().map(|row| row.iter().any(|c| LEGAL_WORDS.iter().any(|w| c.folded.contains(w)))).collect();
    let near_legal = |r: usize| (r.saturating_sub(2)..=(r + 2).min(rows.len().saturating_sub(1))).any(|i| legal[i]);
    let line = |r: usize| -> String {
        let cells = rows[r].iter().enumerate().filter(|(c, cell)| !buyer[r][*c] && !BUYER_WORDS.iter().any(|w| cell.folded.contains(w)));
        cells.map(|(_, cell)| cell.raw.as_str()).collect::<Vec<_>>().join("   ")
    };
    let (first, then): (Vec<usize>, Vec<usize>) = (0..rows.len()).partition(|r| near_legal(*r));
    let text = |which: &[usize]| which.iter().map(|r| line(*r)).collect::<Vec<_>>().join("\n");
    let (first, then) = (text(&first), text(&then));
    let both = |f: fn(&str) -> Vec<String>| {
        let mut all = f(&first);
        for v in f(&then) {
            if !all.contains(&v) {
                all.push(v);
            }
        }
        all
    };
    let (mut sirets, mut sirens, mut vats) = (both(all_sirets), both(all_sirens), both(all_vat_ids));
    if vats.is_empty() {
        vats.extend(wrapped_vat_id(rows, buyer).map(|(id, _)| id));
    }
    // The submitting establishment is the buyer: its numbers, wherever the page prints
    // them (a buyer block not recognised as one, a header), are never the seller's.
    let mut theirs: Vec<String> = Vec::new();
    for list in [&mut sirets, &mut sirens, &mut vats] {
        list.retain(|v| {
            let owned = own.owns(v);
            if owned && !theirs.contains(v) {
                theirs.push(v.clone());
            }
            !owned
        });
    }
    if sirets.is_empty() && sirens.is_empty() && vats.is_empty() && !theirs.is_empty() {
        return Identifiers {
            finding: Some(crate::seller_is_establishment(format!(
            "le seul identifiant de vendeur lu sur la facture est celui de l'établissement déposant, l'acheteur ({}) : {} ; SIREN, SIRET et n° de TVA du vendeur laissés vides — à relire sur la pièce",
            own.describe_fr(),
                theirs.join(", ")
            ))),
            ..Identifiers::default()
        };
    }
    // Every SIREN the page states for someone not the buyer, in order of trust.
    let mut stated: Vec<String> = sirens.clone();
    stated.extend(sirets.iter().filter_map(|s| s.get(..9)).map(str::to_owned).filter(|s| !sirens.contains(s)));
    let french_vat = vats.iter().find(|v| siren_of_vat_id(v).is_some() && french_vat_key_checks(v)).cloned();
    let mut ids = Identifiers { vat_id: vats.first().cloned(), confidence: 0.7, ..Identifiers::default() };
    let siren = match french_vat.as_deref().and_then(siren_of_vat_id) {
        Some(inside) if stated.is_empty() || stated.iter().any(|s| s == inside) => {
            ids.vat_id = french_vat.clone();
            ids.confidence = if stated.is_empty() { 0.8 } else { 0.95 };
            Some(inside.to_owned())
        }
        Some(inside) => {
            // The VAT id and the SIREN name two companies: another VAT id may be the
            // stated SIREN's; else nothing tells which is the seller's.
            match vats.iter().find(|v| siren_of_vat_id(v).is_some_and(|s| s == stated[0])) {
                Some(v) => {
                    ids.vat_id = Some(v.clone());
                    ids.confidence = 0.85;
                    Some(stated[0].clone())
                }
                None => {
                    ids.vat_id = None;
                    ids.finding = Some(
                        totals::inconsistent(format!(
                            "identifiants du vendeur incohérents : le SIREN {} ne correspond pas au n° de TVA {} (SIREN {inside}) ; SIREN, SIRET et n° de TVA laissés vides — à relire sur la pièce",
                            stated.join(" ou "),
                            french_vat.as_deref().unwrap_or_default()
                        ))
                        .at("/seller_siren"),
                    );
                    return ids;
                }
            }
        }
        None => stated.first().cloned(),
    };
    ids.siret = match &siren {
        Some(siren) => sirets.iter().find(|s| s.starts_with(siren.as_str())).cloned(),
        None => sirets.first().cloned(),
    };
    ids.siren = siren;
    ids
}

fn read_rows(rows: Vec<Vec<Cell>>, text: &str, own: &EstablishmentIdentifiers) -> InvoiceReading {
    let mut locations = BTreeMap::new();
    let mut confidence: BTreeMap<String, f32> = BTreeMap::new();
    let mut findings = Vec::new();
    let mut sure = |field: &str, value: f32| {
        confidence.insert(field.to_owned(), value);
    };
    let number = match labelled(&rows, NUMBER_LABELS, |_| false, number)
        .or_else(|| beside(&rows, BARE_NUMBER_LABELS, &|_| false, &number, false).pop())
        .or_else(|| number_in_head_grid(&rows))
    {
        found @ Some(_) => {
            sure("number", 0.9);
            kept(&mut locations, "number", found)
        }
        None => {
            let titled =
                INVOICE_NUMBER.captures_iter(text).find_map(|c| number(&c[1])).or_else(|| TITLED_NUMBER.captures_iter(text).find_map(|c| number(&c[1])));
            if titled.is_some() {
                sure("number", 0.7);
            }
            titled
        }
    };
    let issue_date = issue_date(&rows, text, &mut locations, &mut sure, &mut findings);
    let totals = totals::choose(&totals_evidence(&rows, text));
    let [total_ht, total_tva, total_ttc] = totals.fields.map(|f| f.map(|c| (c.value, c.at, c.confidence)));
    let mut chosen = |field: &str, found: Option<(Decimal, Option<Location>, f32)>| {
        let (value, at, c) = found?;
        sure(field, c);
        kept(&mut locations, field, Some((value, at)))
    };
    let (total_ht, total_tva, total_ttc) = (chosen("total_ht", total_ht), chosen("total_tva", total_tva), chosen("total_ttc", total_ttc));
    let printed_totals = totals.printed.zip(totals.finding.clone());
    findings.extend(totals.finding);
    let buyer = buyer_cells(&rows);
    let seller_name = seller(&rows, &buyer, text).map(|(name, c)| {
        sure("seller_name", c);
        name
    });
    if let Some(at) = seller_name.as_deref().and_then(|name| rows.iter().flatten().find(|c| c.raw.contains(name)).and_then(Cell::location)) {
        locations.insert("seller_name".to_owned(), at);
    }
    let ids = seller_identifiers(&rows, &buyer, own);
    findings.extend(ids.finding);
    // Identifiers are found in the running text (they are often cut in groups of digits);
    // their place is the cell that holds them whole, where one does.
    for (field, value) in [("seller_siret", &ids.siret), ("seller_siren", &ids.siren), ("vat_id", &ids.vat_id)] {
        if let Some(v) = value.as_deref() {
            sure(field, ids.confidence);
            if let Some(at) = holding(&rows, v).or_else(|| (field == "vat_id").then(|| wrapped_vat_id(&rows, &buyer).and_then(|(_, at)| at)).flatten()) {
                locations.insert(field.to_owned(), at);
            }
        }
    }
    let currency = currency(text);
    if currency.is_some() {
        sure("currency", 0.8);
    }
    let invoice = Invoice {
        number,
        type_code: None,
        issue_date,
        seller_name,
        seller_siren: ids.siren,
        seller_siret: ids.siret,
        seller_legal_ids: Vec::new(),
        vat_id: ids.vat_id,
        total_ht,
        total_tva,
        total_ttc,
        currency,
        profile: None,
        source: InvoiceSource::Text,
        locations,
        confidence,
    };
    InvoiceReading { invoice, findings, printed_totals }
}

/// Cells that are a bare number label, their value beside them only ("N°   FA-12" in a
/// label/value table): under such a title stand line items' numbers.
const BARE_NUMBER_LABELS: &[&str] = &["=n°", "=no", "=numero", "=number", "=nummer", "=nr"];

/// A bare "Numéro" titling a column of the head's grid, its value under it: the grid is
/// the row that titles a date too ("Numéro | Date | Échéance" over their values), never
/// an item table's "N°" column, whose row titles no date.
fn number_in_head_grid(rows: &[Vec<Cell>]) -> Option<(String, Option<Location>)> {
    let titles_date = |row: &Vec<Cell>| row.iter().any(|c| after_label(c, "=date").is_some() || after_label(c, "=date d'emission").is_some());
    rows.iter().enumerate().filter(|(_, row)| titles_date(row)).find_map(|(r, row)| {
        let (c, cell) = row.iter().enumerate().find(|(_, c)| BARE_NUMBER_LABELS.iter().any(|l| after_label(c, l).is_some()))?;
        under(rows, r, c, cell.span(), &number)
    })
}

/// The issue date: labelled, and before the date payment is due; else the first date
/// of the text that does not say a due or expiry date. A labelled date after the due
/// date is not taken.
fn issue_date(
    rows: &[Vec<Cell>],
    text: &str,
    locations: &mut BTreeMap<String, Location>,
    sure: &mut impl FnMut(&str, f32),
    findings: &mut Vec<Finding>,
) -> Option<chrono::NaiveDate> {
    let not_issue = |c: &Cell| NOT_ISSUE_DATE.iter().any(|w| c.folded.contains(w));
    let due = labelled(rows, DUE_LABELS, |_| false, date).map(|(d, _)| d);
    let dated = labelled_all(rows, DATE_LABELS, not_issue, date);
    if let Some((d, at)) = dated.iter().find(|(d, _)| due.is_none_or(|due| *d <= due)).cloned() {
        sure("issue_date", 0.9);
        return kept(locations, "issue_date", Some((d, at)));
    }
    if let (Some((d, _)), Some(due)) = (dated.first(), due) {
        findings.push(
            totals::inconsistent(format!(
                "date de facture incohérente : le {d} est postérieur à l'échéance du {due} ; date laissée vide — à relire sur la pièce"
            ))
            .at("/issue_date"),
        );
        return None;
    }
    let running = all_dates(text).into_iter().find(|(at, d)| {
        let line_start = text[..*at].rfind('\n').map_or(0, |i| i + 1);
        let before = fold(&text[line_start..*at]);
        !NOT_ISSUE_DATE.iter().any(|w| before.contains(w)) && due.is_none_or(|due| *d <= due)
    });
    running.map(|(_, d)| {
        sure("issue_date", 0.5);
        d
    })
}

/// Rates the page prints (`TVA 20 %`, `21%`, `USt. (19 %)`), as fractions, with the French ones.
fn vat_rates(text: &str) -> Vec<Decimal> {
    static RATE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\b(\d{1,2}(?:[.,]\d{1,2})?)[ \u{a0}]?%").unwrap());
    let mut rates: Vec<Decimal> = totals::FRENCH_RATES.iter().filter_map(|r| Decimal::from_str_exact(r).ok()).collect();
    for c in RATE.captures_iter(text) {
        if let Some(r) = parse_amount(&c[1]).map(|r| r / Decimal::ONE_HUNDRED).filter(|r| r.is_sign_positive() && !r.is_zero() && *r <= Decimal::new(27, 2)) {
            if !rates.contains(&r) {
                rates.push(r);
            }
        }
    }
    rates
}

/// A VAT summary row, as receipts and many invoices print one per rate: the tax's label,
/// the rate, the base and the tax (`TVA 5,5 %  5,69  0,31`, `GST S@6%  35.00  2.10`),
/// the tax being the rate times the base. Its label's first amount is the base, not the
/// tax: the tax is put in its place; and where the page labels no HT or no TVA
/// elsewhere, the one summary row gives them (several rows are several bases, whose sum
/// the solver finds among the amounts printed).
fn vat_summary(rows: &[Vec<Cell>], labelled: &mut [Vec<totals::Candidate>; 3]) {
    static RATE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(\d{1,2}(?:[.,]\d{1,2})?)[ \u{a0}]?%").unwrap());
    let mut summaries = Vec::new();
    for row in rows {
        let folded: String = row.iter().map(|c| c.folded.as_str()).collect::<Vec<_>>().join(" ");
        if !["tva", "gst", "vat", "mwst", "tax"].iter().any(|l| folded.starts_with(l)) {
            continue;
        }
        let raw: String = row.iter().map(|c| c.raw.as_str()).collect::<Vec<_>>().join(" ");
        let Some(rate) = RATE.captures(&raw).and_then(|c| parse_amount(&c[1])).map(|r| r / Decimal::ONE_HUNDRED) else { continue };
        let amounts: Vec<(Decimal, Option<Location>)> =
            row.iter().flat_map(|c| c.raw.split_whitespace().filter_map(printed_amount).map(|v| (v, c.location())).collect::<Vec<_>>()).collect();
        let cent = Decimal::new(1, 2);
        if let Some(pair) = amounts.windows(2).find(|w| !w[0].0.is_zero() && (w[0].0 * rate - w[1].0).abs() <= cent) {
            summaries.push((pair[0].clone(), pair[1].clone()));
        }
    }
    for c in labelled[totals::TVA].iter_mut() {
        if let Some((_, (tax, at))) = summaries.iter().find(|(base, _)| base.0 == c.value) {
            (c.value, c.at) = (*tax, at.clone());
        }
    }
    if let [((base, base_at), (tax, tax_at))] = summaries.as_slice() {
        if labelled[totals::HT].is_empty() {
            labelled[totals::HT].push(totals::Candidate { value: *base, at: base_at.clone(), row: None });
        }
        if labelled[totals::TVA].is_empty() {
            labelled[totals::TVA].push(totals::Candidate { value: *tax, at: tax_at.clone(), row: None });
        }
    }
}

/// An amount printed as one: two decimals or a currency beside it (a quantity, a year
/// or a postcode is not), at the end of its cell (`Item purchase $80.80`).
fn printed_amount(raw: &str) -> Option<Decimal> {
    static TRAILING: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?:^|\s)((?:€|\$|£|EUR|USD|GBP|CHF)?\s?-?\(?\d{1,3}(?:[ \u{a0}\u{202f}.',]\d{3})*(?:[.,]\d{2})?\)?\s?(?:€|\$|£|EUR|USD|GBP|CHF|euros?)?)\s*(?:TTC|HT)?$").unwrap()
    });
    let raw = raw.trim();
    let c = TRAILING.captures(raw)?;
    let found = c[1].trim();
    let decimals = found.trim_end_matches(|c: char| !c.is_ascii_digit() && c != ')').trim_end_matches(')');
    let two = decimals.len() > 3 && matches!(decimals.as_bytes()[decimals.len() - 3], b',' | b'.');
    let currency = found.chars().any(|c| matches!(c, '€' | '$' | '£')) || found.contains("EUR") || found.contains("USD");
    if !(two || currency) {
        return None;
    }
    amount(found)
}

/// What the page says about its totals: every label's value by field, every amount
/// printed, the rates, and whether it says no VAT is charged.
fn totals_evidence(rows: &[Vec<Cell>], text: &str) -> totals::Evidence {
    let candidates = |labels: &[&str]| -> Vec<totals::Candidate> {
        labelled_all(rows, labels, is_identifier_cell, amount).into_iter().map(|(value, at)| totals::Candidate { value, at, row: None }).collect()
    };
    let printed = rows
        .iter()
        .enumerate()
        .flat_map(|(r, row)| {
            row.iter().filter_map(move |cell| printed_amount(&cell.raw).map(|value| totals::Candidate { value, at: cell.location(), row: Some(r) }))
        })
        .collect();
    let mut labelled = [candidates(HT_LABELS), candidates(TVA_LABELS), candidates(TTC_LABELS)];
    vat_summary(rows, &mut labelled);
    totals::Evidence { labelled, printed, rates: vat_rates(text), without_vat: without_vat(text) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use caregate_schemas::FindingCode;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str_exact(s).unwrap()
    }

    use crate::layout::{Layout, Page, Word};

    /// A 10-point word at (`x0`, `y`), 6 points a character.
    fn w(text: &str, x0: f32, y: f32) -> Word {
        Word { text: text.into(), x0, y0: y, x1: x0 + 6.0 * text.chars().count() as f32, y1: y + 10.0, size: 10.0 }
    }

    #[test]
    fn invoice_text_fields() {
        let text = "Cyberdéfense Santé SAS\n12 rue de la Paix, 75002 Paris\nSIRET : 552 100 554 00025\nTVA intracommunautaire : FR40 552100554\n\nFACTURE N° FA-2024-0042\nDate de facture : 12/06/2024\n\nAudit Active Directory  1 0 000,00\nTotal HT 12 500,00 €\nTVA 20 % 2 500,00 €\nTotal TTC 15 000,00 €\nNet à payer 15 000,00 €\n";
        let inv = invoice_from_text(text);
        assert_eq!(inv.number.as_deref(), Some("FA-2024-0042"));
        assert_eq!(inv.issue_date, chrono::NaiveDate::from_ymd_opt(2024, 6, 12));
        assert_eq!(inv.seller_name.as_deref(), Some("Cyberdéfense Santé SAS"));
        assert_eq!(inv.seller_siret.as_deref(), Some("55210055400025"));
        assert_eq!(inv.seller_siren.as_deref(), Some("552100554"));
        assert_eq!(inv.vat_id.as_deref(), Some("FR40552100554"));
        assert_eq!(inv.total_ht, Some(dec("12500.00")));
        assert_eq!(inv.total_tva, Some(dec("2500.00")));
        assert_eq!(inv.total_ttc, Some(dec("15000.00")));
        assert_eq!(inv.currency.as_deref(), Some("EUR"));
    }

    #[test]
    fn a_vat_summary_rows_tax_is_the_tax_not_its_base() {
        // A till receipt: the total's line misread, the GST summary row read.
        let inv = invoice_from_text("MR. D.I.Y. (M) SDN BHD\nTAX INVOICE\nCASH   RM 50.00\nGST Summary   Amt(RM)   Tax(RM)\nGST S@6%   35.00   2.10");
        assert_eq!((inv.total_ht, inv.total_tva), (Some(dec("35.00")), Some(dec("2.10"))), "{inv:?}");
        let inv = invoice_from_text("SUPERETTE\nTOTAL   6,90\nTVA 5,5 %   6,54   0,36");
        assert_eq!(inv.total_tva, Some(dec("0.36")), "{inv:?}");
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

    /// A 10-point page from rows of (x, text) cells, one row every 15 points.
    fn page(rows: &[&[(f32, &str)]]) -> Layout {
        let mut words = Vec::new();
        for (r, cells) in rows.iter().enumerate() {
            for (x, text) in cells.iter() {
                let mut x = *x;
                for word in text.split(' ') {
                    words.push(w(word, x, 20.0 + 15.0 * r as f32));
                    x += 6.0 * word.chars().count() as f32 + 4.0;
                }
            }
        }
        Layout { pages: vec![Page { width: 595.0, height: 842.0, words }] }
    }

    fn read(layout: &Layout) -> InvoiceReading {
        read_invoice(Some(layout), &layout.text())
    }

    #[test]
    fn identifiers_in_the_buyers_block_are_never_the_sellers() {
        // The establishment's own SIRET and VAT id under "Facturé à", printed before the
        // seller's in the legal mentions at the foot.
        let layout = page(&[
            &[(40.0, "SECURINFO CONSEIL")],
            &[(40.0, "Facture n° FA-2024-0042")],
            &[(300.0, "Facturé à :")],
            &[(300.0, "Centre Hospitalier de Valmont")],
            &[(300.0, "12 avenue des Tilleuls")],
            &[(300.0, "76540 Valmont")],
            &[(300.0, "SIRET : 267 600 005 00016")],
            &[(300.0, "TVA : FR91267600005")],
            &[(40.0, "Total HT"), (300.0, "1 000,00 €")],
            &[(40.0, "TVA 20 %"), (300.0, "200,00 €")],
            &[(40.0, "Total TTC"), (300.0, "1 200,00 €")],
            &[(40.0, "SAS au capital de 10 000 € - RCS Lyon 732 829 320 - SIRET 732 829 320 00017 - TVA FR44732829320")],
        ]);
        let inv = read(&layout).invoice;
        assert_eq!(
            (inv.seller_siret.as_deref(), inv.seller_siren.as_deref(), inv.vat_id.as_deref()),
            (Some("73282932000017"), Some("732829320"), Some("FR44732829320"))
        );
        // With the seller's identifiers nowhere, none: the buyer's are not a fallback.
        let layout = page(&[
            &[(40.0, "SECURINFO CONSEIL")],
            &[(40.0, "Client :"), (300.0, "Facture n° FA-2024-0042")],
            &[(40.0, "Centre Hospitalier de Valmont")],
            &[(40.0, "SIRET : 267 600 005 00016")],
        ]);
        let inv = read(&layout).invoice;
        assert_eq!((inv.seller_siret, inv.seller_siren, inv.vat_id), (None, None, None));
        // Nor a cell that names the buyer's number outside its block.
        assert_eq!(invoice_from_text("ACME SAS\nN° TVA client : FR91267600005\nTotal TTC :   12,00 €\n").vat_id, None);
    }

    #[test]
    fn the_siren_is_the_one_inside_the_vat_id() {
        // Only the VAT id states it: the SIREN is read from it.
        let inv = invoice_from_text("Akretion France\nInvoice VT/2022/0001\ncontact@akretion.com   VAT: FR86792377731\n");
        assert_eq!((inv.seller_siren.as_deref(), inv.vat_id.as_deref()), (Some("792377731"), Some("FR86792377731")));
        // Two companies' numbers, neither in a buyer's block: when another VAT id on the
        // page is the SIREN's, that one is the seller's.
        let inv = invoice_from_text("ACME SAS\nSIREN 732 829 320\nTVA FR96552100554\nTVA intracommunautaire FR44732829320\n");
        assert_eq!((inv.seller_siren.as_deref(), inv.vat_id.as_deref()), (Some("732829320"), Some("FR44732829320")));
        // Else nothing tells which is the seller's: all three are left empty, and the
        // finding shows both.
        let reading = read_invoice(None, "ACME SAS\nSIRET : 267 600 005 00016\nN° TVA : FR96552100554\nTotal TTC :   12,00 €\n");
        let inv = &reading.invoice;
        assert_eq!((&inv.seller_siret, &inv.seller_siren, &inv.vat_id), (&None, &None, &None));
        let finding = reading.findings.iter().find(|f| f.code == FindingCode::InvoiceFieldsInconsistent).expect("a finding");
        assert!(finding.message.contains("267600005") && finding.message.contains("FR96552100554"), "{}", finding.message);
        // Agreeing, each is kept with a high confidence.
        let reading = read_invoice(None, "ACME SAS\nSIRET 552 100 554 00021 - TVA FR96 552100554\n");
        assert_eq!(reading.invoice.seller_siret.as_deref(), Some("55210055400021"));
        assert!(reading.invoice.confidence["seller_siren"] >= 0.9);
    }

    #[test]
    fn ht_and_ttc_are_told_apart_by_arithmetic() {
        // A subtotal label over the amount with VAT, the HT printed under no known label.
        let text = "ACME SAS\nFacture n° FA-1\nAudit   1 000,00 €\nSous-total   1 200,00 €\nTVA 20 %   200,00 €\nTotal TTC   1 200,00 €\nDont prestations   1 000,00 €\n";
        let reading = read_invoice(None, text);
        let inv = &reading.invoice;
        assert_eq!((inv.total_ht, inv.total_tva, inv.total_ttc), (Some(dec("1000.00")), Some(dec("200.00")), Some(dec("1200.00"))));
        assert!(reading.findings.is_empty());
        // A group's subtotal is not the invoice's HT when the totals say otherwise.
        let text = "ACME SAS\nLicences   112,00 €\nSubtotal   112,00 €\nFormation   150,90 €\nSubtotal   150,90 €\nSubtotal   262,90 €\nTax 15%   39,44 €\nTotal   302,34 €\n";
        let inv = invoice_from_text(text);
        assert_eq!((inv.total_ht, inv.total_tva, inv.total_ttc), (Some(dec("262.90")), Some(dec("39.44")), Some(dec("302.34"))));
        // HT equal to TTC with VAT charged: the HT is left empty, with a finding.
        let reading = read_invoice(None, "ACME SAS\nTotal HT :   1 200,00 €\nTotal TTC :   1 200,00 €\n");
        assert_eq!((reading.invoice.total_ht, reading.invoice.total_ttc), (None, Some(dec("1200.00"))));
        assert!(reading.findings.iter().any(|f| f.code == FindingCode::InvoiceFieldsInconsistent && f.message.contains("1\u{a0}200,00")));
        // Three labelled totals that nothing reconciles: none is given.
        let reading = read_invoice(None, "ACME SAS\nTotal HT :   1 000,00 €\nTVA :   230,00 €\nTotal TTC :   1 300,00 €\n");
        assert_eq!((reading.invoice.total_ht, reading.invoice.total_tva, reading.invoice.total_ttc), (None, None, None));
        assert_eq!(reading.findings.len(), 1);
    }

    /// Totals printed once each under their labels that do not add up: a born-digital
    /// page's text is what the document says, kept whole (the judge's `totals_inconsistent`);
    /// OCR's reading keeps the odd one empty, as a question. A page that prints a total
    /// twice with two values is no statement of one: nothing is kept.
    #[test]
    fn printed_totals_that_do_not_add_up_are_kept_when_the_text_is_printed() {
        let text = "ACME SAS\nFacture n° FA-1\nTotal HT :   8 400,00 €\nTVA 20 % :   1 680,00 €\nTotal TTC :   11 080,00 €\n";
        let ocr = read_invoice(None, text);
        assert_eq!((ocr.invoice.total_ht, ocr.invoice.total_tva, ocr.invoice.total_ttc), (Some(dec("8400.00")), Some(dec("1680.00")), None));
        assert!(ocr.findings.iter().any(|f| f.code == FindingCode::InvoiceFieldsInconsistent), "{:?}", ocr.findings);
        let mut printed = ocr.clone();
        printed.keep_printed_totals();
        assert_eq!(
            (printed.invoice.total_ht, printed.invoice.total_tva, printed.invoice.total_ttc),
            (Some(dec("8400.00")), Some(dec("1680.00")), Some(dec("11080.00")))
        );
        assert!(printed.findings.is_empty(), "{:?}", printed.findings);
        assert_eq!(printed.invoice.confidence.get("total_ttc"), Some(&0.9));
        // A line's amount under a "Montant HT" title is no rival to the HT the rate binds
        // to the TVA: the TTC, printed once, is still the document's.
        let lines = "ACME SAS\nFacture n° FA-2\nDésignation   Qté   Montant HT\nAudit   1   6 000,00 €\nRestitution   1   2 400,00 €\nTotal HT :   8 400,00 €\nTVA 20 % :   1 680,00 €\nTotal TTC :   11 080,00 €\n";
        let mut lines = read_invoice(None, lines);
        lines.keep_printed_totals();
        assert_eq!(
            (lines.invoice.total_ht, lines.invoice.total_tva, lines.invoice.total_ttc),
            (Some(dec("8400.00")), Some(dec("1680.00")), Some(dec("11080.00")))
        );
        let mut twice =
            read_invoice(None, "ACME SAS\nTotal HT :   8 400,00 €\nTVA 20 % :   1 680,00 €\nTotal TTC :   11 080,00 €\nNet à payer :   12 000,00 €\n");
        twice.keep_printed_totals();
        assert_eq!(twice.invoice.total_ttc, None);
        assert_eq!(twice.findings.len(), 1);
    }

    #[test]
    fn a_label_word_is_never_the_number() {
        // A header row over fewer values: nothing under "Facture n°" lines up in plain
        // text, and the next title is not its value.
        let text = "ACME SAS\nFacture n°   Date   Client\nFA-2024-0042   12/06/2024\n";
        assert_ne!(invoice_from_text(text).number.as_deref(), Some("Date"));
        assert_ne!(invoice_from_text("ACME SAS\nFacture n°\nDate : 12/06/2024\n").number.as_deref(), Some("Date"));
        // Laid out, the value under the title is found by geometry.
        let layout =
            page(&[&[(40.0, "ACME SAS")], &[(40.0, "Facture n°"), (200.0, "Date"), (300.0, "Client")], &[(40.0, "FA-2024-0042"), (200.0, "12/06/2024")]]);
        assert_eq!(read(&layout).invoice.number.as_deref(), Some("FA-2024-0042"));
        // A label/value table (LibreOffice, Ghostscript): labels in one column, values in the next.
        let layout = page(&[
            &[(40.0, "ACME SAS")],
            &[(40.0, "FACTURE")],
            &[(40.0, "N° :"), (160.0, "2024-117")],
            &[(40.0, "Date :"), (160.0, "12/06/2024")],
            &[(40.0, "Échéance :"), (160.0, "12/07/2024")],
        ]);
        let inv = read(&layout).invoice;
        assert_eq!((inv.number.as_deref(), inv.issue_date), (Some("2024-117"), chrono::NaiveDate::from_ymd_opt(2024, 6, 12)));
    }

    #[test]
    fn the_issue_date_comes_before_the_due_date() {
        // The due date first in the text, unlabelled as an issue date.
        let inv = invoice_from_text("ACME SAS\nÀ payer avant le 12/07/2024\nFacture n° FA-1 du 12/06/2024\n");
        assert_eq!(inv.issue_date, chrono::NaiveDate::from_ymd_opt(2024, 6, 12));
        // A labelled date after the due date is left empty, with a finding.
        let reading = read_invoice(None, "ACME SAS\nDate : 12/08/2024\nDate d'échéance : 12/07/2024\n");
        assert_eq!(reading.invoice.issue_date, None);
        assert!(reading.findings.iter().any(|f| f.code == FindingCode::InvoiceFieldsInconsistent));
        // A receipt's two-digit year where a date label announces it.
        assert_eq!(invoice_from_text("Envato\nOrder date: 28 Jan 15\n").issue_date, chrono::NaiveDate::from_ymd_opt(2015, 1, 28));
    }
}
