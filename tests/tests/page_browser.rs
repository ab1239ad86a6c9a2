//! The verification page as a phone shows it: the real service, pages rendered by headless
//! Chromium (Debian's `chromium`; `scripts/test-all` installs it), and checks on the text a person
//! reads in the rendered DOM.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use trustmark_e2e::server::Server;

/// The name the service's development PKI gives its issuing certifier (what the page shows as
/// "Certified by").
/// The certifier that issued the marks (the page names it rather than the key holder).
const ISSUER: &str = "Acme Test Lab";
const PRODUCT: &str = "Acme Devices Ltd SmartHub Pro 200";
const FRAMEWORK: &str = "uk-psti 2023: class 1 (independent test lab)";
const SUPPORT_UNTIL: &str = "2030-12-31";

/// Issues a UK PSTI class 1 mark over the API; returns (mark id, page path `/V/<digits>`).
fn issue(server: &Server, key: &str, assessment_id: &str) -> (String, String) {
    let request = json!({
        "assessment_id": assessment_id, "vendor": "Acme Devices Ltd", "model": "SmartHub Pro 200",
        "hw_version": "1.2.0",
        "firmware": {"version": "4.1.7", "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"},
        "support_until": SUPPORT_UNTIL, "valid_days": 365,
    });
    let answer = server.post_json("/v1/marks", Some(key), &request);
    assert_eq!(answer.status, 201, "{}", answer.text());
    let mark = answer.json();
    let url = mark["url"].as_str().unwrap();
    // The URL carries the service's public base; the test server has its own.
    let path = url[url.find("/V/").unwrap()..].to_owned();
    (mark["mark_id"].as_str().unwrap().to_owned(), path)
}

/// The DOM of `url` after headless Chromium has loaded and rendered it.
fn rendered_dom(url: &str, scratch: &Path) -> String {
    let profile = tempfile::tempdir_in(scratch).unwrap();
    let out = scratch.join(format!(
        "{}.html",
        profile.path().file_name().unwrap().to_string_lossy()
    ));
    let err = out.with_extension("log");
    let spawned = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=412,915",
            "--virtual-time-budget=2000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(["--dump-dom", url])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => panic!(
            "cannot run `chromium` ({e}): this test needs headless Chromium on PATH \
             (Debian: `apt-get install chromium`; scripts/test-all installs it)"
        ),
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish rendering {url} within 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let dom = std::fs::read_to_string(&out).unwrap();
    assert!(
        status.success() && dom.contains("</html>"),
        "chromium failed on {url} ({status}):\n{}",
        std::fs::read_to_string(&err).unwrap_or_default()
    );
    dom
}

/// What a person reads: the body's text without tags, whitespace collapsed, entities decoded.
fn visible_text(html: &str) -> String {
    let body = &html[html.find("<body").unwrap_or(0)..];
    let mut text = String::new();
    let mut in_tag = false;
    for c in body.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                text.push(' ');
            }
            _ if !in_tag => text.push(c),
            _ => {}
        }
    }
    let text = text
        .replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'");
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The visible text of the first element whose opening tag contains `marker` (an id or a class
/// attribute), up to its closing tag `</name>`.
fn element_text(dom: &str, marker: &str) -> Option<String> {
    let at = dom.find(marker)?;
    let open = dom[..=at].rfind('<')?;
    let name: String = dom[open + 1..]
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect();
    let start = at + dom[at..].find('>')? + 1;
    let end = start + dom[start..].find(&format!("</{name}>"))?;
    Some(visible_text(&format!("<body>{}", &dom[start..end])))
}

/// The `data-status` of the status banner.
fn data_status(dom: &str) -> String {
    let banner = &dom[dom.find("id=\"status\"").expect("no #status banner")..];
    let banner = &banner[..banner.find('>').unwrap()];
    let at = banner.find("data-status=\"").expect("no data-status") + 13;
    banner[at..at + banner[at..].find('"').unwrap()].to_owned()
}

/// The checks on a page that shows a genuine mark's claims.
fn assert_claims_shown(page: &str, dom: &str) {
    let text = visible_text(dom);
    assert!(
        text.contains(PRODUCT),
        "{page} page: no product {PRODUCT:?} in {text:?}"
    );
    assert_eq!(
        element_text(dom, "id=\"issuer\"").as_deref(),
        Some(ISSUER),
        "{page} page: certifier"
    );
    assert_eq!(
        element_text(dom, "class=\"framework\"").as_deref(),
        Some(FRAMEWORK),
        "{page} page: framework line"
    );
    assert!(
        text.contains(&format!("Framework {FRAMEWORK}")),
        "{page} page: framework not labelled: {text:?}"
    );
    // What the class means, from the catalogue of the claimed release.
    assert!(
        element_text(dom, "class=\"class-meaning\"")
            .is_some_and(|m| m.starts_with("Class 1: Meets the three security requirements")),
        "{page} page: class meaning"
    );
    assert_eq!(
        element_text(dom, "id=\"support\"").as_deref(),
        Some(SUPPORT_UNTIL),
        "{page} page: support end"
    );
    assert!(
        text.contains(&format!("Security updates until {SUPPORT_UNTIL}")),
        "{page} page: support end not labelled: {text:?}"
    );
}

#[test]
fn the_page_a_phone_shows() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"));

    let answer = server.post_json(
        "/v1/certifiers",
        Some(&server.admin_key),
        &json!({"name": "Acme Test Lab", "assurance": "third-party"}),
    );
    assert_eq!(answer.status, 201, "{}", answer.text());
    let key = answer.json()["api_key"].as_str().unwrap().to_owned();
    let csv =
        "requirement,response,evidence,justification\n1,C,PW-1,\n2,C,VDP,\n3,Compliant,SUPPORT,\n";
    let answer = server.post(
        "/v1/assessments?framework=uk-psti&target_class=1",
        Some(&key),
        "text/csv",
        csv.as_bytes(),
    );
    assert_eq!(answer.status, 201, "{}", answer.text());
    let assessment_id = answer.json()["assessment_id"].as_str().unwrap().to_owned();

    let (_, valid_path) = issue(&server, &key, &assessment_id);
    let (revoked_id, revoked_path) = issue(&server, &key, &assessment_id);
    let revoked = server.post_json(
        &format!("/v1/marks/{revoked_id}/revoke"),
        Some(&key),
        &json!({"reason": "firmware backdoor found"}),
    );
    assert_eq!(revoked.status, 200, "{}", revoked.text());
    // Forged: one digit of the valid mark's text changed.
    let mut forged = valid_path.clone().into_bytes();
    let at = forged.len() - 20;
    forged[at] = if forged[at] == b'1' { b'2' } else { b'1' };
    let forged_path = String::from_utf8(forged).unwrap();

    // One Chromium per page, all three at once.
    let scratch = dir.path();
    let [valid, revoked, forged]: [String; 3] = std::thread::scope(|scope| {
        let pages = [&valid_path, &revoked_path, &forged_path].map(|path| {
            let url = format!("{}{path}", server.base);
            scope.spawn(move || rendered_dom(&url, scratch))
        });
        pages.map(|page| {
            page.join()
                .unwrap_or_else(|_| panic!("rendering a page failed (see the message above)"))
        })
    });

    // (a) Valid.
    assert_eq!(data_status(&valid), "valid");
    assert_eq!(
        element_text(&valid, "<h1").as_deref(),
        Some("Valid trust mark"),
        "valid page headline"
    );
    assert_claims_shown("valid", &valid);
    let text = visible_text(&valid);
    for word in ["REVOKED", "NOT A GENUINE", "SUSPENDED", "EXPIRED"] {
        assert!(!text.contains(word), "valid page says {word}: {text:?}");
    }
    assert!(
        element_text(&valid, "id=\"reason\"").is_none(),
        "a valid page gives no failure reason"
    );

    // (b) Revoked: says so first, and still shows what was certified.
    assert_eq!(data_status(&revoked), "revoked");
    assert_eq!(
        element_text(&revoked, "<h1").as_deref(),
        Some("REVOKED"),
        "revoked page headline"
    );
    assert!(
        visible_text(&revoked).contains("Do not rely on it"),
        "{}",
        visible_text(&revoked)
    );
    assert_claims_shown("revoked", &revoked);

    // (c) Forged: not genuine, with a reason, and none of the product's claims.
    assert_eq!(data_status(&forged), "not_genuine");
    assert_eq!(
        element_text(&forged, "<h1").as_deref(),
        Some("NOT A GENUINE MARK"),
        "forged page headline"
    );
    let reason = element_text(&forged, "id=\"reason\"").expect("forged page: no reason");
    assert!(!reason.is_empty(), "forged page: empty reason");
    let text = visible_text(&forged);
    for claim in [
        "Acme",
        "SmartHub",
        "uk-psti",
        "class 1",
        SUPPORT_UNTIL,
        ISSUER,
        "4.1.7",
        "Valid trust mark",
    ] {
        assert!(
            !text.contains(claim),
            "forged page shows {claim:?}: {text:?}"
        );
    }
    for id in ["id=\"issuer\"", "id=\"support\"", "class=\"framework\""] {
        assert!(!forged.contains(id), "forged page has {id}");
    }
}
