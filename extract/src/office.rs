//! Running text of office documents: DOCX (`word/document.xml`) and ODT (`content.xml`).

use std::io::{Read, Seek};

use crate::xml::{walk, XmlEvent};
use crate::{archive, Budget, ExtractError, Limits};

/// The body text, one line per paragraph.
pub fn text<R: Read + Seek>(reader: R, limits: &Limits, budget: &Budget) -> Result<String, ExtractError> {
    let (mut zip, _) = archive::open(reader, limits)?;
    let (part, paragraph) =
        if zip.index_for_name("word/document.xml").is_some() { ("word/document.xml", &["p"][..]) } else { ("content.xml", &["p", "h"][..]) };
    let xml =
        archive::read_member(&mut zip, part, limits.max_parse_bytes)?.ok_or_else(|| ExtractError::Unreadable(format!("office document without {part}")))?;
    let mut out = String::new();
    walk(xml.as_slice(), limits, budget, |e| {
        match e {
            XmlEvent::Text(t) if out.len() < limits.max_text_chars => out.push_str(t),
            XmlEvent::Start(el) if el.name() == "tab" => out.push('\t'),
            XmlEvent::Start(el) if matches!(el.name(), "s" | "line-break" | "br") => out.push(' '),
            XmlEvent::End(el, _) if paragraph.contains(&el.name()) => out.push('\n'),
            _ => {}
        }
        Ok(())
    })?;
    Ok(out)
}
