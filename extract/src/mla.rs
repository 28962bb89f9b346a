//! ORADAD's archives: MLA files (ANSSI-FR/MLA), encrypted to ANSSI. Their content needs
//! ANSSI's key, but the header is in clear: whether the file is an MLA archive at all,
//! which format version, which layers, and for how many keys its content key is
//! wrapped. Who those keys belong to cannot be read: only wrapped keys are stored.
//!
//! Format v1 (MLA 1.x, what ORADAD 3.x writes; `FORMAT.md` at `mla-1.4.0`): `MLA`, u32 LE
//! version 1, a layers byte (`ENCRYPT` 0x01, `COMPRESS` 0x02), and when encrypted a
//! bincode `Some` (0x01), the 32-byte ephemeral public key, a u64 LE count of recipients,
//! 32 + 16 bytes per recipient and an 8-byte nonce; then blocks of 128 KiB + a 16-byte tag.
//! Format v2 (MLA 2.x, `doc/src/FORMAT.md`): `MLAFAAAA`, u32 LE version 2, options, then
//! layers each named by an 8-byte magic (`SIGMLAAA`, `ENCMLAAA`, `COMLAAAA`, the entries'
//! `MLAENAAA`), and `EMLAAAAA` as the file's last 8 bytes.

use caregate_schemas::FindingCode;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use caregate_schemas::extracted::{Content, Fields, MlaHeader, OpaqueArchive, OradadNameHint};
use caregate_schemas::{Finding, Severity};
use chrono::NaiveDateTime;

use crate::{Classification, Kind};

const V1_MAGIC: &[u8] = b"MLA";
const V2_MAGIC: &[u8] = b"MLAFAAAA";
const V2_END: &[u8] = b"EMLAAAAA";
const V1_ENCRYPT: u8 = 0x01;
const V1_COMPRESS: u8 = 0x02;
/// 32-byte wrapped key and its 16-byte tag.
const V1_RECIPIENT_BYTES: u64 = 48;
/// A v1 encrypted block: 128 KiB of content and its tag; only the last may be shorter.
const V1_BLOCK: u64 = 128 * 1024 + 16;
const V1_TAG: u64 = 16;
/// ML-KEM-1024 ciphertext, X25519 share, wrapped secret and its tag.
const V2_RECIPIENT_BYTES: u64 = 1568 + 32 + 32 + 16;
/// The key commitment and its tag, after the recipients.
const V2_COMMITMENT_BYTES: u64 = 64 + 16;
const V2_CHUNK_MAGIC: &[u8] = b"M0ENCCNK";
/// What is read of the head: the magic, the layers and the recipients' count are in the
/// first hundred bytes whatever the number of recipients.
const HEAD_BYTES: u64 = 4096;

/// Why a file is not an MLA archive, or not a whole one.
#[derive(Debug, thiserror::Error)]
pub enum MlaError {
    /// Not MLA at all: the name lies about the content.
    #[error("ne commence pas par la signature d'une archive MLA (« MLA » suivi de la version 1, ou « MLAFAAAA »)")]
    NotMla,
    /// The magic, but a header no MLA writer produces.
    #[error("son en-tête MLA est impossible : {0}")]
    BadHeader(String),
    /// A sound header on a file cut short, or with bytes its layout cannot hold.
    #[error("en-tête MLA v{version} valide mais archive incomplète : {why}")]
    Truncated { version: u32, why: String },
    #[error("lecture de la copie de travail : {0}")]
    Io(#[from] std::io::Error),
}

/// Whether the first bytes are an MLA magic: what a file must start with to be called MLA.
pub fn has_magic(head: &[u8]) -> bool {
    head.starts_with(V2_MAGIC) || head.starts_with(b"MLA\x01\x00\x00\x00")
}

/// Reads the header of the file at `path`: its head and, for v2, its last bytes.
pub fn read_header(path: &Path) -> Result<MlaHeader, MlaError> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    let mut head = Vec::with_capacity(HEAD_BYTES as usize);
    (&mut file).take(HEAD_BYTES).read_to_end(&mut head)?;
    let mut tail = Vec::with_capacity(V2_END.len());
    file.seek(SeekFrom::Start(len.saturating_sub(V2_END.len() as u64)))?;
    file.take(V2_END.len() as u64).read_to_end(&mut tail)?;
    parse(&head, len, &tail)
}

/// The header, from the file's first bytes (`head`, up to [`HEAD_BYTES`]), its length and
/// its last 8 bytes.
pub fn parse(head: &[u8], len: u64, tail: &[u8]) -> Result<MlaHeader, MlaError> {
    if head.starts_with(V2_MAGIC) {
        parse_v2(head, len, tail)
    } else if head.starts_with(V1_MAGIC) {
        parse_v1(head, len)
    } else {
        Err(MlaError::NotMla)
    }
}

/// The head read as a sequence of little-endian fields; `None` past its end.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: u64,
}

impl Cursor<'_> {
    fn take(&mut self, n: u64) -> Option<&[u8]> {
        let start = usize::try_from(self.at).ok()?;
        let end = start.checked_add(usize::try_from(n).ok()?)?;
        let out = self.bytes.get(start..end)?;
        self.at += n;
        Some(out)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Option<u32> {
        self.take(4).map(|b| u32::from_le_bytes(b.try_into().unwrap_or_default()))
    }

    fn u64(&mut self) -> Option<u64> {
        self.take(8).map(|b| u64::from_le_bytes(b.try_into().unwrap_or_default()))
    }

    /// v2 `Opts` in a file of `len` bytes: tag 0, or tag 1, a u64 length and that many
    /// bytes, which may lie beyond the head: only their length is needed.
    fn skip_opts(&mut self, len: u64) -> Result<(), MlaError> {
        match self.u8() {
            Some(0) => Ok(()),
            Some(1) => {
                let n = self.u64().ok_or_else(|| short(2, len))?;
                self.at = self
                    .at
                    .checked_add(n)
                    .filter(|&end| end <= len)
                    .ok_or_else(|| MlaError::Truncated { version: 2, why: format!("{n} octets d'options annoncés au-delà de la fin du fichier") })?;
                Ok(())
            }
            Some(t) => Err(MlaError::BadHeader(format!("marque d'options {t} (0 ou 1 attendu)"))),
            None => Err(short(2, len)),
        }
    }
}

fn short(version: u32, len: u64) -> MlaError {
    MlaError::Truncated { version, why: format!("le fichier s'arrête dans l'en-tête ({len} octets)") }
}

fn parse_v1(head: &[u8], len: u64) -> Result<MlaHeader, MlaError> {
    let mut c = Cursor { bytes: head, at: V1_MAGIC.len() as u64 };
    // Only "MLA" and version 1 make a v1 file: three letters alone are no proof.
    match c.u32() {
        Some(1) => {}
        _ => return Err(MlaError::NotMla),
    }
    let layers = c.u8().ok_or_else(|| short(1, len))?;
    if layers & !(V1_ENCRYPT | V1_COMPRESS) != 0 {
        return Err(MlaError::BadHeader(format!("couches 0x{layers:02x} (seules 0x01 chiffrement et 0x02 compression existent)")));
    }
    let encrypted = layers & V1_ENCRYPT != 0;
    let mut names = Vec::new();
    if encrypted {
        names.push("encryption".to_owned());
    }
    if layers & V1_COMPRESS != 0 {
        names.push("compression".to_owned());
    }
    let config = c.u8().ok_or_else(|| short(1, len))?;
    match (config, encrypted) {
        (1, true) | (0, false) => {}
        (1, false) => return Err(MlaError::BadHeader("paramètres de chiffrement sans couche de chiffrement".into())),
        (0, true) => return Err(MlaError::BadHeader("couche de chiffrement sans ses paramètres".into())),
        (t, _) => return Err(MlaError::BadHeader(format!("marque de paramètres de chiffrement {t} (0 ou 1 attendu)"))),
    }
    if !encrypted {
        return Ok(MlaHeader { format_version: 1, layers: names, recipients: None });
    }
    c.take(32).ok_or_else(|| short(1, len))?;
    let n = c.u64().ok_or_else(|| short(1, len))?;
    if n == 0 {
        return Err(MlaError::BadHeader("chiffrée pour aucun destinataire".into()));
    }
    // The recipients' keys and the nonce may lie beyond the head: their size is known.
    let header_len = n
        .checked_mul(V1_RECIPIENT_BYTES)
        .and_then(|keys| c.at.checked_add(keys))
        .and_then(|end| end.checked_add(8))
        .filter(|&end| end <= len)
        .ok_or_else(|| MlaError::Truncated { version: 1, why: format!("{n} destinataires annoncés, que le fichier de {len} octets ne peut contenir") })?;
    let data = len - header_len;
    let last = data % V1_BLOCK;
    if data < V1_TAG || (last != 0 && last < V1_TAG) {
        return Err(MlaError::Truncated {
            version: 1,
            why: format!("{data} octets chiffrés après l'en-tête, ce qui n'est pas une suite de blocs de 128 Kio suivis de leur étiquette de 16 octets"),
        });
    }
    Ok(MlaHeader { format_version: 1, layers: names, recipients: Some(n) })
}

fn parse_v2(head: &[u8], len: u64, tail: &[u8]) -> Result<MlaHeader, MlaError> {
    let mut c = Cursor { bytes: head, at: V2_MAGIC.len() as u64 };
    let version = c.u32().ok_or_else(|| short(2, len))?;
    if version != 2 {
        return Err(MlaError::BadHeader(format!("version {version} sous la signature MLAFAAAA (2 attendu)")));
    }
    c.skip_opts(len)?;
    let mut layers = Vec::new();
    let mut recipients = None;
    // Layers from the outside in, as long as they are in clear: signature, then
    // encryption (under which nothing is visible), compression, the entries.
    loop {
        let magic = c.take(8).ok_or_else(|| short(2, len))?;
        match magic {
            b"SIGMLAAA" => layers.push("signature".to_owned()),
            b"ENCMLAAA" => {
                layers.push("encryption".to_owned());
                c.skip_opts(len)?;
                let method = c.u16().ok_or_else(|| short(2, len))?;
                if method != 0 {
                    return Err(MlaError::BadHeader(format!("méthode de chiffrement {method} (0 attendu)")));
                }
                let n = c.u64().ok_or_else(|| short(2, len))?;
                if n == 0 {
                    return Err(MlaError::BadHeader("chiffrée pour aucun destinataire".into()));
                }
                let chunks = n
                    .checked_mul(V2_RECIPIENT_BYTES)
                    .and_then(|keys| c.at.checked_add(keys))
                    .and_then(|end| end.checked_add(V2_COMMITMENT_BYTES))
                    .filter(|&end| end <= len)
                    .ok_or_else(|| MlaError::Truncated {
                        version: 2,
                        why: format!("{n} destinataires annoncés, que le fichier de {len} octets ne peut contenir"),
                    })?;
                c.at = chunks;
                // The first encrypted chunk, when the head reaches it.
                if let Some(m) = c.take(8) {
                    if m != V2_CHUNK_MAGIC {
                        return Err(MlaError::BadHeader("les blocs chiffrés ne suivent pas les clés des destinataires".into()));
                    }
                }
                recipients = Some(n);
                break;
            }
            b"COMLAAAA" => {
                layers.push("compression".to_owned());
                break;
            }
            b"MLAENAAA" => break,
            _ => return Err(MlaError::BadHeader("couche inconnue après l'en-tête".into())),
        }
        c.skip_opts(len)?;
    }
    if tail != V2_END {
        return Err(MlaError::Truncated { version: 2, why: "le fichier ne se termine pas par EMLAAAAA".into() });
    }
    Ok(MlaHeader { format_version: 2, layers, recipients })
}

/// How an `.mla` whose header is MLA's is recorded: opaque, with what its header and its
/// name say; `header` is the header, or why the archive is not whole.
pub(crate) fn recorded(name: &str, header: Result<MlaHeader, MlaError>) -> (Classification, Fields, Vec<Finding>) {
    let name_hint = name_hint(name);
    let hint = name_hint
        .as_ref()
        .map(|h| {
            let when = match (&h.generated_at, &h.label) {
                (Some(t), _) => format!(", produite le {t}"),
                (None, Some(l)) => format!(", nommée « {l} »"),
                (None, None) => String::new(),
            };
            format!(" ; d'après son nom (une indication, pas une preuve) : forêt {}{when}", h.forest)
        })
        .unwrap_or_default();
    let (reason, finding) = match &header {
        Ok(h) => {
            let layers: Vec<&str> = h
                .layers
                .iter()
                .map(|l| match l.as_str() {
                    "encryption" => "chiffrement",
                    "compression" => "compression",
                    "signature" => "signature",
                    other => other,
                })
                .collect();
            let layers = if layers.is_empty() { "aucune couche".to_owned() } else { layers.join(", ") };
            let sealed = match h.recipients {
                Some(1) => "chiffrée pour un destinataire (la clé de l'ANSSI, qu'ORADAD y met toujours)".to_owned(),
                Some(n) => format!("chiffrée pour {n} destinataires (la clé de l'ANSSI et des clés ajoutées)"),
                None => "non chiffrée, alors qu'ORADAD chiffre toujours ses archives".to_owned(),
            };
            (
                format!(
                    "ORADAD archive: MLA v{} header ({}), {} recipient(s); encrypted to ANSSI by design, recorded unread",
                    h.format_version,
                    h.layers.join(", "),
                    h.recipients.map_or("no".to_owned(), |n| n.to_string())
                ),
                Finding::new(
                    FindingCode::OpaqueContent,
                    Severity::Info,
                    format!("archive MLA v{} ({layers}) {sealed} : nom, taille, empreinte et en-tête sont enregistrés{hint}", h.format_version),
                ),
            )
        }
        Err(e) => (format!("ORADAD archive: {e}"), Finding::new(FindingCode::Unreadable, Severity::Warning, format!("archive ORADAD : {e}{hint}")).at("mla")),
    };
    let archive = OpaqueArchive { tool: "ORADAD".into(), encrypted_to: "ANSSI".into(), mla: header.ok(), name_hint };
    (Classification { kind: Kind::AdAuditReport, confidence: 0.9, reasons: vec![reason] }, Fields::of(Content::Opaque(archive)), vec![finding])
}

/// What ORADAD's file name says: `<rootDNS>_<YYYYMMDD-HHMMSS>.mla`, the time in UTC (it
/// comes from `GetSystemTime`). Its `-name` option puts up to 16 characters of the user's
/// in place of the time, and anyone can rename a file: a hint, never proof.
pub fn name_hint(name: &str) -> Option<OradadNameHint> {
    let base = name.rsplit(['/', '\\']).next()?;
    let (stem, ext) = base.rsplit_once('.')?;
    if !ext.eq_ignore_ascii_case("mla") {
        return None;
    }
    let (forest, rest) = stem.rsplit_once('_')?;
    let dns =
        |s: &str| !s.is_empty() && !s.starts_with(['.', '-']) && !s.ends_with('.') && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    if !dns(forest) || rest.is_empty() {
        return None;
    }
    let (generated_at, label) = match NaiveDateTime::parse_from_str(rest, "%Y%m%d-%H%M%S") {
        Ok(t) if rest.len() == 15 => (Some(t.and_utc().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)), None),
        _ if rest.chars().count() <= 16 => (None, Some(rest.to_owned())),
        _ => return None,
    };
    Some(OradadNameHint { forest: forest.to_owned(), generated_at, label })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A v1 header as MLA 1.x writes it for ORADAD: both layers, `n` recipients.
    fn v1(layers: u8, n: u64, data: usize) -> Vec<u8> {
        let mut b = b"MLA".to_vec();
        b.extend(1u32.to_le_bytes());
        b.push(layers);
        if layers & V1_ENCRYPT != 0 {
            b.push(1);
            b.extend([0x97; 32]);
            b.extend(n.to_le_bytes());
            for i in 0..n {
                b.extend([i as u8; 32]);
                b.extend([0x34; 16]);
            }
            b.extend([0x0e; 8]);
        } else {
            b.push(0);
        }
        b.extend(std::iter::repeat_n(0x56, data));
        b
    }

    /// A v2 archive as MLA 2.x writes it: signed or not, encrypted for `n` recipients.
    fn v2(signed: bool, n: u64, end: bool) -> Vec<u8> {
        let mut b = b"MLAFAAAA".to_vec();
        b.extend(2u32.to_le_bytes());
        b.push(0);
        if signed {
            b.extend(b"SIGMLAAA");
            b.push(0);
        }
        b.extend(b"ENCMLAAA");
        b.push(0);
        b.extend(0u16.to_le_bytes());
        b.extend(n.to_le_bytes());
        b.extend(std::iter::repeat_n(0xab, (n * V2_RECIPIENT_BYTES + V2_COMMITMENT_BYTES) as usize));
        b.extend(b"M0ENCCNK");
        b.extend(1u64.to_le_bytes());
        b.extend([0xcd; 300]);
        b.extend(b"M0FNLBLK");
        b.extend([0xef; 26]);
        b.push(0);
        b.extend(1u64.to_le_bytes());
        if end {
            b.extend(V2_END);
        }
        b
    }

    fn read(bytes: &[u8]) -> Result<MlaHeader, MlaError> {
        let head = &bytes[..bytes.len().min(HEAD_BYTES as usize)];
        parse(head, bytes.len() as u64, &bytes[bytes.len().saturating_sub(8)..])
    }

    #[test]
    fn oradads_v1_header_is_read() {
        let h = read(&v1(0x03, 1, 28509)).unwrap();
        assert_eq!(h, MlaHeader { format_version: 1, layers: vec!["encryption".into(), "compression".into()], recipients: Some(1) });
        assert_eq!(read(&v1(0x03, 3, 2 * V1_BLOCK as usize + 100)).unwrap().recipients, Some(3), "additionalMLAKeys");
        assert_eq!(read(&v1(0x02, 0, 500)).unwrap(), MlaHeader { format_version: 1, layers: vec!["compression".into()], recipients: None });
        // Past the head, the recipients' keys are counted, not read.
        assert_eq!(read(&v1(0x03, 200, 5000)).unwrap().recipients, Some(200));
        assert!(has_magic(&v1(0x03, 1, 20)));
    }

    #[test]
    fn a_v1_header_no_writer_produces_is_refused() {
        assert!(matches!(read(&v1(0x07, 1, 100)), Err(MlaError::BadHeader(_))), "unknown layer bit");
        assert!(matches!(read(&v1(0x03, 0, 100)), Err(MlaError::BadHeader(_))), "no recipient");
        let mut no_config = v1(0x03, 1, 100);
        no_config[8] = 0;
        assert!(matches!(read(&no_config), Err(MlaError::BadHeader(_))));
        let mut version = v1(0x03, 1, 100);
        version[3] = 2;
        assert!(matches!(read(&version), Err(MlaError::NotMla)), "MLA then anything is not MLA");
        assert!(!has_magic(&version));
    }

    #[test]
    fn a_v1_archive_cut_short_is_said() {
        let whole = v1(0x03, 1, 28509);
        assert!(matches!(read(&whole[..40]), Err(MlaError::Truncated { version: 1, .. })), "cut in the header");
        assert!(matches!(read(&whole[..whole.len() - 28509 + 10]), Err(MlaError::Truncated { .. })), "less than a tag of data");
        let cut = v1(0x03, 1, V1_BLOCK as usize + 7);
        assert!(matches!(read(&cut), Err(MlaError::Truncated { .. })), "a block cut inside its tag");
        let mut many = v1(0x03, 1, 100);
        many[41..49].copy_from_slice(&1_000_000u64.to_le_bytes());
        assert!(matches!(read(&many), Err(MlaError::Truncated { .. })), "more recipients than bytes");
    }

    #[test]
    fn mla_v2_is_recognised() {
        let h = read(&v2(false, 1, true)).unwrap();
        assert_eq!(h, MlaHeader { format_version: 2, layers: vec!["encryption".into()], recipients: Some(1) });
        let signed = read(&v2(true, 2, true)).unwrap();
        assert_eq!(signed.layers, ["signature", "encryption"]);
        assert_eq!(signed.recipients, Some(2));
        assert!(has_magic(&v2(false, 1, true)));
        assert!(matches!(read(&v2(false, 1, false)), Err(MlaError::Truncated { version: 2, .. })), "no EMLAAAAA at the end");
        let mut version = v2(false, 1, true);
        version[8] = 3;
        assert!(matches!(read(&version), Err(MlaError::BadHeader(_))));
        let mut misplaced = v2(false, 1, true);
        let chunk = misplaced.windows(8).position(|w| w == V2_CHUNK_MAGIC).unwrap();
        misplaced[chunk] = b'X';
        assert!(matches!(read(&misplaced), Err(MlaError::BadHeader(_))), "recipients' count that does not lead to the chunks");
    }

    #[test]
    fn other_files_named_mla_are_not_mla() {
        for not_mla in [&b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"[..], "Rapport ORADAD du 3 juin 2024\n".as_bytes(), b"", b"MLA"]
        {
            assert!(matches!(read(not_mla), Err(MlaError::NotMla)), "{}", String::from_utf8_lossy(not_mla));
        }
        assert!(!has_magic(b"%PDF-1.7"));
    }

    /// `bytes` named `name`, read as the worker reads it.
    fn analysed(name: &str, bytes: &[u8], media_type: &str) -> crate::Analysis {
        static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("caregate-mla-{}-{call}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        let a = crate::analyse(&crate::Source { path: &path, name, media_type, xml_root: None }, &crate::Limits::default());
        std::fs::remove_dir_all(&dir).unwrap();
        a
    }

    fn codes(a: &crate::Analysis) -> Vec<FindingCode> {
        a.findings.iter().map(|f| f.code).collect()
    }

    #[test]
    fn an_mla_archive_is_recorded_with_its_header_and_its_name() {
        let a = analysed("ch-exemple.local_20240603-094112.mla", &v1(0x03, 1, 28509), "application/octet-stream");
        assert_eq!((a.format.as_ref(), a.classification.kind), ("oradad", Kind::AdAuditReport));
        let Content::Opaque(o) = &a.fields.content else { panic!("{:?}", a.fields) };
        assert_eq!(o.mla.as_ref().map(|h| (h.format_version, h.recipients)), Some((1, Some(1))));
        assert_eq!(o.name_hint.as_ref().map(|h| h.forest.as_str()), Some("ch-exemple.local"));
        assert_eq!(codes(&a), [FindingCode::OpaqueContent]);
        assert!(a.findings[0].message.contains("forêt ch-exemple.local, produite le 2024-06-03T09:41:12Z"), "{}", a.findings[0].message);

        let v2 = analysed("ch-exemple.local_20240603-094112.mla", &v2(true, 1, true), "application/octet-stream");
        let Content::Opaque(o) = &v2.fields.content else { panic!("{:?}", v2.fields) };
        assert_eq!(o.mla.as_ref().map(|h| h.format_version), Some(2));

        // An MLA cut short is still ORADAD's, and said to be incomplete.
        let cut = analysed("ch-exemple.local_20240603-094112.mla", &v1(0x03, 1, 28509)[..80], "application/octet-stream");
        assert_eq!((cut.classification.kind, codes(&cut)), (Kind::AdAuditReport, vec![FindingCode::Unreadable]));
    }

    #[test]
    fn a_pdf_or_a_text_named_mla_is_a_type_mismatch_read_for_what_it_is() {
        let text = analysed("ch-exemple.local_20240603-094112.mla", "Rapport de collecte ORADAD\nforêt ch-exemple.local\n".as_bytes(), "text/plain");
        assert_eq!(text.format, "text");
        assert_eq!(codes(&text)[0], FindingCode::TypeMismatch);
        assert!(!matches!(text.fields.content, Content::Opaque(_)));

        let pdf = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../samples/factures/facture-FA-2024-0042.pdf")).unwrap();
        let pdf = analysed("oradad.mla", &pdf, "application/pdf");
        assert_eq!((pdf.format.as_ref(), pdf.classification.kind), ("pdf", Kind::Invoice));
        assert_eq!(codes(&pdf)[0], FindingCode::TypeMismatch);
        assert_eq!(pdf.findings[0].severity, Severity::Warning, "sends the file to a controller");

        let impossible = analysed("oradad.mla", &v1(0x07, 1, 100), "application/octet-stream");
        assert_eq!((impossible.format.as_ref(), codes(&impossible)), ("binary", vec![FindingCode::TypeMismatch]));
    }

    #[test]
    fn oradads_file_name_is_a_hint() {
        let h = name_hint("ch-exemple.local_20240603-094112.mla").unwrap();
        assert_eq!(h.forest, "ch-exemple.local");
        assert_eq!(h.generated_at.as_deref(), Some("2024-06-03T09:41:12Z"), "UTC, as ORADAD takes it");
        assert_eq!(h.label, None);
        let named = name_hint("CORP.LOCAL_audit-care.MLA").unwrap();
        assert_eq!((named.forest.as_str(), named.generated_at, named.label.as_deref()), ("CORP.LOCAL", None, Some("audit-care")));
        assert_eq!(name_hint("dossier/sub_dir/ad.example.fr_20241301-250000.mla").unwrap().label.as_deref(), Some("20241301-250000"), "no such date");
        assert_eq!(name_hint("oradad-ch-exemple.mla"), None);
        assert_eq!(name_hint("ch-exemple.local_20240603-094112.pdf"), None);
        assert_eq!(name_hint("_20240603-094112.mla"), None);
        assert_eq!(name_hint("ch exemple_20240603-094112.mla"), None);
    }
}
