//! Whole dossiers judged as a controller would judge them (issue #24): a few of the
//! dossiers `scripts/make-dossiers.py` writes through real producers (Chromium,
//! LibreOffice, Ghostscript, ImageMagick and Pillow scans, pyhanko signatures), sent by
//! `caregate accuracy --dossiers` end to end with the embedded back ends, and its score
//! checked: every objective of every dossier compared once, the counts adding up, and
//! the share right and the wrong « met » no worse than measured. The producers are
//! required (scripts/services.sh installs them): without them the test fails.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use caregate::accuracy::dossiers::{load, DossierScore, VERDICTS};
use caregate_schemas::Verdict;

use crate::common::{Stack, TestEnv};

/// The dossiers made: a signed attestation with a PingCastle report and nmap scans
/// before/after and a clean expense claim (0); no attestation, a PingCastle report
/// edited by hand, a scanned invoice whose total is under a stain (5); a consultancy's
/// PDF audit report stating its level, scans of private addresses only, a report row
/// with no invoice (6); a financial report printed to PDF by Chromium, its table's
/// titles and cells wrapped (10); an unsigned attestation, a network diagram, invoices
/// about an audit (11); a born-digital invoice whose printed TTC is not HT + TVA (13).
const SUBSET: &str = "0,5,6,10,11,13";
/// As measured when the test was written (2026-12-07): 23 of the 24 verdicts right;
/// since the edited report's level, the PDF report and the born-digital totals are
/// judged as a controller would (issue #24), all 36. The floor only goes up as the
/// judge improves; a wrong « met » is never allowed.
const FLOOR_RIGHT: usize = 36;

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/make-dossiers.py")
}

fn make_dossiers(out: &Path) {
    let made = Command::new("python3").arg(script()).arg(out).args(["--only", SUBSET]).output().expect("python3");
    assert!(
        made.status.success(),
        "make-dossiers.py failed (its producers come from scripts/services.sh):\n{}{}",
        String::from_utf8_lossy(&made.stdout),
        String::from_utf8_lossy(&made.stderr)
    );
}

#[test]
fn whole_dossiers_are_scored_objective_by_objective_against_a_controllers_verdicts() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let env = rt.block_on(TestEnv::new(Stack::Embedded));
    let dir = env.dir.path().join("dossiers");
    make_dossiers(&dir);
    let dossiers = load(&dir).unwrap();
    assert_eq!(dossiers.len(), SUBSET.split(',').count());

    let out = Command::new(env!("CARGO_BIN_EXE_caregate"))
        .envs(env.child_env())
        .env("CAREGATE_LOG", "warn")
        .args(["accuracy", "--json", "--dossiers"])
        .arg(&dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // 0: every verdict as expected; 1: some missed. Anything else is a failure to run.
    assert!(matches!(out.status.code(), Some(0 | 1)), "accuracy --dossiers failed: {stderr}");
    let score: DossierScore = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}\n{stderr}", String::from_utf8_lossy(&out.stdout)));
    println!("{}", score.markdown());

    // Every objective of every dossier, once, with the controller's verdict as written.
    assert_eq!(score.dossiers, dossiers.len());
    assert_eq!(score.files, dossiers.iter().map(|(_, _, e)| e.files.len()).sum::<usize>());
    let mut seen: BTreeMap<(String, String), Verdict> = BTreeMap::new();
    for o in &score.outcomes {
        assert!(seen.insert((o.dossier.clone(), o.objective.clone()), o.expected).is_none(), "{} {} twice", o.dossier, o.objective);
    }
    let written: BTreeMap<(String, String), Verdict> =
        dossiers.iter().flat_map(|(name, _, e)| e.expected.iter().map(move |(o, v)| ((name.clone(), o.clone()), v.verdict))).collect();
    assert_eq!(seen, written);
    assert_eq!(score.objectives().len(), 6, "{:?}", score.objectives());

    // The counts add up: the tables hold every outcome, right is their diagonal, the
    // machine decides what is not sent to review, and a wrong « met » is in the met
    // column off the diagonal.
    let all = score.counts(None);
    assert_eq!(all.total, dossiers.len() * 6);
    let (mut cells, mut diagonal, mut met_off_diagonal, mut review) = (0, 0, 0, 0);
    for id in score.objectives() {
        let m = score.confusion(&id);
        let c = score.counts(Some(&id));
        assert_eq!(m.iter().flatten().sum::<usize>(), c.total, "{id}");
        assert_eq!((0..3).map(|i| m[i][i]).sum::<usize>(), c.right, "{id}");
        assert_eq!(m[1][0] + m[2][0], c.wrong_met, "{id}");
        assert_eq!(c.total - m.iter().map(|row| row[2]).sum::<usize>(), c.automated, "{id}");
        cells += c.total;
        diagonal += c.right;
        met_off_diagonal += c.wrong_met;
        review += m.iter().map(|row| row[2]).sum::<usize>();
    }
    assert_eq!((cells, diagonal, met_off_diagonal, all.total - review), (all.total, all.right, all.wrong_met, all.automated));
    assert_eq!(VERDICTS.len(), 3);
    let misses = score.outcomes.iter().filter(|o| !o.right()).count();
    assert_eq!(misses, all.total - all.right);
    assert_eq!(out.status.code(), Some(if misses == 0 { 0 } else { 1 }));

    assert!(all.right >= FLOOR_RIGHT, "{}/{} right, under the {FLOOR_RIGHT} measured:\n{}", all.right, all.total, score.markdown());
    assert_eq!(all.wrong_met, 0, "wrong « met » where a controller would not say so:\n{}", score.markdown());
}
