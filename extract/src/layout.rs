//! Text with its place on the page: words with their boxes, as poppler reads them from
//! any producer's PDF (CID and Type 0 fonts with or without ToUnicode, simple fonts with
//! Differences, Type 3, damaged cross-reference tables it repairs), regrouped into the
//! visual rows a reader sees. A label and its value drawn as separate text objects, or
//! in separate columns, end up on one row; a value under its label is found by geometry.

use std::path::Path;
use std::sync::LazyLock;
use std::time::Duration;

use regex::Regex;

use crate::sandbox::{self, SandboxError, SandboxLimits};
use crate::{Budget, Limits};

/// One word and its box, in PDF points from the page's top-left corner.
#[derive(Clone, Debug, PartialEq)]
pub struct Word {
    pub text: String,
    pub x0: f32,
    pub y0: f32,
    pub x1: f32,
    pub y1: f32,
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

static PAGE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r#"<page width="([0-9.]+)" height="([0-9.]+)">"#).unwrap());
static WORD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"<word xMin="([0-9.\-]+)" yMin="([0-9.\-]+)" xMax="([0-9.\-]+)" yMax="([0-9.\-]+)">([^<]*)</word>"#).unwrap());

fn unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let Some(end) = rest.find(';').filter(|e| *e <= 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            e if e.starts_with("#x") => u32::from_str_radix(&e[2..], 16).ok().and_then(char::from_u32),
            e if e.starts_with('#') => e[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match decoded {
            Some(c) => out.push(c),
            None => out.push_str(&rest[..=end]),
        }
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// Reads `pdftotext -bbox` output (XHTML: pages, then words with their boxes).
pub fn from_bbox_xhtml(xhtml: &str) -> Layout {
    let mut layout = Layout::default();
    let mut pages: Vec<(usize, Page)> = PAGE
        .captures_iter(xhtml)
        .map(|c| (c.get(0).unwrap().start(), Page { width: c[1].parse().unwrap_or(0.0), height: c[2].parse().unwrap_or(0.0), words: Vec::new() }))
        .collect();
    for c in WORD.captures_iter(xhtml) {
        let at = c.get(0).unwrap().start();
        let Some(page) = pages.iter_mut().rev().find(|(start, _)| *start < at).map(|(_, p)| p) else { continue };
        let text = unescape(&c[5]);
        if text.trim().is_empty() {
            continue;
        }
        let n = |i: usize| c[i].parse::<f32>().unwrap_or(0.0);
        page.words.push(Word { text, x0: n(1), y0: n(2), x1: n(3), y1: n(4) });
    }
    layout.pages = pages.into_iter().map(|(_, p)| p).collect();
    layout
}

/// Whether poppler's `pdftotext` is there to be used (asked once per process).
pub fn poppler_available() -> bool {
    static AVAILABLE: LazyLock<bool> = LazyLock::new(|| sandbox::installed("pdftotext", "-v"));
    *AVAILABLE
}

/// The words of a PDF with their boxes, read by poppler in a sandboxed process: within
/// the file's time budget, 1 GiB of address space, at most `max_pdf_pages` pages.
pub fn read_pdf(path: &Path, limits: &Limits, budget: &Budget) -> Result<Layout, SandboxError> {
    let workdir = tempfile::tempdir().map_err(|error| SandboxError::Io { tool: "pdftotext".into(), error })?;
    // The tool runs in its own directory: the file is named from the root.
    let path = std::path::absolute(path).map_err(|error| SandboxError::Io { tool: "pdftotext".into(), error })?;
    let last = limits.max_pdf_pages.to_string();
    let args: [&std::ffi::OsStr; 7] = ["-q".as_ref(), "-bbox".as_ref(), "-enc".as_ref(), "UTF-8".as_ref(), "-l".as_ref(), last.as_ref(), path.as_os_str()];
    let mut args = args.to_vec();
    args.push("-".as_ref());
    let wall = budget.remaining().min(Duration::from_secs(limits.time_budget_secs.max(1)));
    let out = sandbox::run("pdftotext", &args, workdir.path(), SandboxLimits { memory_bytes: 1 << 30, wall, max_output: 256 << 20 })?;
    Ok(from_bbox_xhtml(&String::from_utf8_lossy(&out)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"<doc>
  <page width="595.0" height="842.0">
    <word xMin="400.0" yMin="500.0" xMax="440.0" yMax="510.0">Total</word>
    <word xMin="442.0" yMin="500.0" xMax="460.0" yMax="510.0">HT</word>
    <word xMin="462.0" yMin="500.0" xMax="466.0" yMax="510.0">:</word>
    <word xMin="520.0" yMin="500.5" xMax="550.0" yMax="510.5">46,68</word>
    <word xMin="552.0" yMin="500.5" xMax="558.0" yMax="510.5">&#8364;</word>
    <word xMin="40.0" yMin="40.0" xMax="100.0" yMax="52.0">NETPRESSE</word>
    <word xMin="40.0" yMin="60.0" xMax="80.0" yMax="70.0">R&amp;D</word>
  </page>
</doc>"#;

    #[test]
    fn words_become_rows_in_reading_order() {
        let layout = from_bbox_xhtml(SAMPLE);
        assert_eq!(layout.word_count(), 7);
        assert_eq!(layout.text(), "NETPRESSE\nR&D\nTotal HT :   46,68 €\n");
    }
}
