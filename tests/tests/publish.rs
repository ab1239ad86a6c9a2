//! `trustmark-issuer publish`: the read path as static files, served by a plain static file
//! server (Python's `http.server`), verified by `trustmark-verify` from there, and revocations
//! seen after the next publication.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use trustmark_e2e::flows::{assessment, issue};
use trustmark_e2e::server::{binary, Server};

/// A plain static file server on `dir`, stopped when dropped.
struct StaticServer {
    child: Child,
    base: String,
}

impl StaticServer {
    fn start(dir: &Path) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap();
        let child = Command::new("python3")
            .args([
                "-m",
                "http.server",
                "--bind",
                "127.0.0.1",
                &port.to_string(),
                "--directory",
            ])
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the static server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child, base }
    }
}

impl Drop for StaticServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn publish(server: &Server, out: &Path) {
    let result = Command::new(binary("trustmark-issuer"))
        .args(["publish", "--service", &server.base, "--out"])
        .arg(out)
        .output()
        .unwrap();
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
}

/// `trustmark-verify --json` of `token` against the published files, the status list fetched
/// from the static server.
fn verify_from(published: &Path, status_list_url: &str, token: &str) -> serde_json::Value {
    let out = Command::new(binary("trustmark-verify"))
        .arg("--trust-list")
        .arg(published.join("v1/trust-list"))
        .arg("--root")
        .arg(published.join("v1/pki/root.pem"))
        .args(["--status-list", status_list_url, "--json", token])
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[test]
fn the_published_read_path_verifies_from_a_static_server_and_shows_revocations() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"));
    let key = std::fs::read_to_string(dir.path().join("data/dev-certifier-api-key")).unwrap();
    let key = key.trim().to_owned();
    let mark = issue(&server, &key, &assessment(&server, &key));
    let token = mark["token"].as_str().unwrap().to_owned();
    let list = mark["status_list"].as_u64().unwrap();

    let published = dir.path().join("www");
    publish(&server, &published);
    // The same bytes as the service's own answers.
    for path in ["/v1/trust-list", "/v1/pki/root.pem"] {
        assert_eq!(
            std::fs::read(published.join(path.trim_start_matches('/'))).unwrap(),
            server.get(path).body,
            "{path}"
        );
    }
    let headers = std::fs::read_to_string(published.join("_headers")).unwrap();
    assert!(
        headers.contains(&format!("/v1/status-lists/{list}\n  Content-Type: ")),
        "{headers}"
    );
    assert!(headers.contains("Cache-Control: max-age="), "{headers}");

    let www = StaticServer::start(&published);
    let status_url = format!("{}/v1/status-lists/{list}", www.base);
    let before = verify_from(&published, &status_url, &token);
    assert_eq!(before["valid"], true, "{before}");

    let mark_id = mark["mark_id"].as_str().unwrap();
    let revoked = server.post_json(
        &format!("/v1/marks/{mark_id}/revoke"),
        Some(&key),
        &json!({"reason": "key compromise"}),
    );
    assert_eq!(revoked.status, 200, "{}", revoked.text());
    // Still valid from the static copy until it is published again.
    assert_eq!(verify_from(&published, &status_url, &token)["valid"], true);
    publish(&server, &published);
    let after = verify_from(&published, &status_url, &token);
    assert_eq!(after["error"]["code"], "revoked", "{after}");
}
