//! `trustmark-issuer publish`: the read path as static files (`spec/api.md` 8). What millions of
//! verifiers fetch (the trust list, the scheme root certificate, every status list the trust
//! list names) is written under a directory with the service's own paths and bytes, plus a
//! `_headers` file giving each file's `Content-Type` and `Cache-Control` as the service sends
//! them, so a static web server or CDN can serve the same answers.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use trustmark_format::UnixTime;

use crate::out;

/// A file fetched from the service, with the headers a static host must send with it.
struct Fetched {
    path: String,
    bytes: Vec<u8>,
    content_type: String,
    cache_control: Option<String>,
}

fn fetch(agent: &ureq::Agent, base: &str, path: &str) -> Result<Fetched> {
    let mut answer = agent
        .get(&format!("{base}{path}"))
        .call()
        .with_context(|| format!("GET {base}{path}"))?;
    let header = |name: &str| {
        answer
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let content_type = header("content-type").unwrap_or_else(|| "application/octet-stream".into());
    let cache_control = header("cache-control");
    let bytes = answer
        .body_mut()
        .with_config()
        .limit(64 * 1024 * 1024)
        .read_to_vec()
        .with_context(|| format!("GET {base}{path}: body"))?;
    Ok(Fetched {
        path: path.to_owned(),
        bytes,
        content_type,
        cache_control,
    })
}

/// The path of a status list URI, if it is one of the service's (`/v1/status-lists/<n>`).
fn status_list_path(uri: &str) -> Option<String> {
    let at = uri.find("/v1/status-lists/")?;
    let path = &uri[at..];
    let number = path.strip_prefix("/v1/status-lists/")?;
    (!number.is_empty() && number.bytes().all(|b| b.is_ascii_digit())).then(|| path.to_owned())
}

/// Writes `bytes` to `dir/path` atomically (a temporary file, synced, renamed over the old).
fn write_atomically(dir: &Path, path: &str, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let target = dir.join(path.trim_start_matches('/'));
    let parent = target
        .parent()
        .with_context(|| format!("{} has no parent", target.display()))?;
    std::fs::create_dir_all(parent)
        .with_context(|| format!("cannot create {}", parent.display()))?;
    let temp = target.with_extension("tmp");
    let mut file =
        std::fs::File::create(&temp).with_context(|| format!("cannot write {}", temp.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", temp.display()))?;
    std::fs::rename(&temp, &target).with_context(|| format!("cannot write {}", target.display()))
}

/// One pass: fetches and writes every file, then `_headers`. The trust list is checked under
/// the root before anything is written.
fn publish_once(agent: &ureq::Agent, base: &str, dir: &Path) -> Result<usize> {
    let root = fetch(agent, base, "/v1/pki/root.pem")?;
    let trust_list = fetch(agent, base, "/v1/trust-list")?;
    let root_cert = trustmark_keys::RootCertificate::from_pem(
        std::str::from_utf8(&root.bytes).context("the root certificate is not PEM text")?,
    )?;
    let anchor = trustmark_verifier::TrustAnchor {
        alg: root_cert.alg,
        public_key: root_cert.public_key.clone(),
    };
    let now = UnixTime(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .context("the system clock is before 1970")?
            .as_secs(),
    );
    let store = trustmark_verifier::TrustStore::from_signed(
        &trust_list.bytes,
        &anchor,
        now,
        &trustmark_verifier::RING,
    )
    .map_err(|e| anyhow::anyhow!("the service's trust list does not verify under its root: {e}"))?;
    let mut paths: Vec<String> = store
        .list()
        .issuers
        .iter()
        .filter_map(|issuer| issuer.status_list_uri.as_deref())
        .filter_map(status_list_path)
        .collect();
    paths.sort();
    paths.dedup();
    let mut files = vec![root, trust_list];
    for path in &paths {
        files.push(fetch(agent, base, path)?);
    }
    let mut headers = String::new();
    for file in &files {
        write_atomically(dir, &file.path, &file.bytes)?;
        headers.push_str(&format!(
            "{}\n  Content-Type: {}\n",
            file.path, file.content_type
        ));
        if let Some(cache) = &file.cache_control {
            headers.push_str(&format!("  Cache-Control: {cache}\n"));
        }
    }
    write_atomically(dir, "/_headers", headers.as_bytes())?;
    Ok(files.len())
}

/// `publish --service URL --out DIR [--every SECONDS]`.
pub(crate) fn publish(base: &str, dir: &Path, every: Option<u64>) -> Result<()> {
    let base = base.trim_end_matches('/');
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    if every == Some(0) {
        bail!("--every must be at least 1 second");
    }
    loop {
        let written = publish_once(&agent, base, dir)?;
        out(format_args!(
            "published {written} files from {base} to {}",
            dir.display()
        ))?;
        match every {
            Some(seconds) => std::thread::sleep(Duration::from_secs(seconds)),
            None => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::status_list_path;

    #[test]
    fn only_the_services_status_list_paths_are_published() {
        assert_eq!(
            status_list_path("HTTP://127.0.0.1:8080/v1/status-lists/12").as_deref(),
            Some("/v1/status-lists/12")
        );
        for bad in [
            "https://x/v1/status-lists/",
            "https://x/v1/status-lists/1/../../etc",
            "https://x/other/1",
        ] {
            assert_eq!(status_list_path(bad), None, "{bad}");
        }
    }
}
