//! Text of pages that have none (scanned PDFs, photos and scans as PNG, JPEG, TIFF):
//! Tesseract with its French model, in the sandbox, one page at a time. PDF pages are
//! rendered by poppler at 300 dpi (less when the page would pass the pixel cap);
//! Tesseract finds the page's orientation itself (`--psm 1`). Its words, boxes and
//! confidences become the same [`Layout`] as a PDF's own text, so every reader after
//! this one works alike on both.

use std::path::Path;
use std::sync::{Condvar, LazyLock, Mutex};
use std::time::Duration;

use crate::layout::{Layout, Page, Word};
use crate::sandbox::{self, SandboxError, SandboxLimits};
use crate::{Budget, Limits};

/// What OCR read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Ocr {
    pub layout: Layout,
    /// Mean of the words' confidences, 0 to 100 (0 when no word was read).
    pub mean_confidence: f32,
    /// Pages read (PDF pages past the OCR page limit are not).
    pub pages: usize,
}

/// Under this mean confidence the text is a guess, and a person reads the file.
pub const LOW_CONFIDENCE: f32 = 70.0;
/// Rendering resolution of PDF pages.
const DPI: f32 = 300.0;
/// Largest page image rendered (pixels): an A4 page at 300 dpi is 8.7 million.
const MAX_PIXELS: f32 = 40_000_000.0;
/// Pages of one PDF read by OCR at most.
const MAX_PAGES: usize = 30;
/// One page's time, at most.
const PAGE_TIME: Duration = Duration::from_secs(90);

pub fn tesseract_available() -> bool {
    static AVAILABLE: LazyLock<bool> = LazyLock::new(|| sandbox::installed("tesseract", "--version"));
    *AVAILABLE
}

/// Tesseract runs one page per core at most, whatever the number of files read at once.
struct Slots {
    free: Mutex<usize>,
    freed: Condvar,
}

static SLOTS: LazyLock<Slots> =
    LazyLock::new(|| Slots { free: Mutex::new(std::thread::available_parallelism().map_or(1, |n| n.get())), freed: Condvar::new() });

struct Slot;

impl Slot {
    fn take() -> Self {
        let mut free = SLOTS.free.lock().unwrap_or_else(|e| e.into_inner());
        while *free == 0 {
            free = SLOTS.freed.wait(free).unwrap_or_else(|e| e.into_inner());
        }
        *free -= 1;
        Slot
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        *SLOTS.free.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        SLOTS.freed.notify_one();
    }
}

fn io(tool: &str) -> impl Fn(std::io::Error) -> SandboxError + '_ {
    move |error| SandboxError::Io { tool: tool.to_owned(), error }
}

fn page_limits(budget: &Budget) -> SandboxLimits {
    SandboxLimits { memory_bytes: 2 << 30, wall: budget.remaining().min(PAGE_TIME), max_output: 64 << 20 }
}

/// Tesseract's TSV: one row per element; level 5 rows are words, with their box in
/// pixels and a confidence; the level 1 row is the page, its size. Boxes stay in pixels.
/// Which line of which paragraph of which block a word is on, as Tesseract numbers them.
type LineId = (u32, u32, u32);

fn words_of_tsv(tsv: &str) -> (Vec<Word>, Vec<f32>, (f32, f32), Vec<LineId>) {
    let (mut words, mut confidences, mut size, mut lines) = (Vec::new(), Vec::new(), (0.0, 0.0), Vec::new());
    for line in tsv.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.len() < 12 {
            continue;
        }
        let n = |i: usize| cols[i].parse::<f32>().unwrap_or(0.0);
        if cols[0] == "1" {
            size = (n(8), n(9));
            continue;
        }
        let text = cols[11].trim();
        let conf: f32 = cols[10].parse().unwrap_or(-1.0);
        if cols[0] != "5" || text.is_empty() || conf < 0.0 {
            continue;
        }
        let (x, y, w, h) = (n(6), n(7), n(8), n(9));
        words.push(Word { text: text.to_owned(), x0: x, y0: y, x1: x + w, y1: y + h, size: h });
        confidences.push(conf);
        let id = |i: usize| cols[i].parse::<u32>().unwrap_or(0);
        lines.push((id(2), id(3), id(4)));
    }
    (words, confidences, size, lines)
}

/// The slope of the page's text lines (dy/dx), from the lines Tesseract found: a sheet
/// laid a degree askew on the glass puts a total's label and its amount, a page's width
/// apart, on different rows unless the boxes are turned back. The median over lines
/// long enough to tell, so a stray line does not decide.
fn skew(words: &[Word], lines: &[LineId]) -> f32 {
    let mut by_line: std::collections::BTreeMap<LineId, Vec<&Word>> = std::collections::BTreeMap::new();
    for (w, l) in words.iter().zip(lines) {
        by_line.entry(*l).or_default().push(w);
    }
    let mut slopes: Vec<f32> = by_line
        .values()
        .filter(|ws| ws.len() >= 3 && ws.last().map(|l| l.x1).unwrap_or(0.0) - ws[0].x0 > 300.0)
        .filter_map(|ws| {
            // Least squares of the words' bottoms (their baseline, nearly) against their middles.
            let pts: Vec<(f32, f32)> = ws.iter().map(|w| ((w.x0 + w.x1) / 2.0, w.y1)).collect();
            let n = pts.len() as f32;
            let (mx, my) = (pts.iter().map(|p| p.0).sum::<f32>() / n, pts.iter().map(|p| p.1).sum::<f32>() / n);
            let (sxy, sxx) = pts.iter().fold((0.0, 0.0), |(a, b), (x, y)| (a + (x - mx) * (y - my), b + (x - mx) * (x - mx)));
            (sxx > 0.0).then(|| sxy / sxx)
        })
        .filter(|s| s.abs() < 0.1)
        .collect();
    if slopes.len() < 3 {
        return 0.0;
    }
    slopes.sort_by(f32::total_cmp);
    slopes[slopes.len() / 2]
}

/// Turns the boxes back by the page's skew, around its centre.
fn deskew(words: &mut [Word], slope: f32, (w, h): (f32, f32)) {
    let (cx, cy) = (w / 2.0, h / 2.0);
    for word in words {
        let (mx, my) = ((word.x0 + word.x1) / 2.0, (word.y0 + word.y1) / 2.0);
        let (dx, dy) = (slope * (my - cy), -slope * (mx - cx));
        word.x0 += dx;
        word.x1 += dx;
        word.y0 += dy;
        word.y1 += dy;
    }
}

/// A page fed sideways or upside down is read by Tesseract (it finds the orientation),
/// but its boxes stay those of the image: they are turned upright here, by the rotation
/// Tesseract's orientation detection says corrects the page (clockwise degrees).
fn upright(words: &mut [Word], rotate: u32, (w, h): (f32, f32)) {
    for word in words.iter_mut() {
        let corners = [(word.x0, word.y0), (word.x1, word.y1)];
        let turned: Vec<(f32, f32)> = corners
            .iter()
            .map(|&(x, y)| match rotate {
                90 => (h - y, x),
                180 => (w - x, h - y),
                270 => (y, w - x),
                _ => (x, y),
            })
            .collect();
        word.x0 = turned[0].0.min(turned[1].0);
        word.x1 = turned[0].0.max(turned[1].0);
        word.y0 = turned[0].1.min(turned[1].1);
        word.y1 = turned[0].1.max(turned[1].1);
    }
}

/// Most words taller than wide: the lines run up or down the image.
fn sideways(words: &[Word]) -> bool {
    let long: Vec<&Word> = words.iter().filter(|w| w.text.chars().count() >= 4).collect();
    !long.is_empty() && long.iter().filter(|w| (w.y1 - w.y0) > (w.x1 - w.x0)).count() * 2 > long.len()
}

fn orientation(image: &Path, workdir: &Path, budget: &Budget) -> Result<u32, SandboxError> {
    let args: Vec<&std::ffi::OsStr> = vec![image.as_os_str(), "stdout".as_ref(), "--psm".as_ref(), "0".as_ref()];
    let out = sandbox::run("tesseract", &args, workdir, page_limits(budget))?;
    Ok(String::from_utf8_lossy(&out).lines().find_map(|l| l.strip_prefix("Rotate:")).and_then(|r| r.trim().parse().ok()).unwrap_or(0))
}

fn recognise(image: &Path, dpi: f32, workdir: &Path, budget: &Budget) -> Result<(Page, Vec<f32>), SandboxError> {
    let _slot = Slot::take();
    let dpi_arg = format!("{}", dpi.round() as u32);
    let args: Vec<&std::ffi::OsStr> = vec![
        image.as_os_str(),
        "stdout".as_ref(),
        "-l".as_ref(),
        "fra".as_ref(),
        "--psm".as_ref(),
        "1".as_ref(),
        "--dpi".as_ref(),
        dpi_arg.as_ref(),
        "tsv".as_ref(),
    ];
    let out = sandbox::run("tesseract", &args, workdir, page_limits(budget))?;
    let (mut words, confidences, size, lines) = words_of_tsv(&String::from_utf8_lossy(&out));
    let mut rotate = 0;
    if sideways(&words) {
        rotate = orientation(image, workdir, budget).unwrap_or(0);
    } else if !words.is_empty() && confidences.iter().sum::<f32>() / (confidences.len() as f32) < LOW_CONFIDENCE {
        // Upside down reads as poorly recognised text: ask which way is up.
        rotate = orientation(image, workdir, budget).unwrap_or(0);
    }
    if rotate == 0 {
        let slope = skew(&words, &lines);
        if slope.abs() > 0.002 {
            deskew(&mut words, slope, size);
        }
    }
    upright(&mut words, rotate, size);
    let scale = 72.0 / dpi;
    for w in &mut words {
        w.x0 *= scale;
        w.y0 *= scale;
        w.x1 *= scale;
        w.y1 *= scale;
    }
    Ok((Page { width: 0.0, height: 0.0, words }, confidences))
}

fn finish(pages: Vec<Page>, confidences: Vec<f32>) -> Ocr {
    let mean_confidence = if confidences.is_empty() { 0.0 } else { confidences.iter().sum::<f32>() / confidences.len() as f32 };
    Ocr { pages: pages.len(), layout: Layout { pages }, mean_confidence }
}

/// OCR of one image file (PNG, JPEG, TIFF...). Its resolution is what the file says;
/// Tesseract assumes 300 dpi when it says none.
pub fn image(path: &Path, budget: &Budget) -> Result<Ocr, SandboxError> {
    let workdir = tempfile::tempdir().map_err(io("tesseract"))?;
    let path = std::path::absolute(path).map_err(io("tesseract"))?;
    let (page, confidences) = recognise(&path, DPI, workdir.path(), budget)?;
    Ok(finish(vec![page], confidences))
}

/// OCR of a PDF's pages (`pages`: their sizes in points, as poppler read them), each
/// rendered then read, within the file's budget.
pub fn pdf(path: &Path, pages: &[(f32, f32)], limits: &Limits, budget: &Budget) -> Result<Ocr, SandboxError> {
    let workdir = tempfile::tempdir().map_err(io("pdftoppm"))?;
    let path = std::path::absolute(path).map_err(io("pdftoppm"))?;
    let (mut read, mut confidences) = (Vec::new(), Vec::new());
    for (i, &(w, h)) in pages.iter().enumerate().take(MAX_PAGES.min(limits.max_pdf_pages)) {
        if budget.remaining().is_zero() {
            break;
        }
        // The pixel cap: a huge page is rendered at a lower resolution, never unbounded.
        let full = (w.max(1.0) / 72.0 * DPI) * (h.max(1.0) / 72.0 * DPI);
        let dpi = if full > MAX_PIXELS { DPI * (MAX_PIXELS / full).sqrt() } else { DPI }.max(50.0);
        let n = (i + 1).to_string();
        let prefix = workdir.path().join(format!("page-{n}"));
        let r = format!("{}", dpi.round() as u32);
        let args: Vec<&std::ffi::OsStr> = vec![
            "-q".as_ref(),
            "-gray".as_ref(),
            "-png".as_ref(),
            "-singlefile".as_ref(),
            "-r".as_ref(),
            r.as_ref(),
            "-f".as_ref(),
            n.as_ref(),
            "-l".as_ref(),
            n.as_ref(),
            path.as_os_str(),
            prefix.as_os_str(),
        ];
        sandbox::run("pdftoppm", &args, workdir.path(), page_limits(budget))?;
        let image = prefix.with_extension("png");
        let (mut page, c) = recognise(&image, dpi, workdir.path(), budget)?;
        let _ = std::fs::remove_file(&image);
        page.width = w;
        page.height = h;
        read.push(page);
        confidences.extend(c);
    }
    Ok(finish(read, confidences))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tesseract_words_become_points() {
        let tsv = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext\n\
                   1\t1\t0\t0\t0\t0\t0\t0\t2480\t3508\t-1\t\n\
                   5\t1\t1\t1\t1\t1\t300\t600\t250\t50\t96.5\tFACTURE\n\
                   5\t1\t1\t1\t1\t2\t600\t600\t100\t50\t91.0\tN°\n";
        let (mut words, conf, size, lines) = words_of_tsv(tsv);
        assert_eq!(lines, [(1, 1, 1), (1, 1, 1)]);
        assert_eq!(words.len(), 2);
        assert_eq!(words[0].text, "FACTURE");
        assert_eq!(size, (2480.0, 3508.0));
        assert!((words[0].x0 - 300.0).abs() < 0.01 && (words[0].y1 - 650.0).abs() < 0.01, "{:?}", words[0]);
        assert_eq!(conf, [96.5, 91.0]);
        // Turned a quarter: the box of the image's top right corner goes to the top left.
        upright(&mut words, 270, size);
        assert!((words[0].x0 - 600.0).abs() < 0.01 && (words[0].y0 - (2480.0 - 550.0)).abs() < 0.01, "{:?}", words[0]);
    }

    #[test]
    fn a_page_laid_askew_is_levelled() {
        // Three lines of four words, each falling 1 px every 50 (a 1.15° skew).
        let mut words = Vec::new();
        let mut lines = Vec::new();
        for line in 0..3u32 {
            for i in 0..4 {
                let x = 100.0 + 300.0 * i as f32;
                let y = 500.0 + 200.0 * line as f32 + x / 50.0;
                words.push(Word { text: "mot".into(), x0: x, y0: y, x1: x + 200.0, y1: y + 40.0, size: 40.0 });
                lines.push((1, 1, line + 1));
            }
        }
        let slope = skew(&words, &lines);
        assert!((slope - 0.02).abs() < 0.001, "{slope}");
        deskew(&mut words, slope, (2480.0, 3508.0));
        for line in words.chunks(4) {
            let ys: Vec<f32> = line.iter().map(|w| w.y1).collect();
            assert!(ys.iter().all(|y| (y - ys[0]).abs() < 0.5), "{ys:?}");
        }
    }
}
