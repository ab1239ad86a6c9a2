//! The connection to a token: the module loaded and initialised, the slot found by label, and a
//! pool of sessions, each owned by its own worker thread (a PKCS#11 session must not be used
//! from two threads at once, and `cryptoki` makes it neither `Send` nor `Sync`). Work is queued
//! to whichever worker is free, so concurrent signing never waits on one session.
//!
//! Faults: a module that will not load, a missing token, a refused login, or an operation that
//! fails because the token went away, was logged out or broke, make the token **down**: every
//! request answers [`KeyError::Unavailable`] at once, and the next request after
//! [`RETRY_AFTER`] reconnects from scratch (slot looked up by label again, sessions opened, login).
//! A module is loaded and initialised once per process and never finalised: `C_Finalize` is
//! process-wide and would pull the sessions from under every other user of the module. A PIN the token refused is never tried twice: until the
//! PIN file or variable changes, a reconnect fails without asking the token (a real HSM locks
//! the PIN after a few wrong tries).

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::{Limit, Slot};
use cryptoki::types::AuthPin;
use trustmark_keys::KeyError;

use crate::config::{Pin, TokenConfig, DEFAULT_SESSIONS};

/// How long a down token is left alone before the next request tries to reconnect.
pub const RETRY_AFTER: Duration = Duration::from_secs(1);

/// How long a request waits for a worker before the token counts as failing (signing with an
/// EC key takes milliseconds; an HTTP client should not wait longer than this).
const JOB_TIMEOUT: Duration = Duration::from_secs(10);

/// Work for a session.
type Job = Box<dyn FnOnce(&Session) + Send>;

/// A token, connected on first use and reconnected after a fault.
pub struct Token {
    config: TokenConfig,
    state: Mutex<State>,
    /// Session workers still running, of every connection so far: a worker stuck in a call to
    /// a failing token is left to finish rather than waited for, and the module is not
    /// restarted under it.
    live_workers: Arc<std::sync::atomic::AtomicUsize>,
    /// The module, held from the first connection on, so that `Module::restart_if_alone`
    /// sees every token of the process that uses it.
    module: Mutex<Option<Arc<Module>>>,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("module", &self.config.module)
            .field("token_label", &self.config.token_label)
            .finish_non_exhaustive()
    }
}

enum State {
    /// Not connected yet.
    Idle,
    Up(Arc<Connection>),
    Down {
        since: Instant,
        reason: String,
        /// The PIN the token refused, if that is why it is down.
        refused_pin: Option<Pin>,
    },
}

/// One connection: its generation (object handles found in it are valid only in it), the jobs
/// queue and the workers.
pub(crate) struct Connection {
    pub(crate) generation: u64,
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
}

/// A loaded and initialised module, shared by every [`Token`] of the process that uses it.
struct Module {
    path: std::path::PathBuf,
    pkcs11: Mutex<Pkcs11>,
}

/// The modules of this process.
static MODULES: Mutex<Vec<Arc<Module>>> = Mutex::new(Vec::new());

fn load(path: &std::path::Path) -> Result<Pkcs11, String> {
    let pkcs11 = Pkcs11::new(path)
        .map_err(|e| format!("cannot load PKCS#11 module {}: {e}", path.display()))?;
    match pkcs11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => Ok(pkcs11),
        Err(e) => Err(format!("cannot initialise {}: {e}", path.display())),
    }
}

/// The module at `path`, loaded and initialised once per process.
fn module(path: &std::path::Path) -> Result<Arc<Module>, String> {
    let mut modules = MODULES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(module) = modules.iter().find(|m| m.path == path) {
        return Ok(Arc::clone(module));
    }
    let module = Arc::new(Module {
        path: path.to_owned(),
        pkcs11: Mutex::new(load(path)?),
    });
    modules.push(Arc::clone(&module));
    Ok(module)
}

impl Module {
    /// Finalises and initialises the module again, so that it looks at its slots afresh (a
    /// token put back, or made again), but only when the caller is its only user: `C_Finalize` is
    /// process-wide and would close every other user's sessions.
    fn restart_if_alone(self: &Arc<Self>) -> Result<(), String> {
        // One count in MODULES, one in the token that holds it, one in the caller's hands.
        let modules = MODULES.lock().unwrap_or_else(|e| e.into_inner());
        if Arc::strong_count(self) > 3 {
            return Ok(());
        }
        let mut pkcs11 = self.pkcs11.lock().unwrap_or_else(|e| e.into_inner());
        let _ = pkcs11.clone().finalize();
        *pkcs11 = load(&self.path)?;
        drop(modules);
        Ok(())
    }

    fn pkcs11(&self) -> Pkcs11 {
        self.pkcs11
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Connection {
    /// Closes the queue: each worker finishes the job it has, closes its session and ends.
    /// Nothing waits for them (one may be stuck in a call to a failing token).
    fn shut_down(&self) {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
}

/// Whether an error means the token is gone, logged out or failing (reconnect), rather than a
/// refusal of this one request.
fn is_fault(e: &CkError) -> bool {
    match e {
        CkError::Pkcs11(rv, _) => matches!(
            rv,
            RvError::DeviceRemoved
                | RvError::DeviceError
                | RvError::TokenNotPresent
                | RvError::TokenNotRecognized
                | RvError::SessionHandleInvalid
                | RvError::SessionClosed
                | RvError::UserNotLoggedIn
                | RvError::CryptokiNotInitialized
                | RvError::GeneralError
                | RvError::PinIncorrect
                | RvError::PinLocked
                | RvError::PinExpired
                | RvError::SlotIdInvalid
                // A handle found in this connection went stale: the token changed under it
                // (pulled out, or its objects replaced). Reconnecting finds the key again, or
                // says it is gone.
                | RvError::ObjectHandleInvalid
                | RvError::KeyHandleInvalid
        ),
        CkError::LibraryLoading(_) | CkError::NullFunctionPointer | CkError::MissingSymbol(_) => {
            true
        }
        _ => false,
    }
}

impl Token {
    /// A token that connects on first use.
    pub fn new(config: TokenConfig) -> Result<Self, KeyError> {
        config.check()?;
        Ok(Self {
            config,
            state: Mutex::new(State::Idle),
            live_workers: Arc::default(),
            module: Mutex::new(None),
        })
    }

    /// Runs `work` on a free session and returns its result. A fault makes the token down and
    /// answers [`KeyError::Unavailable`]; another PKCS#11 error answers [`KeyError::Store`].
    pub(crate) fn run<T: Send + 'static>(
        &self,
        what: &'static str,
        work: impl FnOnce(&Session, u64) -> Result<T, CkError> + Send + 'static,
    ) -> Result<T, KeyError> {
        let connection = self.connection()?;
        let (reply, answer) = mpsc::sync_channel(1);
        let generation = connection.generation;
        let job: Job = Box::new(move |session| {
            let _ = reply.send(work(session, generation));
        });
        let sent = connection
            .jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|jobs| jobs.send(job).is_ok())
            .unwrap_or(false);
        if !sent {
            return Err(self.fail(
                &connection,
                format!("{what}: the token's sessions are closed"),
            ));
        }
        match answer.recv_timeout(JOB_TIMEOUT) {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) if is_fault(&e) => Err(self.fail(&connection, format!("{what}: {e}"))),
            Ok(Err(e)) => Err(KeyError::Store(format!("{what}: {e}"))),
            Err(mpsc::RecvTimeoutError::Timeout) => Err(self.fail(
                &connection,
                format!("{what}: no answer from the token in {JOB_TIMEOUT:?}"),
            )),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                Err(self.fail(&connection, format!("{what}: the token's session closed")))
            }
        }
    }

    /// Whether the token is connected and working now (for health checks; does not connect).
    pub fn status(&self) -> Result<(), String> {
        match &*self.state.lock().unwrap_or_else(|e| e.into_inner()) {
            State::Up(_) | State::Idle => Ok(()),
            State::Down { reason, .. } => Err(reason.clone()),
        }
    }

    /// Marks `connection` as failed (if it is still the current one) and shuts it down.
    fn fail(&self, connection: &Arc<Connection>, reason: String) -> KeyError {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if matches!(&*state, State::Up(current) if Arc::ptr_eq(current, connection)) {
            *state = State::Down {
                since: Instant::now(),
                reason: reason.clone(),
                refused_pin: None,
            };
            drop(state);
            connection.shut_down();
        }
        KeyError::Unavailable(format!("token {}: {reason}", self.config.token_label))
    }

    /// The current connection, connecting when idle or when a down token's wait is over.
    fn connection(&self) -> Result<Arc<Connection>, KeyError> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (generation, refused_pin, restart) = match &*state {
            State::Up(connection) => return Ok(Arc::clone(connection)),
            State::Down { since, reason, .. } if since.elapsed() < RETRY_AFTER => {
                return Err(KeyError::Unavailable(format!(
                    "token {}: {reason}",
                    self.config.token_label
                )))
            }
            State::Down { refused_pin, .. } => (next_generation(), refused_pin.clone(), true),
            State::Idle => (next_generation(), None, false),
        };
        match self.connect(generation, refused_pin.as_ref(), restart) {
            Ok(connection) => {
                let connection = Arc::new(connection);
                *state = State::Up(Arc::clone(&connection));
                Ok(connection)
            }
            Err((reason, refused_pin)) => {
                *state = State::Down {
                    since: Instant::now(),
                    reason: reason.clone(),
                    refused_pin,
                };
                Err(KeyError::Unavailable(format!(
                    "token {}: {reason}",
                    self.config.token_label
                )))
            }
        }
    }

    /// Loads and initialises the module, finds the token, logs in and starts the workers. On
    /// failure: the reason, and the PIN if the token refused it.
    fn connect(
        &self,
        generation: u64,
        refused_pin: Option<&Pin>,
        restart: bool,
    ) -> Result<Connection, (String, Option<Pin>)> {
        let plain = |e: String| (e, None);
        let pin = self.config.read_pin().map_err(|e| plain(e.to_string()))?;
        if refused_pin == Some(&pin) {
            return Err((
                "the token refused this PIN before; it is not tried again until the PIN file or variable changes".into(),
                Some(pin),
            ));
        }
        let module = {
            let mut held = self.module.lock().unwrap_or_else(|e| e.into_inner());
            match &*held {
                Some(module) => Arc::clone(module),
                None => {
                    let loaded = module(&self.config.module).map_err(plain)?;
                    *held = Some(Arc::clone(&loaded));
                    loaded
                }
            }
        };
        if restart {
            // Give the last connection's workers a moment to close their sessions; a module
            // is never restarted under a running one.
            if self.wait_for_workers(Duration::from_secs(2)) {
                module.restart_if_alone().map_err(plain)?;
            }
        }
        let pkcs11 = module.pkcs11();
        let slot = self.find_slot(&pkcs11).map_err(plain)?;
        let sessions = self.session_count(&pkcs11, slot);
        // The first session logs in; the login holds for every session of this application.
        let first = pkcs11
            .open_rw_session(slot)
            .map_err(|e| plain(format!("cannot open a session: {e}")));
        let first = first.and_then(|session| match login(&session, &pin) {
            Ok(()) => Ok(session),
            Err(e @ CkError::Pkcs11(RvError::PinIncorrect, _)) => {
                Err((format!("login refused: {e}"), Some(pin.clone())))
            }
            Err(e) => Err(plain(format!("login failed: {e}"))),
        })?;
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        let mut first = Some(first);
        for n in 0..sessions {
            let session = match first.take() {
                Some(session) => session,
                None => match pkcs11.open_rw_session(slot) {
                    Ok(session) => session,
                    // Fewer sessions than hoped still work.
                    Err(_) if n > 0 => break,
                    Err(e) => return Err(plain(format!("cannot open a session: {e}"))),
                },
            };
            spawn_worker(
                session,
                Arc::clone(&queue),
                n,
                Arc::clone(&self.live_workers),
            )?;
        }
        Ok(Connection {
            generation,
            jobs: Mutex::new(Some(jobs)),
        })
    }

    fn find_slot(&self, pkcs11: &Pkcs11) -> Result<Slot, String> {
        let slots = pkcs11
            .get_slots_with_token()
            .map_err(|e| format!("cannot list the slots: {e}"))?;
        for slot in slots {
            if let Ok(info) = pkcs11.get_token_info(slot) {
                if info.label().trim_end() == self.config.token_label {
                    return Ok(slot);
                }
            }
        }
        Err(format!(
            "no token labelled {:?} in {}",
            self.config.token_label,
            self.config.module.display()
        ))
    }

    /// The sessions to open: the configured number (default [`DEFAULT_SESSIONS`]), never more
    /// than the token's own limit.
    fn session_count(&self, pkcs11: &Pkcs11, slot: Slot) -> usize {
        let wanted = self.config.sessions.unwrap_or(DEFAULT_SESSIONS);
        let limit =
            pkcs11
                .get_token_info(slot)
                .ok()
                .and_then(|info| match info.max_rw_session_count() {
                    Limit::Max(n) => usize::try_from(n).ok(),
                    Limit::Unavailable | Limit::Infinite => None,
                });
        limit.map_or(wanted, |limit| wanted.min(limit.max(1)))
    }
}

impl Drop for Token {
    /// Closes the sessions and waits (at most 5 s) for the workers to end, so that nothing
    /// touches the module while the process tears it down.
    fn drop(&mut self) {
        if let State::Up(connection) = &*self.state.lock().unwrap_or_else(|e| e.into_inner()) {
            connection.shut_down();
        }
        self.wait_for_workers(Duration::from_secs(5));
    }
}

impl Token {
    /// Waits until every session worker has ended, or `limit` has passed; whether they all
    /// ended.
    fn wait_for_workers(&self, limit: Duration) -> bool {
        use std::sync::atomic::Ordering;
        let deadline = Instant::now() + limit;
        while self.live_workers.load(Ordering::SeqCst) > 0 {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        true
    }
}

fn login(session: &Session, pin: &Pin) -> Result<(), CkError> {
    match session.login(UserType::User, Some(&AuthPin::new(pin.expose().into()))) {
        Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(()),
        Err(e) => Err(e),
    }
}

fn spawn_worker(
    session: Session,
    queue: Arc<Mutex<mpsc::Receiver<Job>>>,
    n: usize,
    live: Arc<std::sync::atomic::AtomicUsize>,
) -> Result<(), (String, Option<Pin>)> {
    use std::sync::atomic::Ordering;
    live.fetch_add(1, Ordering::SeqCst);
    // The session moves to its worker, its only user from then on.
    let spawned = std::thread::Builder::new()
        .name(format!("pkcs11-session-{n}"))
        .spawn({
            let live = Arc::clone(&live);
            move || {
                loop {
                    let job = queue.lock().unwrap_or_else(|e| e.into_inner()).recv();
                    match job {
                        Ok(job) => job(&session),
                        Err(_) => break,
                    }
                }
                drop(session);
                live.fetch_sub(1, Ordering::SeqCst);
            }
        });
    match spawned {
        Ok(_) => Ok(()),
        Err(e) => {
            live.fetch_sub(1, Ordering::SeqCst);
            Err((format!("cannot start a session worker: {e}"), None))
        }
    }
}

/// Generations of connections, so handles cached in one are never used in another.
fn next_generation() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
