//! What a file is: magic bytes first (infer), then the name's extension, then, for XML,
//! the root element. A name that says one thing and bytes that say another is a finding.

use caregate_schemas::FindingCode;
use caregate_schemas::{Finding, Severity};
use quick_xml::events::Event;

/// How much of the file identification reads.
pub const SNIFF_BYTES: usize = 16 * 1024;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub media_type: String,
    /// Root element name when the content is XML (`nmaprun`, `HealthcheckData`...).
    pub xml_root: Option<String>,
    pub findings: Vec<Finding>,
}

/// Media type an extension promises, for the formats CaRE evidence comes in.
fn expected_by_extension(ext: &str) -> Option<&'static str> {
    Some(match ext {
        "pdf" => "application/pdf",
        "xml" | "nessus" => "application/xml",
        "csv" => "text/csv",
        "txt" | "tsv" => "text/plain",
        "json" => "application/json",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xls" => "application/vnd.ms-excel",
        "ods" => "application/vnd.oasis.opendocument.spreadsheet",
        "odt" => "application/vnd.oasis.opendocument.text",
        "zip" => "application/zip",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "tif" | "tiff" => "image/tiff",
        // ORADAD archives are encrypted to ANSSI: opaque bytes by design.
        "mla" => "application/octet-stream",
        _ => return None,
    })
}

fn is_textual(media: &str) -> bool {
    media.starts_with("text/") || media == "application/json" || media == "application/xml"
}

/// Zip-based office formats that a magic-byte check may only see as a zip.
fn is_zip_container(media: &str) -> bool {
    media == "application/zip" || media.starts_with("application/vnd.openxmlformats") || media.starts_with("application/vnd.oasis.opendocument")
}

fn compatible(expected: &str, detected: &str) -> bool {
    expected == detected
        || (expected == "application/octet-stream")
        || (is_zip_container(expected) && is_zip_container(detected))
        || (expected == "application/vnd.ms-excel" && detected == "application/x-ole-storage")
}

/// The root element of an XML document, if the head of the file is one.
fn xml_root(head: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(head).or_else(|e| std::str::from_utf8(&head[..e.valid_up_to()])).ok()?;
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    if !trimmed.starts_with('<') {
        return None;
    }
    let mut reader = quick_xml::Reader::from_str(trimmed);
    for _ in 0..64 {
        match reader.read_event() {
            Ok(Event::Start(e)) | Ok(Event::Empty(e)) => {
                let name = e.local_name();
                return Some(name.as_ref().to_owned());
            }
            Ok(Event::Eof) | Err(_) => return None,
            _ => {}
        }
    }
    None
}

/// Identifies a file on disk from its first [`SNIFF_BYTES`] and its name.
pub fn identify_file(path: &std::path::Path, name: &str) -> std::io::Result<Identity> {
    use std::io::Read;
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    std::fs::File::open(path)?.take(SNIFF_BYTES as u64).read_to_end(&mut head)?;
    let mut identity = identify(name, &head);
    if identity.media_type == "application/zip" {
        if let Some(office) = office_type(path) {
            identity.media_type = office.to_owned();
        }
    }
    Ok(identity)
}

/// The office format a zip is, from its directory: magic bytes see only a zip when the
/// parts that name the format come after the first ones (LibreOffice's and Word's
/// `.docx` put `[Content_Types].xml` and `_rels/` first), and an archivist's transfer
/// must name the format (SEDA `MimeType`), not the container. OpenDocument names itself
/// in its `mimetype` member.
fn office_type(path: &std::path::Path) -> Option<&'static str> {
    use std::io::Read;
    let mut zip = zip::ZipArchive::new(std::fs::File::open(path).ok()?).ok()?;
    for (part, media) in [
        ("word/document.xml", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        ("xl/workbook.xml", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        ("ppt/presentation.xml", "application/vnd.openxmlformats-officedocument.presentationml.presentation"),
    ] {
        if zip.index_for_name(part).is_some() {
            return Some(media);
        }
    }
    let mut declared = String::new();
    zip.by_name("mimetype").ok()?.take(128).read_to_string(&mut declared).ok()?;
    ["application/vnd.oasis.opendocument.text", "application/vnd.oasis.opendocument.spreadsheet", "application/vnd.oasis.opendocument.presentation"]
        .into_iter()
        .find(|m| declared.trim() == *m)
}

impl Identity {
    /// What the readers need to know about the file at `path`.
    pub fn source<'a>(&'a self, path: &'a std::path::Path, name: &'a str) -> caregate_extract::Source<'a> {
        caregate_extract::Source { path, name, media_type: &self.media_type, xml_root: self.xml_root.as_deref() }
    }
}

pub fn identify(name: &str, head: &[u8]) -> Identity {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    let expected = expected_by_extension(&ext);
    let magic = infer::get(head).map(|t| t.mime_type());
    let root = if magic.is_none() || magic == Some("text/xml") { xml_root(head) } else { None };

    let media_type = match (magic, &root, expected) {
        (Some("text/xml"), _, _) | (None, Some(_), _) => "application/xml".to_owned(),
        (Some(m), _, _) => m.to_owned(),
        // Text formats have no magic bytes: the extension names them, except XML, which
        // must show a root element to be called XML.
        (None, None, Some(e)) if is_textual(e) && e != "application/xml" => e.to_owned(),
        (None, None, _) if !head.is_empty() && std::str::from_utf8(head).is_ok() => "text/plain".to_owned(),
        _ => "application/octet-stream".to_owned(),
    };

    let mut findings = Vec::new();
    if let Some(expected) = expected {
        let ok = compatible(expected, &media_type) || (is_textual(expected) && is_textual(&media_type) && expected != "application/xml");
        if !ok {
            findings.push(Finding::new(
                FindingCode::TypeMismatch,
                Severity::Warning,
                format!("le fichier est nommé .{ext} (attendu : {expected}) mais son contenu est {media_type}"),
            ));
        }
    }
    Identity { media_type, xml_root: root, findings }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pdf_and_xml_are_recognised() {
        let pdf = identify("facture.pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj");
        assert_eq!(pdf.media_type, "application/pdf");
        assert!(pdf.findings.is_empty());

        let nmap = identify("scan.xml", b"<?xml version=\"1.0\"?>\n<!DOCTYPE nmaprun>\n<nmaprun scanner=\"nmap\">");
        assert_eq!(nmap.media_type, "application/xml");
        assert_eq!(nmap.xml_root.as_deref(), Some("nmaprun"));
        assert!(nmap.findings.is_empty());

        let nessus = identify("audit.nessus", "\u{feff}<NessusClientData_v2>".as_bytes());
        assert_eq!(nessus.xml_root.as_deref(), Some("NessusClientData_v2"));
    }

    #[test]
    fn csv_with_french_text_is_text() {
        let csv = identify("bilan.csv", "N°;Date;Fournisseur;HT\n1;12/06/2024;Société Générale;1 234,56\n".as_bytes());
        assert_eq!(csv.media_type, "text/csv");
        assert!(csv.findings.is_empty());
    }

    #[test]
    fn office_documents_are_named_by_their_format_not_their_container() {
        let samples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples");
        let docx = identify_file(&samples.join("divers/attestation-realisation.docx"), "attestation-realisation.docx").unwrap();
        assert_eq!(docx.media_type, "application/vnd.openxmlformats-officedocument.wordprocessingml.document");
        assert!(docx.findings.is_empty(), "{:?}", docx.findings);
        let zip = identify_file(&samples.join("divers/pieces-justificatives.zip"), "pieces-justificatives.zip").unwrap();
        assert_eq!(zip.media_type, "application/zip", "an archive stays an archive");
        // A document written as a zip by hand, named .zip: its format, and no mismatch.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("classeur.zip");
        let mut w = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
        w.start_file("[Content_Types].xml", zip::write::SimpleFileOptions::default()).unwrap();
        std::io::Write::write_all(&mut w, &vec![b' '; 20_000]).unwrap();
        w.start_file("xl/workbook.xml", zip::write::SimpleFileOptions::default()).unwrap();
        w.finish().unwrap();
        let xlsx = identify_file(&path, "classeur.zip").unwrap();
        assert_eq!(xlsx.media_type, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet");
        assert!(xlsx.findings.is_empty(), "{:?}", xlsx.findings);
    }

    #[test]
    fn a_name_that_lies_is_a_finding() {
        let fake = identify("facture.pdf", b"PK\x03\x04\x14\x00\x00\x00\x08\x00");
        assert_eq!(fake.media_type, "application/zip");
        assert_eq!(fake.findings[0].code, FindingCode::TypeMismatch);

        let text_as_pdf = identify("rapport.pdf", b"just some text");
        assert_eq!(text_as_pdf.findings[0].code, FindingCode::TypeMismatch);

        let not_xml = identify("scan.xml", b"host,port\n10.0.0.1,3389\n");
        assert_eq!(not_xml.findings[0].code, FindingCode::TypeMismatch);
    }
}
