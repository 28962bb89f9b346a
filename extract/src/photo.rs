//! Where the sheet is in a phone photo: the page's four corners against the table it lies
//! on, found on a small grey copy of the image, so that [`crate::ocr`] can have the page
//! straightened (ImageMagick's perspective distortion) before Tesseract reads it. A
//! photo taken a little from the side makes the lines converge: the top of the page is
//! narrower than its bottom, a total's label and its amount drift apart, and Tesseract
//! splits the columns. A scan (the page fills the frame, white to its edges) has no
//! corners to find and is left as it is.
//!
//! The image is decoded by ImageMagick in the sandbox (it writes the small copy as PGM,
//! eight lines of header and the grey bytes): no image decoder runs in this process on
//! the file's bytes, which is why no image crate is used here, and the geometry below
//! is a few dozen lines of arithmetic on that grid.

/// A grey image, one byte per pixel, rows top to bottom.
#[derive(Clone, Debug, PartialEq)]
pub struct Grey {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<u8>,
}

/// A corner of the sheet, in the grey image's pixels.
pub type Point = (f32, f32);

impl Grey {
    /// Reads a binary PGM (`P5`, at most 255 grey levels), as ImageMagick writes it.
    pub fn from_pgm(bytes: &[u8]) -> Option<Grey> {
        let mut fields = Vec::new();
        let mut i = 0;
        // Four header fields (magic, width, height, maxval), comments skipped, then one
        // whitespace byte before the pixels.
        while fields.len() < 4 {
            while bytes.get(i)?.is_ascii_whitespace() {
                i += 1;
            }
            if bytes[i] == b'#' {
                while *bytes.get(i)? != b'\n' {
                    i += 1;
                }
                continue;
            }
            let start = i;
            while !bytes.get(i)?.is_ascii_whitespace() {
                i += 1;
            }
            fields.push(std::str::from_utf8(&bytes[start..i]).ok()?);
        }
        let (width, height, max): (usize, usize, usize) = (fields[1].parse().ok()?, fields[2].parse().ok()?, fields[3].parse().ok()?);
        if fields[0] != "P5" || max == 0 || max > 255 || width == 0 || height == 0 {
            return None;
        }
        let pixels = bytes.get(i + 1..i + 1 + width.checked_mul(height)?)?.to_vec();
        Some(Grey { width, height, pixels })
    }

    fn at(&self, x: usize, y: usize) -> u8 {
        self.pixels[y * self.width + x]
    }
}

/// Otsu's threshold: the grey level that best splits the histogram in two classes (the
/// table and the ink below it, the paper above).
fn otsu(pixels: &[u8]) -> u8 {
    let mut hist = [0u64; 256];
    for &p in pixels {
        hist[p as usize] += 1;
    }
    let total = pixels.len() as f64;
    let sum: f64 = hist.iter().enumerate().map(|(v, &n)| v as f64 * n as f64).sum();
    let (mut below, mut sum_below, mut best, mut threshold) = (0.0, 0.0, -1.0, 128u8);
    for (v, &n) in hist.iter().enumerate() {
        below += n as f64;
        sum_below += v as f64 * n as f64;
        let above = total - below;
        if below == 0.0 || above == 0.0 {
            continue;
        }
        let (m0, m1) = (sum_below / below, (sum - sum_below) / above);
        let between = below * above * (m0 - m1) * (m0 - m1);
        if between > best {
            best = between;
            threshold = v as u8;
        }
    }
    threshold
}

/// The sheet's corners (top left, top right, bottom right, bottom left), when the image
/// is a sheet photographed on a darker ground: the largest light region, not touching
/// most of the frame's edge, whose outline is a quadrilateral. `None` for a scan (light
/// to its edges), a photo of nothing like a sheet, or a region too small or too ragged
/// to be one: the page is then read as it is, never cut.
pub fn sheet_corners(image: &Grey) -> Option<[Point; 4]> {
    let (w, h) = (image.width, image.height);
    if w < 32 || h < 32 {
        return None;
    }
    let threshold = otsu(&image.pixels);
    let light = |x: usize, y: usize| image.at(x, y) > threshold;
    // A ground around the sheet: most of the frame's edge (three fifths: the sheet may
    // touch one side) is dark. A scan, or a photo cropped to the page, is light there.
    // The ring looked at lies a little inside the frame: a deskewed image has a thin
    // border of the rotation's white fill at its very edge.
    let inset = (w.min(h) / 50).max(2);
    let (right, bottom) = (w - 1 - inset, h - 1 - inset);
    let edge: Vec<(usize, usize)> =
        (inset..=right).flat_map(|x| [(x, inset), (x, bottom)]).chain((inset..=bottom).flat_map(|y| [(inset, y), (right, y)])).collect();
    let dark_edge = edge.iter().filter(|&&(x, y)| !light(x, y)).count();
    if dark_edge * 5 < edge.len() * 3 {
        return None;
    }
    // The largest 4-connected light region.
    let mut label = vec![0u32; w * h];
    let (mut best, mut best_size, mut next) = (0u32, 0usize, 0u32);
    let mut stack = Vec::new();
    for start in 0..w * h {
        if label[start] != 0 || !light(start % w, start / w) {
            continue;
        }
        next += 1;
        label[start] = next;
        stack.push(start);
        let mut size = 0;
        while let Some(p) = stack.pop() {
            size += 1;
            let (x, y) = (p % w, p / w);
            let mut visit = |q: usize| {
                if label[q] == 0 && light(q % w, q / w) {
                    label[q] = next;
                    stack.push(q);
                }
            };
            if x > 0 {
                visit(p - 1);
            }
            if x + 1 < w {
                visit(p + 1);
            }
            if y > 0 {
                visit(p - w);
            }
            if y + 1 < h {
                visit(p + w);
            }
        }
        if size > best_size {
            (best, best_size) = (next, size);
        }
    }
    // The region's outline row by row (its leftmost and rightmost pixel): the text and a
    // shadow inside the sheet are holes, not edges.
    let mut filled = 0usize;
    let mut outline = Vec::new();
    for y in 0..h {
        let row = &label[y * w..(y + 1) * w];
        if let (Some(l), Some(r)) = (row.iter().position(|&v| v == best), row.iter().rposition(|&v| v == best)) {
            filled += r - l + 1;
            outline.push((l as f32, y as f32));
            outline.push((r as f32, y as f32));
        }
    }
    let frame = (w * h) as f32;
    if (filled as f32) < 0.15 * frame {
        return None;
    }
    // The corners: the outline's points furthest along each diagonal. A sheet turned by
    // less than 45° has one corner at each extreme.
    let extreme = |f: &dyn Fn(&Point) -> f32| outline.iter().copied().max_by(|a, b| f(a).total_cmp(&f(b)));
    let corners = [extreme(&|p| -p.0 - p.1)?, extreme(&|p| p.0 - p.1)?, extreme(&|p| p.0 + p.1)?, extreme(&|p| p.1 - p.0)?];
    let area = quad_area(&corners);
    // The outline is the quadrilateral: a torn edge or a hand over a corner gives a
    // region the four corners do not enclose, and straightening it would bend the text.
    if !(0.92..=1.08).contains(&(filled as f32 / area)) || area > 0.98 * frame || !convex(&corners) {
        return None;
    }
    // Sides long enough to be a page's, not a sliver of light.
    let side = |a: Point, b: Point| ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt();
    if (0..4).any(|i| side(corners[i], corners[(i + 1) % 4]) < 0.2 * w.min(h) as f32) {
        return None;
    }
    Some(corners)
}

/// The shoelace area of a quadrilateral.
fn quad_area(q: &[Point; 4]) -> f32 {
    (0..4).map(|i| q[i].0 * q[(i + 1) % 4].1 - q[(i + 1) % 4].0 * q[i].1).sum::<f32>().abs() / 2.0
}

/// Every turn the same way round.
fn convex(q: &[Point; 4]) -> bool {
    let turns: Vec<f32> = (0..4)
        .map(|i| {
            let (a, b, c) = (q[i], q[(i + 1) % 4], q[(i + 2) % 4]);
            (b.0 - a.0) * (c.1 - b.1) - (b.1 - a.1) * (c.0 - b.0)
        })
        .collect();
    turns.iter().all(|t| *t > 0.0) || turns.iter().all(|t| *t < 0.0)
}

/// The size of the straightened page: its sides' longer lengths, so no text is squeezed.
pub fn straightened_size(q: &[Point; 4]) -> (f32, f32) {
    let side = |a: Point, b: Point| ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt();
    (side(q[0], q[1]).max(side(q[3], q[2])), side(q[0], q[3]).max(side(q[1], q[2])))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A dark table with a light quadrilateral on it (corners given), grey text lines
    /// inside it.
    fn photo(w: usize, h: usize, q: [Point; 4]) -> Grey {
        let inside = |x: f32, y: f32| {
            (0..4).all(|i| {
                let (a, b) = (q[i], q[(i + 1) % 4]);
                (b.0 - a.0) * (y - a.1) - (b.1 - a.1) * (x - a.0) >= 0.0
            })
        };
        let mut pixels = vec![60u8; w * h];
        for y in 0..h {
            for x in 0..w {
                if inside(x as f32, y as f32) {
                    pixels[y * w + x] = if y % 12 < 3 && x % 7 < 5 { 70 } else { 205 };
                }
            }
        }
        Grey { width: w, height: h, pixels }
    }

    #[test]
    fn a_sheet_seen_from_the_side_has_its_four_corners() {
        let q = [(60.0, 40.0), (330.0, 55.0), (345.0, 470.0), (40.0, 455.0)];
        let corners = sheet_corners(&photo(400, 520, q)).expect("a sheet on a table");
        for (found, truth) in corners.iter().zip(q) {
            assert!((found.0 - truth.0).abs() <= 3.0 && (found.1 - truth.1).abs() <= 3.0, "{corners:?} against {q:?}");
        }
        let (w, h) = straightened_size(&corners);
        assert!((w - 305.0).abs() < 6.0 && (h - 415.0).abs() < 6.0, "{w} x {h}");
    }

    #[test]
    fn a_scan_or_a_ragged_region_is_left_alone() {
        // A scan: light to the edges.
        let mut scan = photo(300, 400, [(0.0, 0.0), (299.0, 0.0), (299.0, 399.0), (0.0, 399.0)]);
        assert_eq!(sheet_corners(&scan), None);
        // A light region that is no quadrilateral (a triangle: a hand over half a sheet).
        scan = photo(300, 400, [(50.0, 50.0), (250.0, 50.0), (250.0, 350.0), (249.0, 350.0)]);
        assert_eq!(sheet_corners(&scan), None);
        // Nothing light at all.
        assert_eq!(sheet_corners(&Grey { width: 100, height: 100, pixels: vec![40; 10_000] }), None);
    }

    #[test]
    fn pgm_is_read_and_bad_headers_are_refused() {
        let mut bytes = b"P5\n# made by hand\n3 2\n255\n".to_vec();
        bytes.extend([1, 2, 3, 4, 5, 6]);
        let g = Grey::from_pgm(&bytes).unwrap();
        assert_eq!((g.width, g.height, g.at(2, 1)), (3, 2, 6));
        assert_eq!(Grey::from_pgm(b"P5\n3 2\n255\n\x01\x02"), None, "too few pixels");
        assert_eq!(Grey::from_pgm(b"P2\n1 1\n255\n0"), None, "not binary PGM");
        assert_eq!(Grey::from_pgm(b"P5\n99999999999999999999 2\n255\n"), None);
        assert_eq!(Grey::from_pgm(b"P5 4"), None);
    }
}
