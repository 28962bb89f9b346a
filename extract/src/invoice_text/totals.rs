//! An invoice's totals by the page's own arithmetic, not by their labels alone. Labels
//! lie in ways nobody can list: "Subtotaal" over the amount with VAT, "Te betalen 0,00"
//! once paid, "Subtotal" heading a group of lines, a header row over three columns. The
//! amounts a page prints, labelled or not, are candidates; the HT, TVA and TTC chosen
//! are the ones that satisfy HT + TVA = TTC with a VAT no rate in the world exceeds,
//! best supported by labels, rates and rows. When no choice holds, the fields in
//! disagreement are left empty and a controller is told what was read.

use caregate_schemas::FindingCode;
use std::collections::BTreeMap;

use rust_decimal::Decimal;

use caregate_schemas::extracted::Location;
use caregate_schemas::{Finding, Severity};

pub(super) const HT: usize = 0;
pub(super) const TVA: usize = 1;
pub(super) const TTC: usize = 2;
pub(super) const FIELD_NAMES: [&str; 3] = ["total_ht", "total_tva", "total_ttc"];

/// The finding for fields left empty because the page contradicts itself.
pub(super) fn inconsistent(message: String) -> Finding {
    Finding::new(FindingCode::InvoiceFieldsInconsistent, Severity::Warning, message)
}

/// One amount and where it was read.
#[derive(Clone, Debug)]
pub(super) struct Candidate {
    pub value: Decimal,
    pub at: Option<Location>,
    /// Its row among the page's rows, for amounts printed anywhere (not for labelled ones).
    pub row: Option<usize>,
}

/// What the page says about its totals.
#[derive(Default)]
pub(super) struct Evidence {
    /// By field (HT, TVA, TTC): the values its labels give, first the labels' own choice.
    pub labelled: [Vec<Candidate>; 3],
    /// Every amount printed as one (two decimals or a currency), labelled or not.
    pub printed: Vec<Candidate>,
    /// VAT rates as fractions: the French ones and those the page prints.
    pub rates: Vec<Decimal>,
    /// The page says no VAT is charged (art. 293 B, exemption, reverse charge).
    pub without_vat: bool,
}

/// A value chosen for a total, how sure the choice is, and where it was read.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Chosen {
    pub value: Decimal,
    pub at: Option<Location>,
    pub confidence: f32,
}

#[derive(Debug, Default)]
pub(super) struct Totals {
    pub fields: [Option<Chosen>; 3],
    pub finding: Option<Finding>,
    /// HT, TVA and TTC as the page prints them, each under its own label and once, when
    /// they do not add up: the page's own statement, which only the reader knows whether
    /// to trust (printed text is; OCR's may be a misreading).
    pub printed: Option<[Candidate; 3]>,
}

/// VAT rates the French tax code applies (CGI art. 278 to 281 nonies), as fractions.
pub(super) const FRENCH_RATES: [&str; 4] = ["0.20", "0.10", "0.055", "0.021"];

/// No VAT rate anywhere exceeds 27 % (Hungary): a "TVA" above that share of the HT is
/// another amount.
fn highest_rate() -> Decimal {
    Decimal::new(27, 2)
}

fn cent() -> Decimal {
    Decimal::new(1, 2)
}

/// How a value is supported for one field.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Support {
    /// One of the field's own labels gives it (0: the labels' first choice).
    Labelled(usize),
    /// Another field's label gives it, none of this field's.
    OtherLabel,
    /// Printed on the page, unlabelled.
    Printed,
    /// Printed nowhere: computed from the two others.
    Derived,
}

impl Support {
    fn points(self) -> i32 {
        match self {
            Support::Labelled(0) => 4,
            Support::Labelled(1) => 3,
            Support::Labelled(_) => 2,
            Support::Printed => 0,
            Support::OtherLabel => -1,
            Support::Derived => -2,
        }
    }

    fn confidence(self, corroborated: bool) -> f32 {
        match self {
            Support::Labelled(0) => 0.9,
            Support::Labelled(_) => 0.85,
            Support::Printed | Support::OtherLabel if corroborated => 0.75,
            Support::Printed | Support::OtherLabel => 0.65,
            Support::Derived => 0.7,
        }
    }
}

/// One assignment of the three totals and what supports it.
#[derive(Clone, Debug)]
struct Assignment {
    values: [Decimal; 3],
    support: [Support; 3],
    /// TVA is zero because the page says no VAT applies, not because it prints 0.
    implicit_zero: bool,
    /// HT + TVA is a cent away from TTC (rounded lines, "leur somme peut différer").
    off_by_a_cent: bool,
    rate_agrees: bool,
    same_row: bool,
}

impl Assignment {
    fn score(&self) -> i32 {
        let labels: i32 = self.support.iter().map(|s| s.points()).sum();
        labels + if self.rate_agrees { 3 } else { 0 } + if self.same_row { 2 } else { 0 } - i32::from(self.off_by_a_cent)
    }

    fn own_labels(&self) -> usize {
        self.support.iter().filter(|s| matches!(s, Support::Labelled(_))).count()
    }

    /// Enough evidence to be chosen: two totals labelled as such, or one and an
    /// independent check (the rate, or the three printed side by side as a totals row),
    /// or with no label both checks (a totals row whose labels were lost to OCR). A
    /// total computed from the two others only when both are labelled.
    fn acceptable(&self) -> bool {
        let derived = self.support.iter().filter(|s| **s == Support::Derived).count();
        if derived > 1 || (derived == 1 && self.own_labels() < 2) {
            return false;
        }
        match self.own_labels() {
            0 => self.rate_agrees && self.same_row,
            1 => self.rate_agrees || self.same_row,
            _ => true,
        }
    }
}

impl Evidence {
    fn support(&self, field: usize, value: Decimal) -> Support {
        if let Some(rank) = self.labelled[field].iter().position(|c| c.value == value) {
            return Support::Labelled(rank);
        }
        if self.labelled.iter().any(|l| l.iter().any(|c| c.value == value)) {
            return Support::OtherLabel;
        }
        if self.printed.iter().any(|c| c.value == value) {
            return Support::Printed;
        }
        Support::Derived
    }

    /// Where a value was read for a field: its label's place first.
    fn place(&self, field: usize, value: Decimal) -> Option<Location> {
        self.labelled[field].iter().chain(self.labelled.iter().flatten()).chain(&self.printed).find(|c| c.value == value).and_then(|c| c.at.clone())
    }

    fn zero_allowed(&self) -> bool {
        self.without_vat || self.labelled[TVA].iter().any(|c| c.value.is_zero())
    }

    fn rate_agrees(&self, ht: Decimal, tva: Decimal) -> bool {
        if tva.is_zero() {
            return false;
        }
        // Lines rounded one by one make the total's VAT differ from the rate's by a few cents.
        let slack = cent().max(ht.abs() * Decimal::new(5, 4));
        self.rates.iter().any(|r| (ht * r - tva).abs() <= slack)
    }

    fn same_row(&self, values: &[Decimal; 3]) -> bool {
        let rows_of = |v: Decimal| self.printed.iter().filter(|c| c.value == v).filter_map(|c| c.row).collect::<Vec<_>>();
        let (a, b, c) = (rows_of(values[HT]), rows_of(values[TVA]), rows_of(values[TTC]));
        a.iter().any(|r| b.contains(r) && c.contains(r))
    }

    /// Every value the page gives, each once, labelled ones first.
    fn values(&self) -> Vec<Decimal> {
        let mut seen = Vec::new();
        for c in self.labelled.iter().flatten().chain(&self.printed) {
            if !seen.contains(&c.value) && seen.len() < 300 {
                seen.push(c.value);
            }
        }
        seen
    }
}

/// HT and TVA that can belong together: of one sign, HT not zero, TVA within the
/// highest rate of HT.
fn plausible(ht: Decimal, tva: Decimal) -> bool {
    !ht.is_zero() && (tva.is_zero() || ht.is_sign_negative() == tva.is_sign_negative()) && tva.abs() <= ht.abs() * highest_rate() + cent()
}

fn assignments(ev: &Evidence) -> Vec<Assignment> {
    let values = ev.values();
    let near = |target: Decimal| -> Option<(Decimal, bool)> {
        if values.contains(&target) {
            return Some((target, false));
        }
        values.iter().find(|v| (**v - target).abs() == cent()).map(|v| (*v, true))
    };
    let mut taxes = values.clone();
    if ev.zero_allowed() && !taxes.iter().any(|v| v.is_zero()) {
        taxes.push(Decimal::ZERO);
    }
    let mut out = Vec::new();
    let mut push = |values: [Decimal; 3], off_by_a_cent: bool, derived: Option<usize>| {
        let [ht, tva, ttc] = values;
        if !plausible(ht, tva) || (!ttc.is_zero() && ttc.is_sign_negative() != ht.is_sign_negative()) {
            return;
        }
        // HT equal to TTC only when the page says there is no VAT, or prints a VAT of 0.
        if tva.is_zero() && !ev.zero_allowed() {
            return;
        }
        let implicit_zero = tva.is_zero() && !ev.labelled[TVA].iter().any(|c| c.value.is_zero());
        let mut support = [ev.support(HT, ht), ev.support(TVA, tva), ev.support(TTC, ttc)];
        if let Some(field) = derived {
            support[field] = Support::Derived;
        }
        if tva.is_zero() {
            // No VAT: HT and TTC are one printed amount, supported by either label.
            let best = [support[HT], support[TTC]].into_iter().max_by_key(|s| s.points()).unwrap_or(Support::Printed);
            support = [best, if implicit_zero { Support::Labelled(0) } else { support[TVA] }, best];
        }
        let a = Assignment { values, support, implicit_zero, off_by_a_cent, rate_agrees: ev.rate_agrees(ht, tva), same_row: ev.same_row(&values) };
        if a.acceptable() {
            out.push(a);
        }
    };
    for &ht in &values {
        for &tva in &taxes {
            match near(ht + tva) {
                Some((ttc, off)) => push([ht, tva, ttc], off, None),
                None if ev.labelled[TTC].is_empty() => push([ht, tva, ht + tva], false, Some(TTC)),
                None => {}
            }
        }
        if ev.labelled[TVA].is_empty() {
            for &ttc in &values {
                if ttc != ht && near(ttc - ht).is_none() {
                    push([ht, ttc - ht, ttc], false, Some(TVA));
                }
            }
        }
    }
    if ev.labelled[HT].is_empty() {
        for &tva in &taxes {
            for &ttc in &values {
                if near(ttc - tva).is_none() {
                    push([ttc - tva, tva, ttc], false, Some(HT));
                }
            }
        }
    }
    out
}

/// The totals the page's arithmetic supports best (see the module's comment).
pub(super) fn choose(ev: &Evidence) -> Totals {
    let firsts: [Option<&Candidate>; 3] = [ev.labelled[HT].first(), ev.labelled[TVA].first(), ev.labelled[TTC].first()];
    // The labels' own choice, when it adds up, is the answer.
    if let [Some(ht), Some(tva), Some(ttc)] = firsts {
        if ht.value + tva.value == ttc.value && plausible(ht.value, tva.value) && (!tva.value.is_zero() || ev.zero_allowed()) {
            let f = |c: &Candidate| Some(Chosen { value: c.value, at: c.at.clone(), confidence: 0.95 });
            return Totals { fields: [f(ht), f(tva), f(ttc)], ..Totals::default() };
        }
    }
    let found = assignments(ev);
    if let Some(best) = found.iter().map(Assignment::score).max() {
        let tied: Vec<&Assignment> = found.iter().filter(|a| a.score() == best).collect();
        let mut totals = Totals::default();
        let mut unsure = Vec::new();
        for field in [HT, TVA, TTC] {
            let value = tied[0].values[field];
            if tied.iter().any(|a| a.values[field] != value) {
                unsure.push(field);
                continue;
            }
            let a = tied[0];
            if field == TVA && a.implicit_zero {
                continue;
            }
            let corroborated = a.rate_agrees || a.same_row;
            let confidence = a.support[field].confidence(corroborated) - if a.off_by_a_cent { 0.1 } else { 0.0 };
            let at = if a.support[field] == Support::Derived { None } else { ev.place(field, value) };
            totals.fields[field] = Some(Chosen { value, at, confidence });
        }
        if !unsure.is_empty() {
            let readings: Vec<String> = tied.iter().take(4).map(|a| format!("{} + {} = {}", fr(a.values[HT]), fr(a.values[TVA]), fr(a.values[TTC]))).collect();
            totals.finding = Some(finding(ev, &unsure, &format!("plusieurs lectures tiennent également ({})", readings.join(" ; "))));
        }
        return totals;
    }
    fallback(ev, firsts)
}

/// No assignment holds: what the labels say alone, with the totals in disagreement
/// left empty.
fn fallback(ev: &Evidence, firsts: [Option<&Candidate>; 3]) -> Totals {
    let keep = |c: Option<&Candidate>, confidence: f32| c.map(|c| Chosen { value: c.value, at: c.at.clone(), confidence });
    let mut totals = Totals::default();
    match firsts {
        [Some(ht), Some(tva), Some(ttc)] => {
            // Two that agree by a rate outvote the third.
            let (h, t, c) = (ht.value, tva.value, ttc.value);
            let odd = if ev.rate_agrees(h, t) {
                Some(TTC)
            } else if plausible(h, c - h) && ev.rate_agrees(h, c - h) {
                Some(TVA)
            } else if plausible(c - t, t) && ev.rate_agrees(c - t, t) {
                Some(HT)
            } else {
                None
            };
            let why = format!("HT {} + TVA {} ≠ TTC {}", fr(h), fr(t), fr(c));
            // What the page states beyond doubt: each total under its label once, or two
            // that the rate binds (a line's "Montant HT" is then no rival HT) and the third
            // printed once.
            let once = |field: usize| ev.labelled[field].iter().all(|c| c.value == ev.labelled[field][0].value);
            if odd.is_some_and(once) || (once(HT) && once(TVA) && once(TTC)) {
                totals.printed = Some([ht.clone(), tva.clone(), ttc.clone()]);
            }
            match odd {
                Some(odd) => {
                    for (field, c) in [(HT, ht), (TVA, tva), (TTC, ttc)] {
                        if field != odd {
                            totals.fields[field] = keep(Some(c), 0.6);
                        }
                    }
                    totals.finding = Some(finding(ev, &[odd], &why));
                }
                None => totals.finding = Some(finding(ev, &[HT, TVA, TTC], &why)),
            }
        }
        [Some(ht), None, Some(ttc)] if ht.value == ttc.value => {
            // HT equal to TTC on a page that does not say VAT is not charged: one of the
            // two labels names the other's amount.
            totals.fields[TTC] = keep(Some(ttc), 0.5);
            totals.finding = Some(finding(ev, &[HT], &format!("HT {} égal au TTC sans mention d'exonération de TVA", fr(ht.value))));
        }
        [Some(a), Some(b), None] | [Some(a), None, Some(b)] | [None, Some(a), Some(b)] => {
            let present: Vec<usize> = (0..3).filter(|f| firsts[*f].is_some()).collect();
            let why = format!("{} {} et {} {} ne peuvent appartenir à une même facture", label(present[0]), fr(a.value), label(present[1]), fr(b.value));
            totals.finding = Some(finding(ev, &present, &why));
        }
        // One total alone: nothing to check it against.
        _ => {
            for field in [HT, TVA, TTC] {
                totals.fields[field] = keep(firsts[field], 0.5);
            }
        }
    }
    totals
}

fn label(field: usize) -> &'static str {
    ["HT", "TVA", "TTC"][field]
}

/// An amount as a French page prints it: `1 234,56`.
fn fr(d: Decimal) -> String {
    let text = format!("{:.2}", d.round_dp(2));
    let (int, frac) = text.split_once('.').unwrap_or((&text, "00"));
    let (sign, int) = int.strip_prefix('-').map_or(("", int), |i| ("-", i));
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push('\u{a0}');
        }
        grouped.push(c);
    }
    format!("{sign}{grouped},{frac}")
}

/// The finding a controller acts on: which totals were left empty, why, and every
/// amount the labels gave for each.
fn finding(ev: &Evidence, empty: &[usize], why: &str) -> Finding {
    let mut read: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for field in [HT, TVA, TTC] {
        let mut seen: Vec<String> = Vec::new();
        for c in &ev.labelled[field] {
            let v = fr(c.value);
            if !seen.contains(&v) && seen.len() < 4 {
                seen.push(v);
            }
        }
        if !seen.is_empty() {
            read.insert(field, seen);
        }
    }
    let read: Vec<String> = read.iter().map(|(f, v)| format!("{} : {}", label(*f), v.join(" ou "))).collect();
    let names: Vec<&str> = empty.iter().map(|f| label(*f)).collect();
    let read = if read.is_empty() { "aucun montant étiqueté".to_owned() } else { read.join(" ; ") };
    inconsistent(format!("totaux de la facture incohérents ({why}) : {} laissé(s) vide(s) ; montants lus : {read} — à relire sur la pièce", names.join(", ")))
        .at(format!("/{}", FIELD_NAMES[empty.first().copied().unwrap_or(TTC)]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str_exact(s).unwrap()
    }

    fn c(v: &str, row: Option<usize>) -> Candidate {
        Candidate { value: dec(v), at: None, row }
    }

    fn evidence(ht: &[&str], tva: &[&str], ttc: &[&str], printed: &[(&str, usize)]) -> Evidence {
        let l = |vs: &[&str]| vs.iter().map(|v| c(v, None)).collect::<Vec<_>>();
        Evidence {
            labelled: [l(ht), l(tva), l(ttc)],
            printed: printed.iter().map(|(v, r)| c(v, Some(*r))).collect(),
            rates: FRENCH_RATES.iter().map(|r| dec(r)).collect(),
            without_vat: false,
        }
    }

    fn values(t: &Totals) -> [Option<Decimal>; 3] {
        [0, 1, 2].map(|f| t.fields[f].as_ref().map(|c| c.value))
    }

    #[test]
    fn a_subtotal_label_over_the_amount_with_vat_gives_way_to_the_arithmetic() {
        // "Exclusief BTW 593,36   Subtotaal 717,97": the subtotal label names the TTC.
        let ev = evidence(&["717.97"], &["124.61"], &["717.97"], &[("593.36", 5), ("717.97", 5), ("124.61", 6), ("717.97", 7)]);
        let mut ev = ev;
        ev.rates.push(dec("0.21"));
        let t = choose(&ev);
        assert_eq!(values(&t), [Some(dec("593.36")), Some(dec("124.61")), Some(dec("717.97"))]);
        assert!(t.finding.is_none());
    }

    #[test]
    fn a_group_subtotal_is_not_the_invoices_ht() {
        // Two groups of lines each with a "Subtotal", then the invoice's.
        let ev = evidence(&["112.00", "150.90", "262.90"], &["16.94"], &["279.84"], &[("42.00", 1), ("70.00", 2), ("112.00", 3), ("150.90", 5), ("262.90", 6)]);
        let t = choose(&ev);
        assert_eq!(values(&t), [Some(dec("262.90")), Some(dec("16.94")), Some(dec("279.84"))]);
    }

    #[test]
    fn totals_unlabelled_are_found_by_the_rate_beside_a_labelled_vat() {
        let mut ev = evidence(&[], &["16.61"], &[], &[("41.18", 1), ("0.84", 2), ("87.39", 10), ("16.61", 11), ("104.00", 12)]);
        ev.rates.push(dec("0.19"));
        assert_eq!(values(&choose(&ev)), [Some(dec("87.39")), Some(dec("16.61")), Some(dec("104.00"))]);
    }

    #[test]
    fn ht_is_never_ttc_unless_no_vat_applies() {
        let ev = evidence(&["1200.00"], &[], &["1200.00"], &[("1200.00", 3)]);
        let t = choose(&ev);
        assert_eq!(values(&t), [None, None, Some(dec("1200.00"))]);
        assert_eq!(t.finding.as_ref().map(|f| f.code), Some(FindingCode::InvoiceFieldsInconsistent));
        let mut ev = ev;
        ev.without_vat = true;
        let t = choose(&ev);
        assert_eq!(values(&t), [Some(dec("1200.00")), None, Some(dec("1200.00"))]);
        assert!(t.finding.is_none());
    }

    #[test]
    fn totals_that_cannot_add_up_are_left_empty_with_what_was_read() {
        // Nothing printed makes 1 000 + 200 = 1 300, and no rate ties two of them.
        let ev = evidence(&["1000.00"], &["230.00"], &["1300.00"], &[("1000.00", 1), ("230.00", 2), ("1300.00", 3)]);
        let t = choose(&ev);
        assert_eq!(values(&t), [None, None, None]);
        let f = t.finding.unwrap();
        assert_eq!(f.code, FindingCode::InvoiceFieldsInconsistent);
        assert!(f.message.contains("1\u{a0}000,00") && f.message.contains("1\u{a0}300,00") && f.message.contains("230,00"), "{}", f.message);
        // Two that agree by a French rate keep their values; the third is the odd one.
        let ev = evidence(&["1000.00"], &["200.00"], &["1300.00"], &[("1000.00", 1), ("200.00", 2), ("1300.00", 3)]);
        let t = choose(&ev);
        assert_eq!(values(&t), [Some(dec("1000.00")), Some(dec("200.00")), None]);
        assert!(t.finding.unwrap().message.contains("TTC laissé"));
    }

    #[test]
    fn a_vat_above_any_rate_is_no_vat() {
        // HT 0,00 + "TVA" 35,24 = 35,24 adds up, but no VAT is the whole of the price.
        let mut ev = evidence(&["0.00"], &["35.24"], &["35.24"], &[("0.00", 1), ("29.37", 1), ("5.87", 1), ("35.24", 1)]);
        ev.rates.push(dec("0.20"));
        assert_eq!(values(&choose(&ev)), [Some(dec("29.37")), Some(dec("5.87")), Some(dec("35.24"))]);
    }

    #[test]
    fn labels_that_add_up_are_kept_with_a_high_confidence() {
        let t = choose(&evidence(&["46.68"], &["9.34"], &["56.02"], &[]));
        assert_eq!(values(&t), [Some(dec("46.68")), Some(dec("9.34")), Some(dec("56.02"))]);
        assert!(t.fields.iter().all(|f| f.as_ref().unwrap().confidence >= 0.9));
    }

    #[test]
    fn amounts_in_french() {
        assert_eq!(fr(dec("1234567.5")), "1\u{a0}234\u{a0}567,50");
        assert_eq!(fr(dec("-12.3")), "-12,30");
    }
}
