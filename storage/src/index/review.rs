//! The controllers' side of the index: one row per objective of each dossier as decided
//! (`review_items`, kept with the verification and the decisions it is computed from, in
//! their transactions), so that the queue is paged, sorted and filtered by the database
//! and the campaign's dashboard is a handful of aggregate queries; and who holds which
//! dossier (`assignments`), each take and release an event of the audit chain.

use async_trait::async_trait;
use caregate_schemas::{region_of_finess, Decision, EventKind, FindingCode, Scope, SubmissionId, Verdict, Verification, REGIONS};
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::Row;

use super::chain::append_event;
use super::core::SqlIndex;
use crate::sql::{parse_ts, ts};
use crate::StorageError;

/// How the queue is ordered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum QueueSort {
    /// When the machine judged the dossier (the oldest waits longest).
    #[default]
    ComputedAt,
    Establishment,
    Objective,
    Region,
    /// Who holds the dossier (nobody first when ascending).
    Holder,
}

impl QueueSort {
    pub const ALL: [QueueSort; 5] = [QueueSort::ComputedAt, QueueSort::Establishment, QueueSort::Objective, QueueSort::Region, QueueSort::Holder];

    pub fn as_str(self) -> &'static str {
        match self {
            QueueSort::ComputedAt => "date",
            QueueSort::Establishment => "finess",
            QueueSort::Objective => "objectif",
            QueueSort::Region => "region",
            QueueSort::Holder => "detenteur",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    fn column(self) -> &'static str {
        match self {
            QueueSort::ComputedAt => "r.computed_at",
            QueueSort::Establishment => "r.establishment",
            QueueSort::Objective => "r.objective",
            QueueSort::Region => "r.region",
            QueueSort::Holder => "COALESCE(a.holder, '')",
        }
    }
}

/// A page of the controllers' queue: objectives awaiting a controller, within a scope.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueueQuery {
    /// The caller's scope: nothing outside it is counted or listed.
    pub scope: Scope,
    pub region: Option<String>,
    pub establishment: Option<String>,
    pub objective: Option<String>,
    /// A finding code among the objective's reasons or its files' findings.
    pub code: Option<String>,
    /// Judged on or after this day.
    pub from: Option<NaiveDate>,
    /// Judged on or before this day.
    pub to: Option<NaiveDate>,
    pub sort: QueueSort,
    pub descending: bool,
    pub offset: u64,
    pub limit: u64,
}

/// One objective of a dossier awaiting a controller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueItem {
    pub submission_id: SubmissionId,
    pub objective: String,
    pub title: String,
    pub establishment: String,
    pub region: String,
    pub computed_at: DateTime<Utc>,
    /// Finding codes of its reasons and its files, sorted.
    pub codes: Vec<String>,
    /// Who holds the dossier, if anyone.
    pub holder: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueuePage {
    pub items: Vec<QueueItem>,
    /// Every item the query matches, all pages together.
    pub total: u64,
}

/// Who holds a dossier, since when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assignment {
    pub submission_id: SubmissionId,
    pub holder: String,
    pub since: DateTime<Utc>,
}

/// What taking a dossier came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Taken {
    /// The caller holds it now (or held it already).
    Yours,
    /// Someone else holds it: nothing changed.
    HeldBy(Assignment),
}

/// The campaign's figures, within a scope (see [`ReviewQueue::dashboard`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DashboardFigures {
    /// (region, objective, verdict as decided, dossiers).
    pub by_region_objective: Vec<(String, String, Verdict, u64)>,
    /// Objectives judged in all.
    pub objectives: u64,
    /// Of them, settled by the machine (met or not met) with no controller's decision.
    pub settled_by_machine: u64,
    /// Of them, decided by a controller.
    pub decided: u64,
    /// Files received per day (UTC), oldest first.
    pub files_per_day: Vec<(NaiveDate, u64)>,
    /// For each decided dossier, the time from its first file to its last decision, in
    /// seconds, shortest first.
    pub upload_to_decision_secs: Vec<i64>,
}

/// The controllers' queue, assignments and the campaign's figures.
///
/// Contract: the queue's rows are written with the verification or the decision they are
/// computed from, in the same transaction, so they never disagree with them.
/// [`ReviewQueue::take`] and [`ReviewQueue::release`] are each one transaction with their
/// event in the audit chain (under the submission's id); calling them again after an
/// `Unavailable` error is harmless (taking what one holds, releasing what nobody holds,
/// change nothing and write no event). Reads may be interrupted and retried at will.
#[async_trait]
pub trait ReviewQueue: Send + Sync {
    /// One page of objectives awaiting a controller, filtered, sorted and counted by the
    /// database.
    async fn review_queue(&self, q: &QueueQuery) -> Result<QueuePage, StorageError>;
    /// `holder` takes the dossier, unless someone else holds it.
    async fn take(&self, id: SubmissionId, holder: &str, at: DateTime<Utc>) -> Result<Taken, StorageError>;
    /// `holder` lets go of the dossier; false when they did not hold it.
    async fn release(&self, id: SubmissionId, holder: &str, at: DateTime<Utc>) -> Result<bool, StorageError>;
    async fn assignment(&self, id: SubmissionId) -> Result<Option<Assignment>, StorageError>;
    /// The campaign's figures within `scope`, by aggregate queries.
    async fn dashboard(&self, scope: &Scope, campaign: Option<&str>) -> Result<DashboardFigures, StorageError>;
}

/// Rewrites the queue's rows of a submission from its current verification and its
/// decisions, in the caller's transaction.
pub(super) async fn refresh_items(conn: &mut sqlx::AnyConnection, id: SubmissionId) -> Result<(), StorageError> {
    let row = sqlx::query("SELECT document FROM verifications WHERE submission_id = $1").bind(id.to_string()).fetch_optional(&mut *conn).await?;
    let Some(row) = row else { return Ok(()) };
    let v: Verification = serde_json::from_str(&row.try_get::<String, _>("document")?).map_err(|e| StorageError::Corrupt(format!("verification: {e}")))?;
    let rows = sqlx::query("SELECT document FROM decisions WHERE submission_id = $1 ORDER BY seq").bind(id.to_string()).fetch_all(&mut *conn).await?;
    let decisions: Vec<Decision> = rows
        .iter()
        .map(|r| serde_json::from_str(&r.try_get::<String, _>("document")?).map_err(|e| StorageError::Corrupt(format!("decision: {e}"))))
        .collect::<Result<_, _>>()?;
    write_items(conn, &v, &decisions).await
}

async fn write_items(conn: &mut sqlx::AnyConnection, machine: &Verification, decisions: &[Decision]) -> Result<(), StorageError> {
    let id = machine.submission_id.to_string();
    sqlx::query("DELETE FROM review_items WHERE submission_id = $1").bind(id.clone()).execute(&mut *conn).await?;
    let decided = machine.clone().with_decisions(decisions);
    let region = region_of_finess(&machine.establishment).unwrap_or("?");
    for (m, o) in machine.objectives.iter().zip(&decided.objectives) {
        let mut codes: Vec<&str> = o.reasons.iter().map(|r| r.code.as_str()).collect();
        codes.extend(decided.evidence.iter().filter(|e| o.evidence.contains(&e.evidence_id)).flat_map(|e| e.findings.iter().map(|f| f.code.as_str())));
        codes.sort_unstable();
        codes.dedup();
        // A decision counts while it holds on the view it was taken on (with_decisions).
        let was_decided = o
            .reasons
            .first()
            .is_some_and(|r| matches!(r.code, FindingCode::ControllerAccepted | FindingCode::ControllerRejected | FindingCode::ControllerRequestedInformation));
        sqlx::query(
            "INSERT INTO review_items (submission_id, objective, title, establishment, region, campaign, machine_verdict, verdict,
                                       awaiting, decided, codes, computed_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(id.clone())
        .bind(o.objective.clone())
        .bind(o.title.clone())
        .bind(machine.establishment.clone())
        .bind(region.to_owned())
        .bind(machine.campaign.clone())
        .bind(m.verdict.as_str())
        .bind(o.verdict.as_str())
        .bind(i64::from(o.awaits_controller()))
        .bind(i64::from(was_decided))
        // Spaces around every code: `LIKE '% code %'` matches a whole code only.
        .bind(format!(" {} ", codes.join(" ")))
        .bind(ts(machine.computed_at))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

impl SqlIndex {
    /// Databases judged before the queue's table existed: the rows of every dossier that
    /// has none yet, from the verifications and decisions already there. Interrupted, it
    /// takes up where it stopped at the next start (each dossier is its own transaction).
    pub(super) async fn fill_review_items(&self) -> Result<(), StorageError> {
        let mut conn = self.pool.acquire().await?;
        let ids: Vec<String> = sqlx::query(
            "SELECT v.submission_id FROM verifications v
             WHERE NOT EXISTS (SELECT 1 FROM review_items r WHERE r.submission_id = v.submission_id)",
        )
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| r.try_get("submission_id"))
        .collect::<Result<_, _>>()?;
        drop(conn);
        for id in ids {
            let id: SubmissionId = id.parse().map_err(|e| StorageError::Corrupt(format!("submission id {id}: {e}")))?;
            let mut tx = self.pool.begin().await?;
            refresh_items(&mut tx, id).await?;
            tx.commit().await?;
        }
        Ok(())
    }
}

/// The SQL condition keeping what `scope` covers (establishments' FINESS, regions by
/// their départements as `review_items.region` holds them), with its parameters.
fn scope_condition(scope: &Scope, column_finess: &str, column_region: &str, args: &mut Vec<String>) -> String {
    let mut list = |values: &mut dyn Iterator<Item = String>| {
        let marks: Vec<String> = values
            .map(|v| {
                args.push(v);
                format!("${}", args.len())
            })
            .collect();
        if marks.is_empty() {
            "NULL".to_owned()
        } else {
            marks.join(", ")
        }
    };
    match scope {
        Scope::National => "1 = 1".to_owned(),
        Scope::Regions(regions) => {
            let known = regions.iter().filter_map(|r| REGIONS.iter().find(|(x, _)| x.eq_ignore_ascii_case(r)).map(|(x, _)| (*x).to_owned()));
            format!("{column_region} IN ({})", list(&mut known.collect::<Vec<_>>().into_iter()))
        }
        Scope::Establishments(list_) => format!("{column_finess} IN ({})", list(&mut list_.clone().into_iter())),
    }
}

fn bind_all<'q>(sql: &'q str, args: &[String]) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    let mut query = sqlx::query(sql);
    for a in args {
        query = query.bind(a.clone());
    }
    query
}

#[caregate_macros::bounded]
#[async_trait]
impl ReviewQueue for SqlIndex {
    async fn review_queue(&self, q: &QueueQuery) -> Result<QueuePage, StorageError> {
        let mut args = Vec::new();
        let mut conditions = vec!["r.awaiting = 1".to_owned(), scope_condition(&q.scope, "r.establishment", "r.region", &mut args)];
        let mut equal = |column: &str, value: String, args: &mut Vec<String>| {
            args.push(value);
            conditions.push(format!("{column} = ${}", args.len()));
        };
        if let Some(r) = &q.region {
            equal("r.region", r.to_ascii_uppercase(), &mut args);
        }
        if let Some(e) = &q.establishment {
            equal("r.establishment", e.clone(), &mut args);
        }
        if let Some(o) = &q.objective {
            equal("r.objective", o.clone(), &mut args);
        }
        if let Some(c) = &q.code {
            args.push(format!("% {c} %"));
            conditions.push(format!("r.codes LIKE ${}", args.len()));
        }
        // Timestamps are stored in one RFC 3339 form: text order is time order.
        if let Some(d) = q.from {
            args.push(d.format("%Y-%m-%d").to_string());
            conditions.push(format!("r.computed_at >= ${}", args.len()));
        }
        if let Some(d) = q.to {
            args.push(d.succ_opt().unwrap_or(d).format("%Y-%m-%d").to_string());
            conditions.push(format!("r.computed_at < ${}", args.len()));
        }
        let from = format!("FROM review_items r LEFT JOIN assignments a ON a.submission_id = r.submission_id WHERE {}", conditions.join(" AND "));
        let total: i64 = bind_all(&format!("SELECT COUNT(*) AS n {from}"), &args).fetch_one(&self.pool).await?.try_get("n")?;
        let direction = if q.descending { "DESC" } else { "ASC" };
        let sql = format!(
            "SELECT r.submission_id, r.objective, r.title, r.establishment, r.region, r.computed_at, r.codes, a.holder {from}
             ORDER BY {} {direction}, r.computed_at {direction}, r.submission_id, r.objective LIMIT {} OFFSET {}",
            q.sort.column(),
            q.limit.min(1000),
            q.offset.min(i64::MAX as u64)
        );
        let rows = bind_all(&sql, &args).fetch_all(&self.pool).await?;
        let items = rows
            .iter()
            .map(|row| {
                let id: String = row.try_get("submission_id")?;
                Ok(QueueItem {
                    submission_id: id.parse().map_err(|e| StorageError::Corrupt(format!("submission id {id}: {e}")))?,
                    objective: row.try_get("objective")?,
                    title: row.try_get("title")?,
                    establishment: row.try_get("establishment")?,
                    region: row.try_get("region")?,
                    computed_at: parse_ts(&row.try_get::<String, _>("computed_at")?)?,
                    codes: row.try_get::<String, _>("codes")?.split_whitespace().map(str::to_owned).collect(),
                    holder: row.try_get("holder")?,
                })
            })
            .collect::<Result<_, StorageError>>()?;
        Ok(QueuePage { items, total: total as u64 })
    }

    async fn take(&self, id: SubmissionId, holder: &str, at: DateTime<Utc>) -> Result<Taken, StorageError> {
        let mut tx = self.pool.begin().await?;
        // One statement decides, so two controllers taking at once cannot both win.
        let inserted = sqlx::query("INSERT INTO assignments (submission_id, holder, since) VALUES ($1, $2, $3) ON CONFLICT (submission_id) DO NOTHING")
            .bind(id.to_string())
            .bind(holder.to_owned())
            .bind(ts(at))
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if inserted == 1 {
            append_event(&mut tx, id, EventKind::Assigned, &serde_json::json!({"actor": holder}), at).await?;
            tx.commit().await?;
            return Ok(Taken::Yours);
        }
        let current = assignment_in(&mut tx, id).await?;
        tx.commit().await?;
        Ok(match current {
            Some(a) if a.holder != holder => Taken::HeldBy(a),
            _ => Taken::Yours,
        })
    }

    async fn release(&self, id: SubmissionId, holder: &str, at: DateTime<Utc>) -> Result<bool, StorageError> {
        let mut tx = self.pool.begin().await?;
        let deleted = sqlx::query("DELETE FROM assignments WHERE submission_id = $1 AND holder = $2")
            .bind(id.to_string())
            .bind(holder.to_owned())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if deleted == 1 {
            append_event(&mut tx, id, EventKind::Released, &serde_json::json!({"actor": holder}), at).await?;
        }
        tx.commit().await?;
        Ok(deleted == 1)
    }

    async fn assignment(&self, id: SubmissionId) -> Result<Option<Assignment>, StorageError> {
        let mut conn = self.pool.acquire().await?;
        assignment_in(&mut conn, id).await
    }

    async fn dashboard(&self, scope: &Scope, campaign: Option<&str>) -> Result<DashboardFigures, StorageError> {
        let mut args = Vec::new();
        let mut condition = scope_condition(scope, "r.establishment", "r.region", &mut args);
        if let Some(c) = campaign {
            args.push(c.to_owned());
            condition = format!("{condition} AND r.campaign = ${}", args.len());
        }
        let mut figures = DashboardFigures::default();
        let rows = bind_all(
            &format!("SELECT r.region, r.objective, r.verdict, COUNT(*) AS n FROM review_items r WHERE {condition} GROUP BY r.region, r.objective, r.verdict ORDER BY r.region, r.objective, r.verdict"),
            &args,
        )
        .fetch_all(&self.pool)
        .await?;
        for row in &rows {
            let verdict: String = row.try_get("verdict")?;
            let verdict: Verdict = verdict.parse().map_err(|e| StorageError::Corrupt(format!("{e}")))?;
            figures.by_region_objective.push((row.try_get("region")?, row.try_get("objective")?, verdict, row.try_get::<i64, _>("n")? as u64));
        }
        let row = bind_all(
            &format!(
                "SELECT COUNT(*) AS n,
                        COALESCE(SUM(CASE WHEN r.decided = 0 AND r.machine_verdict IN ('met', 'not_met') THEN 1 ELSE 0 END), 0) AS machine,
                        COALESCE(SUM(CASE WHEN r.decided = 1 THEN 1 ELSE 0 END), 0) AS decided
                 FROM review_items r WHERE {condition}"
            ),
            &args,
        )
        .fetch_one(&self.pool)
        .await?;
        figures.objectives = row.try_get::<i64, _>("n")? as u64;
        figures.settled_by_machine = row.try_get::<i64, _>("machine")? as u64;
        figures.decided = row.try_get::<i64, _>("decided")? as u64;
        // Files and times are counted over the dossiers the scope covers (any verdict).
        let dossiers = format!("SELECT DISTINCT r.submission_id FROM review_items r WHERE {condition}");
        let rows = bind_all(
            &format!("SELECT SUBSTR(e.received_at, 1, 10) AS day, COUNT(*) AS n FROM evidence e WHERE e.submission_id IN ({dossiers}) GROUP BY SUBSTR(e.received_at, 1, 10) ORDER BY day"),
            &args,
        )
        .fetch_all(&self.pool)
        .await?;
        for row in &rows {
            let day: String = row.try_get("day")?;
            let day = NaiveDate::parse_from_str(&day, "%Y-%m-%d").map_err(|e| StorageError::Corrupt(format!("day {day:?}: {e}")))?;
            figures.files_per_day.push((day, row.try_get::<i64, _>("n")? as u64));
        }
        let rows = bind_all(
            &format!(
                "SELECT s.created_at, MAX(d.at) AS decided_at FROM submissions s JOIN decisions d ON d.submission_id = s.submission_id
                 WHERE s.submission_id IN ({dossiers}) GROUP BY s.submission_id, s.created_at"
            ),
            &args,
        )
        .fetch_all(&self.pool)
        .await?;
        for row in &rows {
            let created = parse_ts(&row.try_get::<String, _>("created_at")?)?;
            let decided = parse_ts(&row.try_get::<String, _>("decided_at")?)?;
            figures.upload_to_decision_secs.push((decided - created).num_seconds());
        }
        figures.upload_to_decision_secs.sort_unstable();
        Ok(figures)
    }
}

pub(super) async fn assignment_in(conn: &mut sqlx::AnyConnection, id: SubmissionId) -> Result<Option<Assignment>, StorageError> {
    let row = sqlx::query("SELECT holder, since FROM assignments WHERE submission_id = $1").bind(id.to_string()).fetch_optional(&mut *conn).await?;
    row.map(|row| Ok(Assignment { submission_id: id, holder: row.try_get("holder")?, since: parse_ts(&row.try_get::<String, _>("since")?)? })).transpose()
}
