//! A PDF page as an image, for a person to see where a value was read: poppler's
//! `pdftoppm` in the sandbox, at a fixed scale, so that a box in PDF points (as
//! [`caregate_schemas::extracted::Location`] gives it) is a box in pixels.

use std::path::Path;
use std::time::Duration;

use crate::sandbox::{self, SandboxError, SandboxLimits};

/// Rendering resolution: a screen's, an A4 page is 794 × 1123 pixels.
pub const DPI: u32 = 96;
/// Pixels per PDF point at [`DPI`].
pub const PIXELS_PER_POINT: f32 = DPI as f32 / 72.0;
/// The largest image rendered, per side: a page larger than that (a poster, a hostile
/// `/MediaBox`) is cut, never rendered unbounded.
const MAX_SIDE: u32 = 6000;

/// Page `page` (1-based) of the PDF at `path`, as PNG.
pub fn pdf_page(path: &Path, page: u32) -> Result<Vec<u8>, SandboxError> {
    let io = |error| SandboxError::Io { tool: "pdftoppm".into(), error };
    let workdir = tempfile::tempdir().map_err(io)?;
    let path = std::path::absolute(path).map_err(io)?;
    let prefix = workdir.path().join("page");
    let (n, dpi, side) = (page.to_string(), DPI.to_string(), MAX_SIDE.to_string());
    let args: Vec<&std::ffi::OsStr> = vec![
        "-q".as_ref(),
        "-png".as_ref(),
        "-singlefile".as_ref(),
        "-r".as_ref(),
        dpi.as_ref(),
        "-f".as_ref(),
        n.as_ref(),
        "-l".as_ref(),
        n.as_ref(),
        "-W".as_ref(),
        side.as_ref(),
        "-H".as_ref(),
        side.as_ref(),
        path.as_os_str(),
        prefix.as_os_str(),
    ];
    let limits = SandboxLimits { memory_bytes: 1 << 30, wall: Duration::from_secs(30), max_output: 64 * 1024 };
    sandbox::run("pdftoppm", &args, workdir.path(), limits)?;
    std::fs::read(prefix.with_extension("png")).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png_size(png: &[u8]) -> (u32, u32) {
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        (u32::from_be_bytes(png[16..20].try_into().unwrap()), u32::from_be_bytes(png[20..24].try_into().unwrap()))
    }

    #[test]
    fn a_page_renders_at_screen_scale_and_a_huge_one_is_cut() {
        if !sandbox::installed("pdftoppm", "-v") {
            eprintln!("pdftoppm is not installed: skipped");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        for (name, (w, h), expect) in [("a4.pdf", (595, 842), (793, 1123)), ("affiche.pdf", (14400, 14400), (MAX_SIDE, MAX_SIDE))] {
            let body = format!(
                "%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj\n3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 {w} {h}] >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
            );
            let path = dir.path().join(name);
            std::fs::write(&path, body).unwrap();
            let (pw, ph) = png_size(&pdf_page(&path, 1).unwrap());
            assert!(pw.abs_diff(expect.0) <= 1 && ph.abs_diff(expect.1) <= 1, "{name}: {pw}×{ph}");
        }
        assert!(pdf_page(&dir.path().join("a4.pdf"), 2).is_err(), "no second page");
    }
}
