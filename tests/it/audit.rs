//! The audit log: every evidence's history is hash-chained; an event changed, removed
//! from the middle or from the end — by someone able to bypass the append-only
//! triggers — is detected and named.

use crate::common;

use crate::common::{process_files, Stack, TestEnv};
use caregate_storage::ChainProblem;
use sqlx::Connection;

/// A raw connection to the test's index, as a database administrator would have, with
/// the append-only protection switched off.
async fn admin(env: &TestEnv) -> sqlx::AnyConnection {
    sqlx::any::install_default_drivers();
    let url = match env.stack {
        Stack::Embedded => format!("sqlite://{}", env.config.backends.data_dir.join("index.sqlite").display()),
        Stack::Full => env.config.backends.database.clone().unwrap().url,
    };
    let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
    let off: &[&str] = match env.stack {
        Stack::Embedded => &["DROP TRIGGER evidence_events_no_update", "DROP TRIGGER evidence_events_no_delete"],
        Stack::Full => &["ALTER TABLE evidence_events DISABLE TRIGGER evidence_events_append_only"],
    };
    for stmt in off {
        sqlx::query(stmt).execute(&mut conn).await.unwrap();
    }
    conn
}

async fn exec(conn: &mut sqlx::AnyConnection, sql: &str) {
    assert_eq!(sqlx::query(sql).execute(&mut *conn).await.unwrap().rows_affected(), 1, "{sql}");
}

async fn a_changed_or_removed_event_breaks_the_chain(stack: common::Stack) {
    let env = TestEnv::new(stack).await;
    let files = ["a.txt", "b.txt", "c.txt"].map(|n| (n, format!("pièce {n}").into_bytes()));
    let (app, _, _) = process_files(&env, files.to_vec()).await;
    let index = &app.backends.index;
    let clean = index.check_chain().await.unwrap();
    assert_eq!((clean.events, clean.unchained), (6, 0), "{stack:?}: received + final status per file");
    assert!(clean.problems.is_empty(), "{:?}", clean.problems);

    let mut db = admin(&env).await;
    // A status rewritten in place.
    exec(&mut db, "UPDATE evidence_events SET kind = 'stored', detail = '{}' WHERE seq = 2").await;
    assert_eq!(index.check_chain().await.unwrap().problems, [ChainProblem::Changed { seq: 2 }], "{stack:?}");
    // An event removed from the middle (the changed one): the next no longer follows.
    exec(&mut db, "DELETE FROM evidence_events WHERE seq = 2").await;
    assert_eq!(index.check_chain().await.unwrap().problems, [ChainProblem::Broken { seq: 3 }], "{stack:?}");
    // The newest event removed: only the chain's head knows.
    let last: i64 = sqlx::query_scalar("SELECT MAX(seq) FROM evidence_events").fetch_one(&mut db).await.unwrap();
    exec(&mut db, &format!("DELETE FROM evidence_events WHERE seq = {last}")).await;
    let problems = index.check_chain().await.unwrap().problems;
    assert_eq!(problems, [ChainProblem::Broken { seq: 3 }, ChainProblem::TailMissing], "{stack:?}");
    assert!(problems[1].to_string().contains("newest events were removed"));
}
common::on_each_stack!(a_changed_or_removed_event_breaks_the_chain);
