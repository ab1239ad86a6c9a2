//! The scheme's PKI end to end with the real binaries (`spec/pki.md` section 11): the operator's
//! `trustmark-scheme` holds the root offline; the service makes each certifier's key and its
//! request; OpenSSL checks every issued certificate; trust lists are uploaded or read from a file;
//! rotation, withdrawal for the future and removal of a key; rollbacks and foreign roots refused.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use trustmark_e2e::flows::{assessment, certifier, key_states, mark_request};
use trustmark_e2e::server::{binary, Answer, Server};

fn run(name: &str, args: &[&OsStr]) -> Output {
    let path = binary(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace --bins` (or `cargo test --workspace`)",
        path.display()
    );
    Command::new(path).args(args).output().unwrap()
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn os(text: &str) -> &OsStr {
    OsStr::new(text)
}

/// The operator's side: a scheme directory and the tool.
struct Operator {
    dir: PathBuf,
    work: PathBuf,
}

impl Operator {
    fn init(parent: &Path, name: &str) -> Self {
        let dir = parent.join(name);
        let work = parent.join(format!("{name}-work"));
        std::fs::create_dir_all(&work).unwrap();
        ok(run(
            "trustmark-scheme",
            &[
                os("--dir"),
                dir.as_os_str(),
                os("init"),
                os("--name"),
                os(&format!("{name} Root")),
                os("--organization"),
                os(name),
                os("--days"),
                os("3650"),
            ],
        ));
        Self { dir, work }
    }

    fn root(&self) -> PathBuf {
        self.dir.join("root.pem")
    }

    /// The root certificate as the operator hands it to the service: a copy, away from the
    /// root key.
    fn published_root(&self) -> PathBuf {
        let published = self.work.join("root.pem");
        std::fs::copy(self.root(), &published).unwrap();
        published
    }

    /// Accredits the request `csr` (PEM text) with `scope`: the certificate's path.
    fn accredit(&self, name: &str, csr: &str, scope: &str) -> PathBuf {
        let csr_path = self.work.join(format!("{name}.csr"));
        std::fs::write(&csr_path, csr).unwrap();
        let cert = self.work.join(format!("{name}.pem"));
        ok(run(
            "trustmark-scheme",
            &[
                os("--dir"),
                self.dir.as_os_str(),
                os("accredit"),
                os("--csr"),
                csr_path.as_os_str(),
                os("--scope"),
                os(scope),
                os("--assurance"),
                os("third-party"),
                os("--days"),
                os("365"),
                os("--out"),
                cert.as_os_str(),
            ],
        ));
        let verified = Command::new("openssl")
            .arg("verify")
            .arg("-CAfile")
            .arg(self.root())
            .arg(&cert)
            .output()
            .unwrap();
        assert!(
            String::from_utf8_lossy(&verified.stdout).contains(": OK"),
            "openssl verify {name}: {}",
            String::from_utf8_lossy(&verified.stderr)
        );
        cert
    }

    /// Signs a trust list of `issuers` (`CERT@URI`) and `withdrawn` ones: its bytes.
    fn trust_list(&self, name: &str, issuers: &[String], withdrawn: &[String]) -> Vec<u8> {
        let out = self.work.join(format!("{name}.cose"));
        let mut args = vec![
            os("--dir"),
            self.dir.as_os_str(),
            os("trust-list"),
            os("--days"),
            os("30"),
            os("--out"),
            out.as_os_str(),
        ];
        for issuer in issuers {
            args.extend([os("--issuer"), os(issuer)]);
        }
        for issuer in withdrawn {
            args.extend([os("--withdraw"), os(issuer)]);
        }
        ok(run("trustmark-scheme", &args));
        std::fs::read(out).unwrap()
    }
}

/// A certifier's key as the service made it: kid, request, status list URI.
struct NewKey {
    kid: String,
    csr: String,
    status_list_uri: String,
}

fn new_key(server: &Server, certifier_id: &str) -> NewKey {
    let answer = server.post_json(
        &format!("/v1/certifiers/{certifier_id}/keys"),
        Some(&server.admin_key),
        &json!({}),
    );
    assert_eq!(answer.status, 201, "{}", answer.text());
    let body = answer.json();
    assert_eq!(body["state"], "pending");
    NewKey {
        kid: body["kid"].as_str().unwrap().to_owned(),
        csr: body["csr"].as_str().unwrap().to_owned(),
        status_list_uri: body["status_list_uri"].as_str().unwrap().to_owned(),
    }
}

fn install(server: &Server, certifier_id: &str, kid: &str, cert: &Path) -> Answer {
    server.put(
        &format!("/v1/certifiers/{certifier_id}/keys/{kid}/certificate"),
        &server.admin_key,
        "application/pem-certificate-chain",
        &std::fs::read(cert).unwrap(),
    )
}

fn publish(server: &Server, list: &[u8]) -> Answer {
    server.put(
        "/v1/trust-list",
        &server.admin_key,
        "application/cose",
        list,
    )
}

fn listed(cert: &Path, key: &NewKey) -> String {
    format!("{}@{}", cert.display(), key.status_list_uri)
}

fn error_code(answer: &Answer) -> String {
    answer.json()["error"]["code"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

fn verify(server: &Server, url: &str) -> Value {
    server
        .post_json("/v1/verify", None, &json!({"mark": url}))
        .json()
}

fn issue(server: &Server, key: &str, assessment_id: &str) -> Answer {
    server.post_json("/v1/marks", Some(key), &mark_request(assessment_id))
}

#[test]
fn two_certifiers_rotation_withdrawal_and_removal_against_an_offline_root() {
    let temp = tempfile::tempdir().unwrap();
    let operator = Operator::init(temp.path(), "Scheme");
    let root = operator.published_root();
    let server = Server::start_with(
        &temp.path().join("data"),
        Some("[scheme]\ntrust_list_warn_days = 7\n"),
        &[os("--root-certificate"), root.as_os_str()],
    );
    assert!(
        !temp.path().join("data/dev-scheme").exists(),
        "no development scheme beside a configured root"
    );
    let health = server.get("/healthz");
    assert_eq!(
        (health.status, health.json()["status"].clone()),
        (503, json!("failing"))
    );

    // Two certifiers; neither can sign before the operator has accredited a key of theirs.
    let (lab_a, key_a) = certifier(&server, "Lab A");
    let (lab_b, key_b) = certifier(&server, "Lab B");
    let psti_a = assessment(&server, &key_a);
    let psti_b = assessment(&server, &key_b);
    let refused = issue(&server, &key_a, &psti_a);
    assert_eq!(
        (refused.status, error_code(&refused)),
        (503, "no_trust_list".into())
    );

    // Keys made by the service, certified offline, installed.
    let a1 = new_key(&server, &lab_a);
    let b1 = new_key(&server, &lab_b);
    assert_ne!(
        a1.status_list_uri, b1.status_list_uri,
        "one status list per key"
    );
    let cert_a1 = operator.accredit("a1", &a1.csr, "uk-psti:1");
    let cert_b1 = operator.accredit("b1", &b1.csr, "uk-psti:0");
    let wrong = install(&server, &lab_a, &a1.kid, &cert_b1);
    assert_eq!(
        (wrong.status, error_code(&wrong)),
        (422, "certificate_key_mismatch".into())
    );
    let other = Operator::init(temp.path(), "Other");
    let foreign = other.accredit("a1-foreign", &a1.csr, "uk-psti:1");
    let refused = install(&server, &lab_a, &a1.kid, &foreign);
    assert_eq!(
        (refused.status, error_code(&refused)),
        (422, "certificate_foreign_root".into())
    );
    assert_eq!(install(&server, &lab_a, &a1.kid, &cert_a1).status, 200);
    assert_eq!(install(&server, &lab_b, &b1.kid, &cert_b1).status, 200);
    let refused = issue(&server, &key_a, &psti_a);
    assert_eq!(
        (refused.status, error_code(&refused)),
        (503, "no_trust_list".into())
    );

    // The first trust list: both keys active at once, without a restart.
    let first = operator.trust_list(
        "first",
        &[listed(&cert_a1, &a1), listed(&cert_b1, &b1)],
        &[],
    );
    let applied = publish(&server, &first);
    assert_eq!(applied.status, 200, "{}", applied.text());
    let mut activated: Vec<Value> = applied.json()["activated"].as_array().unwrap().clone();
    activated.sort_by_key(|v| v.to_string());
    let mut expected = vec![json!(a1.kid), json!(b1.kid)];
    expected.sort_by_key(|v| v.to_string());
    assert_eq!(activated, expected);
    let health = server.get("/healthz").json();
    assert_eq!(health["status"], "ok", "{health}");
    assert!(server
        .get("/metrics")
        .text()
        .contains("trustmark_trust_list_expires_in_seconds "));

    // Rollback and a foreign root are refused, and change nothing.
    let again = publish(&server, &first);
    assert_eq!(
        (again.status, error_code(&again)),
        (409, "trust_list_rollback".into())
    );
    let alien = other.trust_list("alien", &[], &[]);
    let refused = publish(&server, &alien);
    assert_eq!(
        (refused.status, error_code(&refused)),
        (422, "trust_list_invalid".into())
    );

    // Each certifier signs with its own key, inside its own scope.
    let mark_a1 = issue(&server, &key_a, &psti_a);
    assert_eq!(mark_a1.status, 201, "{}", mark_a1.text());
    let mark_a1 = mark_a1.json();
    assert_eq!(mark_a1["kid"], json!(a1.kid));
    let outside = issue(&server, &key_b, &psti_b);
    assert_eq!(
        (outside.status, error_code(&outside)),
        (422, "outside_scope".into())
    );
    assert!(
        outside
            .text()
            .contains("the key's maximum class for it is 0"),
        "{}",
        outside.text()
    );

    // Rotation: A's new key, accredited and listed beside the old one, signs from now on.
    let a2 = new_key(&server, &lab_a);
    let cert_a2 = operator.accredit("a2", &a2.csr, "uk-psti:1");
    assert_eq!(install(&server, &lab_a, &a2.kid, &cert_a2).status, 200);
    let pending = issue(&server, &key_a, &psti_a).json();
    assert_eq!(pending["kid"], json!(a1.kid), "a pending key does not sign");
    let second = operator.trust_list(
        "second",
        &[
            listed(&cert_a1, &a1),
            listed(&cert_a2, &a2),
            listed(&cert_b1, &b1),
        ],
        &[],
    );
    assert_eq!(
        publish(&server, &second).json()["activated"],
        json!([a2.kid])
    );
    let mark_a2 = issue(&server, &key_a, &psti_a).json();
    assert_eq!(mark_a2["kid"], json!(a2.kid));
    assert_ne!(mark_a2["status_list"], mark_a1["status_list"]);
    let states = key_states(&server, &lab_a);
    assert!(
        states.contains(&(a1.kid.clone(), "retiring".into())),
        "{states:?}"
    );
    assert!(
        states.contains(&(a2.kid.clone(), "active".into())),
        "{states:?}"
    );
    // Old and new marks verify, and both are revocable, each in its own key's list.
    let url = |mark: &Value| mark["url"].as_str().unwrap().to_owned();
    assert_eq!(verify(&server, &url(&mark_a1))["valid"], true);
    assert_eq!(verify(&server, &url(&mark_a2))["valid"], true);
    for mark in [&mark_a1, &pending] {
        let id = mark["mark_id"].as_str().unwrap();
        let revoked = server.post_json(
            &format!("/v1/marks/{id}/revoke"),
            Some(&key_a),
            &json!({"reason": "test"}),
        );
        assert_eq!(revoked.status, 200, "{}", revoked.text());
        assert_eq!(verify(&server, &url(mark))["status"], "revoked");
    }
    assert_eq!(verify(&server, &url(&mark_a2))["valid"], true);

    // Withdrawal for the future: a2 stays listed with its validity ending now.
    std::thread::sleep(Duration::from_millis(1100));
    let third = operator.trust_list(
        "third",
        &[listed(&cert_a1, &a1), listed(&cert_b1, &b1)],
        &[listed(&cert_a2, &a2)],
    );
    assert_eq!(publish(&server, &third).status, 200);
    let withdrawn = issue(&server, &key_a, &psti_a);
    assert_eq!(
        (withdrawn.status, error_code(&withdrawn)),
        (403, "accreditation_not_in_force".into()),
        "{}",
        withdrawn.text()
    );
    assert_eq!(
        verify(&server, &url(&mark_a2))["valid"],
        true,
        "marks signed before stay valid"
    );

    // Removal of a compromised key: a1 is in no list any more; its marks fail, a2's do not.
    let fourth = operator.trust_list("fourth", &[listed(&cert_b1, &b1)], &[listed(&cert_a2, &a2)]);
    assert_eq!(publish(&server, &fourth).json()["retired"], json!([a1.kid]));
    let removed = verify(&server, &url(&mark_a1));
    assert_eq!(removed["error"]["code"], "unknown_kid", "{removed}");
    assert_eq!(verify(&server, &url(&mark_a2))["valid"], true);

    // A list that expires within the warning period degrades /healthz (warn_days = 7 here, the
    // lists last 30: not yet); the metric counts down.
    let left = server.metric("trustmark_trust_list_expires_in_seconds");
    assert!((29 * 86_400..=30 * 86_400).contains(&left), "{left}");
}

#[test]
fn a_trust_list_file_is_put_in_force_when_it_changes() {
    let temp = tempfile::tempdir().unwrap();
    let operator = Operator::init(temp.path(), "Scheme");
    let root = operator.published_root();
    let file = temp.path().join("published/trust-list.cose");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, operator.trust_list("empty", &[], &[])).unwrap();
    let server = Server::start_with(
        &temp.path().join("data"),
        Some("[scheme]\ntrust_list_poll_seconds = 1\ntrust_list_warn_days = 60\n"),
        &[
            os("--root-certificate"),
            root.as_os_str(),
            os("--trust-list"),
            file.as_os_str(),
        ],
    );
    // Read at start; 30 days left is within the 60-day warning: degraded, but serving.
    let health = server.get("/healthz");
    assert_eq!(health.status, 200);
    assert_eq!(health.json()["status"], "degraded", "{}", health.text());
    let first = health.json()["trust_list"]["sequence"].as_u64().unwrap();
    let (lab, _) = certifier(&server, "Lab");
    let key = new_key(&server, &lab);
    let cert = operator.accredit("lab", &key.csr, "uk-psti:1");
    assert_eq!(install(&server, &lab, &key.kid, &cert).status, 200);
    let next = operator.trust_list("next", &[listed(&cert, &key)], &[]);
    let temp_file = file.with_extension("tmp");
    std::fs::write(&temp_file, &next).unwrap();
    std::fs::rename(&temp_file, &file).unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let health = server.get("/healthz").json();
        if health["trust_list"]["sequence"].as_u64() > Some(first) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new file was not read: {health}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(server.get("/v1/trust-list").body, next);
}

#[test]
fn production_refuses_to_start_where_it_can_read_a_root_key() {
    let temp = tempfile::tempdir().unwrap();
    let operator = Operator::init(temp.path(), "Scheme");
    // The root certificate configured straight from the operator's directory, key beside it.
    let out = Command::new(binary("trustmark-issuer"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(temp.path().join("data"))
        .arg("--root-certificate")
        .arg(operator.root())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("root-key.pem is a scheme root private key this service can read"),
        "{stderr}"
    );
}

#[test]
fn development_mode_keeps_its_root_apart_and_accredits_certifiers_itself() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let server = Server::start(&data);
    assert!(data.join("dev-scheme/root-key.pem").exists());
    assert!(!data.join("pki").exists());
    let health = server.get("/healthz").json();
    assert_eq!(health["development_scheme"], true);
    // A development certifier is accredited at the first start: a newcomer issues at once.
    let dev_key = std::fs::read_to_string(data.join("dev-certifier-api-key")).unwrap();
    let dev_psti = assessment(&server, dev_key.trim());
    assert_eq!(issue(&server, dev_key.trim(), &dev_psti).status, 201);
    let (lab, key) = certifier(&server, "Dev Lab");
    let psti = assessment(&server, &key);
    let mark = issue(&server, &key, &psti);
    assert_eq!(mark.status, 201, "{}", mark.text());
    let kid = mark.json()["kid"].as_str().unwrap().to_owned();
    trustmark_e2e::key_store::assert_key_held(&data, &kid);
    let keys = server.get_with(
        &format!("/v1/certifiers/{lab}/keys"),
        &[("authorization", &format!("Bearer {key}"))],
    );
    assert_eq!(keys.json()["keys"][0]["state"], "active", "{}", keys.text());
    // The development root key is refused the moment a production root is configured.
    drop(server);
    let operator = Operator::init(temp.path(), "Scheme");
    let published = operator.published_root();
    let out = Command::new(binary("trustmark-issuer"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .arg("--root-certificate")
        .arg(&published)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("dev-scheme/root-key.pem"));
}

#[test]
fn the_service_recognises_another_schemes_marks_against_its_own_root() {
    let temp = tempfile::tempdir().unwrap();
    // The other scheme: a service of its own (development mode), with a mark.
    let other = Server::start(&temp.path().join("other"));
    let other_key =
        std::fs::read_to_string(temp.path().join("other/dev-certifier-api-key")).unwrap();
    let other_psti = assessment(&other, other_key.trim());
    let foreign = issue(&other, other_key.trim(), &other_psti).json();
    let recognized = temp.path().join("recognized");
    std::fs::create_dir_all(&recognized).unwrap();
    std::fs::write(
        recognized.join("root.pem"),
        other.get("/v1/pki/root.pem").body,
    )
    .unwrap();
    std::fs::write(
        recognized.join("list.cose"),
        other.get("/v1/trust-list").body,
    )
    .unwrap();
    // A third scheme nobody recognises.
    let stranger = Server::start(&temp.path().join("stranger"));
    let stranger_key =
        std::fs::read_to_string(temp.path().join("stranger/dev-certifier-api-key")).unwrap();
    let stranger_psti = assessment(&stranger, stranger_key.trim());
    let unknown = issue(&stranger, stranger_key.trim(), &stranger_psti).json();

    let config = format!(
        "[scheme]\ntrust_list_poll_seconds = 1\n\n[[scheme.recognized]]\nroot_certificate = {:?}\ntrust_list = {:?}\n",
        recognized.join("root.pem"),
        recognized.join("list.cose")
    );
    let server = Server::start_with(&temp.path().join("data"), Some(&config), &[]);
    let own_key = std::fs::read_to_string(temp.path().join("data/dev-certifier-api-key")).unwrap();
    let own_psti = assessment(&server, own_key.trim());
    let own = issue(&server, own_key.trim(), &own_psti).json();
    let url = |mark: &Value| mark["url"].as_str().unwrap().to_owned();

    let verified = verify(&server, &url(&foreign));
    assert_eq!(verified["valid"], true, "{verified}");
    assert!(
        verified["mark"]["issuer"]
            .as_str()
            .unwrap()
            .ends_with("(trustmark DEVELOPMENT root (not for production))"),
        "{verified}"
    );
    assert_eq!(verify(&server, &url(&own))["valid"], true);
    let refused = verify(&server, &url(&unknown));
    assert_eq!(refused["error"]["code"], "unknown_kid", "{refused}");
    // A list of the recognised scheme signed by another root is refused, and the held one stays.
    std::fs::write(
        recognized.join("list.cose"),
        stranger.get("/v1/trust-list").body,
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(
        verify(&server, &url(&foreign))["valid"],
        true,
        "the held list stays"
    );
}

#[test]
fn bad_input_to_the_pki_routes_gets_clear_errors_and_stores_nothing() {
    let temp = tempfile::tempdir().unwrap();
    let operator = Operator::init(temp.path(), "Scheme");
    let root = operator.published_root();
    let server = Server::start_with(
        &temp.path().join("data"),
        None,
        &[os("--root-certificate"), root.as_os_str()],
    );
    let (lab, lab_key) = certifier(&server, "Lab");
    let key = new_key(&server, &lab);
    let audit = server.metric("trustmark_audit_entries");
    let admin = server.admin_key.clone();
    let cases: Vec<(&str, Answer, u16, &str)> = vec![
        (
            "a certifier asks for a key",
            server.post_json(
                &format!("/v1/certifiers/{lab}/keys"),
                Some(&lab_key),
                &json!({}),
            ),
            403,
            "forbidden",
        ),
        (
            "an unknown algorithm",
            server.post_json(
                &format!("/v1/certifiers/{lab}/keys"),
                Some(&admin),
                &json!({"alg": "rsa"}),
            ),
            400,
            "invalid_request",
        ),
        (
            "a key for no certifier",
            server.post_json(
                "/v1/certifiers/00000000000000000000000000000000/keys",
                Some(&admin),
                &json!({}),
            ),
            404,
            "not_found",
        ),
        (
            "a certificate that is not PEM",
            server.put(
                &format!("/v1/certifiers/{lab}/keys/{}/certificate", key.kid),
                &admin,
                "text/plain",
                b"not a certificate",
            ),
            422,
            "invalid_certificate",
        ),
        (
            "a certificate that is not UTF-8",
            server.put(
                &format!("/v1/certifiers/{lab}/keys/{}/certificate", key.kid),
                &admin,
                "text/plain",
                &[0xff, 0xfe, 0x00],
            ),
            400,
            "invalid_request",
        ),
        (
            "a certificate for no such key",
            server.put(
                &format!("/v1/certifiers/{lab}/keys/ffffffff/certificate"),
                &admin,
                "text/plain",
                b"x",
            ),
            404,
            "not_found",
        ),
        (
            "a kid that is not one",
            server.put(
                &format!("/v1/certifiers/{lab}/keys/..%2F..%2Fetc/certificate"),
                &admin,
                "text/plain",
                b"x",
            ),
            404,
            "not_found",
        ),
        (
            "a trust list by a certifier",
            server.put("/v1/trust-list", &lab_key, "application/cose", b"x"),
            403,
            "forbidden",
        ),
        (
            "a trust list that is not COSE",
            server.put(
                "/v1/trust-list",
                &admin,
                "application/cose",
                b"\xd2\x84garbage",
            ),
            422,
            "trust_list_invalid",
        ),
        (
            "a trust list over 256 KiB",
            server.put(
                "/v1/trust-list",
                &admin,
                "application/cose",
                &vec![0u8; 256 * 1024 + 1],
            ),
            413,
            "too_large",
        ),
    ];
    for (case, answer, status, code) in cases {
        assert_eq!(
            (answer.status, error_code(&answer)),
            (status, code.to_owned()),
            "{case}: {}",
            answer.text()
        );
    }
    assert_eq!(
        server.metric("trustmark_audit_entries"),
        audit,
        "a refused request stores nothing"
    );
}
