//! Text with its place on the page: words with their boxes, as poppler reads them from
//! any producer's PDF (CID and Type 0 fonts with or without ToUnicode, simple fonts with
//! Differences, Type 3, damaged cross-reference tables it repairs), regrouped into the
//! visual rows a reader sees. A label and its value drawn as separate text objects, or
//! in separate columns, end up on one row; a value under its label is found by geometry.

// Unsafe code allowed here only: poppler-rs has no safe binding for poppler_page_get_text_layout: one FFI call, its array freed as GLib says.
#![allow(unsafe_code)]

use std::path::Path;

use crate::{Budget, Limits};

/// One word and its box, in PDF points from the page's top-left corner.
#[derive(Clone, Debug, PartialEq)]
pub struct Word {
    pub text: String,
    pub x0: f32,
    pub y0: f32,
    pub x1: f32,
    pub y1: f32,
    /// Its font size in points: as the PDF sets it (poppler), or its box's height where
    /// it was read by OCR; 0 when unknown.
    pub size: f32,
}

impl Word {
    fn height(&self) -> f32 {
        (self.y1 - self.y0).max(1.0)
    }

    fn y_mid(&self) -> f32 {
        (self.y0 + self.y1) / 2.0
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Page {
    pub width: f32,
    pub height: f32,
    pub words: Vec<Word>,
}

/// Words sharing a line across the whole page, left to right.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// 1-based.
    pub page: usize,
    pub words: Vec<Word>,
}

impl Row {
    pub fn y0(&self) -> f32 {
        self.words.iter().map(|w| w.y0).fold(f32::MAX, f32::min)
    }

    pub fn y1(&self) -> f32 {
        self.words.iter().map(|w| w.y1).fold(f32::MIN, f32::max)
    }

    /// The row as text: one space between the words of a phrase, three where the gap
    /// is a column's (so "Total HT :   46,68 €" reads as label, then value).
    pub fn text(&self) -> String {
        let mut out = String::new();
        for (i, w) in self.words.iter().enumerate() {
            if i > 0 {
                let prev = &self.words[i - 1];
                let gap = w.x0 - prev.x1;
                out.push_str(if gap > prev.height() * 1.2 { "   " } else { " " });
            }
            out.push_str(&w.text);
        }
        out
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Layout {
    pub pages: Vec<Page>,
}

impl Layout {
    pub fn word_count(&self) -> usize {
        self.pages.iter().map(|p| p.words.len()).sum()
    }

    /// Every page's rows, top to bottom: words whose vertical middles are within half a
    /// line of each other share a row, whatever the order they were drawn in.
    pub fn rows(&self) -> Vec<Row> {
        let mut rows = Vec::new();
        for (n, page) in self.pages.iter().enumerate() {
            let mut words: Vec<&Word> = page.words.iter().collect();
            words.sort_by(|a, b| a.y_mid().total_cmp(&b.y_mid()).then(a.x0.total_cmp(&b.x0)));
            let mut current: Vec<Word> = Vec::new();
            let mut mid = 0.0f32;
            for w in words {
                let tolerance = w.height().min(current.first().map_or(f32::MAX, Word::height)) * 0.5;
                if !current.is_empty() && (w.y_mid() - mid).abs() > tolerance {
                    rows.push(finish_row(n + 1, std::mem::take(&mut current)));
                }
                current.push(w.clone());
                mid = current.iter().map(Word::y_mid).sum::<f32>() / current.len() as f32;
            }
            if !current.is_empty() {
                rows.push(finish_row(n + 1, current));
            }
        }
        rows
    }

    /// The text in reading order of a form: rows top to bottom, a blank line between pages.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let mut page = 0;
        for row in self.rows() {
            if row.page != page && page != 0 {
                out.push('\n');
            }
            page = row.page;
            out.push_str(&row.text());
            out.push('\n');
        }
        out
    }
}

fn finish_row(page: usize, mut words: Vec<Word>) -> Row {
    words.sort_by(|a, b| a.x0.total_cmp(&b.x0));
    Row { page, words }
}

/// Why poppler gave no layout for a PDF.
#[derive(Debug, thiserror::Error)]
pub enum PopplerError {
    #[error("poppler cannot open the PDF: {0}")]
    Open(String),
    #[error("the time budget ran out after {read} page(s) of {pages}")]
    Budget { read: usize, pages: usize },
    #[error("the poppler reader panicked")]
    Panicked,
}

/// The words of a PDF with their boxes, read by poppler (its GLib interface, in this
/// process: files are read in a child process of the worker, under its memory and time
/// limits, so poppler's own crash or exhausted memory ends that child and that file
/// only). At most `max_pdf_pages` pages, within the file's time budget.
///
/// poppler is linked rather than run as `pdftotext -bbox` per file: starting that
/// program (loading the library, its global tables) cost more than reading most
/// invoices' text, and a reader child serves file after file.
pub fn read_pdf(path: &Path, limits: &Limits, budget: &Budget) -> Result<Layout, PopplerError> {
    let uri = glib::filename_to_uri(path, None).map_err(|e| PopplerError::Open(e.to_string()))?;
    let doc = poppler::Document::from_file(&uri, None).map_err(|e| PopplerError::Open(e.to_string()))?;
    let pages = usize::try_from(doc.n_pages()).unwrap_or(0);
    let mut layout = Layout::default();
    for index in 0..pages.min(limits.max_pdf_pages) {
        if budget.remaining().is_zero() {
            return Err(PopplerError::Budget { read: index, pages });
        }
        let Some(page) = doc.page(index as i32) else { continue };
        layout.pages.push(page_words(&page));
    }
    Ok(layout)
}

/// A page's words: its text in poppler's reading order, cut at white space, each word
/// boxed by the union of its characters' boxes (poppler gives one box per character of
/// the text, in the page's top-left-origin points, as `pdftotext -bbox` prints).
fn page_words(page: &poppler::Page) -> Page {
    let (width, height) = page.size();
    let mut out = Page { width: width as f32, height: height as f32, words: Vec::new() };
    let Some(text) = page.text() else { return out };
    let mut rects: *mut poppler::ffi::PopplerRectangle = std::ptr::null_mut();
    let mut n: u32 = 0;
    // SAFETY: a live page; poppler allocates `n` rectangles (freed below with g_free) or
    // leaves the pointer null and returns false.
    let ok = unsafe { poppler::ffi::poppler_page_get_text_layout(glib::translate::ToGlibPtr::to_glib_none(page).0, &mut rects, &mut n) };
    if ok == 0 || rects.is_null() {
        return out;
    }
    // SAFETY: `n` initialised rectangles at `rects`, read before they are freed.
    let boxes = unsafe { std::slice::from_raw_parts(rects, n as usize) };
    // Font sizes by ranges of the text's characters, in order.
    let sizes: Vec<(usize, usize, f32)> = page
        .text_attributes()
        .iter()
        .map(|a| {
            // SAFETY: a live boxed PopplerTextAttributes, read while `a` is borrowed.
            let ptr: *const poppler::ffi::PopplerTextAttributes = glib::translate::ToGlibPtr::to_glib_none(a).0;
            // SAFETY: as above.
            let raw = unsafe { &*ptr };
            (raw.start_index.max(0) as usize, raw.end_index.max(0) as usize, raw.font_size as f32)
        })
        .collect();
    let mut range = 0;
    let mut size_at = |i: usize| {
        while sizes.get(range).is_some_and(|&(_, end, _)| end < i) {
            range += 1;
        }
        sizes.get(range).filter(|&&(start, _, _)| start <= i).map_or(0.0, |&(_, _, size)| size)
    };
    let mut word = String::new();
    let mut word_size = 0.0;
    let mut bounds: Option<(f64, f64, f64, f64)> = None;
    let mut flush = |word: &mut String, bounds: &mut Option<(f64, f64, f64, f64)>, size: f32| {
        if let Some((x0, y0, x1, y1)) = bounds.take() {
            if !word.trim().is_empty() {
                out.words.push(Word { text: std::mem::take(word), x0: x0 as f32, y0: y0 as f32, x1: x1 as f32, y1: y1 as f32, size });
            }
        }
        word.clear();
    };
    let mut last: Option<(f64, f64, f64, f64)> = None;
    for (i, (c, r)) in text.chars().zip(boxes.iter()).enumerate() {
        if c.is_whitespace() {
            flush(&mut word, &mut bounds, word_size);
            last = None;
            continue;
        }
        let (x0, x1) = (r.x1.min(r.x2), r.x1.max(r.x2));
        let (y0, y1) = (r.y1.min(r.y2), r.y1.max(r.y2));
        // poppler's text joins two words with no space between them when they are
        // apart on the page (a label and its amount in two columns, two table cells):
        // a gap wider than a fifth of the letters' height, a step back, or another line
        // starts a new word, as pdftotext's word boxes do.
        if let Some((px0, py0, px1, py1)) = last {
            let height = (y1 - y0).max(py1 - py0).max(1.0);
            let apart = x0 - px1 > 0.2 * height || x1 < px0 || ((y0 + y1) - (py0 + py1)).abs() / 2.0 > 0.5 * height;
            if apart {
                flush(&mut word, &mut bounds, word_size);
            }
        }
        last = Some((x0, y0, x1, y1));
        if word.is_empty() {
            word_size = size_at(i);
        }
        word.push(c);
        bounds = Some(match bounds {
            Some((a, b, c, d)) => (a.min(x0), b.min(y0), c.max(x1), d.max(y1)),
            None => (x0, y0, x1, y1),
        });
    }
    flush(&mut word, &mut bounds, word_size);
    // SAFETY: the array poppler allocated for us, no longer borrowed.
    unsafe { glib::ffi::g_free(rects.cast()) };
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(text: &str, x0: f32, y0: f32, x1: f32, y1: f32) -> Word {
        Word { text: text.into(), x0, y0, x1, y1, size: y1 - y0 }
    }

    #[test]
    fn words_become_rows_in_reading_order() {
        let words = vec![
            word("Total", 400.0, 500.0, 440.0, 510.0),
            word("HT", 442.0, 500.0, 460.0, 510.0),
            word(":", 462.0, 500.0, 466.0, 510.0),
            word("46,68", 520.0, 500.5, 550.0, 510.5),
            word("€", 552.0, 500.5, 558.0, 510.5),
            word("NETPRESSE", 40.0, 40.0, 100.0, 52.0),
            word("R&D", 40.0, 60.0, 80.0, 70.0),
        ];
        let layout = Layout { pages: vec![Page { width: 595.0, height: 842.0, words }] };
        assert_eq!(layout.word_count(), 7);
        assert_eq!(layout.text(), "NETPRESSE\nR&D\nTotal HT :   46,68 €\n");
    }
}

#[cfg(test)]
mod poppler_tests {
    use super::*;

    /// A one-page PDF showing `Titre` at 20 points and `ligne` at 10, with its xref.
    fn two_sizes_pdf() -> Vec<u8> {
        let content = "BT /F1 20 Tf 50 700 Td (Titre) Tj ET BT /F1 10 Tf 50 650 Td (ligne) Tj ET";
        let objects = [
            "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
            "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".to_owned(),
            format!("<< /Length {} >>\nstream\n{content}\nendstream", content.len()),
            "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_owned(),
        ];
        let mut pdf = b"%PDF-1.4\n".to_vec();
        let mut offsets = Vec::new();
        for (n, body) in objects.iter().enumerate() {
            offsets.push(pdf.len());
            pdf.extend(format!("{} 0 obj\n{body}\nendobj\n", n + 1).bytes());
        }
        let xref = pdf.len();
        pdf.extend(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).bytes());
        for o in offsets {
            pdf.extend(format!("{o:010} 00000 n \n").bytes());
        }
        pdf.extend(format!("trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n", objects.len() + 1).bytes());
        pdf
    }

    /// A PDF's words carry the font size its producer set.
    #[test]
    fn words_carry_their_font_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tailles.pdf");
        std::fs::write(&path, two_sizes_pdf()).unwrap();
        let layout = read_pdf(&path, &Limits::default(), &Budget::new(std::time::Duration::from_secs(60))).unwrap();
        let sizes: Vec<(&str, f32)> = layout.pages[0].words.iter().map(|w| (w.text.as_str(), w.size)).collect();
        assert_eq!(sizes, [("Titre", 20.0), ("ligne", 10.0)]);
    }
}
