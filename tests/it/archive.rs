//! Archivists' retrieval, search and retention, through the HTTP API on both stacks:
//! served bytes are re-hashed (a corrupted object is refused with 409 and recorded),
//! large files go out as presigned URLs where the store makes them, search finds files by
//! their identifiers and their French text, and deletion waits for the retention's end.

use crate::common;

use crate::common::{client, serve, Server, Stack, TestEnv};
use caregate_schemas::{Role, Scope, Sha256Digest, Status};
use serde_json::{json, Value};

const AD_REPORT: &str = "Rapport de sécurité de l'annuaire Active Directory.\nLes comptes à privilèges ont été réduits de 42 à 7.";

async fn send(srv: &Server, files: Vec<(&str, Vec<u8>)>) -> Vec<caregate_schemas::EvidenceRecord> {
    let sub = common::submission();
    let intake = srv.app.intake().unwrap();
    let n = files.len();
    for (name, body) in files {
        intake.receive(&sub, name, common::bytes_body(body)).await.unwrap();
    }
    common::wait_done(&srv.app, sub.submission_id, n, 60).await
}

fn sample(path: &str) -> Vec<u8> {
    std::fs::read(common::samples_dir().join(path)).unwrap()
}

async fn retrieval_rehashes_and_refuses_damaged_or_infected_files(stack: common::Stack) {
    let mut env = TestEnv::new(stack).await;
    // Every file counts as large: presigned where the store can.
    env.config.http.presign_above_bytes = 0;
    let srv = serve(&env).await;
    let arch = client(&srv.account("arch", Role::Archivist, Scope::National, None).await);
    let invoice = sample("factures/facture-FA-2024-0042.pdf");
    let records = send(&srv, vec![("facture.pdf", invoice.clone()), ("rapport.txt", AD_REPORT.as_bytes().to_vec()), ("eicar.txt", common::eicar())]).await;
    let by = |p: &str| records.iter().find(|r| r.path == p).unwrap().clone();
    let url = |r: &caregate_schemas::EvidenceRecord| format!("{}/api/evidence/{}/content", srv.base, r.evidence_id);

    let plain = reqwest::Client::new();
    let resp = arch.get(url(&by("facture.pdf"))).send().await.unwrap();
    let got = match stack {
        Stack::Full => {
            assert_eq!(resp.status(), 303, "Garage presigns");
            let location = resp.headers()["location"].to_str().unwrap().to_owned();
            assert!(location.contains("X-Amz-Expires=300"), "{location}");
            plain.get(&location).send().await.unwrap().bytes().await.unwrap()
        }
        Stack::Embedded => {
            assert_eq!(resp.status(), 200, "a local directory cannot presign: the bytes come through");
            assert_eq!(resp.headers()["x-content-sha256"], by("facture.pdf").sha256.hex());
            resp.bytes().await.unwrap()
        }
    };
    assert_eq!(&got[..], &invoice[..], "{stack:?}");

    // Years later the stored bytes have changed under their key.
    let damaged = by("rapport.txt");
    let changed = env.dir.path().join("changed");
    std::fs::write(&changed, b"Rapport falsifie").unwrap();
    srv.app.backends.evidence.put_file(damaged.object_key.as_deref().unwrap(), &changed, &Sha256Digest::of(b"Rapport falsifie")).await.unwrap();
    let resp = arch.get(url(&damaged)).send().await.unwrap();
    assert_eq!(resp.status(), 409, "{stack:?}");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "integrity_failure");
    let events = srv.app.backends.index.events(damaged.evidence_id).await.unwrap();
    let last = events.last().unwrap();
    assert_eq!(last.kind, "fixity_failed");
    assert_eq!(last.detail["actor"], "arch (archivist)");
    // One detail shape for every checked read: retrieval here, fixity and export in theirs.
    assert_eq!((&last.detail["during"], &last.detail["found"]["outcome"]), (&json!("retrieval"), &json!("mismatch")));
    assert!(!events.iter().any(|e| e.kind == "file_read"), "nothing was served");

    let infected = by("eicar.txt");
    assert_eq!(infected.status, Status::Infected);
    let resp = arch.get(url(&infected)).send().await.unwrap();
    assert_eq!(resp.status(), 409);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"], "infected", "an API error code, not a finding");
    srv.stop.cancel();
}
common::on_each_stack!(retrieval_rehashes_and_refuses_damaged_or_infected_files);

async fn archivists_search_by_identifiers_dates_and_french_text(stack: common::Stack) {
    let env = TestEnv::new(stack).await;
    let srv = serve(&env).await;
    let arch = client(&srv.account("arch", Role::Archivist, Scope::National, None).await);
    let ara = client(&srv.account("c-ara", Role::Controller, Scope::Regions(vec!["ARA".into()]), None).await);
    send(
        &srv,
        vec![
            ("facture-FA-2024-0042.pdf", sample("factures/facture-FA-2024-0042.pdf")),
            ("facture-FA-2024-0050.xml", sample("factures/facture-FA-2024-0050.xml")),
            ("nmap-2024-05-02.xml", sample("exposition/nmap-2024-05-02.xml")),
            ("rapport.txt", AD_REPORT.as_bytes().to_vec()),
        ],
    )
    .await;
    let states: Vec<String> = srv
        .app
        .backends
        .index
        .search(&caregate_storage::SearchQuery { limit: 10, ..Default::default() })
        .await
        .unwrap()
        .iter()
        .map(|r| format!("{} {} {:?} {:?}", r.path, r.status, r.kind, r.findings))
        .collect();
    assert_eq!(states.len(), 4, "{states:?}");
    let search = |c: &reqwest::Client, q: &str| {
        let req = c.get(format!("{}/api/search?{q}", srv.base));
        let q = q.to_owned();
        async move {
            let resp = req.send().await.unwrap();
            assert_eq!(resp.status(), 200, "{q}");
            let found: Vec<caregate_schemas::EvidenceRecord> = resp.json().await.unwrap();
            let mut paths: Vec<String> = found.into_iter().map(|r| r.path).collect();
            paths.sort();
            paths
        }
    };
    let today = chrono::Utc::now().date_naive();
    let yesterday = today.pred_opt().unwrap();
    let all = ["facture-FA-2024-0042.pdf", "facture-FA-2024-0050.xml", "nmap-2024-05-02.xml", "rapport.txt"];
    assert_eq!(search(&arch, "finess=750000001").await, all, "{stack:?}");
    assert_eq!(search(&arch, "finess=750000002").await, Vec::<String>::new());
    assert_eq!(search(&arch, "invoice=fa%202024%2F0042").await, ["facture-FA-2024-0042.pdf"]);
    assert_eq!(search(&arch, "siren=732829320&invoice=FA-2024-0042").await, ["facture-FA-2024-0042.pdf"]);
    assert_eq!(search(&arch, "siret=73282932000074&kind=invoice").await, ["facture-FA-2024-0042.pdf", "facture-FA-2024-0050.xml"]);
    assert_eq!(search(&arch, "kind=exposure_scan").await, ["nmap-2024-05-02.xml"], "{stack:?} {states:#?}");
    assert_eq!(search(&arch, "objective=D1.AD.AUDIT&status=stored").await.len(), 4);
    assert_eq!(search(&arch, "objective=D1.FIN").await, Vec::<String>::new());
    assert_eq!(search(&arch, &format!("from={today}&to={today}")).await.len(), 4);
    assert_eq!(search(&arch, &format!("to={}", yesterday.format("%d/%m/%Y"))).await, Vec::<String>::new(), "French dates");
    // French full text: accents kept, plurals found from the singular.
    assert_eq!(search(&arch, "q=sécurité%20annuaire").await, ["rapport.txt"], "{stack:?}");
    assert_eq!(search(&arch, "q=réduit").await, ["rapport.txt"], "réduits");
    assert!(search(&arch, "q=facture").await.contains(&"facture-FA-2024-0042.pdf".to_owned()));
    assert_eq!(search(&arch, "q=pare-feu%20firewall").await, Vec::<String>::new());
    assert_eq!(search(&arch, "q=%22%29%28*%20NEAR%20zzyzx").await, Vec::<String>::new(), "query syntax is not interpreted");
    // Scope: a controller of another region finds nothing of Île-de-France.
    assert_eq!(search(&ara, "finess=750000001").await, Vec::<String>::new());
    let bad = arch.get(format!("{}/api/search?from=31-12-2024", srv.base)).send().await.unwrap();
    assert_eq!(bad.status(), 400);
    srv.stop.cancel();
}
common::on_each_stack!(archivists_search_by_identifiers_dates_and_french_text);

async fn deletion_waits_for_the_end_of_retention(stack: common::Stack) {
    for retention_days in [3653, 0] {
        let mut env = TestEnv::new(stack).await;
        env.config.worker.retention_days = retention_days;
        let srv = serve(&env).await;
        let admin = client(&srv.account("adm", Role::Admin, Scope::National, None).await);
        let recs = send(&srv, vec![("rapport.txt", AD_REPORT.as_bytes().to_vec())]).await;
        let rec = &recs[0];
        let until = rec.retain_until.expect("retention recorded at storage");
        let expected = rec.received_at + chrono::Duration::days(retention_days.into());
        assert!((until - expected).num_seconds().abs() < 120, "{until} vs {expected}");
        let key = rec.object_key.clone().unwrap();
        let resp = admin.delete(format!("{}/api/evidence/{}", srv.base, rec.evidence_id)).send().await.unwrap();
        let kinds: Vec<String> = srv.app.backends.index.events(rec.evidence_id).await.unwrap().into_iter().map(|e| e.kind).collect();
        if retention_days > 0 {
            assert_eq!(resp.status(), 409, "{stack:?}");
            assert_eq!(resp.json::<Value>().await.unwrap()["error"], "retention_active");
            assert_eq!(kinds.last().unwrap(), "deletion_refused");
            assert!(srv.app.backends.evidence.size(&key).await.unwrap().is_some(), "still stored");
        } else {
            assert_eq!(resp.status(), 204, "{stack:?}");
            assert_eq!(kinds.last().unwrap(), "deleted");
            assert_eq!(srv.app.backends.evidence.size(&key).await.unwrap(), None, "gone from the store");
            let after = srv.app.backends.index.get(rec.evidence_id).await.unwrap().unwrap();
            assert_eq!(after.object_key, None);
            let arch = client(&srv.account("arch", Role::Archivist, Scope::National, None).await);
            let resp = arch.get(format!("{}/api/evidence/{}/content", srv.base, rec.evidence_id)).send().await.unwrap();
            assert_eq!(resp.status(), 409);
        }
        srv.stop.cancel();
    }
}
common::on_each_stack!(deletion_waits_for_the_end_of_retention);
