//! Watching the trust list (`spec/pki.md` 11.3): the configured file is read again every
//! `scheme.trust_list_poll_seconds` and a newer list put in force at once; a development list is
//! re-signed at start when it is missing or close to expiry; and the log warns, once an hour,
//! while the list in force expires within `scheme.trust_list_warn_days`.

use std::path::Path;

use trustmark_domain::TrustListHealth;
use trustmark_format::UnixTime;

use super::{now, pki, AppState};

/// How often the expiry warning is repeated, in seconds.
const WARN_EVERY: u64 = 3600;

/// Reads a trust-list file on a blocking thread, refusing one over the format's limit (a trust
/// list is at most 256 KiB) without reading it whole.
async fn read_list(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let limit = trustmark_format::trust_list::MAX_TRUST_LIST_LEN;
        let mut bytes = Vec::new();
        std::fs::File::open(&path)?
            .take(limit as u64 + 1)
            .read_to_end(&mut bytes)?;
        if bytes.len() > limit {
            return Err(std::io::Error::other(format!(
                "over {limit} bytes: not a trust list"
            )));
        }
        Ok(bytes)
    })
    .await
    .unwrap_or_else(|e| Err(std::io::Error::other(e)))
}

/// What the trust-list file last gave that was not put in force, so that it is neither logged
/// nor checked again until it changes.
#[derive(Default)]
struct FileState {
    /// The read error last logged.
    unreadable: Option<String>,
    /// The content last refused.
    refused: Option<Vec<u8>>,
}

/// Puts the file's list in force if it is not the list in force already; a refusal is logged
/// once per content, a read error once per message.
async fn read_file(state: &AppState, path: &Path, seen: &mut FileState) {
    let bytes = match read_list(path).await {
        Ok(bytes) => {
            seen.unreadable = None;
            bytes
        }
        Err(e) => {
            let message = e.to_string();
            if seen.unreadable.as_ref() != Some(&message) {
                tracing::error!("trust list file {}: {message}", path.display());
                seen.unreadable = Some(message);
            }
            return;
        }
    };
    let in_force = state.shared.in_force();
    if in_force.is_some_and(|t| t.accepted.bytes == bytes) || seen.refused.as_ref() == Some(&bytes)
    {
        return;
    }
    match pki::apply_trust_list(state, bytes.clone(), "system:trust-list-file").await {
        Ok(_) => seen.refused = None,
        Err(e) => {
            tracing::error!(
                "trust list file {} refused: {} ({})",
                path.display(),
                e.message,
                e.code
            );
            seen.refused = Some(bytes);
        }
    }
}

/// Reads the recognised schemes' trust-list files; a refusal is logged once per content.
async fn read_recognized(state: &AppState, refused: &mut [Option<String>]) {
    for (index, scheme) in state.recognition.schemes().iter().enumerate() {
        let read = read_list(&scheme.trust_list)
            .await
            .map_err(|e| format!("{}: {e}", scheme.trust_list.display()))
            .and_then(|bytes| {
                state
                    .recognition
                    .refresh(index, bytes, UnixTime(now()), state.crypto)
                    .map_err(|e| format!("{}: {e}", scheme.trust_list.display()))
            });
        match read {
            Ok(true) => {
                tracing::info!(scheme = %scheme.name, "recognised scheme's trust list held");
                refused[index] = None;
            }
            Ok(false) => refused[index] = None,
            Err(message) => {
                if refused[index].as_ref() != Some(&message) {
                    tracing::error!(scheme = %scheme.name, "recognised scheme's trust list refused: {message}");
                    refused[index] = Some(message);
                }
            }
        }
    }
}

/// Logs the expiry of the list in force if it is close or past.
fn warn_of_expiry(state: &AppState) {
    let warn = state.config.scheme.trust_list_warn_days * 86_400;
    match state.shared.in_force() {
        None => tracing::warn!("no trust list is in force: nothing can be issued or verified"),
        Some(t) => match t.accepted.health(UnixTime(now()), warn) {
            TrustListHealth::Current { .. } => {}
            TrustListHealth::ExpiringSoon { seconds_left } => tracing::warn!(
                sequence = t.accepted.list.sequence,
                hours_left = seconds_left / 3600,
                "the trust list in force expires soon: publish a new one"
            ),
            TrustListHealth::Expired => tracing::error!(
                sequence = t.accepted.list.sequence,
                "the trust list in force expired: nothing verifies until a new one is published"
            ),
        },
    }
}

/// Runs the start-up steps, then returns the task that keeps watching (abort it at shutdown:
/// it holds the service state, and with it the writer's queue).
pub(super) async fn start(state: &AppState) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    pki::refresh_development_list(state)
        .await
        .map_err(|e| anyhow::anyhow!("development trust list: {}", e.message))?;
    let mut seen = FileState::default();
    if let Some(path) = &state.config.scheme.trust_list_path {
        read_file(state, path, &mut seen).await;
    }
    let mut recognized_refused = vec![None; state.recognition.schemes().len()];
    read_recognized(state, &mut recognized_refused).await;
    warn_of_expiry(state);
    let state = state.clone();
    Ok(tokio::spawn(async move {
        let every = std::time::Duration::from_secs(state.config.scheme.trust_list_poll_seconds);
        let mut warned_at = now();
        loop {
            tokio::time::sleep(every).await;
            if let Some(path) = &state.config.scheme.trust_list_path {
                read_file(&state, path, &mut seen).await;
            }
            read_recognized(&state, &mut recognized_refused).await;
            if now() >= warned_at + WARN_EVERY {
                warn_of_expiry(&state);
                warned_at = now();
            }
        }
    }))
}
