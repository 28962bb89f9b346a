//! `caregate accuracy --dossiers DIR`: whole dossiers judged as a controller would judge
//! them. Each folder of DIR holding an `expected.json` (written by
//! `scripts/make-dossiers.py`) is sent file by file, in its order and with each file's
//! declared objectives, through the intake into the pipeline the configured back ends
//! run (as `caregate submit` does: scan, store, read, classify, judge); once every
//! dossier is in, each one's current verification is compared, objective by objective,
//! with the verdict the controller gives. All dossiers go into one index, so an invoice
//! two establishments send is found as it is in production.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use caregate_schemas::{SubmissionId, SubmissionRef, Verdict};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::submit::{progress_bar, upload_files, LocalFile};
use crate::App;

/// The verdicts in the order tables show them.
pub const VERDICTS: [Verdict; 3] = [Verdict::Met, Verdict::NotMet, Verdict::NeedsReview];

/// A dossier's `expected.json`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedDossier {
    pub establishment: Establishment,
    pub campaign: String,
    /// In the order they are sent.
    pub files: Vec<DossierFile>,
    /// Which case of the generator each objective (or group) is: for reading misses.
    #[serde(default)]
    pub cases: BTreeMap<String, String>,
    /// Per objective, what a controller concludes.
    pub expected: BTreeMap<String, ExpectedVerdict>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Establishment {
    pub finess: String,
    pub name: String,
    pub category: String,
    /// Its own SIRET, printed in its invoices' buyer block and given at upload (as the
    /// establishment's space and `caregate submit --establishment-siret` do).
    #[serde(default)]
    pub siret: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DossierFile {
    /// Relative to the dossier's folder; also the name it is sent under.
    pub path: String,
    /// The objectives the establishment declares it for (`--objective`).
    #[serde(default)]
    pub objectives: Vec<String>,
    /// What the file is, in the generator's words.
    #[serde(default)]
    pub what: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedVerdict {
    pub verdict: Verdict,
    /// The controller's reason, one line in French.
    pub why: String,
}

/// The dossiers under `dir`: each sub-folder with an `expected.json`, by name.
pub fn load(dir: &Path) -> anyhow::Result<Vec<(String, PathBuf, ExpectedDossier)>> {
    let mut out = Vec::new();
    let mut entries: Vec<PathBuf> =
        std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
    entries.sort();
    for folder in entries {
        let file = folder.join("expected.json");
        if !file.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
        let expected: ExpectedDossier = serde_json::from_str(&text).with_context(|| format!("parsing {}", file.display()))?;
        if expected.files.is_empty() {
            bail!("{}: no files", file.display());
        }
        let name = folder.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        out.push((name, folder, expected));
    }
    if out.is_empty() {
        bail!("no dossier (a folder with an expected.json) in {}", dir.display());
    }
    Ok(out)
}

/// One objective of one dossier: what the controller says, what caregate said and why.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Outcome {
    pub dossier: String,
    pub objective: String,
    pub case: Option<String>,
    pub expected: Verdict,
    pub why_expected: String,
    pub got: Verdict,
    /// The reasons that gave caregate's verdict (those at the objective's verdict),
    /// `code: message`.
    pub reasons: Vec<String>,
}

impl Outcome {
    pub fn right(&self) -> bool {
        self.expected == self.got
    }

    /// Decided by the machine: met or not met, no controller needed.
    pub fn automated(&self) -> bool {
        self.got != Verdict::NeedsReview
    }

    /// "Met" where the controller would not say so: the error that pays for nothing.
    pub fn wrong_met(&self) -> bool {
        self.got == Verdict::Met && self.expected != Verdict::Met
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct DossierScore {
    pub dossiers: usize,
    pub files: usize,
    pub outcomes: Vec<Outcome>,
    /// Files read as invoices, and among them those whose seller's SIRET, SIREN or VAT id
    /// was read as the establishment's own (the buyer's): the defect the exclusion is for.
    #[serde(default)]
    pub invoices: usize,
    #[serde(default)]
    pub buyer_as_seller: Vec<String>,
    /// Invoices whose seller identifier was left empty because it was the establishment's
    /// (`seller_is_establishment`).
    #[serde(default)]
    pub seller_is_establishment: usize,
}

/// Right, automated, wrong "met", all: the counts of a set of outcomes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub right: usize,
    pub automated: usize,
    pub wrong_met: usize,
    pub total: usize,
}

fn percent(n: usize, d: usize) -> String {
    format!("{:.0} %", 100.0 * n as f64 / d.max(1) as f64)
}

impl DossierScore {
    pub fn objectives(&self) -> Vec<String> {
        let mut seen: Vec<String> = Vec::new();
        for o in &self.outcomes {
            if !seen.contains(&o.objective) {
                seen.push(o.objective.clone());
            }
        }
        seen
    }

    pub fn counts(&self, objective: Option<&str>) -> Counts {
        self.outcomes.iter().filter(|o| objective.is_none_or(|id| o.objective == id)).fold(Counts::default(), |c, o| Counts {
            right: c.right + o.right() as usize,
            automated: c.automated + o.automated() as usize,
            wrong_met: c.wrong_met + o.wrong_met() as usize,
            total: c.total + 1,
        })
    }

    /// Expected (rows) × got (columns), in [`VERDICTS`] order.
    pub fn confusion(&self, objective: &str) -> [[usize; 3]; 3] {
        let at = |v: Verdict| VERDICTS.iter().position(|x| *x == v).expect("every verdict is listed");
        let mut m = [[0; 3]; 3];
        for o in self.outcomes.iter().filter(|o| o.objective == objective) {
            m[at(o.expected)][at(o.got)] += 1;
        }
        m
    }

    pub fn markdown(&self) -> String {
        let all = self.counts(None);
        let mut out = format!(
            "{} dossiers, {} files, {} objective verdicts: {} right ({}), decided by the machine {} ({}), wrong « met » {}.\n\n",
            self.dossiers,
            self.files,
            all.total,
            all.right,
            percent(all.right, all.total),
            all.automated,
            percent(all.automated, all.total),
            all.wrong_met
        );
        out += &format!(
            "Invoices read: {}; the establishment's own identifier read as the seller's: {}; left empty with `seller_is_establishment`: {}.\n\n",
            self.invoices,
            self.buyer_as_seller.len(),
            self.seller_is_establishment
        );
        out += "| objective | right | decided by the machine | wrong « met » |\n|---|---|---|---|\n";
        for id in self.objectives() {
            let c = self.counts(Some(&id));
            out += &format!(
                "| {id} | {}/{} ({}) | {}/{} ({}) | {} |\n",
                c.right,
                c.total,
                percent(c.right, c.total),
                c.automated,
                c.total,
                percent(c.automated, c.total),
                c.wrong_met
            );
        }
        out += &format!(
            "| all | {}/{} ({}) | {}/{} ({}) | {} |\n",
            all.right,
            all.total,
            percent(all.right, all.total),
            all.automated,
            all.total,
            percent(all.automated, all.total),
            all.wrong_met
        );
        for id in self.objectives() {
            out += &format!(
                "\n{id} (rows: the controller's verdict; columns: caregate's)\n\n| expected \\ got | met | not_met | needs_review |\n|---|---|---|---|\n"
            );
            for (row, v) in self.confusion(&id).iter().zip(VERDICTS) {
                out += &format!("| {v} | {} | {} | {} |\n", row[0], row[1], row[2]);
            }
        }
        let misses: Vec<&Outcome> = self.outcomes.iter().filter(|o| !o.right()).collect();
        if !misses.is_empty() {
            out += "\nMisses, per dossier (wrong « met » marked ⚠):\n\n";
            for o in misses {
                out += &format!(
                    "- {}{} {} [{}]: expected {} ({}), got {}: {}\n",
                    if o.wrong_met() { "⚠ " } else { "" },
                    o.dossier,
                    o.objective,
                    o.case.as_deref().unwrap_or("-"),
                    o.expected,
                    o.why_expected,
                    o.got,
                    o.reasons.join(" | ")
                );
            }
        }
        out
    }
}

/// The case of `objective` the generator wrote (`D1.AD.LEVEL` is listed as `D1.AD`).
fn case_of(expected: &ExpectedDossier, objective: &str) -> Option<String> {
    let mut key = objective;
    loop {
        if let Some(c) = expected.cases.get(key) {
            return Some(c.clone());
        }
        key = &key[..key.rfind('.')?];
    }
}

/// Sends every dossier under `dir` through `app`'s intake and pipeline (a worker in this
/// process when the queue is in-process), then scores each one's final verification.
/// `give_identifiers`: the establishments' SIRETs (from `expected.json`) are given at
/// upload; `false` measures what reading does without them.
pub async fn run(app: &App, dir: &Path, wait: Duration, give_identifiers: bool) -> anyhow::Result<DossierScore> {
    let dossiers = load(dir)?;
    let intake = app.intake()?;
    let shutdown = CancellationToken::new();
    let worker = if app.backends.in_process_queue { Some(app.spawn_worker(shutdown.clone()).await?) } else { None };
    let quiet = progress_bar(0, true);
    let mut sent: Vec<(String, SubmissionId, usize, &ExpectedDossier)> = Vec::new();
    let mut files = 0;
    let mut own_of: BTreeMap<SubmissionId, caregate_schemas::EstablishmentIdentifiers> = BTreeMap::new();
    for (name, folder, expected) in &dossiers {
        let id = SubmissionId::new();
        let sirets: Vec<String> = expected.establishment.siret.iter().cloned().collect();
        let own = caregate_schemas::EstablishmentIdentifiers::checked(&expected.establishment.finess, &[], &sirets).with_context(|| name.clone())?;
        if give_identifiers {
            crate::submit::add_identifiers(app, &own).await.with_context(|| name.clone())?;
        }
        own_of.insert(id, own);
        // One upload per file, each with the objectives it is declared for, in order:
        // the order is what makes a report "the latest received".
        for f in &expected.files {
            let disk = folder.join(&f.path);
            let size = std::fs::metadata(&disk).with_context(|| format!("{name}: {}", f.path))?.len();
            let sub = SubmissionRef {
                submission_id: id,
                establishment: expected.establishment.finess.clone(),
                campaign: expected.campaign.clone(),
                objectives: f.objectives.clone(),
                category: Some(expected.establishment.category.clone()),
            };
            caregate_ingest::validate_submission(&sub).with_context(|| format!("{name}: {}", f.path))?;
            upload_files(&intake, &sub, &[LocalFile { disk, name: f.path.clone(), size }], &quiet).await.with_context(|| name.clone())?;
        }
        let records = app.wait_for_submission(id, expected.files.len(), wait, |_| {}).await.with_context(|| name.clone())?;
        app.wait_for_verification(id, records.len(), wait).await.with_context(|| name.clone())?;
        files += expected.files.len();
        sent.push((name.clone(), id, records.len(), expected));
    }
    // A dossier judged again because a later one shares an invoice with it is judged in
    // that later file's job: once the worker has finished its jobs, every verdict is final.
    shutdown.cancel();
    if let Some(w) = worker {
        w.await.ok();
    }
    let mut score = DossierScore { dossiers: sent.len(), files, ..DossierScore::default() };
    for (name, id, records, expected) in sent {
        let v = app.wait_for_verification(id, records, wait).await.with_context(|| name.clone())?;
        let own = own_of.get(&id).cloned().unwrap_or_default();
        for rec in app.backends.index.submission(id).await? {
            let Some(inv) = rec.fields.invoice().filter(|_| rec.is_invoice()) else { continue };
            score.invoices += 1;
            if [&inv.seller_siret, &inv.seller_siren, &inv.vat_id].into_iter().flatten().any(|v| own.owns(v)) {
                score.buyer_as_seller.push(format!("{name}/{}", rec.path));
            }
            score.seller_is_establishment += rec.findings.iter().any(|f| f.code == caregate_schemas::FindingCode::SellerIsEstablishment) as usize;
        }
        for (objective, want) in &expected.expected {
            let Some(got) = v.objectives.iter().find(|o| &o.objective == objective) else {
                bail!("{name}: objective {objective} is not in the referential of {}", v.campaign);
            };
            score.outcomes.push(Outcome {
                dossier: name.clone(),
                objective: objective.clone(),
                case: case_of(expected, objective),
                expected: want.verdict,
                why_expected: want.why.clone(),
                got: got.verdict,
                reasons: got.reasons.iter().filter(|r| r.verdict == got.verdict).map(|r| format!("{}: {}", r.code, r.message)).collect(),
            });
        }
    }
    // Objectives in the referential's order, then dossiers by name.
    let order: Vec<String> =
        app.referentials()?.for_campaign(&dossiers[0].2.campaign).map(|r| r.objectives.iter().map(|o| o.id.clone()).collect()).unwrap_or_default();
    let rank = |id: &str| order.iter().position(|o| o == id).unwrap_or(usize::MAX);
    score.outcomes.sort_by(|a, b| (rank(&a.objective), &a.objective, &a.dossier).cmp(&(rank(&b.objective), &b.objective, &b.dossier)));
    Ok(score)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(objective: &str, expected: Verdict, got: Verdict) -> Outcome {
        Outcome { dossier: "01".into(), objective: objective.into(), case: None, expected, why_expected: "x".into(), got, reasons: vec![] }
    }

    #[test]
    fn the_tables_count_each_outcome_once() {
        use Verdict::*;
        let score = DossierScore {
            dossiers: 2,
            files: 5,
            outcomes: vec![
                outcome("A", Met, Met),
                outcome("A", NeedsReview, Met),
                outcome("A", NotMet, NeedsReview),
                outcome("B", NotMet, NotMet),
                outcome("B", Met, NotMet),
            ],
            ..DossierScore::default()
        };
        assert_eq!(score.counts(Some("A")), Counts { right: 1, automated: 2, wrong_met: 1, total: 3 });
        assert_eq!(score.counts(None), Counts { right: 2, automated: 4, wrong_met: 1, total: 5 });
        assert_eq!(score.confusion("A"), [[1, 0, 0], [0, 0, 1], [1, 0, 0]]);
        assert_eq!(score.confusion("B"), [[0, 1, 0], [0, 1, 0], [0, 0, 0]]);
        let md = score.markdown();
        assert!(md.contains("| A | 1/3 (33 %) | 2/3 (67 %) | 1 |"), "{md}");
        assert!(md.contains("| needs_review | 1 | 0 | 0 |"), "{md}");
        assert_eq!(md.matches("⚠").count(), 1 + 1, "{md}");
    }

    #[test]
    fn an_objectives_case_is_found_under_its_group() {
        let expected: ExpectedDossier = serde_json::from_value(serde_json::json!({
            "establishment": {"finess": "760010000", "name": "CH", "category": "public"},
            "campaign": "care-d1-2024",
            "files": [{"path": "a.pdf", "objectives": ["D1.PRE"]}],
            "cases": {"D1.AD": "tampered", "D1.PRE": "signed"},
            "expected": {"D1.PRE": {"verdict": "met", "why": "x"}}
        }))
        .unwrap();
        assert_eq!(case_of(&expected, "D1.AD.LEVEL").as_deref(), Some("tampered"));
        assert_eq!(case_of(&expected, "D1.PRE").as_deref(), Some("signed"));
        assert_eq!(case_of(&expected, "D1.FIN"), None);
    }
}
