//! The HTTP/1.1 server loop, with the connection-level limits `axum::serve` does not set
//! (`spec/api.md` 4): at most `max_connections` open connections (beyond them, new connections
//! wait in the kernel's backlog), at most `max_headers` headers per request (431 past it), and
//! `header_read_timeout_seconds` to send a request's headers, which also closes a keep-alive
//! connection idle that long. Without them, idle or slow connections (slowloris) hold a task and
//! a socket each, for ever.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tower_http::add_extension::AddExtension;

use super::config::ServiceConfig;

/// How long a graceful shutdown waits for open connections to finish their requests.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Serves `router` on `listener` until `shutdown` completes, then stops accepting, lets the
/// requests in flight finish (up to [`SHUTDOWN_GRACE`]) and returns.
pub(super) async fn serve(
    listener: TcpListener,
    router: Router,
    config: &ServiceConfig,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let max_connections = config.max_connections;
    let permits = Arc::new(Semaphore::new(max_connections));
    let (closing, closed) = watch::channel(false);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(config.header_read_timeout_seconds))
        .max_headers(config.max_headers)
        .keep_alive(true);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was accepted:
                    // back off briefly rather than spin.
                    tracing::warn!("accept: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service =
            TowerToHyperService::new(AddExtension::new(router.clone(), ConnectInfo(peer)));
        let connection = http.serve_connection(TokioIo::new(stream), service);
        let mut closed = closed.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                result = connection.as_mut() => log_end(peer, result),
                _ = closed.changed() => {
                    connection.as_mut().graceful_shutdown();
                    log_end(peer, connection.await);
                }
            }
        });
    }
    drop(listener);
    let _ = closing.send(true);
    let all = u32::try_from(max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(SHUTDOWN_GRACE, permits.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!("connections still open after {SHUTDOWN_GRACE:?}; stopping anyway");
    }
}

fn log_end(peer: SocketAddr, result: Result<(), hyper::Error>) {
    if let Err(e) = result {
        tracing::debug!(%peer, "connection ended: {e}");
    }
}
