//! The service as a hostile client would try it, against the real binary: oversized and
//! malformed uploads of each format, decompression bombs, odd paths and headers, header floods,
//! idle and slow connections, forged and replayed tokens, floods of the public routes,
//! concurrent status changes, retried writes, and keys used after they were revoked. Each case
//! asserts the status, the error code, and that nothing was stored (the audit log, which every
//! change extends, and the counters stay put). Time and memory are measured by
//! `scripts/bench-hostile`, not asserted here (`spec/api.md` 12).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use trustmark_e2e::flows::{assessment, certifier, issue, mark_request, PSTI_CSV};
use trustmark_e2e::hostile::uploads;
use trustmark_e2e::server::{Answer, Server, NO_PUBLIC_LIMIT};

/// What the store holds, as far as a client can see: every change adds an audit entry.
#[derive(Debug, PartialEq, Eq)]
struct Stored {
    audit: u64,
    marks: u64,
    assessments: u64,
    status_changes: u64,
}

fn stored(server: &Server) -> Stored {
    Stored {
        audit: server.metric("trustmark_audit_entries"),
        marks: server.metric("trustmark_marks_issued_total"),
        assessments: server.metric("trustmark_assessments_total"),
        status_changes: server.metric("trustmark_status_changes_total"),
    }
}

/// Asserts an answer's status and error code, naming the case.
fn refused(case: &str, answer: &Answer, status: u16, code: &str) {
    assert_eq!(
        (answer.status, answer.code().as_str()),
        (status, code),
        "{case}: {}",
        answer.text()
    );
}

#[test]
fn hostile_uploads_are_refused_within_their_budgets_and_store_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"));
    let (_, key) = certifier(&server, "Lab");
    let before = stored(&server);
    for upload in uploads() {
        let answer = server.post(
            "/v1/assessments?framework=uk-psti&target_class=1",
            Some(&key),
            upload.content_type,
            &upload.body,
        );
        refused(upload.name, &answer, upload.status, upload.code);
    }
    // Over the body limit: refused before it is read (a raw connection, since a client library
    // stops sending when the answer comes early).
    let answer = server.post_raw(
        "/v1/assessments?framework=uk-psti&target_class=1",
        &key,
        &vec![b' '; 4 * 1024 * 1024 + 1],
    );
    assert_eq!(answer.status, 413, "{}", answer.text());
    // Targets and parameters.
    let answer = server.post(
        "/v1/assessments?framework=iotsf-icaf&release=9.9&target_class=1",
        Some(&key),
        "text/csv",
        b"requirement,response\n",
    );
    refused("a release not built in", &answer, 400, "invalid_request");
    let answer = server.post(
        "/v1/assessments?framework=uk-psti&target_class=1&api_key=x",
        Some(&key),
        "text/csv",
        PSTI_CSV.as_bytes(),
    );
    refused(
        "an unknown query parameter",
        &answer,
        400,
        "invalid_request",
    );
    let answer = server.post(
        "/v1/assessments?framework=uk-psti&target_class=999",
        Some(&key),
        "text/csv",
        PSTI_CSV.as_bytes(),
    );
    refused("a class that is not a u8", &answer, 400, "invalid_request");
    assert_eq!(stored(&server), before);
    // The service is still well.
    assessment(&server, &key);
}

#[test]
fn hostile_mark_requests_and_paths_store_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"));
    let (_, key) = certifier(&server, "Lab");
    let assessment_id = assessment(&server, &key);
    let mark = issue(&server, &key, &assessment_id);
    let before = stored(&server);
    let with = |field: &str, value: Value| {
        let mut request = mark_request(&assessment_id);
        request[field] = value;
        request
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "a control character in the vendor",
            with("vendor", json!("Acme\u{7}")).to_string().into_bytes(),
        ),
        (
            "a model of 65 bytes",
            with("model", json!("m".repeat(65)))
                .to_string()
                .into_bytes(),
        ),
        (
            "an unknown field",
            with("class", json!(4)).to_string().into_bytes(),
        ),
        (
            "a path as an assessment id",
            with("assessment_id", json!("../../../etc/passwd"))
                .to_string()
                .into_bytes(),
        ),
        (
            "valid_days of 0",
            with("valid_days", json!(0)).to_string().into_bytes(),
        ),
        (
            "valid_days negative",
            with("valid_days", json!(-1)).to_string().into_bytes(),
        ),
        (
            "a firmware digest that is not hex",
            with(
                "firmware",
                json!({"version": "1", "sha256": "zz".repeat(32)}),
            )
            .to_string()
            .into_bytes(),
        ),
        (
            "a day that does not exist",
            with("support_until", json!("2030-02-30"))
                .to_string()
                .into_bytes(),
        ),
        (
            "trailing bytes after the JSON",
            format!("{} {{}}", mark_request(&assessment_id)).into_bytes(),
        ),
        ("not JSON", b"vendor=Acme".to_vec()),
        ("a JSON string", b"\"mark\"".to_vec()),
        ("an empty body", Vec::new()),
    ];
    for (case, body) in cases {
        let answer = server.post("/v1/marks", Some(&key), "application/json", &body);
        refused(case, &answer, 400, "invalid_request");
    }
    let batch = json!({"marks": vec![mark_request(&assessment_id); 1001]});
    let answer = server.post_json("/v1/marks:batch", Some(&key), &batch);
    refused("a batch of 1001", &answer, 400, "invalid_request");
    let answer = server.post_json("/v1/marks:batch", Some(&key), &json!({"marks": []}));
    refused("an empty batch", &answer, 400, "invalid_request");
    let reason = |text: &str| json!({ "reason": text });
    let mark_id = mark["mark_id"].as_str().unwrap();
    let revoke = format!("/v1/marks/{mark_id}/revoke");
    for (case, body) in [
        ("a reason of 513 bytes", reason(&"r".repeat(513))),
        ("a reason of white space", reason("   ")),
        (
            "a reason with a control character",
            reason("key\u{1b}[31m compromise"),
        ),
    ] {
        let answer = server.post_json(&revoke, Some(&key), &body);
        refused(case, &answer, 400, "invalid_request");
    }
    // Odd paths: nothing outside an id's form is looked up.
    for path in [
        "/v1/marks/..%2F..%2Fetc%2Fpasswd",
        "/v1/marks/%00",
        &format!("/v1/marks/{}", mark_id.to_uppercase()),
        &format!("/v1/marks/{mark_id}x"),
        "/v1/marks/../../etc/passwd",
        "/v1/status-lists/9999",
    ] {
        let answer = server.get(path);
        refused(path, &answer, 404, "not_found");
    }
    let answer = server.get_with(
        "/v1/assessments/%2e%2e%2f%2e%2e",
        &[("authorization", &format!("Bearer {key}"))],
    );
    refused("a traversal as an assessment id", &answer, 404, "not_found");
    // A key in the query string is not a key.
    let answer = server.post(
        &format!("/v1/marks?api_key={key}"),
        None,
        "application/json",
        mark_request(&assessment_id).to_string().as_bytes(),
    );
    refused(
        "the API key in the query string",
        &answer,
        401,
        "unauthorized",
    );
    let answer = server.post_with(
        "/v1/marks",
        &[
            ("authorization", &format!("bearer {key}")),
            ("content-type", "application/json"),
        ],
        mark_request(&assessment_id).to_string().as_bytes(),
    );
    refused("a lower-case bearer scheme", &answer, 401, "unauthorized");
    let answer = server.get_with("/v1/marks", &[]);
    refused("GET on a POST route", &answer, 405, "method_not_allowed");
    assert_eq!(stored(&server), before);
}

/// A raw connection to the server.
fn connect(server: &Server) -> TcpStream {
    let stream = TcpStream::connect(server.address()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
}

/// Reads what the server sends until it closes the connection (or 10 s pass).
fn read_to_close(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

/// The status code of a raw answer (0 if none came).
fn raw_status(answer: &str) -> u16 {
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

#[test]
fn header_floods_and_idle_or_slow_connections_are_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let config =
        "header_read_timeout_seconds = 1\nbody_read_timeout_seconds = 1\nmax_connections = 64\n";
    let server = Server::start_with_config(&dir.path().join("data"), Some(config));
    let before = stored(&server);
    // 200 headers.
    let mut stream = connect(&server);
    let mut request = String::from("GET /healthz HTTP/1.1\r\nhost: x\r\n");
    for i in 0..200 {
        request.push_str(&format!("x-flood-{i}: {i}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    assert_eq!(raw_status(&read_to_close(&mut stream)), 431, "200 headers");
    // One header of 1 MiB.
    let mut stream = connect(&server);
    let huge = format!(
        "GET /healthz HTTP/1.1\r\nhost: x\r\ncookie: {}\r\n\r\n",
        "c".repeat(1 << 20)
    );
    let _ = stream.write_all(huge.as_bytes());
    let answer = read_to_close(&mut stream);
    assert!(
        matches!(raw_status(&answer), 431 | 0),
        "a 1 MiB header: {answer:.80}"
    );
    // Idle connections and a slowloris (headers a byte at a time) are closed after the
    // header-read timeout, without an answer.
    let idle: Vec<TcpStream> = (0..20).map(|_| connect(&server)).collect();
    let mut slow = connect(&server);
    slow.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nx-slow: ")
        .unwrap();
    let started = Instant::now();
    let mut closed_at = None;
    while started.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(200));
        if slow.write_all(b"a").is_err() {
            closed_at = Some(started.elapsed());
            break;
        }
    }
    assert!(
        closed_at.is_some(),
        "the slowloris connection stayed open 5 s"
    );
    for mut stream in idle {
        assert_eq!(
            read_to_close(&mut stream),
            "",
            "an idle connection got an answer"
        );
    }
    // A body sent a byte every 200 ms: 408 after the body deadline.
    let mut slow_body = connect(&server);
    slow_body
        .write_all(b"POST /v1/verify HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{")
        .unwrap();
    let sender = std::thread::spawn({
        let mut stream = slow_body.try_clone().unwrap();
        move || {
            for _ in 0..20 {
                std::thread::sleep(Duration::from_millis(200));
                if stream.write_all(b" ").is_err() {
                    break;
                }
            }
        }
    });
    let answer = read_to_close(&mut slow_body);
    sender.join().unwrap();
    assert_eq!(raw_status(&answer), 408, "{answer}");
    assert!(answer.contains("body_timeout"), "{answer}");
    // Through all of it the service answers others, and stored nothing.
    assert_eq!(server.get("/healthz").status, 200);
    assert_eq!(stored(&server), before);
}

#[test]
fn forged_replayed_and_foreign_tokens_verify_as_what_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with_config(&dir.path().join("data"), Some(NO_PUBLIC_LIMIT));
    let (_, key) = certifier(&server, "Lab");
    let assessment_id = assessment(&server, &key);
    let mark = issue(&server, &key, &assessment_id);
    let token = mark["token"].as_str().unwrap();
    let verify = |text: &str| {
        let answer = server.post_json("/v1/verify", None, &json!({ "mark": text }));
        assert_eq!(answer.status, 200, "{}", answer.text());
        answer.json()
    };
    assert_eq!(verify(token)["status"], "valid");
    // The signature's last byte flipped.
    let mut bytes =
        base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, token).unwrap();
    *bytes.last_mut().unwrap() ^= 1;
    let forged = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &bytes);
    let outcome = verify(&forged);
    assert_eq!(
        (
            outcome["status"].as_str(),
            outcome["error"]["code"].as_str()
        ),
        (Some("not_genuine"), Some("bad_signature"))
    );
    // A mark of a key no trust list names (the test vectors' stranger).
    let vectors: Value = serde_json::from_slice(
        &std::fs::read(trustmark_e2e::vectors_dir().join("marks.json")).unwrap(),
    )
    .unwrap();
    let stranger = vectors["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "unknown-kid")
        .expect("the vector of an unknown key");
    let foreign = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        hex::decode(stranger["token"].as_str().unwrap()).unwrap(),
    );
    assert_eq!(verify(&foreign)["error"]["code"], "unknown_kid");
    // The page says the same for the forged mark.
    let digits = trustmark_format::qr_text::encode(&bytes);
    let page = server.get(&format!("/V/{digits}")).text();
    assert!(page.contains("data-status=\"not_genuine\""), "{page:.300}");
    // A genuine token replayed after its mark was revoked is a revoked mark, not a valid one.
    let before = stored(&server);
    let revoke = server.post_json(
        &format!("/v1/marks/{}/revoke", mark["mark_id"].as_str().unwrap()),
        Some(&key),
        &json!({"reason": "cloned devices"}),
    );
    assert_eq!(revoke.status, 200);
    assert_eq!(verify(token)["status"], "revoked");
    assert_eq!(verify(mark["url"].as_str().unwrap())["status"], "revoked");
    let after = stored(&server);
    assert_eq!(
        (after.audit, after.status_changes),
        (before.audit + 1, before.status_changes + 1)
    );
    assert_eq!(after.marks, before.marks, "verification stored nothing");
}

#[test]
fn public_routes_are_rate_limited_per_client() {
    let dir = tempfile::tempdir().unwrap();
    let config = "public_rate_limit_per_second = 1\npublic_rate_limit_burst = 3\n";
    let server = Server::start_with_config(&dir.path().join("data"), Some(config));
    // Four base64url characters: three bytes that are no mark (200 not_genuine).
    let forged = json!({"mark": "AAAA"});
    for _ in 0..3 {
        assert_eq!(server.post_json("/v1/verify", None, &forged).status, 200);
    }
    let answer = server.post_json("/v1/verify", None, &forged);
    refused("the 4th verification", &answer, 429, "rate_limited");
    let retry: u64 = answer.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "Retry-After {retry}");
    // A forwarded-for header from a peer that is not a trusted proxy changes nothing.
    let answer = server.post_with(
        "/v1/verify",
        &[
            ("content-type", "application/json"),
            ("x-forwarded-for", "203.0.113.9"),
        ],
        forged.to_string().as_bytes(),
    );
    refused("a forged X-Forwarded-For", &answer, 429, "rate_limited");
    refused("the page", &server.get("/V/1234567"), 429, "rate_limited");
    assert!(server.metric("trustmark_public_rate_limited_total") >= 3);
    // Authenticated and cheap routes are not under this limit.
    assert_eq!(server.get("/v1/trust-list").status, 200);

    // Behind a trusted proxy, each forwarded client has its own bucket.
    let dir = tempfile::tempdir().unwrap();
    let config = "public_rate_limit_per_second = 1\npublic_rate_limit_burst = 1\n\
                  trusted_proxy_header = \"x-forwarded-for\"\ntrusted_proxies = [\"127.0.0.1\"]\n";
    let server = Server::start_with_config(&dir.path().join("data"), Some(config));
    let from = |client: &str| {
        server
            .post_with(
                "/v1/verify",
                &[
                    ("content-type", "application/json"),
                    ("x-forwarded-for", &format!("198.51.100.1, {client}")),
                ],
                forged.to_string().as_bytes(),
            )
            .status
    };
    assert_eq!(
        [from("192.0.2.1"), from("192.0.2.2"), from("192.0.2.1")],
        [200, 200, 429]
    );
    // The same /64 of IPv6 is one client.
    assert_eq!([from("2001:db8::1"), from("2001:db8::2")], [200, 429]);
}

#[test]
fn concurrent_status_changes_of_one_mark_are_serialised() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"));
    let (_, key) = certifier(&server, "Lab");
    let assessment_id = assessment(&server, &key);
    let mark = issue(&server, &key, &assessment_id);
    let id = mark["mark_id"].as_str().unwrap();
    let before = stored(&server);
    let answers = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for i in 0..24 {
            let change = ["suspend", "reinstate", "revoke"][i % 3];
            let (server, key, answers) = (&server, &key, &answers);
            scope.spawn(move || {
                let answer = server.post_json(
                    &format!("/v1/marks/{id}/{change}"),
                    Some(key),
                    &json!({"reason": format!("{change} {i}")}),
                );
                answers
                    .lock()
                    .unwrap()
                    .push((change, answer.status, answer.code()));
            });
        }
    });
    let answers = answers.into_inner().unwrap();
    for (change, status, code) in &answers {
        assert!(
            matches!(
                (*status, code.as_str()),
                (200, "") | (409, "already_revoked" | "invalid_transition")
            ),
            "{change}: {status} {code}"
        );
    }
    let applied = answers.iter().filter(|(_, s, _)| *s == 200).count() as u64;
    let revoked = answers
        .iter()
        .filter(|(c, s, _)| *c == "revoke" && *s == 200)
        .count();
    assert_eq!(
        revoked, 1,
        "revocation is final: exactly one revoke applies"
    );
    let after = stored(&server);
    assert_eq!(after.status_changes - before.status_changes, applied);
    assert_eq!(after.audit - before.audit, applied);
    assert_eq!(
        server.get(&format!("/v1/marks/{id}")).json()["status"],
        "revoked"
    );
}

#[test]
fn retried_writes_with_an_idempotency_key_take_effect_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = Server::start(&data);
    let (_, key) = certifier(&server, "Lab");
    let (_, other_key) = certifier(&server, "Other Lab");
    let assessment_id = assessment(&server, &key);
    let other_assessment = assessment(&server, &other_key);
    let request = mark_request(&assessment_id).to_string();
    let post = |key: &str, idempotency: &str, body: &str| {
        server.post_with(
            "/v1/marks",
            &[
                ("authorization", &format!("Bearer {key}")),
                ("content-type", "application/json"),
                ("idempotency-key", idempotency),
            ],
            body.as_bytes(),
        )
    };
    let before = stored(&server);
    let first = post(&key, "retry-1", &request);
    assert_eq!(first.status, 201, "{}", first.text());
    assert_eq!(first.header("idempotent-replayed"), None);
    let retry = post(&key, "retry-1", &request);
    assert_eq!(
        (retry.status, retry.header("idempotent-replayed")),
        (201, Some("true"))
    );
    assert_eq!(
        retry.json(),
        first.json(),
        "the stored answer, byte for byte"
    );
    assert_eq!(stored(&server).marks, before.marks + 1);
    // The same key for another request.
    let other = mark_request(&assessment_id)
        .to_string()
        .replace("SmartHub", "OtherHub");
    refused(
        "a reused key",
        &post(&key, "retry-1", &other),
        422,
        "idempotency_key_reused",
    );
    for bad in ["", &"k".repeat(256), "two words"] {
        refused(
            bad,
            &post(&key, bad, &request),
            400,
            "invalid_idempotency_key",
        );
    }
    // Keys are scoped to the API key: another certifier's "retry-1" is its own.
    let theirs = post(
        &other_key,
        "retry-1",
        &mark_request(&other_assessment).to_string(),
    );
    assert_eq!(theirs.status, 201);
    assert_ne!(theirs.json()["mark_id"], first.json()["mark_id"]);
    // A retried revoke answers what the first one did, not 409.
    let mark_id = first.json()["mark_id"].as_str().unwrap().to_owned();
    let revoke = |idempotency: &str| {
        server.post_with(
            &format!("/v1/marks/{mark_id}/revoke"),
            &[
                ("authorization", &format!("Bearer {key}")),
                ("content-type", "application/json"),
                ("idempotency-key", idempotency),
            ],
            br#"{"reason": "recall"}"#,
        )
    };
    let revoked = revoke("revoke-1");
    assert_eq!(revoked.status, 200, "{}", revoked.text());
    let again = revoke("revoke-1");
    assert_eq!((again.status, again.json()), (200, revoked.json()));
    refused(
        "a new key on a revoked mark",
        &revoke("revoke-2"),
        409,
        "already_revoked",
    );
    // A certifier created with a key: the retry does not show the API key again.
    let create = |idempotency: &str| {
        server.post_with(
            "/v1/certifiers",
            &[
                ("authorization", &format!("Bearer {}", server.admin_key)),
                ("content-type", "application/json"),
                ("idempotency-key", idempotency),
            ],
            br#"{"name": "Retry Lab", "assurance": "third-party"}"#,
        )
    };
    let created = create("certifier-1");
    assert!(created.json()["api_key"]
        .as_str()
        .unwrap()
        .starts_with("tmk_"));
    let replayed = create("certifier-1").json();
    assert_eq!(replayed["certifier_id"], created.json()["certifier_id"]);
    assert_eq!(
        (
            replayed["api_key"].clone(),
            replayed["api_key_withheld"].clone()
        ),
        (Value::Null, json!(true))
    );
    // Stored durably: the retry after a restart still finds the answer.
    server.stop();
    let server = Server::start(&data);
    let after_restart = server.post_with(
        "/v1/marks",
        &[
            ("authorization", &format!("Bearer {key}")),
            ("content-type", "application/json"),
            ("idempotency-key", "retry-1"),
        ],
        request.as_bytes(),
    );
    assert_eq!(
        (after_restart.status, after_restart.json()),
        (201, first.json())
    );
    // Eight clients sending the same request with the same key at once: one mark.
    let before = stored(&server);
    let answers = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| {
                let answer = server.post_with(
                    "/v1/marks",
                    &[
                        ("authorization", &format!("Bearer {key}")),
                        ("content-type", "application/json"),
                        ("idempotency-key", "burst-1"),
                    ],
                    request.as_bytes(),
                );
                answers.lock().unwrap().push(answer);
            });
        }
    });
    let answers = answers.into_inner().unwrap();
    let ids: std::collections::HashSet<String> = answers
        .iter()
        .filter(|a| a.status == 201)
        .map(|a| a.json()["mark_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 1, "one mark for one key");
    for answer in &answers {
        assert!(
            answer.status == 201
                || (answer.status, answer.code().as_str()) == (409, "idempotency_key_in_flight"),
            "{}",
            answer.text()
        );
    }
    assert_eq!(stored(&server).marks, before.marks + 1);
}

#[test]
fn api_keys_can_be_listed_replaced_expired_and_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"));
    let admin = server.admin_key.clone();
    let (certifier_id, old_key) = certifier(&server, "Lab");
    let assessment_id = assessment(&server, &old_key);
    let listed = server.get_with(
        "/v1/certifiers",
        &[("authorization", &format!("Bearer {admin}"))],
    );
    assert_eq!(listed.status, 200);
    // The development certifier made at the first start, and this one.
    let certifiers = listed.json()["certifiers"].as_array().unwrap().clone();
    assert_eq!(certifiers.len(), 2);
    let ours = certifiers
        .iter()
        .find(|c| c["certifier_id"] == certifier_id.as_str())
        .unwrap();
    let keys = ours["api_keys"].as_array().unwrap();
    assert_eq!((keys.len(), keys[0]["state"].as_str()), (1, Some("active")));
    assert!(
        !listed.text().contains(&old_key),
        "a listing never shows a key"
    );
    let old_key_id = keys[0]["key_id"].as_str().unwrap().to_owned();
    // A replacement key, then the old one revoked: 401 at once on every route.
    let replacement = server.post(
        &format!("/v1/certifiers/{certifier_id}/api-keys"),
        Some(&admin),
        "application/json",
        b"",
    );
    assert_eq!(replacement.status, 201, "{}", replacement.text());
    let new_key = replacement.json()["api_key"].as_str().unwrap().to_owned();
    let before = stored(&server);
    let revoked = server.post_json(
        &format!("/v1/api-keys/{old_key_id}/revoke"),
        Some(&admin),
        &json!({"reason": "laptop stolen"}),
    );
    assert_eq!(revoked.status, 200, "{}", revoked.text());
    assert_eq!(revoked.json()["state"], "revoked");
    assert_eq!(stored(&server).audit, before.audit + 1);
    let mark = issue(&server, &new_key, &assessment_id);
    let revoke_mark = format!("/v1/marks/{}/revoke", mark["mark_id"].as_str().unwrap());
    let attempts = [
        server.post_json("/v1/marks", Some(&old_key), &mark_request(&assessment_id)),
        server.post(
            "/v1/assessments?framework=uk-psti&target_class=1",
            Some(&old_key),
            "text/csv",
            PSTI_CSV.as_bytes(),
        ),
        server.get_with(
            &format!("/v1/assessments/{assessment_id}"),
            &[("authorization", &format!("Bearer {old_key}"))],
        ),
        server.post_json(&revoke_mark, Some(&old_key), &json!({"reason": "x"})),
        server.post_json(
            "/v1/marks:batch",
            Some(&old_key),
            &json!({"marks": [mark_request(&assessment_id)]}),
        ),
    ];
    for answer in &attempts {
        refused("the revoked key", answer, 401, "unauthorized");
        assert_eq!(answer.json()["error"]["message"], "the API key is revoked");
    }
    refused(
        "a certifier on an admin route",
        &server.post_json("/v1/admin/api-keys", Some(&new_key), &json!({})),
        403,
        "forbidden",
    );
    // A second admin key; the bootstrap key revoked with it; the last one cannot go.
    let second = server.post_json("/v1/admin/api-keys", Some(&admin), &json!({}));
    assert_eq!(second.status, 201, "{}", second.text());
    let second_key = second.json()["api_key"].as_str().unwrap().to_owned();
    let second_id = second.json()["key_id"].as_str().unwrap().to_owned();
    let admins = server.get_with(
        "/v1/admin/api-keys",
        &[("authorization", &format!("Bearer {second_key}"))],
    );
    let bootstrap_id = admins.json()["api_keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["key_id"] != second_id.as_str())
        .unwrap()["key_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let answer = server.post_json(
        &format!("/v1/api-keys/{bootstrap_id}/revoke"),
        Some(&second_key),
        &json!({"reason": "bootstrap key retired"}),
    );
    assert_eq!(answer.status, 200, "{}", answer.text());
    refused(
        "the bootstrap key",
        &server.get_with(
            "/v1/certifiers",
            &[("authorization", &format!("Bearer {admin}"))],
        ),
        401,
        "unauthorized",
    );
    let answer = server.post_json(
        &format!("/v1/api-keys/{second_id}/revoke"),
        Some(&second_key),
        &json!({"reason": "oops"}),
    );
    refused("the last admin key", &answer, 409, "last_admin_key");
    refused(
        "an unknown key id",
        &server.post_json(
            &format!("/v1/api-keys/{}/revoke", "0".repeat(32)),
            Some(&second_key),
            &json!({"reason": "x"}),
        ),
        404,
        "not_found",
    );
    // A key with an expiry stops at it.
    let expires_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 2;
    let short = server.post_json(
        &format!("/v1/certifiers/{certifier_id}/api-keys"),
        Some(&second_key),
        &json!({ "expires_at": expires_at }),
    );
    assert_eq!(short.status, 201, "{}", short.text());
    let short_key = short.json()["api_key"].as_str().unwrap().to_owned();
    assert_eq!(
        server
            .get_with(
                &format!("/v1/assessments/{assessment_id}"),
                &[("authorization", &format!("Bearer {short_key}"))]
            )
            .status,
        200
    );
    std::thread::sleep(Duration::from_millis(2100));
    let answer = server.get_with(
        &format!("/v1/assessments/{assessment_id}"),
        &[("authorization", &format!("Bearer {short_key}"))],
    );
    refused("an expired key", &answer, 401, "unauthorized");
    assert_eq!(answer.json()["error"]["message"], "the API key has expired");
    refused(
        "an expiry in the past",
        &server.post_json(
            &format!("/v1/certifiers/{certifier_id}/api-keys"),
            Some(&second_key),
            &json!({"expires_at": 1}),
        ),
        400,
        "invalid_request",
    );
}

#[test]
fn issuance_past_the_status_list_capacity_is_refused_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let server =
        Server::start_with_config(&dir.path().join("data"), Some("status_list_capacity = 3\n"));
    let (_, key) = certifier(&server, "Lab");
    let assessment_id = assessment(&server, &key);
    let marks: Vec<Value> = (0..3)
        .map(|_| issue(&server, &key, &assessment_id))
        .collect();
    let before = stored(&server);
    let answer = server.post_json("/v1/marks", Some(&key), &mark_request(&assessment_id));
    refused("the 4th mark", &answer, 503, "status_list_full");
    let answer = server.post_json(
        "/v1/marks:batch",
        Some(&key),
        &json!({"marks": [mark_request(&assessment_id), mark_request(&assessment_id)]}),
    );
    refused(
        "a batch past the capacity",
        &answer,
        503,
        "status_list_full",
    );
    assert_eq!(stored(&server), before);
    assert_eq!(server.metric("trustmark_status_list_full_total"), 2);
    assert_eq!(server.metric("trustmark_status_list_capacity"), 3);
    // What was issued stays revocable, and the list is served.
    let id = marks[0]["mark_id"].as_str().unwrap();
    let revoked = server.post_json(
        &format!("/v1/marks/{id}/revoke"),
        Some(&key),
        &json!({"reason": "recall"}),
    );
    assert_eq!(revoked.status, 200);
    assert_eq!(server.get("/v1/status-lists/1").status, 200);
}
