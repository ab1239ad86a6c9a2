//! `trustmark-issuer serve`: the HTTP service on its embedded sled store.

mod admin;
mod api;
pub mod audit;
mod auth;
mod body;
pub mod config;
mod error;
mod follow;
mod handler;
pub mod idempotency;
mod issuance;
pub mod keys;
pub mod limits;
mod ops;
mod page;
mod pki;
pub mod recognized;
pub mod records;
pub mod repository;
pub mod scheme;
mod server;
pub mod state;
pub mod status;
pub mod store;
mod trust_watch;
pub mod verify_cache;
mod writer;

use std::path::Path;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use trustmark_format::UnixTime;
use trustmark_keys::{KeyDirectory, SignerProvider};
use trustmark_verifier::RING;

pub use config::{Overrides, ServiceConfig};
pub use error::ApiError;

use limits::{ClientKey, RateLimiter};
use repository::Repository;
use state::Shared;
use store::SledStore;
use writer::{Command, Write, Writer};

/// Seconds since 1970 (the service's clock; verification takes it as an argument).
pub(crate) fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// Everything a handler needs: one `Arc`, so that the clone every request makes of it is one
/// atomic increment (it was 2.5% of the verification page's profile as a struct of 15 `Arc`s).
#[derive(Clone)]
pub struct AppState(Arc<Services>);

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

/// What [`AppState`] holds.
pub struct Services {
    store: Arc<dyn Repository>,
    shared: Arc<Shared>,
    writer: tokio::sync::mpsc::Sender<Write>,
    config: Arc<ServiceConfig>,
    base_url: Arc<str>,
    scheme: scheme::Scheme,
    recognition: recognized::Recognition,
    signers: Arc<dyn SignerProvider>,
    limiter: Arc<RateLimiter<String>>,
    public_limiter: Arc<RateLimiter<ClientKey>>,
    in_flight: Arc<idempotency::InFlight>,
    crypto: &'static verify_cache::CachingVerifier,
    decisions: issuance::DecisionCache,
    /// Certifier records read by issuance (they never change once stored).
    certifiers: quick_cache::sync::Cache<trustmark_domain::CertifierId, records::Certifier>,
}

impl Services {
    /// Reads the registry from a handler. A store that waits on a server (PostgreSQL) is read
    /// with this worker thread handed over to the runtime for the wait (tokio's
    /// `block_in_place`), so the other requests on the worker go on; an embedded store is read
    /// in place.
    pub(crate) fn registry<T>(&self, read: impl FnOnce(&dyn Repository) -> T) -> T {
        if self.store.may_block() {
            tokio::task::block_in_place(|| read(self.store.as_ref()))
        } else {
            read(self.store.as_ref())
        }
    }
}

/// Decisions kept for issuance (`issuance::DecisionCache`): one per certifier and set of
/// assessments a mark rests on.
const DECISION_CACHE_ENTRIES: usize = 4096;

/// The routes.
fn router(state: AppState) -> Router {
    // The writes, behind the idempotency layer (`spec/api.md` 5.4).
    let writes = Router::new()
        .route("/v1/certifiers", post(admin::create_certifier))
        .route("/v1/certifiers/{id}/keys", post(pki::create_issuer_key))
        .route(
            "/v1/certifiers/{id}/api-keys",
            post(admin::create_certifier_key),
        )
        .route("/v1/admin/api-keys", post(admin::create_admin_key))
        .route("/v1/api-keys/{key_id}/revoke", post(admin::revoke_key))
        .route("/v1/assessments", post(api::create_assessment))
        .route("/v1/marks", post(issuance::create_mark))
        .route("/v1/marks:batch", post(issuance::create_marks))
        .route("/v1/marks/{id}/revoke", post(api::revoke))
        .route("/v1/marks/{id}/suspend", post(api::suspend))
        .route("/v1/marks/{id}/reinstate", post(api::reinstate))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            idempotency::middleware,
        ));
    // Public routes that verify a signature or draw an image, behind the per-client limit.
    let public_compute = Router::new()
        .route("/v1/marks/{id}/qr.svg", get(api::qr_svg))
        .route("/v1/marks/{id}/qr.png", get(api::qr_png))
        .route("/v1/verify", post(api::verify))
        .route("/V/{text}", get(page::scanned))
        .route("/v/{text}", get(page::scanned))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            limits::public_compute,
        ));
    Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/metrics", get(ops::metrics))
        .route("/v1/certifiers", get(admin::list_certifiers))
        .route("/v1/certifiers/{id}", get(admin::get_certifier))
        .route("/v1/certifiers/{id}/keys", get(pki::list_issuer_keys))
        .route(
            "/v1/certifiers/{id}/keys/{kid}/certificate",
            put(pki::put_certificate),
        )
        .route("/v1/admin/api-keys", get(admin::list_admin_keys))
        .route("/v1/assessments/{id}", get(api::get_assessment))
        .route("/v1/assessments/{id}/reuse", get(api::reuse_assessment))
        .route("/v1/marks/{id}", get(api::get_mark))
        .route("/v1/status-lists/{n}", get(status::status_list))
        .route(
            "/v1/trust-list",
            get(pki::get_trust_list).put(pki::put_trust_list),
        )
        .route("/v1/pki/root.pem", get(api::root_pem))
        .merge(writes)
        .merge(public_compute)
        .fallback(|| async { error::ApiError::not_found("route") })
        .layer(middleware::from_fn_with_state(
            state.clone(),
            count_and_shape,
        ))
        .with_state(state)
}

/// Counts responses for `/metrics` and turns the framework's plain-text rejections (oversize
/// body, wrong method) into the API's JSON errors.
///
/// An error answered to a request with a body closes the connection (`Connection: close`): the
/// body may not have been read (a rejected API key is answered before it is), and the server
/// then drops the connection, which a client reusing it would only learn from a failed next
/// request.
async fn count_and_shape(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let has_body = request.headers().contains_key(header::TRANSFER_ENCODING)
        || request
            .headers()
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0");
    let mut response = shape(&state, next.run(request).await);
    if has_body && (response.status().is_client_error() || response.status().is_server_error()) {
        response.headers_mut().insert(
            header::CONNECTION,
            axum::http::HeaderValue::from_static("close"),
        );
    }
    response
}

/// Counts the response and gives a plain-text rejection the API's JSON error shape.
fn shape(state: &AppState, response: Response) -> Response {
    let m = &state.shared.metrics;
    let status = response.status();
    state::Metrics::inc(match status.as_u16() {
        200..=399 => &m.http_2xx,
        400..=499 => &m.http_4xx,
        _ => &m.http_5xx,
    });
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if status.is_client_error() && !is_json {
        let (code, message) = match status {
            StatusCode::PAYLOAD_TOO_LARGE => (
                "too_large",
                format!("request body over {} bytes", state.config.max_body_bytes),
            ),
            StatusCode::METHOD_NOT_ALLOWED => (
                "method_not_allowed",
                "method not allowed on this route".to_owned(),
            ),
            _ => (
                "invalid_request",
                status
                    .canonical_reason()
                    .unwrap_or("bad request")
                    .to_owned(),
            ),
        };
        return ApiError::new(status, code, message).into_response();
    }
    response
}

/// Writes an API key to a new file readable by its owner only.
fn write_key_file(path: &Path, key: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(format!("{key}\n").as_bytes())?;
    file.sync_all()?;
    Ok(())
}

/// In development mode, on the first start: a certifier ("Dev Test Lab", third-party)
/// accredited by the development root, so a newcomer can issue at once. Its API key is in
/// `DIR/dev-certifier-api-key`.
async fn bootstrap_dev_certifier(data_dir: &Path, state: &AppState) -> anyhow::Result<()> {
    let path = data_dir.join("dev-certifier-api-key");
    if !state.scheme.is_development() || path.exists() {
        return Ok(());
    }
    let fail = |e: ApiError| anyhow::anyhow!("development certifier: {}", e.message);
    let certifier = records::Certifier {
        id: handler::new_id(trustmark_domain::CertifierId::from_bytes).map_err(fail)?,
        name: "Dev Test Lab".into(),
        assurance: "third-party".into(),
        created_at: now(),
    };
    let key = keys::new_key().map_err(fail)?;
    let new = writer::NewKey {
        hash: keys::key_hash(&key),
        record: keys::ApiKeyRecord::new(
            keys::KeyHolder::Certifier(certifier.id.clone()),
            now(),
            None,
        ),
    };
    let created = certifier.clone();
    api::submit(state, None, |reply| Command::CreateCertifier {
        certifier: created,
        key: new,
        reply,
    })
    .await
    .map_err(fail)?;
    pki::accredit_for_development(state, &certifier)
        .await
        .map_err(fail)?;
    write_key_file(&path, &key)?;
    eprintln!(
        "Development certifier \"Dev Test Lab\" ({}), accredited by the development root; its API key (also in {}):\n  {key}\n",
        certifier.id,
        path.display()
    );
    Ok(())
}

/// Reads the admin key file, or makes the bootstrap admin key on first start.
async fn bootstrap_admin(data_dir: &Path, state: &AppState) -> anyhow::Result<()> {
    let path = data_dir.join("admin-api-key");
    if path.exists() {
        return Ok(());
    }
    let key = keys::new_key().map_err(|e| anyhow::anyhow!(e.message))?;
    let new = writer::NewKey {
        hash: keys::key_hash(&key),
        record: keys::ApiKeyRecord::new(keys::KeyHolder::Admin, now(), None),
    };
    api::submit(state, None, |reply| Command::CreateApiKey {
        key: new,
        actor: "system".into(),
        reply,
    })
    .await
    .map_err(|e| anyhow::anyhow!(e.message))?;
    write_key_file(&path, &key)?;
    eprintln!(
        "\nBootstrap admin API key (shown once; also in {}):\n  {key}\n",
        path.display()
    );
    Ok(())
}

/// How often expired idempotency records are deleted, and how many at most each time.
const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(600);
const SWEEP_LIMIT: usize = 10_000;

/// How often the writer saves the status lists' bits (when they changed): a start replays at
/// most this much of the audit chain after them (`spec/storage.md` 9).
const SNAPSHOT_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// Sends the writer the command `command` makes every `period`, and hands its answer to
/// `report`, until the service stops (it holds only a weak sender, so it never keeps the
/// writer alive).
async fn every(
    period: std::time::Duration,
    writer: tokio::sync::mpsc::WeakSender<Write>,
    command: impl Fn(writer::Reply<usize>) -> Command,
    report: impl Fn(Result<usize, writer::WriteError>),
) {
    loop {
        tokio::time::sleep(period).await;
        let Some(writer) = writer.upgrade() else {
            return;
        };
        let (reply, done) = tokio::sync::oneshot::channel();
        let write = Write {
            command: command(reply),
            remember: None,
        };
        if writer.send(write).await.is_err() {
            return;
        }
        drop(writer);
        if let Ok(answer) = done.await {
            report(answer);
        }
    }
}

/// Deletes expired idempotency records now and then.
async fn sweep_idempotency(writer: tokio::sync::mpsc::WeakSender<Write>) {
    let command = |reply| Command::SweepIdempotency {
        now: now(),
        limit: SWEEP_LIMIT,
        reply,
    };
    every(SWEEP_EVERY, writer, command, |answer| match answer {
        Ok(n) if n > 0 => tracing::info!(deleted = n, "expired idempotency records"),
        Err(e) => tracing::warn!("idempotency sweep: {e}"),
        Ok(_) => {}
    })
    .await;
}

/// Asks the writer to save a snapshot of the status lists every [`SNAPSHOT_EVERY`].
async fn save_snapshots(writer: tokio::sync::mpsc::WeakSender<Write>) {
    let command = |reply| Command::SaveSnapshot { reply };
    every(SNAPSHOT_EVERY, writer, command, |answer| {
        if let Err(e) = answer {
            tracing::warn!("saving the status list snapshot: {e}");
        }
    })
    .await;
}

/// The registry's store: PostgreSQL at `database` (with at most `pool` connections) if one is
/// given, else the embedded sled store in `data_dir/db`. Blocks; call it off the asynchronous
/// workers.
pub fn open_store(
    data_dir: &Path,
    database: Option<&str>,
    pool: usize,
) -> Result<Arc<dyn Repository>, store::StoreError> {
    Ok(match database {
        Some(url) => Arc::new(repository::postgres::PgStore::connect(url, pool)?),
        None => Arc::new(SledStore::open(&data_dir.join("db"))?),
    })
}

/// Runs the service until SIGINT or SIGTERM.
pub fn run(config: ServiceConfig) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(serve(config))
}

async fn serve(config: ServiceConfig) -> anyhow::Result<()> {
    let data_dir = config.data_dir.clone();
    std::fs::create_dir_all(&data_dir)?;
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let bound = listener.local_addr()?;
    let base_url = config.base_url(bound);

    let scheme = scheme::Scheme::open(&config, UnixTime(now()))?;
    let recognition = recognized::Recognition::open(&config.scheme.recognized, &scheme.anchor)?;
    // Made once per process and kept for its life: the trust stores borrow it.
    let crypto: &'static verify_cache::CachingVerifier = Box::leak(Box::new(
        verify_cache::CachingVerifier::new(&RING, config.verify_cache_entries),
    ));
    let signers: Arc<dyn SignerProvider> = match &config.keys.token {
        Some(token) => {
            tracing::info!(
                module = %token.module.display(),
                token = %token.token_label,
                "certifier keys are kept in a PKCS#11 token"
            );
            // Keys made before the token was configured keep signing from their files until
            // they are moved into it (`keys migrate`) or rotated out (spec/pki.md 12.5).
            Arc::new(trustmark_keys::LayeredProvider::new(
                Arc::new(trustmark_pkcs11::TokenProvider::new(Arc::new(
                    trustmark_pkcs11::Token::new(token.clone())?,
                ))),
                Arc::new(KeyDirectory::new(data_dir.join("keys"))),
            ))
        }
        None => Arc::new(KeyDirectory::new(data_dir.join("keys"))),
    };

    // The store is opened and read on a blocking thread: PostgreSQL's client blocks.
    let (database, pool) = (config.database.clone(), config.database_pool);
    let (capacity, store_dir) = (config.status_list_capacity, data_dir.clone());
    let loaded = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let started = std::time::Instant::now();
        let store = open_store(&store_dir, database.as_ref().map(|u| u.0.as_str()), pool)?;
        let opened = started.elapsed();
        // The stored head against the chain's last entry; the whole walk is `audit`.
        let head = store.counters()?.audit;
        audit::verify_head(store.as_ref(), &head, store.is_shared())?;
        let verified = started.elapsed();
        let mut shared = Shared::new(capacity);
        shared.leased_indexes = store.is_shared();
        let shared = Arc::new(shared);
        let (writer, loaded) = Writer::open(store.clone(), shared.clone())?;
        let trust_list = store.trust_list()?;
        let (snapshot_at, replayed) = match loaded {
            writer::Loaded::Snapshot { at, replayed } => (Some(at), replayed),
            writer::Loaded::Scan => (None, 0),
        };
        tracing::info!(
            store = store.kind(),
            store_open_ms = opened.as_millis(),
            audit_head_check_ms = (verified - opened).as_millis(),
            state_load_ms = (started.elapsed() - verified).as_millis(),
            snapshot_at,
            replayed,
            "start-up: store opened, audit head checked, keys and status lists loaded"
        );
        Ok((store, shared, writer, trust_list, head.entries))
    });
    let (store, shared, writer, trust_list, chain_len) = loaded.await??;
    if let Some(bytes) = trust_list {
        let in_force = scheme.restore(bytes, crypto).map_err(|e| {
            anyhow::anyhow!("the stored trust list does not verify under the scheme root: {e}")
        })?;
        *shared.trust.write().unwrap_or_else(|e| e.into_inner()) = Some(in_force);
    }
    let (tx, rx) = tokio::sync::mpsc::channel(65_536);
    let writer_thread = std::thread::Builder::new()
        .name("trustmark-writer".into())
        .spawn(move || writer.run(rx))?;

    let state = AppState(Arc::new(Services {
        store,
        shared,
        writer: tx,
        limiter: Arc::new(RateLimiter::new(
            config.rate_limit_per_second,
            config.rate_limit_burst,
        )),
        public_limiter: Arc::new(RateLimiter::new(
            config.public_rate_limit_per_second,
            config.public_rate_limit_burst,
        )),
        in_flight: Arc::default(),
        config: Arc::new(config),
        base_url: base_url.clone().into(),
        scheme,
        recognition,
        signers,
        crypto,
        decisions: issuance::DecisionCache::new(DECISION_CACHE_ENTRIES),
        certifiers: quick_cache::sync::Cache::new(DECISION_CACHE_ENTRIES),
    }));
    bootstrap_admin(&data_dir, &state).await?;
    let watch = trust_watch::start(&state).await?;
    let follower = follow::start(&state);
    bootstrap_dev_certifier(&data_dir, &state).await?;
    tracing::info!(%bound, %base_url, audit_entries = chain_len, "trustmark issuer listening");
    eprintln!("trustmark-issuer listening on http://{bound} (QR links: {base_url}/V/...)");

    tokio::spawn(sweep_idempotency(state.writer.downgrade()));
    tokio::spawn(save_snapshots(state.writer.downgrade()));
    let config = state.config.clone();
    server::serve(listener, router(state), &config, shutdown_signal()).await;
    watch.abort();
    // The aborted tasks drop their copies of the state (and of the writer's queue) when they
    // stop.
    drop(watch.await);
    if let Some(follower) = follower {
        follower.abort();
        drop(follower.await);
    }
    // The router (and with it every sender) is gone: the writer drains its queue and stops.
    writer_thread
        .join()
        .map_err(|_| anyhow::anyhow!("the writer thread panicked"))?;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = interrupt => {},
        _ = terminate => {},
    }
}
