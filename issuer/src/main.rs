//! `trustmark-issuer`: create a PKI, issue trust marks, print size figures.

#![deny(clippy::print_stdout)] // stdout goes through `out`, which survives a closed pipe

use std::path::{Path, PathBuf};

/// mimalloc: under load the service spent a quarter of its time in glibc malloc (see
/// BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::process::ExitCode;

mod key_migration;
mod publish;

use anyhow::{bail, Context, Result};
use base64::Engine;
use clap::{Parser, Subcommand};
use trustmark_format::{qr_text, Algorithm, UnixTime};
use trustmark_issuer::assessment::{self, Answer, Response};
use trustmark_issuer::offline::OfflineRegistry;
use trustmark_issuer::service;
use trustmark_issuer::{
    decide_claims, format_day, qr, size_report, Assessment, DecidedClaim, IssueRequest, IssuedMark,
    MarkIssuer, SchemePolicy,
};
use trustmark_keys::{
    init_dev_pki, load_dev_pki, sign_trust_list, DevPkiOptions, PkiPaths, TrustListEntry,
    TRUST_LIST_DAYS,
};
use trustmark_verifier::stdout::print_line;
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
        /// The responses each framework claim rests on (CSV, XLSX or JSON), or a saved
        /// assessment (`assess --save`); once per framework claimed.
        #[arg(long, value_name = "FILE")]
        assessment: Vec<PathBuf>,
        /// Scheme policy (TOML) [default: self-assessment up to IoTSF class 1].
        #[arg(long, value_name = "FILE")]
        policy: Option<PathBuf>,
        /// Also write the QR code image (PNG, or SVG if the name ends in .svg).
        #[arg(long, value_name = "FILE")]
        qr: Option<PathBuf>,
        /// Base URL of the verification page the QR code opens.
        #[arg(long, default_value = qr_text::DEFAULT_BASE_URL)]
        base_url: String,
    },
    /// Copy the registry of a stopped service from its embedded store (DIR/db) into an empty
    /// PostgreSQL database, verifying the audit chain on both sides.
    Migrate {
        /// The service's data directory.
        #[arg(long, value_name = "DIR")]
        from: PathBuf,
        /// The PostgreSQL database (a connection string) [or TRUSTMARK_DATABASE].
        #[arg(long, value_name = "URL")]
        to: Option<String>,
    },
    /// Write the read path as static files (the trust list, the root certificate and every
    /// status list the trust list names, with the service's paths and bytes, and a `_headers`
    /// file of their Content-Type and Cache-Control) for a static web server or CDN.
    Publish {
        /// The service's base URL.
        #[arg(long, value_name = "URL")]
        service: String,
        /// The directory to write (created; files replaced atomically).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Keep publishing, every SECONDS (status lists change and expire; choose less than
        /// their ttl).
        #[arg(long, value_name = "SECONDS")]
        every: Option<u64>,
    },
    /// Certifier keys: move software keys into the configured PKCS#11 token.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// List or show the framework catalogues.
    Frameworks {
        #[command(subcommand)]
        command: FrameworksCommand,
    },
    /// Assess responses against a framework: the class achieved, what blocks the next class,
    /// and the findings.
    Assess {
        /// Framework id (see `frameworks list`).
        #[arg(long)]
        framework: String,
        /// The framework's release (default: its default release; see `frameworks list`).
        #[arg(long)]
        release: Option<String>,
        /// The class aimed for.
        #[arg(long)]
        target_class: u8,
        /// Responses: CSV or XLSX (columns requirement, response, evidence, justification) or
        /// JSON.
        #[arg(long, value_name = "FILE", required_unless_present = "reuse")]
        responses: Option<PathBuf>,
        /// Instead of assessing, pre-fill `--framework`'s responses from this earlier saved
        /// assessment of another framework, through the crosswalk's published links; each
        /// pre-filled row is carried over, unconfirmed, with its source (needs `--save`).
        #[arg(
            long,
            value_name = "FILE",
            conflicts_with = "responses",
            requires = "save"
        )]
        reuse: Option<PathBuf>,
        /// Print the decision as JSON.
        #[arg(long)]
        json: bool,
        /// Save the assessment (framework, target class, responses) as JSON for `issue
        /// --assessment`.
        #[arg(long, value_name = "FILE")]
        save: Option<PathBuf>,
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
    /// Run the issuer service (HTTP API, registry, status lists, verification page) on its
    /// embedded database. The first start on an empty DIR creates a development PKI and a
    /// bootstrap admin API key (DIR/admin-api-key).
    Serve {
        /// Data directory [default: data, or TRUSTMARK_DATA_DIR].
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// Address to listen on [default: 127.0.0.1:8080, or TRUSTMARK_LISTEN].
        #[arg(long, value_name = "ADDR")]
        listen: Option<std::net::SocketAddr>,
        /// Public base URL printed in QR codes [default: HTTP://<listen address>, or
        /// TRUSTMARK_PUBLIC_BASE_URL].
        #[arg(long, value_name = "URL")]
        public_base_url: Option<String>,
        /// The scheme root certificate (PEM, from `trustmark-scheme init`) [or
        /// TRUSTMARK_ROOT_CERTIFICATE]. Without it the service runs a development scheme of its
        /// own in DIR/dev-scheme.
        #[arg(long, value_name = "PEM")]
        root_certificate: Option<PathBuf>,
        /// A signed trust list file to put in force, read again whenever it changes [or
        /// TRUSTMARK_TRUST_LIST].
        #[arg(long, value_name = "FILE")]
        trust_list: Option<PathBuf>,
        /// Configuration file (TOML): limits, status list timing, scheme policy.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Keep the registry in PostgreSQL instead of the embedded store in DIR/db: a
        /// connection string, `postgres://user@host/db` or libpq `key=value` form [or
        /// TRUSTMARK_DATABASE]. Prefer the environment when it holds a password.
        #[arg(long, value_name = "URL")]
        database: Option<String>,
    },
    /// Verify the audit log's hash chain (with the service stopped).
    Audit {
        /// Data directory.
        #[arg(long, value_name = "DIR")]
        data_dir: PathBuf,
        /// The service's PostgreSQL database, if it keeps its registry there [or
        /// TRUSTMARK_DATABASE].
        #[arg(long, value_name = "URL")]
        database: Option<String>,
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

#[derive(Subcommand, Debug)]
enum FrameworksCommand {
    /// One line per catalogue: id, release, levels, rows.
    List,
    /// The change list between two releases of a framework (Markdown): each side a built-in
    /// catalogue (`id` for its default release, or `id@release`) or a catalogue file (`.toml`).
    Diff {
        /// The older release.
        old: String,
        /// The newer release.
        new: String,
    },
    /// A catalogue with every requirement.
    Show {
        /// Framework id, or `id@release` (default: its default release).
        id: String,
        /// Print JSON (`{id, version, requirements: [{id, section, title, mandatory_from}]}`).
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
enum KeysCommand {
    /// Move the software keys of DIR/keys/ (all, or those given with --kid) into the token the
    /// service configuration names (`[keys.token]` in --config, or TRUSTMARK_PKCS11_*): each is
    /// imported under its kid as a sensitive, non-extractable key, checked to sign for its
    /// public key, and only then is its file removed. Stop the service first, and start it on
    /// the token after. With --rotate (for a token that refuses imports, or a policy that wants
    /// keys born in the token), the certifier of each key is rotated instead: the running
    /// service, on the token, makes a new key there and its CSR is saved for the operator
    /// (spec/pki.md 12.5).
    Migrate {
        /// Data directory of the service.
        #[arg(long, value_name = "DIR")]
        data_dir: PathBuf,
        /// The service's configuration file (for `[keys.token]`).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Only this key (hex kid); repeat for several.
        #[arg(long = "kid", value_name = "HEX")]
        kids: Vec<String>,
        /// Rotate each key's certifier to a new key made in the token, through the running
        /// service, instead of importing the key.
        #[arg(long, requires = "service")]
        rotate: bool,
        /// With --rotate: the service's base URL (running on the token).
        #[arg(long, value_name = "URL")]
        service: Option<String>,
        /// With --rotate: a file holding an admin API key [default: DIR/admin-api-key].
        #[arg(long, value_name = "FILE")]
        admin_key_file: Option<PathBuf>,
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

/// Prints a line of the command's output: through [`print_line`], so that a reader that has gone
/// (`trustmark-issuer ... | head -1`) ends the output quietly instead of a panic.
fn out(text: impl std::fmt::Display) -> Result<()> {
    print_line(text).context("cannot write to stdout")
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
            out(format_args!(
                "created a development PKI in {}",
                paths.dir().display()
            ))?;
            Ok(())
        }
        Command::Issue {
            data_dir,
            request,
            assessment,
            policy,
            qr,
            base_url,
        } => {
            let text = std::fs::read_to_string(&request)
                .with_context(|| format!("cannot read {}", request.display()))?;
            let request = IssueRequest::from_json(&text)?;
            let policy = match policy {
                Some(path) => SchemePolicy::from_toml(
                    &std::fs::read_to_string(&path)
                        .with_context(|| format!("cannot read {}", path.display()))?,
                )?,
                None => SchemePolicy::default(),
            };
            // A file that does not name its framework answers the request's only claim (at the
            // release it names, if any).
            let only = (request.claims.len() == 1).then(|| &request.claims[0]);
            let assessments = assessment
                .iter()
                .map(|path| {
                    Assessment::load(
                        path,
                        only.map(|c| c.framework.as_str()),
                        only.and_then(|c| c.version.as_deref()),
                    )
                })
                .collect::<Result<Vec<_>, _>>()?;
            let decided = decide_claims(&request, &assessments, &policy)?;
            let mark = issue(&data_dir, &request, &decided, &base_url)?;
            let qr_version = match &qr {
                Some(path) => Some(qr::write_qr_image(&mark.url, path)?),
                None => None,
            };
            out(serde_json::to_string_pretty(&mark_json(&mark, qr_version))?)?;
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
                    withdrawn_at: None,
                }],
                now.0,
                now,
                UnixTime(now.0 + valid_days * 86_400),
            )?;
            let path = PkiPaths::new(&data_dir).trust_list();
            write_replacing(&path, &list)?;
            out(format_args!("signed {}", path.display()))?;
            Ok(())
        }
        Command::Serve {
            data_dir,
            listen,
            public_base_url,
            root_certificate,
            trust_list,
            config,
            database,
        } => {
            tracing_subscriber::fmt()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_default_env()
                        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
                )
                .with_writer(std::io::stderr)
                .init();
            let overrides = service::Overrides {
                data_dir,
                listen,
                public_base_url,
                root_certificate,
                trust_list_path: trust_list,
                database,
            };
            let config = service::ServiceConfig::load(config.as_deref(), &overrides)
                .map_err(anyhow::Error::msg)?;
            service::run(config)
        }
        Command::Migrate { from, to } => {
            let Some(to) = to.or_else(|| std::env::var("TRUSTMARK_DATABASE").ok()) else {
                anyhow::bail!("give the target database: --to URL or TRUSTMARK_DATABASE");
            };
            let copied = trustmark_issuer::store_migration::migrate(&from, &to)?;
            out(format_args!(
                "copied {} certifiers, {} API keys, {} issuer keys, {} assessments, {} marks, {} audit entries (chain verified on both sides), {} idempotent answers",
                copied.certifiers,
                copied.api_keys,
                copied.issuer_keys,
                copied.assessments,
                copied.marks,
                copied.audit_entries,
                copied.answers
            ))?;
            Ok(())
        }
        Command::Publish {
            service,
            out,
            every,
        } => publish::publish(&service, &out, every),
        Command::Keys {
            command:
                KeysCommand::Migrate {
                    data_dir,
                    config,
                    kids,
                    rotate,
                    service,
                    admin_key_file,
                },
        } => {
            if rotate {
                let admin_key = admin_key_file.unwrap_or_else(|| data_dir.join("admin-api-key"));
                let service =
                    service.ok_or_else(|| anyhow::anyhow!("--rotate needs --service URL"))?;
                key_migration::rotate(&data_dir, &kids, &service, &admin_key)
            } else {
                key_migration::import(&data_dir, config.as_deref(), &kids)
            }
        }
        Command::Audit { data_dir, database } => {
            let database = database.or_else(|| std::env::var("TRUSTMARK_DATABASE").ok());
            let store = service::open_store(&data_dir, database.as_deref(), 2)?;
            let (entries, head) = service::audit::verify_chain(store.as_ref())?;
            out(format_args!(
                "audit chain verified: {entries} entries, head {head}"
            ))?;
            Ok(())
        }
        Command::Report => {
            let reports = size_report::measure_all()?;
            out(serde_json::to_string_pretty(&reports)?)?;
            Ok(())
        }
        Command::Demo { data_dir } => demo(&data_dir),
        Command::Frameworks { command } => frameworks(command),
        Command::Assess {
            framework,
            release,
            target_class,
            responses,
            reuse,
            json,
            save,
        } => {
            let target = assessment::find(&framework, release.as_deref())?;
            match (responses, reuse, save) {
                (_, Some(earlier), Some(save)) => {
                    prefill_from(&earlier, &target, target_class, &save)
                }
                (Some(responses), _, save) => {
                    assess(&target, target_class, &responses, json, save.as_deref())
                }
                _ => bail!("give --responses FILE, or --reuse FILE with --save FILE"),
            }
        }
    }
}

fn frameworks(command: FrameworksCommand) -> Result<()> {
    match command {
        FrameworksCommand::List => {
            for c in assessment::built_in()? {
                let confirmed = c.requirements.iter().filter(|r| r.confirmed).count();
                out(format_args!(
                    "{:<16} {:<20}{} levels {:?}  {} rows ({} confirmed)  {}",
                    c.id,
                    c.version,
                    if c.default_release { "*" } else { " " },
                    c.levels,
                    c.requirements.len(),
                    confirmed,
                    c.name
                ))?;
            }
            out("(* the release used when none is named; others with --release or id@release)")?;
        }
        FrameworksCommand::Diff { old, new } => {
            let (old, new) = (catalogue_arg(&old)?, catalogue_arg(&new)?);
            if old.id != new.id {
                bail!("{} and {} are different frameworks", old.id, new.id);
            }
            let list = assessment::compare(&old, &new);
            out(list.to_markdown(&old.id).trim_end())?;
        }
        FrameworksCommand::Show { id, json } => {
            let c = catalogue_arg(&id)?;
            if json {
                out(serde_json::to_string_pretty(&c.to_json())?)?;
            } else {
                out(format_args!(
                    "{} {} ({})\nlevels {:?}\nsource: {}",
                    c.id, c.version, c.name, c.levels, c.source
                ))?;
                for class in &c.classes {
                    out(format_args!("class {}: {}", class.level, class.meaning))?;
                }
                out("")?;
                for r in &c.requirements {
                    let applies = match r.applicability.mandatory_from(c.first_level()) {
                        Some(from) => format!("mandatory from {from}"),
                        None => r.applicability.name().to_owned(),
                    };
                    let unconfirmed = if r.confirmed { "" } else { "  [unconfirmed]" };
                    out(format_args!(
                        "{:<12} {:<24} {}{unconfirmed}",
                        r.id, applies, r.title
                    ))?;
                }
            }
        }
    }
    Ok(())
}

/// A built-in catalogue by `id` or `id@release`, or a catalogue file (a name ending in
/// `.toml`).
fn catalogue_arg(arg: &str) -> Result<std::sync::Arc<assessment::Catalogue>> {
    if !arg.ends_with(".toml") {
        let (id, release) = match arg.split_once('@') {
            Some((id, release)) => (id, Some(release)),
            None => (arg, None),
        };
        return Ok(assessment::find(id, release)?);
    }
    let text = std::fs::read_to_string(arg).with_context(|| format!("cannot read {arg}"))?;
    Ok(std::sync::Arc::new(assessment::Catalogue::from_toml(
        arg, &text,
    )?))
}

fn assess(
    catalogue: &std::sync::Arc<assessment::Catalogue>,
    target_class: u8,
    path: &Path,
    json: bool,
    save: Option<&Path>,
) -> Result<()> {
    let loaded = Assessment::load(path, Some(&catalogue.id), Some(&catalogue.mark_version))?;
    if loaded.catalogue.id != catalogue.id {
        bail!(
            "{} answers {}, not {}",
            path.display(),
            loaded.catalogue.id,
            catalogue.id
        );
    }
    if loaded.catalogue.version != catalogue.version {
        bail!(
            "{} answers {} release {}, not {}",
            path.display(),
            catalogue.id,
            loaded.catalogue.mark_version,
            catalogue.mark_version
        );
    }
    let decision = assessment::assess(catalogue, target_class, &loaded.responses)?;
    if let Some(save) = save {
        let saved = assessment::saved(catalogue, target_class, &loaded.responses);
        std::fs::write(save, serde_json::to_string_pretty(&saved)? + "\n")
            .with_context(|| format!("cannot write {}", save.display()))?;
    }
    if json {
        out(serde_json::to_string_pretty(&decision)?)?;
        return Ok(());
    }
    let achieved = decision
        .achieved_class
        .map_or("none".to_owned(), |c| format!("class {c}"));
    out(format_args!(
        "{} {}: target class {}, achieved {achieved}{}",
        decision.framework,
        decision.version,
        decision.target_class,
        if decision.meets_target {
            " (meets the target)"
        } else {
            " (below the target)"
        }
    ))?;
    for b in &decision.blocking {
        out(format_args!(
            "  blocking  {:<12} mandatory from {}  {:?}  {}",
            b.id, b.mandatory_from, b.reason, b.title
        ))?;
    }
    for f in &decision.findings {
        let why = f.rationale.as_deref().unwrap_or("NO RATIONALE GIVEN");
        out(format_args!(
            "  finding   {:<12} {:<3} {}  ({why})",
            f.id,
            f.response.code(),
            f.title
        ))?;
    }
    if !decision.unconfirmed_rows.is_empty() {
        out(format_args!("  provisional: {} rows that are, or may be, mandatory up to the target are not confirmed from the framework text", decision.unconfirmed_rows.len()))?;
    }
    out(format_args!("  record digest {}", decision.digest))?;
    Ok(())
}

/// `assess --reuse`: pre-fills `target`'s responses from an earlier saved assessment of another
/// framework and saves them for the certifier to confirm and complete.
fn prefill_from(
    earlier: &Path,
    target: &assessment::Catalogue,
    target_class: u8,
    save: &Path,
) -> Result<()> {
    let earlier_assessment = Assessment::load(earlier, None, None)?;
    let from = &earlier_assessment.catalogue;
    let prefill = assessment::crosswalk()?.prefill(from, &earlier_assessment.responses, target)?;
    let saved = assessment::saved(target, target_class, &prefill.responses);
    std::fs::write(save, serde_json::to_string_pretty(&saved)? + "\n")
        .with_context(|| format!("cannot write {}", save.display()))?;
    out(format_args!(
        "{} {} from {} {}: {} rows pre-filled (carried over, not confirmed), {} left unanswered; saved to {}",
        target.id,
        target.mark_version,
        from.id,
        from.mark_version,
        prefill.responses.len(),
        prefill.unanswered,
        save.display()
    ))?;
    for r in &prefill.responses {
        if let Some(carried) = &r.carried_over {
            out(format_args!(
                "  carried   {:<12} from {}  ({})",
                r.requirement, carried.from, carried.source
            ))?;
        }
    }
    out("Check each carried-over row against this framework's text, set its carried_over.confirmed to true, answer the rest, then assess the file: a row carried over and not confirmed is not met.")
}

/// Issues a mark offline: allocates a status index, signs, records it with the digests of the
/// assessments it rests on.
fn issue(
    data_dir: &Path,
    request: &IssueRequest,
    decided: &[DecidedClaim],
    base_url: &str,
) -> Result<IssuedMark> {
    let pki = load_dev_pki(data_dir).with_context(|| {
        format!(
            "no usable PKI in {} (run `trustmark-issuer init --data-dir {}` first)",
            data_dir.display(),
            data_dir.display()
        )
    })?;
    let registry = OfflineRegistry::new(data_dir);
    let issuer = MarkIssuer::new(&pki.issuer_key, &pki.issuer, base_url)?;
    let claims = request.to_claims(now()?, registry.next_status_index()?, decided)?;
    let mark = issuer.issue(claims)?;
    let digests: Vec<(String, String)> = decided
        .iter()
        .map(|d| (d.decision.framework.clone(), d.decision.digest.clone()))
        .collect();
    registry.record(&mark, &digests)?;
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
        out(format_args!(
            "1. created a development PKI in {}",
            paths.dir().display()
        ))?;
    } else {
        out(format_args!(
            "1. using the PKI in {}",
            paths.dir().display()
        ))?;
    }
    let request = IssueRequest::from_json(
        r#"{"vendor": "Acme Devices Ltd", "model": "SmartHub Pro 200", "hw_version": "1.2.0",
            "firmware": {"version": "4.1.7",
                         "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"},
            "claims": [{"framework": "iotsf-icaf"}],
            "assurance": "third-party", "support_until": "2030-12-31", "valid_days": 365}"#,
    )?;
    // A lab's answers: every row mandatory up to class 2 compliant with evidence, one class 3
    // row only partially compliant.
    let catalogue = assessment::find("iotsf-icaf", None)?;
    let mut responses: Vec<Response> = catalogue
        .requirements
        .iter()
        .filter_map(|r| Some((r, r.applicability.mandatory_from(0)?)))
        .filter(|(_, from)| *from <= 3)
        .map(|(r, from)| Response {
            row: 0,
            requirement: r.id.clone(),
            answer: if from == 3 {
                Answer::PartiallyCompliant
            } else {
                Answer::Compliant
            },
            evidence: Some(format!("LAB-REPORT-7/{}", r.id)),
            justification: None,
            carried_over: None,
        })
        .collect();
    responses.sort_by(|a, b| a.requirement.cmp(&b.requirement));
    let assessment = Assessment {
        catalogue,
        responses,
        target_class: Some(3),
    };
    let decided = decide_claims(
        &request,
        std::slice::from_ref(&assessment),
        &SchemePolicy::default(),
    )?;
    let decision = &decided[0].decision;
    out(format_args!(
        "2. assessed against {} {}: target class 3, achieved class {} ({} blocking, record {}...)",
        decision.framework,
        decision.version,
        decided[0].class,
        decision.blocking.len(),
        &decision.digest[..16]
    ))?;
    let mark = issue(data_dir, &request, &decided, qr_text::DEFAULT_BASE_URL)?;
    let qr_path = data_dir.join(format!("{}.png", mark.mark_id));
    let version = qr::write_qr_image(&mark.url, &qr_path)?;
    out(format_args!(
        "3. issued mark {} ({} bytes), QR version {version} at level M: {}",
        mark.mark_id,
        mark.token.len(),
        qr_path.display()
    ))?;
    out(format_args!("   URL: {}", mark.url))?;

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
    out(format_args!(
        "4. verified offline: {} {} firmware {}, {} class {}, issuer {}",
        verified.claims().vendor,
        verified.claims().model,
        verified.claims().firmware.version,
        verified.claims().frameworks[0].framework,
        verified.claims().frameworks[0].class,
        verified.issuer().name
    ))?;
    let mut forged = scanned.clone();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    match verify(&forged, &trust, &policy, now) {
        Ok(_) => bail!("a tampered mark verified"),
        Err(e) => out(format_args!("5. a tampered copy is rejected: {e}"))?,
    }
    out(format_args!(
        "\nVerify it yourself:\n  cargo run -p trustmark-verifier --features cli --bin trustmark-verify -- --trust-list {} --qr {}",
        paths.trust_list().display(),
        qr_path.display()
    ))?;
    Ok(())
}
