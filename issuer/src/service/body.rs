//! Reading request bodies under a size limit and a deadline: a body over `max_body_bytes` is
//! 413 `too_large`, one that does not arrive within `body_read_timeout_seconds` (a client
//! trickling bytes to hold a connection and a task) is 408 `body_timeout`.

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;

use super::config::ServiceConfig;
use super::error::ApiError;
use super::AppState;

/// A whole request body, read under the limits.
#[derive(Debug)]
pub(super) struct RequestBody(pub Bytes);

impl FromRequest<AppState> for RequestBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        read(request.into_body(), &state.config).await.map(Self)
    }
}

/// Reads `body` whole, or refuses it.
pub(super) async fn read(body: Body, config: &ServiceConfig) -> Result<Bytes, ApiError> {
    let limit = config.max_body_bytes;
    let deadline = std::time::Duration::from_secs(config.body_read_timeout_seconds);
    match tokio::time::timeout(deadline, axum::body::to_bytes(body, limit)).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(e)) if is_length_limit(&e) => Err(too_large(limit)),
        Ok(Err(_)) => Err(ApiError::invalid("the request body could not be read")),
        Err(_) => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "body_timeout",
            format!(
                "the request body did not arrive within {} seconds",
                deadline.as_secs()
            ),
        )),
    }
}

/// 413 `too_large`.
pub(super) fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        format!("request body over {limit} bytes"),
    )
}

/// Whether reading failed on the length limit (rather than the connection).
fn is_length_limit(error: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = e.source();
    }
    false
}
