//! `trustmark-issuer`: create a PKI, issue trust marks, print size figures.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use base64::Engine;
use clap::{Parser, Subcommand};
use trustmark_format::{qr_text, Algorithm, UnixTime};
use trustmark_issuer::offline::OfflineRegistry;
use trustmark_issuer::{format_day, qr, size_report, IssueRequest, IssuedMark, MarkIssuer};
use trustmark_keys::{
    init_dev_pki, load_dev_pki, sign_trust_list, DevPkiOptions, PkiPaths, TrustListEntry,
    TRUST_LIST_DAYS,
};
use trustmark_verifier::{verify, Policy, TrustAnchor, TrustStore, RING};

/// Issue trustmark trust marks for IoT devices.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create a development PKI (scheme root, one issuer, trust list) under DIR/pki.
    Init {
        /// Data directory.
        #[arg(long, value_name = "DIR")]
        data_dir: PathBuf,
        /// Key algorithm.
        #[arg(long, value_enum, default_value = "ed25519")]
        alg: AlgArg,
        /// Name of the issuer (certifier).
        #[arg(long, default_value = "Dev Test Lab")]
        issuer_name: String,
    },
    /// Issue a mark offline from a JSON request; prints the mark as JSON.
    Issue {
        /// Data directory (with the PKI from `init`).
        #[arg(long, value_name = "DIR")]
        data_dir: PathBuf,
        /// The request: vendor, model, hw_version, firmware {version, sha256}, claims
        /// [{framework, version, class}], assurance, support_until, valid_days.
        #[arg(long, value_name = "REQUEST.json")]
        request: PathBuf,
        /// Also write the QR code image (PNG, or SVG if the name ends in .svg).
        #[arg(long, value_name = "FILE")]
        qr: Option<PathBuf>,
        /// Base URL of the verification page the QR code opens.
        #[arg(long, default_value = qr_text::DEFAULT_BASE_URL)]
        base_url: String,
    },
    /// Re-sign the trust list (for example before it expires).
    TrustList {
        /// Data directory.
        #[arg(long, value_name = "DIR")]
        data_dir: PathBuf,
        /// Days the new list is valid.
        #[arg(long, default_value_t = TRUST_LIST_DAYS)]
        valid_days: u64,
    },
    /// Print the size figures of a typical mark (bytes, URL, QR versions) as JSON.
    Report,
    /// The offline demo: create a PKI if DIR has none, issue a sample mark with its QR code,
    /// and verify it.
    Demo {
        /// Data directory.
        #[arg(long, value_name = "DIR", default_value = "demo-data")]
        data_dir: PathBuf,
    },
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum AlgArg {
    /// EdDSA with Ed25519.
    Ed25519,
    /// ECDSA P-256 with SHA-256.
    Es256,
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("trustmark-issuer: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn now() -> Result<UnixTime> {
    Ok(UnixTime(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .context("the system clock is before 1970")?
            .as_secs(),
    ))
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Init {
            data_dir,
            alg,
            issuer_name,
        } => {
            let mut options = DevPkiOptions::new(now()?);
            options.alg = match alg {
                AlgArg::Ed25519 => Algorithm::EdDsa,
                AlgArg::Es256 => Algorithm::Es256,
            };
            options.issuer_name = issuer_name;
            let paths = init_dev_pki(&data_dir, &options)
                .with_context(|| format!("cannot create a PKI in {}", data_dir.display()))?;
            println!("created a development PKI in {}", paths.dir().display());
            Ok(())
        }
        Command::Issue {
            data_dir,
            request,
            qr,
            base_url,
        } => {
            let text = std::fs::read_to_string(&request)
                .with_context(|| format!("cannot read {}", request.display()))?;
            let request = IssueRequest::from_json(&text)?;
            let mark = issue(&data_dir, &request, &base_url)?;
            let qr_version = match &qr {
                Some(path) => Some(qr::write_qr_image(&mark.url, path)?),
                None => None,
            };
            println!(
                "{}",
                serde_json::to_string_pretty(&mark_json(&mark, qr_version))?
            );
            Ok(())
        }
        Command::TrustList {
            data_dir,
            valid_days,
        } => {
            let pki = load_dev_pki(&data_dir)?;
            let now = now()?;
            let list = sign_trust_list(
                &pki.root_key,
                &[TrustListEntry {
                    certificate: &pki.issuer,
                    status_list_uri: None,
                }],
                now.0,
                now,
                UnixTime(now.0 + valid_days * 86_400),
            )?;
            let path = PkiPaths::new(&data_dir).trust_list();
            write_replacing(&path, &list)?;
            println!("signed {}", path.display());
            Ok(())
        }
        Command::Report => {
            let reports = size_report::measure_all()?;
            println!("{}", serde_json::to_string_pretty(&reports)?);
            Ok(())
        }
        Command::Demo { data_dir } => demo(&data_dir),
    }
}

/// Issues a mark offline: allocates a status index, signs, records it.
fn issue(data_dir: &Path, request: &IssueRequest, base_url: &str) -> Result<IssuedMark> {
    let pki = load_dev_pki(data_dir).with_context(|| {
        format!(
            "no usable PKI in {} (run `trustmark-issuer init --data-dir {}` first)",
            data_dir.display(),
            data_dir.display()
        )
    })?;
    let registry = OfflineRegistry::new(data_dir);
    let issuer = MarkIssuer::new(&pki.issuer_key, &pki.issuer, base_url)?;
    let claims = request.to_claims(now()?, registry.next_status_index()?)?;
    let mark = issuer.issue(claims)?;
    registry.record(&mark)?;
    Ok(mark)
}

fn mark_json(mark: &IssuedMark, qr_version: Option<i16>) -> serde_json::Value {
    let c = &mark.claims;
    serde_json::json!({
        "mark_id": mark.mark_id,
        "token": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&mark.token),
        "url": mark.url,
        "bytes": mark.token.len(),
        "qr_version": qr_version,
        "claims": c.frameworks.iter().map(|f| serde_json::json!({
            "framework": f.framework.to_string(),
            "version": f.version,
            "class": f.class,
            "assurance": f.assurance.name(),
        })).collect::<Vec<_>>(),
        "status_index": c.status_index,
        "issued_at": c.issued_at.0,
        "expires_at": c.expires_at.0,
        "support_until": format_day(c.support_until),
    })
}

/// Replaces a file atomically (write a temporary file, sync, rename).
fn write_replacing(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let temp = path.with_extension("tmp");
    let mut file =
        std::fs::File::create(&temp).with_context(|| format!("cannot write {}", temp.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&temp, path).with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(())
}

fn demo(data_dir: &Path) -> Result<()> {
    let paths = PkiPaths::new(data_dir);
    if !paths.root_cert().exists() {
        init_dev_pki(data_dir, &DevPkiOptions::new(now()?))?;
        println!("1. created a development PKI in {}", paths.dir().display());
    } else {
        println!("1. using the PKI in {}", paths.dir().display());
    }
    let request = IssueRequest::from_json(
        r#"{"vendor": "Acme Devices Ltd", "model": "SmartHub Pro 200", "hw_version": "1.2.0",
            "firmware": {"version": "4.1.7",
                         "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"},
            "claims": [{"framework": "iotsf-icaf", "version": "3.0", "class": 2}],
            "assurance": "third-party", "support_until": "2030-12-31", "valid_days": 365}"#,
    )?;
    let mark = issue(data_dir, &request, qr_text::DEFAULT_BASE_URL)?;
    let qr_path = data_dir.join(format!("{}.png", mark.mark_id));
    let version = qr::write_qr_image(&mark.url, &qr_path)?;
    println!(
        "2. issued mark {} ({} bytes), QR version {version} at level M: {}",
        mark.mark_id,
        mark.token.len(),
        qr_path.display()
    );
    println!("   URL: {}", mark.url);

    let pki = load_dev_pki(data_dir)?;
    let anchor = TrustAnchor {
        alg: pki.root.alg,
        public_key: pki.root.public_key.clone(),
    };
    let trust_bytes = std::fs::read(paths.trust_list())?;
    let now = now()?;
    let trust = TrustStore::from_signed(&trust_bytes, &anchor, now, &RING)?;
    let scanned = qr_text::parse_scanned(&mark.url.to_lowercase())?;
    let policy = Policy {
        firmware_sha256: Some(mark.claims.firmware.sha256),
        ..Policy::default()
    };
    let verified = verify(&scanned, &trust, &policy, now)?;
    println!(
        "3. verified offline: {} {} firmware {}, {} class {}, issuer {}",
        verified.claims().vendor,
        verified.claims().model,
        verified.claims().firmware.version,
        verified.claims().frameworks[0].framework,
        verified.claims().frameworks[0].class,
        verified.issuer().name
    );
    let mut forged = scanned.clone();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    match verify(&forged, &trust, &policy, now) {
        Ok(_) => bail!("a tampered mark verified"),
        Err(e) => println!("4. a tampered copy is rejected: {e}"),
    }
    println!(
        "\nVerify it yourself:\n  cargo run -p trustmark-verifier --bin trustmark-verify -- --trust-list {} --qr {}",
        paths.trust_list().display(),
        qr_path.display()
    );
    Ok(())
}
