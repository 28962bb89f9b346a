//! How per-file outcomes are shown: one JSON object per line, or a readable table.

use std::collections::BTreeMap;
use std::io::Write;

use caregate_schemas::{EvidenceRecord, Status};

/// JSON Lines: the record as documented in `schemas/evidence-record.schema.json`.
pub fn json_lines(records: &[EvidenceRecord], out: &mut impl Write) -> std::io::Result<()> {
    for rec in records {
        serde_json::to_writer(&mut *out, rec)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let head: String = s.chars().take(max - 1).collect();
        format!("{head}…")
    }
}

/// A table for people: one line per file, then totals by status.
pub fn table(records: &[EvidenceRecord], out: &mut impl Write) -> std::io::Result<()> {
    writeln!(out, "{:<44} {:<13} {:<28} {:>10}  {:<12} details", "file", "status", "type", "bytes", "sha256")?;
    for rec in records {
        let mut details: Vec<String> = Vec::new();
        if let Some(sig) = rec.scan.as_ref().and_then(|s| s.signature.as_deref()) {
            details.push(sig.to_owned());
        }
        details.extend(rec.findings.iter().map(|f| f.code.to_string()));
        writeln!(
            out,
            "{:<44} {:<13} {:<28} {:>10}  {:<12} {}",
            truncate(&rec.path, 44),
            rec.status.as_str(),
            truncate(rec.media_type.as_deref().unwrap_or("-"), 28),
            rec.size,
            &rec.sha256.hex()[..12],
            details.join(", ")
        )?;
    }
    let mut by_status: BTreeMap<&str, usize> = BTreeMap::new();
    for rec in records {
        *by_status.entry(rec.status.as_str()).or_default() += 1;
    }
    let totals: Vec<String> = by_status.iter().map(|(s, n)| format!("{n} {s}")).collect();
    writeln!(out, "\n{} files: {}", records.len(), totals.join(", "))?;
    Ok(())
}

/// Exit status for a batch: 0 when every file was stored, 1 otherwise (so scripts notice
/// infected, failed or flagged files).
pub fn all_stored(records: &[EvidenceRecord]) -> bool {
    records.iter().all(|r| r.status == Status::Stored)
}
