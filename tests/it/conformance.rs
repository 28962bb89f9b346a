//! Every back end passes the same suite: local directory and Garage S3, SQLite and
//! PostgreSQL, in-process queue and RabbitMQ.

use crate::common;

use crate::common::{unique, Stack, TestEnv};
use caregate_storage::{conformance, AmqpQueue, JobQueue, LocalObjectStore, MemoryQueue, Records, RetryPolicy, S3ObjectStore, SqlIndex};

fn fast_retries() -> RetryPolicy {
    RetryPolicy { delays_ms: vec![100, 300] }
}

async fn object_stores_conform(stack: common::Stack) {
    let env = TestEnv::new(stack).await;
    match stack {
        Stack::Embedded => {
            let store = LocalObjectStore::open_dir(env.dir.path().join("objects")).await.unwrap();
            conformance::object_store(&store).await;
            let other = LocalObjectStore::open_dir(env.dir.path().join("other")).await.unwrap();
            assert!(!conformance::object_copy(&store, &other).await, "local stores stream, they do not copy in place");
        }
        Stack::Full => {
            let s3 = env.config.backends.s3.clone().unwrap();
            let store = S3ObjectStore::new(&s3, &s3.evidence_bucket);
            store.ensure_bucket().await.unwrap();
            conformance::object_store(&store).await;
            let quarantine = S3ObjectStore::new(&s3, &s3.quarantine_bucket);
            quarantine.ensure_bucket().await.unwrap();
            assert!(conformance::object_copy(&quarantine, &store).await, "S3 copies in place, checked by the store");
        }
    }
}
common::on_each_stack!(object_stores_conform);

async fn indexes_conform(stack: common::Stack) {
    let env = TestEnv::new(stack).await;
    let url = match stack {
        Stack::Embedded => format!("sqlite://{}?mode=rwc", env.dir.path().join("index.sqlite").display()),
        Stack::Full => env.config.backends.database.clone().unwrap().url,
    };
    let index = SqlIndex::connect(&url, 4).await.unwrap();
    conformance::evidence_index(&index).await;
    conformance::verifications(&index).await;
    conformance::archive_index(&index).await;
    conformance::accounts(&index).await;
    conformance::credential_lifecycle(&index).await;
    conformance::login_attempts(&index).await;
    conformance::outbox(&index).await;
    conformance::mail_outbox(&index).await;
    conformance::review_queue(&index).await;
    conformance::establishment_identifiers(&index).await;
    // Opening again (a second worker starting) must find the schema in place.
    let again = SqlIndex::connect(&url, 2).await.unwrap();
    assert!(!again.count_by_status().await.unwrap().is_empty());
}
common::on_each_stack!(indexes_conform);

/// A database created before versioned migrations, with a record, upgrades in place to
/// exactly a new database's schema (storage's unit tests do the same on SQLite alone).
/// Only the database is needed, so no `TestEnv`.
async fn indexes_upgrade_from_before_migrations(stack: common::Stack) {
    match stack {
        Stack::Embedded => {
            let dir = tempfile::tempdir().expect("tempdir");
            let url = |name: &str| format!("sqlite://{}?mode=rwc", dir.path().join(name).display());
            conformance::upgrade_from_before_migrations(&url("old.sqlite"), &url("new.sqlite")).await;
        }
        Stack::Full => {
            // Two fresh databases: the old one, and a new one to compare it with.
            let (old, new) = (unique("cgtest_"), unique("cgtest_"));
            let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(common::PG_ADMIN).await.expect("PostgreSQL admin connection");
            for name in [&old, &new] {
                sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.expect("create a test database");
            }
            let url = |name: &str| format!("postgres://postgres@127.0.0.1:5432/{name}");
            conformance::upgrade_from_before_migrations(&url(&old), &url(&new)).await;
            for name in [&old, &new] {
                sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)")).execute(&mut admin).await.expect("drop a test database");
            }
        }
    }
}
common::on_each_stack!(indexes_upgrade_from_before_migrations);

#[tokio::test]
async fn queues_conform() {
    let memory = MemoryQueue::new(fast_retries());
    conformance::job_queue(&memory).await;
    conformance::announcer(&memory).await;
    if common::stacks().contains(&Stack::Full) {
        let _env = TestEnv::new(Stack::Full).await;
        let queue = AmqpQueue::connect(common::AMQP, &unique("cgtest."), fast_retries()).await.unwrap();
        conformance::job_queue(&queue).await;
        conformance::announcer(&queue).await;
        assert!(queue.describe().contains("RabbitMQ"));
        queue.delete_topology().await.unwrap();
    }
}
