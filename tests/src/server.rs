//! Starting the real `trustmark-issuer serve` on a free loopback port, and talking to it.

#![allow(clippy::panic)] // test support: a service that cannot start must fail the test loudly

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Configuration lifting the per-client limit of the public routes, for tests that verify many
/// marks from one address.
pub const NO_PUBLIC_LIMIT: &str =
    "public_rate_limit_per_second = 1e9\npublic_rate_limit_burst = 1e9\n";

/// A running service.
pub struct Server {
    child: Child,
    /// Its data directory.
    pub data_dir: PathBuf,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// The bootstrap admin API key.
    pub admin_key: String,
    agent: ureq::Agent,
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// Content type.
    pub content_type: String,
    /// Body.
    pub body: Vec<u8>,
    /// Headers (names lower case; the last value of a repeated header).
    pub headers: std::collections::HashMap<String, String>,
}

impl Answer {
    /// The body as JSON (`Null` if it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The error code of a JSON error answer (`""` if there is none).
    pub fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// A binary of this workspace, next to the test executable's directory.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_default();
    dir.join(name)
}

/// The variable naming the PostgreSQL cluster the end-to-end suite runs its services on (a
/// libpq `key=value` connection string of a user that may create databases); unset, the
/// services keep their registry in the embedded store.
pub const POSTGRES_VAR: &str = "TRUSTMARK_E2E_POSTGRES";

/// The database of the service on `data_dir` when the suite runs on PostgreSQL: one database
/// per data directory, made on first use, so a service started again on the same directory
/// finds its registry.
pub fn database_for(data_dir: &Path) -> Option<String> {
    use std::hash::{Hash, Hasher};
    let cluster = std::env::var(POSTGRES_VAR).ok()?;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    data_dir.hash(&mut hasher);
    let name = format!("e2e_{:016x}", hasher.finish());
    let psql = |sql: &str| {
        let output = Command::new("psql")
            .args([
                &cluster,
                "-X",
                "-q",
                "-t",
                "-A",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ])
            .output()
            .unwrap_or_else(|e| panic!("cannot run psql: {e}"));
        assert!(
            output.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    };
    if psql(&format!(
        "SELECT 1 FROM pg_database WHERE datname = '{name}'"
    ))
    .is_empty()
    {
        psql(&format!("CREATE DATABASE {name}"));
    }
    Some(format!("{cluster} dbname={name}"))
}

/// `trustmark-issuer` for a command on the stopped service of `data_dir` (such as `audit`),
/// with its database when the suite runs on PostgreSQL.
pub fn issuer_command(data_dir: &Path) -> Command {
    let mut command = Command::new(binary("trustmark-issuer"));
    if let Some(url) = database_for(data_dir) {
        command.env("TRUSTMARK_DATABASE", url);
    }
    command
}

/// Runs `trustmark-issuer audit` on the stopped service of `data_dir` (in `database` if given,
/// else in the suite's database for it, else in its embedded store), which verifies the whole
/// chain; returns the number of entries.
pub fn audited(data_dir: &Path, database: Option<&str>) -> u64 {
    let mut command = issuer_command(data_dir);
    command.args(["audit", "--data-dir"]).arg(data_dir);
    if let Some(url) = database {
        command.env("TRUSTMARK_DATABASE", url);
    }
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run trustmark-issuer audit: {e}"));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "audit failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // "audit chain verified: N entries, head H"
    text.split_whitespace()
        .nth(3)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected audit output {text:?}"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(18_181)
}

impl Server {
    /// Starts the service on `data_dir` and waits until it answers `/healthz`.
    pub fn start(data_dir: &Path) -> Self {
        Self::start_with_config(data_dir, None)
    }

    /// Starts the service with a configuration file holding `config` (TOML).
    pub fn start_with_config(data_dir: &Path, config: Option<&str>) -> Self {
        Self::start_with(data_dir, config, &[])
    }

    /// Starts the service with a configuration file holding `config` (TOML) and more
    /// arguments of `serve`, and waits until it answers `/healthz` (a service without a trust
    /// list in force answers 503 there, and is up).
    pub fn start_with(data_dir: &Path, config: Option<&str>, args: &[&std::ffi::OsStr]) -> Self {
        Self::start_with_env(data_dir, config, args, &[])
    }

    /// As [`Server::start_with`], with environment variables of the service's own. When `env`
    /// is given, the `TRUSTMARK_PKCS11_*` variables of this run are not passed on, so a
    /// configuration file's `[keys.token]` is what the service uses.
    pub fn start_with_env(
        data_dir: &Path,
        config: Option<&str>,
        args: &[&std::ffi::OsStr],
        env: &[(&str, &std::ffi::OsStr)],
    ) -> Self {
        let port = free_port();
        let mut command = Command::new(binary("trustmark-issuer"));
        command
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--data-dir",
            ])
            .arg(data_dir);
        if let Some(config) = config {
            let path = data_dir.with_extension("toml");
            std::fs::write(&path, config).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            command.arg("--config").arg(path);
        }
        command.args(args);
        // A test that names the database itself (empty: the embedded store) keeps its choice.
        let database_named = env.iter().any(|(name, _)| *name == "TRUSTMARK_DATABASE");
        if let (false, Some(url)) = (database_named, database_for(data_dir)) {
            command.env("TRUSTMARK_DATABASE", url);
        }
        if !env.is_empty() {
            for name in [
                "TRUSTMARK_PKCS11_MODULE",
                "TRUSTMARK_PKCS11_TOKEN_LABEL",
                "TRUSTMARK_PKCS11_PIN_FILE",
                "TRUSTMARK_PKCS11_PIN_ENV",
            ] {
                command.env_remove(name);
            }
            command.envs(env.iter().copied());
        }
        // TRUSTMARK_E2E_SERVER_LOGS=DIR keeps each service's log as DIR/<port>.log.
        let stderr = std::env::var_os("TRUSTMARK_E2E_SERVER_LOGS")
            .and_then(|dir| std::fs::File::create(Path::new(&dir).join(format!("{port}.log"))).ok())
            .map_or_else(Stdio::null, Stdio::from);
        let child = command
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start trustmark-issuer: {e}"));
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        let mut server = Self {
            child,
            data_dir: data_dir.to_path_buf(),
            base: format!("http://127.0.0.1:{port}"),
            admin_key: String::new(),
            agent,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if matches!(server.get("/healthz").status, 200 | 503) {
                break;
            }
            assert!(Instant::now() < deadline, "the service did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        server.admin_key = std::fs::read_to_string(data_dir.join("admin-api-key"))
            .unwrap_or_default()
            .trim()
            .to_owned();
        server
    }

    fn answer(result: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Answer {
        match result {
            Ok(mut response) => Answer {
                headers: response
                    .headers()
                    .iter()
                    .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
                    .collect(),
                status: response.status().as_u16(),
                content_type: response
                    .headers()
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned(),
                body: response
                    .body_mut()
                    .with_config()
                    .limit(64 * 1024 * 1024)
                    .read_to_vec()
                    .unwrap_or_default(),
            },
            // No HTTP answer: status 0, and the transport error as the body, for the message.
            Err(e) => Answer {
                status: 0,
                content_type: String::new(),
                body: format!("no answer: {e}").into_bytes(),
                headers: std::collections::HashMap::new(),
            },
        }
    }

    /// GET.
    pub fn get(&self, path: &str) -> Answer {
        Self::answer(self.agent.get(&format!("{}{path}", self.base)).call())
    }

    /// GET with headers.
    pub fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Answer {
        let mut request = self.agent.get(&format!("{}{path}", self.base));
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        Self::answer(request.call())
    }

    /// POST a body with a content type and an optional bearer key.
    pub fn post(&self, path: &str, key: Option<&str>, content_type: &str, body: &[u8]) -> Answer {
        let mut request = self
            .agent
            .post(&format!("{}{path}", self.base))
            .header("content-type", content_type);
        if let Some(key) = key {
            request = request.header("authorization", &format!("Bearer {key}"));
        }
        Self::answer(request.send(body))
    }

    /// PUT a body with a content type and a bearer key.
    pub fn put(&self, path: &str, key: &str, content_type: &str, body: &[u8]) -> Answer {
        let request = self
            .agent
            .put(&format!("{}{path}", self.base))
            .header("content-type", content_type)
            .header("authorization", &format!("Bearer {key}"));
        Self::answer(request.send(body))
    }

    /// POST JSON.
    pub fn post_json(&self, path: &str, key: Option<&str>, body: &serde_json::Value) -> Answer {
        self.post(path, key, "application/json", body.to_string().as_bytes())
    }

    /// POST a body with any headers (an `authorization` one included, if wanted).
    pub fn post_with(&self, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
        let mut request = self.agent.post(&format!("{}{path}", self.base));
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        Self::answer(request.send(body))
    }

    /// The value of a counter or gauge of `/metrics`.
    pub fn metric(&self, name: &str) -> u64 {
        self.get("/metrics")
            .text()
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{name} "))?.parse().ok())
            .unwrap_or_else(|| panic!("no metric {name}"))
    }

    /// The loopback address it listens on.
    pub fn address(&self) -> &str {
        self.base.trim_start_matches("http://")
    }

    /// POST over a raw connection, for bodies a client library would stop sending when the
    /// server answers early (the oversize check answers 413 before reading the body).
    pub fn post_raw(&self, path: &str, key: &str, body: &[u8]) -> Answer {
        use std::io::{Read, Write};
        let address = self.base.trim_start_matches("http://");
        let mut stream =
            std::net::TcpStream::connect(address).unwrap_or_else(|e| panic!("connect: {e}"));
        let head = format!(
            "POST {path} HTTP/1.1\r\nhost: {address}\r\nauthorization: Bearer {key}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        );
        let _ = stream.write_all(head.as_bytes());
        let _ = stream.write_all(body);
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response);
        let text = String::from_utf8_lossy(&response);
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.as_bytes().to_vec())
            .unwrap_or_default();
        Answer {
            status,
            content_type: String::new(),
            body,
            headers: std::collections::HashMap::new(),
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the process at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stops the process gracefully (SIGTERM) and waits for it.
    pub fn stop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}
