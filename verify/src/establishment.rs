//! The submitting establishment's own identifiers are never judged as a seller's. An
//! invoice read before they were known (or read wrong) may still name the hospital as its
//! seller: before judging, such a seller identifier is set aside, so that the
//! `identifiers_valid` rule never passes on the buyer's own number, and duplicate
//! detection never matches invoices by the buyer's SIREN (every invoice of the
//! establishment would then be "the same seller").

use caregate_schemas::extracted::Content;
use caregate_schemas::{EstablishmentIdentifiers, EvidenceRecord};

/// Takes the establishment's own identifiers out of its records' invoices' seller fields;
/// how many fields were taken out. The stored records are not touched: the reading (and
/// its `seller_is_establishment` finding, when extraction knew) stays as it was.
pub fn set_aside_establishment_identifiers(records: &mut [EvidenceRecord], own: &EstablishmentIdentifiers) -> usize {
    let mut taken = 0;
    if own.is_empty() {
        return taken;
    }
    for rec in records.iter_mut() {
        let Content::Invoice(inv) = &mut rec.fields.content else { continue };
        for value in [&mut inv.seller_siret, &mut inv.seller_siren, &mut inv.vat_id] {
            if value.as_deref().is_some_and(|v| own.owns(v)) {
                *value = None;
                taken += 1;
            }
        }
    }
    taken
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{dossiers_sharing_invoices, Dossier};
    use caregate_schemas::{EvidenceId, Kind, Sha256Digest, Status, SubmissionId, SubmissionRef};

    fn invoice(sub: SubmissionId, path: &str, seller_siret: &str) -> EvidenceRecord {
        let s = SubmissionRef {
            submission_id: sub,
            establishment: "760000001".into(),
            campaign: "care-d1-2024".into(),
            objectives: vec!["D1.FIN".into()],
            category: None,
        };
        let mut rec = EvidenceRecord::received(EvidenceId::new(), s, path.into(), Sha256Digest::of(path.as_bytes()), 1, "q".into());
        rec.status = Status::Stored;
        rec.kind = Some(Kind::Invoice);
        rec.fields = serde_json::from_value(serde_json::json!({"content": "invoice", "source": "text", "number": "FA-1", "issue_date": "2024-06-12",
            "seller_siret": seller_siret, "seller_siren": &seller_siret[..9], "total_ht": "100.00", "total_tva": "20.00", "total_ttc": "120.00"}))
        .expect("fields");
        rec
    }

    /// Two invoices numbered alike from two suppliers, both read with the hospital's own
    /// SIRET as the seller's: matched as "the same invoice" unless it is set aside.
    #[test]
    fn the_establishments_number_never_makes_two_invoices_the_same() {
        let own = EstablishmentIdentifiers::checked("760000001", &[], &["26750045200003".into()]).unwrap();
        let (mine, theirs) = (SubmissionId::new(), SubmissionId::new());
        let mut records = vec![invoice(mine, "fa-1.pdf", "26750045200003")];
        let related = [invoice(theirs, "autre-fa-1.pdf", "26750045200003")];
        assert_eq!(dossiers_sharing_invoices(&Dossier { submission_id: mine, records: &records, related: &related }).len(), 1, "blind");
        assert_eq!(set_aside_establishment_identifiers(&mut records, &own), 2, "SIRET and SIREN");
        assert!(records[0].invoice_key().is_none(), "no seller to match on");
        assert!(dossiers_sharing_invoices(&Dossier { submission_id: mine, records: &records, related: &related }).is_empty());
        // A supplier's number is kept, and nothing known sets nothing aside.
        let mut supplier = vec![invoice(mine, "fa-2.pdf", "73282932000074")];
        assert_eq!(set_aside_establishment_identifiers(&mut supplier, &own), 0);
        let mut blind = vec![invoice(mine, "fa-3.pdf", "26750045200003")];
        assert_eq!(set_aside_establishment_identifiers(&mut blind, &EstablishmentIdentifiers::NONE), 0);
        assert!(supplier[0].invoice_key().is_some() && blind[0].invoice_key().is_some());
    }

    /// An invoice whose only identifier was the establishment's (left empty by the
    /// reading, with its finding) sends the expenses to a controller, naming the file.
    #[test]
    fn a_seller_left_empty_for_being_the_establishment_goes_to_a_controller() {
        use caregate_schemas::{Finding, FindingCode, Severity, Verdict};
        let referentials = crate::Referentials::shipped().unwrap();
        let r = referentials.for_campaign("care-d1-2024").unwrap();
        let mut rec = invoice(SubmissionId::new(), "fa-1.pdf", "73282932000074");
        if let Content::Invoice(inv) = &mut rec.fields.content {
            (inv.seller_siret, inv.seller_siren) = (None, None);
        }
        rec.findings.push(Finding::new(FindingCode::SellerIsEstablishment, Severity::Warning, "SIRET 26750045200003 de l'établissement").at("/seller_siret"));
        let v =
            crate::judge(&r, &Dossier { submission_id: rec.submission.submission_id, records: std::slice::from_ref(&rec), related: &[] }, chrono::Utc::now());
        let fin = v.objectives.iter().find(|o| o.objective == "D1.FIN").expect("D1.FIN");
        assert_eq!(fin.verdict, Verdict::NeedsReview, "{fin:#?}");
        let reason = fin.reasons.iter().find(|x| x.code == FindingCode::SellerIsEstablishment).expect("the reason");
        assert!(reason.message.starts_with("fa-1.pdf : ") && reason.message.contains("26750045200003"), "{}", reason.message);
        assert_eq!(reason.verdict, Verdict::NeedsReview);
    }

    /// The identifiers check does not run on the buyer's number: no finding either way
    /// about a SIRET that is not the seller's.
    #[test]
    fn identifiers_are_not_checked_on_the_establishments_number() {
        let referentials = crate::Referentials::shipped().unwrap();
        let r = referentials.for_campaign("care-d1-2024").unwrap();
        // The hospital's SIRET mistyped on the page (a wrong key), read as the seller's.
        let own = EstablishmentIdentifiers::checked("760000001", &["267500452".into()], &[]).unwrap();
        let mut records = vec![invoice(SubmissionId::new(), "fa-1.pdf", "26750045200004")];
        let before = crate::checks::check_evidence(&r, Kind::Invoice, &records[0].fields);
        assert!(before.iter().any(|f| f.code == caregate_schemas::FindingCode::SiretInvalid), "{before:?}");
        set_aside_establishment_identifiers(&mut records, &own);
        let after = crate::checks::check_evidence(&r, Kind::Invoice, &records[0].fields);
        assert!(!after.iter().any(|f| f.code == caregate_schemas::FindingCode::SiretInvalid), "{after:?}");
    }
}
