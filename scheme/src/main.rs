//! `trustmark-scheme`: the scheme operator's offline tool (`spec/pki.md` section 10). It keeps the
//! root private key in its scheme directory, on a machine that never runs the issuer service.
//!
//! Exit status: 0 done, 1 refused (a bad request, a rollback, a foreign certificate...), 2 usage.
#![deny(clippy::print_stdout)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use trustmark_format::{Algorithm, Assurance, FrameworkId, FrameworkScope, IssuerScope, UnixTime};
use trustmark_keys::Validity;
use trustmark_scheme::{
    accredit, init, trust_list, Accreditation, ListedIssuer, RootOptions, SchemeDir,
    TrustListOptions,
};
use trustmark_verifier::stdout::print_line;

/// The scheme operator's offline tool: the root key and certificate, issuer certificates from
/// certifiers' signing requests, and the signed trust list.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
struct Args {
    /// The scheme directory (root key, root certificate, last trust-list sequence).
    #[arg(long, value_name = "DIR", global = true, default_value = "scheme")]
    dir: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Make the root key (DIR/root-key.pem, mode 0600) and the self-signed root certificate
    /// (DIR/root.pem). Refuses if either exists.
    Init {
        /// `ed25519` or `es256`.
        #[arg(long, default_value = "ed25519")]
        alg: String,
        /// The root certificate's common name.
        #[arg(long)]
        name: String,
        /// Its organisation (the scheme).
        #[arg(long)]
        organization: String,
        /// Validity in days (no default: a root's life is a decision).
        #[arg(long)]
        days: u64,
        /// Start of validity, RFC 3339 [default: now].
        #[arg(long, value_name = "RFC3339")]
        not_before: Option<String>,
        /// Make the root key inside a PKCS#11 token instead of DIR/root-key.pem: FILE is TOML
        /// with `module`, `token_label`, and `pin_file` or `pin_env` (never the PIN itself).
        /// DIR/root-key.token then names the token and the key; accredit and trust-list use it.
        #[arg(long, value_name = "FILE")]
        token: Option<PathBuf>,
    },
    /// Issue the issuer certificate for a certifier's signing request (PKCS#10, PEM).
    Accredit {
        /// The request (PEM).
        #[arg(long, value_name = "FILE")]
        csr: PathBuf,
        /// A framework and the highest class the certifier may award, as `NAME:CLASS`
        /// (iotsf-icaf, etsi-en-303-645, uk-psti); repeat for more.
        #[arg(long = "scope", value_name = "NAME:CLASS", required = true)]
        scopes: Vec<String>,
        /// An assurance the certifier may sign, `third-party` or `self`; repeat for both.
        #[arg(long = "assurance", value_name = "ASSURANCE", required = true)]
        assurances: Vec<String>,
        /// Validity in days; must end within the root's.
        #[arg(long)]
        days: u64,
        /// Start of validity, RFC 3339 [default: now].
        #[arg(long, value_name = "RFC3339")]
        not_before: Option<String>,
        /// Where to write the certificate (PEM) [default: standard output]. Refuses to
        /// overwrite.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Sign the trust list of the given issuer certificates.
    TrustList {
        /// An issuer certificate (PEM) and, after `@`, where it publishes its status list:
        /// `lab.pem@https://registry.example/v1/status-lists/7`; repeat for each issuer key.
        #[arg(long = "issuer", value_name = "CERT[@STATUS_LIST_URI]")]
        issuers: Vec<String>,
        /// An issuer whose accreditation is withdrawn for the future: listed, with its validity
        /// ending now, so the marks it signed before stay valid and verifiers refuse new ones
        /// (same form as --issuer). To remove a compromised key, list it nowhere: every mark of
        /// it then fails.
        #[arg(long = "withdraw", value_name = "CERT[@STATUS_LIST_URI]")]
        withdrawn: Vec<String>,
        /// Validity in days.
        #[arg(long)]
        days: u64,
        /// The sequence number [default: one above the last signed here, at least the Unix time].
        #[arg(long)]
        sequence: Option<u64>,
        /// Where to write the signed list. Refuses to overwrite.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("trustmark-scheme: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn now() -> anyhow::Result<UnixTime> {
    Ok(UnixTime(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .context("the system clock is before 1970")?
            .as_secs(),
    ))
}

/// `days` days from `not_before` (RFC 3339) or now.
fn validity(not_before: Option<&str>, days: u64) -> anyhow::Result<Validity> {
    if days == 0 {
        anyhow::bail!("--days must be at least 1");
    }
    let start = match not_before {
        Some(text) => {
            let t = OffsetDateTime::parse(text, &Rfc3339)
                .with_context(|| format!("--not-before {text}: not an RFC 3339 time"))?;
            UnixTime(u64::try_from(t.unix_timestamp()).context("--not-before is before 1970")?)
        }
        None => now()?,
    };
    Ok(Validity::days_from(start, days))
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| path.display().to_string())
}

fn scope(scopes: &[String], assurances: &[String]) -> anyhow::Result<IssuerScope> {
    let frameworks = scopes
        .iter()
        .map(|text| {
            let (name, class) = text
                .split_once(':')
                .with_context(|| format!("--scope {text}: expected NAME:CLASS"))?;
            let framework = FrameworkId::from_name(name).with_context(|| {
                format!("--scope {text}: unknown framework (known: iotsf-icaf, etsi-en-303-645, uk-psti)")
            })?;
            let max_class = class
                .parse()
                .with_context(|| format!("--scope {text}: the class is a number 0-255"))?;
            Ok(FrameworkScope {
                framework,
                max_class,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let assurances = assurances
        .iter()
        .map(|a| {
            Assurance::from_name(a)
                .with_context(|| format!("--assurance {a}: `third-party` or `self`"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let scope = IssuerScope {
        frameworks,
        assurances,
    };
    scope
        .validate()
        .map_err(|e| anyhow::anyhow!("accreditation scope: {e}"))?;
    Ok(scope)
}

fn run(args: &Args) -> anyhow::Result<()> {
    let dir = SchemeDir::new(&args.dir);
    match &args.command {
        Command::Init {
            alg,
            name,
            organization,
            days,
            not_before,
            token,
        } => {
            let token = match token {
                Some(path) => {
                    let text = std::fs::read_to_string(path)
                        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                    let config: trustmark_pkcs11::TokenConfig = toml::from_str(&text)
                        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                    config.check()?;
                    Some(config)
                }
                None => None,
            };
            let alg = match alg.to_ascii_lowercase().as_str() {
                "ed25519" | "eddsa" => Algorithm::EdDsa,
                "es256" | "p-256" => Algorithm::Es256,
                other => anyhow::bail!("--alg {other}: `ed25519` or `es256`"),
            };
            let root = init(
                &dir,
                &RootOptions {
                    alg,
                    common_name: name.clone(),
                    organization: organization.clone(),
                    validity: validity(not_before.as_deref(), *days)?,
                    token,
                },
            )?;
            let key = if dir.root_key_in_token().exists() {
                format!(
                    "its key stays in the token ({})",
                    dir.root_key_in_token().display()
                )
            } else {
                format!("keep {} offline", dir.root_key().display())
            };
            print_line(format_args!(
                "scheme root {} (kid {}) in {}; {key}",
                root.common_name,
                hex::encode(&root.kid),
                dir.root_cert().display(),
            ))?;
        }
        Command::Accredit {
            csr,
            scopes,
            assurances,
            days,
            not_before,
            out,
        } => {
            let accredited = accredit(
                &dir,
                &read(csr)?,
                &Accreditation {
                    scope: scope(scopes, assurances)?,
                    validity: validity(not_before.as_deref(), *days)?,
                },
            )?;
            match out {
                Some(path) => {
                    trustmark_keys::files::write_new(path, accredited.pem.as_bytes(), 0o644)?;
                    eprintln!(
                        "issued {} for {} (kid {})",
                        path.display(),
                        accredited.certificate.info.common_name,
                        hex::encode(&accredited.certificate.info.kid)
                    );
                }
                None => print_line(accredited.pem.trim_end())?,
            }
        }
        Command::TrustList {
            issuers,
            withdrawn,
            days,
            sequence,
            out,
        } => {
            let period = validity(None, *days)?;
            let issuers = issuers
                .iter()
                .map(|spec| (spec, None))
                .chain(withdrawn.iter().map(|spec| (spec, Some(period.not_before))))
                .map(|(spec, withdrawn_at)| {
                    let (path, uri) = match spec.split_once('@') {
                        Some((path, uri)) => (path, Some(uri.to_owned())),
                        None => (spec.as_str(), None),
                    };
                    Ok(ListedIssuer {
                        certificate_pem: read(Path::new(path))?,
                        status_list_uri: uri,
                        withdrawn_at,
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            if out.exists() {
                anyhow::bail!("{} already exists; refusing to overwrite it", out.display());
            }
            let signed = trust_list(
                &dir,
                &TrustListOptions {
                    issuers,
                    sequence: *sequence,
                    issued_at: period.not_before,
                    expires_at: period.not_after,
                },
            )?;
            trustmark_keys::files::write_new(out, &signed.bytes, 0o644)?;
            print_line(format_args!(
                "signed {} (sequence {}, {} bytes)",
                out.display(),
                signed.sequence,
                signed.bytes.len()
            ))?;
        }
    }
    Ok(())
}
