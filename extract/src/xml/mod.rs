//! XML evidence, read as a stream with quick-xml: no DTD processing and no entity
//! expansion (a document that declares entities is refused, which defeats "billion laughs"
//! bombs), a depth limit, and the time budget checked as events go by. Each report format
//! is a small consumer of the same event walk.

pub mod invoice;
pub mod nmap;
pub mod pingcastle;
pub mod vuln;

use std::io::BufRead;

use quick_xml::events::Event;
use quick_xml::XmlVersion;

use crate::{Budget, ExtractError, Limits};

/// An element as the walk reports it: the local names from the root down to it and its
/// attributes (local names too, values unescaped).
pub struct Element<'a> {
    pub path: &'a [String],
    pub attrs: &'a [(String, String)],
}

impl Element<'_> {
    pub fn name(&self) -> &str {
        self.path.last().map(String::as_str).unwrap_or("")
    }

    /// The path ends with these local names.
    pub fn at(&self, suffix: &[&str]) -> bool {
        self.path.len() >= suffix.len() && self.path[self.path.len() - suffix.len()..].iter().zip(suffix).all(|(a, b)| a == b)
    }

    /// The element is somewhere below an element with this local name.
    pub fn within(&self, name: &str) -> bool {
        self.path[..self.path.len().saturating_sub(1)].iter().any(|p| p == name)
    }

    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

pub enum XmlEvent<'a> {
    Start(Element<'a>),
    /// The element closes; `text` is the character data directly inside it, trimmed.
    End(Element<'a>, &'a str),
    /// Character data as it comes, in document order (for running text).
    Text(&'a str),
}

/// Text kept per element; longer text is truncated (a report's values are short).
const MAX_ELEMENT_TEXT: usize = 1 << 20;

fn local(name: &str) -> String {
    name.rsplit_once(':').map_or(name, |(_, local)| local).to_owned()
}

fn predefined(name: &str) -> Option<char> {
    Some(match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "apos" => '\'',
        "quot" => '"',
        _ => return None,
    })
}

/// Walks a whole document, calling `f` for every element start and end.
pub fn walk<R: BufRead>(input: R, limits: &Limits, budget: &Budget, mut f: impl FnMut(XmlEvent<'_>) -> Result<(), ExtractError>) -> Result<(), ExtractError> {
    let mut reader = quick_xml::Reader::from_reader(input);
    let mut buf = Vec::new();
    let mut path: Vec<String> = Vec::new();
    let mut attrs: Vec<Vec<(String, String)>> = Vec::new();
    let mut texts: Vec<String> = Vec::new();
    let mut events = 0u64;
    let unreadable = |e: &dyn std::fmt::Display| ExtractError::Unreadable(format!("XML: {e}"));
    loop {
        events += 1;
        if events.is_multiple_of(4096) {
            budget.check()?;
        }
        let event = reader.read_event_into(&mut buf).map_err(|e| unreadable(&e))?;
        match event {
            Event::DocType(d) => {
                let decl = d.as_ref().to_ascii_uppercase();
                if decl.contains("<!ENTITY") || decl.contains("ENTITY ") {
                    return Err(ExtractError::XmlEntities);
                }
            }
            Event::Start(ref e) | Event::Empty(ref e) => {
                if path.len() >= limits.max_xml_depth {
                    return Err(ExtractError::XmlTooDeep(limits.max_xml_depth));
                }
                let empty = matches!(event, Event::Empty(_));
                let mut list = Vec::new();
                for a in e.attributes().with_checks(false) {
                    let a = a.map_err(|e| unreadable(&e))?;
                    let value = a.normalized_value(XmlVersion::Implicit1_0).map_err(|e| unreadable(&e))?.into_owned();
                    list.push((local(a.key.as_ref()), value));
                }
                path.push(local(e.name().as_ref()));
                attrs.push(list);
                texts.push(String::new());
                f(XmlEvent::Start(Element { path: &path, attrs: attrs.last().unwrap() }))?;
                if empty {
                    close(&mut path, &mut attrs, &mut texts, &mut f)?;
                }
            }
            Event::End(_) => {
                if path.is_empty() {
                    return Err(unreadable(&"unbalanced end tag"));
                }
                close(&mut path, &mut attrs, &mut texts, &mut f)?;
            }
            Event::Text(t) => {
                let t = t.xml10_content();
                push_text(&mut texts, &t);
                f(XmlEvent::Text(&t))?;
            }
            Event::CData(t) => {
                let t = t.xml10_content();
                push_text(&mut texts, &t);
                f(XmlEvent::Text(&t))?;
            }
            Event::GeneralRef(r) => {
                let c = match r.resolve_char_ref().map_err(|e| unreadable(&e))? {
                    Some(c) => c,
                    None => {
                        let name: &str = r.as_ref();
                        predefined(name).ok_or_else(|| unreadable(&format!("undefined entity &{name};")))?
                    }
                };
                let mut utf8 = [0; 4];
                let c = c.encode_utf8(&mut utf8);
                push_text(&mut texts, c);
                f(XmlEvent::Text(c))?;
            }
            Event::Eof => {
                if !path.is_empty() {
                    return Err(unreadable(&"document ends inside an element (truncated?)"));
                }
                return Ok(());
            }
            _ => {}
        }
        buf.clear();
    }
}

/// [`walk`] for one report format: the root element must be one of `roots`, otherwise the
/// document is "not <what>" and nothing else is called.
pub fn walk_rooted<R: BufRead>(
    input: R,
    limits: &Limits,
    budget: &Budget,
    roots: &[&str],
    what: &str,
    mut f: impl FnMut(XmlEvent<'_>) -> Result<(), ExtractError>,
) -> Result<(), ExtractError> {
    let mut checked = false;
    walk(input, limits, budget, |e| {
        if let (false, XmlEvent::Start(el)) = (checked, &e) {
            checked = true;
            if !roots.contains(&el.name()) {
                return Err(ExtractError::Unreadable(format!("not {what} (root {})", el.name())));
            }
        }
        f(e)
    })
}

fn push_text(texts: &mut [String], t: &str) {
    if let Some(last) = texts.last_mut() {
        if last.len() + t.len() <= MAX_ELEMENT_TEXT {
            last.push_str(t);
        }
    }
}

fn close(
    path: &mut Vec<String>,
    attrs: &mut Vec<Vec<(String, String)>>,
    texts: &mut Vec<String>,
    f: &mut impl FnMut(XmlEvent<'_>) -> Result<(), ExtractError>,
) -> Result<(), ExtractError> {
    let text = texts.pop().unwrap_or_default();
    f(XmlEvent::End(Element { path, attrs: attrs.last().map(Vec::as_slice).unwrap_or(&[]) }, text.trim()))?;
    path.pop();
    attrs.pop();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn run(xml: &str) -> Result<Vec<String>, ExtractError> {
        let mut seen = Vec::new();
        walk(xml.as_bytes(), &Limits::default(), &Budget::new(Duration::from_secs(5)), |e| {
            if let XmlEvent::End(el, text) = e {
                seen.push(format!("{}={text}", el.path.join("/")));
            }
            Ok(())
        })?;
        Ok(seen)
    }

    #[test]
    fn entities_are_refused_and_predefined_ones_resolved() {
        let bomb = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><lolz>&lol2;</lolz>"#;
        assert!(matches!(run(bomb), Err(ExtractError::XmlEntities)));
        assert_eq!(run("<a><b>Soci&#233;t&#xE9; &amp; fils</b></a>").unwrap()[0], "a/b=Société & fils");
        assert!(run("<a>&undefined;</a>").is_err());
        assert!(run("<a><b>tronqu").is_err());
    }

    #[test]
    fn depth_is_limited() {
        let deep = "<a>".repeat(300) + &"</a>".repeat(300);
        assert!(matches!(run(&deep), Err(ExtractError::XmlTooDeep(_))));
    }
}
