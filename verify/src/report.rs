//! The verification as people read it: a French HTML page (for establishments and
//! controllers, served by the API and written by `caregate report --html`) and a plain
//! text table for the terminal. Both show the same things: each objective's verdict,
//! the reasons behind it, and the evidence they rest on, with links.

use caregate_schemas::{EvidenceId, Verdict, Verification};
use maud::{html, Markup, DOCTYPE};

/// French label of a verdict.
/// The verdict's one French name (see [`caregate_schemas::vocabulary`]).
pub fn verdict_fr(v: Verdict) -> &'static str {
    v.label_fr()
}

fn path_of(v: &Verification, id: EvidenceId) -> &str {
    v.evidence.iter().find(|e| e.evidence_id == id).map(|e| e.path.as_str()).unwrap_or("?")
}

/// The HTML report. `evidence_href` gives the link of an evidence (e.g. its API URL).
pub fn html(v: &Verification, evidence_href: impl Fn(EvidenceId) -> String) -> String {
    let css = "body{font-family:sans-serif;max-width:70em;margin:2em auto;color:#222}
        table{border-collapse:collapse;width:100%}td,th{border:1px solid #ccc;padding:.3em .5em;vertical-align:top;text-align:left}
        .met{color:#1a7f37}.needs_review{color:#9a6700}.not_met{color:#cf222e}.verdict{font-weight:bold}
        .provisoire{background:#fff8c5;padding:.5em}";
    let page: Markup = html! {
        (DOCTYPE)
        html lang="fr" {
            head {
                meta charset="utf-8";
                title { "Vérification du dossier " (v.submission_id) }
                style { (css) }
            }
            body {
                h1 { "Vérification du dossier " (v.submission_id) }
                p {
                    "Établissement (FINESS) " strong { (v.establishment) } " — campagne " strong { (v.campaign) } br;
                    "Référentiel " code { (v.referential_id) } " version " code { (&v.referential_version[..v.referential_version.len().min(12)]) }
                    " — calculé le " (v.computed_at.format("%d/%m/%Y à %H:%M UTC"))
                }
                @if v.pending > 0 {
                    p class="provisoire" { "Résultat provisoire : " (v.pending) " pièce(s) encore en cours de traitement." }
                }
                p { "Conclusion d'ensemble : " span class={ "verdict " (v.verdict.as_str()) } { (verdict_fr(v.verdict)) } }
                h2 { "Objectifs" }
                table {
                    tr { th { "Objectif" } th { "Verdict" } th { "Motifs" } th { "Pièces" } }
                    @for o in &v.objectives {
                        tr id=(o.objective) {
                            td { strong { (o.objective) } br; (o.title) @if o.claimed { br; small { "(déclaré)" } } }
                            td class={ "verdict " (o.verdict.as_str()) } { (verdict_fr(o.verdict)) }
                            td {
                                ul {
                                    @for r in &o.reasons {
                                        li class=(r.verdict.as_str()) {
                                            (r.code.label()) " — " (r.message) " " small { code { (r.code) } }
                                            @if let Some(p) = &r.pointer { " " small { "[" (p) "]" } }
                                        }
                                    }
                                }
                            }
                            td {
                                @for id in &o.evidence {
                                    a href=(evidence_href(*id)) { (path_of(v, *id)) } br;
                                }
                            }
                        }
                    }
                }
                h2 { "Pièces" }
                table {
                    tr { th { "Fichier" } th { "Type" } th { "État" } th { "Constats" } }
                    @for e in &v.evidence {
                        tr {
                            td { a href=(evidence_href(e.evidence_id)) { (e.path) } }
                            td { (e.kind.map_or("—", |k| k.label_fr())) }
                            td { (e.status.label_fr()) }
                            td {
                                @for f in &e.findings {
                                    (f.code.label()) " : " (f.message) @if let Some(p) = &f.pointer { " [" (p) "]" } " " small { code { (f.code) } } br;
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    page.into_string()
}

/// A plain table for the terminal: one block per objective.
pub fn text(v: &Verification) -> String {
    let mut out = format!(
        "Dossier {} — FINESS {} — {} (référentiel {})\nConclusion : {}{}\n",
        v.submission_id,
        v.establishment,
        v.campaign,
        &v.referential_version[..v.referential_version.len().min(12)],
        verdict_fr(v.verdict),
        if v.pending > 0 { format!(" (provisoire, {} pièce(s) en cours)", v.pending) } else { String::new() }
    );
    for o in &v.objectives {
        out.push_str(&format!("\n{:<14} {:<12} {}\n", o.objective, verdict_fr(o.verdict), o.title));
        for r in &o.reasons {
            out.push_str(&format!("    [{}] {} — {} ({})\n", verdict_fr(r.verdict), r.code.label(), r.message, r.code));
        }
    }
    out
}
