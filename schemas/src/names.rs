//! The one set of rules for the name a file is kept under: an upload's name (a relative
//! path inside a submitted folder) and a member's name inside a submitted zip. They live
//! here, below the intake and the workers, so both apply the same rules.
//!
//! Path traversal and absolute paths are refused outright, not repaired: a client (or an
//! archive) sending them is broken or hostile, and a repaired name would point at a
//! place the sender never meant. Characters that change how a name is displayed without
//! being seen — control characters, bidirectional overrides and isolates, zero-width
//! characters — are dropped: `facture\u{202E}fdp.exe` would otherwise show as
//! `facture` + `exe.pdf`, a program dressed as a PDF.

/// Why a name was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("refused file name {raw:?}: {reason}")]
pub struct NameError {
    /// The name as sent.
    pub raw: String,
    /// What is wrong with it, in a few words.
    pub reason: &'static str,
}

/// Characters that reorder or hide text when displayed but are no part of what a person
/// reads: the bidirectional embeddings, overrides and isolates, the marks (LRM, RLM, ALM),
/// and the zero-width space, joiners, word joiner and byte order mark.
fn invisible(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}')
}

/// Cleans a file name as sent (possibly a relative path inside a submitted folder or an
/// archive): `\` read as `/`, empty and `.` components dropped, invisible characters
/// removed and each component trimmed. Refused: a NUL byte, an absolute path (`/...`,
/// `C:...`), `..`, a name empty once cleaned, a component over 255 bytes, a path over
/// 1024 bytes.
pub fn sanitize_name(raw: &str) -> Result<String, NameError> {
    let bad = |reason| Err(NameError { raw: raw.to_owned(), reason });
    if raw.contains('\0') {
        return bad("contains a NUL byte");
    }
    let unified = raw.replace('\\', "/");
    if unified.starts_with('/') || unified.get(1..2) == Some(":") {
        return bad("absolute path");
    }
    let mut parts = Vec::new();
    for part in unified.split('/') {
        let clean: String = part.chars().filter(|&c| !invisible(c)).collect();
        // Checked once cleaned: `.\u{200B}.` is `..` to whoever reads the name.
        match clean.trim() {
            "" | "." => continue,
            ".." => return bad("path traversal"),
            clean if clean.len() > 255 => return bad("name component longer than 255 bytes"),
            clean => parts.push(clean.to_owned()),
        }
    }
    if parts.is_empty() {
        return bad("empty name");
    }
    let joined = parts.join("/");
    if joined.len() > 1024 {
        return bad("path longer than 1024 bytes");
    }
    Ok(joined)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bidi_controls_and_zero_width_characters_are_dropped() {
        assert_eq!(sanitize_name("facture\u{202E}fdp.exe").unwrap(), "facturefdp.exe");
        for c in ['\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}', '\u{200E}', '\u{200F}', '\u{061C}'] {
            assert_eq!(sanitize_name(&format!("rap{c}port.pdf")).unwrap(), "rapport.pdf", "U+{:04X}", c as u32);
        }
        for c in ['\u{200B}', '\u{200C}', '\u{200D}', '\u{2060}', '\u{FEFF}'] {
            assert_eq!(sanitize_name(&format!("{c}dossier/fac{c}ture.pdf")).unwrap(), "dossier/facture.pdf", "U+{:04X}", c as u32);
        }
        // Letters of other scripts are not invisible characters.
        assert_eq!(sanitize_name("تقرير/Übersicht €.pdf").unwrap(), "تقرير/Übersicht €.pdf");
    }

    #[test]
    fn a_name_that_is_only_invisible_or_hides_traversal_is_refused() {
        assert_eq!(sanitize_name("\u{202E}\u{200B}").unwrap_err().reason, "empty name");
        assert_eq!(sanitize_name("\u{FEFF}").unwrap_err().reason, "empty name");
        assert_eq!(sanitize_name(".\u{200B}./etc/passwd").unwrap_err().reason, "path traversal");
        assert_eq!(sanitize_name("a/\u{202E}../b.txt").unwrap_err().reason, "path traversal");
        assert_eq!(sanitize_name("a/../b.txt").unwrap_err().reason, "path traversal");
        assert_eq!(sanitize_name("/etc/passwd").unwrap_err().reason, "absolute path");
    }

    #[test]
    fn the_error_names_the_raw_name_and_why() {
        let e = sanitize_name("../x").unwrap_err();
        assert_eq!(e, NameError { raw: "../x".into(), reason: "path traversal" });
        assert_eq!(e.to_string(), "refused file name \"../x\": path traversal");
    }

    #[test]
    fn clean_names_are_left_as_they_are() {
        for name in ["facture été.pdf", "dossier/sous/rapport.pdf", "a.b.c", ".bashrc", "factures/facture été 100%.txt"] {
            assert_eq!(sanitize_name(name).unwrap(), name);
        }
    }
}
