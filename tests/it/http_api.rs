//! The HTTP API as establishments' tools see it: uploads, refusals, status, verification, OpenAPI.

use crate::common;

use std::time::Duration;

use crate::common::{serve, Stack, TestEnv};
use caregate::App;
use serde_json::Value;

fn form(establishment: &str) -> reqwest::multipart::Form {
    reqwest::multipart::Form::new().text("establishment", establishment.to_owned()).text("campaign", "care-d1-2024").text("objective", "D1.FIN")
}

fn file_part(name: &str, data: &[u8]) -> reqwest::multipart::Part {
    reqwest::multipart::Part::bytes(data.to_vec()).file_name(name.to_owned())
}

async fn nothing_stored(app: &App) {
    assert!(app.backends.index.count_by_status().await.unwrap().is_empty(), "no record");
    assert!(app.backends.quarantine.list("").await.unwrap().is_empty(), "nothing in quarantine");
}

async fn upload_then_follow_the_submission(stack: common::Stack) {
    let env = TestEnv::new(stack).await;
    let srv = serve(&env).await;
    let client = srv.submitter().await;
    let invoice = std::fs::read(common::samples_dir().join("factures/facture-FA-2024-0042.pdf")).unwrap();
    let resp = client
        .post(format!("{}/api/evidence", srv.base))
        .multipart(
            form("750000001")
                .part("file", file_part("factures/facture-FA-2024-0042.pdf", &invoice))
                .part("file", file_part("bilan été.csv", "N°;Montant\n1;1 234,56\n".as_bytes())),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202, "{stack:?}");
    let body: Value = resp.json().await.unwrap();
    let sub = body["submission_id"].as_str().unwrap().to_owned();
    assert_eq!(body["evidence"].as_array().unwrap().len(), 2);
    assert_eq!(body["evidence"][1]["path"], "bilan été.csv");

    let mut view = Value::Null;
    for _ in 0..200 {
        view = client.get(format!("{}/api/submissions/{sub}", srv.base)).send().await.unwrap().json().await.unwrap();
        if view["complete"] == true {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(view["complete"], true, "{view}");
    for rec in view["evidence"].as_array().unwrap() {
        assert_eq!(rec["status"], "stored");
        assert_eq!(rec["establishment"], "750000001");
        assert_eq!(rec["objectives"][0], "D1.FIN");
    }
    let id = body["evidence"][0]["evidence_id"].as_str().unwrap();
    let rec: Value = client.get(format!("{}/api/evidence/{id}", srv.base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(rec["media_type"], "application/pdf");
    assert_eq!(rec["sha256"], body["evidence"][0]["sha256"]);
    let events: Value = client.get(format!("{}/api/evidence/{id}/events", srv.base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(events.as_array().unwrap().len(), 2);

    // The dossier judged against care-d1-2024: the invoice is there, most objectives
    // have no evidence yet; the same as a French page with links to the evidence.
    let submission_id = sub.parse().unwrap();
    srv.app.wait_for_verification(submission_id, 2, Duration::from_secs(20)).await.unwrap();
    let verification: Value = client.get(format!("{}/api/submissions/{sub}/verification", srv.base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(verification["referential_id"], "care-d1-2024");
    let objectives: Vec<(&str, &str)> =
        verification["objectives"].as_array().unwrap().iter().map(|o| (o["objective"].as_str().unwrap(), o["verdict"].as_str().unwrap())).collect();
    assert_eq!(objectives[0], ("D1.PRE", "needs_review"), "{verification}");
    assert!(objectives.contains(&("D1.AD.AUDIT", "not_met")), "{objectives:?}");
    let page = client.get(format!("{}/submissions/{sub}/verification.html", srv.base)).send().await.unwrap();
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    let page = page.text().await.unwrap();
    assert!(page.contains("Vérification du dossier") && page.contains("Non atteint"), "{page}");
    assert!(page.contains(&format!("href=\"/api/evidence/{id}\"")), "evidence linked");
    let none = client.get(format!("{}/api/submissions/{}/verification", srv.base, uuid::Uuid::new_v4())).send().await.unwrap();
    assert_eq!(none.status(), 404);

    let missing = client.get(format!("{}/api/evidence/{}", srv.base, uuid::Uuid::new_v4())).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    let bad = client.get(format!("{}/api/evidence/not-a-uuid", srv.base)).send().await.unwrap();
    assert_eq!(bad.status(), 400);
    srv.stop.cancel();
}
common::on_each_stack!(upload_then_follow_the_submission);

async fn bad_uploads_get_a_clear_4xx_and_store_nothing(stack: common::Stack) {
    let mut env = TestEnv::new(stack).await;
    env.config.intake.max_file_bytes = 10_000;
    env.config.intake.max_request_bytes = 50_000;
    let srv = serve(&env).await;
    let client = srv.submitter().await;
    let url = format!("{}/api/evidence", srv.base);

    // Traversal in the file name.
    let resp = client.post(&url).multipart(form("750000001").part("file", file_part("../../etc/passwd", b"x"))).send().await.unwrap();
    assert_eq!(resp.status(), 400, "{stack:?}");
    assert_eq!(resp.json::<Value>().await.unwrap()["error"], "bad_file_name");

    // A file over the per-file limit, after a good one: the whole request stores nothing.
    let resp = client
        .post(&url)
        .multipart(form("750000001").part("file", file_part("ok.txt", b"ok")).part("file", file_part("big.bin", &vec![7u8; 20_000])))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"], "too_large");

    // A body over the request limit, each file under the per-file one.
    let mut many = form("750000001");
    for i in 0..6 {
        many = many.part("file", file_part(&format!("part-{i}.bin"), &vec![i as u8; 9_000]));
    }
    let resp = client.post(&url).multipart(many).send().await.unwrap();
    assert_eq!(resp.status(), 413);
    assert!(resp.json::<Value>().await.unwrap()["message"].as_str().unwrap().contains("request body"));

    // Truncated multipart: no closing boundary.
    let body = "--XYZ\r\nContent-Disposition: form-data; name=\"establishment\"\r\n\r\n750000001\r\n--XYZ\r\nContent-Disposition: form-data; name=\"campaign\"\r\n\r\ncare-d1-2024\r\n--XYZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.pdf\"\r\n\r\n%PDF-1.7 tronqu";
    let resp = client.post(&url).header("content-type", "multipart/form-data; boundary=XYZ").body(body).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"], "malformed_upload");

    // Not multipart at all; bad FINESS; files before the submission fields; no file.
    let resp = client.post(&url).body("hello").send().await.unwrap();
    assert!(resp.status().is_client_error());
    let resp = client.post(&url).multipart(form("12345").part("file", file_part("a.txt", b"a"))).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"], "invalid_field");
    let early = reqwest::multipart::Form::new().part("file", file_part("a.txt", b"a")).text("establishment", "750000001");
    assert_eq!(client.post(&url).multipart(early).send().await.unwrap().status(), 400);
    assert_eq!(client.post(&url).multipart(form("750000001")).send().await.unwrap().status(), 400);

    nothing_stored(&srv.app).await;
    srv.stop.cancel();
}
common::on_each_stack!(bad_uploads_get_a_clear_4xx_and_store_nothing);

/// Over capacity, the API says so at once (429 + Retry-After) instead of queueing work.
#[tokio::test]
async fn overload_is_refused_with_retry_after() {
    let mut env = TestEnv::new(Stack::Embedded).await;
    env.config.intake.max_concurrent_uploads = 1;
    let srv = serve(&env).await;
    let client = srv.submitter().await;
    let url = format!("{}/api/evidence", srv.base);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let slow = futures::stream::once(async { Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"debut ")) }).chain(futures::stream::once(async move {
        let _ = rx.await;
        Ok(bytes::Bytes::from_static(b"fin"))
    }));
    use futures::StreamExt;
    let part = reqwest::multipart::Part::stream(reqwest::Body::wrap_stream(slow)).file_name("lent.txt");
    let first = tokio::spawn(client.post(&url).multipart(form("750000001").part("file", part)).send());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = client.post(&url).multipart(form("750000001").part("file", file_part("b.txt", b"b"))).send().await.unwrap();
    assert_eq!(second.status(), 429);
    assert!(second.headers().contains_key("retry-after"));
    tx.send(()).unwrap();
    assert_eq!(first.await.unwrap().unwrap().status(), 202);
    srv.stop.cancel();
}

#[tokio::test]
async fn openapi_document_describes_the_api() {
    let env = TestEnv::new(Stack::Embedded).await;
    let srv = serve(&env).await;
    let doc: Value = reqwest::get(format!("{}/api/openapi.json", srv.base)).await.unwrap().json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/api/evidence",
        "/api/evidence/{id}",
        "/api/evidence/{id}/events",
        "/api/evidence/{id}/content",
        "/api/submissions/{id}",
        "/api/search",
        "/api/submissions/{id}/decisions",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} documented");
    }
    assert!(doc["components"]["schemas"]["EvidenceRecord"].is_object());
    assert_eq!(doc["components"]["securitySchemes"]["token"]["scheme"], "bearer");
    assert_eq!(reqwest::get(format!("{}/healthz", srv.base)).await.unwrap().status(), 200);
    srv.stop.cancel();
}

/// `/readyz` asks every back end: all `ok` when they answer; a 503 with `Retry-After`
/// naming clamd when clamd does not (nothing listens on its port), the others still `ok`.
async fn readiness_names_the_missing_dependency(stack: common::Stack) {
    let env = TestEnv::new(stack).await;
    let srv = serve(&env).await;
    let resp = reqwest::get(format!("{}/readyz", srv.base)).await.unwrap();
    assert_eq!(resp.status(), 200, "{stack:?}");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["ready"], true);
    for name in ["clamd", "database", "object_store", "broker"] {
        assert_eq!(body["checks"][name], "ok", "{stack:?} {name}: {body}");
    }
    srv.stop.cancel();

    let mut env = TestEnv::new(stack).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    env.config.clamd.address = closed.to_string(); // the listener is dropped: nothing answers
    let srv = serve(&env).await;
    let resp = reqwest::get(format!("{}/readyz", srv.base)).await.unwrap();
    assert_eq!(resp.status(), 503, "{stack:?}");
    assert!(resp.headers().contains_key("retry-after"));
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["ready"], false);
    assert!(body["checks"]["clamd"].as_str().unwrap().starts_with("unavailable"), "{body}");
    for name in ["database", "object_store", "broker"] {
        assert_eq!(body["checks"][name], "ok", "{stack:?} {name}: {body}");
    }
    srv.stop.cancel();
}
common::on_each_stack!(readiness_names_the_missing_dependency);

/// An upload repeated under the same `Idempotency-Key` (a client retrying after a lost
/// answer) gets the first receipt and makes no second record; the key with other bytes
/// is refused.
async fn a_repeated_upload_returns_its_first_receipt(stack: common::Stack) {
    let env = TestEnv::new(stack).await;
    let srv = serve(&env).await;
    let client = srv.submitter().await;
    let send = |bytes: &'static [u8], key: &'static str| {
        client
            .post(format!("{}/api/evidence", srv.base))
            .header("Idempotency-Key", key)
            .multipart(form("750000001").part("file", file_part("rapport.txt", bytes)))
            .send()
    };
    let first: Value = send(b"rapport d'audit", "cle-1").await.unwrap().json().await.unwrap();
    let again = send(b"rapport d'audit", "cle-1").await.unwrap();
    assert_eq!(again.status(), 202, "{stack:?}");
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["evidence"][0]["evidence_id"], first["evidence"][0]["evidence_id"], "{stack:?}: the first receipt");
    let other = send(b"un autre rapport", "cle-1").await.unwrap();
    assert_eq!(other.status(), 400, "{stack:?}: the same key for other bytes");
    let sub: caregate_schemas::SubmissionId = first["submission_id"].as_str().unwrap().parse().unwrap();
    let records = srv.app.backends.index.submission(sub).await.unwrap();
    assert_eq!(records.len(), 1, "{stack:?}: one record");
    srv.stop.cancel();
}
common::on_each_stack!(a_repeated_upload_returns_its_first_receipt);
