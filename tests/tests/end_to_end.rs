//! End to end with the real binaries: `trustmark-issuer init` and `issue`, then
//! `trustmark-verify` on the URL text, a raw COSE file and the QR image; independent checks of
//! our output with OpenSSL (certificates) and ZBar (QR images).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::Engine;

const FIRMWARE: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

/// A binary built from this workspace (`cargo test --workspace` builds them, since their
/// packages have integration tests).
fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("current_exe: {e}"));
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .unwrap_or_else(|| panic!("unexpected test path {}", exe.display()));
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: run `cargo build --workspace --bins` (or `cargo test --workspace`)",
        path.display()
    );
    path
}

fn run(program: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> Output {
    Command::new(&program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {:?}: {e}", program.as_ref()))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

struct Fixture {
    _dir: tempfile::TempDir,
    data: PathBuf,
    mark: serde_json::Value,
    qr_png: PathBuf,
    qr_svg: PathBuf,
}

fn path_str(p: &Path) -> &str {
    p.to_str()
        .unwrap_or_else(|| panic!("non-UTF-8 path {}", p.display()))
}

fn issue_fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let data = dir.path().join("data");
    let issuer = binary("trustmark-issuer");
    let init = run(&issuer, &["init", "--data-dir", path_str(&data)]);
    assert!(init.status.success(), "init: {}", text(&init.stderr));

    let again = run(&issuer, &["init", "--data-dir", path_str(&data)]);
    assert!(!again.status.success(), "a second init must refuse");
    assert!(
        text(&again.stderr).contains("already exists"),
        "{}",
        text(&again.stderr)
    );

    // A lab's responses: every row mandatory up to class 2 compliant, from the catalogue the
    // issuer prints.
    let catalogue = run(&issuer, &["frameworks", "show", "iotsf-icaf", "--json"]);
    assert!(catalogue.status.success(), "{}", text(&catalogue.stderr));
    let catalogue: serde_json::Value = serde_json::from_slice(&catalogue.stdout).unwrap();
    let responses: Vec<serde_json::Value> = catalogue["requirements"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["mandatory_from"].as_u64().is_some_and(|f| f <= 2))
        .map(|r| serde_json::json!({"requirement": r["id"], "response": "C", "evidence": format!("LAB-7/{}", r["id"].as_str().unwrap())}))
        .collect();
    let responses_path = dir.path().join("responses.json");
    std::fs::write(
        &responses_path,
        serde_json::json!({"responses": responses}).to_string(),
    )
    .unwrap();

    // Assess for class 3: class 2 is achieved, and the decision is saved for issuance.
    let saved = dir.path().join("assessment.json");
    let assessed = run(
        &issuer,
        &[
            "assess",
            "--framework",
            "iotsf-icaf",
            "--target-class",
            "3",
            "--responses",
            path_str(&responses_path),
            "--json",
            "--save",
            path_str(&saved),
        ],
    );
    assert!(
        assessed.status.success(),
        "assess: {}",
        text(&assessed.stderr)
    );
    let decision: serde_json::Value = serde_json::from_slice(&assessed.stdout).unwrap();
    assert_eq!(decision["achieved_class"], 2);
    assert_eq!(decision["meets_target"], false);
    assert!(!decision["blocking"].as_array().unwrap().is_empty());
    assert_eq!(decision["digest"].as_str().map(str::len), Some(64));

    let request = dir.path().join("request.json");
    let write_request = |claims: &str| {
        std::fs::write(
            &request,
            format!(
                r#"{{"vendor": "Acme Devices Ltd", "model": "SmartHub Pro 200", "hw_version": "1.2.0",
                    "firmware": {{"version": "4.1.7", "sha256": "{FIRMWARE}"}},
                    "claims": [{claims}],
                    "assurance": "third-party", "support_until": "2030-12-31", "valid_days": 30}}"#
            ),
        )
        .unwrap()
    };
    // Asking for more than the assessment gives is refused, and names what is missing.
    write_request(r#"{"framework": "iotsf-icaf", "class": 3}"#);
    let refused = run(
        &issuer,
        &[
            "issue",
            "--data-dir",
            path_str(&data),
            "--request",
            path_str(&request),
            "--assessment",
            path_str(&saved),
        ],
    );
    assert!(!refused.status.success());
    assert!(
        text(&refused.stderr).contains("asks for class 3 but the assessment achieves class 2"),
        "{}",
        text(&refused.stderr)
    );
    // Without an assessment nothing is issued.
    let unassessed = run(
        &issuer,
        &[
            "issue",
            "--data-dir",
            path_str(&data),
            "--request",
            path_str(&request),
        ],
    );
    assert!(
        text(&unassessed.stderr).contains("has no assessment"),
        "{}",
        text(&unassessed.stderr)
    );

    // The mark claims the computed class.
    write_request(r#"{"framework": "iotsf-icaf"}"#);
    let qr_png = dir.path().join("mark.png");
    let issued = run(
        &issuer,
        &[
            "issue",
            "--data-dir",
            path_str(&data),
            "--request",
            path_str(&request),
            "--assessment",
            path_str(&saved),
            "--qr",
            path_str(&qr_png),
        ],
    );
    assert!(issued.status.success(), "issue: {}", text(&issued.stderr));
    let mark: serde_json::Value =
        serde_json::from_slice(&issued.stdout).unwrap_or_else(|e| panic!("issue output: {e}"));
    assert_eq!(mark["claims"][0]["class"], 2);
    let record = std::fs::read_to_string(
        data.join(format!("marks/{}.json", mark["mark_id"].as_str().unwrap())),
    )
    .unwrap();
    assert!(
        record.contains(decision["digest"].as_str().unwrap()),
        "the registry record keeps the assessment digest"
    );

    let qr_svg = dir.path().join("mark.svg");
    let svg = run(
        &issuer,
        &[
            "issue",
            "--data-dir",
            path_str(&data),
            "--request",
            path_str(&request),
            "--assessment",
            path_str(&saved),
            "--qr",
            path_str(&qr_svg),
        ],
    );
    assert!(svg.status.success(), "issue svg: {}", text(&svg.stderr));
    Fixture {
        _dir: dir,
        data,
        mark,
        qr_png,
        qr_svg,
    }
}

fn verify(f: &Fixture, extra: &[&str]) -> Output {
    let trust_list = f.data.join("pki/trust-list.cbor");
    let mut args = vec!["--trust-list", path_str(&trust_list)];
    args.extend_from_slice(extra);
    run(binary("trustmark-verify"), &args)
}

#[test]
fn issue_and_verify_offline() {
    let f = issue_fixture();
    let url = f.mark["url"].as_str().unwrap_or_default().to_owned();
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(f.mark["token"].as_str().unwrap_or_default())
        .unwrap_or_else(|e| panic!("token is not base64url: {e}"));
    assert_eq!(f.mark["bytes"].as_u64(), Some(token.len() as u64));
    assert!(token.len() <= 200, "{} bytes", token.len());
    assert_eq!(f.mark["mark_id"].as_str().map(str::len), Some(32));
    assert!(url.starts_with("HTTPS://VERIFY.EXAMPLE.ORG/V/"), "{url}");
    assert!(f.mark["qr_version"].as_i64().is_some_and(|v| v <= 11));

    // URL text, as a scanner returns it (lower-cased too), with a firmware and class policy.
    let ok = verify(
        &f,
        &[
            "--firmware-sha256",
            FIRMWARE,
            "--min-class",
            "2",
            "--json",
            &url,
        ],
    );
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));
    let json: serde_json::Value = serde_json::from_slice(&ok.stdout).unwrap_or_default();
    assert_eq!(json["valid"], true);
    assert_eq!(json["mark"]["vendor"], "Acme Devices Ltd");
    assert_eq!(json["mark"]["claims"][0]["class"], 2);
    assert_eq!(json["mark"]["claims"][0]["assurance"], "third-party");
    assert_eq!(json["mark"]["firmware"]["sha256"], FIRMWARE);
    let lower = verify(&f, &[&url.to_lowercase()]);
    assert_eq!(lower.status.code(), Some(0), "{}", text(&lower.stderr));
    assert!(text(&lower.stdout).starts_with("VALID Acme Devices Ltd SmartHub Pro 200"));

    // The base64url token and a raw COSE file.
    let b64 = verify(&f, &[f.mark["token"].as_str().unwrap_or_default()]);
    assert_eq!(b64.status.code(), Some(0), "{}", text(&b64.stderr));
    let cose_file = f.data.join("mark.cbor");
    std::fs::write(&cose_file, &token).unwrap_or_else(|e| panic!("{e}"));
    let file = verify(&f, &[path_str(&cose_file)]);
    assert_eq!(file.status.code(), Some(0), "{}", text(&file.stderr));

    // The QR image, decoded by our own decoder.
    let qr = verify(&f, &["--qr", path_str(&f.qr_png)]);
    assert_eq!(qr.status.code(), Some(0), "{}", text(&qr.stderr));
    assert!(text(&std::fs::read(&f.qr_svg).unwrap_or_default()).contains("<svg"));
}

#[test]
fn rejects_tampered_wrong_firmware_expired_and_weak() {
    let f = issue_fixture();
    let url = f.mark["url"].as_str().unwrap_or_default().to_owned();

    // Tampered: change one digit of the token text (the last group stays in range).
    let mut tampered = url.clone().into_bytes();
    let at = tampered.len() - 20;
    tampered[at] = if tampered[at] == b'1' { b'2' } else { b'1' };
    let tampered = String::from_utf8(tampered).unwrap_or_default();
    let bad = verify(&f, &["--json", &tampered]);
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad.stderr));
    let json: serde_json::Value = serde_json::from_slice(&bad.stdout).unwrap_or_default();
    assert_eq!(json["valid"], false);
    assert_eq!(json["error"]["code"], "bad_signature", "{json}");

    let other_fw = "00".repeat(32);
    let wrong = verify(&f, &["--firmware-sha256", &other_fw, "--json", &url]);
    assert_eq!(wrong.status.code(), Some(1));
    assert!(text(&wrong.stdout).contains("firmware_mismatch"));
    assert!(
        text(&wrong.stderr).contains("firmware digest differs"),
        "{}",
        text(&wrong.stderr)
    );

    // valid_days was 30: 40 days on the mark has expired (the trust list is valid 90 days).
    let later = time_in_days(40);
    let expired = verify(&f, &["--at", &later, "--json", &url]);
    assert_eq!(expired.status.code(), Some(1));
    assert!(
        text(&expired.stdout).contains("\"expired\""),
        "{}",
        text(&expired.stdout)
    );

    let weak = verify(&f, &["--min-class", "3", &url]);
    assert_eq!(weak.status.code(), Some(1));
    assert!(
        text(&weak.stderr).contains("below the required class 3"),
        "{}",
        text(&weak.stderr)
    );

    // Usage errors exit 2.
    let usage = verify(&f, &["--at", "yesterday", &url]);
    assert_eq!(usage.status.code(), Some(2));
    // A text of no kind is an invalid mark, not a usage error (`spec/token.md` 9.6).
    let garbage = verify(&f, &["not a mark"]);
    assert_eq!(garbage.status.code(), Some(1), "{}", text(&garbage.stderr));
    assert!(
        text(&garbage.stderr).contains("not a mark URL"),
        "{}",
        text(&garbage.stderr)
    );
}

fn time_in_days(days: i64) -> String {
    let t = time::OffsetDateTime::now_utc() + time::Duration::days(days);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("format time: {e}"))
}

/// ZBar, an independent QR decoder, reads exactly the mark's URL from the PNG.
#[test]
fn zbar_decodes_the_qr_image_to_the_url() {
    let f = issue_fixture();
    let out = Command::new("zbarimg")
        .args(["--quiet", "--raw", path_str(&f.qr_png)])
        .output()
        .unwrap_or_else(|e| panic!("zbarimg (Debian package zbar-tools) is required: {e}"));
    assert!(out.status.success(), "zbarimg: {}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim_end(),
        f.mark["url"].as_str().unwrap_or_default()
    );
}

/// OpenSSL, an independent X.509 implementation, accepts the issuer certificate under the root.
#[test]
fn openssl_verifies_the_issuer_certificate() {
    let f = issue_fixture();
    let pki = f.data.join("pki");
    let out = run(
        "openssl",
        &[
            "verify",
            "-CAfile",
            path_str(&pki.join("root.pem")),
            path_str(&pki.join("issuer.pem")),
        ],
    );
    assert!(
        out.status.success(),
        "openssl verify: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(text(&out.stdout).contains(": OK"));
    let mode = |name: &str| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(pki.join(name))
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or(0)
    };
    assert_eq!(mode("root.key.pem"), 0o600);
    assert_eq!(mode("issuer.key.pem"), 0o600);
}
