//! Several service instances on one PostgreSQL database behave as one service
//! (`spec/storage.md` 11.5). These tests need the suite's PostgreSQL run
//! (`TRUSTMARK_E2E_POSTGRES`, set by scripts/test-all); with the embedded store, whose directory
//! one process locks, there is no second instance to test, and they say so and return.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use trustmark_e2e::flows::{assessment, certifier, mark_request};
use trustmark_e2e::server::{audited, Server, POSTGRES_VAR};

fn on_postgres() -> bool {
    let set = std::env::var_os(POSTGRES_VAR).is_some();
    if !set {
        eprintln!("{POSTGRES_VAR} is not set: the instance tests run in the PostgreSQL run only");
    }
    set
}

/// Waits until `check` holds, for at most `limit`.
fn eventually(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "not within {limit:?}: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The status a service's `POST /v1/verify` gives the mark at `url`.
fn verified_status(server: &Server, url: &str) -> String {
    let answer = server
        .post_json("/v1/verify", None, &json!({"mark": url}))
        .json();
    answer["status"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn two_instances_on_one_database_behave_as_one_service() {
    if !on_postgres() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // A short ttl: a status list is cached for ttl / 2.
    let config = "status_list_ttl_seconds = 2\npublic_rate_limit_per_second = 10000.0\npublic_rate_limit_burst = 10000.0\n";
    let mut a = Server::start_with_config(&data, Some(config));
    // The second instance shares the data directory (keys, development scheme, admin key) and
    // the database.
    let mut b = Server::start_with_config(&data, Some(config));
    let (_, key) = certifier(&a, "Shared Lab");
    let assessment_id = assessment(&a, &key);
    // B learns of the certifier, its API key and its accredited key by following A.
    eventually(
        Duration::from_secs(15),
        "instance B accepts the new certifier",
        || {
            b.post_json("/v1/marks", Some(&key), &mark_request(&assessment_id))
                .status
                == 201
        },
    );

    // Marks issued through both at once: every one acknowledged, no status index twice.
    let issued: Vec<Value> = std::thread::scope(|scope| {
        let workers: Vec<_> = [&a, &b, &a, &b]
            .into_iter()
            .map(|server| {
                let (key, assessment_id) = (&key, &assessment_id);
                scope.spawn(move || {
                    (0..60)
                        .map(|_| {
                            let answer = server.post_json(
                                "/v1/marks",
                                Some(key),
                                &mark_request(assessment_id),
                            );
                            assert_eq!(answer.status, 201, "{}", answer.text());
                            answer.json()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    let mut slots = HashSet::new();
    for mark in &issued {
        let slot = (
            mark["status_list"].as_u64().unwrap(),
            mark["status_index"].as_u64().unwrap(),
        );
        assert!(slots.insert(slot), "status index {slot:?} handed out twice");
    }
    // Every acknowledged mark reads back through both.
    for mark in issued.iter().step_by(7) {
        let path = format!("/v1/marks/{}", mark["mark_id"].as_str().unwrap());
        assert_eq!(a.get(&path).json()["status"], "valid");
        assert_eq!(b.get(&path).json()["status"], "valid");
    }

    // A revocation through A: in B's registry at once, in B's status list within the ttl.
    let revoked = &issued[issued.len() - 1];
    let (id, url) = (
        revoked["mark_id"].as_str().unwrap(),
        revoked["url"].as_str().unwrap(),
    );
    assert_eq!(verified_status(&b, url), "valid");
    let answer = a.post_json(
        &format!("/v1/marks/{id}/revoke"),
        Some(&key),
        &json!({"reason": "key compromise"}),
    );
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(
        b.get(&format!("/v1/marks/{id}")).json()["status"],
        "revoked"
    );
    eventually(
        Duration::from_secs(4),
        "B's status list shows the revocation",
        || verified_status(&b, url) == "revoked",
    );
    // A mark issued by A is in B's status list too (its list is long enough to cover it).
    let by_a = &issued[0];
    assert_eq!(verified_status(&b, by_a["url"].as_str().unwrap()), "valid");

    // One audit chain, appended by both, that verifies.
    a.stop();
    b.stop();
    let entries = audited(&data, None);
    assert!(entries > issued.len() as u64, "{entries}");
}
