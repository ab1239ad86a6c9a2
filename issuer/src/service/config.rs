//! Service configuration: defaults, then a TOML file (`--config`), then environment variables
//! (`TRUSTMARK_*`), then command-line flags; each later source overrides the earlier ones.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

use crate::assessment::UploadBudget;
use crate::SchemePolicy;

/// The configuration of `trustmark-issuer serve`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceConfig {
    /// Data directory (PKI, database, admin key).
    pub data_dir: PathBuf,
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Public base URL of the verification page, printed in QR codes (upper case keeps the QR
    /// code dense). Default: `HTTP://<listen>`.
    pub public_base_url: Option<String>,
    /// Largest request body, in bytes (XLSX uploads included).
    pub max_body_bytes: usize,
    /// Seconds a client has to send a whole request body (408 `body_timeout` after).
    pub body_read_timeout_seconds: u64,
    /// Seconds a client has to send a request's headers; also how long a keep-alive
    /// connection may stay idle.
    pub header_read_timeout_seconds: u64,
    /// Most headers in one request (431 past it).
    pub max_headers: usize,
    /// Most open connections; more wait in the listen backlog.
    pub max_connections: usize,
    /// Sustained requests per second per API key.
    pub rate_limit_per_second: f64,
    /// Burst size per API key.
    pub rate_limit_burst: f64,
    /// Sustained requests per second per client address on the public routes that verify or
    /// draw (the verification page, `POST /v1/verify`, QR images).
    pub public_rate_limit_per_second: f64,
    /// Burst size per client address on those routes.
    pub public_rate_limit_burst: f64,
    /// A header a trusted reverse proxy sets to the client's address (e.g.
    /// `x-forwarded-for`); honoured only on connections from `trusted_proxies`.
    pub trusted_proxy_header: Option<String>,
    /// The addresses of the trusted reverse proxies.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Most verified signatures remembered (`spec/api.md` 6.13); 0 turns the cache off.
    pub verify_cache_entries: usize,
    /// How long an answer stays stored under its idempotency key, in seconds.
    pub idempotency_ttl_seconds: u64,
    /// Most marks in one batch request.
    pub max_batch: usize,
    /// Status list tokens: seconds until `exp`.
    pub status_list_exp_seconds: u64,
    /// Status list tokens: `ttl` (how long a verifier may cache one), seconds.
    pub status_list_ttl_seconds: u64,
    /// Most marks one issuer key's status list takes (1 to the format's limit, 4 194 304);
    /// issuance past it is refused with `503 status_list_full` (a warning is logged from 90%).
    pub status_list_capacity: u32,
    /// The scheme: its root certificate and where its trust lists come from.
    pub scheme: SchemeConfig,
    /// The scheme policy.
    pub policy: SchemePolicy,
    /// What one responses upload may cost (`spec/assessment.md` 2.8).
    pub upload: UploadBudget,
    /// Where certifier keys are kept (`spec/pki.md` 12).
    pub keys: KeysConfig,
    /// The registry's database: absent, the embedded sled store in `DATA_DIR/db`; else a
    /// PostgreSQL connection string (`postgres://user@host/db` or libpq `key=value` form).
    pub database: Option<DatabaseUrl>,
    /// Most connections the service opens to PostgreSQL.
    pub database_pool: usize,
}

/// A database connection string. It may hold a password: its `Debug` form never shows it.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct DatabaseUrl(pub String);

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DatabaseUrl(..)")
    }
}

/// Where certifier keys are kept: software keys in `DATA_DIR/keys/` (the default), or a PKCS#11
/// token.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct KeysConfig {
    /// The token, when keys are kept in one.
    pub token: Option<trustmark_pkcs11::TokenConfig>,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_base_url: None,
            max_body_bytes: 4 * 1024 * 1024,
            body_read_timeout_seconds: 30,
            header_read_timeout_seconds: 10,
            max_headers: 64,
            max_connections: 4096,
            rate_limit_per_second: 20_000.0,
            rate_limit_burst: 40_000.0,
            public_rate_limit_per_second: 20.0,
            public_rate_limit_burst: 100.0,
            trusted_proxy_header: None,
            trusted_proxies: Vec::new(),
            verify_cache_entries: 65_536,
            idempotency_ttl_seconds: 86_400,
            max_batch: 1000,
            status_list_exp_seconds: 86_400,
            status_list_ttl_seconds: 300,
            status_list_capacity: super::state::STATUS_LIST_CAPACITY,
            scheme: SchemeConfig::default(),
            policy: SchemePolicy::default(),
            upload: UploadBudget::default(),
            keys: KeysConfig::default(),
            database: None,
            database_pool: 16,
        }
    }
}

/// The scheme the service issues under (`spec/pki.md` 11.1).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SchemeConfig {
    /// The scheme root certificate (PEM) made with `trustmark-scheme init`. Unset: development
    /// mode, with a development scheme of the service's own in `DATA_DIR/dev-scheme/`.
    pub root_certificate: Option<PathBuf>,
    /// A signed trust list file the service reads, and reads again every
    /// `trust_list_poll_seconds`, putting each newer list in force (besides
    /// `PUT /v1/trust-list`).
    pub trust_list_path: Option<PathBuf>,
    /// How often the trust-list file is read again, in seconds.
    pub trust_list_poll_seconds: u64,
    /// How long before the trust list expires `/healthz` degrades and the log warns, in days.
    pub trust_list_warn_days: u64,
    /// Other schemes whose marks the verification page and `POST /v1/verify` recognise
    /// (mutual recognition), each verified against its own root.
    pub recognized: Vec<RecognizedScheme>,
}

/// Another scheme the service recognises (`[[scheme.recognized]]`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RecognizedScheme {
    /// Its root certificate (PEM).
    pub root_certificate: PathBuf,
    /// A file holding its signed trust list, read at start and whenever it changes (every
    /// `trust_list_poll_seconds`); a newer list replaces the held one, an older one is refused.
    pub trust_list: PathBuf,
}

impl Default for SchemeConfig {
    fn default() -> Self {
        Self {
            root_certificate: None,
            trust_list_path: None,
            trust_list_poll_seconds: 10,
            trust_list_warn_days: 14,
            recognized: Vec::new(),
        }
    }
}

/// Overrides from the command line (`None`: not given).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// `--listen`.
    pub listen: Option<SocketAddr>,
    /// `--public-base-url`.
    pub public_base_url: Option<String>,
    /// `--root-certificate`.
    pub root_certificate: Option<PathBuf>,
    /// `--trust-list`.
    pub trust_list_path: Option<PathBuf>,
    /// `--database`.
    pub database: Option<String>,
}

impl ServiceConfig {
    /// Builds the configuration from an optional file, the environment and the overrides.
    pub fn load(file: Option<&std::path::Path>, overrides: &Overrides) -> Result<Self, String> {
        let mut config = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?
            }
            None => Self::default(),
        };
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        if let Some(dir) = env("TRUSTMARK_DATA_DIR") {
            config.data_dir = dir.into();
        }
        if let Some(listen) = env("TRUSTMARK_LISTEN") {
            config.listen = listen
                .parse()
                .map_err(|e| format!("TRUSTMARK_LISTEN={listen}: {e}"))?;
        }
        if let Some(url) = env("TRUSTMARK_PUBLIC_BASE_URL") {
            config.public_base_url = Some(url);
        }
        if let Some(root) = env("TRUSTMARK_ROOT_CERTIFICATE") {
            config.scheme.root_certificate = Some(root.into());
        }
        if let Some(path) = env("TRUSTMARK_TRUST_LIST") {
            config.scheme.trust_list_path = Some(path.into());
        }
        if let Some(url) = env("TRUSTMARK_DATABASE") {
            config.database = Some(DatabaseUrl(url));
        }
        // A token from the environment: module, label and PIN file (or variable) together.
        match (
            env("TRUSTMARK_PKCS11_MODULE"),
            env("TRUSTMARK_PKCS11_TOKEN_LABEL"),
        ) {
            (Some(module), Some(token_label)) => {
                config.keys.token = Some(trustmark_pkcs11::TokenConfig {
                    module: module.into(),
                    token_label,
                    pin_file: env("TRUSTMARK_PKCS11_PIN_FILE").map(Into::into),
                    pin_env: env("TRUSTMARK_PKCS11_PIN_ENV"),
                    sessions: None,
                });
            }
            (None, None) => {}
            _ => {
                return Err(
                    "TRUSTMARK_PKCS11_MODULE and TRUSTMARK_PKCS11_TOKEN_LABEL go together".into(),
                )
            }
        }
        if let Some(token) = &config.keys.token {
            token.check().map_err(|e| format!("keys.token: {e}"))?;
        }
        if let Some(dir) = &overrides.data_dir {
            config.data_dir = dir.clone();
        }
        if let Some(listen) = overrides.listen {
            config.listen = listen;
        }
        if let Some(url) = &overrides.public_base_url {
            config.public_base_url = Some(url.clone());
        }
        if let Some(root) = &overrides.root_certificate {
            config.scheme.root_certificate = Some(root.clone());
        }
        if let Some(path) = &overrides.trust_list_path {
            config.scheme.trust_list_path = Some(path.clone());
        }
        if let Some(url) = &overrides.database {
            config.database = Some(DatabaseUrl(url.clone()));
        }
        if config.database_pool < 2 {
            return Err("database_pool must be at least 2 (the writer holds one)".into());
        }
        if config.scheme.trust_list_poll_seconds == 0 {
            return Err("scheme.trust_list_poll_seconds must be at least 1".into());
        }
        if config.max_batch == 0 || config.max_body_bytes < 1024 {
            return Err("max_batch must be at least 1 and max_body_bytes at least 1024".into());
        }
        config.check_limits()?;
        let capacity = super::state::STATUS_LIST_CAPACITY;
        if !(1..=capacity).contains(&config.status_list_capacity) {
            return Err(format!(
                "status_list_capacity must be 1 to {capacity} (the status list format's limit)"
            ));
        }
        Ok(config)
    }

    /// Every limit must let some work through.
    fn check_limits(&self) -> Result<(), String> {
        let rates = [
            ("rate_limit_per_second", self.rate_limit_per_second),
            ("rate_limit_burst", self.rate_limit_burst),
            (
                "public_rate_limit_per_second",
                self.public_rate_limit_per_second,
            ),
            ("public_rate_limit_burst", self.public_rate_limit_burst),
        ];
        if let Some((name, _)) = rates.iter().find(|(_, v)| !(v.is_finite() && *v >= 1.0)) {
            return Err(format!("{name} must be a number of at least 1"));
        }
        let counts = [
            ("body_read_timeout_seconds", self.body_read_timeout_seconds),
            (
                "header_read_timeout_seconds",
                self.header_read_timeout_seconds,
            ),
            ("max_headers", self.max_headers as u64),
            ("max_connections", self.max_connections as u64),
            ("idempotency_ttl_seconds", self.idempotency_ttl_seconds),
        ];
        if let Some((name, _)) = counts.iter().find(|(_, v)| *v == 0) {
            return Err(format!("{name} must be at least 1"));
        }
        if self.max_connections > 1 << 20 {
            return Err("max_connections must be at most 1048576".into());
        }
        if self
            .trusted_proxy_header
            .as_deref()
            .is_some_and(|h| axum::http::HeaderName::from_bytes(h.as_bytes()).is_err())
        {
            return Err("trusted_proxy_header must be a header name".into());
        }
        Ok(())
    }

    /// The base URL of QR links.
    pub fn base_url(&self, bound: SocketAddr) -> String {
        self.public_base_url
            .clone()
            .unwrap_or_else(|| format!("HTTP://{bound}"))
            .trim_end_matches('/')
            .to_owned()
    }
}
