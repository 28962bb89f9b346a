//! French company identifiers: SIREN (9 digits), SIRET (14 digits) and the
//! intra-community VAT number (`FR` + 2-character key + SIREN).

/// Luhn over a string of ASCII digits.
fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            let d = u32::from(d - b'0');
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

fn all_digits(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_digit())
}

/// La Poste's establishments share SIREN 356000000 and are too many for Luhn's check
/// digit: their SIRETs are valid when the sum of their digits is a multiple of 5.
const LA_POSTE: &str = "356000000";

pub fn siren_valid(siren: &str) -> bool {
    all_digits(siren, 9) && luhn(siren.as_bytes())
}

pub fn siret_valid(siret: &str) -> bool {
    if !all_digits(siret, 14) {
        return false;
    }
    if siret.starts_with(LA_POSTE) && siret != "35600000000048" {
        // The head office keeps a Luhn-valid SIRET; the others use the digit-sum rule.
        return siret.bytes().map(|b| u32::from(b - b'0')).sum::<u32>().is_multiple_of(5);
    }
    luhn(siret.as_bytes())
}

/// A French VAT number's key: (12 + 3 × (SIREN mod 97)) mod 97, two digits.
pub fn vat_id_valid(vat: &str) -> bool {
    let vat: String = vat.chars().filter(|c| !c.is_whitespace()).collect();
    let Some(rest) = vat.strip_prefix("FR") else { return false };
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

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(!vat_id_valid("DE123456789"));
    }
}
