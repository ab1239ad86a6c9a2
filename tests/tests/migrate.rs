//! `trustmark-issuer migrate --from DIR --to URL`: a registry moves from the embedded store to
//! PostgreSQL and the service goes on there (`spec/storage.md` 11.7). Runs in the suite's
//! PostgreSQL run only (`TRUSTMARK_E2E_POSTGRES`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::ffi::OsStr;

use serde_json::json;
use trustmark_e2e::flows::{assessment, certifier, issue};
use trustmark_e2e::server::{audited, binary, database_for, Server, POSTGRES_VAR};

#[test]
fn a_registry_moves_from_sled_to_postgres_and_the_service_goes_on_there() {
    if std::env::var_os(POSTGRES_VAR).is_none() {
        eprintln!("{POSTGRES_VAR} is not set: the migration test runs in the PostgreSQL run only");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let embedded = [("TRUSTMARK_DATABASE", OsStr::new(""))];
    let mut sled = Server::start_with_env(&data, None, &[], &embedded);
    let (_, key) = certifier(&sled, "Moving Lab");
    let assessment_id = assessment(&sled, &key);
    let marks: Vec<_> = (0..30)
        .map(|_| issue(&sled, &key, &assessment_id))
        .collect();
    let revoked = marks[3]["mark_id"].as_str().unwrap();
    let answer = sled.post_json(
        &format!("/v1/marks/{revoked}/revoke"),
        Some(&key),
        &json!({"reason": "moved"}),
    );
    assert_eq!(answer.status, 200, "{}", answer.text());
    sled.stop();

    let url = database_for(&dir.path().join("target")).unwrap();
    let migrate = |to: &str| {
        std::process::Command::new(binary("trustmark-issuer"))
            .args(["migrate", "--from"])
            .arg(&data)
            .args(["--to", to])
            .output()
            .unwrap()
    };
    let moved = migrate(&url);
    assert!(
        moved.status.success(),
        "{}",
        String::from_utf8_lossy(&moved.stderr)
    );
    let report = String::from_utf8_lossy(&moved.stdout);
    assert!(report.contains(" 30 marks, "), "{report}");
    assert!(
        report.contains("(chain verified on both sides)"),
        "{report}"
    );
    // A second run finds the target full and refuses.
    let again = migrate(&url);
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("the target database is not empty"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );

    // The service on PostgreSQL: every mark and status as before; new marks take new indexes.
    let on_postgres = [("TRUSTMARK_DATABASE", OsStr::new(&url))];
    let pg = Server::start_with_env(&data, None, &[], &on_postgres);
    for mark in &marks {
        let id = mark["mark_id"].as_str().unwrap();
        let record = pg.get(&format!("/v1/marks/{id}")).json();
        let expected = if id == revoked { "revoked" } else { "valid" };
        assert_eq!(record["status"], expected, "{record}");
    }
    let verified = pg
        .post_json("/v1/verify", None, &json!({"mark": marks[3]["url"]}))
        .json();
    assert_eq!(verified["status"], "revoked", "{verified}");
    let highest = marks
        .iter()
        .map(|m| m["status_index"].as_u64().unwrap())
        .max()
        .unwrap();
    let fresh = issue(&pg, &key, &assessment_id);
    assert!(fresh["status_index"].as_u64().unwrap() > highest, "{fresh}");
    drop(pg);
    assert!(audited(&data, Some(&url)) > 30);
}
