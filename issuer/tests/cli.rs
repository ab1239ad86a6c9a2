//! The `trustmark-issuer` command line: clear errors for bad input, nothing written on failure.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::process::Command;

fn issuer() -> Command {
    Command::new(env!("CARGO_BIN_EXE_trustmark-issuer"))
}

fn stderr_of(cmd: &mut Command) -> (Option<i32>, String) {
    let out = cmd.output().unwrap_or_else(|e| panic!("run: {e}"));
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn issue_without_pki_says_to_run_init() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let request = dir.path().join("r.json");
    let body = format!(
        r#"{{"vendor": "Acme", "model": "Hub", "hw_version": "1", "firmware": {{"version": "1", "sha256": "{}"}},
            "claims": [{{"framework": "iotsf-icaf", "version": "3.0", "class": 1}}], "assurance": "self",
            "support_until": "2030-12-31", "valid_days": 30}}"#,
        "ab".repeat(32)
    );
    std::fs::write(&request, body).unwrap_or_else(|e| panic!("{e}"));
    let (code, err) = stderr_of(
        issuer()
            .args(["issue", "--data-dir"])
            .arg(dir.path())
            .arg("--request")
            .arg(&request),
    );
    assert_eq!(code, Some(1));
    assert!(err.contains("run `trustmark-issuer init"), "{err}");
}

#[test]
fn bad_requests_name_the_field() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (code, err) = stderr_of(issuer().args(["init", "--data-dir"]).arg(dir.path()));
    assert_eq!(code, Some(0), "{err}");
    let base = r#""vendor": "Acme", "model": "Hub", "hw_version": "1", "firmware": {"version": "1", "sha256": "SHA"},
        "claims": [{"framework": "FW", "version": "3.0", "class": CLASS}], "assurance": "third-party",
        "support_until": "2030-12-31", "valid_days": 30"#;
    let digest = "ab".repeat(32);
    let cases = [
        (
            base.replace("SHA", "abc")
                .replace("FW", "iotsf-icaf")
                .replace("CLASS", "2"),
            "firmware.sha256",
        ),
        (
            base.replace("SHA", &digest)
                .replace("FW", "nist")
                .replace("CLASS", "2"),
            "unknown framework",
        ),
        (
            base.replace("SHA", &digest)
                .replace("FW", "iotsf-icaf")
                .replace("CLASS", "5"),
            "not accredited",
        ),
        (
            base.replace("SHA", &digest)
                .replace("FW", "iotsf-icaf")
                .replace("CLASS", "2")
                .replace("2030-12-31", "2030-13-01"),
            "support_until",
        ),
        (
            base.replace("SHA", &digest)
                .replace("FW", "iotsf-icaf")
                .replace("CLASS", "2")
                + r#", "colour": "red""#,
            "unknown field",
        ),
    ];
    for (body, expected) in cases {
        let request = dir.path().join("r.json");
        std::fs::write(&request, format!("{{{body}}}")).unwrap_or_else(|e| panic!("{e}"));
        let (code, err) = stderr_of(
            issuer()
                .args(["issue", "--data-dir"])
                .arg(dir.path())
                .arg("--request")
                .arg(&request),
        );
        assert_eq!(code, Some(1), "{expected}: {err}");
        assert!(err.contains(expected), "expected {expected:?} in {err}");
    }
    // Nothing was recorded for the refused requests.
    assert!(!dir.path().join("marks").exists());
}

#[test]
fn report_meets_the_size_targets() {
    let out = issuer()
        .arg("report")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(out.status.success());
    let reports: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    for report in reports.as_array().into_iter().flatten() {
        assert!(
            report["token_bytes"].as_u64().is_some_and(|b| b <= 200),
            "{report}"
        );
    }
}
