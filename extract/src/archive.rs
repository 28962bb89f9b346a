//! Zip containers (plain archives and the zip inside DOCX, XLSX, ODS, ODT), opened under
//! limits: member count, declared and actual uncompressed size, compression ratio.
//! Declared sizes can lie, so reading a member stops at its limit whatever it declared.

use std::io::{Read, Seek};

use zip::ZipArchive;

use crate::{ExtractError, Limits};

pub use caregate_schemas::extracted::Member;

/// Ratio checks only apply to members big enough to matter: a 2 kB file compressed to
/// 10 bytes is normal.
const RATIO_FLOOR: u64 = 1024 * 1024;

fn limit(reason: String) -> ExtractError {
    ExtractError::ArchiveLimits(reason)
}

/// Opens a zip and checks its directory against the limits before anything is inflated.
pub fn open<R: Read + Seek>(reader: R, limits: &Limits) -> Result<(ZipArchive<R>, Vec<Member>), ExtractError> {
    let mut zip = ZipArchive::new(reader).map_err(|e| ExtractError::Unreadable(format!("zip: {e}")))?;
    if zip.len() > limits.max_archive_members {
        return Err(limit(format!("{} members (limit {})", zip.len(), limits.max_archive_members)));
    }
    let mut members = Vec::new();
    let mut total = 0u64;
    for index in 0..zip.len() {
        let f = zip.by_index_raw(index).map_err(|e| ExtractError::Unreadable(format!("zip member {index}: {e}")))?;
        if f.is_dir() {
            continue;
        }
        let name = f.name().map_err(|e| ExtractError::Unreadable(format!("zip member {index}: {e}")))?.into_owned();
        if f.enclosed_name().is_none() {
            return Err(limit(format!("member {name:?} escapes the archive (absolute path or ..)")));
        }
        let (size, compressed) = (f.size(), f.compressed_size());
        if size > limits.max_member_bytes {
            return Err(limit(format!("member {name} declares {size} bytes (limit {})", limits.max_member_bytes)));
        }
        if size > RATIO_FLOOR && size / compressed.max(1) > limits.max_compression_ratio {
            return Err(limit(format!("member {name} inflates {}× (limit {}×)", size / compressed.max(1), limits.max_compression_ratio)));
        }
        total = total.saturating_add(size);
        if total > limits.max_archive_bytes {
            return Err(limit(format!("members add up to more than {} bytes", limits.max_archive_bytes)));
        }
        members.push(Member { index, name, size, compressed_size: compressed, encrypted: f.encrypted() });
    }
    Ok((zip, members))
}

/// Inflates one member into `out`, stopping with an error past `max` bytes whatever the
/// member declared.
pub fn copy_member<R: Read + Seek>(zip: &mut ZipArchive<R>, index: usize, max: u64, out: &mut impl std::io::Write) -> Result<u64, ExtractError> {
    let f = zip.by_index(index).map_err(|e| match e {
        zip::result::ZipError::UnsupportedArchive(m) if m.to_ascii_lowercase().contains("password") => ExtractError::Encrypted,
        e => ExtractError::Unreadable(format!("zip member {index}: {e}")),
    })?;
    let name = f.name().map(|n| n.into_owned()).unwrap_or_default();
    let copied = std::io::copy(&mut f.take(max + 1), out).map_err(|e| ExtractError::Unreadable(format!("zip member {name}: {e}")))?;
    if copied > max {
        return Err(limit(format!("member {name} inflates past {max} bytes")));
    }
    Ok(copied)
}

/// One member read into memory (for office parts), bounded by `max`.
pub fn read_member<R: Read + Seek>(zip: &mut ZipArchive<R>, name: &str, max: u64) -> Result<Option<Vec<u8>>, ExtractError> {
    let Some(index) = zip.index_for_name(name) else { return Ok(None) };
    let mut buf = Vec::new();
    copy_member(zip, index, max, &mut buf)?;
    Ok(Some(buf))
}
