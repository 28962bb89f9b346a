//! Judging a whole submission: every objective of the referential gets `met`, `not_met`
//! or `needs_review`, with the reasons behind it and the evidence they rest on.
//!
//! The judge reads stored records only (kinds, extracted fields, findings), never the
//! files, so a submission can be judged again under a new referential without scanning
//! or parsing anything. It is a pure function: the same records, related records and
//! referential always give the same verdicts.
//!
//! How reasons combine: each reason says what it alone would make of the objective; the
//! objective takes the worst (`not_met` over `needs_review` over `met`). Evidence that
//! could not be read, or that a person must look at, always adds a `needs_review` reason,
//! so such an objective is never `met`.

use caregate_schemas::FindingCode;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::str::FromStr;

use caregate_schemas::extracted::{AdAudit, Host, Integrity, Invoice, InvoiceSource, Scan, AD_REPORT_TOOL};
use caregate_schemas::{invoice_number_key, EvidenceCheck, EvidenceRecord, Kind, ObjectiveVerdict, Reason, Status, SubmissionId, Verdict, Verification};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::checks::{check_evidence, evidence_date, is_critical};
use crate::{Objective, Referential, Rule};

/// What the judge is given about one submission.
pub struct Dossier<'a> {
    pub submission_id: SubmissionId,
    /// Every record of the submission, finished or not.
    pub records: &'a [EvidenceRecord],
    /// Records of *other* submissions holding the same bytes or the same invoice as one
    /// of this submission's (see [`EvidenceRecord::invoice_key`]).
    pub related: &'a [EvidenceRecord],
}

/// Judges a submission. `now` only stamps the result.
pub fn judge(r: &Referential, dossier: &Dossier<'_>, now: DateTime<Utc>) -> Verification {
    let records = dossier.records;
    let latest = records.iter().max_by_key(|rec| rec.updated_at);
    // The dossier is its first file's establishment's, in its campaign (as the index
    // fixes it); never the latest file's, which anyone could have sent last.
    let sub = records.iter().min_by_key(|rec| (rec.received_at, rec.evidence_id.to_string())).map(|rec| &rec.submission);
    let strangers: BTreeSet<(&str, &str)> = records
        .iter()
        .map(|rec| (rec.submission.establishment.as_str(), rec.submission.campaign.as_str()))
        .filter(|found| sub.is_some_and(|s| *found != (s.establishment.as_str(), s.campaign.as_str())))
        .collect();
    let done: Vec<&EvidenceRecord> = records.iter().filter(|rec| rec.status.is_terminal()).collect();
    let evidence: Vec<EvidenceCheck> = done
        .iter()
        .map(|rec| EvidenceCheck {
            evidence_id: rec.evidence_id,
            path: rec.path.clone(),
            kind: rec.kind,
            status: rec.status,
            findings: match (&rec.kind, rec.status) {
                (Some(kind), Status::Stored | Status::NeedsReview) => check_evidence(r, *kind, &rec.fields),
                _ => Vec::new(),
            },
        })
        .collect();
    let claimed: BTreeSet<&str> = records.iter().flat_map(|rec| rec.submission.objectives.iter().map(String::as_str)).collect();
    let ctx = Context {
        r,
        done: &done,
        checks: evidence.iter().map(|c| (c.evidence_id, c.findings.as_slice())).collect(),
        related: dossier.related,
        category: records.iter().rev().find_map(|rec| rec.submission.category.as_deref()),
        strangers: (!strangers.is_empty()).then(|| strangers.iter().map(|(e, c)| format!("{e} ({c})")).collect::<Vec<_>>().join(", ")),
    };
    let objectives: Vec<ObjectiveVerdict> = r.objectives.iter().map(|o| ctx.objective(o, claimed.contains(o.id.as_str()))).collect();
    Verification {
        submission_id: dossier.submission_id,
        establishment: sub.map(|s| s.establishment.clone()).unwrap_or_default(),
        campaign: sub.map(|s| s.campaign.clone()).unwrap_or_default(),
        referential_id: r.id.clone(),
        referential_version: r.version.clone(),
        basis: latest.map(|rec| rec.updated_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)).unwrap_or_default(),
        computed_at: now,
        // A scan stored before OCR read it says nothing yet: the dossier is judged again
        // once it has been read, and until then the verdicts are provisional.
        pending: records.len() - done.len() + done.iter().filter(|rec| rec.awaiting_ocr()).count(),
        verdict: objectives.iter().map(|o| o.verdict).max().unwrap_or(Verdict::NeedsReview),
        objectives,
        evidence,
    }
}

/// The same invoice: the same bytes, or the same seller SIREN and invoice number.
fn same_invoice(inv: &EvidenceRecord, other: &EvidenceRecord) -> bool {
    other.sha256 == inv.sha256 || inv.invoice_key().is_some_and(|key| other.invoice_key().as_deref() == Some(key.as_str()))
}

/// The other dossiers that hold one of this dossier's invoices, as `no_duplicate` finds
/// them. Each of them is judged on the same pair of files: the one sent first learns
/// of the second only if it is judged again too.
pub fn dossiers_sharing_invoices(dossier: &Dossier<'_>) -> BTreeSet<SubmissionId> {
    let invoices: Vec<&EvidenceRecord> = dossier.records.iter().filter(|rec| rec.status.is_terminal() && rec.is_invoice()).collect();
    dossier
        .related
        .iter()
        .filter(|other| other.submission.submission_id != dossier.submission_id && invoices.iter().any(|inv| same_invoice(inv, other)))
        .map(|other| other.submission.submission_id)
        .collect()
}

struct Context<'a> {
    r: &'a Referential,
    done: &'a [&'a EvidenceRecord],
    checks: std::collections::HashMap<caregate_schemas::EvidenceId, &'a [caregate_schemas::Finding]>,
    related: &'a [EvidenceRecord],
    category: Option<&'a str>,
    /// Other establishments or campaigns named by some of the dossier's records: such a
    /// dossier is never met (a database from before owners were fixed may hold one).
    strangers: Option<String>,
}

/// Reasons being gathered for one objective.
#[derive(Default)]
struct Reasons(Vec<Reason>);

impl Reasons {
    fn add(&mut self, code: FindingCode, verdict: Verdict, message: String, evidence: Option<&EvidenceRecord>, pointer: Option<&str>) {
        self.0.push(Reason { code, verdict, message, evidence_id: evidence.map(|e| e.evidence_id), pointer: pointer.map(str::to_owned) });
    }
}

fn fr_date(d: chrono::NaiveDate) -> String {
    d.format("%d/%m/%Y").to_string()
}

fn fr_amount(d: Decimal) -> String {
    format!("{} €", d.round_dp(2))
}

/// Amount an invoice adds to the claim: credit notes subtract, whichever sign they state.
fn signed_ttc(rec: &EvidenceRecord) -> Option<Decimal> {
    let ttc = rec.fields.invoice()?.total_ttc?;
    Some(if rec.kind == Some(Kind::CreditNote) { -ttc.abs() } else { ttc })
}

/// The order scans were made in: their start date, then when they were received.
/// What the judge makes of one audit report's level.
struct GradedReport {
    /// ANSSI level: the lowest among triggered rules with one, 5 when none.
    level: u8,
    /// The triggered rules at that level.
    holding: Vec<String>,
    /// Triggered rules the table does not list.
    unknown: Vec<String>,
    /// PingCastle's MaturityLevel as the table computes it; `None` when a rule is unknown.
    maturity: Option<u8>,
    /// The report's own MaturityLevel.
    stated_maturity: Option<u8>,
    /// Version key of the table used.
    table: Option<String>,
    /// The report's version when the table used is an older one's (no table for its own).
    newer_report: Option<String>,
    /// Why a PingCastle report was graded with no table.
    untabled: Option<String>,
}

impl GradedReport {
    /// A level the tool computed itself (ORADAD's results).
    fn stated(level: u8) -> Self {
        Self { level, holding: Vec::new(), unknown: Vec::new(), maturity: None, stated_maturity: None, table: None, newer_report: None, untabled: None }
    }
}

fn scan_order(rec: &EvidenceRecord) -> (Option<chrono::NaiveDate>, DateTime<Utc>) {
    (evidence_date(&rec.fields).map(|d| d.1), rec.received_at)
}

fn is_public(address: &str) -> bool {
    match IpAddr::from_str(address) {
        Ok(IpAddr::V4(a)) => !(a.is_private() || a.is_loopback() || a.is_link_local() || a.is_unspecified()),
        Ok(IpAddr::V6(a)) => !(a.is_loopback() || a.is_unspecified() || (a.segments()[0] & 0xfe00) == 0xfc00),
        // A host name: assumed public, it was scanned from outside.
        Err(_) => !address.is_empty(),
    }
}

/// A scan that reached a public address: a listed host, or a host its findings name.
fn reaches_public(scan: &Scan) -> bool {
    scan.hosts.iter().any(|h| is_public(&h.address)) || scan.items.iter().any(|i| is_public(&i.host))
}

/// An invoice whose figures OCR recognised: the extractor says so, it is an image, or
/// the recognition itself said it was unsure.
fn read_by_ocr(rec: &EvidenceRecord) -> bool {
    rec.fields.invoice().is_some_and(|i| i.source == InvoiceSource::Ocr)
        || [rec.media_type.as_deref(), rec.fields.media_type.as_deref()].into_iter().flatten().any(|m| m.starts_with("image/"))
        || rec.findings.iter().any(|f| f.code == FindingCode::OcrLowConfidence)
}

/// An OCR reading whose totals break arithmetic: the TTC as read, and HT + TVA. Either
/// may be the misread figure, so neither decides alone.
fn doubtful_totals(rec: &EvidenceRecord) -> Option<(Decimal, Decimal)> {
    let inv = rec.fields.invoice()?;
    let (ht, tva, ttc) = (inv.total_ht?, inv.total_tva?, inv.total_ttc?);
    (ht + tva != ttc && read_by_ocr(rec)).then_some((ttc, ht + tva))
}

/// The same as [`signed_ttc`] for the other reading of a doubtful invoice.
fn signed_alternative(rec: &EvidenceRecord) -> Option<Decimal> {
    let (_, sum) = doubtful_totals(rec)?;
    Some(if rec.kind == Some(Kind::CreditNote) { -sum.abs() } else { sum })
}

/// A financial report is a table of expenses: rows with amounts. A page of prose taken
/// for one (a cover letter) has none, and replaces nothing.
fn has_report_rows(rec: &EvidenceRecord) -> bool {
    rec.fields.financial_report().is_some_and(|r| r.rows.iter().any(|row| row.ttc.is_some() || row.ht.is_some()))
}

impl Context<'_> {
    fn findings_of(&self, rec: &EvidenceRecord) -> &[caregate_schemas::Finding] {
        self.checks.get(&rec.evidence_id).copied().unwrap_or(&[])
    }

    fn objective(&self, o: &Objective, claimed: bool) -> ObjectiveVerdict {
        let mut why = Reasons::default();
        if let Some(strangers) = &self.strangers {
            why.add(
                FindingCode::DossierMixedEstablishments,
                Verdict::NeedsReview,
                format!("le dossier contient des pièces déposées pour un autre établissement ou une autre campagne : {strangers}"),
                None,
                None,
            );
        }
        // A kind that is only a guess (`low_confidence`) counts where the uploader put the
        // file, not elsewhere: a diagram guessed to be an AD audit, tagged for D1.FIN,
        // neither proves the AD objectives nor holds them up for review.
        let guessed_elsewhere = |rec: &EvidenceRecord| {
            !rec.submission.objectives.is_empty()
                && !rec.submission.objectives.contains(&o.id)
                && rec.findings.iter().any(|f| f.code == FindingCode::LowConfidence)
        };
        let relevant: Vec<&EvidenceRecord> =
            self.done.iter().copied().filter(|rec| rec.kind.is_some_and(|k| o.accepts(k)) && !guessed_elsewhere(rec)).collect();
        let relevant_ids: std::collections::HashSet<_> = relevant.iter().map(|rec| rec.evidence_id).collect();

        // Files tagged for this objective that are not of a kind it accepts: unread ones
        // may be what proves it, read ones are noted and left out.
        for rec in self.done.iter().filter(|rec| rec.submission.objectives.contains(&o.id) && !relevant_ids.contains(&rec.evidence_id)) {
            if rec.fields.member_evidence.is_some() {
                continue; // an archive: its members are judged, not the archive
            }
            if rec.status == Status::Stored {
                why.add(
                    FindingCode::EvidenceNotApplicable,
                    Verdict::Met,
                    format!("{} déclarée pour {} mais reconnue comme « {} » : non prise en compte", rec.path, o.id, rec.kind.map_or("?", Kind::as_str)),
                    Some(rec),
                    None,
                );
            } else {
                why.add(FindingCode::EvidenceNeedsReview, Verdict::NeedsReview, unread_message(rec), Some(rec), None);
            }
        }
        for rec in relevant.iter().filter(|rec| rec.status != Status::Stored) {
            why.add(FindingCode::EvidenceNeedsReview, Verdict::NeedsReview, unread_message(rec), Some(rec), None);
        }
        let (relevant, private) = if o.public_scans_only { self.public_scans(relevant, &o.id, &mut why) } else { (relevant, Vec::new()) };

        // Only scans of private addresses: `no_public_host` already says why nothing proves it.
        if relevant.is_empty() && private.is_empty() {
            let otherwise = o
                .rules
                .iter()
                .find_map(|rule| match rule {
                    Rule::EvidencePresent { otherwise } => Some(otherwise.unwrap_or(Verdict::NotMet)),
                    _ => None,
                })
                .unwrap_or(Verdict::NotMet);
            let declared = if claimed { "objectif déclaré, " } else { "" };
            why.add(FindingCode::EvidenceMissing, otherwise, format!("{declared}aucune pièce recevable ({})", o.kinds.join(", ")), None, None);
        } else if !relevant.is_empty() {
            if o.rules.iter().any(|rule| matches!(rule, Rule::EvidencePresent { .. })) {
                let names: Vec<&str> = relevant.iter().map(|rec| rec.path.as_str()).collect();
                why.add(FindingCode::EvidencePresent, Verdict::Met, format!("{} pièce(s) recevable(s) : {}", relevant.len(), names.join(", ")), None, None);
            }
            for rule in &o.rules {
                self.rule(rule, &relevant, &mut why);
            }
        }
        let verdict = why.0.iter().map(|r| r.verdict).max().unwrap_or(Verdict::Met);
        ObjectiveVerdict {
            objective: o.id.clone(),
            title: o.title.clone(),
            verdict,
            claimed,
            evidence: relevant.iter().map(|rec| rec.evidence_id).collect(),
            reasons: why.0,
        }
    }

    /// Splits an objective's evidence into what it is judged on and the scans left out
    /// because they reached no public address (each said; `no_public_host` when no
    /// structured scan is left). Evidence that is not a structured scan stays: the rules
    /// say what they can of it.
    fn public_scans<'r>(&self, relevant: Vec<&'r EvidenceRecord>, objective: &str, why: &mut Reasons) -> (Vec<&'r EvidenceRecord>, Vec<&'r EvidenceRecord>) {
        let (kept, private): (Vec<&EvidenceRecord>, Vec<&EvidenceRecord>) = relevant.into_iter().partition(|rec| rec.fields.scan().is_none_or(reaches_public));
        if private.is_empty() {
            return (kept, private);
        }
        if kept.iter().any(|rec| rec.fields.scan().is_some()) {
            for rec in &private {
                why.add(
                    FindingCode::ScanNotPublic,
                    Verdict::Met,
                    format!(
                        "{} ne porte que sur des adresses privées : il ne dit rien de l'exposition sur internet, non pris en compte pour {objective}",
                        rec.path
                    ),
                    Some(rec),
                    Some("hosts"),
                );
            }
        } else {
            let names: Vec<&str> = private.iter().map(|rec| rec.path.as_str()).collect();
            why.add(
                FindingCode::NoPublicHost,
                Verdict::NotMet,
                format!("les scans ne portent que sur des adresses privées ({}) : l'exposition sur internet n'est pas démontrée", names.join(", ")),
                Some(private[0]),
                Some("hosts"),
            );
        }
        (kept, private)
    }

    fn rule(&self, rule: &Rule, relevant: &[&EvidenceRecord], why: &mut Reasons) {
        match rule {
            Rule::EvidencePresent { .. } => {}
            Rule::DateInWindow => self.date_in_window(relevant, why),
            Rule::DomainNamed => {
                for rec in relevant {
                    if let Some(f) = self.findings_of(rec).iter().find(|f| f.code == FindingCode::DomainMissing) {
                        why.add(FindingCode::DomainMissing, Verdict::NeedsReview, format!("{} : {}", rec.path, f.message), Some(rec), f.pointer.as_deref());
                    }
                }
            }
            Rule::ReportReadable => {
                for rec in relevant.iter().filter(|rec| rec.findings.iter().any(|f| f.code == FindingCode::EncryptedReport)) {
                    why.add(
                        FindingCode::EncryptedReport,
                        Verdict::NeedsReview,
                        format!("{} : rapport chiffré, contenu non vérifiable", rec.path),
                        Some(rec),
                        None,
                    );
                }
                let readable = relevant.iter().any(|rec| rec.status == Status::Stored && !rec.findings.iter().any(|f| f.code == FindingCode::OpaqueContent));
                if !readable {
                    why.add(
                        FindingCode::ReportUnreadable,
                        Verdict::NeedsReview,
                        "aucun rapport dont le contenu soit lisible par la plateforme (chiffré, opaque ou illisible)".into(),
                        None,
                        None,
                    );
                }
            }
            Rule::IntegrityValid => {
                for rec in relevant {
                    // Only PingCastle seals its rules; a report in prose has no seal to check.
                    match rec.fields.ad_audit().filter(|a| a.tool == "PingCastle").map(|a| a.integrity) {
                        Some(Integrity::Invalid) => why.add(
                            FindingCode::IntegrityMismatch,
                            Verdict::NotMet,
                            format!("{} : les règles du rapport ne correspondent pas à son empreinte d'intégrité (rapport modifié)", rec.path),
                            Some(rec),
                            Some("integrity"),
                        ),
                        Some(Integrity::Absent) => why.add(
                            FindingCode::IntegrityAbsent,
                            Verdict::NeedsReview,
                            format!("{} : rapport sans empreinte d'intégrité", rec.path),
                            Some(rec),
                            Some("integrity"),
                        ),
                        _ => {}
                    }
                }
            }
            Rule::AnssiLevelAtLeast { level, stated } => {
                self.anssi_level(level.unwrap_or(self.r.parameters.target_anssi_level), stated.unwrap_or(Verdict::NeedsReview), relevant, why)
            }
            Rule::ScanFinished => {
                for rec in relevant {
                    if self.findings_of(rec).iter().any(|f| f.code == FindingCode::ScanUnfinished) {
                        why.add(
                            FindingCode::ScanUnfinished,
                            Verdict::NeedsReview,
                            format!("{} : le scan ne s'est pas terminé", rec.path),
                            Some(rec),
                            Some("completed"),
                        );
                    }
                }
            }
            Rule::PublicHostScanned => self.public_host(relevant, why),
            Rule::NoHighRiskService => self.exposure(relevant, why),
            Rule::NoCriticalVulnerability => self.vulnerabilities(relevant, why),
            Rule::IdentifiersValid => {
                for rec in relevant {
                    for f in self.findings_of(rec).iter().filter(|f| f.code == FindingCode::SiretInvalid || f.code == FindingCode::VatIdInvalid) {
                        why.add(f.code, Verdict::NotMet, format!("{} : {}", rec.path, f.message), Some(rec), f.pointer.as_deref());
                    }
                    // The only identifier the reading found was the establishment's own (the
                    // buyer's): the seller's is unknown, for a controller to read.
                    for f in rec.findings.iter().filter(|f| f.code == FindingCode::SellerIsEstablishment) {
                        why.add(f.code, Verdict::NeedsReview, format!("{} : {}", rec.path, f.message), Some(rec), f.pointer.as_deref());
                    }
                }
            }
            Rule::TotalsConsistent { ocr } => {
                for rec in relevant {
                    for f in self.findings_of(rec) {
                        let verdict = match f.code {
                            FindingCode::TotalsInconsistent => Verdict::NotMet,
                            FindingCode::TotalsMissing => Verdict::NeedsReview,
                            _ => continue,
                        };
                        if let (Some((ttc, sum)), FindingCode::TotalsInconsistent) = (doubtful_totals(rec), f.code) {
                            why.add(
                                FindingCode::OcrTotalsInconsistent,
                                ocr.unwrap_or(Verdict::NeedsReview),
                                format!(
                                    "{} : totaux lus par OCR incohérents, deux lectures possibles : TTC lu {}, ou HT + TVA = {} ; quel montant porte la facture ?",
                                    rec.path,
                                    fr_amount(ttc),
                                    fr_amount(sum)
                                ),
                                Some(rec),
                                f.pointer.as_deref(),
                            );
                            continue;
                        }
                        why.add(f.code, verdict, format!("{} : {}", rec.path, f.message), Some(rec), f.pointer.as_deref());
                    }
                }
            }
            Rule::ReportMatchesInvoices { unreported } => self.report_matches_invoices(relevant, unreported.unwrap_or(Verdict::NeedsReview), why),
            Rule::WithinCeiling => self.within_ceiling(relevant, why),
            Rule::NoDuplicate => self.no_duplicate(relevant, why),
            Rule::SignaturesValid => signatures_valid(relevant, why),
            Rule::SignatureHolds { otherwise } => signature_holds(relevant, otherwise.unwrap_or(Verdict::NeedsReview), why),
        }
    }

    /// Invoices are each judged (one outside the programme is not eligible); for audits
    /// and scans one dated inside the window proves the work was done in time.
    fn date_in_window(&self, relevant: &[&EvidenceRecord], why: &mut Reasons) {
        let window = &self.r.window;
        let span = format!("{} – {}", fr_date(window.start), fr_date(window.end));
        let mut inside = None;
        let mut outside = Vec::new();
        let mut undated = Vec::new();
        for rec in relevant.iter().filter(|rec| rec.kind != Some(Kind::FinancialReport)) {
            match evidence_date(&rec.fields) {
                Some((field, d)) if window.contains(d) => inside = inside.or(Some((*rec, field, d))),
                Some((field, d)) => outside.push((*rec, field, d)),
                None => undated.push(*rec),
            }
        }
        let per_item = relevant.iter().any(|rec| rec.is_invoice());
        if per_item {
            for (rec, field, d) in outside {
                why.add(
                    FindingCode::DateOutsideWindow,
                    Verdict::NotMet,
                    format!("{} datée du {} hors de la période du programme ({span})", rec.path, fr_date(d)),
                    Some(rec),
                    Some(field),
                );
            }
            for rec in undated.into_iter().filter(|rec| rec.is_invoice()) {
                why.add(FindingCode::DateMissing, Verdict::NeedsReview, format!("{} : date absente ou illisible", rec.path), Some(rec), Some("issue_date"));
            }
            return;
        }
        match (inside, outside.first()) {
            (Some((rec, field, d)), _) => {
                why.add(FindingCode::DateInWindow, Verdict::Met, format!("{} datée du {} (période {span})", rec.path, fr_date(d)), Some(rec), Some(field))
            }
            (None, Some((rec, field, d))) => why.add(
                FindingCode::DateOutsideWindow,
                Verdict::NotMet,
                format!("{} datée du {} hors de la période du programme ({span})", rec.path, fr_date(*d)),
                Some(rec),
                Some(field),
            ),
            (None, None) => why.add(FindingCode::DateMissing, Verdict::NeedsReview, "aucune pièce ne porte de date lisible".into(), None, None),
        }
    }

    fn anssi_level(&self, target: u8, stated: Verdict, relevant: &[&EvidenceRecord], why: &mut Reasons) {
        // Only reports whose content can be trusted give a level; the latest one counts.
        // A level stated in a report's prose is the auditor's word: it counts only where no
        // report gives one that can be computed, and a person confirms it.
        let mut graded: Vec<(&EvidenceRecord, GradedReport)> = Vec::new();
        let mut declared: Vec<(&EvidenceRecord, u8)> = Vec::new();
        for rec in relevant {
            let Some(audit) = rec.fields.ad_audit() else { continue };
            if audit.tool == AD_REPORT_TOOL {
                if let Some(level) = audit.anssi_level {
                    declared.push((rec, level.clamp(1, 5) as u8));
                }
                continue;
            }
            if let Some(level) = audit.anssi_level {
                graded.push((rec, GradedReport::stated(level.clamp(1, 5) as u8)));
                continue;
            }
            if audit.tool != "PingCastle" || audit.integrity == Integrity::Invalid {
                continue;
            }
            graded.push((rec, self.pingcastle_level(audit)));
        }
        if graded.is_empty() {
            if let Some((rec, level)) = declared.into_iter().max_by_key(|(rec, _)| scan_order(rec)) {
                let dated = rec.fields.ad_audit().and_then(|a| a.date.as_deref()).and_then(|d| d.get(..10)).and_then(|d| d.parse::<chrono::NaiveDate>().ok());
                let dated = dated.map(|d| format!(" (audit du {})", fr_date(d))).unwrap_or_default();
                let message = if level < target {
                    format!("{} : niveau ANSSI {level} < cible {target}, déclaré par le rapport{dated}", rec.path)
                } else {
                    let question = if stated == Verdict::NeedsReview { " : ce niveau est-il attesté par les constats du rapport ?" } else { "" };
                    format!(
                        "{} : niveau ANSSI {level} ≥ cible {target} déclaré par le rapport{dated}, une déclaration du prestataire et non une mesure (aucune règle PingCastle pour le calculer){question}",
                        rec.path
                    )
                };
                let (code, verdict) = if level < target { (FindingCode::AdLevelBelowTarget, Verdict::NotMet) } else { (FindingCode::AdLevelDeclared, stated) };
                why.add(code, verdict, message, Some(rec), Some("anssi_level"));
                return;
            }
        }
        let Some((rec, graded)) = graded.into_iter().max_by_key(|(rec, _)| scan_order(rec)) else {
            // Nothing gives a level but a PingCastle report edited after PingCastle wrote
            // it: the rules it shows are not the ones found, so it demonstrates no level,
            // and no other report (encrypted, opaque) may yet: the level is not met. The
            // establishment proves it with the report as written.
            let edited = relevant.iter().find(|rec| rec.fields.ad_audit().is_some_and(|a| a.tool == "PingCastle" && a.integrity == Integrity::Invalid));
            let opaque = relevant.iter().any(|rec| rec.fields.ad_audit().is_none());
            if let (Some(rec), false) = (edited, opaque) {
                why.add(
                    FindingCode::IntegrityMismatch,
                    Verdict::NotMet,
                    format!(
                        "{} : seul rapport d'audit, ses règles ne correspondent plus à son empreinte d'intégrité (rapport modifié) : le niveau ANSSI n'est pas démontré",
                        rec.path
                    ),
                    Some(rec),
                    Some("integrity"),
                );
                return;
            }
            why.add(
                FindingCode::AdLevelUnknown,
                Verdict::NeedsReview,
                "aucun rapport d'audit dont on puisse déduire le niveau ANSSI (rapport PDF, ORADAD chiffré ou rapport modifié)".into(),
                None,
                None,
            );
            return;
        };
        let level = graded.level;
        let because = if graded.holding.is_empty() { String::new() } else { format!(" (règles : {})", graded.holding.join(", ")) };
        let table = match (graded.table, graded.untabled) {
            (Some(v), _) => match graded.newer_report {
                Some(report) => {
                    format!(", niveaux de PingCastle {v} (aucune table pour la version {report} du rapport : celle de la version antérieure la plus proche)")
                }
                None => format!(", niveaux de PingCastle {v}"),
            },
            (None, Some(why)) => format!(", {why}"),
            (None, None) => String::new(),
        };
        if let (Some(stated), Some(computed)) = (graded.stated_maturity, graded.maturity) {
            // The report's MaturityLevel is PingCastle's minimum over the same rules: another
            // value means the table does not grade this report's rules as its engine did. Only
            // a report graded under the target while we reach it leaves the level in doubt.
            if stated != computed {
                let verdict = if stated < target && level >= target { Verdict::NeedsReview } else { Verdict::Met };
                why.add(
                    FindingCode::AdMaturityMismatch,
                    verdict,
                    format!("{} : le rapport indique un niveau de maturité {stated}, les règles déclenchées donnent {computed}{table}", rec.path),
                    Some(rec),
                    Some("maturity_level"),
                );
            }
        }
        // A rule the table does not grade could be at any level: it leaves the level in doubt
        // only when the level reaches the target and the rule could hold it under it, which
        // the report's own MaturityLevel rules out when it reaches the target (a rule's
        // maturity is never above its ANSSI level).
        let doubtful = !graded.unknown.is_empty() && level >= target && target > 1 && graded.stated_maturity.is_none_or(|m| m < target);
        if level < target {
            why.add(
                FindingCode::AdLevelBelowTarget,
                Verdict::NotMet,
                format!("{} : niveau ANSSI {level} < cible {target}{because}{table}", rec.path),
                Some(rec),
                Some("rules"),
            );
        } else if doubtful {
            why.add(
                FindingCode::AdLevelUnconfirmed,
                Verdict::NeedsReview,
                format!("{} : niveau ANSSI {level} ≥ cible {target}{because}, mais règles sans niveau connu{table} : {}", rec.path, graded.unknown.join(", ")),
                Some(rec),
                Some("rules"),
            );
        } else {
            why.add(
                FindingCode::AdLevelReached,
                Verdict::Met,
                format!("{} : niveau ANSSI {level} ≥ cible {target}{because}{table}", rec.path),
                Some(rec),
                Some("rules"),
            );
        }
    }

    /// A PingCastle report's ANSSI level from the referential's table for its version.
    fn pingcastle_level(&self, audit: &AdAudit) -> GradedReport {
        let found = self.r.pingcastle_table(audit.tool_version.as_deref());
        let mut g = GradedReport {
            level: 5,
            holding: Vec::new(),
            unknown: Vec::new(),
            maturity: Some(5),
            stated_maturity: audit.maturity_level.map(|m| m.clamp(1, 5) as u8),
            table: found.map(|(v, _)| v.to_owned()),
            // A report of a version with no table of its own is graded with the nearest older
            // one, and told so: rules added since are unknown to it, and a rule regraded since
            // shows as a MaturityLevel that disagrees.
            newer_report: found.zip(audit.tool_version.as_deref()).and_then(|((v, _), report)| {
                let (key, full) = (crate::referential::pingcastle_version(v)?, crate::referential::pingcastle_version(report)?);
                (!full.starts_with(&key)).then(|| report.trim().to_owned())
            }),
            untabled: found.is_none().then(|| match audit.tool_version.as_deref() {
                Some(v) if crate::referential::pingcastle_version(v).is_some() => {
                    format!("aucune table de niveaux pour PingCastle {v}, version plus ancienne que celles du référentiel")
                }
                Some(v) => format!("version de PingCastle illisible ({v}), aucune table de niveaux"),
                None => "version de PingCastle absente du rapport, aucune table de niveaux".into(),
            }),
        };
        for rule in &audit.rules {
            let id = rule.risk_id.as_str();
            let Some(levels) = found.and_then(|(_, t)| t.get(id)) else {
                g.unknown.push(id.to_owned());
                // Its maturity is unknown too: no computed MaturityLevel to compare.
                g.maturity = None;
                continue;
            };
            g.maturity = g.maturity.map(|m| m.min(levels.maturity()));
            match levels.anssi {
                Some(l) if l < g.level => {
                    g.level = l;
                    g.holding = vec![id.to_owned()];
                }
                Some(l) if l == g.level => g.holding.push(id.to_owned()),
                _ => {}
            }
        }
        g
    }

    fn public_host(&self, relevant: &[&EvidenceRecord], why: &mut Reasons) {
        let scans: Vec<(&EvidenceRecord, &Scan)> =
            relevant.iter().filter_map(|rec| rec.fields.scan().filter(|s| !s.hosts.is_empty()).map(|s| (*rec, s))).collect();
        if scans.is_empty() {
            why.add(FindingCode::PublicHostUnknown, Verdict::NeedsReview, "aucun scan structuré ne liste les hôtes audités".into(), None, None);
            return;
        }
        for (rec, scan) in &scans {
            if let Some(addr) = scan.hosts.iter().map(|h| h.address.as_str()).find(|a| is_public(a)) {
                why.add(FindingCode::PublicHostScanned, Verdict::Met, format!("{} : hôte exposé {addr} audité", rec.path), Some(rec), Some("hosts"));
                return;
            }
        }
        why.add(FindingCode::NoPublicHost, Verdict::NotMet, "les scans ne portent que sur des adresses privées".into(), Some(scans[0].0), Some("hosts"));
    }

    /// High-risk services open to the internet, judged on the latest scan listing ports,
    /// compared with the earlier ones: fixed, still open, or new.
    fn exposure(&self, relevant: &[&EvidenceRecord], why: &mut Reasons) {
        // Only port scanners say a port is closed; a vulnerability scanner's host list
        // without ports says nothing about them.
        let lists_ports = |rec: &&EvidenceRecord| rec.fields.scan().is_some_and(|s| s.tool == "nmap" || s.hosts.iter().any(|h| !h.open_ports.is_empty()));
        let mut scans: Vec<&EvidenceRecord> = relevant.iter().copied().filter(lists_ports).collect();
        if scans.is_empty() {
            why.add(
                FindingCode::ExposureUnknown,
                Verdict::NeedsReview,
                "aucun scan structuré (nmap, Nessus, OpenVAS) pour vérifier les services exposés".into(),
                None,
                None,
            );
            return;
        }
        scans.sort_by_key(|rec| scan_order(rec));
        fn hosts(rec: &EvidenceRecord) -> &[Host] {
            rec.fields.scan().map_or(&[], |s| s.hosts.as_slice())
        }
        let exposed = |rec: &EvidenceRecord| -> BTreeMap<(String, u32), (String, String)> {
            let mut out = BTreeMap::new();
            for (h, host) in hosts(rec).iter().enumerate() {
                for (p, port) in host.open_ports.iter().enumerate() {
                    if self.r.parameters.high_risk_ports.iter().any(|&hr| u32::from(hr) == port.port) {
                        let service = port.service.clone().unwrap_or_else(|| "?".into());
                        out.insert((host.address.clone(), port.port), (service, format!("hosts.{h}.open_ports.{p}")));
                    }
                }
            }
            out
        };
        let latest = *scans.last().expect("not empty");
        let now_open = exposed(latest);
        let latest_hosts: BTreeSet<&str> = hosts(latest).iter().map(|h| h.address.as_str()).collect();
        let mut before: BTreeMap<(String, u32), (&EvidenceRecord, String)> = BTreeMap::new();
        for rec in &scans[..scans.len() - 1] {
            for (key, (service, _)) in exposed(rec) {
                before.entry(key).or_insert((rec, service));
            }
        }
        let when = |rec: &EvidenceRecord| scan_order(rec).0.map(fr_date).unwrap_or_else(|| "date inconnue".into());
        for ((address, port), (service, pointer)) in &now_open {
            let history = match before.get(&(address.clone(), *port)) {
                Some((earlier, _)) => format!("toujours ouvert depuis le scan du {}", when(earlier)),
                None if scans.len() > 1 => "nouveau depuis le scan précédent".into(),
                None => "aucun scan ultérieur".into(),
            };
            why.add(
                FindingCode::HighRiskServiceExposed,
                Verdict::NotMet,
                format!("service à risque exposé : {address} port {port} ({service}) au scan du {}, {history}", when(latest)),
                Some(latest),
                Some(pointer),
            );
        }
        for ((address, port), (earlier, service)) in before.iter().filter(|(k, _)| !now_open.contains_key(*k)) {
            if latest_hosts.contains(address.as_str()) {
                why.add(
                    FindingCode::ExposureFixed,
                    Verdict::Met,
                    format!("{address} port {port} ({service}) ouvert au scan du {}, fermé au scan du {}", when(earlier), when(latest)),
                    Some(latest),
                    None,
                );
            } else {
                why.add(
                    FindingCode::ExposureNotRescanned,
                    Verdict::NeedsReview,
                    format!("{address} port {port} ({service}) ouvert au scan du {} ; l'hôte n'apparaît pas dans le scan du {}", when(earlier), when(latest)),
                    Some(earlier),
                    None,
                );
            }
        }
    }

    /// Critical vulnerabilities, judged on the latest scan of each tool (plugin ids of
    /// one tool mean nothing to another), compared with that tool's earlier scans.
    fn vulnerabilities(&self, relevant: &[&EvidenceRecord], why: &mut Reasons) {
        let mut by_tool: BTreeMap<&str, Vec<&EvidenceRecord>> = BTreeMap::new();
        for rec in relevant.iter().copied() {
            if let Some(scan) = rec.fields.scan().filter(|s| s.vulnerabilities.is_some()) {
                by_tool.entry(scan.tool.as_str()).or_default().push(rec);
            }
        }
        if by_tool.is_empty() {
            why.add(
                FindingCode::VulnerabilityScanMissing,
                Verdict::NeedsReview,
                "aucun scan de vulnérabilités (Nessus, OpenVAS) : l'absence de vulnérabilité critique n'est pas démontrée".into(),
                None,
                None,
            );
            return;
        }
        let critical = |rec: &EvidenceRecord| -> BTreeMap<(String, String), (String, String)> {
            let mut out = BTreeMap::new();
            for (i, item) in rec.fields.scan().map_or(&[][..], |s| s.items.as_slice()).iter().enumerate() {
                if is_critical(self.r, item) {
                    out.insert((item.host.clone(), item.id.clone()), (item.name.clone(), format!("items.{i}")));
                }
            }
            out
        };
        for (tool, mut scans) in by_tool {
            scans.sort_by_key(|rec| scan_order(rec));
            let latest = *scans.last().expect("not empty");
            let now = critical(latest);
            for ((host, _), (name, pointer)) in &now {
                why.add(
                    FindingCode::CriticalVulnerability,
                    Verdict::NotMet,
                    format!("{} : vulnérabilité critique sur {host} : {name}", latest.path),
                    Some(latest),
                    Some(pointer),
                );
            }
            if now.is_empty() {
                why.add(
                    FindingCode::NoCriticalVulnerability,
                    Verdict::Met,
                    format!("{} : aucune vulnérabilité critique au dernier scan {tool}", latest.path),
                    Some(latest),
                    None,
                );
            }
            for rec in &scans[..scans.len() - 1] {
                for ((host, id), (name, _)) in critical(rec) {
                    if !now.contains_key(&(host.clone(), id)) {
                        why.add(
                            FindingCode::VulnerabilityFixed,
                            Verdict::Met,
                            format!("{host} : {name} (scan {}) absente du dernier scan {tool} ({})", rec.path, latest.path),
                            Some(latest),
                            None,
                        );
                    }
                }
            }
        }
    }

    /// The financial report in force: the last one received among those that are one
    /// by their content (rows with amounts).
    fn current_report<'r>(&self, relevant: &[&'r EvidenceRecord]) -> Option<&'r EvidenceRecord> {
        relevant
            .iter()
            .copied()
            .filter(|rec| rec.kind == Some(Kind::FinancialReport) && rec.status == Status::Stored && has_report_rows(rec))
            .max_by_key(|rec| (rec.received_at, rec.evidence_id.to_string()))
    }

    fn report_matches_invoices(&self, relevant: &[&EvidenceRecord], unreported: Verdict, why: &mut Reasons) {
        let report = self.current_report(relevant);
        for other in relevant.iter().filter(|rec| rec.kind == Some(Kind::FinancialReport) && report.is_none_or(|r| r.evidence_id != rec.evidence_id)) {
            if !has_report_rows(other) {
                let instead = report.map(|r| format!(" ; le bilan retenu reste {}", r.path)).unwrap_or_default();
                why.add(
                    FindingCode::ReportWithoutRows,
                    Verdict::Met,
                    format!("{} classé bilan financier mais sans lignes de dépenses ni montants (un courrier ?) : ce n'est pas un bilan{instead}", other.path),
                    Some(other),
                    Some("rows"),
                );
            } else if let Some(report) = report {
                why.add(FindingCode::ReportSuperseded, Verdict::Met, format!("{} remplacé par {}, reçu après", other.path, report.path), Some(other), None);
            }
        }
        let Some(report) = report else {
            why.add(
                FindingCode::ReportMissing,
                Verdict::NeedsReview,
                "aucun bilan financier lisible : les dépenses ne peuvent être rapprochées".into(),
                None,
                None,
            );
            return;
        };
        if let Some(f) = self.findings_of(report).iter().find(|f| f.code == FindingCode::ReportMismatch) {
            why.add(FindingCode::ReportMismatch, Verdict::NotMet, format!("{} : {}", report.path, f.message), Some(report), f.pointer.as_deref());
        }
        let invoices: Vec<&EvidenceRecord> = relevant.iter().copied().filter(|rec| rec.is_invoice()).collect();
        let mut matched = BTreeSet::new();
        let sheet = report.fields.financial_report().and_then(|r| r.sheet.as_deref());
        let rows = report.fields.financial_report().map_or(&[][..], |r| r.rows.as_slice());
        let invoice_text = |inv: &EvidenceRecord, field: fn(&Invoice) -> &Option<String>| -> Option<String> {
            inv.fields.invoice().and_then(|i| field(i).clone()).filter(|s| !s.is_empty())
        };
        for (i, row) in rows.iter().enumerate() {
            let number = row.number.as_deref().filter(|s| !s.is_empty());
            let row_ttc = row.ttc;
            let siret = row.siret.as_deref().filter(|s| !s.is_empty());
            let found = invoices.iter().find(|inv| match (number, invoice_text(inv, |i| &i.number)) {
                (Some(a), Some(b)) => invoice_number_key(a) == invoice_number_key(&b),
                _ => false,
            });
            // Without a number, the same seller and amount identify the invoice.
            let found = found.or_else(|| {
                invoices.iter().find(|inv| {
                    siret.is_some() && invoice_text(inv, |i| &i.seller_siret).as_deref() == siret && row_ttc.is_some() && signed_ttc(inv) == row_ttc
                })
            });
            // The field, and where a person finds the row in the file.
            let pointer = match (row.line, sheet) {
                (Some(l), Some(sheet)) => format!("rows.{i} ({sheet}, ligne {l})"),
                (Some(l), None) => format!("rows.{i} (ligne {l})"),
                _ => format!("rows.{i}"),
            };
            let label = number.map(|n| format!("facture {n}")).unwrap_or_else(|| format!("ligne {}", i + 1));
            let supplier = row.supplier.as_deref().map(|s| format!(" ({s})")).unwrap_or_default();
            match found {
                None => why.add(
                    FindingCode::InvoiceMissing,
                    Verdict::NeedsReview,
                    format!("{} : {label}{supplier} listée au bilan mais non fournie", report.path),
                    Some(report),
                    Some(&pointer),
                ),
                Some(inv) => {
                    matched.insert(inv.evidence_id);
                    if let (Some(a), Some(b)) = (row_ttc, signed_ttc(inv)) {
                        if a != b && signed_alternative(inv).is_some() {
                            // The invoice's own figures disagree, as OCR read them: the
                            // report may well be right.
                            why.add(
                                FindingCode::ReportMismatch,
                                Verdict::NeedsReview,
                                format!(
                                    "{} : {label} à {} au bilan ; la facture {} lue par OCR donne {} TTC, ou {} par HT + TVA : laquelle est juste ?",
                                    report.path,
                                    fr_amount(a),
                                    inv.path,
                                    fr_amount(b),
                                    fr_amount(signed_alternative(inv).unwrap_or(b))
                                ),
                                Some(report),
                                Some(&pointer),
                            );
                        } else if a != b && read_by_ocr(inv) {
                            // A figure OCR read (a stain, a fold) against the report: a
                            // misreading is likelier than a false claim, so a person looks.
                            why.add(
                                FindingCode::ReportMismatch,
                                Verdict::NeedsReview,
                                format!(
                                    "{} : {label} à {} au bilan ; la facture {} lue par OCR donne {} TTC : le chiffre a-t-il été mal lu ?",
                                    report.path,
                                    fr_amount(a),
                                    inv.path,
                                    fr_amount(b)
                                ),
                                Some(report),
                                Some(&pointer),
                            );
                        } else if a != b {
                            why.add(
                                FindingCode::ReportMismatch,
                                Verdict::NotMet,
                                format!("{} : {label} à {} au bilan, {} sur la facture {}", report.path, fr_amount(a), fr_amount(b), inv.path),
                                Some(report),
                                Some(&pointer),
                            );
                        }
                    }
                }
            }
        }
        for inv in invoices.iter().filter(|inv| !matched.contains(&inv.evidence_id)) {
            why.add(
                FindingCode::InvoiceNotReported,
                unreported,
                format!("{} fournie mais absente du bilan {} : fait-elle partie des dépenses déclarées ?", inv.path, report.path),
                Some(inv),
                None,
            );
        }
    }

    fn within_ceiling(&self, relevant: &[&EvidenceRecord], why: &mut Reasons) {
        let report = self.current_report(relevant);
        let (total, source) = match report.and_then(|rec| rec.fields.financial_report()?.totals.ttc) {
            Some(t) => (t, format!("total du bilan {}", report.map(|r| r.path.as_str()).unwrap_or(""))),
            None => {
                let mut seen = std::collections::HashSet::new();
                let sum: Decimal = relevant.iter().filter(|rec| rec.is_invoice() && seen.insert(rec.sha256)).filter_map(|rec| signed_ttc(rec)).sum();
                (sum, "somme des factures".to_owned())
            }
        };
        // Invoices whose OCR-read totals disagree count with their other reading too: the
        // ceiling is exceeded only if it is by both.
        let alternative = report.and_then(|rec| rec.fields.financial_report()?.totals.ttc).is_none().then(|| {
            let mut seen = std::collections::HashSet::new();
            let invoices: Vec<&&EvidenceRecord> = relevant.iter().filter(|rec| rec.is_invoice() && seen.insert(rec.sha256)).collect();
            invoices
                .iter()
                .any(|rec| signed_alternative(rec).is_some())
                .then(|| invoices.iter().filter_map(|rec| signed_alternative(rec).or_else(|| signed_ttc(rec))).sum::<Decimal>())
        });
        let Some(category) = self.category else {
            why.add(
                FindingCode::CeilingUnknown,
                Verdict::NeedsReview,
                format!("catégorie de l'établissement inconnue : plafond non vérifiable ({source} : {})", fr_amount(total)),
                None,
                None,
            );
            return;
        };
        let Some(&ceiling) = self.r.ceilings.get(category) else {
            why.add(FindingCode::CeilingUnknown, Verdict::NeedsReview, format!("catégorie « {category} » sans plafond dans le référentiel"), None, None);
            return;
        };
        if let Some(other) = alternative.flatten().filter(|other| total > ceiling && *other <= ceiling) {
            why.add(
                FindingCode::CeilingExceeded,
                Verdict::NeedsReview,
                format!(
                    "{source} : {} > plafond {} ({category}) tel que l'OCR a lu les totaux, mais {} en prenant HT + TVA des factures incohérentes : quelle lecture est la bonne ?",
                    fr_amount(total),
                    fr_amount(ceiling),
                    fr_amount(other)
                ),
                None,
                None,
            );
        } else if total > ceiling {
            why.add(
                FindingCode::CeilingExceeded,
                Verdict::NotMet,
                format!("{source} : {} > plafond {} ({category})", fr_amount(total), fr_amount(ceiling)),
                report,
                Some("totals.ttc"),
            );
        } else {
            why.add(
                FindingCode::WithinCeiling,
                Verdict::Met,
                format!("{source} : {} ≤ plafond {} ({category})", fr_amount(total), fr_amount(ceiling)),
                report,
                None,
            );
        }
    }

    /// The same invoice twice: the same bytes again in this submission count once; the
    /// same invoice in other bytes, or in another submission, goes to a controller (a
    /// GHT may legitimately share an invoice between its establishments).
    fn no_duplicate(&self, relevant: &[&EvidenceRecord], why: &mut Reasons) {
        let invoices: Vec<&EvidenceRecord> = relevant.iter().copied().filter(|rec| rec.is_invoice()).collect();
        let mut by_key: BTreeMap<String, Vec<&EvidenceRecord>> = BTreeMap::new();
        for inv in &invoices {
            if let Some(key) = inv.invoice_key() {
                by_key.entry(key).or_default().push(inv);
            }
        }
        for (i, inv) in invoices.iter().enumerate() {
            if let Some(first) = invoices[..i].iter().find(|o| o.sha256 == inv.sha256) {
                why.add(
                    FindingCode::SameFileTwice,
                    Verdict::Met,
                    format!("{} et {} sont le même fichier : compté une fois", first.path, inv.path),
                    Some(inv),
                    None,
                );
            }
        }
        for group in by_key.values() {
            let mut distinct: Vec<&EvidenceRecord> = Vec::new();
            for inv in group {
                if !distinct.iter().any(|d| d.sha256 == inv.sha256) {
                    distinct.push(inv);
                }
            }
            if distinct.len() > 1 {
                let number = distinct[0].fields.invoice().and_then(|i| i.number.as_deref()).unwrap_or("?");
                let paths: Vec<&str> = distinct.iter().map(|d| d.path.as_str()).collect();
                why.add(
                    FindingCode::DuplicateSubmission,
                    Verdict::NeedsReview,
                    format!("facture {number} fournie plusieurs fois dans ce dossier : {}", paths.join(", ")),
                    Some(distinct[1]),
                    Some("number"),
                );
            }
        }
        for inv in &invoices {
            for other in self.related.iter().filter(|o| same_invoice(inv, o)) {
                let same = if other.sha256 == inv.sha256 { "le même fichier" } else { "la même facture (même vendeur et numéro)" };
                let who = if other.submission.establishment == self.done.first().map(|r| r.submission.establishment.as_str()).unwrap_or("") {
                    "dans un autre dossier du même établissement".to_owned()
                } else {
                    format!("par l'établissement {}", other.submission.establishment)
                };
                why.add(
                    FindingCode::DuplicateSubmission,
                    Verdict::NeedsReview,
                    format!("{} : {same} a déjà été soumis {who} (dossier {}, pièce {})", inv.path, other.submission.submission_id, other.path),
                    Some(inv),
                    Some("number"),
                );
            }
        }
    }
}

/// Each signature as validated when the file was read (or re-validated since).
fn signatures_valid(relevant: &[&EvidenceRecord], why: &mut Reasons) {
    use caregate_schemas::extracted::Indication;
    for rec in relevant {
        let Some(doc) = rec.fields.document.as_ref() else { continue };
        for (i, sig) in doc.signatures.iter().enumerate() {
            let Some(v) = &sig.validation else { continue };
            let signer = v.chain.first().map(String::as_str).unwrap_or("signataire inconnu");
            let detail = v.sub_indication.map(|s| format!(" : {} ({})", s.label_fr(), s.code())).unwrap_or_default();
            let pointer = format!("document.signatures.{i}.validation");
            let (code, verdict) = match v.indication {
                Indication::TotalPassed => continue,
                Indication::TotalFailed => (FindingCode::SignatureInvalid, Verdict::NotMet),
                Indication::Indeterminate => (FindingCode::SignatureIndeterminate, Verdict::NeedsReview),
            };
            why.add(code, verdict, format!("{} : signature {} de {signer} {}{detail}", rec.path, i + 1, v.indication.label_fr()), Some(rec), Some(&pointer));
        }
    }
}

/// An evidence proves the objective only when one of its electronic signatures holds;
/// otherwise the controller is asked whether to accept it anyway.
fn signature_holds(relevant: &[&EvidenceRecord], otherwise: Verdict, why: &mut Reasons) {
    use caregate_schemas::extracted::Indication;
    let signatures = |rec: &EvidenceRecord| rec.fields.document.as_ref().map_or(Vec::new(), |d| d.signatures.clone());
    let holding = relevant.iter().find_map(|rec| {
        let signatures = signatures(rec);
        let i = signatures.iter().position(|s| s.validation.as_ref().is_some_and(|v| v.indication == Indication::TotalPassed))?;
        let v = signatures[i].validation.clone()?;
        Some((*rec, i, v))
    });
    if let Some((rec, i, v)) = holding {
        let signer = v.chain.first().map(String::as_str).unwrap_or("signataire inconnu");
        why.add(
            FindingCode::SignatureHolds,
            Verdict::Met,
            format!("{} : signature {} de {signer} valide", rec.path, i + 1),
            Some(rec),
            Some(&format!("document.signatures.{i}.validation")),
        );
        return;
    }
    for rec in relevant {
        let this = if rec.kind == Some(Kind::Attestation) { "cette attestation" } else { "cette pièce" };
        let signatures = signatures(rec);
        let Some(first) = signatures.first() else {
            why.add(
                FindingCode::SignatureAbsent,
                otherwise,
                format!("{} : aucune signature électronique ; {this} n'est pas signée : l'accepter ?", rec.path),
                Some(rec),
                Some("document.signatures"),
            );
            continue;
        };
        let state = match &first.validation {
            Some(v) => format!("signature {}{}", v.indication.label_fr(), v.sub_indication.map(|s| format!(", {}", s.code())).unwrap_or_default()),
            None => "signature non validée".to_owned(),
        };
        why.add(
            FindingCode::SignatureUnconfirmed,
            otherwise,
            format!("{} : {state} ; la signature de {this} n'est pas confirmée : l'accepter ?", rec.path),
            Some(rec),
            Some("document.signatures.0.validation"),
        );
    }
}

fn unread_message(rec: &EvidenceRecord) -> String {
    let codes: Vec<&str> = rec.findings.iter().filter(|f| f.severity >= caregate_schemas::Severity::Warning).map(|f| f.code.as_str()).collect();
    let state = match rec.status {
        Status::Infected => "infectée, gardée en quarantaine",
        Status::Failed => "non traitée (échec)",
        _ => "à examiner",
    };
    if codes.is_empty() {
        format!("{} : pièce {state}", rec.path)
    } else {
        format!("{} : pièce {state} ({})", rec.path, codes.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use caregate_schemas::{EvidenceId, Sha256Digest, SubmissionRef};

    /// Every code the judge can give with a `needs_review` verdict asks the controller a
    /// question (schemas' vocabulary), so a new reason cannot reach the console without
    /// one. Read from this file's source: a code is written with a verdict that can only
    /// be met or not met when every mention of it is `FindingCode::X, Verdict::Met` (or
    /// `NotMet`, or `=> Verdict::…` in a match); any other mention (a verdict from the
    /// referential, a variable, a finding passed on) may be a review, and needs a question.
    #[test]
    fn every_reason_that_can_hold_an_objective_for_review_asks_a_question() {
        let source = include_str!("judge.rs");
        let judge = source.split("#[cfg(test)]").next().expect("the judge before its tests");
        let flat: String = judge.chars().filter(|c| !c.is_whitespace()).collect();
        let mut settled_only: BTreeMap<FindingCode, bool> = BTreeMap::new();
        for (at, _) in flat.match_indices("FindingCode::") {
            let rest = &flat[at + "FindingCode::".len()..];
            let name: String = rest.chars().take_while(char::is_ascii_alphanumeric).collect();
            let Some(code) = FindingCode::ALL.into_iter().find(|c| format!("{c:?}") == name) else { continue };
            let after = &rest[name.len()..];
            let settled = [",Verdict::Met,", ",Verdict::NotMet,", ",Verdict::Met)", ",Verdict::NotMet)", "=>Verdict::Met,", "=>Verdict::NotMet,"]
                .iter()
                .any(|v| after.starts_with(v));
            *settled_only.entry(code).or_insert(true) &= settled;
        }
        assert!(settled_only.len() > 40, "the judge's codes are read: {settled_only:?}");
        // The decisions' reason laid over the machine's (schemas' `with_decisions`).
        settled_only.insert(FindingCode::ControllerRequestedInformation, false);
        let missing: Vec<_> = settled_only.iter().filter(|(c, settled)| !**settled && c.question().is_none()).map(|(c, _)| c.as_str()).collect();
        assert!(missing.is_empty(), "codes the judge can give for review without a question for the controller (schemas/src/vocabulary.rs): {missing:?}");
        // And the ones this reading calls settled are: the ones named here are.
        for code in [FindingCode::EvidencePresent, FindingCode::SignatureHolds, FindingCode::HighRiskServiceExposed] {
            assert_eq!(settled_only.get(&code), Some(&true), "{code}");
        }
        for code in [FindingCode::SignatureAbsent, FindingCode::EvidenceMissing, FindingCode::InvoiceNotReported, FindingCode::TotalsMissing] {
            assert_eq!(settled_only.get(&code), Some(&false), "{code}");
        }
    }

    /// Every reason the judge gives for review in these tests' dossiers asks its question.
    fn asks(v: &Verification) {
        for o in &v.objectives {
            for r in o.reasons.iter().filter(|r| r.verdict == Verdict::NeedsReview) {
                assert!(r.question(None).is_some(), "{}: {} has no question", o.objective, r.code);
            }
        }
    }

    /// A file the machine could not read asks the question of its own finding (a scan
    /// without text), not only the general one.
    #[test]
    fn an_unread_file_asks_what_its_finding_asks() {
        let mut scan = record(SubmissionId::new(), "750000001", Utc::now());
        scan.status = Status::NeedsReview;
        scan.findings.push(caregate_schemas::Finding::new(FindingCode::NoText, caregate_schemas::Severity::Warning, "aucun texte"));
        let v = judged(std::slice::from_ref(&scan), &[]);
        let why = reason(&v, "D1.PRE", Verdict::NeedsReview, FindingCode::EvidenceNeedsReview);
        assert_eq!(why.question(Some(&scan)), FindingCode::NoText.question());
        assert_eq!(why.question(None), FindingCode::EvidenceNeedsReview.question());
        scan.findings.clear();
        assert_eq!(why.question(Some(&scan)), FindingCode::EvidenceNeedsReview.question(), "no finding of its own: the general question");
    }

    fn record(submission: SubmissionId, establishment: &str, received_at: DateTime<Utc>) -> EvidenceRecord {
        let sub = SubmissionRef {
            submission_id: submission,
            establishment: establishment.into(),
            campaign: "care-d1-2024".into(),
            objectives: vec!["D1.PRE".into()],
            category: None,
        };
        let mut rec = EvidenceRecord::received(EvidenceId::new(), sub, "attestation.pdf".into(), Sha256Digest::of(establishment.as_bytes()), 1, "q".into());
        rec.status = Status::Stored;
        rec.kind = Some(Kind::Attestation);
        rec.received_at = received_at;
        rec.updated_at = received_at;
        rec
    }

    /// A dossier is its first file's establishment's, whoever sent the latest file, and a
    /// dossier naming two establishments meets nothing.
    #[test]
    fn a_mixed_dossier_is_its_first_establishments_and_meets_nothing() {
        let referentials = crate::Referentials::shipped().unwrap();
        let r = referentials.for_campaign("care-d1-2024").unwrap();
        let id = SubmissionId::new();
        let t0 = Utc::now() - chrono::Duration::hours(1);
        let own = record(id, "750000001", t0);
        let alone = judge(&r, &Dossier { submission_id: id, records: std::slice::from_ref(&own), related: &[] }, Utc::now());
        assert_eq!(alone.establishment, "750000001");
        assert!(alone.objectives.iter().all(|o| o.reasons.iter().all(|x| x.code != FindingCode::DossierMixedEstablishments)));

        let foreign = record(id, "690781810", t0 + chrono::Duration::minutes(5));
        let mixed = judge(&r, &Dossier { submission_id: id, records: &[foreign, own], related: &[] }, Utc::now());
        assert_eq!(mixed.establishment, "750000001", "the first file's, not the latest's");
        for o in &mixed.objectives {
            assert_ne!(o.verdict, Verdict::Met, "{}", o.objective);
            assert!(o.reasons.iter().any(|x| x.code == FindingCode::DossierMixedEstablishments && x.message.contains("690781810")), "{}", o.objective);
        }
    }
    /// A file whose kind is a guess sends to review only the objectives it was tagged
    /// for: a diagram guessed to be an AD audit report, tagged D1.FIN, leaves the AD
    /// objectives as they were, and holds D1.FIN up.
    #[test]
    fn a_guessed_kind_affects_only_the_objectives_the_file_was_tagged_for() {
        let id = SubmissionId::new();
        let report = evidence(id, "ad_hc.xml", Kind::AdAuditReport, serde_json::json!({"content": "none"}), 1);
        let before = judged(std::slice::from_ref(&report), &[]);
        let mut diagram = evidence(id, "schema.png", Kind::AdAuditReport, serde_json::json!({"content": "none"}), 2);
        diagram.status = Status::NeedsReview;
        diagram.submission.objectives = vec!["D1.FIN".into()];
        diagram.findings.push(caregate_schemas::Finding::new(
            FindingCode::LowConfidence,
            caregate_schemas::Severity::Warning,
            "lu comme « rapport d'audit AD »",
        ));
        let after = judged(&[report.clone(), diagram.clone()], &[]);
        for id in ["D1.AD.AUDIT", "D1.AD.LEVEL"] {
            assert_eq!(objective(&after, id).0, objective(&before, id).0, "{id}");
            assert!(!has(&after, id, FindingCode::EvidenceNeedsReview), "{id}");
        }
        assert!(has(&after, "D1.FIN", FindingCode::EvidenceNeedsReview));
        // Untagged, or tagged for them, it holds the AD objectives up as before.
        diagram.submission.objectives = vec!["D1.AD.AUDIT".into()];
        assert!(has(&judged(&[report.clone(), diagram.clone()], &[]), "D1.AD.AUDIT", FindingCode::EvidenceNeedsReview));
        diagram.submission.objectives.clear();
        assert!(has(&judged(&[report, diagram], &[]), "D1.AD.LEVEL", FindingCode::EvidenceNeedsReview));
    }

    /// A stored record of `kind` with these fields (as JSON, read back typed as the index
    /// does), received `order` seconds after the first.
    fn evidence(sub: SubmissionId, path: &str, kind: Kind, fields: serde_json::Value, order: i64) -> EvidenceRecord {
        let t0 = DateTime::parse_from_rfc3339("2024-10-01T09:00:00Z").unwrap().with_timezone(&Utc);
        let mut rec = record(sub, "750000001", t0 + chrono::Duration::seconds(order));
        rec.submission.category = Some("public".into());
        rec.path = path.into();
        rec.sha256 = Sha256Digest::of(path.as_bytes());
        rec.kind = Some(kind);
        rec.fields = serde_json::from_value(fields).expect("fields");
        rec
    }

    fn judged(records: &[EvidenceRecord], related: &[EvidenceRecord]) -> Verification {
        let referentials = crate::Referentials::shipped().unwrap();
        let r = referentials.for_campaign("care-d1-2024").unwrap();
        let v = judge(&r, &Dossier { submission_id: records[0].submission.submission_id, records, related }, Utc::now());
        asks(&v);
        v
    }

    /// An objective's verdict and its reasons.
    fn objective<'v>(v: &'v Verification, id: &str) -> (Verdict, Vec<&'v Reason>) {
        let o = v.objectives.iter().find(|o| o.objective == id).unwrap();
        (o.verdict, o.reasons.iter().collect())
    }

    #[track_caller]
    fn reason<'v>(v: &'v Verification, id: &str, verdict: Verdict, code: FindingCode) -> &'v Reason {
        let (got, reasons) = objective(v, id);
        let codes: Vec<&str> = reasons.iter().map(|r| r.code.as_str()).collect();
        assert_eq!(got, verdict, "{id}: {codes:?}");
        reasons.into_iter().find(|r| r.code == code).unwrap_or_else(|| panic!("{id}: no {code} in {codes:?}"))
    }

    fn has(v: &Verification, id: &str, code: FindingCode) -> bool {
        objective(v, id).1.iter().any(|r| r.code == code)
    }

    fn attestation(sub: SubmissionId, signatures: serde_json::Value) -> EvidenceRecord {
        let mut fields =
            serde_json::json!({"content": "attestation", "signed": false, "date": "2024-09-02", "summary": "J'atteste que les prérequis sont remplis."});
        if signatures.as_array().is_some_and(|s| !s.is_empty()) {
            fields["signed"] = true.into();
            fields["document"] = serde_json::json!({"version": "1.7", "pages": 1, "encrypted": false, "signatures": signatures, "embedded_files": [],
                                                     "active_content": [], "unreadable_pages": 0, "repaired": false});
        }
        evidence(sub, "attestation.pdf", Kind::Attestation, fields, 0)
    }

    fn signature(indication: &str, sub_indication: Option<&str>) -> serde_json::Value {
        serde_json::json!({
            "sub_filter": "ETSI.CAdES.detached", "byte_range": [0, 10, 20, 30], "covers_whole_file": true, "covers_revision": true,
            "validation": {"indication": indication, "sub_indication": sub_indication, "intact": true, "trusted": indication == "TOTAL_PASSED",
                           "chain": ["CN=Directrice, O=CH Exemple"], "revocation": "not_checked", "time_source": "claimed",
                           "judged_at": "2024-09-02T10:00:00Z", "timestamp": null, "pades_level": "B-B", "modification_level": "none",
                           "certification": null, "modifications_permitted": true, "validated_at": "2024-10-01T09:00:00Z", "trust_anchors": 1}
        })
    }

    /// D1.PRE is met on an attestation whose signature holds, and on nothing weaker: an
    /// unsigned one, or one whose signature is not confirmed, asks the controller.
    #[test]
    fn an_attestation_meets_its_objective_only_when_its_signature_holds() {
        let id = SubmissionId::new();
        let unsigned = judged(&[attestation(id, serde_json::json!([]))], &[]);
        let why = reason(&unsigned, "D1.PRE", Verdict::NeedsReview, FindingCode::SignatureAbsent);
        assert!(why.message.ends_with("cette attestation n'est pas signée : l'accepter ?"), "{}", why.message);
        assert_eq!(why.pointer.as_deref(), Some("document.signatures"));
        assert!(why.evidence_id.is_some());

        let unknown_ca = judged(&[attestation(id, serde_json::json!([signature("INDETERMINATE", Some("NO_CERTIFICATE_CHAIN_FOUND"))]))], &[]);
        let why = reason(&unknown_ca, "D1.PRE", Verdict::NeedsReview, FindingCode::SignatureUnconfirmed);
        assert!(why.message.contains("NO_CERTIFICATE_CHAIN_FOUND") && why.message.ends_with("l'accepter ?"), "{}", why.message);
        let mut never_validated = signature("TOTAL_PASSED", None);
        never_validated.as_object_mut().unwrap().remove("validation");
        let old = judged(&[attestation(id, serde_json::json!([never_validated]))], &[]);
        assert!(reason(&old, "D1.PRE", Verdict::NeedsReview, FindingCode::SignatureUnconfirmed).message.contains("non validée"));

        let holds = judged(&[attestation(id, serde_json::json!([signature("TOTAL_PASSED", None)]))], &[]);
        let why = reason(&holds, "D1.PRE", Verdict::Met, FindingCode::SignatureHolds);
        assert!(why.message.contains("CN=Directrice"), "{}", why.message);
        // A signature that fails is not met, whatever the controller is asked.
        let failed = judged(&[attestation(id, serde_json::json!([signature("TOTAL_FAILED", Some("HASH_FAILURE"))]))], &[]);
        reason(&failed, "D1.PRE", Verdict::NotMet, FindingCode::SignatureInvalid);
    }

    fn nmap(sub: SubmissionId, path: &str, address: &str, ports: &[u32], order: i64) -> EvidenceRecord {
        let open: Vec<serde_json::Value> = ports.iter().map(|p| serde_json::json!({"port": p, "protocol": "tcp", "service": "svc"})).collect();
        let fields = serde_json::json!({"content": "scan", "tool": "nmap", "started": "2024-09-16T09:00:00+00:00", "completed": true, "host_count": 1, "items": [],
                                        "hosts": [{"address": address, "hostnames": [], "open_ports": open}]});
        evidence(sub, path, Kind::ExposureScan, fields, order)
    }

    fn nessus(sub: SubmissionId, address: &str, order: i64) -> EvidenceRecord {
        let fields = serde_json::json!({"content": "scan", "tool": "Nessus", "started": "2024-09-16T10:00:00+00:00", "completed": true, "host_count": 1,
                                        "hosts": [{"address": address, "hostnames": [], "open_ports": []}], "items": [],
                                        "vulnerabilities": {"critical": 0, "high": 0, "medium": 0, "low": 0, "info": 0}});
        evidence(sub, "interne.nessus", Kind::VulnerabilityScan, fields, order)
    }

    /// Remediation is judged on what the internet sees: scans of private addresses alone
    /// leave it not met, as the audit; beside a public scan they are left out, said.
    #[test]
    fn remediation_is_judged_on_scans_that_reached_a_public_address() {
        let id = SubmissionId::new();
        let internal = [nmap(id, "interne.xml", "10.1.2.3", &[443], 0), nessus(id, "10.1.2.3", 1)];
        let v = judged(&internal, &[]);
        reason(&v, "D1.EXP.AUDIT", Verdict::NotMet, FindingCode::NoPublicHost);
        let why = reason(&v, "D1.EXP.REMED", Verdict::NotMet, FindingCode::NoPublicHost);
        assert!(why.message.contains("interne.xml") && why.message.contains("interne.nessus"), "{}", why.message);
        assert!(!has(&v, "D1.EXP.REMED", FindingCode::NoCriticalVulnerability) && !has(&v, "D1.EXP.REMED", FindingCode::EvidenceMissing));

        // RDP open on an internal host says nothing of the internet; the public host's
        // scan decides.
        let both = [nmap(id, "interne.xml", "10.1.2.3", &[3389], 0), nmap(id, "externe.xml", "203.0.113.7", &[443], 1), nessus(id, "203.0.113.7", 2)];
        let v = judged(&both, &[]);
        let (verdict, reasons) = objective(&v, "D1.EXP.REMED");
        assert_eq!(verdict, Verdict::Met, "{reasons:?}");
        assert!(reasons.iter().any(|r| r.code == FindingCode::ScanNotPublic && r.message.starts_with("interne.xml")), "{reasons:?}");
        assert!(!reasons.iter().any(|r| r.code == FindingCode::HighRiskServiceExposed), "{reasons:?}");
        assert_eq!(v.objectives.iter().find(|o| o.objective == "D1.EXP.REMED").unwrap().evidence.len(), 2, "judged on the public scans");
        // A public host still exposed is still not met.
        let exposed = judged(&[nmap(id, "externe.xml", "203.0.113.7", &[3389], 0), nessus(id, "203.0.113.7", 1)], &[]);
        reason(&exposed, "D1.EXP.REMED", Verdict::NotMet, FindingCode::HighRiskServiceExposed);
    }

    fn invoice(sub: SubmissionId, path: &str, number: &str, totals: (&str, &str, &str), source: &str, order: i64) -> EvidenceRecord {
        let fields = serde_json::json!({"content": "invoice", "source": source, "number": number, "type_code": "380", "issue_date": "2024-06-12",
                                        "seller_siret": "73282932000074", "total_ht": totals.0, "total_tva": totals.1, "total_ttc": totals.2});
        evidence(sub, path, Kind::Invoice, fields, order)
    }

    fn report(sub: SubmissionId, path: &str, rows: &[(&str, &str)], order: i64) -> EvidenceRecord {
        let rows: Vec<serde_json::Value> =
            rows.iter().enumerate().map(|(i, (n, ttc))| serde_json::json!({"line": i + 2, "number": n, "siret": "73282932000074", "ttc": ttc})).collect();
        let total: Decimal = rows.iter().map(|r| r["ttc"].as_str().unwrap().parse::<Decimal>().unwrap()).sum();
        let fields = serde_json::json!({"content": "financial_report", "columns": ["Numéro", "SIRET", "TTC"], "row_count": rows.len(), "rows": rows,
                                        "totals": {"ttc": total.to_string()}});
        evidence(sub, path, Kind::FinancialReport, fields, order)
    }

    /// The report in force is the latest that is one by its content: a cover letter
    /// taken for a report (prose, read as text) replaces nothing; an invoice the report
    /// does not list is a question for the controller, not "not counted".
    #[test]
    fn a_report_is_chosen_by_its_content_and_an_unlisted_invoice_is_looked_at() {
        let id = SubmissionId::new();
        let a = invoice(id, "fa-1.pdf", "FA-1", ("100.00", "20.00", "120.00"), "text", 0);
        let b = invoice(id, "fa-2.pdf", "FA-2", ("200.00", "40.00", "240.00"), "text", 1);
        let real = report(id, "bilan.csv", &[("FA-1", "120.00"), ("FA-2", "240.00")], 2);
        let clean = judged(&[a.clone(), b.clone(), real.clone()], &[]);
        assert_eq!(objective(&clean, "D1.FIN").0, Verdict::Met, "{:?}", objective(&clean, "D1.FIN").1);

        // The cover letter, as the text reader gives it, and as a report without rows.
        let letter = |content: serde_json::Value| evidence(id, "courrier.pdf", Kind::FinancialReport, content, 3);
        for content in [
            serde_json::json!({"content": "invoice", "source": "text", "number": "FA-1", "total_ttc": "360.00"}),
            serde_json::json!({"content": "financial_report", "columns": [], "rows": [], "row_count": 0, "totals": {"ttc": "360.00"}}),
        ] {
            let v = judged(&[a.clone(), b.clone(), real.clone(), letter(content)], &[]);
            let why = reason(&v, "D1.FIN", Verdict::Met, FindingCode::ReportWithoutRows);
            assert!(why.message.contains("courrier.pdf") && why.message.contains("bilan.csv"), "{}", why.message);
            assert!(!has(&v, "D1.FIN", FindingCode::ReportSuperseded) && !has(&v, "D1.FIN", FindingCode::InvoiceNotReported));
            assert!(reason(&v, "D1.FIN", Verdict::Met, FindingCode::WithinCeiling).message.contains("bilan.csv"));
            // Alone, it is no report at all.
            let alone = judged(&[a.clone(), letter(serde_json::json!({"content": "invoice", "source": "text"}))], &[]);
            reason(&alone, "D1.FIN", Verdict::NeedsReview, FindingCode::ReportMissing);
        }

        // A later report that is one replaces the earlier.
        let newer = report(id, "bilan-v2.csv", &[("FA-1", "120.00"), ("FA-2", "240.00")], 4);
        let v = judged(&[a.clone(), b.clone(), real.clone(), newer], &[]);
        assert!(reason(&v, "D1.FIN", Verdict::Met, FindingCode::ReportSuperseded).message.contains("bilan.csv remplacé par bilan-v2.csv"));

        // An invoice beside the report, not listed in it.
        let listed_one = report(id, "bilan.csv", &[("FA-1", "120.00")], 2);
        let v = judged(&[a, b, listed_one], &[]);
        let why = reason(&v, "D1.FIN", Verdict::NeedsReview, FindingCode::InvoiceNotReported);
        assert!(why.message.starts_with("fa-2.pdf") && why.message.ends_with('?'), "{}", why.message);
    }

    /// Figures OCR read that break arithmetic are a misreading to check, with both
    /// readings, never "not met"; the same figures from a text layer stay not met.
    #[test]
    fn totals_broken_by_an_ocr_reading_go_to_a_controller_with_both_readings() {
        let id = SubmissionId::new();
        // 12 700,00 read 128700.00 on a scan.
        let misread = ("10583.33", "2116.67", "128700.00");
        let scanned = invoice(id, "scan-facture.pdf", "FA-7", misread, "ocr", 0);
        let v = judged(std::slice::from_ref(&scanned), &[]);
        let why = reason(&v, "D1.FIN", Verdict::NeedsReview, FindingCode::OcrTotalsInconsistent);
        assert!(why.message.contains("128700.00 €") && why.message.contains("12700.00 €"), "{}", why.message);
        assert_eq!(why.pointer.as_deref(), Some("total_ttc"));
        assert!(!has(&v, "D1.FIN", FindingCode::TotalsInconsistent));
        // The misread TTC is over the ceiling (100 000 €), the other reading is not.
        assert!(reason(&v, "D1.FIN", Verdict::NeedsReview, FindingCode::CeilingExceeded).message.contains("12700.00 €"));
        // Against a report: the row agrees with HT + TVA, the controller is asked.
        let v = judged(&[scanned.clone(), report(id, "bilan.csv", &[("FA-7", "12700.00")], 1)], &[]);
        assert!(reason(&v, "D1.FIN", Verdict::NeedsReview, FindingCode::ReportMismatch).message.contains("lue par OCR"));

        // A TTC read by OCR that only the report contradicts (HT + TVA agree with it, a
        // stain on the total): a question for a controller, never a "not met".
        let stained = invoice(id, "tache.pdf", "FA-8", ("7083.33", "1416.67", "8500.00"), "ocr", 0);
        let v = judged(&[stained, report(id, "bilan.csv", &[("FA-8", "10200.00")], 1)], &[]);
        let m = reason(&v, "D1.FIN", Verdict::NeedsReview, FindingCode::ReportMismatch).message.clone();
        assert!(m.contains("mal lu") && m.contains("10200.00 €") && m.contains("8500.00 €"), "{m}");
        assert!(objective(&v, "D1.FIN").1.iter().all(|r| r.verdict != Verdict::NotMet), "{:?}", objective(&v, "D1.FIN").1);

        // A photo, or a reading OCR itself doubted, without the extractor's mark.
        let mut photo = invoice(id, "photo.jpg", "FA-7", misread, "text", 0);
        photo.media_type = Some("image/jpeg".into());
        reason(&judged(&[photo], &[]), "D1.FIN", Verdict::NeedsReview, FindingCode::OcrTotalsInconsistent);
        let mut doubted = invoice(id, "scan.pdf", "FA-7", misread, "text", 0);
        doubted.findings.push(caregate_schemas::Finding::new(FindingCode::OcrLowConfidence, caregate_schemas::Severity::Warning, "confiance 55 %"));
        reason(&judged(&[doubted], &[]), "D1.FIN", Verdict::NeedsReview, FindingCode::OcrTotalsInconsistent);

        // The same figures from a PDF's text are the invoice's own error.
        let typed = invoice(id, "facture.pdf", "FA-7", misread, "text", 0);
        let v = judged(&[typed], &[]);
        reason(&v, "D1.FIN", Verdict::NotMet, FindingCode::TotalsInconsistent);
        reason(&v, "D1.FIN", Verdict::NotMet, FindingCode::CeilingExceeded);
    }

    /// The dossiers to judge again after this one: those holding one of its invoices
    /// (same bytes, or same seller and number), not those sharing another file.
    #[test]
    fn the_dossiers_sharing_an_invoice_are_named() {
        let (mine, theirs, other) = (SubmissionId::new(), SubmissionId::new(), SubmissionId::new());
        let records = [invoice(mine, "fa-1.pdf", "FA-1", ("100.00", "20.00", "120.00"), "text", 0), attestation(mine, serde_json::json!([]))];
        let same_number = invoice(theirs, "facture 1.pdf", "FA 1", ("100.00", "20.00", "120.00"), "ocr", 0);
        let same_attestation = attestation(other, serde_json::json!([]));
        let dossier = Dossier { submission_id: mine, records: &records, related: &[same_number.clone(), same_attestation.clone()] };
        assert_eq!(dossiers_sharing_invoices(&dossier).into_iter().collect::<Vec<_>>(), [theirs]);
        // And the judge tells this dossier of it.
        let v = judged(&records, &[same_number]);
        assert!(reason(&v, "D1.FIN", Verdict::NeedsReview, FindingCode::DuplicateSubmission).message.contains(&theirs.to_string()));
        let alone = Dossier { submission_id: mine, records: &records, related: &[same_attestation] };
        assert!(dossiers_sharing_invoices(&alone).is_empty());
    }

    fn pingcastle(sub: SubmissionId, version: &str, maturity: Option<u32>, rules: &[&str]) -> EvidenceRecord {
        let rules: Vec<serde_json::Value> =
            rules.iter().map(|r| serde_json::json!({"risk_id": r, "category": null, "model": null, "points": 0, "rationale": null})).collect();
        let fields = serde_json::json!({"content": "ad_audit", "tool": "PingCastle", "tool_version": version, "domain": "ch.local", "netbios_name": null, "forest": null,
                                        "date": "2024-10-01T09:00:00+00:00", "scores": {"global": null, "stale_objects": null, "privileged_group": null, "trust": null, "anomaly": null},
                                        "maturity_level": maturity, "anssi_level": null, "rules": rules, "integrity": "valid"});
        evidence(sub, "ad_hc_ch.local.xml", Kind::AdAuditReport, fields, 1)
    }

    fn with_tables(target: u8, tables: &str) -> Referential {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/referentials/care-d1-2024.toml");
        let text = std::fs::read_to_string(path).unwrap();
        let text = text.replace("target_anssi_level = 3", &format!("target_anssi_level = {target}"));
        let start = text.find("[pingcastle_levels.").unwrap();
        Referential::parse("tables.toml", format!("{}{tables}", &text[..start]).as_bytes()).unwrap()
    }

    fn level(r: &Referential, rec: &EvidenceRecord) -> (Verdict, Vec<Reason>) {
        let v = judge(r, &Dossier { submission_id: rec.submission.submission_id, records: std::slice::from_ref(rec), related: &[] }, Utc::now());
        asks(&v);
        let (verdict, reasons) = objective(&v, "D1.AD.LEVEL");
        (verdict, reasons.into_iter().cloned().collect())
    }

    #[track_caller]
    fn code_of(got: &(Verdict, Vec<Reason>), verdict: Verdict, code: FindingCode) -> String {
        assert_eq!(got.0, verdict, "{:?}", got.1);
        got.1.iter().find(|r| r.code == code).unwrap_or_else(|| panic!("no {code} in {:?}", got.1)).message.clone()
    }

    /// The level is PingCastle's ANSSI level of the triggered rules (S-Inactive is level 1,
    /// A-Krbtgt 2, from PingCastle's source); a rule PingCastle grades only on its own
    /// maturity scale (S-SMB-v1) is no ANSSI checkpoint and does not lower it.
    #[test]
    fn the_ad_level_comes_from_pingcastles_own_levels() {
        let r = crate::Referentials::shipped().unwrap().for_campaign("care-d1-2024").unwrap();
        let (version, table) = r.pingcastle_table(Some("3.2.0.1")).unwrap();
        assert_eq!(table["S-Inactive"].anssi, Some(1));
        assert_eq!(table["A-Krbtgt"].anssi, Some(2));
        assert_eq!(table["S-SMB-v1"].anssi, None);
        let sub = SubmissionId::new();
        let m = code_of(&level(&r, &pingcastle(sub, "3.2.0.1", Some(1), &["S-Inactive", "S-SMB-v1"])), Verdict::NotMet, FindingCode::AdLevelBelowTarget);
        assert!(m.contains("niveau ANSSI 1 < cible 3 (règles : S-Inactive)") && m.contains(&format!("PingCastle {version}")), "{m}");
        let m = code_of(&level(&r, &pingcastle(sub, "3.2.0.1", Some(3), &["S-SMB-v1", "P-RecycleBin"])), Verdict::Met, FindingCode::AdLevelReached);
        assert!(m.contains("niveau ANSSI 5 ≥ cible 3"), "{m}");
    }

    /// A PingCastle report edited after PingCastle wrote it demonstrates no level: alone it
    /// makes the level not met; beside a report nobody can read (encrypted), which might
    /// demonstrate it, a person decides; beside an intact one, the intact one decides.
    #[test]
    fn an_edited_report_alone_does_not_demonstrate_the_level() {
        let r = crate::Referentials::shipped().unwrap().for_campaign("care-d1-2024").unwrap();
        let sub = SubmissionId::new();
        let mut edited = pingcastle(sub, "3.2.0.1", Some(3), &["S-SMB-v1"]);
        edited.fields =
            serde_json::from_value(serde_json::json!({"content": "ad_audit", "tool": "PingCastle", "tool_version": "3.2.0.1", "domain": "ch.local",
            "netbios_name": null, "forest": null, "date": "2024-10-01T09:00:00+00:00",
            "scores": {"global": null, "stale_objects": null, "privileged_group": null, "trust": null, "anomaly": null},
            "maturity_level": 3, "anssi_level": null, "rules": [], "integrity": "invalid"}))
            .unwrap();
        let m = code_of(&level(&r, &edited), Verdict::NotMet, FindingCode::IntegrityMismatch);
        assert!(m.contains("ad_hc_ch.local.xml") && m.contains("niveau ANSSI n'est pas démontré"), "{m}");
        let encrypted = evidence(sub, "ad_hc_chiffre.xml", Kind::AdAuditReport, serde_json::json!({"content": "none"}), 2);
        let v = judged(&[edited.clone(), encrypted], &[]);
        reason(&v, "D1.AD.LEVEL", Verdict::NeedsReview, FindingCode::AdLevelUnknown);
        let mut intact = pingcastle(sub, "3.2.0.1", Some(3), &["S-SMB-v1"]);
        intact.path = "apres/ad_hc_ch.local.xml".into();
        let v = judged(&[edited, intact], &[]);
        reason(&v, "D1.AD.LEVEL", Verdict::Met, FindingCode::AdLevelReached);
    }

    /// A level a consultancy's PDF only states is a statement, not a measurement: at the
    /// target a controller confirms it (the rule's `stated`, `needs_review`), told so and
    /// the audit's date; a referential may refuse such statements (`not_met`), never
    /// accept them (`met` is refused on load); under the target it is not met.
    #[test]
    fn a_stated_level_is_trusted_as_the_referential_says() {
        let text = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/referentials/care-d1-2024.toml")).unwrap();
        let with = |stated: &str| text.replace("stated = \"needs_review\"", &format!("stated = \"{stated}\""));
        assert!(Referential::parse("trusting.toml", with("met").as_bytes()).is_err());
        let refusing = Referential::parse("refusing.toml", with("not_met").as_bytes()).unwrap();
        let shipped = crate::Referentials::shipped().unwrap().for_campaign("care-d1-2024").unwrap();
        let sub = SubmissionId::new();
        let stated = |level: u32| {
            let fields = serde_json::json!({"content": "ad_audit", "tool": caregate_schemas::extracted::AD_REPORT_TOOL, "tool_version": null, "domain": "ch.local",
                "netbios_name": null, "forest": null, "date": "2024-09-23", "maturity_level": null, "anssi_level": level, "rules": [], "integrity": "absent",
                "scores": {"global": null, "stale_objects": null, "privileged_group": null, "trust": null, "anomaly": null}});
            evidence(sub, "rapport-audit-ad.pdf", Kind::AdAuditReport, fields, 1)
        };
        let m = code_of(&level(&shipped, &stated(3)), Verdict::NeedsReview, FindingCode::AdLevelDeclared);
        assert!(m.contains("niveau ANSSI 3 ≥ cible 3") && m.contains("audit du 23/09/2024") && m.contains("non une mesure") && m.contains('?'), "{m}");
        code_of(&level(&refusing, &stated(3)), Verdict::NotMet, FindingCode::AdLevelDeclared);
        code_of(&level(&shipped, &stated(2)), Verdict::NotMet, FindingCode::AdLevelBelowTarget);
    }

    /// The report's MaturityLevel is PingCastle's minimum over the same rules: a different
    /// one is shown, and blocks "met" only when it is under the target while ours is not.
    #[test]
    fn the_reports_maturity_level_is_compared_with_ours() {
        let r = with_tables(
            3,
            "[pingcastle_levels.\"3.0\"]\n\"A-Krbtgt\" = { anssi = 2 }\n\"S-SMB-v1\" = { maturity = 3 }\n\"P-Delegated\" = { anssi = 4, maturity = 3 }\n",
        );
        let sub = SubmissionId::new();
        // Agreeing: nothing said.
        let agree = level(&r, &pingcastle(sub, "3.2.0.1", Some(3), &["S-SMB-v1", "P-Delegated"]));
        code_of(&agree, Verdict::Met, FindingCode::AdLevelReached);
        assert!(agree.1.iter().all(|x| x.code != FindingCode::AdMaturityMismatch), "{:?}", agree.1);
        // The report says 4 where the rules give 3: shown, the level still decides.
        let higher = level(&r, &pingcastle(sub, "3.2.0.1", Some(4), &["S-SMB-v1", "P-Delegated"]));
        assert!(code_of(&higher, Verdict::Met, FindingCode::AdMaturityMismatch).contains("maturité 4, les règles déclenchées donnent 3"));
        // The report says 1 under the target, the table reaches it: PingCastle graded a rule
        // lower than the table does, perhaps as an ANSSI checkpoint.
        let lower = level(&r, &pingcastle(sub, "3.2.0.1", Some(1), &["S-SMB-v1", "P-Delegated"]));
        code_of(&lower, Verdict::NeedsReview, FindingCode::AdMaturityMismatch);
        code_of(&lower, Verdict::NeedsReview, FindingCode::AdLevelReached);
        // Already under the target: the mismatch changes nothing.
        let under = level(&r, &pingcastle(sub, "3.2.0.1", Some(1), &["A-Krbtgt"]));
        code_of(&under, Verdict::NotMet, FindingCode::AdMaturityMismatch);
        code_of(&under, Verdict::NotMet, FindingCode::AdLevelBelowTarget);
    }

    /// A triggered rule the table does not list could be at any level: it holds the
    /// objective for a controller only when it could take the level under the target.
    #[test]
    fn an_unknown_rule_blocks_met_only_when_it_could_lower_the_level_below_the_target() {
        let tables = "[pingcastle_levels.\"3.0\"]\n\"A-Krbtgt\" = { anssi = 2 }\n\"S-SMB-v1\" = { maturity = 3 }\n";
        let sub = SubmissionId::new();
        let r = with_tables(3, tables);
        // Already under the target: an unknown rule cannot raise it.
        code_of(&level(&r, &pingcastle(sub, "3.2.0.1", None, &["A-Krbtgt", "X-New"])), Verdict::NotMet, FindingCode::AdLevelBelowTarget);
        // At the target, with no MaturityLevel to bound it: a controller looks, told which rule.
        let m = code_of(&level(&r, &pingcastle(sub, "3.2.0.1", None, &["S-SMB-v1", "X-New"])), Verdict::NeedsReview, FindingCode::AdLevelUnconfirmed);
        assert!(m.contains("X-New") && !m.contains("S-SMB-v1 "), "{m}");
        // The report's MaturityLevel at the target bounds every triggered rule's ANSSI level.
        let bounded = level(&r, &pingcastle(sub, "3.2.0.1", Some(3), &["S-SMB-v1", "X-New"]));
        code_of(&bounded, Verdict::Met, FindingCode::AdLevelReached);
        assert!(bounded.1.iter().all(|x| x.code != FindingCode::AdMaturityMismatch), "no computed maturity with an unknown rule: {:?}", bounded.1);
        // ... and under it, it does not.
        code_of(&level(&r, &pingcastle(sub, "3.2.0.1", Some(2), &["S-SMB-v1", "X-New"])), Verdict::NeedsReview, FindingCode::AdLevelUnconfirmed);
        // No level is under 1: nothing can lower a target of 1.
        code_of(&level(&with_tables(1, tables), &pingcastle(sub, "3.2.0.1", None, &["X-New"])), Verdict::Met, FindingCode::AdLevelReached);
    }

    /// The shipped tables are PingCastle's whole rule set, not a sample: a report whose
    /// rules they all know is decided without a controller, met or not.
    #[test]
    fn the_full_table_decides_a_report_whose_rules_it_knows() {
        let r = crate::Referentials::shipped().unwrap().for_campaign("care-d1-2024").unwrap();
        let (version, table) = r.pingcastle_table(Some("3.2.0.1")).unwrap();
        assert!(table.len() > 100, "PingCastle {version} has more than {} rules", table.len());
        let sub = SubmissionId::new();
        // Rules PingCastle grades on its own scale only, the report's MaturityLevel agreeing.
        let own = ["A-AuditDC", "A-LAPS-Not-Installed", "P-RecycleBin", "S-DC-SubnetMissing", "S-SMB-v1", "T-Downlevel"];
        let met = level(&r, &pingcastle(sub, "3.2.0.1", Some(3), &own));
        assert!(code_of(&met, Verdict::Met, FindingCode::AdLevelReached).contains("niveau ANSSI 5 ≥ cible 3"));
        assert_eq!(met.1.len(), 1, "{:?}", met.1);
        // ANSSI checkpoints under the target: the lowest holds the level, each one named.
        let below = level(&r, &pingcastle(sub, "3.2.0.1", Some(1), &["A-AuditDC", "S-PwdNeverExpires", "P-Kerberoasting", "S-Inactive"]));
        let m = code_of(&below, Verdict::NotMet, FindingCode::AdLevelBelowTarget);
        assert!(m.contains("niveau ANSSI 1 < cible 3 (règles : P-Kerberoasting, S-Inactive)"), "{m}");
        assert_eq!(below.1.len(), 1, "MaturityLevel 1 agrees: {:?}", below.1);
        // A rule PingCastle knows but grades at neither level (P-SchemaAdmin in 2.9 and 3.0) lowers
        // nothing and leaves the computed MaturityLevel known, here to compare with a report
        // saying 4.
        assert_eq!((table["P-SchemaAdmin"].anssi, table["P-SchemaAdmin"].maturity()), (None, 5));
        let neither = level(&r, &pingcastle(sub, "3.2.0.1", Some(4), &["P-SchemaAdmin", "A-AuditDC"]));
        code_of(&neither, Verdict::Met, FindingCode::AdLevelReached);
        assert!(code_of(&neither, Verdict::Met, FindingCode::AdMaturityMismatch).contains("les règles déclenchées donnent 3"));
    }

    /// A newer PingCastle than the table may grade a rule differently: A-AdminSDHolder is a
    /// maturity-3 rule in 2.9 and 3.0 and an ANSSI level-2 checkpoint in later sources. A
    /// 3.3 report, graded with the 3.0 table and told so, then states a MaturityLevel that
    /// disagrees with the table's, and the level goes to a controller.
    #[test]
    fn a_report_graded_otherwise_than_the_table_is_shown_to_a_controller() {
        let r = crate::Referentials::shipped().unwrap().for_campaign("care-d1-2024").unwrap();
        let sub = SubmissionId::new();
        let regraded = level(&r, &pingcastle(sub, "3.3.0.1", Some(2), &["A-AdminSDHolder", "A-AuditDC"]));
        let m = code_of(&regraded, Verdict::NeedsReview, FindingCode::AdMaturityMismatch);
        assert!(
            m.contains("niveau de maturité 2, les règles déclenchées donnent 3, niveaux de PingCastle 3.0 (aucune table pour la version 3.3.0.1 du rapport"),
            "{m}"
        );
        code_of(&regraded, Verdict::NeedsReview, FindingCode::AdLevelReached);
        // The same report graded 3 by its engine: nothing to say.
        let agreed = level(&r, &pingcastle(sub, "3.3.0.1", Some(3), &["A-AdminSDHolder", "A-AuditDC"]));
        code_of(&agreed, Verdict::Met, FindingCode::AdLevelReached);
        assert!(agreed.1.iter().all(|x| x.code != FindingCode::AdMaturityMismatch), "{:?}", agreed.1);
    }

    /// Rules added after the table's version (A-DC-Coerce, P-UnprotectedOU: PingCastle 3.2 and
    /// 3.1, the newest table being 3.0) are unknown to it; they hold the objective only when
    /// they could lower the level below the target.
    #[test]
    fn a_rule_newer_than_the_table_blocks_only_what_it_could_lower() {
        let r = crate::Referentials::shipped().unwrap().for_campaign("care-d1-2024").unwrap();
        let (_, table) = r.pingcastle_table(Some("3.2.0.1")).unwrap();
        assert!(!table.contains_key("A-DC-Coerce") && !table.contains_key("P-UnprotectedOU"));
        let sub = SubmissionId::new();
        let newer = ["A-DC-Coerce", "P-UnprotectedOU", "A-AuditDC"];
        // The report's MaturityLevel at the target bounds the unknown rules: met.
        let bounded = level(&r, &pingcastle(sub, "3.2.0.1", Some(3), &newer));
        assert!(code_of(&bounded, Verdict::Met, FindingCode::AdLevelReached).contains("niveaux de PingCastle 3.0"));
        assert!(bounded.1.iter().all(|x| x.code != FindingCode::AdMaturityMismatch), "{:?}", bounded.1);
        // Already under the target through a known checkpoint: not met, unknown or not.
        code_of(&level(&r, &pingcastle(sub, "3.2.0.1", Some(1), &["A-DC-Coerce", "S-Inactive"])), Verdict::NotMet, FindingCode::AdLevelBelowTarget);
        // Nothing bounds them: a controller, told which rules.
        let open = level(&r, &pingcastle(sub, "3.2.0.1", Some(2), &newer));
        let m = code_of(&open, Verdict::NeedsReview, FindingCode::AdLevelUnconfirmed);
        assert!(m.contains("A-DC-Coerce, P-UnprotectedOU") && !m.contains("A-AuditDC"), "{m}");
    }

    /// Levels move between PingCastle versions: a report is graded with the table of the
    /// highest version not above its own; an older one, or one without a version, with none.
    #[test]
    fn the_table_follows_the_reports_pingcastle_version() {
        let r = with_tables(
            3,
            "[pingcastle_levels.\"2.9\"]\n\"S-Inactive\" = { anssi = 4 }\n[pingcastle_levels.\"3.1\"]\n\"S-Inactive\" = { anssi = 1 }\n[pingcastle_levels.\"3.10\"]\n\"S-Inactive\" = { anssi = 3 }\n",
        );
        assert_eq!(r.pingcastle_table(Some("3.2.0.1")).unwrap().0, "3.1");
        assert_eq!(r.pingcastle_table(Some("3.10.0.0")).unwrap().0, "3.10", "numbers, not text");
        assert_eq!(r.pingcastle_table(Some("2.9")).unwrap().0, "2.9");
        assert!(r.pingcastle_table(Some("2.8.0.0")).is_none());
        assert!(r.pingcastle_table(Some("3.x")).is_none());
        assert!(r.pingcastle_table(None).is_none());
        let sub = SubmissionId::new();
        code_of(&level(&r, &pingcastle(sub, "3.2.0.1", None, &["S-Inactive"])), Verdict::NotMet, FindingCode::AdLevelBelowTarget);
        code_of(&level(&r, &pingcastle(sub, "2.9.1.0", None, &["S-Inactive"])), Verdict::Met, FindingCode::AdLevelReached);
        // Older than every table: its rules are unknown, and said why.
        let m = code_of(&level(&r, &pingcastle(sub, "2.8.0.0", None, &["S-Inactive"])), Verdict::NeedsReview, FindingCode::AdLevelUnconfirmed);
        assert!(m.contains("aucune table de niveaux pour PingCastle 2.8.0.0") && m.contains("S-Inactive"), "{m}");
        // ... unless its own MaturityLevel bounds them, or it triggers nothing.
        code_of(&level(&r, &pingcastle(sub, "2.8.0.0", Some(3), &["S-Inactive"])), Verdict::Met, FindingCode::AdLevelReached);
        code_of(&level(&r, &pingcastle(sub, "2.8.0.0", None, &[])), Verdict::Met, FindingCode::AdLevelReached);
        let mut unversioned = pingcastle(sub, "", None, &["S-Inactive"]);
        if let caregate_schemas::extracted::Content::AdAudit(a) = &mut unversioned.fields.content {
            a.tool_version = None;
        }
        let m = code_of(&level(&r, &unversioned), Verdict::NeedsReview, FindingCode::AdLevelUnconfirmed);
        assert!(m.contains("version de PingCastle absente du rapport"), "{m}");
    }

    /// Levels move between PingCastle versions, and each report is graded with its own
    /// version's table: S-ADRegistrationSchema, added in 2.9.3 as a maturity-3 rule, is an
    /// ANSSI level-2 checkpoint from 3.0.0.0 on ("align S-ADRegistrationSchema with ANSSI
    /// rule"). A 3.0 report triggering it is under the target; a 2.10 one, graded with the
    /// 2.9 table that does not know it, is bounded by its own MaturityLevel, or reviewed.
    #[test]
    fn a_rule_is_graded_by_the_reports_own_pingcastle_version() {
        let r = crate::Referentials::shipped().unwrap().for_campaign("care-d1-2024").unwrap();
        for (report, table) in [("2.9.2.0", "2.9"), ("2.10.1.0", "2.9"), ("2.11.0.0", "2.9"), ("3.0.0.4", "3.0"), ("3.2.0.1", "3.0"), ("3.3.0.1", "3.0")] {
            assert_eq!(r.pingcastle_table(Some(report)).map(|t| t.0), Some(table), "PingCastle {report}");
        }
        assert!(r.pingcastle_table(Some("2.8.0.0")).is_none());
        let (_, old) = r.pingcastle_table(Some("2.9.2.0")).unwrap();
        let (_, new) = r.pingcastle_table(Some("3.0.0.4")).unwrap();
        assert!(!old.contains_key("S-ADRegistrationSchema"));
        assert_eq!((new["S-ADRegistrationSchema"].anssi, new["S-ADRegistrationSchema"].maturity()), (Some(2), 2));
        let sub = SubmissionId::new();
        let rules = ["S-ADRegistrationSchema", "A-AuditDC"];
        // PingCastle 3.0: its own table, a level-2 checkpoint, not met, nothing more to say.
        let v30 = level(&r, &pingcastle(sub, "3.0.0.4", Some(2), &rules));
        let m = code_of(&v30, Verdict::NotMet, FindingCode::AdLevelBelowTarget);
        assert!(m.contains("niveau ANSSI 2 < cible 3 (règles : S-ADRegistrationSchema), niveaux de PingCastle 3.0") && !m.contains("aucune table"), "{m}");
        assert_eq!(v30.1.len(), 1, "MaturityLevel 2 agrees: {:?}", v30.1);
        // PingCastle 2.10: the 2.9 table, said to be older, does not know the rule; the
        // report's MaturityLevel 3 bounds it at the target.
        let v210 = level(&r, &pingcastle(sub, "2.10.1.0", Some(3), &rules));
        let m = code_of(&v210, Verdict::Met, FindingCode::AdLevelReached);
        assert!(
            m.contains("niveaux de PingCastle 2.9 (aucune table pour la version 2.10.1.0 du rapport : celle de la version antérieure la plus proche)"),
            "{m}"
        );
        // ... and under it nothing bounds it: a controller, told which rule.
        let m = code_of(&level(&r, &pingcastle(sub, "2.10.1.0", Some(2), &rules)), Verdict::NeedsReview, FindingCode::AdLevelUnconfirmed);
        assert!(m.contains("règles sans niveau connu, niveaux de PingCastle 2.9") && m.ends_with(": S-ADRegistrationSchema"), "{m}");
    }

    /// The report's MaturityLevel is compared with the one its own version's table gives:
    /// S-OldNtlm is a maturity-2 rule of PingCastle 3.0 and no ANSSI checkpoint, so a 3.0
    /// report triggering it alone is at ANSSI level 5 and maturity 2.
    #[test]
    fn the_reports_maturity_level_is_compared_with_its_versions_table() {
        let r = crate::Referentials::shipped().unwrap().for_campaign("care-d1-2024").unwrap();
        let sub = SubmissionId::new();
        let rules = ["S-OldNtlm", "A-AuditDC"];
        let agree = level(&r, &pingcastle(sub, "3.0.0.4", Some(2), &rules));
        assert!(code_of(&agree, Verdict::Met, FindingCode::AdLevelReached).contains("niveau ANSSI 5 ≥ cible 3, niveaux de PingCastle 3.0"));
        assert_eq!(agree.1.len(), 1, "{:?}", agree.1);
        let higher = level(&r, &pingcastle(sub, "3.0.0.4", Some(3), &rules));
        let m = code_of(&higher, Verdict::Met, FindingCode::AdMaturityMismatch);
        assert!(m.contains("le rapport indique un niveau de maturité 3, les règles déclenchées donnent 2, niveaux de PingCastle 3.0"), "{m}");
        // Under the target while the table reaches it: PingCastle graded a rule lower.
        let lower = level(&r, &pingcastle(sub, "3.0.0.4", Some(1), &rules));
        code_of(&lower, Verdict::NeedsReview, FindingCode::AdMaturityMismatch);
        code_of(&lower, Verdict::NeedsReview, FindingCode::AdLevelReached);
        // The 2.9 table does not know S-OldNtlm: no computed MaturityLevel to compare, and
        // a report under the target leaves the level to a controller.
        let unknown = level(&r, &pingcastle(sub, "2.11.0.0", Some(2), &rules));
        code_of(&unknown, Verdict::NeedsReview, FindingCode::AdLevelUnconfirmed);
        assert!(unknown.1.iter().all(|x| x.code != FindingCode::AdMaturityMismatch), "{:?}", unknown.1);
    }
}
