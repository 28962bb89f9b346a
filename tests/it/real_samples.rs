//! Files nobody here wrote: every file of `../shared/real-samples` (or
//! `CAREGATE_REAL_SAMPLES`) read as the worker reads it, and compared with its
//! `truth.json` field by field. The per-field table is printed; the test fails when the
//! share of right fields drops below the floor reached, which only goes up. A clone
//! without the directory says so and skips.

use std::path::PathBuf;

/// Right fields over all scored, as reached (446/448 when this floor was set).
const FLOOR: f64 = 0.99;

fn real_samples() -> Option<PathBuf> {
    let dir =
        std::env::var("CAREGATE_REAL_SAMPLES").map(PathBuf::from).unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/real-samples"));
    dir.join("truth.json").is_file().then_some(dir)
}

#[test]
fn real_third_party_files_read_as_their_truth_says() {
    let Some(root) = real_samples() else {
        eprintln!("no real samples (../shared/real-samples or CAREGATE_REAL_SAMPLES): skipped");
        return;
    };
    let truth = caregate::accuracy::load_truth(&root.join("truth.json")).unwrap();
    let score = caregate::accuracy::score_truth(&root, &truth, &crate::common::reader()).unwrap();
    let (right, total) = score.totals();
    println!("{}\nwrong:\n  {}", score.markdown(), score.misses.join("\n  "));
    assert!(right as f64 >= FLOOR * total as f64, "{right}/{total} fields right, under the floor of {:.0} %:\n  {}", FLOOR * 100.0, score.misses.join("\n  "));
}
