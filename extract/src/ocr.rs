//! Text of pages that have none (scanned PDFs, photos and scans as PNG, JPEG, TIFF):
//! Tesseract with its French model, in the sandbox, one page at a time. PDF pages are
//! rendered by poppler at 300 dpi (less when the page would pass the pixel cap);
//! Tesseract finds the page's orientation itself (`--psm 1`). Photos are prepared by
//! ImageMagick first (see [`prepare`]). Its words, boxes and confidences become the same
//! [`Layout`] as a PDF's own text, so every reader after this one works alike on both.
//! A file whose pages are several documents (a second invoice from page 2) gives the
//! first document's pages only, and says so (see [`documents`]).

use caregate_schemas::FindingCode;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, LazyLock, Mutex};
use std::time::Duration;

use caregate_schemas::{Finding, Severity};

use crate::classify::Kind;
use crate::layout::{Layout, Page, Word};
use crate::sandbox::{self, SandboxError, SandboxLimits};
use crate::{Budget, Limits};

/// What OCR read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Ocr {
    pub layout: Layout,
    /// Mean of the words' confidences, 0 to 100 (0 when no word was read).
    pub mean_confidence: f32,
    /// Pages read (PDF pages past the OCR page limit are not), all documents included.
    pub pages: usize,
    /// What the reading itself says: other documents after the first
    /// (`several_documents`), pages read without preparation (`ocr_unprepared`).
    pub findings: Vec<Finding>,
}

/// Under this mean confidence the text is a guess, and a person reads the file.
pub const LOW_CONFIDENCE: f32 = 70.0;

/// Under this mean confidence what Tesseract "read" is noise (shapes, a gradient, a
/// photo of nothing written): the file is said to have no text rather than given words
/// that were never on it.
pub const NOISE: f32 = 30.0;

impl Ocr {
    /// Whether anything was read that may be text.
    pub fn read_text(&self) -> bool {
        self.layout.word_count() > 0 && self.mean_confidence >= NOISE
    }
}
/// Rendering resolution of PDF pages.
const DPI: f32 = 300.0;
/// Largest page image rendered (pixels): an A4 page at 300 dpi is 8.7 million.
const MAX_PIXELS: f32 = 40_000_000.0;
/// Pages of one PDF read by OCR at most.
const MAX_PAGES: usize = 30;
/// One page's time, at most.
const PAGE_TIME: Duration = Duration::from_secs(90);

/// Under this median word height (pixels, ascenders included) Tesseract misses letters:
/// it is trained on text about 30 px high, what 10 pt gives at 300 dpi. A phone photo
/// of a whole page, or a page saved as a small PNG, holds its text at 12 to 18 px.
const SMALL_TEXT: f32 = 20.0;
/// The height small text is enlarged to, and the most it is enlarged (past 3 times the
/// letters are guesses of the resampling, not of the capture).
const TEXT_HEIGHT: f32 = 30.0;
const MAX_ENLARGE: f32 = 3.0;

/// A page whose text block is at least this many times as tall as wide is a till
/// receipt's single column (an A4 invoice's text block is at most about 1.4: measured on
/// the corpus photos, 0.7 to 0.8, and the real receipts, 1.6 to 2.7).
const COLUMN: f32 = 1.5;

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

/// ImageMagick, to prepare photos before Tesseract: chosen over `unpaper` (made for
/// flatbed scans of book pages: it reads only PNM, and neither enlarges nor honours a
/// phone's EXIF orientation) and over an image crate (the same operations to write and
/// build; these are ImageMagick's own, kept by Debian's security team). Named by the
/// versioned command (Debian bookworm's ImageMagick 6) or `magick` (ImageMagick 7),
/// never the bare `convert`, which other tools also install. `None` when absent: pages
/// are then read as they come, and each reading says so (`ocr_unprepared`).
pub fn magick() -> Option<&'static str> {
    static TOOL: LazyLock<Option<&'static str>> =
        LazyLock::new(|| ["magick", "convert-im6.q16", "convert-im6"].into_iter().find(|tool| sandbox::installed(tool, "-version")));
    *TOOL
}

/// Most frames of one image file read (a multi-page TIFF is a scanner's image set).
const MAX_FRAMES: usize = 30;

/// A page as Tesseract gets it: `scale` times the source's pixels, turned by `rotate`
/// clockwise degrees.
struct Prepared {
    path: PathBuf,
    /// The frame of the source it was made from.
    frame: usize,
    scale: f32,
    rotate: u32,
}

/// Writes frame `frame` of `src`, or each frame (at most [`MAX_FRAMES`]) when `None`,
/// enlarged by `scale` and turned by `rotate` (clockwise degrees), as `<stem>-NNN.png` in
/// `workdir`, ready for Tesseract, in the sandbox under the same limits as Tesseract
/// (and ImageMagick's own resource limits, so it spills to its temporary directory
/// rather than failing on a large page). What it does, and why:
/// - `-auto-orient`: a phone writes how it was held in EXIF and leaves the pixels
///   sideways; Tesseract reads no EXIF.
/// - transparency flattened on white: a PNG saved with an alpha channel reads as black
///   text on black to a reader that drops the channel.
/// - grey, one channel: what Tesseract binarises anyway, a third of the pixels.
/// - `-deskew`: a photo is often held a few degrees off; Tesseract's lines then break
///   into rows a total's label and its amount no longer share (the boxes are also
///   levelled after, by [`skew`], for what remains).
/// - `-resize`, only by `scale` > 1: small text enlarged (see [`SMALL_TEXT`]).
///
/// Contrast stretching (`-normalize`, `-auto-level`) and flattening the light (dividing
/// by a blurred copy) were measured on the real scans and the corpus photos (shadows,
/// grey paper): no better, sometimes worse, and slower, as Tesseract's own Otsu
/// threshold already adapts to the page; they are not done here. A phone photo of a
/// sheet on a table is straightened, and there its light is flattened ([`straighten`]):
/// a shadow across a sheet seen from the side defeated the one threshold.
fn prepare(
    tool: &str,
    src: &Path,
    frame: Option<usize>,
    (scale, rotate): (f32, u32),
    stem: &str,
    workdir: &Path,
    budget: &Budget,
) -> Result<Vec<Prepared>, SandboxError> {
    let limits = page_limits(budget);
    let time = limits.wall.as_secs().max(1).to_string();
    // ImageMagick reads dozens of formats, some of them scripts (MVG, MSL, SVG with
    // references): it is told which raster coder to use, from the file's magic bytes,
    // and given the file under a plain name of our own, so nothing in the name (a
    // `coder:` prefix, `[...]`, `%d`) is read as an instruction.
    let Some(coder) = coder(src) else { return Ok(Vec::new()) };
    let link = workdir.join(format!("{stem}-source"));
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(src, &link).map_err(io(tool))?;
    let name = link.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let input = match frame {
        Some(k) => format!("{coder}:{name}[{k}]"),
        None => format!("{coder}:{name}[0-{}]", MAX_FRAMES - 1),
    };
    let out = workdir.join(format!("{stem}-%03d.png"));
    let mut args = resource_limits(&time);
    args.extend(
        [input.as_str(), "-quiet", "-auto-orient", "-background", "white", "-alpha", "remove", "-alpha", "off", "-colorspace", "Gray"].map(String::from),
    );
    if rotate != 0 {
        args.extend(["-rotate".to_owned(), rotate.to_string()]);
    }
    args.extend(["-deskew", "40%", "+repage"].map(String::from));
    if scale > 1.0 {
        args.extend(["-resize".to_owned(), format!("{:.0}%", scale * 100.0)]);
    }
    args.push(out.to_string_lossy().into_owned());
    let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_ref()).collect();
    let ran = sandbox::run(tool, &args, workdir, SandboxLimits { memory_bytes: 1 << 30, ..limits });
    let _ = std::fs::remove_file(&link);
    ran?;
    let mut pages: Vec<PathBuf> = std::fs::read_dir(workdir)
        .map_err(io(tool))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(&format!("{stem}-")) && n.ends_with(".png")))
        .collect();
    pages.sort();
    for page in &pages {
        // A page that could not be straightened is read as it was prepared.
        let _ = straighten(tool, page, workdir, budget);
    }
    Ok(pages.into_iter().enumerate().map(|(i, path)| Prepared { path, frame: frame.unwrap_or(i), scale, rotate }).collect())
}

/// The width and height of a PNG, from its header.
fn png_size(path: &Path) -> Option<(f32, f32)> {
    let mut head = [0u8; 24];
    std::io::Read::read_exact(&mut std::fs::File::open(path).ok()?, &mut head).ok()?;
    let be = |i: usize| u32::from_be_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]) as f32;
    (head.starts_with(b"\x89PNG") && &head[12..16] == b"IHDR").then(|| (be(16), be(20)))
}

/// Largest side of the small copy the sheet's corners are looked for on: enough to place
/// a corner within a few pixels of the page, little to decode and label.
const THUMB: u32 = 600;

/// A phone photo of a sheet on a table, straightened in place: the sheet's corners found
/// on a small grey copy ([`crate::photo::sheet_corners`]), then the page mapped onto an
/// upright rectangle by ImageMagick's perspective distortion, the table left out. Lines
/// that converged (the photo taken a little from the side) run parallel again, so a
/// total's label and its amount share a row. A page without a sheet's outline (a scan,
/// a receipt filling the frame) is left as it is. Whether it was straightened.
fn straighten(tool: &str, page: &Path, workdir: &Path, budget: &Budget) -> Result<bool, SandboxError> {
    let Some((full_w, _)) = png_size(page) else { return Ok(false) };
    let name = page.file_name().map(|n| format!("png:{}", n.to_string_lossy())).unwrap_or_default();
    let limits = SandboxLimits { memory_bytes: 1 << 30, ..page_limits(budget) };
    let thumb = format!("{THUMB}x{THUMB}>");
    let own = resource_limits(&limits.wall.as_secs().max(1).to_string());
    let mut args: Vec<&std::ffi::OsStr> = own.iter().map(|a| a.as_ref()).collect();
    args.extend::<[&std::ffi::OsStr; 6]>([name.as_ref(), "-resize".as_ref(), thumb.as_ref(), "-depth".as_ref(), "8".as_ref(), "pgm:-".as_ref()]);
    let out = sandbox::run(tool, &args, workdir, limits)?;
    let Some(grey) = crate::photo::Grey::from_pgm(&out) else { return Ok(false) };
    let Some(corners) = crate::photo::sheet_corners(&grey) else { return Ok(false) };
    let k = full_w / grey.width as f32;
    let corners = corners.map(|(x, y)| (x * k, y * k));
    let (w, h) = crate::photo::straightened_size(&corners);
    let targets = [(0.0, 0.0), (w, 0.0), (w, h), (0.0, h)];
    let points: Vec<String> = corners.iter().zip(targets).map(|(c, t)| format!("{:.1},{:.1} {:.1},{:.1}", c.0, c.1, t.0, t.1)).collect();
    let points = points.join("  ");
    let viewport = format!("distort:viewport={:.0}x{:.0}+0+0", w, h);
    // The sheet's own edge (a dark line where the table shows between the corners) is
    // shaved off: Tesseract reads it as a column of '|'.
    let shave = format!("{0}x{0}", (w.min(h) * 0.006).ceil() as u32);
    // The light flattened: the page divided by a blurred copy of itself (its paper, the
    // shadow of the phone or a hand across it), so grey ink on a shadowed grey sheet
    // is dark on white everywhere and Tesseract's one threshold holds across the page.
    // Measured on a photo taken well from the side with a shadow: straightened alone it
    // read 2 lines, flattened too all of them. Only here, on photos: on scans it was
    // measured no better (see [`prepare`]).
    let blur = format!("0x{:.0}", (w.min(h) / 60.0).max(8.0));
    let mut args: Vec<&std::ffi::OsStr> = own.iter().map(|a| a.as_ref()).collect();
    args.extend::<[&std::ffi::OsStr; 20]>([
        name.as_ref(),
        "-virtual-pixel".as_ref(),
        "white".as_ref(),
        "-define".as_ref(),
        viewport.as_ref(),
        "-distort".as_ref(),
        "Perspective".as_ref(),
        points.as_ref(),
        "+repage".as_ref(),
        "-shave".as_ref(),
        shave.as_ref(),
        "(".as_ref(),
        "+clone".as_ref(),
        "-blur".as_ref(),
        blur.as_ref(),
        ")".as_ref(),
        "-compose".as_ref(),
        "Divide_Src".as_ref(),
        "-composite".as_ref(),
        name.as_ref(),
    ]);
    sandbox::run(tool, &args, workdir, limits)?;
    Ok(true)
}

/// ImageMagick's own resource limits, so that it spills to its temporary directory
/// rather than failing on a large page under the sandbox's address-space limit.
fn resource_limits(time: &str) -> Vec<String> {
    let mut args = Vec::new();
    for (what, value) in [("memory", "256MiB"), ("map", "512MiB"), ("disk", "1GiB"), ("area", "128MP"), ("thread", "1"), ("time", time)] {
        args.extend(["-limit", what, value].map(String::from));
    }
    args
}

/// The raster format of `path` by its magic bytes, as ImageMagick names its coder.
fn coder(path: &Path) -> Option<&'static str> {
    let mut head = [0u8; 12];
    let n = std::io::Read::read(&mut std::fs::File::open(path).ok()?, &mut head).ok()?;
    let head = &head[..n];
    Some(match head {
        [0x89, b'P', b'N', b'G', ..] => "png",
        [0xff, 0xd8, 0xff, ..] => "jpeg",
        [b'I', b'I', 42, 0, ..] | [b'M', b'M', 0, 42, ..] => "tiff",
        [b'G', b'I', b'F', b'8', ..] => "gif",
        [b'B', b'M', ..] => "bmp",
        [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P'] => "webp",
        _ => return None,
    })
}

/// What one reading of a page gave: its words in the prepared image's pixels.
struct Reading {
    words: Vec<Word>,
    confidences: Vec<f32>,
    size: (f32, f32),
    lines: Vec<LineId>,
}

impl Reading {
    /// How much text was read and how surely: the sum of the words' confidences. The
    /// mean alone would prefer a reading that kept ten sure words of a hundred.
    fn worth(&self) -> f32 {
        self.confidences.iter().sum()
    }

    fn mean_confidence(&self) -> f32 {
        if self.confidences.is_empty() {
            0.0
        } else {
            self.confidences.iter().sum::<f32>() / self.confidences.len() as f32
        }
    }

    /// The text stands in one tall narrow column (its block at least [`COLUMN`] times as
    /// tall as wide): a till receipt, a ticket, a receipt scanned on an A4 glass.
    fn one_column(&self) -> bool {
        let sure: Vec<&Word> = self.words.iter().zip(&self.confidences).filter(|(w, c)| w.text.chars().count() >= 2 && **c > 30.0).map(|(w, _)| w).collect();
        if sure.len() < 10 {
            return false;
        }
        let (x0, x1) = sure.iter().fold((f32::MAX, f32::MIN), |(a, b), w| (a.min(w.x0), b.max(w.x1)));
        let (y0, y1) = sure.iter().fold((f32::MAX, f32::MIN), |(a, b), w| (a.min(w.y0), b.max(w.y1)));
        x1 > x0 && (y1 - y0) >= COLUMN * (x1 - x0)
    }

    /// The median height of the words long enough and sure enough to tell.
    fn text_height(&self) -> Option<f32> {
        let mut heights: Vec<f32> =
            self.words.iter().zip(&self.confidences).filter(|(w, c)| w.text.chars().count() >= 3 && **c > 30.0).map(|(w, _)| w.y1 - w.y0).collect();
        if heights.len() < 5 {
            return None;
        }
        heights.sort_by(f32::total_cmp);
        Some(heights[heights.len() / 2])
    }
}

/// How Tesseract finds the text on a page: its layout analysis (`1`: blocks and columns,
/// with the page's orientation), or the page as one block of lines (`6`).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Segmentation {
    Auto,
    OneBlock,
}

fn tesseract(image: &Path, dpi: f32, workdir: &Path, budget: &Budget) -> Result<Reading, SandboxError> {
    tesseract_as(image, dpi, Segmentation::Auto, workdir, budget)
}

fn tesseract_as(image: &Path, dpi: f32, segmentation: Segmentation, workdir: &Path, budget: &Budget) -> Result<Reading, SandboxError> {
    let _slot = Slot::take();
    let dpi_arg = format!("{}", dpi.round() as u32);
    let args: Vec<&std::ffi::OsStr> = vec![
        image.as_os_str(),
        "stdout".as_ref(),
        "-l".as_ref(),
        "fra".as_ref(),
        "--psm".as_ref(),
        match segmentation {
            Segmentation::Auto => "1",
            Segmentation::OneBlock => "6",
        }
        .as_ref(),
        "--dpi".as_ref(),
        dpi_arg.as_ref(),
        "tsv".as_ref(),
    ];
    let out = sandbox::run("tesseract", &args, workdir, page_limits(budget))?;
    let (words, confidences, size, lines) = words_of_tsv(&String::from_utf8_lossy(&out));
    Ok(Reading { words, confidences, size, lines })
}

/// Reads one prepared page (`dpi`: its source's resolution, for the boxes in points),
/// then again from `source` through ImageMagick, enlarged when its text is small and
/// turned when Tesseract says it is upside down or sideways; the reading kept is the
/// one that read more text more surely ([`Reading::worth`]): Tesseract's orientation
/// guess is wrong on narrow till receipts in dot-matrix print, and enlarging a textured
/// background makes more noise, not more text.
fn recognise_prepared(tool: &str, source: &Path, page: Prepared, dpi: f32, workdir: &Path, budget: &Budget) -> Result<(Page, Vec<f32>), SandboxError> {
    let mut best = (tesseract(&page.path, dpi * page.scale, workdir, budget)?, page);
    let mut tried = vec![(best.1.scale, best.1.rotate)];
    // At most three more readings: enlarged, turned, both.
    for _ in 0..3 {
        let (reading, kept) = &best;
        let mut next = None;
        if let Some(h) = reading.text_height().filter(|h| *h < SMALL_TEXT && kept.scale == 1.0) {
            let (w, hgt) = reading.size;
            let cap = (MAX_PIXELS / (w * hgt).max(1.0)).sqrt();
            let scale = (TEXT_HEIGHT / h).min(MAX_ENLARGE).min(cap);
            if scale > 1.2 {
                next = Some((scale, kept.rotate));
            }
        }
        if next.is_none() && (sideways(&reading.words) || (!reading.words.is_empty() && reading.mean_confidence() < LOW_CONFIDENCE)) {
            let rotate = orientation(&kept.path, workdir, budget).unwrap_or(0);
            if rotate != 0 {
                next = Some((kept.scale, (kept.rotate + rotate) % 360));
            }
        }
        let Some((scale, rotate)) = next.filter(|n| !tried.contains(n)) else { break };
        tried.push((scale, rotate));
        if budget.remaining().is_zero() {
            break;
        }
        let stem = format!("again-{}-{}-{rotate}", kept.frame, (scale * 100.0) as u32);
        let Some(candidate) = prepare(tool, source, Some(kept.frame), (scale, rotate), &stem, workdir, budget)?.pop() else { break };
        let reading = tesseract(&candidate.path, dpi * scale, workdir, budget)?;
        if reading.worth() > best.0.worth() {
            if best.1.path != source {
                let _ = std::fs::remove_file(&best.1.path);
            }
            best = (reading, candidate);
        } else {
            let _ = std::fs::remove_file(&candidate.path);
        }
    }
    // A till receipt read as one block of lines: Tesseract's layout analysis cuts its
    // narrow lines into blocks of a word or two (the GST summary, "TOTAL" apart from its
    // amount) and leaves out some; read whole they come back. The better reading kept,
    // as above: on a page with columns the layout analysis reads more.
    if best.0.one_column() && !budget.remaining().is_zero() {
        let reading = tesseract_as(&best.1.path, dpi * best.1.scale, Segmentation::OneBlock, workdir, budget)?;
        if reading.worth() > best.0.worth() {
            best.0 = reading;
        }
    }
    let (mut reading, kept) = best;
    // Read on its side still (the turned page read no better): Tesseract found the
    // lines, but their boxes run up the page; they are turned upright, as without
    // ImageMagick.
    let rotate = if sideways(&reading.words) { orientation(&kept.path, workdir, budget).unwrap_or(0) } else { 0 };
    if kept.path != source {
        let _ = std::fs::remove_file(&kept.path);
    }
    if rotate == 0 {
        let slope = skew(&reading.words, &reading.lines);
        if slope.abs() > 0.002 {
            deskew(&mut reading.words, slope, reading.size);
        }
    }
    upright(&mut reading.words, rotate, reading.size);
    Ok((to_points(reading.words, dpi * kept.scale), reading.confidences))
}

fn to_points(mut words: Vec<Word>, dpi: f32) -> Page {
    let scale = 72.0 / dpi;
    for w in &mut words {
        w.x0 *= scale;
        w.y0 *= scale;
        w.x1 *= scale;
        w.y1 *= scale;
    }
    Page { width: 0.0, height: 0.0, words }
}

/// A page read as it comes (no ImageMagick).
fn recognise_as_is(image: &Path, dpi: f32, workdir: &Path, budget: &Budget) -> Result<(Page, Vec<f32>), SandboxError> {
    let Reading { mut words, confidences, size, lines } = tesseract(image, dpi, workdir, budget)?;
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
    Ok((to_points(words, dpi), confidences))
}

fn finish(pages: Vec<Page>, confidences: Vec<f32>) -> Ocr {
    let mean_confidence = if confidences.is_empty() { 0.0 } else { confidences.iter().sum::<f32>() / confidences.len() as f32 };
    let read = pages.len();
    let (layout, mut findings) = first_document(Layout { pages });
    if magick().is_none() {
        findings.push(Finding::new(
            FindingCode::OcrUnprepared,
            Severity::Info,
            "ImageMagick n'est pas installé : les pages ont été lues sans préparation (redressement, agrandissement), la lecture d'une photo peut en souffrir",
        ));
    }
    Ocr { pages: read, layout, mean_confidence, findings }
}

/// An invoice's number as printed, for comparing two readings of it: letters and
/// digits, upper case, the letters OCR confuses with digits read as those digits.
fn number_key(number: &str) -> String {
    number
        .chars()
        .filter(|c| c.is_alphanumeric())
        .map(|c| match c.to_ascii_uppercase() {
            'O' | 'Q' | 'D' => '0',
            'I' | 'L' | '|' => '1',
            'S' => '5',
            'B' => '8',
            'Z' => '2',
            c => c,
        })
        .collect()
}

/// Two readings of one number: equal once keyed. Never "one character apart": the
/// next invoice of a series is exactly that.
fn same_number(a: &str, b: &str) -> bool {
    number_key(a) == number_key(b)
}

/// Where the documents after the first begin, when a file's pages are several (a copier
/// scanning a stack in one go; a phone's photos of two invoices sent as one file): the
/// index of each page (from 0) that opens another invoice, with that invoice's number
/// and total. A page opens another invoice when it prints an invoice number that is not
/// the first document's and totals of its own: the second page of one long invoice
/// repeats its number, or prints none, and a page of line items has no total.
pub fn documents(layout: &Layout) -> Vec<(usize, String, Option<rust_decimal::Decimal>)> {
    if layout.pages.len() < 2 {
        return Vec::new();
    }
    let page_invoice = |page: &Page| {
        let one = Layout { pages: vec![page.clone()] };
        let text = one.text();
        let kind = crate::classify::classify_text(&text).kind;
        (matches!(kind, Kind::Invoice | Kind::CreditNote), crate::invoice_text::invoice_from_layout(&one, &text))
    };
    // Only a file that opens with an invoice: a report listing invoices page after page
    // (a financial summary, a dossier's index) prints numbers and totals too, and is one
    // document.
    let (first_is_invoice, first) = page_invoice(&layout.pages[0]);
    if !first_is_invoice {
        return Vec::new();
    }
    let mut current = first.number;
    let mut starts = Vec::new();
    for (i, page) in layout.pages.iter().enumerate().skip(1) {
        let (is_invoice, invoice) = page_invoice(page);
        let Some(number) = invoice.number else { continue };
        let own_totals = is_invoice && (invoice.total_ttc.is_some() || invoice.total_ht.is_some());
        match &current {
            Some(first) if !same_number(first, &number) && own_totals => {
                starts.push((i, number.clone(), invoice.total_ttc.or(invoice.total_ht)));
                current = Some(number);
            }
            Some(_) => {}
            // The first page printed no number: the first one printed is its document's.
            None => current = Some(number),
        }
    }
    starts
}

/// The first document's pages, and a finding naming the others, so that no field is
/// taken from another document's page (the second invoice's totals for the first's).
pub fn first_document(mut layout: Layout) -> (Layout, Vec<Finding>) {
    let starts = documents(&layout);
    let Some(&(first_other, _, _)) = starts.first() else { return (layout, Vec::new()) };
    let others: Vec<String> = starts
        .iter()
        .map(|(page, number, total)| match total {
            Some(t) => format!("page {} : facture n° {number}, total {t}", page + 1),
            None => format!("page {} : facture n° {number}", page + 1),
        })
        .collect();
    let message = format!(
        "ce fichier réunit plusieurs documents ({}) : seuls les champs du premier (page{} 1{}) sont lus ; un contrôleur doit vérifier les autres, qui devraient être déposés à part",
        others.join(" ; "),
        if first_other > 1 { "s" } else { "" },
        if first_other > 1 { format!(" à {first_other}") } else { String::new() },
    );
    layout.pages.truncate(first_other);
    (layout, vec![Finding::new(FindingCode::SeveralDocuments, Severity::Warning, message)])
}

/// OCR of one image file (PNG, JPEG, TIFF...): each of its frames is a page (a
/// multi-page TIFF, at most [`MAX_FRAMES`]). Tesseract assumes 300 dpi: a phone writes
/// 72 in its photos whatever the page's size, so what the file says is not trusted.
pub fn image(path: &Path, budget: &Budget) -> Result<Ocr, SandboxError> {
    let workdir = tempfile::tempdir().map_err(io("tesseract"))?;
    let path = std::path::absolute(path).map_err(io("tesseract"))?;
    let Some(tool) = magick() else {
        let (page, confidences) = recognise_as_is(&path, DPI, workdir.path(), budget)?;
        return Ok(finish(vec![page], confidences));
    };
    let frames = prepare(tool, &path, None, (1.0, 0), "frame", workdir.path(), budget).unwrap_or_default();
    if frames.is_empty() {
        let (page, confidences) = recognise_as_is(&path, DPI, workdir.path(), budget)?;
        return Ok(finish(vec![page], confidences));
    }
    let (mut pages, mut confidences) = (Vec::new(), Vec::new());
    for frame in frames {
        if budget.remaining().is_zero() {
            break;
        }
        let (page, c) = recognise_prepared(tool, &path, frame, DPI, workdir.path(), budget)?;
        pages.push(page);
        confidences.extend(c);
    }
    Ok(finish(pages, confidences))
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
        // A rendered page is already grey, upright as the PDF says and without alpha:
        // read as it is, ImageMagick only for a second reading (enlarged, turned), as
        // preparing every page of a long scan would double its time.
        let (mut page, c) = match magick() {
            Some(tool) => {
                let rendered = Prepared { path: image.clone(), frame: 0, scale: 1.0, rotate: 0 };
                recognise_prepared(tool, &image, rendered, dpi, workdir.path(), budget)?
            }
            None => recognise_as_is(&image, dpi, workdir.path(), budget)?,
        };
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

    #[test]
    fn numbers_compare_through_ocr_confusions_but_not_across_a_series() {
        assert!(same_number("FA-2024-0042", "FA-2O24-OO42"));
        assert!(same_number("F 2024 0042", "f-2024-0042"));
        assert!(!same_number("FA-2024-0042", "FA-2024-0043"), "the next invoice of a series is another invoice");
    }
}
