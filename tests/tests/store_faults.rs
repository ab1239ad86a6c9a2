//! The service when its PostgreSQL database crashes and comes back (`pg_ctl restart -m
//! immediate`) under load: clear 503s with `Retry-After`, never a hang, a panic or a 500; no
//! acknowledged mark lost; recovery without a restart of the service. A test binary of its own,
//! since it restarts the cluster the suite's other services use (test binaries run one at a
//! time). Runs in the suite's PostgreSQL run only (`TRUSTMARK_E2E_POSTGRES`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use trustmark_e2e::flows::{assessment, certifier, mark_request};
use trustmark_e2e::server::{Server, POSTGRES_VAR};

/// The data directory of the suite's throwaway cluster (its `host=` is the socket directory,
/// which `scripts/postgres-cluster` makes the cluster's directory).
fn cluster_dir(cluster: &str) -> PathBuf {
    cluster
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix("host="))
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("{POSTGRES_VAR} names no host= directory: {cluster}"))
}

#[test]
fn a_database_crash_under_load_gives_503s_loses_nothing_acknowledged_and_recovers() {
    let Ok(cluster) = std::env::var(POSTGRES_VAR) else {
        eprintln!(
            "{POSTGRES_VAR} is not set: the store fault test runs in the PostgreSQL run only"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"));
    let (_, key) = certifier(&server, "Fault Lab");
    let assessment_id = assessment(&server, &key);
    let request = mark_request(&assessment_id);

    let done = AtomicBool::new(false);
    let (answers, slowest) = std::thread::scope(|scope| {
        let load = scope.spawn(|| {
            let mut answers = Vec::new();
            let mut slowest = Duration::ZERO;
            while !done.load(Ordering::SeqCst) {
                let started = Instant::now();
                let answer = server.post_json("/v1/marks", Some(&key), &request);
                slowest = slowest.max(started.elapsed());
                answers.push(answer);
            }
            (answers, slowest)
        });
        std::thread::sleep(Duration::from_millis(800));
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/postgres-cluster");
        let restarted = std::process::Command::new("bash")
            .arg(script)
            .arg("restart")
            .arg(cluster_dir(&cluster))
            .status()
            .unwrap();
        assert!(restarted.success(), "pg_ctl restart -m immediate failed");
        std::thread::sleep(Duration::from_millis(1500));
        done.store(true, Ordering::SeqCst);
        load.join().unwrap()
    });

    let mut acknowledged = Vec::new();
    let mut unavailable = 0;
    for answer in &answers {
        match answer.status {
            201 => acknowledged.push(answer.json()["mark_id"].as_str().unwrap().to_owned()),
            503 => {
                assert_eq!(answer.code(), "store_unavailable", "{}", answer.text());
                assert!(
                    answer.header("retry-after").is_some(),
                    "503 without Retry-After"
                );
                unavailable += 1;
            }
            other => panic!(
                "answer {other} during the database restart: {}",
                answer.text()
            ),
        }
    }
    eprintln!(
        "{} requests: {} acknowledged, {unavailable} store_unavailable; slowest {slowest:?}",
        answers.len(),
        acknowledged.len()
    );
    assert!(
        slowest < Duration::from_secs(15),
        "a request hung for {slowest:?}"
    );
    assert!(!acknowledged.is_empty());

    // The service recovers by itself: issuance and the health check work again.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let answer = server.post_json("/v1/marks", Some(&key), &request);
        if answer.status == 201 {
            acknowledged.push(answer.json()["mark_id"].as_str().unwrap().to_owned());
            break;
        }
        assert_eq!(answer.status, 503, "{}", answer.text());
        assert!(Instant::now() < deadline, "no recovery: {}", answer.text());
        std::thread::sleep(Duration::from_millis(200));
    }
    let health = server.get("/healthz").json();
    assert_eq!(health["store"]["kind"], "postgresql", "{health}");
    assert_eq!(health["store"]["reachable"], true, "{health}");
    // Every acknowledged mark survived the crash.
    for id in &acknowledged {
        let record = server.get(&format!("/v1/marks/{id}"));
        assert_eq!(record.status, 200, "acknowledged mark {id} was lost");
    }
}
