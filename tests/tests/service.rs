//! The issuer service end to end, against the real binary on a free loopback port.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::collections::HashSet;
use std::process::Command;

use serde_json::{json, Value};
use trustmark_e2e::flows::{assessment, certifier, issue, mark_request, FIRMWARE};
use trustmark_e2e::server::{audited, binary, Server, NO_PUBLIC_LIMIT};

/// The page path of a mark URL (the URL's host is the public base URL).
fn page_path(url: &str) -> String {
    let at = url.find("/V/").unwrap();
    url[at..].to_owned()
}

fn page_status(server: &Server, path: &str) -> String {
    let answer = server.get(path);
    assert_eq!(answer.status, 200);
    assert!(answer.content_type.starts_with("text/html"));
    let html = answer.text();
    let at = html.find("data-status=\"").unwrap() + 13;
    html[at..at + html[at..].find('"').unwrap()].to_owned()
}

#[test]
fn the_whole_flow() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(&dir.path().join("data"));
    let (_, key) = certifier(&server, "Acme Test Lab");
    let assessment_id = assessment(&server, &key);
    let mark = issue(&server, &key, &assessment_id);
    let mark_id = mark["mark_id"].as_str().unwrap();
    let url = mark["url"].as_str().unwrap();
    assert_eq!(mark["claims"][0]["class"], 1);

    // The public registry record, JSON and HTML.
    let record = server.get(&format!("/v1/marks/{mark_id}")).json();
    assert_eq!(record["status"], "valid");
    assert_eq!(record["vendor"], "Acme Devices Ltd");
    assert_eq!(
        record["claims"][0]["assessment_digest"]
            .as_str()
            .map(str::len),
        Some(64)
    );
    let html = server.get_with(&format!("/v1/marks/{mark_id}"), &[("accept", "text/html")]);
    assert!(html.text().contains("Valid trust mark"));

    // QR images: ZBar reads the URL back from the PNG; the SVG is an SVG.
    let png = server.get(&format!("/v1/marks/{mark_id}/qr.png"));
    assert_eq!(png.content_type, "image/png");
    let png_path = dir.path().join("qr.png");
    std::fs::write(&png_path, &png.body).unwrap();
    let zbar = Command::new("zbarimg")
        .args(["--quiet", "--raw"])
        .arg(&png_path)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&zbar.stdout).trim_end(), url);
    assert!(server
        .get(&format!("/v1/marks/{mark_id}/qr.svg"))
        .text()
        .contains("<svg"));

    // The page the QR opens, as printed and as a scanner may change it.
    let path = page_path(url);
    assert_eq!(page_status(&server, &path), "valid");
    assert_eq!(page_status(&server, &path.to_lowercase()), "valid");

    // Server-side verification.
    let verified = server
        .post_json(
            "/v1/verify",
            None,
            &json!({"mark": url, "firmware_sha256": FIRMWARE}),
        )
        .json();
    assert_eq!(verified["valid"], true, "{verified}");

    // Revoke: the record, the page, /v1/verify and the status list all say so.
    let revoked = server.post_json(
        &format!("/v1/marks/{mark_id}/revoke"),
        Some(&key),
        &json!({"reason": "firmware backdoor found"}),
    );
    assert_eq!(revoked.status, 200, "{}", revoked.text());
    assert_eq!(
        server.get(&format!("/v1/marks/{mark_id}")).json()["status"],
        "revoked"
    );
    assert_eq!(page_status(&server, &path), "revoked");
    assert_eq!(
        server
            .post_json("/v1/verify", None, &json!({"mark": url}))
            .json()["status"],
        "revoked"
    );
    let again = server.post_json(
        &format!("/v1/marks/{mark_id}/reinstate"),
        Some(&key),
        &json!({"reason": "oops"}),
    );
    assert_eq!(again.status, 409, "revocation is final");
    let list = server.get(&format!("/v1/status-lists/{}", mark["status_list"]));
    assert_eq!(list.content_type, "application/statuslist+cwt");
    let status_file = dir.path().join("status.cwt");
    std::fs::write(&status_file, &list.body).unwrap();
    let trust_file = dir.path().join("trust-list.cbor");
    std::fs::write(&trust_file, server.get("/v1/trust-list").body).unwrap();
    let root_file = dir.path().join("root.pem");
    std::fs::write(&root_file, server.get("/v1/pki/root.pem").body).unwrap();
    let cli = Command::new(binary("trustmark-verify"))
        .arg("--trust-list")
        .arg(&trust_file)
        .arg("--root")
        .arg(&root_file)
        .arg("--status-list")
        .arg(&status_file)
        .args(["--json", url])
        .output()
        .unwrap();
    assert_eq!(
        cli.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    assert!(
        String::from_utf8_lossy(&cli.stdout).contains("\"revoked\""),
        "{}",
        String::from_utf8_lossy(&cli.stdout)
    );

    // Online: the verifier fetches the trust list and the status list itself, then works from
    // its cache when the service is gone.
    let cache = dir.path().join("verifier-cache");
    let base = server.base.clone();
    let online = |expect_note: bool| {
        let out = Command::new(binary("trustmark-verify"))
            .args(["--online", &base, "--root"])
            .arg(&root_file)
            .arg("--cache-dir")
            .arg(&cache)
            .args(["--json", url])
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("\"revoked\""));
        assert_eq!(
            String::from_utf8_lossy(&out.stderr).contains("note:"),
            expect_note
        );
    };
    online(false);
    assert!(
        std::fs::read_dir(&cache).unwrap().count() >= 4,
        "trust list and status list cached"
    );

    // Suspend and reinstate another mark.
    let other = issue(&server, &key, &assessment_id);
    let other_id = other["mark_id"].as_str().unwrap();
    let other_path = page_path(other["url"].as_str().unwrap());
    assert_eq!(
        server
            .post_json(
                &format!("/v1/marks/{other_id}/suspend"),
                Some(&key),
                &json!({"reason": "under review"})
            )
            .status,
        200
    );
    assert_eq!(page_status(&server, &other_path), "suspended");
    assert_eq!(
        server
            .post_json(
                &format!("/v1/marks/{other_id}/reinstate"),
                Some(&key),
                &json!({"reason": "review passed"})
            )
            .status,
        200
    );
    assert_eq!(page_status(&server, &other_path), "valid");

    // A forged mark: not genuine.
    let mut forged = path.clone().into_bytes();
    let at = forged.len() - 20;
    forged[at] = if forged[at] == b'1' { b'2' } else { b'1' };
    assert_eq!(
        page_status(&server, &String::from_utf8(forged).unwrap()),
        "not_genuine"
    );

    // Batch issuance.
    let batch = server.post_json(
        "/v1/marks:batch",
        Some(&key),
        &json!({"marks": (0..5).map(|_| mark_request(&assessment_id)).collect::<Vec<_>>()}),
    );
    assert_eq!(batch.status, 201, "{}", batch.text());
    let marks = batch.json()["marks"].as_array().unwrap().clone();
    let indexes: HashSet<u64> = marks
        .iter()
        .map(|m| m["status_index"].as_u64().unwrap())
        .collect();
    assert_eq!(indexes.len(), 5);

    let metrics = server.get("/metrics").text();
    assert!(
        metrics.contains("trustmark_marks_issued_total 7"),
        "{metrics}"
    );

    // The service is gone: the verifier decides from its cache, and says so.
    server.kill();
    online(true);
}

#[test]
fn auth_matrix() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"));
    let (_, alice) = certifier(&server, "Alice Lab");
    let (_, bob) = certifier(&server, "Bob Lab");
    let assessment_id = assessment(&server, &alice);
    let mark_id = issue(&server, &alice, &assessment_id)["mark_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let wrong = "tmk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let cases: Vec<(String, Value, Option<&str>)> = vec![
        (
            "/v1/certifiers".into(),
            json!({"name": "X", "assurance": "self"}),
            Some(alice.as_str()),
        ),
        (
            "/v1/assessments".into(),
            json!({"framework": "uk-psti", "target_class": 1, "responses": []}),
            None,
        ),
        (
            "/v1/marks".into(),
            mark_request(&assessment_id),
            Some(bob.as_str()),
        ),
        (
            "/v1/marks:batch".into(),
            json!({"marks": [mark_request(&assessment_id)]}),
            Some(bob.as_str()),
        ),
        (
            format!("/v1/marks/{mark_id}/revoke"),
            json!({"reason": "r"}),
            Some(bob.as_str()),
        ),
        (
            format!("/v1/marks/{mark_id}/suspend"),
            json!({"reason": "r"}),
            Some(bob.as_str()),
        ),
        (
            format!("/v1/marks/{mark_id}/reinstate"),
            json!({"reason": "r"}),
            Some(bob.as_str()),
        ),
    ];
    for (path, body, other) in cases {
        assert_eq!(
            server.post_json(&path, None, &body).status,
            401,
            "{path} without a key"
        );
        assert_eq!(
            server.post_json(&path, Some(wrong), &body).status,
            401,
            "{path} with a wrong key"
        );
        if let Some(other) = other {
            let answer = server.post_json(&path, Some(other), &body);
            assert_eq!(
                answer.status,
                403,
                "{path} with another's key: {}",
                answer.text()
            );
            assert_eq!(answer.json()["error"]["code"], "forbidden");
        }
    }
    // The admin may act on any mark.
    let admin = server.post_json(
        &format!("/v1/marks/{mark_id}/suspend"),
        Some(&server.admin_key),
        &json!({"reason": "scheme audit"}),
    );
    assert_eq!(admin.status, 200, "{}", admin.text());
}

#[test]
fn bad_input_gets_clear_errors_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server =
        Server::start_with_config(&dir.path().join("data"), Some("max_body_bytes = 65536\n"));
    let (_, key) = certifier(&server, "Lab");
    let k = Some(key.as_str());
    let cases: Vec<(&str, &str, Vec<u8>, u16, &str)> = vec![
        (
            "/v1/marks",
            "application/json",
            b"{not json".to_vec(),
            400,
            "invalid_request",
        ),
        (
            "/v1/marks",
            "application/json",
            br#"{"vendor": 7}"#.to_vec(),
            400,
            "invalid_request",
        ),
        (
            "/v1/assessments",
            "application/json",
            br#"{"framework": "nist", "target_class": 1, "responses": []}"#.to_vec(),
            400,
            "invalid_request",
        ),
        (
            "/v1/assessments?framework=uk-psti&target_class=1",
            "text/csv",
            b"requirement,response\n1,C\n2,perhaps\n".to_vec(),
            400,
            "invalid_request",
        ),
        (
            "/v1/assessments",
            "image/gif",
            b"GIF89a".to_vec(),
            415,
            "unsupported_media_type",
        ),
        (
            "/v1/marks",
            "application/json",
            serde_json::to_vec(&mark_request("0000")).unwrap(),
            400,
            "invalid_request",
        ),
    ];
    for (path, content_type, body, status, code) in cases {
        let answer = server.post(path, k, content_type, &body);
        assert_eq!(answer.status, status, "{path}: {}", answer.text());
        assert_eq!(
            answer.json()["error"]["code"],
            code,
            "{path}: {}",
            answer.text()
        );
        assert!(!answer.json()["error"]["message"]
            .as_str()
            .unwrap_or("")
            .is_empty());
    }
    let oversize = server.post_raw("/v1/marks", &key, &vec![b' '; 100 * 1024]);
    assert_eq!(oversize.status, 413, "{}", oversize.text());
    assert!(oversize.text().contains("too_large"), "{}", oversize.text());
    let csv_error = server.post(
        "/v1/assessments?framework=uk-psti&target_class=1",
        k,
        "text/csv",
        b"requirement,response\n1,C\n2,perhaps\n",
    );
    assert!(csv_error.text().contains("row 3"), "{}", csv_error.text());
    let metrics = server.get("/metrics").text();
    assert!(metrics.contains("trustmark_marks_issued_total 0"));
    assert!(metrics.contains("trustmark_assessments_total 0"));
    assert_eq!(
        server
            .get("/v1/marks/00000000000000000000000000000000")
            .status,
        404
    );
    assert_eq!(
        server.get("/v1/nothing").json()["error"]["code"],
        "not_found"
    );
}

/// Kill the service with SIGKILL while a client issues marks: every mark that got a 201 is
/// there after a restart, verifies, has its own status index, and the audit chain holds.
#[test]
fn crash_safety() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = Server::start(&data);
    let (_, key) = certifier(&server, "Lab");
    let assessment_id = assessment(&server, &key);
    let acknowledged = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                for _ in 0..400 {
                    let answer =
                        server.post_json("/v1/marks", Some(&key), &mark_request(&assessment_id));
                    if answer.status != 201 {
                        break;
                    }
                    acknowledged.lock().unwrap().push(answer.json());
                }
            });
        }
        std::thread::sleep(std::time::Duration::from_millis(600));
        // SAFETY of the test: the kill lands while the clients are still sending.
        let _ = Command::new("kill")
            .args(["-9", &server.pid().to_string()])
            .status();
    });
    server.kill();
    let acknowledged = acknowledged.into_inner().unwrap();
    assert!(
        acknowledged.len() > 10,
        "too few marks issued before the kill: {}",
        acknowledged.len()
    );

    let server = Server::start_with_config(&data, Some(NO_PUBLIC_LIMIT));
    let mut indexes = HashSet::new();
    for mark in &acknowledged {
        let id = mark["mark_id"].as_str().unwrap();
        let record = server.get(&format!("/v1/marks/{id}"));
        assert_eq!(record.status, 200, "acknowledged mark {id} was lost");
        let verified = server
            .post_json("/v1/verify", None, &json!({"mark": mark["url"]}))
            .json();
        assert_eq!(verified["valid"], true, "{verified}");
        assert!(
            indexes.insert(mark["status_index"].as_u64().unwrap()),
            "status index reused"
        );
    }
    drop(server);
    let entries = audited(&data, None);
    assert!(entries > acknowledged.len() as u64, "{entries}");
}

/// A request with a body that is refused before its body is read (here: a wrong API key) is
/// answered with `Connection: close`, so a keep-alive client does not reuse a connection the
/// server is about to drop; a refused request without a body keeps its connection.
#[test]
fn early_refusals_close_the_connection() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"));
    let address = server.base.trim_start_matches("http://").to_owned();
    let head_of = |request: String, body: &[u8]| {
        let mut stream = std::net::TcpStream::connect(&address).unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut answer = vec![0u8; 4096];
        let n = stream.read(&mut answer).unwrap();
        // The body, sent after the answer, as a slow client would.
        let _ = stream.write_all(body);
        String::from_utf8_lossy(&answer[..n]).to_lowercase()
    };
    let body = b"{}";
    let with_body = head_of(
        format!(
            "POST /v1/marks HTTP/1.1\r\nhost: {address}\r\nauthorization: Bearer tmk_wrong\r\n\
             content-type: application/json\r\ncontent-length: {}\r\n\r\n",
            body.len()
        ),
        body,
    );
    assert!(with_body.starts_with("http/1.1 401"), "{with_body}");
    assert!(with_body.contains("connection: close"), "{with_body}");
    let without_body = head_of(
        format!(
            "GET /v1/marks/{} HTTP/1.1\r\nhost: {address}\r\n\r\n",
            "0".repeat(32)
        ),
        b"",
    );
    assert!(without_body.starts_with("http/1.1 404"), "{without_body}");
    assert!(
        !without_body.contains("connection: close"),
        "{without_body}"
    );
}

/// Assess once, claim many: an ETSI EN 303 645 assessment pre-fills UK PSTI through the
/// deemed-compliance links of PSTI Schedule 2. The pre-filled rows meet nothing until the
/// certifier confirms them; confirmed and completed, the assessment carries a mark.
#[test]
fn an_assessment_is_reused_for_another_framework_once_confirmed() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"));
    let (_, alice) = certifier(&server, "Alice Lab");
    let (_, bob) = certifier(&server, "Bob Lab");
    let etsi = server.post_json(
        "/v1/assessments",
        Some(&alice),
        &json!({"framework": "etsi-en-303-645", "target_class": 1, "responses": [
            {"requirement": "5.1-1", "response": "C", "evidence": "PW-REPORT"},
            {"requirement": "5.1-2", "response": "NA", "justification": "no pre-installed passwords"},
            {"requirement": "5.2-1", "response": "C", "evidence": "VDP-URL"}]}),
    );
    assert_eq!(etsi.status, 201, "{}", etsi.text());
    let etsi_id = etsi.json()["assessment_id"].as_str().unwrap().to_owned();
    let reuse = |key: &str, query: &str| {
        server.get_with(
            &format!("/v1/assessments/{etsi_id}/reuse?{query}"),
            &[("authorization", &format!("Bearer {key}"))],
        )
    };
    let draft = reuse(&alice, "framework=uk-psti&target_class=1");
    assert_eq!(draft.status, 200, "{}", draft.text());
    let mut draft = draft.json();
    assert_eq!(
        (
            &draft["framework"],
            &draft["release"],
            &draft["target_class"]
        ),
        (&json!("uk-psti"), &json!("2023"), &json!(1))
    );
    let rows = draft["responses"].as_array().unwrap();
    let carried: Vec<(&str, &str, bool)> = rows
        .iter()
        .map(|r| {
            (
                r["requirement"].as_str().unwrap(),
                r["carried_over"]["from"].as_str().unwrap(),
                r["carried_over"]["confirmed"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        carried,
        [
            ("1", "etsi-en-303-645 2.1.1: 5.1-1, 5.1-2", false),
            ("2", "etsi-en-303-645 2.1.1: 5.2-1", false)
        ]
    );
    // Sent back as it is: the carried rows are not met, paragraph 3 has no answer.
    let unconfirmed = server.post_json("/v1/assessments", Some(&alice), &draft);
    assert_eq!(unconfirmed.status, 201, "{}", unconfirmed.text());
    let reasons: Vec<(String, String)> = unconfirmed.json()["blocking"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["id"].as_str().unwrap().into(),
                b["reason"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        reasons,
        [
            ("1".into(), "not_confirmed".into()),
            ("2".into(), "not_confirmed".into()),
            ("3".into(), "no_response".into())
        ]
    );
    // The certifier checks each carried row, confirms it, and answers paragraph 3.
    let responses = draft["responses"].as_array_mut().unwrap();
    for r in responses.iter_mut() {
        r["carried_over"]["confirmed"] = json!(true);
    }
    responses.push(json!({"requirement": "3", "response": "C", "evidence": "SUPPORT-PAGE"}));
    let confirmed = server.post_json("/v1/assessments", Some(&alice), &draft);
    assert_eq!(confirmed.status, 201, "{}", confirmed.text());
    assert_eq!(confirmed.json()["achieved_class"], 1);
    let id = confirmed.json()["assessment_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mark = issue(&server, &alice, &id);
    assert!(mark["mark_id"].is_string());
    let stored = server.get_with(
        &format!("/v1/assessments/{id}"),
        &[("authorization", &format!("Bearer {alice}"))],
    );
    assert_eq!(
        stored.json()["responses"][0]["carried_over"]["source"]
            .as_str()
            .unwrap()
            .split(':')
            .next(),
        Some("psti-2023-sch2")
    );
    // Refusals: another certifier's assessment, no published link, no such framework.
    let answer = reuse(&bob, "framework=uk-psti");
    assert_eq!(
        (answer.status, answer.json()["error"]["code"].clone()),
        (403, json!("forbidden"))
    );
    let answer = reuse(&alice, "framework=nist-ir-8425");
    assert_eq!(answer.status, 422, "{}", answer.text());
    assert_eq!(answer.json()["error"]["code"], "no_crosswalk");
    let answer = reuse(&alice, "framework=iotsf-icaf&release=2.1");
    assert_eq!(answer.status, 400, "{}", answer.text());
    assert_eq!(
        answer.json()["error"]["message"],
        "iotsf-icaf has no built-in release \"2.1\" (releases: 3.0, 4.0)"
    );
}
