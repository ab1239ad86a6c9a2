//! The `trustmark-verify` command line, run as a process: how INPUT is classified
//! (`spec/token.md` section 9.6) with the exact code of each invalid input, the exit statuses,
//! a stdout whose reader has gone, and several schemes at once (`--trust-list` and `--root`
//! repeated, paired in order).
//!
//! Each test makes a development PKI (`trustmark_keys::init_dev_pki`) and signs a mark with its
//! issuer key, at the fixed time `NOW`; the tool verifies at `AT`, one day later.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use base64::Engine;
use trustmark_format::{
    mark, qr_text, Assurance, Day, Firmware, FrameworkClaim, FrameworkId, MarkClaims, UnixTime,
};
use trustmark_keys::{init_dev_pki, load_dev_pki, DevPkiOptions, Signer};

/// When the PKI and the mark are made: 2027-01-15T08:00:00Z.
const NOW: u64 = 1_800_000_000;
/// When the tool verifies: `NOW` + 1 day.
const AT: &str = "2027-01-16T08:00:00Z";

struct Fixture {
    dir: tempfile::TempDir,
    trust_list: PathBuf,
    /// The scheme root's kid, in hex.
    root_kid: String,
    token: Vec<u8>,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let paths = init_dev_pki(dir.path(), &DevPkiOptions::new(UnixTime(NOW))).unwrap();
        let pki = load_dev_pki(dir.path()).unwrap();
        let claims = MarkClaims {
            vendor: "Acme Devices Ltd".into(),
            model: "SmartHub Pro 200".into(),
            hw_version: "1.2.0".into(),
            firmware: Firmware {
                version: "4.1.7".into(),
                sha256: [0x9f; 32],
            },
            frameworks: vec![FrameworkClaim {
                framework: FrameworkId::IOTSF_ICAF,
                version: "3.0".into(),
                class: 2,
                assurance: Assurance::ThirdParty,
            }],
            issued_at: UnixTime(NOW),
            expires_at: UnixTime(NOW + 365 * 86_400),
            support_until: Day(22_000),
            status_index: 7,
        };
        let key = &pki.issuer_key;
        let token = mark::encode(&claims, key.algorithm(), key.kid(), |tbs| key.sign(tbs)).unwrap();
        Self {
            trust_list: paths.trust_list(),
            root_kid: hex::encode(&pki.root.kid),
            dir,
            token,
        }
    }

    fn root(&self) -> PathBuf {
        self.trust_list.with_file_name("root.pem")
    }

    fn url(&self) -> String {
        qr_text::mark_url(qr_text::DEFAULT_BASE_URL, &self.token)
    }

    fn digits(&self) -> String {
        qr_text::encode(&self.token)
    }

    fn base64url(&self) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&self.token)
    }

    /// Writes `bytes` to a file of the scratch directory.
    fn file(&self, name: &str, bytes: &[u8]) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path.to_str().unwrap().to_owned()
    }

    /// `trustmark-verify --trust-list ... --at AT` and `args`.
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_trustmark-verify"));
        command
            .arg("--trust-list")
            .arg(&self.trust_list)
            .args(["--at", AT])
            .args(args);
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `--json INPUT` and asserts exit 1 with the error `code` in the JSON.
fn assert_invalid(f: &Fixture, input: &str, code: &str) {
    let out = f.run(&["--json", input]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{input:?}: stdout is not JSON ({e}): {}", text(&out.stdout)));
    assert_eq!(
        (
            out.status.code(),
            json["valid"].as_bool(),
            json["error"]["code"].as_str()
        ),
        (Some(1), Some(false), Some(code)),
        "{input:?}: {json} {}",
        text(&out.stderr)
    );
    assert!(json["error"]["message"].is_string(), "{json}");
    assert!(
        text(&out.stderr).starts_with("INVALID: "),
        "{}",
        text(&out.stderr)
    );
}

fn assert_valid(f: &Fixture, args: &[&str]) {
    let out = f.run(&[&["--json"], args].concat());
    assert_eq!(
        out.status.code(),
        Some(0),
        "{args:?}: {}",
        text(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["valid"], true, "{json}");
    assert_eq!(json["mark"]["model"], "SmartHub Pro 200", "{json}");
}

/// Writes a QR code holding `content` as a PNG file.
fn qr_image(f: &Fixture, name: &str, content: &str) -> String {
    let image = qrcode::QrCode::new(content.as_bytes())
        .unwrap()
        .render::<image::Luma<u8>>()
        .module_dimensions(4, 4)
        .build();
    let path = f.dir.path().join(name);
    image
        .save_with_format(&path, image::ImageFormat::Png)
        .unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn every_input_kind_verifies() {
    let f = Fixture::new();
    let (url, digits, base64url) = (f.url(), f.digits(), f.base64url());
    let cose_file = f.file("mark.cbor", &f.token);
    let url_file = f.file("mark.url", format!("{url}\n").as_bytes());
    let base64url_file = f.file("mark.b64", format!("{base64url}\n").as_bytes());
    let qr = qr_image(&f, "mark.png", &url);
    for input in [
        url.as_str(),
        &url.to_lowercase(),
        &format!("{url}?src=qr#top"),
        &format!("/v/{digits}"),
        &digits,
        &format!(" {digits}\n"),
        &base64url,
        &cose_file,
        &url_file,
        &base64url_file,
    ] {
        assert_valid(&f, &[input]);
    }
    assert_valid(&f, &["--qr", &qr]);
    let plain = f.run(&[&url]);
    assert_eq!(plain.status.code(), Some(0), "{}", text(&plain.stderr));
    assert!(text(&plain.stdout).starts_with("VALID Acme Devices Ltd SmartHub Pro 200"));
}

/// A URL whose digits do not decode is an invalid mark with the decoder's code (it used to be
/// re-read as base64url and reported as a usage error, exit 2).
#[test]
fn url_with_undecodable_digits_reports_the_text_code() {
    let f = Fixture::new();
    let url = f.url();
    assert_invalid(&f, &url[..url.len() - 1], "invalid_text_length");
    assert_invalid(&f, "HTTP://X/V/1234", "invalid_text_length");
    assert_invalid(&f, "https://x/v/12a45", "invalid_character");
    assert_invalid(&f, "https://x/v/%41", "invalid_character");
    assert_invalid(&f, "/V/999", "digit_group_overflow");
    assert_invalid(&f, "https://verify.example.org/mark/123", "not_a_mark_url");
}

/// Bare digits of a length no byte string has: `invalid_text_length` (they used to be re-read
/// as base64url, which gave an unrelated code).
#[test]
fn digits_of_an_invalid_length_report_invalid_text_length() {
    let f = Fixture::new();
    let digits = f.digits();
    assert_invalid(&f, &digits[..digits.len() - 1], "invalid_text_length");
    assert_invalid(&f, "1234", "invalid_text_length");
    // A file holding such digits: the same code.
    let file = f.file("short.txt", b"1234\n");
    assert_invalid(&f, &file, "invalid_text_length");
}

#[test]
fn tampered_base64url_token_is_bad_signature() {
    let f = Fixture::new();
    let mut tampered = f.token.clone();
    *tampered.last_mut().unwrap() ^= 1;
    let text = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&tampered);
    assert_invalid(&f, &text, "bad_signature");
    let file = f.file("tampered.cbor", &tampered);
    assert_invalid(&f, &file, "bad_signature");
}

#[test]
fn undecodable_base64url_reports_the_text_code() {
    let f = Fixture::new();
    // A length of 1 mod 4: no byte string has it.
    let mut long = f.base64url();
    while long.len() % 4 != 1 {
        long.push('A');
    }
    assert_invalid(&f, &long, "invalid_text_length");
    // "0oR": 18 bits for 2 bytes, and the 2 unused bits of "R" are not zero.
    assert_invalid(&f, "0oR", "invalid_character");
    // Well-formed base64url that is not a mark.
    assert_invalid(&f, "0oQ", "truncated");
}

#[test]
fn text_of_no_kind_is_unrecognised_input() {
    let f = Fixture::new();
    assert_invalid(&f, "not a mark", "unrecognised_input");
    assert_invalid(&f, "verify.example.org/V/123", "unrecognised_input");
    assert_invalid(&f, "", "unrecognised_input");
    let missing = f.dir.path().join("missing.cbor");
    assert_invalid(&f, missing.to_str().unwrap(), "unrecognised_input");
    let binary = f.file("binary.bin", &[0xff, 0xfe, 0x00]);
    assert_invalid(&f, &binary, "unrecognised_input");
    let big = f.file("big.cbor", &vec![0xd2; 5000]);
    assert_invalid(&f, &big, "too_large");
}

/// The text of a QR code goes through the same rules: a QR code holding something else than a
/// mark is an invalid mark, not a usage error.
#[test]
fn qr_code_text_is_classified_like_input() {
    let f = Fixture::new();
    let cases = [
        ("web.png", "https://example.com/hello", "not_a_mark_url"),
        ("words.png", "hello, world", "unrecognised_input"),
        ("digits.png", "1234", "invalid_text_length"),
    ];
    for (name, content, code) in cases {
        let image = qr_image(&f, name, content);
        let out = f.run(&["--json", "--qr", &image]);
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            (out.status.code(), json["error"]["code"].as_str()),
            (Some(1), Some(code)),
            "{content:?}: {json}"
        );
    }
}

/// Usage and I/O errors exit 2 with nothing on stdout, also under `--json`.
#[test]
fn a_minimum_release_is_checked_against_the_claim() {
    let f = Fixture::new();
    let url = f.url();
    assert_valid(&f, &["--min-release", "1.0", &url]);
    let out = f.run(&["--json", "--min-release", "99", &url]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (out.status.code(), json["error"]["code"].as_str()),
        (Some(1), Some("release_too_old")),
        "{json}"
    );
    assert!(
        json["error"]["message"]
            .as_str()
            .unwrap()
            .ends_with("older than the required release 99"),
        "{json}"
    );
}

#[test]
fn usage_and_io_errors_exit_2() {
    let f = Fixture::new();
    let url = f.url();
    let root = f.root();
    let list = f.trust_list.to_str().unwrap();
    let missing_list = f.dir.path().join("no-such-list.cbor");
    let not_an_image = f.file("not-an-image.png", b"text");
    let verify = |trust_list: &std::path::Path, args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_trustmark-verify"))
            .arg("--trust-list")
            .arg(trust_list)
            .arg("--root")
            .arg(&root)
            .arg("--json")
            .args(args)
            .output()
            .unwrap()
    };
    let runs = [
        ("missing trust list", verify(&missing_list, &[&url])),
        // The trust list is read before an undecodable mark is reported.
        (
            "missing trust list, bad mark",
            verify(&missing_list, &["1234"]),
        ),
        (
            "unreadable --qr image",
            verify(&f.trust_list, &["--qr", &not_an_image]),
        ),
        (
            "bad --at",
            verify(&f.trust_list, &["--at", "yesterday", &url]),
        ),
        ("unknown flag", verify(&f.trust_list, &["--colour", &url])),
        (
            "bad --min-release",
            verify(&f.trust_list, &["--min-release", "v4", &url]),
        ),
        (
            "two --trust-list, one --root",
            verify(&f.trust_list, &["--trust-list", list, &url]),
        ),
        (
            "one --trust-list, two --root",
            verify(&f.trust_list, &["--root", root.to_str().unwrap(), &url]),
        ),
    ];
    for (case, out) in runs {
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{case}: {stderr}");
        assert!(out.stdout.is_empty(), "{case}: {}", text(&out.stdout));
        assert!(
            !stderr.is_empty() && !stderr.contains("INVALID"),
            "{case}: {stderr}"
        );
    }
}

/// A stdout whose reader has gone (`trustmark-verify ... | head -0`): no panic, no message, and
/// the exit status the verification decided. The read end is closed right after the spawn,
/// long before the tool has read its files and verified, so its one write fails with EPIPE.
#[test]
fn closed_stdout_keeps_the_exit_status_quietly() {
    let f = Fixture::new();
    let mut tampered = f.token.clone();
    *tampered.last_mut().unwrap() ^= 1;
    let tampered = qr_text::encode(&tampered);
    for (input, json, status) in [
        (f.url(), true, 0),
        (f.url(), false, 0),
        (tampered.clone(), true, 1),
    ] {
        let mut command = f.command(&[&input]);
        if json {
            command.arg("--json");
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(status), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(!stderr.contains("Broken pipe"), "{stderr}");
        // Nothing but the verdict of an invalid mark, which goes to stderr.
        if status == 0 {
            assert_eq!(stderr, "");
        } else {
            assert!(
                stderr.starts_with("INVALID: ") && stderr.lines().count() == 1,
                "{stderr}"
            );
        }
    }
}

/// `trustmark-verify` holding the schemes of `fixtures`: `--trust-list` and `--root` of each, in
/// order, then `--at AT` and `args`.
fn verify_with_schemes(fixtures: &[&Fixture], args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_trustmark-verify"));
    for f in fixtures {
        command
            .arg("--trust-list")
            .arg(&f.trust_list)
            .arg("--root")
            .arg(f.root());
    }
    command.args(["--at", AT]).args(args).output().unwrap()
}

/// Two schemes (two dev PKIs, each a root with its own issuer and mark): the mark of each
/// verifies, in either order, and the output names the scheme whose root's list verified it.
#[test]
fn two_schemes_each_mark_verifies_and_names_its_scheme() {
    let (a, b) = (Fixture::new(), Fixture::new());
    assert_ne!(a.root_kid, b.root_kid);
    for order in [[&a, &b], [&b, &a]] {
        for f in [&a, &b] {
            let out = verify_with_schemes(&order, &["--json", &f.url()]);
            assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
            let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            let scheme = &json["mark"]["scheme"];
            assert_eq!(
                (
                    json["valid"].as_bool(),
                    scheme["root"].as_str(),
                    scheme["root_kid"].as_str(),
                    scheme["root_file"].as_str(),
                ),
                (
                    Some(true),
                    Some("trustmark dev scheme root"),
                    Some(f.root_kid.as_str()),
                    f.root().to_str(),
                ),
                "{json}"
            );
            let plain = verify_with_schemes(&order, &[&f.url()]);
            assert_eq!(plain.status.code(), Some(0), "{}", text(&plain.stderr));
            let line = text(&plain.stdout);
            let scheme = format!(
                "| scheme trustmark dev scheme root (root kid {})\n",
                f.root_kid
            );
            assert!(
                line.starts_with("VALID Acme Devices Ltd SmartHub Pro 200")
                    && line.ends_with(&scheme),
                "{line}"
            );
        }
    }
    // Without --root, each list's root is the root.pem beside it.
    let out = Command::new(env!("CARGO_BIN_EXE_trustmark-verify"))
        .arg("--trust-list")
        .arg(&a.trust_list)
        .arg("--trust-list")
        .arg(&b.trust_list)
        .args(["--at", AT, "--json", &b.url()])
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        json["mark"]["scheme"]["root_kid"],
        b.root_kid.as_str(),
        "{json}"
    );
    // Holding one scheme, the other's mark is unknown.
    let out = verify_with_schemes(&[&a], &["--json", &b.url()]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (out.status.code(), json["error"]["code"].as_str()),
        (Some(1), Some("unknown_kid")),
        "{json}"
    );
}

/// Lists and roots are paired in order: a list under another scheme's root is an invalid
/// trust list (exit 1, naming the file); unequal counts, one root twice, and several roots for
/// `--online` are usage errors (exit 2) that say what to give.
#[test]
fn two_schemes_pairing_errors() {
    let (a, b) = (Fixture::new(), Fixture::new());
    let crossed = Command::new(env!("CARGO_BIN_EXE_trustmark-verify"))
        .arg("--trust-list")
        .arg(&a.trust_list)
        .arg("--root")
        .arg(b.root())
        .arg("--trust-list")
        .arg(&b.trust_list)
        .arg("--root")
        .arg(a.root())
        .args(["--at", AT, "--json", &a.url()])
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&crossed.stdout).unwrap();
    assert_eq!(
        (crossed.status.code(), json["error"]["code"].as_str()),
        (Some(1), Some("trust_list_signature")),
        "{json}"
    );
    let message = json["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!("{}: ", a.trust_list.display())),
        "{message}"
    );

    let (list_a, list_b) = (
        a.trust_list.to_str().unwrap(),
        b.trust_list.to_str().unwrap(),
    );
    let (root_a, root_b) = (a.root(), b.root());
    let (root_a, root_b) = (root_a.to_str().unwrap(), root_b.to_str().unwrap());
    let url = a.url();
    let verifier = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_trustmark-verify"))
            .args(args)
            .args(["--at", AT, "--json", &url])
            .output()
            .unwrap()
    };
    let cases = [
        (
            vec![
                "--trust-list",
                list_a,
                "--trust-list",
                list_b,
                "--root",
                root_a,
            ],
            "2 --trust-list but 1 --root: give one --root per --trust-list, paired in order \
             (or no --root, for the root.pem beside each list)",
        ),
        (
            vec!["--trust-list", list_a, "--root", root_a, "--root", root_b],
            "1 --trust-list but 2 --root: give one --root per --trust-list",
        ),
        (
            vec![
                "--trust-list",
                list_a,
                "--root",
                root_a,
                "--trust-list",
                list_a,
                "--root",
                root_a,
            ],
            &format!("{root_a} has the same root key as {root_a}: give each scheme once"),
        ),
        (
            vec![
                "--online",
                "http://127.0.0.1:9",
                "--root",
                root_a,
                "--root",
                root_b,
            ],
            "--online takes one --root (it fetches one scheme's trust list)",
        ),
    ];
    for (args, expected) in cases {
        let out = verifier(&args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}: {}", text(&out.stdout));
        assert!(
            stderr.starts_with(&format!("trustmark-verify: {expected}")),
            "{args:?}: {stderr}"
        );
    }
}
