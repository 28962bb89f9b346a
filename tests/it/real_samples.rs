//! Files nobody here wrote: every file of `../shared/real-samples` (or
//! `CAREGATE_REAL_SAMPLES`) read as the worker reads it, and compared with its
//! `truth.json` field by field. The per-field table is printed; the test fails when the
//! share of right fields drops below the floor reached, which only goes up. A clone
//! without the directory says so and skips.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;

/// Right fields over all scored, as reached (446/448 when this floor was set).
const FLOOR: f64 = 0.99;

fn real_samples() -> Option<PathBuf> {
    let dir =
        std::env::var("CAREGATE_REAL_SAMPLES").map(PathBuf::from).unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/real-samples"));
    dir.join("truth.json").is_file().then_some(dir)
}

/// Amounts compare as numbers (exact decimals of two places, so as floats safely), identifiers without the spaces they are printed with.
fn same(got: &Value, want: &Value) -> bool {
    match (got, want) {
        (Value::Null, Value::Null) => true,
        (Value::Null, _) | (_, Value::Null) => false,
        (Value::Object(_) | Value::Array(_) | Value::Bool(_), _) => got == want,
        _ => {
            let text = |v: &Value| match v {
                Value::String(s) => s.trim().replace(' ', ""),
                other => other.to_string(),
            };
            let (g, w) = (text(got), text(want));
            match (g.parse::<f64>(), w.parse::<f64>()) {
                (Ok(a), Ok(b)) => a == b,
                _ => g == w,
            }
        }
    }
}

const INVOICE_FIELDS: [&str; 10] =
    ["number", "issue_date", "seller_name", "seller_siren", "seller_siret", "vat_id", "total_ht", "total_tva", "total_ttc", "currency"];

#[test]
fn real_third_party_files_read_as_their_truth_says() {
    let Some(root) = real_samples() else {
        eprintln!("no real samples (../shared/real-samples or CAREGATE_REAL_SAMPLES): skipped");
        return;
    };
    let truth: BTreeMap<String, Value> = serde_json::from_str(&std::fs::read_to_string(root.join("truth.json")).unwrap()).unwrap();
    let reader = crate::common::reader();
    let mut score: BTreeMap<(String, String), (u32, u32)> = BTreeMap::new();
    let mut misses = Vec::new();
    for (rel, t) in &truth {
        let family = rel.split('/').next().unwrap_or_default().to_owned();
        let (_, a) = caregate::accuracy::read_file(&root.join(rel), rel, &reader).unwrap_or_else(|e| panic!("{rel}: {e:#}"));
        let f = a.fields.to_json();
        let mut checks: Vec<(&str, Value, Value)> = vec![("kind", Value::String(a.classification.kind.as_str().into()), t["kind"].clone())];
        let get = |k: &str| f.get(k).cloned().unwrap_or(Value::Null);
        match family.as_str() {
            "cii" | "facturx" | "ubl" | "pdf_misc" if matches!(t["kind"].as_str(), Some("invoice" | "credit_note" | "purchase_order")) => {
                for k in INVOICE_FIELDS.iter().filter(|k| t.get(**k).is_some()) {
                    checks.push((k, get(k), t[*k].clone()));
                }
            }
            "nmap" => {
                let ports: usize = f["hosts"].as_array().map_or(0, |h| h.iter().map(|h| h["open_ports"].as_array().map_or(0, Vec::len)).sum());
                checks.push(("host_count", get("host_count"), t["host_count"].clone()));
                checks.push(("open_port_count", ports.into(), t["open_port_count"].clone()));
                checks.push(("completed", get("completed"), t["completed"].clone()));
            }
            "nessus" => {
                checks.push(("host_count", get("host_count"), t["host_count"].clone()));
                checks.push(("by_severity", get("vulnerabilities"), t["by_severity"].clone()));
            }
            "openvas" => checks.push(("by_severity", get("vulnerabilities"), t["by_severity_score_band"].clone())),
            "pingcastle" => {
                checks.push(("domain", get("domain"), t["domain"].clone()));
                checks.push(("maturity_level", get("maturity_level"), t["maturity_level"].clone()));
                checks.push(("rule_count", f["rules"].as_array().map_or(0, Vec::len).into(), t["rule_count"].clone()));
            }
            _ => {}
        }
        for (field, got, want) in checks {
            let ok = same(&got, &want);
            let s = score.entry((family.clone(), field.to_owned())).or_default();
            s.0 += ok as u32;
            s.1 += 1;
            if !ok {
                misses.push(format!("{rel}: {field} = {got}, truth {want}"));
            }
        }
    }
    let (right, total) = score.values().fold((0, 0), |(r, n), (a, b)| (r + a, n + b));
    println!("| family | field | right |\n|---|---|---|");
    for ((family, field), (r, n)) in &score {
        println!("| {family} | {field} | {r}/{n} |");
    }
    println!("\n{right}/{total} fields right ({:.1} %)\nwrong:\n  {}", 100.0 * right as f64 / total as f64, misses.join("\n  "));
    assert!(right as f64 >= FLOOR * total as f64, "{right}/{total} fields right, under the floor of {:.0} %:\n  {}", FLOOR * 100.0, misses.join("\n  "));
}
