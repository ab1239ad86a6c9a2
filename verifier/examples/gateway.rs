//! A gateway onboarding simulated devices over TCP on loopback, deciding offline with its cached
//! trust list and status list (the committed vector fixtures, at the vectors' fixed time).
//!
//! `cargo run -p trustmark-verifier --example gateway`
//!
//! The full set of onboarding cases (forged, revoked, suspended, expired, wrong firmware, class
//! too low, self-assessed, support over, stale status list, unknown or removed issuer) is
//! `tests/tests/gateway.rs`.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::Path;

use trustmark_format::{Algorithm, Assurance, FrameworkId, UnixTime};
use trustmark_verifier::gateway::{admit, Admission, Presentation};
use trustmark_verifier::{
    verify_status_list, FrameworkRequirement, Policy, TrustAnchor, TrustStore, RING,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = Path::new(env!("CARGO_MANIFEST_DIR")).join("../spec/vectors/files");
    let read = |name: &str| std::fs::read(files.join(name));
    let now = UnixTime(String::from_utf8(read("time.txt")?)?.trim().parse()?);
    let anchor = TrustAnchor {
        alg: Algorithm::EdDsa,
        public_key: read("root-ed25519.pub")?,
    };
    // The gateway's cache: trust list and status list, verified once.
    let trust = TrustStore::from_signed(&read("trust-list.cbor")?, &anchor, now, &RING)?;
    let policy = Policy {
        frameworks: vec![FrameworkRequirement {
            framework: FrameworkId::IOTSF_ICAF,
            min_class: 2,
            min_release: None,
            min_assurance: Some(Assurance::ThirdParty),
        }],
        require_status: true,
        max_status_age: Some(86_400),
        require_support: true,
        ..Policy::default()
    };
    let status = verify_status_list(&read("status-list.cwt")?, &trust, &policy, now)?;

    let devices = [
        (
            "hub running the certified firmware",
            read("typical-mark.cbor")?,
            [0x9f; 32],
        ),
        (
            "hub running other firmware",
            read("typical-mark.cbor")?,
            [0x00; 32],
        ),
        (
            "camera whose mark was revoked",
            read("revoked-mark.cbor")?,
            [0x9f; 32],
        ),
    ];
    for (name, token, firmware) in devices {
        // The device listens; the gateway connects and reads its presentation.
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let address = listener.local_addr()?;
        let text = Presentation {
            token,
            firmware_sha256: firmware,
        }
        .to_text("HTTPS://VERIFY.EXAMPLE.ORG");
        let device = std::thread::spawn(move || -> std::io::Result<()> {
            let (mut connection, _) = listener.accept()?;
            connection.write_all(text.as_bytes())
        });
        let presentation = Presentation::read(TcpStream::connect(address)?)?;
        device.join().map_err(|_| "device thread panicked")??;
        match admit(&presentation, &trust, Some(&status), &policy, now) {
            Admission::Admit(mark) => println!(
                "ADMIT  {name}: {} {}, {} class {}",
                mark.claims().vendor,
                mark.claims().model,
                mark.claims().frameworks[0].framework,
                mark.claims().frameworks[0].class
            ),
            Admission::Refuse(e) => println!("REFUSE {name}: {e}"),
        }
    }
    Ok(())
}
