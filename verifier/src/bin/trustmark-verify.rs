//! `trustmark-verify`: verify a trust mark offline.
//!
//! Exit status: 0 the mark is valid, 1 it is not (the reason on stderr, and in the JSON with
//! `--json`), 2 usage or I/O error. How INPUT is read: `input` (`spec/token.md` section 9.6).

#![deny(clippy::print_stdout)] // stdout goes through `print_line`, which survives a closed pipe

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use trustmark_format::{Assurance, FormatError, FrameworkId, UnixTime};
use trustmark_keys::RootCertificate;
use trustmark_verifier::mark_text;
use trustmark_verifier::stdout::print_line;
use trustmark_verifier::{
    verify_status_list, verify_with_status, FrameworkRequirement, Policy, Release, TrustAnchor,
    TrustStore, TrustStores, VerifiedMark, VerifyError, RING,
};

/// Verify a trustmark trust mark offline, against a trust list signed by the scheme root.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None, after_help = "\
INPUT is read as the first of these that fits (spec/token.md section 9.6):\n  \
1. a mark URL, as a QR scanner returns it: contains \"://\" or starts with /V/;\n  \
2. token text: digits only;\n  \
3. an existing file: raw COSE bytes (first byte 0xd2), or a text read by rules 1, 2 and 4;\n  \
4. a base64url token (no padding), as `trustmark-issuer issue` prints it.\n\
The text of a --qr image is read by rules 1, 2 and 4. Once a rule fits, its decoding decides: \
an input that fails to decode, or fits no rule, is an invalid mark.\n\n\
Several schemes (mutual recognition): repeat --trust-list, and --root with it, paired in order \
(the n-th list must be signed by the n-th root; without --root, each list's root is root.pem \
beside it). The mark's kid is looked up in every list, in the order given, and at most 4 keys \
are tried in all (spec/pki.md section 6.3). The output names the scheme that verified the mark: \
its root's common name and key id (\"scheme\" with --json). A different number of --root and \
--trust-list, or one root given twice, is a usage error.\n\n\
Exit status: 0 valid, 1 invalid (reason on stderr; with --json, {\"valid\": false, \"error\": \
{\"code\", \"message\"}} on stdout), 2 usage or I/O error.\n\n\
Examples:\n  trustmark-verify --trust-list data/pki/trust-list.cbor --firmware-sha256 <hex> \
'HTTPS://VERIFY.EXAMPLE.ORG/V/1379...'\n  \
trustmark-verify --trust-list a/trust-list.cbor --root a/root.pem \
--trust-list b/trust-list.cbor --root b/root.pem 'HTTPS://VERIFY.EXAMPLE.ORG/V/1379...'")]
struct Args {
    /// A signed trust list (trust-list.cbor). Repeat it to hold several schemes at once, each
    /// verified under its own --root (paired in order).
    #[arg(long, value_name = "FILE", required_unless_present = "online")]
    trust_list: Vec<PathBuf>,
    /// Fetch the trust list (BASE_URL/v1/trust-list) and the mark issuer's status list (from
    /// its trust-list entry) over HTTP, with a cache: conditional requests, the status list's
    /// ttl honoured, the cached copies used when offline (verification still refuses an expired
    /// trust list or a status list older than --max-status-age). Needs --root.
    #[arg(long, value_name = "BASE_URL", conflicts_with = "trust_list")]
    online: Option<String>,
    /// Cache directory for --online [default: $XDG_CACHE_HOME/trustmark or ~/.cache/trustmark].
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// The scheme root certificate (PEM) a trust list must be signed by. Repeated: the n-th
    /// --root is the n-th --trust-list's, and there must be as many of each. --online takes one.
    /// [default: root.pem in each trust list's directory]
    #[arg(long, value_name = "PEM")]
    root: Vec<PathBuf>,
    /// Verify as of this time (RFC 3339, e.g. 2027-01-31T12:00:00Z) instead of now.
    #[arg(long, value_name = "RFC3339")]
    at: Option<String>,
    /// Require the mark to be for this firmware image (SHA-256, 64 hex digits).
    #[arg(long, value_name = "HEX")]
    firmware_sha256: Option<String>,
    /// Require at least this class under --framework.
    #[arg(long, value_name = "N")]
    min_class: Option<u8>,
    /// Require the claim under --framework to be assessed against at least this release of the
    /// framework (dot-separated numbers, e.g. 4.0).
    #[arg(long, value_name = "RELEASE")]
    min_release: Option<String>,
    /// The framework that --min-class, --min-release and --require-third-party apply to.
    #[arg(long, value_name = "NAME", default_value = "iotsf-icaf")]
    framework: String,
    /// Require third-party assurance under --framework.
    #[arg(long)]
    require_third_party: bool,
    /// Refuse marks whose security-support period is over.
    #[arg(long)]
    require_support: bool,
    /// The issuer's status list token (a file, or an http(s) URL to fetch): a mark whose status
    /// is revoked or suspended fails with that reason.
    #[arg(long, value_name = "FILE_OR_URL")]
    status_list: Option<String>,
    /// Refuse a status list signed more than this many seconds before the verification time.
    #[arg(long, value_name = "SECONDS")]
    max_status_age: Option<u64>,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// Read the mark from a QR code image (PNG) instead of INPUT.
    #[arg(long, value_name = "IMAGE", conflicts_with = "input")]
    qr: Option<PathBuf>,
    /// The mark: URL, token text, base64url token, or a file.
    #[arg(required_unless_present = "qr")]
    input: Option<String>,
}

/// A usage or I/O problem (exit 2), as opposed to an invalid mark (exit 1).
struct UsageError(String);

impl<E: std::fmt::Display> From<E> for UsageError {
    fn from(e: E) -> Self {
        Self(e.to_string())
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(code) => code,
        Err(UsageError(message)) => {
            eprintln!("trustmark-verify: {message}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &Args) -> Result<ExitCode, UsageError> {
    let now = match &args.at {
        Some(text) => {
            let t = OffsetDateTime::parse(text, &Rfc3339)
                .map_err(|e| format!("--at {text}: not an RFC 3339 time ({e})"))?;
            UnixTime(u64::try_from(t.unix_timestamp()).map_err(|_| "--at: before 1970")?)
        }
        None => UnixTime(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_err(|_| "the system clock is before 1970")?
                .as_secs(),
        ),
    };
    let policy = policy(args)?;
    let roots = roots(args)?;
    // A mark that does not decode is an invalid mark (exit 1), reported after the trust list is
    // built, as `verify` reports a malformed token; a file or image that cannot be read is an
    // I/O error (exit 2) now.
    let token = match (&args.qr, &args.input) {
        (Some(image), _) => mark_text::token_from_text(&decode_qr(image)?),
        (None, Some(input)) => token_from_input(input)?,
        (None, None) => return Err(UsageError("give INPUT or --qr IMAGE".into())),
    };
    let (schemes, online_status) = match &args.online {
        Some(base) => {
            let [root] = <[Root; 1]>::try_from(roots)
                .map_err(|_| "--online takes one --root (it fetches one scheme's trust list)")?;
            let (scheme, status) = online(args, base, root, token.as_deref().ok(), now)?;
            (vec![scheme], status)
        }
        None => {
            let schemes = roots.into_iter().zip(&args.trust_list).map(|(root, path)| {
                Ok(Scheme {
                    root,
                    source: path.display().to_string(),
                    trust_list: read(path)?,
                })
            });
            (schemes.collect::<Result<_, UsageError>>()?, None)
        }
    };
    let status_bytes = match &args.status_list {
        Some(source) => Some(read_source(source)?),
        None => online_status,
    };
    let result = trust_stores(&schemes, now).and_then(|trust| {
        let status = match &status_bytes {
            Some(bytes) => Some(verify_status_list(bytes, &trust, &policy, now)?),
            None => None,
        };
        let token = token.map_err(VerifyError::Format)?;
        Ok(verify_with_status(
            &token,
            &trust,
            status.as_ref(),
            &policy,
            now,
        )?)
    });
    report(args.json, &schemes, &result)
}

/// A scheme root, from its certificate.
struct Root {
    /// The certificate's path.
    path: PathBuf,
    /// The root certificate.
    certificate: RootCertificate,
    /// Its key, as the trust lists are verified under it.
    anchor: TrustAnchor,
}

/// One scheme the tool trusts: a root and the trust list it signed.
struct Scheme {
    /// The root.
    root: Root,
    /// Where the trust list came from: its file, or the `--online` URL.
    source: String,
    /// The signed trust list.
    trust_list: Vec<u8>,
}

/// Why the mark is not valid (exit 1): the failed check, and the trust list it is about, if any.
struct Invalid {
    error: VerifyError,
    trust_list: Option<String>,
}

impl From<VerifyError> for Invalid {
    fn from(error: VerifyError) -> Self {
        Self {
            error,
            trust_list: None,
        }
    }
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.trust_list {
            Some(source) => write!(f, "{source}: {}", self.error),
            None => write!(f, "{}", self.error),
        }
    }
}

/// Every scheme's trust list, verified under its root at `now`, held together in the order
/// given. A list that does not verify makes the mark invalid, naming the list.
fn trust_stores(schemes: &[Scheme], now: UnixTime) -> Result<TrustStores<'static>, Invalid> {
    let mut trust = TrustStores::new(&RING);
    for scheme in schemes {
        trust
            .add(&scheme.trust_list, &scheme.root.anchor, now)
            .map_err(|error| Invalid {
                error,
                trust_list: Some(scheme.source.clone()),
            })?;
    }
    Ok(trust)
}

/// Prints the outcome and returns its exit status: 0 valid, 1 invalid. If the reader of stdout
/// has gone, the status is the same (`print_line`); another failed write is an I/O error.
fn report(
    json: bool,
    schemes: &[Scheme],
    result: &Result<VerifiedMark, Invalid>,
) -> Result<ExitCode, UsageError> {
    // The scheme whose trust list lists the key that verified the mark.
    let scheme = |mark: &VerifiedMark| {
        schemes
            .iter()
            .find(|s| s.root.anchor == *mark.anchor())
            .map(|s| &s.root)
    };
    let line = match (result, json) {
        (Ok(mark), true) => {
            let mark = mark_json(mark, scheme(mark));
            Some(serde_json::json!({"valid": true, "mark": mark}).to_string())
        }
        (Err(e), true) => {
            let error = serde_json::json!({"code": e.error.code(), "message": e.to_string()});
            Some(serde_json::json!({"valid": false, "error": error}).to_string())
        }
        (Ok(mark), false) => Some(format!(
            "VALID {} | scheme {}",
            summary(mark),
            scheme_name(scheme(mark))
        )),
        (Err(_), false) => None,
    };
    if let Some(line) = line {
        print_line(line).map_err(|e| UsageError(format!("stdout: {e}")))?;
    }
    Ok(match result {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("INVALID: {e}");
            ExitCode::from(1)
        }
    })
}

/// A file, or the body of an http(s) URL.
fn read_source(source: &str) -> Result<Vec<u8>, UsageError> {
    if source.starts_with("http://") || source.starts_with("https://") {
        let mut response = ureq::get(source)
            .call()
            .map_err(|e| format!("{source}: {e}"))?;
        return Ok(response
            .body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_to_vec()
            .map_err(|e| format!("{source}: {e}"))?);
    }
    read(Path::new(source))
}

fn read(path: &Path) -> Result<Vec<u8>, UsageError> {
    std::fs::read(path).map_err(|e| UsageError(format!("{}: {e}", path.display())))
}

fn policy(args: &Args) -> Result<Policy, UsageError> {
    let mut policy = Policy {
        require_support: args.require_support,
        max_status_age: args.max_status_age,
        ..Policy::default()
    };
    if let Some(hex_digest) = &args.firmware_sha256 {
        let bytes = hex::decode(hex_digest.trim())
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or("--firmware-sha256 must be 64 hex digits")?;
        policy.firmware_sha256 = Some(bytes);
    }
    if args.min_class.is_some() || args.require_third_party || args.min_release.is_some() {
        let framework = FrameworkId::from_name(&args.framework).ok_or_else(|| {
            format!(
                "--framework {}: unknown (known: iotsf-icaf, etsi-en-303-645, uk-psti, nist-ir-8425)",
                args.framework
            )
        })?;
        policy.frameworks.push(FrameworkRequirement {
            framework,
            min_class: args.min_class.unwrap_or(0),
            min_assurance: args.require_third_party.then_some(Assurance::ThirdParty),
            min_release: args
                .min_release
                .as_deref()
                .map(|text| {
                    Release::parse(text).ok_or_else(|| {
                        format!("--min-release {text:?}: not a release (dot-separated numbers, e.g. 4.0)")
                    })
                })
                .transpose()?,
        });
    }
    Ok(policy)
}

/// `--online`: the scheme of `root` with its trust list, and the issuer's status list, fetched
/// or from the cache.
fn online(
    args: &Args,
    base: &str,
    root: Root,
    token: Option<&[u8]>,
    now: UnixTime,
) -> Result<(Scheme, Option<Vec<u8>>), UsageError> {
    use trustmark_verifier::fetch::{status_list_fresh, Origin, Source};
    let anchor = &root.anchor;
    let cache_dir = match &args.cache_dir {
        Some(dir) => dir.clone(),
        None => std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .unwrap_or_else(std::env::temp_dir)
            .join("trustmark"),
    };
    let source = Source::new(&cache_dir);
    let url = format!("{}/v1/trust-list", base.trim_end_matches('/'));
    let previous = source.cached(&url);
    let fetched = source.fetch(&url, |_| false)?;
    if fetched.origin == Origin::CacheOffline {
        eprintln!("note: {url} unreachable; using the cached trust list");
    }
    // Never step back to an older list than the one already held (it could restore a removed
    // issuer).
    if let Some(previous) = previous.filter(|p| *p != fetched.bytes) {
        if let Ok(mut held) = TrustStore::from_signed(&previous, anchor, now, &RING) {
            held.update(&fetched.bytes, anchor, now)
                .map_err(|e| format!("{url}: {e}"))?;
        }
    }
    let trust = TrustStore::from_signed(&fetched.bytes, anchor, now, &RING)
        .map_err(|e| format!("{url}: {e}"))?;
    let status_uri = token
        .and_then(|token| trustmark_format::mark::parse(token).ok())
        .and_then(|parsed| {
            trust
                .list()
                .issuers_with_kid(parsed.kid())
                .find_map(|issuer| issuer.status_list_uri.clone())
        });
    let status = match status_uri {
        Some(uri) => {
            let fetched = source.fetch(&uri, |bytes| status_list_fresh(bytes, now))?;
            if fetched.origin == Origin::CacheOffline {
                eprintln!("note: {uri} unreachable; using the cached status list");
            }
            Some(fetched.bytes)
        }
        None => None,
    };
    let scheme = Scheme {
        root,
        source: url,
        trust_list: fetched.bytes,
    };
    Ok((scheme, status))
}

/// The scheme roots: the n-th `--root` for the n-th `--trust-list` (or root.pem beside each
/// list when no `--root` is given), or the `--root` of `--online`. Different counts, and one
/// root key given twice, are usage errors.
fn roots(args: &Args) -> Result<Vec<Root>, UsageError> {
    let paths = match (args.root.as_slice(), args.trust_list.as_slice()) {
        ([], []) if args.online.is_some() => {
            return Err("--online needs the scheme root pinned with --root ROOT.pem".into())
        }
        ([], []) => return Err("give --trust-list FILE or --online BASE_URL".into()),
        ([], lists) => lists
            .iter()
            .map(|list| list.parent().unwrap_or(Path::new(".")).join("root.pem"))
            .collect(),
        (roots, []) => roots.to_vec(),
        (roots, lists) if roots.len() == lists.len() => roots.to_vec(),
        (roots, lists) => {
            return Err(UsageError(format!(
                "{} --trust-list but {} --root: give one --root per --trust-list, paired in \
                 order (or no --root, for the root.pem beside each list)",
                lists.len(),
                roots.len()
            )))
        }
    };
    let mut roots: Vec<Root> = Vec::with_capacity(paths.len());
    for path in paths {
        let root = root(path)?;
        if let Some(earlier) = roots
            .iter()
            .find(|r| r.anchor.public_key == root.anchor.public_key)
        {
            return Err(UsageError(format!(
                "{} has the same root key as {}: give each scheme once",
                root.path.display(),
                earlier.path.display()
            )));
        }
        roots.push(root);
    }
    Ok(roots)
}

fn root(path: PathBuf) -> Result<Root, UsageError> {
    let pem = std::fs::read_to_string(&path)
        .map_err(|e| format!("{}: {e} (give the scheme root with --root)", path.display()))?;
    let certificate =
        RootCertificate::from_pem(&pem).map_err(|e| format!("{}: {e}", path.display()))?;
    let anchor = TrustAnchor {
        alg: certificate.alg,
        public_key: certificate.public_key.clone(),
    };
    Ok(Root {
        path,
        certificate,
        anchor,
    })
}

/// INPUT as token bytes, by the rules of [`mark_text`]: the outer `Err` is an existing file that
/// cannot be read (exit 2), the inner one a mark that does not decode (exit 1).
fn token_from_input(input: &str) -> Result<Result<Vec<u8>, FormatError>, UsageError> {
    let path = Path::new(input);
    let url_or_digits = matches!(
        mark_text::kind(input),
        Some(mark_text::Kind::Url | mark_text::Kind::Digits)
    );
    if !url_or_digits && path.is_file() {
        return Ok(read_mark_file(path)?.and_then(mark_text::token_from_file));
    }
    Ok(mark_text::token_from_text(input))
}

/// The contents of a mark file, or `too_large` past [`mark_text::MAX_LEN`] bytes (read no further).
fn read_mark_file(path: &Path) -> Result<Result<Vec<u8>, FormatError>, UsageError> {
    let io_error = |e: std::io::Error| UsageError(format!("{}: {e}", path.display()));
    let file = std::fs::File::open(path).map_err(io_error)?;
    let mut bytes = Vec::new();
    file.take(mark_text::MAX_LEN as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(io_error)?;
    if bytes.len() > mark_text::MAX_LEN {
        let len = std::fs::metadata(path).map_err(io_error)?.len();
        return Ok(Err(FormatError::TooLarge {
            len: usize::try_from(len).unwrap_or(usize::MAX),
            max: mark_text::MAX_LEN,
        }));
    }
    Ok(Ok(bytes))
}

fn decode_qr(path: &Path) -> Result<String, UsageError> {
    let image = image::open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(image);
    let grids = prepared.detect_grids();
    let grid = grids
        .first()
        .ok_or_else(|| format!("{}: no QR code found", path.display()))?;
    let (_, content) = grid
        .decode()
        .map_err(|e| format!("{}: QR code unreadable: {e}", path.display()))?;
    Ok(content)
}

fn rfc3339(t: UnixTime) -> String {
    i64::try_from(t.0)
        .ok()
        .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|d| d.format(&Rfc3339).ok())
        .unwrap_or_else(|| t.0.to_string())
}

fn day(d: trustmark_format::Day) -> String {
    let date = rfc3339(UnixTime(u64::from(d.0) * 86_400));
    date.split('T').next().unwrap_or_default().to_owned()
}

fn mark_json(mark: &VerifiedMark, scheme: Option<&Root>) -> serde_json::Value {
    let c = mark.claims();
    serde_json::json!({
        "issuer": mark.issuer().name,
        "kid": hex::encode(mark.kid()),
        "vendor": c.vendor,
        "model": c.model,
        "hw_version": c.hw_version,
        "firmware": {"version": c.firmware.version, "sha256": hex::encode(c.firmware.sha256)},
        "claims": c.frameworks.iter().map(|f| serde_json::json!({
            "framework": f.framework.to_string(),
            "version": f.version,
            "class": f.class,
            "assurance": f.assurance.name(),
        })).collect::<Vec<_>>(),
        "issued_at": rfc3339(c.issued_at),
        "expires_at": rfc3339(c.expires_at),
        "support_until": day(c.support_until),
        "status_index": c.status_index,
        "scheme": scheme_json(scheme),
    })
}

/// The scheme that verified a mark, for `--json`: its root's common name and key id, and the
/// root certificate's file.
fn scheme_json(root: Option<&Root>) -> serde_json::Value {
    match root {
        Some(root) => serde_json::json!({
            "root": root.certificate.common_name,
            "root_kid": hex::encode(&root.certificate.kid),
            "root_file": root.path.display().to_string(),
        }),
        None => serde_json::Value::Null,
    }
}

/// The scheme that verified a mark, for the text output: `CN (root kid HEX)`.
fn scheme_name(root: Option<&Root>) -> String {
    match root {
        Some(root) => format!(
            "{} (root kid {})",
            root.certificate.common_name,
            hex::encode(&root.certificate.kid)
        ),
        None => "unknown".to_owned(),
    }
}

fn summary(mark: &VerifiedMark) -> String {
    let c = mark.claims();
    let claims: Vec<String> = c
        .frameworks
        .iter()
        .map(|f| {
            format!(
                "{} {} class {} ({})",
                f.framework, f.version, f.class, f.assurance
            )
        })
        .collect();
    format!(
        "{} {} hw {} firmware {} | {} | issuer {} | expires {} | support until {}",
        c.vendor,
        c.model,
        c.hw_version,
        c.firmware.version,
        claims.join(", "),
        mark.issuer().name,
        rfc3339(c.expires_at),
        day(c.support_until)
    )
}
