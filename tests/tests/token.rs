//! The service with its certifier keys in a PKCS#11 token (SoftHSM2, a token of this test's
//! own), under load while the token is pulled out and put back, and while its PIN changes:
//! every request answers 201 or 503 `signer_unavailable` (with `Retry-After`), never 500 and
//! never a hang; nothing refused is stored or audited; the service recovers by itself.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use trustmark_e2e::flows::{assessment, key_states, mark_request};
use trustmark_e2e::server::{audited, binary, Server};
use trustmark_pkcs11::softhsm::{write_private, SoftHsm};

/// The standard output of a command that must succeed.
fn succeeded(command: &mut Command) -> String {
    let out = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// A SoftHSM2 set-up with one token, a service data directory, and the `[keys.token]`
/// configuration naming the token.
struct TokenSetup {
    _dir: tempfile::TempDir,
    hsm: SoftHsm,
    pin_file: std::path::PathBuf,
    data: std::path::PathBuf,
    config: String,
}

impl TokenSetup {
    fn new(label: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let hsm = SoftHsm::create(&dir.path().join("hsm")).unwrap();
        let pin_file = dir.path().join("pin");
        let token = hsm.init_token(label, "1234", &pin_file).unwrap();
        let config = format!(
            "[keys.token]\nmodule = {:?}\ntoken_label = {label:?}\npin_file = {:?}\n",
            token.module.display().to_string(),
            pin_file.display().to_string()
        );
        let data = dir.path().join("data");
        Self {
            _dir: dir,
            hsm,
            pin_file,
            data,
            config,
        }
    }

    /// The service on the data directory with this configuration, seeing this SoftHSM2.
    fn start(&self, config: &str) -> Server {
        Server::start_with_env(
            &self.data,
            Some(config),
            &[],
            &[("SOFTHSM2_CONF", self.hsm.conf.as_os_str())],
        )
    }
}

/// Sets its flag when dropped.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// What the issuing client saw.
#[derive(Debug, Default)]
struct Seen {
    issued: u64,
    unavailable: u64,
}

/// Issues marks as fast as one client can until `stop`, checking every answer.
fn issue_until(server: &Server, key: &str, assessment_id: &str, stop: &AtomicBool) -> Seen {
    let mut seen = Seen::default();
    while !stop.load(Ordering::Relaxed) {
        let answer = server.post_json("/v1/marks", Some(key), &mark_request(assessment_id));
        match answer.status {
            201 => seen.issued += 1,
            503 => {
                assert_eq!(
                    answer.json()["error"]["code"],
                    "signer_unavailable",
                    "{}",
                    answer.text()
                );
                assert!(answer.header("retry-after").is_some());
                seen.unavailable += 1;
            }
            other => panic!("issuance answered {other}: {}", answer.text()),
        }
    }
    seen
}

#[test]
fn the_token_pulled_out_or_its_pin_changed_under_load_gives_503_and_loses_nothing() {
    let setup = TokenSetup::new("service");
    let (hsm, pin_file, data) = (&setup.hsm, &setup.pin_file, &setup.data);
    let start = || setup.start(&setup.config);

    // First start: the development certifier's key is made in the token.
    let server = start();
    let health = server.get("/healthz").json();
    assert_eq!(health["key_store"]["kind"], "pkcs11", "{health}");
    let key = std::fs::read_to_string(data.join("dev-certifier-api-key")).unwrap();
    let key = key.trim().to_owned();
    let assessment_id = assessment(&server, &key);
    drop(server);
    let before = audited(data, None);

    let server = start();
    let stop = AtomicBool::new(false);
    let seen = std::thread::scope(|scope| {
        let load = scope.spawn(|| issue_until(&server, &key, &assessment_id, &stop));
        // The load stops however this closure ends, a failed assertion included.
        let _stop = StopOnDrop(&stop);
        let pause = || std::thread::sleep(Duration::from_millis(1500));
        pause();
        // Pulled out under load, then put back.
        let pulled = hsm.pull_out().unwrap();
        pause();
        let health = server.get("/healthz").json();
        assert_eq!(health["status"], "degraded", "{health}");
        assert_eq!(health["key_store"]["available"], false, "{health}");
        pulled.put_back().unwrap();
        pause();
        // The PIN changes on the token (another process) and in the PIN file, and the token
        // is pulled out and back so the service must log in again: with the new PIN.
        change_pin(hsm, "1234", "5678");
        write_private(pin_file, "5678").unwrap();
        let pulled = hsm.pull_out().unwrap();
        pause();
        pulled.put_back().unwrap();
        pause();
        stop.store(true, Ordering::Relaxed);
        load.join().unwrap()
    });
    assert!(seen.unavailable > 0, "{seen:?}");
    assert!(seen.issued > 0, "{seen:?}");
    // Back to normal by itself: issuance succeeds again.
    let answer = server.post_json("/v1/marks", Some(&key), &mark_request(&assessment_id));
    assert_eq!(answer.status, 201, "{}", answer.text());
    assert_eq!(
        server.get("/healthz").json()["key_store"]["available"],
        true
    );
    drop(server);
    // Every 201 is stored and audited, and nothing else is.
    assert_eq!(audited(data, None), before + seen.issued + 1, "{seen:?}");
}

/// Changes the token's user PIN from another process (`pkcs11-tool`, Debian's opensc).
fn change_pin(hsm: &SoftHsm, old: &str, new: &str) {
    let out = Command::new("pkcs11-tool")
        .env("SOFTHSM2_CONF", &hsm.conf)
        .args(["--module"])
        .arg(trustmark_pkcs11::softhsm::module())
        .args([
            "--token-label",
            "service",
            "--login",
            "--pin",
            old,
            "--change-pin",
            "--new-pin",
            new,
        ])
        .output()
        .unwrap_or_else(|e| panic!("cannot run pkcs11-tool ({e}): install Debian's opensc"));
    assert!(
        out.status.success(),
        "pkcs11-tool --change-pin: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `keys migrate`: a service's software keys move into a token under the same kids; the service
/// restarted on the token signs with them (marks and status lists), and the files are gone.
#[test]
fn software_keys_migrate_into_a_token_and_keep_signing() {
    let setup = TokenSetup::new("migrate");
    let (hsm, config, data, dir) = (&setup.hsm, &setup.config, &setup.data, &setup._dir);
    // Software keys first (no [keys.token]).
    let server = setup.start("");
    assert_eq!(
        server.get("/healthz").json()["key_store"]["kind"],
        "software"
    );
    let key = std::fs::read_to_string(data.join("dev-certifier-api-key")).unwrap();
    let key = key.trim().to_owned();
    let assessment_id = assessment(&server, &key);
    let before = server.post_json("/v1/marks", Some(&key), &mark_request(&assessment_id));
    assert_eq!(before.status, 201, "{}", before.text());
    let kid = before.json()["kid"].as_str().unwrap().to_owned();
    drop(server);
    assert!(data.join(format!("keys/{kid}.pem")).exists());

    let config_file = dir.path().join("token.toml");
    std::fs::write(&config_file, config).unwrap();
    let stdout = succeeded(
        Command::new(binary("trustmark-issuer"))
            .args(["keys", "migrate", "--data-dir"])
            .arg(data)
            .arg("--config")
            .arg(&config_file)
            .env("SOFTHSM2_CONF", &hsm.conf)
            .env_remove("TRUSTMARK_PKCS11_MODULE")
            .env_remove("TRUSTMARK_PKCS11_TOKEN_LABEL"),
    );
    assert!(
        stdout.contains(&format!("key {kid} moved into token migrate")),
        "{stdout}"
    );
    assert!(!data.join(format!("keys/{kid}.pem")).exists());

    // On the token now: same kid, the mark verifies, the status list is signed there.
    let server = setup.start(config);
    assert_eq!(server.get("/healthz").json()["key_store"]["kind"], "pkcs11");
    let after = server.post_json("/v1/marks", Some(&key), &mark_request(&assessment_id));
    assert_eq!(after.status, 201, "{}", after.text());
    assert_eq!(after.json()["kid"], kid.as_str());
    let verified = server.post_json(
        "/v1/verify",
        None,
        &serde_json::json!({ "mark": after.json()["token"] }),
    );
    assert_eq!(verified.json()["status"], "valid", "{}", verified.text());
    let list = after.json()["status_list"].as_u64().unwrap();
    assert_eq!(server.get(&format!("/v1/status-lists/{list}")).status, 200);
}

/// Once the service is on a token, keys made before keep signing from their files, and
/// `keys migrate --rotate` rotates their certifiers to keys made in the token (for a token that
/// refuses imports, or a policy that wants keys born there).
#[test]
fn keys_rotate_into_a_token_while_the_old_ones_keep_signing() {
    let setup = TokenSetup::new("rotate");
    let data = &setup.data;
    let server = setup.start("");
    let key = std::fs::read_to_string(data.join("dev-certifier-api-key")).unwrap();
    let key = key.trim().to_owned();
    let assessment_id = assessment(&server, &key);
    let first = server.post_json("/v1/marks", Some(&key), &mark_request(&assessment_id));
    let old_kid = first.json()["kid"].as_str().unwrap().to_owned();
    drop(server);

    let server = setup.start(&setup.config);
    assert_eq!(server.get("/healthz").json()["key_store"]["kind"], "pkcs11");
    let again = server.post_json("/v1/marks", Some(&key), &mark_request(&assessment_id));
    assert_eq!(again.status, 201, "{}", again.text());
    assert_eq!(
        again.json()["kid"],
        old_kid.as_str(),
        "the old key signs from its file"
    );

    let stdout = succeeded(
        Command::new(binary("trustmark-issuer"))
            .args([
                "keys",
                "migrate",
                "--rotate",
                "--service",
                &server.base,
                "--data-dir",
            ])
            .arg(data),
    );
    assert!(
        stdout.contains(&format!("key {old_kid} (a file) rotates to ")),
        "{stdout}"
    );
    assert!(stdout.ends_with("1 of 1 keys rotating\n"), "{stdout}");
    let csr = std::fs::read_dir(data.join("rotation"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    succeeded(
        Command::new("openssl")
            .args(["req", "-verify", "-noout", "-in"])
            .arg(&csr),
    );
    // The new key is pending beside the old one, and it is not a file.
    let name = csr.file_stem().unwrap().to_string_lossy().into_owned();
    let (certifier, new_kid) = name.split_once('-').unwrap();
    let states = key_states(&server, certifier);
    assert!(
        states.contains(&(old_kid.clone(), "active".into())),
        "{states:?}"
    );
    assert!(
        states.contains(&(new_kid.to_owned(), "pending".into())),
        "{states:?}"
    );
    assert!(!data.join(format!("keys/{new_kid}.pem")).exists());
}
