//! The submitting establishment is the buyer: its own SIRET, SIREN, VAT id or FINESS,
//! printed in the buyer's block of the invoices it submits (left, right, above the
//! seller, in a block no label announces), is never taken as the seller's. Tests of the
//! defect class on several layouts, text and structured invoices alike.

use caregate_schemas::extracted::{Content, Fields, Invoice, InvoiceSource};
use caregate_schemas::{EstablishmentIdentifiers, FindingCode};

use crate::classify::{Classification, Kind};
use crate::invoice_text::{read_invoice, read_invoice_excluding, InvoiceReading};
use crate::layout::{Layout, Page, Word};
use crate::Analysis;

/// The hospital: FINESS 760000001, SIRET 267 500 452 00003 (VAT id FR95267500452).
fn hospital() -> EstablishmentIdentifiers {
    EstablishmentIdentifiers::checked("760000001", &[], &["267 500 452 00003".into()]).unwrap()
}

const SUPPLIER: (&str, &str, &str) = ("73282932000074", "732829320", "FR44732829320");

/// One page, each row its cells at their x (PDF points), 15 points apart.
fn page(rows: &[&[(f32, &str)]]) -> Layout {
    let mut words = Vec::new();
    for (r, cells) in rows.iter().enumerate() {
        for (x, text) in cells.iter() {
            let mut x = *x;
            for word in text.split(' ') {
                let y = 20.0 + 15.0 * r as f32;
                words.push(Word { text: word.into(), x0: x, y0: y, x1: x + 6.0 * word.chars().count() as f32, y1: y + 10.0, size: 10.0 });
                x += 6.0 * word.chars().count() as f32 + 4.0;
            }
        }
    }
    Layout { pages: vec![Page { width: 595.0, height: 842.0, words }] }
}

fn read_for(layout: &Layout, own: &EstablishmentIdentifiers) -> InvoiceReading {
    read_invoice_excluding(Some(layout), &layout.text(), own)
}

fn ids(inv: &Invoice) -> (Option<&str>, Option<&str>, Option<&str>) {
    (inv.seller_siret.as_deref(), inv.seller_siren.as_deref(), inv.vat_id.as_deref())
}

const TOTALS: [&[(f32, &str)]; 3] =
    [&[(40.0, "Total HT"), (400.0, "1 000,00 €")], &[(40.0, "TVA 20 %"), (400.0, "200,00 €")], &[(40.0, "Total TTC"), (400.0, "1 200,00 €")]];

/// The layouts seen on dossiers' invoices, the hospital's block carrying its SIRET with
/// no label that says it is the buyer's (the case the buyer mask cannot see).
fn layouts() -> Vec<(&'static str, Layout)> {
    let with_totals = |head: &[&[(f32, &'static str)]]| {
        let mut rows: Vec<&[(f32, &str)]> = head.to_vec();
        rows.extend(TOTALS);
        page(&rows)
    };
    vec![
        (
            "buyer left, seller right",
            with_totals(&[
                &[(40.0, "Centre Hospitalier de Valmont"), (330.0, "SECURINFO CONSEIL SAS")],
                &[(40.0, "12 avenue des Tilleuls"), (330.0, "8 rue des Lilas")],
                &[(40.0, "76540 Valmont"), (330.0, "69003 Lyon")],
                &[(40.0, "SIRET : 267 500 452 00003"), (330.0, "SIRET : 732 829 320 00074")],
                &[(330.0, "TVA intracommunautaire : FR44732829320")],
                &[(40.0, "FACTURE N° FA-2024-0042")],
                &[(40.0, "Date : 12/06/2024")],
            ]),
        ),
        (
            "seller left, buyer right",
            with_totals(&[
                &[(40.0, "SECURINFO CONSEIL SAS"), (330.0, "Centre Hospitalier de Valmont")],
                &[(40.0, "8 rue des Lilas"), (330.0, "12 avenue des Tilleuls")],
                &[(40.0, "69003 Lyon"), (330.0, "76540 Valmont")],
                &[(40.0, "SIRET 73282932000074"), (330.0, "SIRET 26750045200003")],
                &[(40.0, "N° TVA FR44 732 829 320"), (330.0, "FINESS 760000001")],
                &[(40.0, "FACTURE N° FA-2024-0042")],
                &[(40.0, "Date : 12/06/2024")],
            ]),
        ),
        (
            "buyer above the seller",
            with_totals(&[
                &[(40.0, "Centre Hospitalier de Valmont")],
                &[(40.0, "SIRET 267 500 452 00003 - TVA FR95267500452")],
                &[(40.0, "FACTURE N° FA-2024-0042 du 12/06/2024")],
                &[(40.0, "Émise par SECURINFO CONSEIL SAS, 8 rue des Lilas, 69003 Lyon")],
                &[(40.0, "SIRET 732 829 320 00074 - TVA FR44732829320")],
            ]),
        ),
        (
            "seller only in the legal mentions at the foot",
            page(&[
                &[(40.0, "SECURINFO")],
                &[(330.0, "Centre Hospitalier de Valmont")],
                &[(330.0, "SIRET : 267 500 452 00003")],
                &[(40.0, "Facture FA-2024-0042"), (330.0, "Date : 12/06/2024")],
                TOTALS[0],
                TOTALS[1],
                TOTALS[2],
                &[(40.0, "SECURINFO CONSEIL SAS au capital de 10 000 € - RCS Lyon 732 829 320 - SIRET 732 829 320 00074 - TVA FR44732829320")],
            ]),
        ),
    ]
}

#[test]
fn the_establishments_identifiers_are_never_the_sellers_on_any_layout() {
    let own = hospital();
    for (what, layout) in layouts() {
        let reading = read_for(&layout, &own);
        let (siret, siren, vat) = ids(&reading.invoice);
        for v in [siret, siren, vat].into_iter().flatten() {
            assert!(!own.owns(v), "{what}: the hospital's {v} taken as the seller's");
        }
        assert_eq!(siret, Some(SUPPLIER.0), "{what}: the supplier's SIRET is the seller's");
        assert_eq!(siren, Some(SUPPLIER.1), "{what}");
        assert_eq!(vat, Some(SUPPLIER.2), "{what}");
        assert!(!reading.findings.iter().any(|f| f.code == FindingCode::SellerIsEstablishment), "{what}: another candidate was there");
    }
}

#[test]
fn the_establishments_number_alone_leaves_the_seller_empty_with_a_finding() {
    let own = hospital();
    for layout in [
        page(&[
            &[(40.0, "SECURINFO")],
            &[(330.0, "Centre Hospitalier de Valmont")],
            &[(330.0, "SIRET : 267 500 452 00003")],
            &[(40.0, "Facture FA-2024-0042"), (330.0, "Date : 12/06/2024")],
            TOTALS[0],
            TOTALS[1],
            TOTALS[2],
        ]),
        page(&[&[(40.0, "Centre Hospitalier de Valmont - TVA FR95267500452")], &[(40.0, "Facture FA-2024-0042")], TOTALS[2]]),
    ] {
        let reading = read_for(&layout, &own);
        assert_eq!(ids(&reading.invoice), (None, None, None));
        let f = reading.findings.iter().find(|f| f.code == FindingCode::SellerIsEstablishment).expect("seller_is_establishment");
        assert!(f.message.contains("267500452"), "the value found is shown: {}", f.message);
        assert_eq!(f.pointer.as_deref(), Some("/seller_siret"));
        // The other fields are read as before.
        assert_eq!(reading.invoice.number.as_deref(), Some("FA-2024-0042"));
    }
}

#[test]
fn nothing_known_excludes_nothing() {
    let (_, layout) = layouts().remove(1);
    let none = read_for(&layout, &EstablishmentIdentifiers::NONE);
    let plain = read_invoice(Some(&layout), &layout.text());
    assert_eq!(ids(&none.invoice), ids(&plain.invoice));
}

fn analysis_of(inv: Invoice) -> Analysis {
    Analysis {
        format: "facturx".into(),
        classification: Classification::structural(Kind::Invoice, "test"),
        fields: Fields::of(Content::Invoice(inv)),
        findings: Vec::new(),
        members: Vec::new(),
        text: String::new(),
    }
}

#[test]
fn a_structured_invoice_naming_the_establishment_as_seller_is_a_finding() {
    let own = hospital();
    let mut inv = Invoice::empty(InvoiceSource::Facturx);
    (inv.seller_siret, inv.seller_siren, inv.vat_id) = (Some("26750045200003".into()), Some("267500452".into()), Some("FR95267500452".into()));
    inv.number = Some("FA-1".into());
    let mut a = analysis_of(inv);
    crate::exclude_establishment(&mut a, &own);
    let Content::Invoice(inv) = &a.fields.content else { panic!("an invoice") };
    assert_eq!(ids(inv), (None, None, None));
    assert_eq!(inv.number.as_deref(), Some("FA-1"));
    let f: Vec<_> = a.findings.iter().filter(|f| f.code == FindingCode::SellerIsEstablishment).collect();
    assert_eq!(f.len(), 1, "one finding names every value");
    assert!(f[0].message.contains("26750045200003") && f[0].message.contains("FR95267500452"), "{}", f[0].message);
    // A supplier's identifiers pass untouched, and nothing is said.
    let mut inv = Invoice::empty(InvoiceSource::Cii);
    (inv.seller_siret, inv.vat_id) = (Some(SUPPLIER.0.into()), Some(SUPPLIER.2.into()));
    let mut a = analysis_of(inv);
    crate::exclude_establishment(&mut a, &own);
    assert!(a.findings.is_empty());
    assert_eq!(a.fields.invoice().map(|i| i.seller_siret.as_deref()), Some(Some(SUPPLIER.0)));
}
