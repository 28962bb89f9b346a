//! The review queue (a child of `console`): objectives awaiting a controller, filtered,
//! sorted, counted and paged by the index ([`caregate_storage::ReviewQueue`]), each with
//! who holds its dossier; and the files that went to review. Dates are read and shown
//! as French people write them (`jj/mm/aaaa`): a text field, not the browser's date
//! picker, which shows the browser's locale (`mm/dd/yyyy` in an English one).

use axum::extract::{Query, State};
use axum::response::Html;
use caregate_schemas::{EvidenceRecord, FindingCode, Status, REGIONS};
use caregate_storage::{QueueQuery, QueueSort};
use chrono::NaiveDate;
use maud::{html, Markup};
use serde::Deserialize;

use super::{code_label, kind_label, page, when, PageError};
use crate::auth::{Action, Caller};
use crate::error::ApiError;
use crate::http::{self, given, SearchParams};
use crate::state::AppState;

/// Objectives per page unless the address asks for another number (1 to 200).
pub(super) const PAGE_SIZE: u64 = 25;
/// The last page a link may ask for: far past any queue, and no offset overflows.
const MAX_PAGE: u64 = 1_000_000;

#[derive(Clone, Debug, Default, Deserialize)]
pub(super) struct QueueFilter {
    region: Option<String>,
    finess: Option<String>,
    objective: Option<String>,
    code: Option<String>,
    from: Option<String>,
    to: Option<String>,
    /// Sort key ([`QueueSort::as_str`]).
    tri: Option<String>,
    /// `asc` or `desc`.
    ordre: Option<String>,
    page: Option<u64>,
    par_page: Option<u64>,
}

/// The filters checked and parsed once.
struct Parsed {
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    sort: QueueSort,
    descending: bool,
    page: u64,
    per_page: u64,
}

impl QueueFilter {
    fn parse(&self) -> Result<Parsed, ApiError> {
        if let Some(c) = given(&self.code) {
            c.parse::<FindingCode>().map_err(|_| ApiError::bad_request("unknown_value", format!("code d'observation inconnu : {c:?}")))?;
        }
        let sort = match given(&self.tri) {
            Some(t) => QueueSort::parse(t).ok_or_else(|| ApiError::bad_request("unknown_value", format!("tri inconnu : {t:?}")))?,
            None => QueueSort::ComputedAt,
        };
        Ok(Parsed {
            from: given(&self.from).map(|d| http::parse_day("from", d)).transpose()?,
            to: given(&self.to).map(|d| http::parse_day("to", d)).transpose()?,
            sort,
            descending: given(&self.ordre) == Some("desc"),
            page: self.page.unwrap_or(1).clamp(1, MAX_PAGE),
            per_page: self.par_page.unwrap_or(PAGE_SIZE).clamp(1, 200),
        })
    }

    /// This queue's address with some parameters changed (sorting, paging keep the
    /// filters).
    fn link(&self, tri: QueueSort, descending: bool, page: u64, per_page: u64) -> String {
        let mut url = form_urlencoded::Serializer::new(String::new());
        for (k, v) in
            [("region", &self.region), ("finess", &self.finess), ("objective", &self.objective), ("code", &self.code), ("from", &self.from), ("to", &self.to)]
        {
            if let Some(v) = given(v) {
                url.append_pair(k, v);
            }
        }
        url.append_pair("tri", tri.as_str());
        url.append_pair("ordre", if descending { "desc" } else { "asc" });
        if per_page != PAGE_SIZE {
            url.append_pair("par_page", &per_page.to_string());
        }
        url.append_pair("page", &page.to_string());
        format!("/console?{}", url.finish())
    }
}

fn day_fr(d: Option<NaiveDate>) -> String {
    d.map(crate::fields_fr::day).unwrap_or_default()
}

/// A French date field: text, `jj/mm/aaaa`, with its hint (DSFR input group).
pub(super) fn date_field(name: &str, label: &str, value: Option<NaiveDate>) -> Markup {
    let id = format!("filtre-{name}");
    html! {
        div.fr-input-group {
            label.fr-label for=(id) { (label) span.fr-hint-text { "Format attendu : jj/mm/aaaa" } }
            input.fr-input.date-fr id=(id) name=(name) type="text" inputmode="numeric" placeholder="jj/mm/aaaa" autocomplete="off"
                pattern="[0-9]{2}/[0-9]{2}/[0-9]{4}" value=(day_fr(value));
        }
    }
}

pub(super) async fn queue(State(st): State<AppState>, caller: Caller, Query(filter): Query<QueueFilter>) -> Result<Html<String>, PageError> {
    caller.may(Action::Review, None)?;
    let parsed = filter.parse()?;
    let query = QueueQuery {
        scope: caller.0.scope.clone(),
        region: given(&filter.region).map(str::to_owned),
        establishment: given(&filter.finess).map(str::to_owned),
        objective: given(&filter.objective).map(str::to_owned),
        code: given(&filter.code).map(str::to_owned),
        from: parsed.from,
        to: parsed.to,
        sort: parsed.sort,
        descending: parsed.descending,
        offset: (parsed.page - 1).saturating_mul(parsed.per_page),
        limit: parsed.per_page,
    };
    let waiting = st.index.review_queue(&query).await?;
    let pages = waiting.total.div_ceil(parsed.per_page).max(1);
    let iso = |d: Option<NaiveDate>| d.map(|d| d.format("%Y-%m-%d").to_string());
    let files_query = SearchParams {
        status: Some(Status::NeedsReview.as_str().into()),
        finess: filter.finess.clone(),
        objective: filter.objective.clone(),
        from: iso(parsed.from),
        to: iso(parsed.to),
        limit: Some(500),
        ..Default::default()
    }
    .to_query(&caller.0)?;
    let code: Option<FindingCode> = given(&filter.code).and_then(|c| c.parse().ok());
    let region = given(&filter.region);
    let files: Vec<EvidenceRecord> = st
        .index
        .search(&files_query)
        .await?
        .into_iter()
        .filter(|r| caller.0.covers(&r.submission.establishment))
        .filter(|r| region.is_none_or(|x| caregate_schemas::region_of_finess(&r.submission.establishment).is_some_and(|y| y.eq_ignore_ascii_case(x))))
        .filter(|r| code.is_none_or(|c| r.findings.iter().any(|f| f.code == c)))
        .collect();
    let value = |v: &Option<String>| v.clone().unwrap_or_default();
    let header = |label: &str, key: QueueSort| {
        let current = parsed.sort == key;
        // A click on the sorted column turns its order round; on another, ascending.
        let descending = current && !parsed.descending;
        let sort = match (current, parsed.descending) {
            (true, false) => "ascending",
            (true, true) => "descending",
            (false, _) => "none",
        };
        html! { th scope="col" aria-sort=(sort) { a.tri href=(filter.link(key, descending, 1, parsed.per_page)) data-tri=(key.as_str()) { (label) @if current { @if parsed.descending { " ↓" } @else { " ↑" } } } } }
    };
    let content = html! {
        form.filters method="get" action="/console" {
            div.fr-select-group {
                label.fr-label for="filtre-region" { "Région" }
                select.fr-select #filtre-region name="region" {
                    option value="" { "Toutes" }
                    @for (r, _) in REGIONS { option value=(r) selected[region == Some(*r)] { (r) } }
                }
            }
            div.fr-input-group { label.fr-label for="filtre-finess" { "FINESS" } input.fr-input #filtre-finess name="finess" value=(value(&filter.finess)) size="10"; }
            div.fr-input-group { label.fr-label for="filtre-objective" { "Objectif" } input.fr-input #filtre-objective name="objective" value=(value(&filter.objective)) size="12"; }
            div.fr-input-group { label.fr-label for="filtre-code" { "Code d'observation" } input.fr-input #filtre-code name="code" value=(value(&filter.code)) size="18"; }
            (date_field("from", "Du", parsed.from))
            (date_field("to", "Au", parsed.to))
            input type="hidden" name="tri" value=(parsed.sort.as_str());
            input type="hidden" name="ordre" value=(if parsed.descending { "desc" } else { "asc" });
            button.fr-btn type="submit" { "Filtrer" }
        }
        p.count { strong #objective-count { (waiting.total) } " objectif(s) en attente de décision, "
            strong #file-count { (files.len()) } " pièce(s) à revoir." }
        h2 { "Objectifs à décider" }
        div.fr-table {
            table #objectives {
                caption { "Page " span #page-current { (parsed.page) } " sur " span #page-count { (pages) } }
                thead { tr {
                    (header("Calculé le", QueueSort::ComputedAt)) (header("Région", QueueSort::Region)) (header("FINESS", QueueSort::Establishment))
                    (header("Objectif", QueueSort::Objective)) th scope="col" { "Motifs" } (header("Pris par", QueueSort::Holder)) th scope="col" { "" }
                } }
                tbody {
                    @for w in &waiting.items {
                        tr.waiting data-submission=(w.submission_id) {
                            td { (when(w.computed_at)) }
                            td { (w.region) }
                            td.finess { (w.establishment) }
                            td { code { (w.objective) } " " (w.title) }
                            td { @for c in &w.codes { @match c.parse::<FindingCode>() { Ok(c) => { (code_label(c)) br; }, Err(_) => { code { (c) } br; } } } }
                            td.holder { @match &w.holder { Some(h) => span.fr-tag.fr-tag--sm { (h) }, None => "—" } }
                            td { a.fr-link href={ "/console/submissions/" (w.submission_id) "#" (w.objective) } { "Examiner" } }
                        }
                    }
                }
            }
        }
        @if pages > 1 { (pagination(&filter, &parsed, pages)) }
        h2 { "Pièces à revoir" }
        div.fr-table {
            table #files {
                thead { tr { th scope="col" { "Reçue le" } th scope="col" { "FINESS" } th scope="col" { "Fichier" } th scope="col" { "Type" } th scope="col" { "Observations" } } }
                tbody {
                    @for r in &files {
                        tr {
                            td { (when(r.received_at)) }
                            td { (r.submission.establishment) }
                            td { a href={ "/console/evidence/" (r.evidence_id) } { (r.path) } }
                            td { (kind_label(r.kind)) }
                            td { @for f in &r.findings { (code_label(f.code)) br; } }
                        }
                    }
                }
            }
        }
    };
    Ok(page(&caller, "File de revue", content))
}

/// The DSFR pagination: first, previous, the pages around this one, next, last.
fn pagination(filter: &QueueFilter, parsed: &Parsed, pages: u64) -> Markup {
    let link = |n: u64| filter.link(parsed.sort, parsed.descending, n, parsed.per_page);
    let shown: Vec<u64> = (1..=pages).filter(|&n| n == 1 || n == pages || n.abs_diff(parsed.page) <= 2).collect();
    html! {
        nav.fr-pagination role="navigation" aria-label="Pagination" {
            ul.fr-pagination__list {
                li { @if parsed.page > 1 { a.fr-pagination__link.fr-pagination__link--prev href=(link(parsed.page - 1)) { "Page précédente" } } @else { a.fr-pagination__link.fr-pagination__link--prev aria-disabled="true" role="link" { "Page précédente" } } }
                @for (i, n) in shown.iter().enumerate() {
                    @if i > 0 && shown[i - 1] + 1 < *n { li { a.fr-pagination__link aria-disabled="true" role="link" { "…" } } }
                    li { @if *n == parsed.page { a.fr-pagination__link aria-current="page" title={ "Page " (n) } { (n) } } @else { a.fr-pagination__link href=(link(*n)) title={ "Page " (n) } { (n) } } }
                }
                li { @if parsed.page < pages { a.fr-pagination__link.fr-pagination__link--next #page-next href=(link(parsed.page + 1)) { "Page suivante" } } @else { a.fr-pagination__link.fr-pagination__link--next aria-disabled="true" role="link" { "Page suivante" } } }
            }
        }
    }
}
