//! The `trustmark-issuer` command line: clear errors for bad input, nothing written on failure.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::process::{Command, Stdio};

/// UK PSTI responses meeting all three requirements.
const PSTI_MET: &str = "requirement,response,evidence,justification\n1,C,PW-1,\n2,C,VDP-URL,\n3,Compliant,SUPPORT-PAGE,\n";

fn issuer() -> Command {
    Command::new(env!("CARGO_BIN_EXE_trustmark-issuer"))
}

/// `trustmark-issuer assess --framework FRAMEWORK --target-class CLASS`, more arguments to add.
fn assess(framework: &str, class: &str) -> Command {
    let mut command = issuer();
    command.args(["assess", "--framework", framework, "--target-class", class]);
    command
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
            "claims": [{{"framework": "uk-psti"}}], "assurance": "self",
            "support_until": "2030-12-31", "valid_days": 30}}"#,
        "ab".repeat(32)
    );
    std::fs::write(&request, body).unwrap_or_else(|e| panic!("{e}"));
    let responses = dir.path().join("psti.csv");
    std::fs::write(&responses, PSTI_MET).unwrap_or_else(|e| panic!("{e}"));
    let (code, err) = stderr_of(
        issuer()
            .args(["issue", "--data-dir"])
            .arg(dir.path())
            .arg("--request")
            .arg(&request)
            .arg("--assessment")
            .arg(&responses),
    );
    assert_eq!(code, Some(1));
    assert!(err.contains("run `trustmark-issuer init"), "{err}");
}

#[test]
fn bad_requests_name_the_field() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (code, err) = stderr_of(issuer().args(["init", "--data-dir"]).arg(dir.path()));
    assert_eq!(code, Some(0), "{err}");
    let responses = dir.path().join("psti.csv");
    std::fs::write(&responses, PSTI_MET).unwrap_or_else(|e| panic!("{e}"));
    let base = r#""vendor": "Acme", "model": "Hub", "hw_version": "1", "firmware": {"version": "1", "sha256": "SHA"},
        "claims": [{"framework": "FW", "class": CLASS}], "assurance": "ASSURANCE",
        "support_until": "2030-12-31", "valid_days": 30"#;
    let digest = "ab".repeat(32);
    let good = |b: &str| {
        b.replace("SHA", &digest)
            .replace("FW", "uk-psti")
            .replace("CLASS", "1")
            .replace("ASSURANCE", "self")
    };
    let cases = [
        (good(base).replace(&digest, "abc"), "firmware.sha256"),
        (
            good(base).replace("uk-psti", "nist"),
            "unknown framework \"nist\"",
        ),
        (
            good(base).replace(r#""class": 1"#, r#""class": 2"#),
            "target class 2 is not a level",
        ),
        (
            good(base).replace("2030-12-31", "2030-13-01"),
            "support_until",
        ),
        (good(base) + r#", "colour": "red""#, "unknown field"),
        (good(base).replace("\"self\"", "\"friends\""), "assurance"),
    ];
    for (body, expected) in cases {
        let request = dir.path().join("r.json");
        std::fs::write(&request, format!("{{{body}}}")).unwrap_or_else(|e| panic!("{e}"));
        let (code, err) = stderr_of(
            issuer()
                .args(["issue", "--data-dir"])
                .arg(dir.path())
                .arg("--request")
                .arg(&request)
                .arg("--assessment")
                .arg(&responses),
        );
        assert_eq!(code, Some(1), "{expected}: {err}");
        assert!(err.contains(expected), "expected {expected:?} in {err}");
    }
    // Nothing was recorded for the refused requests.
    assert!(!dir.path().join("marks").exists());
    // The good request issues.
    let request = dir.path().join("r.json");
    std::fs::write(&request, format!("{{{}}}", good(base))).unwrap_or_else(|e| panic!("{e}"));
    let (code, err) = stderr_of(
        issuer()
            .args(["issue", "--data-dir"])
            .arg(dir.path())
            .arg("--request")
            .arg(&request)
            .arg("--assessment")
            .arg(&responses),
    );
    assert_eq!(code, Some(0), "{err}");
}

#[test]
fn self_assessment_is_capped_by_the_scheme_policy() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let catalogue = issuer()
        .args(["frameworks", "show", "iotsf-icaf", "--json"])
        .output()
        .unwrap();
    let catalogue: serde_json::Value = serde_json::from_slice(&catalogue.stdout).unwrap();
    let mut csv = String::from("Requirement,Response,Evidence,Justification\n");
    for r in catalogue["requirements"].as_array().unwrap() {
        if r["mandatory_from"].as_u64().is_some_and(|f| f <= 2) {
            csv.push_str(&format!("{},Compliant,EV,\n", r["id"].as_str().unwrap()));
        }
    }
    let responses = dir.path().join("r.csv");
    std::fs::write(&responses, csv).unwrap();
    let (code, err) = stderr_of(issuer().args(["init", "--data-dir"]).arg(dir.path()));
    assert_eq!(code, Some(0), "{err}");
    let request = |class: &str| {
        let path = dir.path().join("req.json");
        std::fs::write(
            &path,
            format!(
                r#"{{"vendor": "Acme", "model": "Hub", "hw_version": "1", "firmware": {{"version": "1", "sha256": "{}"}},
                    "claims": [{{"framework": "iotsf-icaf"{class}}}], "assurance": "self", "support_until": "2030-12-31", "valid_days": 30}}"#,
                "cd".repeat(32)
            ),
        )
        .unwrap();
        path
    };
    // `issue` for a claim (its class, if any) under a policy file, if any.
    let issue = |class: &str, policy: Option<&std::path::Path>| {
        let mut command = issuer();
        command
            .args(["issue", "--data-dir"])
            .arg(dir.path())
            .arg("--request")
            .arg(request(class))
            .arg("--assessment")
            .arg(&responses);
        if let Some(policy) = policy {
            command.arg("--policy").arg(policy);
        }
        command
    };
    // Asking for class 2 with self-assessment is refused by the default policy.
    let (code, err) = stderr_of(&mut issue(r#", "class": 2"#, None));
    assert_eq!(code, Some(1));
    assert!(err.contains("needs third-party assurance"), "{err}");
    // Without a class, the mark claims the achieved class capped at 1.
    let out = issue("", None).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mark: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(mark["claims"][0]["class"], 1);
    assert_eq!(mark["claims"][0]["assurance"], "self");
    // A scheme that refuses provisional IoTSF decisions refuses this one: it rests on rows not
    // confirmed from the framework's text.
    let policy = dir.path().join("policy.toml");
    std::fs::write(
        &policy,
        "refuse_provisional = [\"iotsf-icaf\"]\n[self_assessment_max_class]\niotsf-icaf = 1\n",
    )
    .unwrap();
    let (code, err) = stderr_of(&mut issue("", Some(&policy)));
    assert_eq!(code, Some(1));
    assert!(
        err.contains("iotsf-icaf 3.0: the decision rests on 121 catalogue rows not confirmed from the framework's text (first: 2.4.3.6), and the scheme policy refuses provisional decisions for iotsf-icaf"),
        "{err}"
    );
}

#[test]
fn assess_reports_bad_files_by_row_and_column() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("r.csv");
    std::fs::write(&path, "requirement,response\n2.4.3.1,C\n2.4.3.2,probably\n").unwrap();
    let (code, err) = stderr_of(assess("iotsf-icaf", "1").args(["--responses"]).arg(&path));
    assert_eq!(code, Some(1));
    assert!(err.contains("row 3, column response"), "{err}");
    std::fs::write(&path, "requirement,response\n9.9.9,C\n").unwrap();
    let (_, err) = stderr_of(assess("iotsf-icaf", "1").args(["--responses"]).arg(&path));
    assert!(err.contains("not a requirement of iotsf-icaf"), "{err}");
    let (_, err) = stderr_of(assess("nist", "1").args(["--responses"]).arg(&path));
    assert!(err.contains("unknown framework"), "{err}");
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

/// A stdout whose reader has gone (`trustmark-issuer frameworks show iotsf-icaf --json | head
/// -1`): the output ends quietly, with no panic ("failed printing to stdout: Broken pipe", a
/// backtrace) and no message, and the command exits 0. The read end is closed right after the
/// spawn, before the command has printed anything, so its first write fails with EPIPE.
#[test]
fn closed_stdout_ends_the_output_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let responses = dir.path().join("psti.csv");
    std::fs::write(&responses, PSTI_MET).unwrap();
    let responses = responses.to_str().unwrap();
    let demo = dir.path().join("demo");
    let demo = demo.to_str().unwrap();
    let runs: [&[&str]; 6] = [
        &["frameworks", "show", "iotsf-icaf", "--json"],
        &["frameworks", "show", "iotsf-icaf"],
        &["frameworks", "list"],
        &[
            "assess",
            "--framework",
            "uk-psti",
            "--target-class",
            "1",
            "--responses",
            responses,
            "--json",
        ],
        &["report"],
        // Many lines, with work between them: the command still runs to its end.
        &["demo", "--data-dir", demo],
    ];
    for args in runs {
        let mut child = issuer()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(!stderr.contains("Broken pipe"), "{args:?}: {stderr}");
        assert_eq!(
            (out.status.code(), stderr.as_ref()),
            (Some(0), ""),
            "{args:?}"
        );
    }
    // The demo ran to its end: it wrote the mark's QR image.
    let images = std::fs::read_dir(demo).unwrap().filter(|e| {
        e.as_ref()
            .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "png"))
    });
    assert_eq!(images.count(), 1);
}

/// Releases and carry-over on the command line: `id@release`, `--release`, a saved file's own
/// release, and `assess --reuse` pre-filling PSTI from an ETSI assessment.
#[test]
fn releases_and_reuse_on_the_command_line() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let shown = issuer()
        .args(["frameworks", "show", "iotsf-icaf@4.0"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&shown.stdout).starts_with("iotsf-icaf 4.0 ("));

    // A saved IoTSF 3.0 assessment names its release; assessing it as 4.0 is refused.
    let csv = dir.path().join("iotsf.csv");
    std::fs::write(&csv, "requirement,response,evidence\n2.4.3.1,C,E1\n").unwrap();
    let saved = dir.path().join("iotsf.json");
    let (code, err) = stderr_of(
        assess("iotsf-icaf", "0")
            .args(["--responses"])
            .arg(&csv)
            .arg("--save")
            .arg(&saved),
    );
    assert_eq!(code, Some(0), "{err}");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&saved).unwrap()).unwrap();
    assert_eq!(doc["release"], "3.0");
    let (code, err) = stderr_of(
        assess("iotsf-icaf", "0")
            .args(["--release", "4.0", "--responses"])
            .arg(&saved),
    );
    assert_eq!(code, Some(1));
    assert!(
        err.contains("answers iotsf-icaf release 3.0, not 4.0"),
        "{err}"
    );

    // ETSI -> PSTI through the deemed-compliance links of PSTI Schedule 2.
    let etsi = dir.path().join("etsi.json");
    std::fs::write(
        &etsi,
        r#"{"framework": "etsi-en-303-645", "release": "2.1.1", "target_class": 1, "responses": [
            {"requirement": "5.1-1", "response": "C", "evidence": "PW-REPORT"},
            {"requirement": "5.1-2", "response": "NA", "justification": "no passwords"},
            {"requirement": "5.2-1", "response": "C", "evidence": "VDP-URL"}]}"#,
    )
    .unwrap();
    let psti = dir.path().join("psti.json");
    let out = assess("uk-psti", "1")
        .args(["--reuse"])
        .arg(&etsi)
        .arg("--save")
        .arg(&psti)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.starts_with("uk-psti 2023 from etsi-en-303-645 2.1.1: 2 rows pre-filled (carried over, not confirmed), 1 left unanswered"),
        "{stdout}"
    );
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&psti).unwrap()).unwrap();
    assert_eq!(doc["responses"][0]["carried_over"]["confirmed"], false);
    // Assessed as it is, the carried rows are not met.
    let decided = assess("uk-psti", "1")
        .args(["--json", "--responses"])
        .arg(&psti)
        .output()
        .unwrap();
    let decision: serde_json::Value = serde_json::from_slice(&decided.stdout).unwrap();
    assert_eq!(decision["achieved_class"], serde_json::Value::Null);
    assert_eq!(decision["blocking"][0]["reason"], "not_confirmed");
    // --reuse needs --save.
    let (code, _) = stderr_of(assess("uk-psti", "1").args(["--reuse"]).arg(&etsi));
    assert_eq!(code, Some(2));
}
