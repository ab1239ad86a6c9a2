//! The steps most service tests start with: a certifier, a PSTI assessment, a mark request.

#![allow(clippy::panic, clippy::unwrap_used)] // test support: a failed step must fail the test

use serde_json::{json, Value};

use crate::server::Server;

/// The firmware digest of the test marks.
pub const FIRMWARE: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

/// UK PSTI responses meeting all three requirements, as CSV.
pub const PSTI_CSV: &str =
    "requirement,response,evidence,justification\n1,C,PW-1,\n2,C,VDP,\n3,Compliant,SUPPORT,\n";

/// A third-party certifier named `name`: its id and API key.
pub fn certifier(server: &Server, name: &str) -> (String, String) {
    let answer = server.post_json(
        "/v1/certifiers",
        Some(&server.admin_key),
        &json!({"name": name, "assurance": "third-party"}),
    );
    assert_eq!(answer.status, 201, "{}", answer.text());
    let body = answer.json();
    (
        body["certifier_id"].as_str().unwrap().to_owned(),
        body["api_key"].as_str().unwrap().to_owned(),
    )
}

/// A UK PSTI assessment of [`PSTI_CSV`] by the certifier of `key` (class 1 achieved): its id.
pub fn assessment(server: &Server, key: &str) -> String {
    let answer = server.post(
        "/v1/assessments?framework=uk-psti&target_class=1",
        Some(key),
        "text/csv",
        PSTI_CSV.as_bytes(),
    );
    assert_eq!(answer.status, 201, "{}", answer.text());
    assert_eq!(answer.json()["achieved_class"], 1);
    answer.json()["assessment_id"].as_str().unwrap().to_owned()
}

/// The body of `POST /v1/marks` for the typical product, resting on `assessment_id`.
pub fn mark_request(assessment_id: &str) -> Value {
    json!({
        "assessment_id": assessment_id, "vendor": "Acme Devices Ltd", "model": "SmartHub Pro 200",
        "hw_version": "1.2.0", "firmware": {"version": "4.1.7", "sha256": FIRMWARE},
        "support_until": "2030-12-31", "valid_days": 365,
    })
}

/// Issues a mark (201) and returns the answer.
pub fn issue(server: &Server, key: &str, assessment_id: &str) -> Value {
    let answer = server.post_json("/v1/marks", Some(key), &mark_request(assessment_id));
    assert_eq!(answer.status, 201, "{}", answer.text());
    answer.json()
}

/// The keys of certifier `id` as (kid, state), as the admin lists them.
pub fn key_states(server: &Server, id: &str) -> Vec<(String, String)> {
    let keys = server.get_with(
        &format!("/v1/certifiers/{id}/keys"),
        &[("authorization", &format!("Bearer {}", server.admin_key))],
    );
    keys.json()["keys"]
        .as_array()
        .unwrap_or_else(|| panic!("no keys in {}", keys.text()))
        .iter()
        .map(|k| {
            (
                k["kid"].as_str().unwrap_or_default().to_owned(),
                k["state"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}
