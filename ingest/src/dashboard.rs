//! The campaign's dashboard (a child of `console`, `/console/tableau-de-bord`): dossiers
//! per verdict per region and objective, the automation rate (objectives the machine
//! settled with no controller), files received per day, time from upload to decision.
//! The figures are the index's aggregate queries ([`caregate_storage::ReviewQueue::dashboard`]),
//! within the caller's scope. Each chart is an SVG drawn by the server with `plotters`
//! (its SVG back end only: no font files, no bitmap, no script in the browser), with
//! the table of its figures beside it, so that the page reads without JavaScript, without
//! images, and by a screen reader.

use std::collections::BTreeMap;

use axum::extract::{Query, State};
use axum::response::Html;
use caregate_schemas::Verdict;
use caregate_storage::DashboardFigures;
use chrono::NaiveDate;
use maud::{html, Markup, PreEscaped};
use plotters::prelude::*;
use serde::Deserialize;

use super::{page, PageError};
use crate::auth::{Action, Caller};
use crate::http::given;
use crate::state::AppState;

#[derive(Debug, Default, Deserialize)]
pub(super) struct DashboardFilter {
    campagne: Option<String>,
}

/// The verdicts in the order people read them, with DSFR's success, warning and error
/// colours.
const VERDICTS: [(Verdict, RGBColor); 3] =
    [(Verdict::Met, RGBColor(0x18, 0x75, 0x3c)), (Verdict::NeedsReview, RGBColor(0xb3, 0x40, 0x00)), (Verdict::NotMet, RGBColor(0xce, 0x05, 0x00))];

/// Buckets of the time from upload to decision, in days.
const DELAYS: [(&str, i64, i64); 6] = [
    ("moins d'1 jour", 0, 1),
    ("1 à 3 jours", 1, 3),
    ("3 à 7 jours", 3, 7),
    ("7 à 14 jours", 7, 14),
    ("14 à 30 jours", 14, 30),
    ("30 jours et plus", 30, i64::MAX),
];

/// A share in French (`78,4 %`).
pub(super) fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "—".into();
    }
    format!("{:.1}\u{a0}%", part as f64 * 100.0 / whole as f64).replace('.', ",")
}

/// A duration in days in French (`2,5 jours`).
fn days(secs: i64) -> String {
    format!("{:.1} jour(s)", secs as f64 / 86_400.0).replace('.', ",")
}

/// The median of sorted values.
fn median(sorted: &[i64]) -> Option<i64> {
    (!sorted.is_empty()).then(|| sorted[sorted.len() / 2])
}

/// A bar chart as SVG: one bar per label, stacked by series, each series labelled in the
/// legend. `None` when plotters could not draw it (said on the page; the table stays).
fn bars(title: &str, labels: &[String], series: &[(&str, RGBColor, Vec<u64>)]) -> Option<String> {
    let mut svg = String::new();
    let n = labels.len().max(1) as u32;
    let top = (0..labels.len()).map(|i| series.iter().map(|s| s.2.get(i).copied().unwrap_or(0)).sum::<u64>()).max().unwrap_or(0).max(1);
    {
        let root = SVGBackend::with_string(&mut svg, (720, 340)).into_drawing_area();
        root.fill(&WHITE).ok()?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(48)
            .y_label_area_size(48)
            .build_cartesian_2d((0u32..n).into_segmented(), 0u64..top + top / 10 + 1)
            .ok()?;
        let every = labels.len().div_ceil(14).max(1);
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(labels.len().clamp(1, 14))
            .x_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) | SegmentValue::Exact(i) if (*i as usize).is_multiple_of(every) => {
                    labels.get(*i as usize).cloned().unwrap_or_default()
                }
                _ => String::new(),
            })
            .y_label_formatter(&|v| v.to_string())
            .label_style(("sans-serif", 13))
            .draw()
            .ok()?;
        let mut base = vec![0u64; labels.len()];
        for (name, colour, values) in series {
            let colour = *colour;
            let bars: Vec<Rectangle<(SegmentValue<u32>, u64)>> = values
                .iter()
                .enumerate()
                .filter(|(_, v)| **v > 0)
                .map(|(i, v)| {
                    let x = i as u32;
                    let rect = Rectangle::new([(SegmentValue::Exact(x), base[i]), (SegmentValue::Exact(x + 1), base[i] + v)], colour.filled());
                    base[i] += v;
                    rect
                })
                .collect();
            chart.draw_series(bars).ok()?.label(*name).legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], colour.filled()));
        }
        if series.len() > 1 {
            chart.configure_series_labels().background_style(WHITE.mix(0.9)).border_style(BLACK).label_font(("sans-serif", 13)).draw().ok()?;
        }
        root.present().ok()?;
    }
    // The SVG is an image with a name for screen readers; its figures are in the table
    // beside it.
    let named = svg.replacen("<svg ", &format!("<svg role=\"img\" aria-label=\"{}\" ", maud::html! { (title) }.into_string()), 1);
    Some(named)
}

fn chart(title: &str, svg: Option<String>) -> Markup {
    html! {
        figure.graphique {
            @match svg {
                Some(svg) => (PreEscaped(svg)),
                None => p { "Graphique indisponible : voir le tableau." },
            }
            figcaption { (title) }
        }
    }
}

pub(super) async fn dashboard(State(st): State<AppState>, caller: Caller, Query(filter): Query<DashboardFilter>) -> Result<Html<String>, PageError> {
    caller.may(Action::Review, None)?;
    let campaign = given(&filter.campagne);
    let f = st.index.dashboard(&caller.0.scope, campaign).await?;
    Ok(page(&caller, "Tableau de bord de la campagne", render(&f, campaign)))
}

/// (region, objective) → dossiers per verdict, in [`VERDICTS`] order.
fn per_region_objective(f: &DashboardFigures) -> BTreeMap<(&str, &str), [u64; 3]> {
    let mut out: BTreeMap<(&str, &str), [u64; 3]> = BTreeMap::new();
    for (region, objective, verdict, n) in &f.by_region_objective {
        let i = VERDICTS.iter().position(|(v, _)| v == verdict).unwrap_or(1);
        out.entry((region.as_str(), objective.as_str())).or_default()[i] += n;
    }
    out
}

fn render(f: &DashboardFigures, campaign: Option<&str>) -> Markup {
    let table = per_region_objective(f);
    let mut regions: BTreeMap<&str, [u64; 3]> = BTreeMap::new();
    for ((region, _), counts) in &table {
        let r = regions.entry(region).or_default();
        for i in 0..3 {
            r[i] += counts[i];
        }
    }
    let region_labels: Vec<String> = regions.keys().map(|r| (*r).to_owned()).collect();
    let region_series: Vec<(&str, RGBColor, Vec<u64>)> =
        VERDICTS.iter().enumerate().map(|(i, (v, c))| (v.label_fr(), *c, regions.values().map(|counts| counts[i]).collect())).collect();
    let day_labels: Vec<String> = f.files_per_day.iter().map(|(d, _)| d.format("%d/%m").to_string()).collect();
    let day_values: Vec<u64> = f.files_per_day.iter().map(|(_, n)| *n).collect();
    let delays: Vec<u64> = DELAYS
        .iter()
        .map(|(_, lo, hi)| f.upload_to_decision_secs.iter().filter(|s| **s >= lo * 86_400 && (*hi == i64::MAX || **s < hi * 86_400)).count() as u64)
        .collect();
    let waiting = f.by_region_objective.iter().filter(|x| x.2 == Verdict::NeedsReview).map(|x| x.3).sum::<u64>();
    let day = |d: &NaiveDate| crate::fields_fr::day(*d);
    html! {
        form.filters method="get" action="/console/tableau-de-bord" {
            div.fr-input-group { label.fr-label for="campagne" { "Campagne" span.fr-hint-text { "vide : toutes" } }
                input.fr-input #campagne name="campagne" value=(campaign.unwrap_or_default()) size="16"; }
            button.fr-btn type="submit" { "Afficher" }
        }
        div.fr-table { table #chiffres-cles {
            caption { "Chiffres clés" }
            tbody {
                tr { th scope="row" { "Objectifs jugés" } td #objectives-total { (f.objectives) } }
                tr { th scope="row" { "Réglés par la machine sans contrôleur" } td #settled-by-machine { (f.settled_by_machine) } }
                tr { th scope="row" { "Taux d'automatisation" } td #automation-rate { (percent(f.settled_by_machine, f.objectives)) } }
                tr { th scope="row" { "Décidés par un contrôleur" } td #decided { (f.decided) } }
                tr { th scope="row" { "En attente d'un contrôleur" } td #waiting { (waiting) } }
                tr { th scope="row" { "Délai médian du dépôt à la décision" } td #median-delay { (median(&f.upload_to_decision_secs).map_or_else(|| "—".into(), days)) } }
            }
        } }
        section #par-region {
            h2 { "Objectifs par verdict et par région" }
            div.cote-a-cote {
                (chart("Objectifs par verdict et par région", bars("Objectifs par verdict et par région", &region_labels, &region_series)))
                div.fr-table { table #verdicts-region-objectif {
                    caption { "Dossiers par région, objectif et verdict (décisions comprises)" }
                    thead { tr { th scope="col" { "Région" } th scope="col" { "Objectif" } @for (v, _) in VERDICTS { th scope="col" { (v.label_fr()) } } } }
                    tbody { @for ((region, objective), counts) in &table {
                        tr data-region=(region) data-objective=(objective) { td { (region) } td { code { (objective) } }
                            @for (i, (v, _)) in VERDICTS.iter().enumerate() { td data-verdict=(v.as_str()) { (counts[i]) } } }
                    } }
                } }
            }
        }
        section #par-jour {
            h2 { "Pièces reçues par jour" }
            div.cote-a-cote {
                (chart("Pièces reçues par jour", bars("Pièces reçues par jour", &day_labels, &[("pièces", RGBColor(0x00, 0x00, 0x91), day_values)])))
                div.fr-table { table #pieces-par-jour {
                    caption { "Pièces reçues par jour (UTC)" }
                    thead { tr { th scope="col" { "Jour" } th scope="col" { "Pièces" } } }
                    tbody { @for (d, n) in &f.files_per_day { tr { td { (day(d)) } td { (n) } } } }
                } }
            }
        }
        section #delais {
            h2 { "Délai du dépôt à la décision" }
            div.cote-a-cote {
                (chart("Délai du dépôt à la décision", bars("Délai du dépôt à la décision", &DELAYS.iter().map(|d| d.0.to_owned()).collect::<Vec<_>>(), &[("dossiers", RGBColor(0x00, 0x00, 0x91), delays.clone())])))
                div.fr-table { table #delais-table {
                    caption { "Dossiers décidés, par délai entre le premier dépôt et la dernière décision" }
                    thead { tr { th scope="col" { "Délai" } th scope="col" { "Dossiers" } } }
                    tbody { @for (i, (label, _, _)) in DELAYS.iter().enumerate() { tr { td { (label) } td { (delays[i]) } } } }
                } }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_svg_with_a_name_and_french_labels() {
        let f = DashboardFigures {
            by_region_objective: vec![("IDF".into(), "D1.PRE".into(), Verdict::Met, 3), ("IDF".into(), "D1.FIN".into(), Verdict::NeedsReview, 2)],
            objectives: 5,
            settled_by_machine: 3,
            decided: 0,
            files_per_day: vec![(NaiveDate::from_ymd_opt(2024, 6, 3).unwrap(), 4)],
            upload_to_decision_secs: vec![3600, 200_000],
        };
        let page = render(&f, None).into_string();
        assert!(page.contains("<svg role=\"img\" aria-label=\"Objectifs par verdict et par région\""), "{page}");
        assert!(page.contains("À examiner") && page.contains("03/06/2024") && page.contains("60,0\u{a0}%"), "{page}");
        assert_eq!(page.matches("<svg").count(), 3);
        assert!(!page.contains("<script"));
    }
}
