//! `trustmark-issuer keys migrate`: certifier keys from software files into a PKCS#11 token,
//! by import (the service stopped) or by rotation through the running service
//! (`spec/pki.md` 12.5).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use trustmark_issuer::service;

use crate::out;

/// The software key files of `data_dir/keys/`: all, or those of `kids`.
fn key_files(data_dir: &Path, kids: &[String]) -> Result<Vec<PathBuf>> {
    let dir = data_dir.join("keys");
    if !kids.is_empty() {
        return Ok(kids
            .iter()
            .map(|kid| dir.join(format!("{}.pem", kid.to_ascii_lowercase())))
            .collect());
    }
    let mut found: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "pem"))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", dir.display())),
    };
    found.sort();
    Ok(found)
}

/// Imports each key file into the configured token; removes a file only once its key is in
/// the token and signs for its public key.
pub(crate) fn import(data_dir: &Path, config: Option<&Path>, kids: &[String]) -> Result<()> {
    let config = service::ServiceConfig::load(
        config,
        &service::Overrides {
            data_dir: Some(data_dir.to_owned()),
            ..Default::default()
        },
    )
    .map_err(|e| anyhow::anyhow!("configuration: {e}"))?;
    let Some(token) = config.keys.token else {
        bail!("no token is configured: give [keys.token] in --config, or TRUSTMARK_PKCS11_MODULE, TRUSTMARK_PKCS11_TOKEN_LABEL and TRUSTMARK_PKCS11_PIN_FILE");
    };
    let label = token.token_label.clone();
    let provider = trustmark_pkcs11::TokenProvider::new(std::sync::Arc::new(
        trustmark_pkcs11::Token::new(token)?,
    ));
    let files = key_files(data_dir, kids)?;
    if files.is_empty() {
        out(format_args!(
            "no software keys in {}",
            data_dir.join("keys").display()
        ))?;
        return Ok(());
    }
    let mut failed = 0;
    for file in &files {
        match provider.import_key_file(file) {
            Ok(imported) => {
                let (kid, how) = match imported {
                    trustmark_pkcs11::Imported::Created(kid) => (kid, "moved into"),
                    trustmark_pkcs11::Imported::AlreadyThere(kid) => (kid, "already in"),
                };
                std::fs::remove_file(file)
                    .with_context(|| format!("cannot remove {}", file.display()))?;
                if let Some(dir) = file.parent() {
                    std::fs::File::open(dir)
                        .and_then(|d| d.sync_all())
                        .with_context(|| format!("cannot sync {}", dir.display()))?;
                }
                out(format_args!(
                    "key {} {how} token {label}; {} removed",
                    hex::encode(kid),
                    file.display()
                ))?;
            }
            Err(e) => {
                failed += 1;
                eprintln!(
                    "trustmark-issuer: {}: {e}\n  kept. If the token refuses imports, rotate instead: start the service on the token (old keys keep signing from their files) and run `trustmark-issuer keys migrate --rotate --service URL --data-dir {}`",
                    file.display(),
                    data_dir.display()
                );
            }
        }
    }
    if failed > 0 {
        bail!("{failed} of {} keys were not moved", files.len());
    }
    Ok(())
}

/// An answer's body as JSON.
fn json(body: Result<String, ureq::Error>, what: &str) -> Result<serde_json::Value> {
    let text = body.with_context(|| format!("{what}: unreadable answer"))?;
    serde_json::from_str(&text).with_context(|| format!("{what}: not JSON"))
}

/// An admin client of the running service.
struct Admin {
    base: String,
    key: String,
    agent: ureq::Agent,
}

impl Admin {
    fn get(&self, path: &str) -> Result<serde_json::Value> {
        let mut answer = self
            .agent
            .get(&format!("{}{path}", self.base))
            .header("authorization", &format!("Bearer {}", self.key))
            .call()
            .with_context(|| format!("GET {path}"))?;
        json(answer.body_mut().read_to_string(), path)
    }
}

/// Rotates the certifier of each software key to a new key made in the token by the running
/// service; saves each new key's CSR under `data_dir/rotation/` for the scheme operator.
pub(crate) fn rotate(data_dir: &Path, kids: &[String], base: &str, admin_key: &Path) -> Result<()> {
    let key = std::fs::read_to_string(admin_key)
        .with_context(|| format!("cannot read the admin API key {}", admin_key.display()))?;
    let admin = Admin {
        base: base.trim_end_matches('/').to_owned(),
        key: key.trim().to_owned(),
        agent: ureq::Agent::config_builder()
            .timeout_global(Some(std::time::Duration::from_secs(60)))
            .build()
            .into(),
    };
    let health: serde_json::Value = admin
        .agent
        .get(&format!("{}/healthz", admin.base))
        .config()
        .http_status_as_error(false)
        .build()
        .call()
        .context("GET /healthz")?
        .body_mut()
        .read_to_string()
        .map_err(anyhow::Error::from)
        .and_then(|text| json(Ok(text), "/healthz"))?;
    if health["key_store"]["kind"] != "pkcs11" {
        bail!(
            "the service at {base} keeps its keys in {}, not a token: start it with [keys.token] first, or the new keys would be files again",
            health["key_store"]["kind"]
        );
    }
    // Which certifier holds each kid, with its algorithm and state.
    let mut owners = std::collections::HashMap::new();
    for certifier in admin.get("/v1/certifiers")?["certifiers"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        let Some(id) = certifier["certifier_id"].as_str() else {
            continue;
        };
        for key in admin.get(&format!("/v1/certifiers/{id}/keys"))?["keys"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            if let Some(kid) = key["kid"].as_str() {
                owners.insert(kid.to_owned(), (id.to_owned(), key));
            }
        }
    }
    let files = key_files(data_dir, kids)?;
    let rotation = data_dir.join("rotation");
    let mut rotated = 0;
    for file in &files {
        let kid = file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let Some((certifier, key)) = owners.get(&kid) else {
            out(format_args!(
                "key {kid}: no certifier of the service holds it (skipped)"
            ))?;
            continue;
        };
        if key["state"] == "retired" {
            out(format_args!("key {kid}: retired (skipped)"))?;
            continue;
        }
        let alg = if key["alg"]
            .as_str()
            .is_some_and(|a| a.eq_ignore_ascii_case("ES256"))
        {
            "es256"
        } else {
            "ed25519"
        };
        let made: serde_json::Value = admin
            .agent
            .post(&format!("{}/v1/certifiers/{certifier}/keys", admin.base))
            .header("authorization", &format!("Bearer {}", admin.key))
            .header("content-type", "application/json")
            .send(serde_json::json!({ "alg": alg }).to_string())
            .with_context(|| format!("POST /v1/certifiers/{certifier}/keys"))?
            .body_mut()
            .read_to_string()
            .map_err(anyhow::Error::from)
            .and_then(|text| json(Ok(text), "the new key's answer"))?;
        let (Some(new_kid), Some(csr)) = (made["kid"].as_str(), made["csr"].as_str()) else {
            bail!("the service did not answer a new key and its CSR: {made}");
        };
        std::fs::create_dir_all(&rotation)
            .with_context(|| format!("cannot create {}", rotation.display()))?;
        let path = rotation.join(format!("{certifier}-{new_kid}.csr"));
        std::fs::write(&path, csr).with_context(|| format!("cannot write {}", path.display()))?;
        rotated += 1;
        out(format_args!(
            "certifier {certifier}: key {kid} (a file) rotates to {new_kid}, made in the token; its request is {}. Next: trustmark-scheme accredit --csr {} ..., PUT /v1/certifiers/{certifier}/keys/{new_kid}/certificate, a trust list listing it; {kid} keeps signing from its file until then",
            path.display(),
            path.display()
        ))?;
    }
    out(format_args!("{rotated} of {} keys rotating", files.len()))
}
