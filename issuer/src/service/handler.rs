//! What every handler uses: the writer round trip, JSON bodies, ids, and
//! answers rendered before their commit so that they can be remembered under an idempotency
//! key in it.

use axum::body::Bytes;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tokio::sync::oneshot;

use super::error::ApiError;
use super::idempotency::{withhold_secret, Claim};
use super::writer::{Command, Remember, Write, WriteError};
use super::AppState;

/// Sends a command to the writer and waits for its durable answer.
pub(super) async fn submit<T>(
    state: &AppState,
    remember: Option<Remember>,
    make: impl FnOnce(oneshot::Sender<Result<T, WriteError>>) -> Command,
) -> Result<T, ApiError> {
    let shutting_down = || {
        let mut e = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the service is shutting down",
        );
        e.retry_after = Some(1);
        e
    };
    let (tx, rx) = oneshot::channel();
    let write = Write {
        command: make(tx),
        remember,
    };
    state
        .writer
        .send(write)
        .await
        .map_err(|_| shutting_down())?;
    Ok(rx.await.map_err(|_| shutting_down())??)
}

/// Parses a JSON body into `T` with a message that says where it is wrong.
pub(super) fn json_body<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::invalid(format!("request body: {e}")))
}

/// A new random id (16 bytes) of the kind `make` builds, e.g. `new_id(CertifierId::from_bytes)`.
pub(super) fn new_id<T>(make: fn([u8; 16]) -> T) -> Result<T, ApiError> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| ApiError::internal("no randomness"))?;
    Ok(make(bytes))
}

/// The id of kind `T` written in a URL path, or 404 naming `what`: a path of any other form is
/// never looked up (no path traversal, control characters or oversized keys reach the store).
pub(super) fn path_id<T>(
    text: &str,
    parse: fn(&str) -> Result<T, trustmark_domain::IdError>,
    what: &str,
) -> Result<T, ApiError> {
    parse(text).map_err(|_| ApiError::not_found(what))
}

/// Whether `id` has the form of an id: 32 lowercase hex digits. Anything else is not looked
/// up (no path traversal, control characters or oversized keys reach the store).
pub(super) fn is_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A JSON answer made before its commit.
pub(super) struct Rendered {
    status: StatusCode,
    body: Vec<u8>,
    /// What to store instead of `body` under an idempotency key (secrets withheld).
    stored: Option<Vec<u8>>,
}

impl Rendered {
    /// `value` as JSON with `status`.
    pub(super) fn json(status: StatusCode, value: &impl Serialize) -> Result<Self, ApiError> {
        Ok(Self {
            status,
            body: serde_json::to_vec(value).map_err(ApiError::internal)?,
            stored: None,
        })
    }

    /// An answer carrying a new API key: stored with the key withheld
    /// ([`withhold_secret`]).
    pub(super) fn with_secret(
        status: StatusCode,
        value: serde_json::Value,
    ) -> Result<Self, ApiError> {
        let stored =
            serde_json::to_vec(&withhold_secret(value.clone())).map_err(ApiError::internal)?;
        Ok(Self {
            stored: Some(stored),
            ..Self::json(status, &value)?
        })
    }

    /// Commits the command `make` builds with this answer remembered under the request's
    /// idempotency key (if it has one), and answers it once the commit is durable.
    pub(super) async fn commit(
        self,
        state: &AppState,
        claim: Option<&Claim>,
        make: impl FnOnce(oneshot::Sender<Result<(), WriteError>>) -> Command,
    ) -> Result<Response, ApiError> {
        let remember = self.remember(claim)?;
        submit(state, remember, make).await?;
        Ok(self.into_response())
    }

    /// What to remember under the request's idempotency key, if it has one.
    pub(super) fn remember(&self, claim: Option<&Claim>) -> Result<Option<Remember>, ApiError> {
        claim
            .map(|claim| {
                let body = self.stored.as_deref().unwrap_or(&self.body);
                Ok(Remember::Answer {
                    storage_key: claim.storage_key.clone(),
                    answer: claim.answer(self.status, body)?,
                })
            })
            .transpose()
    }
}

impl IntoResponse for Rendered {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response
    }
}

/// Runs `work`, which signs or makes keys, on a blocking thread when the key store may wait on a
/// device (a PKCS#11 token: milliseconds, or a timeout), and inline otherwise (software keys
/// take microseconds), so a slow token never holds up the async workers.
pub(super) async fn with_signer<T: Send + 'static>(
    state: &AppState,
    work: impl FnOnce(&AppState) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    if !state.signers.may_block() {
        return work(state);
    }
    let state = state.clone();
    tokio::task::spawn_blocking(move || work(&state))
        .await
        .map_err(ApiError::internal)?
}
