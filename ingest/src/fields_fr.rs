//! A file's extracted data as a controller reads it: French tables (labels, `1 234,56 €`,
//! `12/06/2024`), each value read on a page linked to the box drawn where it was read,
//! instead of the record's JSON. The JSON stays one click away (`details`) for what no
//! table shows.

use std::collections::BTreeMap;

use caregate_schemas::extracted::{AdAudit, Attestation, Content, FinancialReport, Integrity, Invoice, InvoiceSource, Location, Scan};
use caregate_schemas::EvidenceRecord;
use chrono::NaiveDate;
use maud::{html, Markup};
use rust_decimal::Decimal;

/// The no-break space French typography puts between thousands and before the euro sign,
/// so an amount never breaks across lines.
const NBSP: char = '\u{a0}';

/// An amount as French people write it: `1 234,56 €` (two decimals, thousands grouped by
/// a no-break space). Written here rather than taken from a crate: `num-format` groups
/// integers only and knows no decimals, and rust_decimal has no locales.
pub fn euros(d: Decimal, currency: Option<&str>) -> String {
    let rounded = d.round_dp(2);
    let negative = rounded.is_sign_negative() && !rounded.is_zero();
    let text = format!("{:.2}", rounded.abs());
    let (int, frac) = text.split_once('.').unwrap_or((&text, "00"));
    let mut grouped = String::with_capacity(int.len() + int.len() / 3);
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(NBSP);
        }
        grouped.push(c);
    }
    let unit = match currency {
        None | Some("EUR") | Some("") => "€",
        Some(other) => other,
    };
    format!("{}{grouped},{frac}{NBSP}{unit}", if negative { "-" } else { "" })
}

/// A day as French people write it.
pub fn day(d: NaiveDate) -> String {
    d.format("%d/%m/%Y").to_string()
}

/// An ISO 8601 date or date-time as written in a report (`2024-06-12T10:31:00Z`) in French;
/// as written when it is neither.
pub fn iso_fr(raw: &str) -> String {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(raw) {
        return t.format("%d/%m/%Y %H:%M").to_string();
    }
    if let Ok(t) = chrono::NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S") {
        return t.format("%d/%m/%Y %H:%M").to_string();
    }
    raw.get(..10).and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()).map_or_else(|| raw.to_owned(), day)
}

/// A SIREN (`732 829 320`) or SIRET (`732 829 320 00074`) grouped as printed on French
/// documents; any other identifier as given.
pub fn siren_siret(id: &str) -> String {
    let digits = id.chars().all(|c| c.is_ascii_digit());
    match id.len() {
        9 if digits => format!("{} {} {}", &id[..3], &id[3..6], &id[6..]),
        14 if digits => format!("{} {} {} {}", &id[..3], &id[3..6], &id[6..9], &id[9..]),
        _ => id.to_owned(),
    }
}

fn source_fr(s: InvoiceSource) -> &'static str {
    match s {
        InvoiceSource::Facturx => "XML Factur-X intégré au PDF",
        InvoiceSource::Cii => "XML CII",
        InvoiceSource::Ubl => "XML UBL",
        InvoiceSource::Text => "texte du PDF",
        InvoiceSource::Ocr => "texte reconnu par OCR (un chiffre peut être mal lu)",
    }
}

/// How sure the reading of a field is, in the words a controller reads: the page's own
/// evidence (its label, the arithmetic, the check keys) backs a value strongly, partly,
/// or hardly (a value found without a label, a name guessed from its place).
fn sureness_fr(confidence: f32) -> &'static str {
    if confidence >= 0.85 {
        "élevée"
    } else if confidence >= 0.6 {
        "moyenne"
    } else {
        "faible : à vérifier"
    }
}

/// Where a value was read: a link to its box on the page view, or the XML element.
fn located(rec: &EvidenceRecord, locations: &BTreeMap<String, Location>, field: &str) -> Markup {
    html! {
        @match locations.get(field) {
            Some(Location::Page { page, .. }) => a.fr-link.champ-lien href={ "/console/evidence/" (rec.evidence_id) "?champ=" (field) "#page" } { "page " (page) },
            Some(Location::Xml { path }) => code { (path) },
            None => "—",
        }
    }
}

/// A field a reason or a finding points at (`issue_date`, `rows.3 (Feuille1, ligne 5)`,
/// `document.signatures.0.validation`...), named as a controller reads it: the same names
/// as the tables below. A pointer this version does not know is given as written.
pub fn field_fr(pointer: &str) -> String {
    // `rows.<i>` may carry where the row is in the file, in parentheses: kept.
    let (path, said) = match pointer.split_once(" (") {
        Some((p, rest)) => (p, Some(rest.trim_end_matches(')'))),
        None => (pointer, None),
    };
    let parts: Vec<&str> = path.split('.').collect();
    let nth = |s: &str| s.parse::<usize>().map(|i| i + 1).ok();
    let named = match parts.as_slice() {
        ["number"] => Some("numéro".to_owned()),
        ["issue_date"] => Some("date".to_owned()),
        ["seller_name"] => Some("vendeur".to_owned()),
        ["seller_siret"] => Some("SIRET du vendeur".to_owned()),
        ["seller_siren"] => Some("SIREN du vendeur".to_owned()),
        ["vat_id" | "seller_vat_id"] => Some("n° de TVA intracommunautaire".to_owned()),
        ["buyer_name"] => Some("client".to_owned()),
        ["total_ht"] => Some("total HT".to_owned()),
        ["total_tva"] => Some("TVA".to_owned()),
        ["total_ttc"] => Some("total TTC".to_owned()),
        ["totals", "ttc"] => Some("total TTC déclaré".to_owned()),
        ["rows"] => Some("lignes du bilan".to_owned()),
        ["rows", i] => nth(i).map(|n| format!("ligne {n} du bilan")),
        ["hosts"] => Some("hôtes analysés".to_owned()),
        ["hosts", h, "open_ports", p] => nth(h).zip(nth(p)).map(|(h, p)| format!("hôte {h}, port ouvert {p}")),
        ["items", i] => nth(i).map(|n| format!("vulnérabilité {n}")),
        ["completed"] => Some("fin de l'analyse".to_owned()),
        ["rules"] => Some("règles relevées".to_owned()),
        ["anssi_level"] => Some("niveau ANSSI".to_owned()),
        ["maturity_level"] => Some("niveau de maturité".to_owned()),
        ["integrity"] => Some("intégrité du rapport".to_owned()),
        ["domain"] => Some("domaine".to_owned()),
        ["document", "signatures"] => Some("signatures électroniques".to_owned()),
        ["document", "signatures", i, ..] => nth(i).map(|n| format!("signature {n}")),
        _ => None,
    };
    match (named, said) {
        (Some(n), Some(s)) => format!("{n} ({s})"),
        (Some(n), None) => n,
        (None, _) => pointer.to_owned(),
    }
}

/// Where on the file's page a pointer is shown: the box drawn where an invoice's value
/// was read (the page view), a signature's row, or the table of what was read.
pub fn field_anchor(rec: &EvidenceRecord, pointer: &str) -> (String, Option<u32>) {
    let base = format!("/console/evidence/{}", rec.evidence_id);
    if let Some(Location::Page { page, .. }) = rec.fields.invoice().and_then(|i| i.locations.get(pointer)) {
        return (format!("{base}?champ={pointer}#page"), Some(*page));
    }
    if let Some(i) = pointer.strip_prefix("document.signatures.").and_then(|rest| rest.split('.').next()).and_then(|i| i.parse::<usize>().ok()) {
        return (format!("{base}#signature-{}", i + 1), None);
    }
    if pointer.starts_with("document.signatures") {
        return (format!("{base}#signatures"), None);
    }
    (format!("{base}#fields-table"), None)
}

/// What a file says in one line, for the dossier page: an invoice's number, date and
/// TTC, an audit's score and level, a scan's hosts, an attestation's date.
pub fn summary(rec: &EvidenceRecord) -> Option<String> {
    let parts: Vec<String> = match &rec.fields.content {
        Content::Invoice(i) => [
            i.number.as_ref().map(|n| format!("n° {n}")),
            i.issue_date.map(|d| format!("du {}", day(d))),
            i.seller_name.clone(),
            i.total_ttc.map(|t| format!("{} TTC", euros(t, i.currency.as_deref()))),
        ]
        .into_iter()
        .flatten()
        .collect(),
        Content::AdAudit(a) => [
            Some(a.tool.clone()),
            a.domain.clone(),
            a.scores.global.map(|g| format!("score {g}")),
            a.maturity_level.map(|l| format!("niveau {l}")),
            a.date.as_deref().map(|d| format!("du {}", iso_fr(d))),
        ]
        .into_iter()
        .flatten()
        .collect(),
        Content::Scan(s) => [Some(s.tool.clone()), Some(format!("{} hôte(s)", s.host_count)), s.finished.as_deref().map(|d| format!("fin {}", iso_fr(d)))]
            .into_iter()
            .flatten()
            .collect(),
        Content::FinancialReport(r) => {
            [Some(format!("{} ligne(s)", r.row_count)), r.totals.ttc.map(|t| format!("{} TTC", euros(t, None)))].into_iter().flatten().collect()
        }
        Content::Attestation(a) => [Some(if a.signed { "signée".to_owned() } else { "non signée".to_owned() }), a.date.map(|d| format!("du {}", day(d)))]
            .into_iter()
            .flatten()
            .collect(),
        Content::Opaque(_) | Content::None => Vec::new(),
    };
    (!parts.is_empty()).then(|| parts.join(" · "))
}

/// The tables of what was read in the file, by what it turned out to be.
pub fn fields_tables(rec: &EvidenceRecord) -> Markup {
    html! {
        @match &rec.fields.content {
            Content::Invoice(i) => (invoice(rec, i)),
            Content::AdAudit(a) => (ad_audit(a)),
            Content::Scan(s) => (scan(s)),
            Content::FinancialReport(r) => (financial_report(r)),
            Content::Attestation(a) => (attestation(a)),
            Content::Opaque(o) => {
                div.fr-table { table #fields-table { caption { "Archive chiffrée" }
                    tbody {
                        tr { th scope="row" { "Outil" } td { (o.tool) } }
                        tr { th scope="row" { "Chiffrée pour" } td { (o.encrypted_to) } }
                    }
                } }
            }
            Content::None => p #fields-none { "Aucune donnée structurée lue dans ce fichier." },
        }
        details.raw-fields {
            summary { "Données brutes (JSON)" }
            pre #fields { (serde_json::to_string_pretty(&rec.fields).unwrap_or_default()) }
        }
    }
}

fn invoice(rec: &EvidenceRecord, i: &Invoice) -> Markup {
    let text = |v: &Option<String>| v.clone().unwrap_or_else(|| "—".into());
    let money = |v: Option<Decimal>| v.map_or_else(|| "—".into(), |d| euros(d, i.currency.as_deref()));
    let rows: Vec<(&str, &str, String)> = vec![
        ("number", "Numéro", text(&i.number)),
        ("issue_date", "Date", i.issue_date.map_or_else(|| "—".into(), day)),
        ("seller_name", "Vendeur", text(&i.seller_name)),
        ("seller_siren", "SIREN du vendeur", i.seller_siren().map_or_else(|| "—".into(), siren_siret)),
        ("seller_siret", "SIRET du vendeur", i.seller_siret.as_deref().map_or_else(|| "—".into(), siren_siret)),
        ("vat_id", "N° de TVA intracommunautaire", text(&i.vat_id)),
        ("total_ht", "Total HT", money(i.total_ht)),
        ("total_tva", "TVA", money(i.total_tva)),
        ("total_ttc", "Total TTC", money(i.total_ttc)),
    ];
    // Fields read from a page's text carry how sure the reading is; a structured
    // invoice's are stated, and the column would say nothing.
    let sure = !i.confidence.is_empty();
    html! {
        div.fr-table {
            table #fields-table.invoice {
                caption { "Facture — lue dans le " (source_fr(i.source)) }
                thead { tr { th scope="col" { "Donnée" } th scope="col" { "Valeur" } th scope="col" { "Où elle a été lue" } @if sure { th scope="col" { "Sûreté de la lecture" } } } }
                tbody {
                    @for (field, label, value) in &rows {
                        tr data-champ=(field) {
                            th scope="row" { (label) } td.valeur { (value) } td { (located(rec, &i.locations, field)) }
                            @if sure { td { (i.confidence.get(*field).map_or("—", |c| sureness_fr(*c))) } }
                        }
                    }
                    @for id in &i.seller_legal_ids {
                        tr { th scope="row" { "Autre identifiant du vendeur" } td.valeur { (id.id) @if let Some(s) = &id.scheme { " (schéma " (s) ")" } } td { "—" } @if sure { td { "—" } } }
                    }
                    @if let Some(p) = &i.profile { tr { th scope="row" { "Profil Factur-X" } td.valeur { (p) } td { "—" } @if sure { td { "—" } } } }
                }
            }
        }
    }
}

fn ad_audit(a: &AdAudit) -> Markup {
    let mut rules: Vec<_> = a.rules.iter().collect();
    rules.sort_by_key(|r| std::cmp::Reverse(r.points.unwrap_or(0)));
    let n = |v: Option<u32>| v.map_or_else(|| "—".into(), |v| v.to_string());
    html! {
        div.fr-table {
            table #fields-table.ad-audit {
                caption { "Audit de l'annuaire (" (a.tool) @if let Some(v) = &a.tool_version { " " (v) } ")" }
                tbody {
                    tr { th scope="row" { "Domaine" } td { (a.domain.as_deref().unwrap_or("—")) } }
                    tr { th scope="row" { "Forêt" } td { (a.forest.as_deref().unwrap_or("—")) } }
                    tr { th scope="row" { "Date du rapport" } td { (a.date.as_deref().map_or_else(|| "—".into(), iso_fr)) } }
                    tr { th scope="row" { "Score global" } td { (n(a.scores.global)) } }
                    tr { th scope="row" { "Objets obsolètes" } td { (n(a.scores.stale_objects)) } }
                    tr { th scope="row" { "Groupes privilégiés" } td { (n(a.scores.privileged_group)) } }
                    tr { th scope="row" { "Relations d'approbation" } td { (n(a.scores.trust)) } }
                    tr { th scope="row" { "Anomalies" } td { (n(a.scores.anomaly)) } }
                    tr { th scope="row" { "Niveau de maturité" } td { (n(a.maturity_level)) } }
                    tr { th scope="row" { "Niveau ANSSI" } td { (n(a.anssi_level)) } }
                    tr { th scope="row" { "Intégrité du rapport" } td { (match a.integrity { Integrity::Valid => "signature du rapport valide", Integrity::Invalid => "signature du rapport invalide", Integrity::Absent => "non signé" }) } }
                    tr { th scope="row" { "Règles relevées" } td { (a.rules.len()) } }
                }
            }
        }
        @if !a.rules.is_empty() {
            div.fr-table { table.rules {
                caption { "Règles relevées (les 50 plus coûteuses)" }
                thead { tr { th scope="col" { "Règle" } th scope="col" { "Catégorie" } th scope="col" { "Points" } th scope="col" { "Constat" } } }
                tbody {
                    @for r in rules.iter().take(50) {
                        tr { td { code { (r.risk_id) } } td { (r.category.as_deref().unwrap_or("—")) } td { (n(r.points)) } td { (r.rationale.as_deref().unwrap_or("")) } }
                    }
                }
            } }
        }
    }
}

fn scan(s: &Scan) -> Markup {
    html! {
        div.fr-table {
            table #fields-table.scan {
                caption { "Analyse (" (s.tool) @if let Some(v) = &s.tool_version { " " (v) } ")" }
                tbody {
                    tr { th scope="row" { "Début" } td { (s.started.as_deref().map_or_else(|| "—".into(), iso_fr)) } }
                    tr { th scope="row" { "Fin" } td { (s.finished.as_deref().map_or_else(|| "—".into(), iso_fr)) } }
                    tr { th scope="row" { "Terminée" } td { (match s.completed { Some(true) => "oui", Some(false) => "non", None => "—" }) } }
                    tr { th scope="row" { "Hôtes analysés" } td { (s.host_count) } }
                    tr { th scope="row" { "Ports ouverts" } td { (s.hosts.iter().map(|h| h.open_ports.len()).sum::<usize>()) } }
                    @if let Some(v) = &s.vulnerabilities {
                        tr { th scope="row" { "Vulnérabilités" } td {
                            span.fr-badge.fr-badge--error.fr-badge--sm { "critiques " (v.critical) } " "
                            span.fr-badge.fr-badge--warning.fr-badge--sm { "hautes " (v.high) } " "
                            span.fr-badge.fr-badge--info.fr-badge--sm { "moyennes " (v.medium) } " "
                            span.fr-badge.fr-badge--sm { "faibles " (v.low) } " "
                            span.fr-badge.fr-badge--sm { "informatives " (v.info) }
                        } }
                    }
                }
            }
        }
        @if !s.hosts.is_empty() {
            div.fr-table { table.hosts {
                caption { "Hôtes exposés (les 50 premiers)" }
                thead { tr { th scope="col" { "Adresse" } th scope="col" { "Noms" } th scope="col" { "Ports ouverts" } } }
                tbody { @for h in s.hosts.iter().take(50) {
                    tr { td { (h.address) } td { (h.hostnames.join(", ")) } td {
                        @for p in &h.open_ports { span.fr-tag.fr-tag--sm { (p.port) "/" (p.protocol) @if let Some(svc) = &p.service { " " (svc) } } " " }
                    } }
                } }
            } }
        }
    }
}

fn financial_report(r: &FinancialReport) -> Markup {
    let money = |v: Option<Decimal>| v.map_or_else(|| "—".into(), |d| euros(d, None));
    html! {
        div.fr-table {
            table #fields-table.financial-report {
                caption { "Bilan financier" @if let Some(s) = &r.sheet { " (feuille « " (s) " »)" } " — " (r.row_count) " ligne(s)" }
                thead { tr { th scope="col" { "Ligne" } th scope="col" { "N° de facture" } th scope="col" { "Date" } th scope="col" { "Fournisseur" } th scope="col" { "SIRET" }
                    th scope="col" { "HT" } th scope="col" { "TVA" } th scope="col" { "TTC" } } }
                tbody {
                    @for row in r.rows.iter().take(200) {
                        tr {
                            td { (row.line.map_or_else(|| "—".into(), |l| l.to_string())) } td { (row.number.as_deref().unwrap_or("—")) }
                            td { (row.date.map_or_else(|| "—".into(), day)) } td { (row.supplier.as_deref().unwrap_or("—")) }
                            td { (row.siret.as_deref().map_or_else(|| "—".into(), siren_siret)) }
                            td.montant { (money(row.ht)) } td.montant { (money(row.tva)) } td.montant { (money(row.ttc)) }
                        }
                    }
                    tr.totaux { th scope="row" colspan="5" { "Totaux déclarés" } td.montant { (money(r.totals.ht)) } td.montant { (money(r.totals.tva)) } td.montant { (money(r.totals.ttc)) } }
                }
            }
        }
    }
}

fn attestation(a: &Attestation) -> Markup {
    html! {
        div.fr-table {
            table #fields-table.attestation {
                caption { "Attestation" }
                tbody {
                    tr { th scope="row" { "Signée" } td { @if a.signed { span.fr-badge.fr-badge--success.fr-badge--sm { "oui" } } @else { span.fr-badge.fr-badge--warning.fr-badge--sm { "non" } } } }
                    tr { th scope="row" { "Date" } td { (a.date.map_or_else(|| "—".into(), day)) } }
                    tr { th scope="row" { "Résumé" } td { (a.summary) } }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn amounts_dates_and_identifiers_are_written_the_french_way() {
        let d = |s: &str| Decimal::from_str(s).unwrap();
        assert_eq!(euros(d("1234.56"), Some("EUR")), "1\u{a0}234,56\u{a0}€");
        assert_eq!(euros(d("1200"), None), "1\u{a0}200,00\u{a0}€");
        assert_eq!(euros(d("999.999"), None), "1\u{a0}000,00\u{a0}€");
        assert_eq!(euros(d("12"), None), "12,00\u{a0}€");
        assert_eq!(euros(d("-1234567.5"), None), "-1\u{a0}234\u{a0}567,50\u{a0}€");
        assert_eq!(euros(d("0"), Some("USD")), "0,00\u{a0}USD");
        assert_eq!(day(NaiveDate::from_ymd_opt(2024, 6, 2).unwrap()), "02/06/2024");
        assert_eq!(iso_fr("2024-06-12T10:31:00Z"), "12/06/2024 10:31");
        assert_eq!(iso_fr("2024-06-12"), "12/06/2024");
        assert_eq!(iso_fr("juin 2024"), "juin 2024");
        assert_eq!(siren_siret("73282932000074"), "732 829 320 00074");
        assert_eq!(siren_siret("732829320"), "732 829 320");
        assert_eq!(siren_siret("FR12345"), "FR12345");
    }

    #[test]
    fn pointers_are_named_in_french() {
        assert_eq!(field_fr("issue_date"), "date");
        assert_eq!(field_fr("rows.3 (Feuille1, ligne 5)"), "ligne 4 du bilan (Feuille1, ligne 5)");
        assert_eq!(field_fr("document.signatures.0.validation"), "signature 1");
        assert_eq!(field_fr("hosts.0.open_ports.2"), "hôte 1, port ouvert 3");
        assert_eq!(field_fr("totals.ttc"), "total TTC déclaré");
        assert_eq!(field_fr("un.champ.inconnu"), "un.champ.inconnu");
    }
}

#[cfg(test)]
mod sureness_tests {
    use super::*;
    use caregate_schemas::extracted::Fields;
    use caregate_schemas::{EvidenceId, Sha256Digest, SubmissionId, SubmissionRef};

    fn record(invoice: Invoice) -> EvidenceRecord {
        let submission = SubmissionRef {
            submission_id: SubmissionId::new(),
            establishment: "760000001".into(),
            campaign: "care-d1-2024".into(),
            objectives: Vec::new(),
            category: None,
        };
        let mut rec = EvidenceRecord::received(EvidenceId::new(), submission, "facture.pdf".into(), Sha256Digest::of(b"x"), 1, "q".into());
        rec.fields = Fields::of(Content::Invoice(invoice));
        rec
    }

    #[test]
    fn a_page_read_invoice_says_how_sure_each_field_is_and_a_stated_one_does_not() {
        let mut read = Invoice::empty(InvoiceSource::Text);
        read.number = Some("FA-1".into());
        read.seller_name = Some("ACME".into());
        read.confidence.insert("number".into(), 0.9);
        read.confidence.insert("seller_name".into(), 0.4);
        let page = fields_tables(&record(read)).into_string();
        assert!(page.contains("Sûreté de la lecture"));
        assert!(page.contains("élevée") && page.contains("faible : à vérifier"), "{page}");

        let stated = Invoice { number: Some("FA-1".into()), ..Invoice::empty(InvoiceSource::Cii) };
        assert!(!fields_tables(&record(stated)).into_string().contains("Sûreté"));
        assert_eq!(sureness_fr(0.7), "moyenne");
    }
}
