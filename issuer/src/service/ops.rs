//! What operators watch: `GET /healthz` (the trust list in force) and `GET /metrics`
//! (`spec/api.md` 6.1 and 6.2).

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use trustmark_format::UnixTime;

use super::{now, AppState};

/// `GET /healthz`: `ok`; `degraded` (200) while the trust list in force expires within the
/// warning period or the key store is down; `failing` (503) with no trust list in force or an
/// expired one, since then nothing can be issued or verified, or with the registry's store
/// unreachable.
pub(super) async fn healthz(State(state): State<AppState>) -> Response {
    use trustmark_domain::TrustListHealth;
    let warn = state.config.scheme.trust_list_warn_days * 86_400;
    let Some(in_force) = state.shared.in_force() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({
                "status": "failing",
                "trust_list": null,
                "problems": ["no trust list is in force: publish one (PUT /v1/trust-list)"],
            })),
        )
            .into_response();
    };
    let list = &in_force.accepted.list;
    let (mut status, mut code, problem) = match in_force.accepted.health(UnixTime(now()), warn) {
        TrustListHealth::Current { .. } => ("ok", StatusCode::OK, None),
        TrustListHealth::ExpiringSoon { seconds_left } => (
            "degraded",
            StatusCode::OK,
            Some(format!(
                "the trust list expires in {} hours: publish a new one",
                seconds_left / 3600
            )),
        ),
        TrustListHealth::Expired => (
            "failing",
            StatusCode::SERVICE_UNAVAILABLE,
            Some("the trust list expired: nothing verifies until a new one is published".into()),
        ),
    };
    let mut problems: Vec<String> = problem.into_iter().collect();
    // A key store that is down stops issuance, not verification: degraded.
    let key_store = state.signers.status();
    if let Err(reason) = &key_store {
        problems.push(format!(
            "the signing key store is unavailable, nothing can be issued: {reason}"
        ));
        if status == "ok" {
            status = "degraded";
        }
    }
    // Without its store the service can neither issue nor answer for its marks: failing.
    let store = state.registry(|r| r.ping());
    if let Err(e) = &store {
        problems.push(format!("the registry's store is unreachable: {e}"));
        (status, code) = ("failing", StatusCode::SERVICE_UNAVAILABLE);
    }
    (
        code,
        Json(serde_json::json!({
            "status": status,
            "development_scheme": state.scheme.is_development(),
            "trust_list": {
                "sequence": list.sequence,
                "issued_at": list.issued_at.0,
                "expires_at": list.expires_at.0,
                "expires_in_seconds": i128::from(list.expires_at.0) - i128::from(now()),
                "issuers": list.issuers.len(),
            },
            "key_store": {
                "kind": state.signers.kind(),
                "available": key_store.is_ok(),
            },
            "store": {
                "kind": state.store.kind(),
                "reachable": store.is_ok(),
            },
            "problems": problems,
        })),
    )
        .into_response()
}

/// `GET /metrics` (Prometheus text format).
pub(super) async fn metrics(State(state): State<AppState>) -> Response {
    use std::sync::atomic::Ordering::Relaxed;
    let m = &state.shared.metrics;
    let lines = [
        (
            "trustmark_marks_issued_total",
            "counter",
            "Marks issued since start.",
            m.marks_issued.load(Relaxed),
        ),
        (
            "trustmark_status_changes_total",
            "counter",
            "Revocations, suspensions and reinstatements since start.",
            m.status_changes.load(Relaxed),
        ),
        (
            "trustmark_assessments_total",
            "counter",
            "Assessments stored since start.",
            m.assessments.load(Relaxed),
        ),
        (
            "trustmark_commit_groups_total",
            "counter",
            "Durable commit groups (one flush each).",
            m.commit_groups.load(Relaxed),
        ),
        (
            "trustmark_commit_commands_total",
            "counter",
            "Commands committed in those groups.",
            m.commit_commands.load(Relaxed),
        ),
        (
            "trustmark_commit_apply_microseconds_total",
            "counter",
            "Time the writer spent applying commit groups to the store.",
            m.commit_apply_micros.load(Relaxed),
        ),
        (
            "trustmark_commit_flush_microseconds_total",
            "counter",
            "Time the writer spent making commit groups durable (store flush and fdatasync).",
            m.commit_flush_micros.load(Relaxed),
        ),
        (
            "trustmark_http_responses_2xx_total",
            "counter",
            "2xx responses.",
            m.http_2xx.load(Relaxed),
        ),
        (
            "trustmark_http_responses_4xx_total",
            "counter",
            "4xx responses.",
            m.http_4xx.load(Relaxed),
        ),
        (
            "trustmark_http_responses_5xx_total",
            "counter",
            "5xx responses.",
            m.http_5xx.load(Relaxed),
        ),
        (
            "trustmark_rate_limited_total",
            "counter",
            "Requests refused by the rate limit.",
            m.rate_limited.load(Relaxed),
        ),
        (
            "trustmark_public_rate_limited_total",
            "counter",
            "Public verification and QR requests refused by the per-client limit.",
            m.public_rate_limited.load(Relaxed),
        ),
        (
            "trustmark_audit_entries",
            "gauge",
            "Entries in the audit log.",
            m.audit_entries.load(Relaxed),
        ),
        (
            "trustmark_verify_cache_entries",
            "gauge",
            "Verified signatures remembered.",
            state.crypto.len() as u64,
        ),
        (
            "trustmark_status_list_full_total",
            "counter",
            "Issuance refused because a status list is full.",
            m.status_list_full.load(Relaxed),
        ),
        (
            "trustmark_status_list_capacity",
            "gauge",
            "Most entries one status list takes.",
            u64::from(state.shared.list_capacity),
        ),
    ];
    let mut text = String::new();
    for (name, kind, help, value) in lines {
        text.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
        ));
    }
    let mut lists: Vec<_> = state
        .shared
        .all_lists()
        .iter()
        .map(|l| (l.number, l.kid.to_string(), l.len()))
        .collect();
    lists.sort_unstable();
    text.push_str("# HELP trustmark_status_list_entries Entries in each issuer key's status list.\n# TYPE trustmark_status_list_entries gauge\n");
    for (number, kid, len) in lists {
        text.push_str(&format!(
            "trustmark_status_list_entries{{list=\"{number}\",kid=\"{kid}\"}} {len}\n"
        ));
    }
    if let Some(in_force) = state.shared.in_force() {
        let list = &in_force.accepted.list;
        let left = i128::from(list.expires_at.0) - i128::from(now());
        text.push_str(&format!(
            "# HELP trustmark_trust_list_expires_in_seconds Seconds until the trust list in force expires (negative: expired).\n# TYPE trustmark_trust_list_expires_in_seconds gauge\ntrustmark_trust_list_expires_in_seconds {left}\n# HELP trustmark_trust_list_sequence Sequence number of the trust list in force.\n# TYPE trustmark_trust_list_sequence gauge\ntrustmark_trust_list_sequence {}\n",
            list.sequence
        ));
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}
