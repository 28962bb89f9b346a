//! Zip containers (plain archives and the zip inside DOCX, XLSX, ODS, ODT), opened under
//! limits: member count, declared and actual uncompressed size, compression ratio.
//! Declared sizes can lie, so reading a member stops at its limit whatever it declared.

use std::io::{Read, Seek};

use zip::unstable::read::ZipIterable;
use zip::ZipArchive;

use crate::{ExtractError, Limits};

pub use caregate_schemas::extracted::Member;

/// Ratio checks only apply to members big enough to matter: a 2 kB file compressed to
/// 10 bytes is normal.
const RATIO_FLOOR: u64 = 1024 * 1024;

fn limit(reason: String) -> ExtractError {
    ExtractError::ArchiveLimits(reason)
}

/// What the directory says of each member, checked against the limits as it is read.
struct Tally<'l> {
    limits: &'l Limits,
    total: u64,
}

impl Tally<'_> {
    fn member(&mut self, index: usize, name: String, size: u64, compressed: u64, encrypted: bool) -> Result<Member, ExtractError> {
        let limits = self.limits;
        if size > limits.max_member_bytes {
            return Err(limit(format!("member {name} declares {size} bytes (limit {})", limits.max_member_bytes)));
        }
        if size > RATIO_FLOOR && size / compressed.max(1) > limits.max_compression_ratio {
            return Err(limit(format!("member {name} inflates {}× (limit {}×)", size / compressed.max(1), limits.max_compression_ratio)));
        }
        self.total = self.total.saturating_add(size);
        if self.total > limits.max_archive_bytes {
            return Err(limit(format!("members add up to more than {} bytes", limits.max_archive_bytes)));
        }
        Ok(Member { index, name, size, compressed_size: compressed, encrypted })
    }
}

/// Opens a zip and checks its directory against the limits before anything is inflated.
/// Entries are keyed by name here (office parts are looked up by name): of a name given
/// twice only one is listed. A plain archive whose members all become evidence is read
/// with [`members`] and [`for_each_member`] instead.
pub fn open<R: Read + Seek>(reader: R, limits: &Limits) -> Result<(ZipArchive<R>, Vec<Member>), ExtractError> {
    let mut zip = ZipArchive::new(reader).map_err(|e| ExtractError::Unreadable(format!("zip: {e}")))?;
    if zip.len() > limits.max_archive_members {
        return Err(limit(format!("{} members (limit {})", zip.len(), limits.max_archive_members)));
    }
    let mut members = Vec::new();
    let mut tally = Tally { limits, total: 0 };
    for index in 0..zip.len() {
        let f = zip.by_index_raw(index).map_err(|e| ExtractError::Unreadable(format!("zip member {index}: {e}")))?;
        if f.is_dir() {
            continue;
        }
        // The name is kept as the zip states it, `..` and all: nothing here writes a member
        // under its name, and whoever keeps one as evidence cleans it by the upload's rules
        // (`caregate_schemas::names`), so one hostile name costs that member its name, not
        // the whole archive its members.
        let name = f.name().map_err(|e| ExtractError::Unreadable(format!("zip member {index}: {e}")))?.into_owned();
        members.push(tally.member(index, name, f.size(), f.compressed_size(), f.encrypted())?);
    }
    Ok((zip, members))
}

fn iterable<R: Read + Seek>(reader: R) -> Result<ZipIterable<R>, ExtractError> {
    ZipIterable::try_new(reader, zip::read::Config::default()).map_err(|e| ExtractError::Unreadable(format!("zip: {e}")))
}

/// The members of a plain zip, one per entry of its central directory, checked against
/// the limits before anything is inflated; `Member::index` is the entry's place in the
/// directory. A name given twice is two members: an archive is read for everything it
/// holds, and a second file of the same name is no less evidence (`ZipArchive`, which
/// keys entries by name, would show one of the two).
pub fn members<R: Read + Seek>(reader: R, limits: &Limits) -> Result<Vec<Member>, ExtractError> {
    let mut zip = iterable(reader)?;
    if zip.len() > limits.max_archive_members {
        return Err(limit(format!("{} members (limit {})", zip.len(), limits.max_archive_members)));
    }
    let mut members = Vec::new();
    let mut tally = Tally { limits, total: 0 };
    for (index, entry) in zip.files().map_err(|e| ExtractError::Unreadable(format!("zip: {e}")))?.enumerate() {
        let f = entry.map_err(|e| ExtractError::Unreadable(format!("zip member {index}: {e}")))?;
        if f.is_dir() {
            continue;
        }
        let name = f.name().map_err(|e| ExtractError::Unreadable(format!("zip member {index}: {e}")))?.into_owned();
        members.push(tally.member(index, name, f.size(), f.compressed_size(), f.encrypted())?);
    }
    Ok(members)
}

/// Hands each member at the `wanted` places of the central directory (as [`members`]
/// numbers them) to `each`, in one pass: its place and a reader of its inflated bytes, to
/// be copied with [`copy_bounded`]. `metadata` and `body` read the same zip (the
/// directory is walked with one while members are inflated from the other).
pub fn for_each_member<R, E>(metadata: R, mut body: R, wanted: &[usize], mut each: impl FnMut(usize, &mut dyn Read) -> Result<(), E>) -> Result<(), E>
where
    R: Read + Seek,
    E: From<ExtractError>,
{
    let mut zip = iterable(metadata)?;
    let wanted: std::collections::HashSet<usize> = wanted.iter().copied().collect();
    let files = zip.files().map_err(|e| ExtractError::Unreadable(format!("zip: {e}")))?;
    for (index, entry) in files.enumerate() {
        let entry = entry.map_err(|e| ExtractError::Unreadable(format!("zip member {index}: {e}")))?;
        if !wanted.contains(&index) {
            continue;
        }
        let mut f = entry.with_reader(&mut body, zip::ZipReadOptions::new()).map_err(|e| match e {
            zip::result::ZipError::UnsupportedArchive(m) if m.to_ascii_lowercase().contains("password") => ExtractError::Encrypted,
            e => ExtractError::Unreadable(format!("zip member {index}: {e}")),
        })?;
        each(index, &mut f)?;
    }
    Ok(())
}

/// Copies one member's inflated bytes into `out`, stopping with an error past `max`
/// bytes whatever the member declared.
pub fn copy_bounded(name: &str, from: &mut dyn Read, max: u64, out: &mut impl std::io::Write) -> Result<u64, ExtractError> {
    let copied = std::io::copy(&mut from.take(max + 1), out).map_err(|e| ExtractError::Unreadable(format!("zip member {name}: {e}")))?;
    if copied > max {
        return Err(limit(format!("member {name} inflates past {max} bytes")));
    }
    Ok(copied)
}

/// Inflates one member into `out`, stopping with an error past `max` bytes whatever the
/// member declared.
pub fn copy_member<R: Read + Seek>(zip: &mut ZipArchive<R>, index: usize, max: u64, out: &mut impl std::io::Write) -> Result<u64, ExtractError> {
    let mut f = zip.by_index(index).map_err(|e| match e {
        zip::result::ZipError::UnsupportedArchive(m) if m.to_ascii_lowercase().contains("password") => ExtractError::Encrypted,
        e => ExtractError::Unreadable(format!("zip member {index}: {e}")),
    })?;
    let name = f.name().map(|n| n.into_owned()).unwrap_or_default();
    copy_bounded(&name, &mut f, max, out)
}

/// One member read into memory (for office parts), bounded by `max`.
pub fn read_member<R: Read + Seek>(zip: &mut ZipArchive<R>, name: &str, max: u64) -> Result<Option<Vec<u8>>, ExtractError> {
    let Some(index) = zip.index_for_name(name) else { return Ok(None) };
    let mut buf = Vec::new();
    copy_member(zip, index, max, &mut buf)?;
    Ok(Some(buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A zip of these members, each holding `<n>:<name>`. A name may be given twice: the
    /// writer refuses that, so the second is written under a stand-in of the same length
    /// (`\x01` for its last byte) and renamed in the bytes, as a hand-made zip would be.
    fn zip_of(names: &[&str]) -> Vec<u8> {
        let mut out = std::io::Cursor::new(Vec::new());
        let mut z = zip::ZipWriter::new(&mut out);
        let mut renamed = Vec::new();
        for (n, name) in names.iter().enumerate() {
            let mut written = name.to_string();
            if names[..n].contains(name) {
                written.pop();
                written.push('\u{1}');
                renamed.push((written.clone(), name.to_string()));
            }
            z.start_file(written.as_str(), zip::write::SimpleFileOptions::default()).unwrap();
            std::io::Write::write_all(&mut z, format!("{n}:{name}").as_bytes()).unwrap();
        }
        z.finish().unwrap();
        let mut bytes = out.into_inner();
        for (from, to) in renamed {
            let (from, to) = (from.as_bytes(), to.as_bytes());
            while let Some(at) = bytes.windows(from.len()).position(|w| w == from) {
                bytes[at..at + from.len()].copy_from_slice(to);
            }
        }
        bytes
    }

    fn inflate_all(data: &[u8], members: &[Member]) -> Vec<(usize, String)> {
        let wanted: Vec<usize> = members.iter().map(|m| m.index).collect();
        let mut got = Vec::new();
        let (a, b) = (std::io::Cursor::new(data), std::io::Cursor::new(data));
        for_each_member(a, b, &wanted, |index, r| {
            let mut bytes = Vec::new();
            copy_bounded("m", r, 1024, &mut bytes)?;
            got.push((index, String::from_utf8(bytes).unwrap()));
            Ok::<_, ExtractError>(())
        })
        .unwrap();
        got
    }

    #[test]
    fn hostile_member_names_are_listed_raw_not_refusing_the_archive() {
        let data = zip_of(&["../evil.txt", "/etc/passwd", "a/../b.txt", "ok.txt"]);
        let members = members(std::io::Cursor::new(&data), &Limits::default()).unwrap();
        let names: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["../evil.txt", "/etc/passwd", "a/../b.txt", "ok.txt"]);
        assert_eq!(inflate_all(&data, &members)[0], (0, "0:../evil.txt".to_owned()));
        let (_, listed) = open(std::io::Cursor::new(&data), &Limits::default()).unwrap();
        assert_eq!(listed.len(), 4, "office parts are opened the same way");
    }

    #[test]
    fn a_name_given_twice_is_two_members_with_their_own_bytes() {
        let data = zip_of(&["a.txt", "b.txt", "a.txt"]);
        let members = members(std::io::Cursor::new(&data), &Limits::default()).unwrap();
        let listed: Vec<(usize, &str)> = members.iter().map(|m| (m.index, m.name.as_str())).collect();
        assert_eq!(listed, [(0, "a.txt"), (1, "b.txt"), (2, "a.txt")]);
        assert_eq!(inflate_all(&data, &members), [(0, "0:a.txt".to_owned()), (1, "1:b.txt".to_owned()), (2, "2:a.txt".to_owned())]);
        // Keyed by name, the directory shows one of them.
        assert_eq!(open(std::io::Cursor::new(&data), &Limits::default()).unwrap().1.len(), 2);
    }

    #[test]
    fn a_member_inflating_past_its_bound_is_stopped() {
        let data = zip_of(&["a.txt"]);
        let members = members(std::io::Cursor::new(&data), &Limits::default()).unwrap();
        let (a, b) = (std::io::Cursor::new(&data), std::io::Cursor::new(&data));
        let err = for_each_member(a, b, &[members[0].index], |_, r| copy_bounded("a.txt", r, 3, &mut std::io::sink()).map(drop)).unwrap_err();
        assert!(matches!(err, ExtractError::ArchiveLimits(_)), "{err}");
    }
}
