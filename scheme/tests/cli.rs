//! `trustmark-scheme` end to end, as an operator runs it: the root made offline, a signing
//! request made by OpenSSL (a third-party implementation) and by our key crate, the issued
//! certificate checked by `openssl verify`, and the trust list verified by the verifier library.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use trustmark_format::{Algorithm, FrameworkId, UnixTime};
use trustmark_keys::{certification_request, RootCertificate, Signer, SoftwareKey};
use trustmark_verifier::{TrustAnchor, TrustStore, RING};

fn scheme(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trustmark-scheme"))
        .arg("--dir")
        .arg(dir)
        .args(args)
        .output()
        .unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Asserts a refusal (exit 1) whose message contains `needle`.
fn refused(out: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(stderr.contains(needle), "expected {needle:?} in: {stderr}");
}

fn openssl(args: &[&str]) -> Output {
    Command::new("openssl")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("openssl: {e}"))
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

struct Scheme {
    _temp: tempfile::TempDir,
    dir: PathBuf,
    work: PathBuf,
    init_output: String,
}

impl Scheme {
    fn init(alg: &str) -> Self {
        let scheme = Self::init_with(alg, &[]);
        assert!(
            scheme.init_output.contains("keep"),
            "init names the key to keep offline"
        );
        scheme
    }

    /// `init` with more arguments; keeps what it printed.
    fn init_with(alg: &str, more: &[&str]) -> Self {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().join("scheme");
        let work = temp.path().join("work");
        std::fs::create_dir(&work).unwrap();
        let mut args = vec![
            "init",
            "--alg",
            alg,
            "--name",
            "Example Scheme Root",
            "--organization",
            "Example Scheme",
            "--days",
            "3650",
        ];
        args.extend_from_slice(more);
        let init_output = ok(&scheme(&dir, &args));
        Self {
            _temp: temp,
            dir,
            work,
            init_output,
        }
    }

    fn root(&self) -> RootCertificate {
        RootCertificate::from_pem(&std::fs::read_to_string(self.dir.join("root.pem")).unwrap())
            .unwrap()
    }

    fn file(&self, name: &str) -> PathBuf {
        self.work.join(name)
    }

    fn accredit(&self, csr: &Path, out: &Path, scope: &str) -> Output {
        scheme(
            &self.dir,
            &[
                "accredit",
                "--csr",
                csr.to_str().unwrap(),
                "--scope",
                scope,
                "--assurance",
                "third-party",
                "--days",
                "365",
                "--out",
                out.to_str().unwrap(),
            ],
        )
    }

    fn trust_list(&self, issuers: &[String], out: &Path, sequence: Option<u64>) -> Output {
        let mut args = vec!["trust-list".to_owned(), "--days".into(), "30".into()];
        for issuer in issuers {
            args.push("--issuer".into());
            args.push(issuer.clone());
        }
        if let Some(sequence) = sequence {
            args.push("--sequence".into());
            args.push(sequence.to_string());
        }
        args.push("--out".into());
        args.push(out.to_str().unwrap().into());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        scheme(&self.dir, &args)
    }

    /// `openssl verify -CAfile root.pem cert`.
    fn openssl_verify(&self, cert: &Path) {
        let out = openssl(&[
            "verify",
            "-CAfile",
            self.dir.join("root.pem").to_str().unwrap(),
            cert.to_str().unwrap(),
        ]);
        assert!(
            out.status.success() && String::from_utf8_lossy(&out.stdout).contains(": OK"),
            "openssl verify: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A key and a CSR made by OpenSSL.
fn openssl_request(dir: &Path, name: &str, alg: &str) -> PathBuf {
    let key = dir.join(format!("{name}-key.pem"));
    let csr = dir.join(format!("{name}.csr"));
    let genpkey: &[&str] = match alg {
        "ed25519" => &["genpkey", "-algorithm", "ed25519", "-out"],
        _ => &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
        ],
    };
    let mut args = genpkey.to_vec();
    args.push(key.to_str().unwrap());
    assert!(openssl(&args).status.success());
    let out = openssl(&[
        "req",
        "-new",
        "-key",
        key.to_str().unwrap(),
        "-subj",
        &format!("/O=Acme Ltd/CN={name}"),
        "-out",
        csr.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    csr
}

#[test]
fn an_openssl_request_is_accredited_and_the_certificate_passes_openssl_verify() {
    for alg in ["ed25519", "es256"] {
        let scheme = Scheme::init(alg);
        let csr = openssl_request(&scheme.work, "Acme Test Lab", alg);
        let cert = scheme.file("lab.pem");
        ok(&scheme.accredit(&csr, &cert, "iotsf-icaf:2"));
        scheme.openssl_verify(&cert);

        let certificate = trustmark_keys::IssuerCertificate::from_pem(
            &std::fs::read_to_string(&cert).unwrap(),
            &scheme.root(),
        )
        .unwrap();
        assert_eq!(certificate.info.common_name, "Acme Test Lab");
        assert_eq!(certificate.scope.frameworks.len(), 1);
        assert_eq!(
            certificate.scope.frameworks[0].framework,
            FrameworkId::IOTSF_ICAF
        );
        assert_eq!(certificate.scope.frameworks[0].max_class, 2);
    }
}

#[test]
fn a_request_from_our_key_crate_passes_openssl_req_verify() {
    let scheme = Scheme::init("ed25519");
    for alg in [Algorithm::EdDsa, Algorithm::Es256] {
        let key = SoftwareKey::generate(alg).unwrap();
        let csr = scheme.file(&format!("{alg:?}.csr"));
        std::fs::write(&csr, certification_request(&key, "Lab", "Lab Ltd").unwrap()).unwrap();
        let out = openssl(&["req", "-verify", "-noout", "-in", csr.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "openssl req -verify: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let cert = scheme.file(&format!("{alg:?}.pem"));
        ok(&scheme.accredit(&csr, &cert, "uk-psti:1"));
        scheme.openssl_verify(&cert);
    }
}

#[test]
fn a_tampered_request_is_refused() {
    let scheme = Scheme::init("ed25519");
    let key = SoftwareKey::generate(Algorithm::EdDsa).unwrap();
    let pem_text = certification_request(&key, "Genuine Lab", "Lab Ltd").unwrap();
    // Change the subject after signing: the signature no longer covers what is asked for.
    let block = pem::parse(&pem_text).unwrap();
    let mut der = block.contents().to_vec();
    let at = der
        .windows(b"Genuine".len())
        .position(|w| w == b"Genuine")
        .unwrap();
    der[at..at + 7].copy_from_slice(b"Forged!");
    let forged = scheme.file("forged.csr");
    std::fs::write(
        &forged,
        pem::encode(&pem::Pem::new("CERTIFICATE REQUEST", der)),
    )
    .unwrap();
    let cert = scheme.file("forged.pem");
    refused(
        &scheme.accredit(&forged, &cert, "uk-psti:1"),
        "signature does not verify",
    );
    assert!(!cert.exists(), "nothing is issued for a refused request");

    let not_a_request = scheme.file("root-copy.pem");
    std::fs::copy(scheme.dir.join("root.pem"), &not_a_request).unwrap();
    refused(
        &scheme.accredit(&not_a_request, &cert, "uk-psti:1"),
        "expected a CERTIFICATE REQUEST",
    );
}

#[test]
fn an_unknown_framework_or_a_missing_root_is_refused_with_usage_help() {
    let scheme = Scheme::init("ed25519");
    let csr = openssl_request(&scheme.work, "Lab", "ed25519");
    refused(
        &scheme.accredit(&csr, &scheme.file("x.pem"), "nist-8425:1"),
        "unknown framework",
    );
    let empty = scheme.work.join("no-scheme");
    let out = scheme_cmd_accredit(&empty, &csr);
    refused(&out, "run `trustmark-scheme init` first");
}

fn scheme_cmd_accredit(dir: &Path, csr: &Path) -> Output {
    scheme(
        dir,
        &[
            "accredit",
            "--csr",
            csr.to_str().unwrap(),
            "--scope",
            "uk-psti:1",
            "--assurance",
            "self",
            "--days",
            "30",
        ],
    )
}

#[test]
fn the_trust_list_verifies_under_the_root_and_its_sequence_only_grows() {
    let scheme = Scheme::init("es256");
    let mut issuers = Vec::new();
    for (name, scope) in [("Lab A", "iotsf-icaf:3"), ("Lab B", "uk-psti:1")] {
        let csr = openssl_request(&scheme.work, name, "ed25519");
        let cert = scheme.file(&format!("{name}.pem"));
        ok(&scheme.accredit(&csr, &cert, scope));
        issuers.push(format!(
            "{}@https://registry.example/v1/status-lists/{}",
            cert.display(),
            issuers.len() + 1
        ));
    }
    let first = scheme.file("trust-list-1.cose");
    assert!(ok(&scheme.trust_list(&issuers, &first, None)).contains("sequence"));
    let root = scheme.root();
    let anchor = TrustAnchor {
        alg: root.alg,
        public_key: root.public_key.clone(),
    };
    let store = TrustStore::from_signed(
        &std::fs::read(&first).unwrap(),
        &anchor,
        UnixTime(now()),
        &RING,
    )
    .unwrap();
    assert_eq!(store.list().issuers.len(), 2);
    let sequence = store.list().sequence;
    assert!(
        sequence >= now() - 60,
        "the default sequence is at least the Unix time"
    );

    // An explicit sequence at or below the last one is a rollback: refused, nothing written.
    let second = scheme.file("trust-list-2.cose");
    refused(
        &scheme.trust_list(&issuers, &second, Some(sequence)),
        "is not above the last one signed here",
    );
    assert!(!second.exists());
    ok(&scheme.trust_list(&issuers[..1], &second, None));
    let next = TrustStore::from_signed(
        &std::fs::read(&second).unwrap(),
        &anchor,
        UnixTime(now()),
        &RING,
    )
    .unwrap();
    assert_eq!(next.list().sequence, sequence + 1);
    assert_eq!(next.list().issuers.len(), 1);
}

#[test]
fn a_certificate_from_another_root_is_not_listed() {
    let ours = Scheme::init("ed25519");
    let theirs = Scheme::init("ed25519");
    let csr = openssl_request(&theirs.work, "Foreign Lab", "ed25519");
    let cert = theirs.file("foreign.pem");
    ok(&theirs.accredit(&csr, &cert, "uk-psti:1"));
    let out = ours.file("list.cose");
    refused(
        &ours.trust_list(&[cert.display().to_string()], &out, None),
        "certificate is not signed by the given root",
    );
    assert!(!out.exists());
    // And the refused list did not use up a sequence number.
    assert!(!ours.dir.join("trust-list.sequence").exists());
}

#[test]
fn the_root_key_file_is_the_owners_only_and_matches_the_certificate() {
    let scheme = Scheme::init("ed25519");
    use std::os::unix::fs::PermissionsExt;
    let key_path = scheme.dir.join("root-key.pem");
    let mode = std::fs::metadata(&key_path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let key = SoftwareKey::read_pem_file(&key_path).unwrap();
    assert_eq!(key.public_key(), scheme.root().public_key.as_slice());
    // A second init is refused and leaves the root as it was.
    let out = scheme_init_again(&scheme.dir);
    refused(&out, "already exists");
    assert_eq!(
        SoftwareKey::read_pem_file(&key_path).unwrap().public_key(),
        key.public_key()
    );
}

fn scheme_init_again(dir: &Path) -> Output {
    scheme(
        dir,
        &[
            "init",
            "--name",
            "Again",
            "--organization",
            "Again",
            "--days",
            "10",
        ],
    )
}

/// The root key kept in a PKCS#11 token (SoftHSM2): `init --token` makes it there and no key
/// file exists; `accredit` and `trust-list` sign through the token; the certificate passes
/// `openssl verify` and the trust list verifies under the root, as with a key file.
#[test]
fn a_root_key_in_a_token_signs_what_openssl_and_the_verifier_accept() {
    let hsm_dir = tempfile::tempdir().unwrap();
    let hsm = trustmark_pkcs11::softhsm::SoftHsm::create(hsm_dir.path()).unwrap();
    // The tool's processes inherit it; no other test of this file loads a PKCS#11 module.
    std::env::set_var("SOFTHSM2_CONF", &hsm.conf);
    for alg in ["ed25519", "es256"] {
        let label = format!("root-{alg}");
        let pin_file = hsm_dir.path().join(format!("{label}.pin"));
        let config = hsm.init_token(&label, "4321", &pin_file).unwrap();
        let token_file = hsm_dir.path().join(format!("{label}.toml"));
        std::fs::write(
            &token_file,
            format!(
                "module = {:?}\ntoken_label = {label:?}\npin_file = {:?}\n",
                config.module.display().to_string(),
                pin_file.display().to_string()
            ),
        )
        .unwrap();
        let scheme = Scheme::init_with(alg, &["--token", token_file.to_str().unwrap()]);
        assert!(
            scheme.init_output.contains("its key stays in the token"),
            "{}",
            scheme.init_output
        );
        assert!(scheme.dir.join("root-key.token").exists());
        assert!(!scheme.dir.join("root-key.pem").exists());
        let token_record = std::fs::read_to_string(scheme.dir.join("root-key.token")).unwrap();
        assert!(!token_record.contains("4321"), "the PIN is never written");

        let csr = openssl_request(&scheme.work, "Token Lab", alg);
        let cert = scheme.file("lab.pem");
        ok(&scheme.accredit(&csr, &cert, "iotsf-icaf:2"));
        scheme.openssl_verify(&cert);
        let list = scheme.file("trust-list.cose");
        ok(&scheme.trust_list(&[cert.display().to_string()], &list, None));
        let root = scheme.root();
        let anchor = TrustAnchor {
            alg: root.alg,
            public_key: root.public_key.clone(),
        };
        let store = TrustStore::from_signed(
            &std::fs::read(&list).unwrap(),
            &anchor,
            UnixTime(now()),
            &RING,
        )
        .unwrap();
        assert_eq!(store.list().issuers.len(), 1);

        // Without the PIN the ceremony stops, saying why; nothing is signed.
        std::fs::remove_file(&pin_file).unwrap();
        let again = scheme.file("trust-list-2.cose");
        refused(
            &scheme.trust_list(&[cert.display().to_string()], &again, None),
            "signing key store unavailable",
        );
        assert!(!again.exists());
    }
}
