//! Bounds every parser respects, so that a hostile file costs a bounded amount of time
//! and memory and ends as a finding.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::ExtractError;

/// Per-file bounds. The defaults suit CaRE evidence: reports and invoices are megabytes,
/// not gigabytes; anything beyond is stored unread and flagged for a person.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest file a parser that needs the whole file in memory (PDF, spreadsheets,
    /// office documents) will load. Streaming XML parsers are not bound by it.
    pub max_parse_bytes: u64,
    /// Largest XML file read at all (streamed, so this bounds time rather than memory).
    pub max_xml_bytes: u64,
    /// Deepest element nesting accepted in XML.
    pub max_xml_depth: usize,
    /// Wall-clock time one file may take.
    pub time_budget_secs: u64,
    /// Pages whose text is extracted.
    pub max_pdf_pages: usize,
    /// Text kept per file (characters); beyond it the text is truncated, not refused.
    pub max_text_chars: usize,
    /// Archive bounds: members, total uncompressed bytes, one member's bytes, ratio of
    /// uncompressed to compressed size, nesting of archives inside archives.
    pub max_archive_members: usize,
    pub max_archive_bytes: u64,
    pub max_member_bytes: u64,
    pub max_compression_ratio: u64,
    pub max_archive_depth: u32,
    /// Spreadsheet cells read per sheet (rows × columns, checked before loading).
    pub max_sheet_cells: u64,
    /// Rows, hosts and findings kept in the record (the rest is counted, not listed).
    pub max_listed: usize,
    /// Certificates PDF signatures are validated against (PEM files or directories).
    /// Set from `signatures.trust_anchors`, which the configuration checks; carried
    /// here so that the reader's child process has it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub trust_anchors: Vec<std::path::PathBuf>,
    /// Pages without text are not read by OCR here but marked `ocr_pending`, for the
    /// OCR pool to read once the file is stored (the worker's reader); `false` reads
    /// them now (`caregate read`, the OCR pool itself).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub defer_ocr: bool,
    /// PDF text read by poppler (with lopdf's as the fallback); `false`: by lopdf alone.
    /// A PDF whose reading ended its child process (poppler crashed on it) is read
    /// again so.
    pub poppler: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_parse_bytes: 256 * 1024 * 1024,
            max_xml_bytes: 1024 * 1024 * 1024,
            max_xml_depth: 256,
            time_budget_secs: 120,
            max_pdf_pages: 2_000,
            max_text_chars: 2_000_000,
            max_archive_members: 10_000,
            max_archive_bytes: 2 * 1024 * 1024 * 1024,
            max_member_bytes: 1024 * 1024 * 1024,
            max_compression_ratio: 200,
            max_archive_depth: 3,
            max_sheet_cells: 5_000_000,
            max_listed: 500,
            trust_anchors: Vec::new(),
            defer_ocr: false,
            poppler: true,
        }
    }
}

impl Limits {
    /// Bounds that would make every file fail or loop rather than be read: zero sizes,
    /// depths and ratios, and a member larger than its whole archive. Each problem names
    /// its key under `[worker.extract]`. A zero time budget is allowed: every file is then
    /// stored unread and flagged `time_budget`, which is how the tests make a slow file.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        for (key, value) in [
            ("max_parse_bytes", self.max_parse_bytes),
            ("max_xml_bytes", self.max_xml_bytes),
            ("max_xml_depth", self.max_xml_depth as u64),
            ("max_pdf_pages", self.max_pdf_pages as u64),
            ("max_compression_ratio", self.max_compression_ratio),
            ("max_member_bytes", self.max_member_bytes),
            ("max_sheet_cells", self.max_sheet_cells),
        ] {
            if value == 0 {
                problems.push(format!("{key} must be at least 1"));
            }
        }
        if self.max_member_bytes > self.max_archive_bytes {
            problems.push(format!("max_member_bytes ({}) is larger than max_archive_bytes ({})", self.max_member_bytes, self.max_archive_bytes));
        }
        if !self.trust_anchors.is_empty() {
            problems.push("trust_anchors: set them in signatures.trust_anchors instead".to_owned());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

/// The time left for one file. Parsers call [`Budget::check`] inside their loops; a
/// parser stuck inside a library call is cut off by the caller's own timeout instead.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    deadline: Instant,
}

impl Budget {
    pub fn new(limit: Duration) -> Self {
        Self { deadline: Instant::now() + limit }
    }

    /// The time left (zero once spent): what an outside reader may take.
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    pub fn check(&self) -> Result<(), ExtractError> {
        if Instant::now() > self.deadline {
            Err(ExtractError::TimeBudget)
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_bounds_and_a_member_over_its_archive_are_refused() {
        assert!(Limits::default().validate().is_ok());
        let bad = Limits { max_xml_depth: 0, max_member_bytes: 10, max_archive_bytes: 5, trust_anchors: vec!["ca.pem".into()], ..Limits::default() };
        let problems = bad.validate().unwrap_err();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert_eq!(problems[0], "max_xml_depth must be at least 1");
        assert!(problems[1].starts_with("max_member_bytes (10) is larger"), "{problems:?}");
    }
}
