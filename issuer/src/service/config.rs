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
    /// Sustained requests per second per API key.
    pub rate_limit_per_second: f64,
    /// Burst size per API key.
    pub rate_limit_burst: f64,
    /// Most marks in one batch request.
    pub max_batch: usize,
    /// Status list tokens: seconds until `exp`.
    pub status_list_exp_seconds: u64,
    /// Status list tokens: `ttl` (how long a verifier may cache one), seconds.
    pub status_list_ttl_seconds: u64,
    /// Most marks status list 1 takes (1 to the format's limit, 4 194 304); issuance past it
    /// is refused with `503 status_list_full`.
    pub status_list_capacity: u32,
    /// The scheme policy.
    pub policy: SchemePolicy,
    /// What one responses upload may cost (`spec/assessment.md` 2.8).
    pub upload: UploadBudget,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_base_url: None,
            max_body_bytes: 4 * 1024 * 1024,
            rate_limit_per_second: 20_000.0,
            rate_limit_burst: 40_000.0,
            max_batch: 1000,
            status_list_exp_seconds: 86_400,
            status_list_ttl_seconds: 300,
            status_list_capacity: super::state::STATUS_LIST_CAPACITY,
            policy: SchemePolicy::default(),
            upload: UploadBudget::default(),
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
        if let Some(dir) = &overrides.data_dir {
            config.data_dir = dir.clone();
        }
        if let Some(listen) = overrides.listen {
            config.listen = listen;
        }
        if let Some(url) = &overrides.public_base_url {
            config.public_base_url = Some(url.clone());
        }
        if config.max_batch == 0 || config.max_body_bytes < 1024 {
            return Err("max_batch must be at least 1 and max_body_bytes at least 1024".into());
        }
        let capacity = super::state::STATUS_LIST_CAPACITY;
        if !(1..=capacity).contains(&config.status_list_capacity) {
            return Err(format!(
                "status_list_capacity must be 1 to {capacity} (the status list format's limit)"
            ));
        }
        Ok(config)
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
