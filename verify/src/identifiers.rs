//! French company identifiers: SIREN (9 digits), SIRET (14 digits) and the
//! intra-community VAT number (`FR` + 2-character key + SIREN).

use caregate_schemas::luhn;

fn all_digits(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_digit())
}

/// La Poste's establishments share SIREN 356000000 and are too many for Luhn's check
/// digit: their SIRETs are valid when the sum of their digits is a multiple of 5.
const LA_POSTE: &str = "356000000";

pub fn siren_valid(siren: &str) -> bool {
    all_digits(siren, 9) && luhn(siren)
}

pub fn siret_valid(siret: &str) -> bool {
    if !all_digits(siret, 14) {
        return false;
    }
    if siret.starts_with(LA_POSTE) && siret != "35600000000048" {
        // The head office keeps a Luhn-valid SIRET; the others use the digit-sum rule.
        return siret.bytes().map(|b| u32::from(b - b'0')).sum::<u32>().is_multiple_of(5);
    }
    luhn(siret)
}

/// A French VAT number's key: (12 + 3 × (SIREN mod 97)) mod 97, two digits.
pub fn vat_id_valid(vat: &str) -> bool {
    let vat: String = vat.chars().filter(|c| !c.is_whitespace()).collect();
    let Some(rest) = vat.strip_prefix("FR") else { return foreign_vat_id_valid(&vat) };
    if rest.len() != 11 {
        return false;
    }
    let (key, siren) = rest.split_at(2);
    if !all_digits(siren, 9) {
        return false;
    }
    // Keys with letters (new companies' "alphanumeric keys") cannot be checked this way.
    let Ok(key) = key.parse::<u64>() else { return key.chars().all(|c| c.is_ascii_alphanumeric()) };
    let Ok(n) = siren.parse::<u64>() else { return false };
    key == (12 + 3 * (n % 97)) % 97
}

/// Another country's VAT id: its country code and its length only (each country's key is
/// its own; a French check would call every foreign supplier invalid).
fn foreign_vat_id_valid(vat: &str) -> bool {
    const LENGTHS: &[(&str, usize, usize)] = &[
        ("AT", 9, 9),
        ("BE", 10, 10),
        ("BG", 9, 10),
        ("CY", 9, 9),
        ("CZ", 8, 10),
        ("DE", 9, 9),
        ("DK", 8, 8),
        ("EE", 9, 9),
        ("EL", 9, 9),
        ("ES", 9, 9),
        ("FI", 8, 8),
        ("HR", 11, 11),
        ("HU", 8, 8),
        ("IE", 8, 9),
        ("IT", 11, 11),
        ("LT", 9, 12),
        ("LU", 8, 8),
        ("LV", 11, 11),
        ("MT", 8, 8),
        ("NL", 12, 12),
        ("PL", 10, 10),
        ("PT", 9, 9),
        ("RO", 2, 10),
        ("SE", 12, 12),
        ("SI", 8, 8),
        ("SK", 10, 10),
        ("XI", 9, 12),
        ("GB", 9, 12),
        ("NO", 9, 12),
        ("CH", 9, 12),
    ];
    let (country, rest) = vat.split_at(vat.len().min(2));
    let rest = rest.trim_start_matches('E').trim_end_matches("MVA").trim_end_matches("TVA").trim_end_matches("IVA");
    LENGTHS.iter().any(|(c, min, max)| *c == country && (*min..=*max).contains(&rest.len())) && rest.chars().all(|c| c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn foreign_vat_ids_by_their_format() {
        assert!(vat_id_valid("DE123456789"));
        assert!(vat_id_valid("DE 232 446 240"));
        assert!(vat_id_valid("NL003335996B01"));
        assert!(vat_id_valid("NO123456789MVA"));
        assert!(vat_id_valid("HR46830600751"));
        assert!(!vat_id_valid("DE12345"), "too short for Germany");
        assert!(!vat_id_valid("ZZ123456789"), "no such country");
    }

    #[test]
    fn known_identifiers() {
        // Published identifiers (INSEE directory).
        assert!(siren_valid("732829320"));
        assert!(siret_valid("73282932000074"));
        assert!(siren_valid("443061841"));
        assert!(siret_valid("44306184100047"));
        assert!(!siret_valid("73282932000075"));
        assert!(!siren_valid("73282932"));
        assert!(!siret_valid("7328293200007A"));
        // La Poste: digit sum multiple of 5, Luhn not.
        assert!(siret_valid("35600000049012"));
        assert!(!siret_valid("35600000049013"));
        assert!(siret_valid("35600000000048"));
        assert!(vat_id_valid("FR44732829320"));
        assert!(vat_id_valid("FR 64 443061841"));
        assert!(!vat_id_valid("FR40732829320"));
    }
}
