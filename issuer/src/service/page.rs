//! The verification page that the QR code on the box opens: server-rendered HTML (maud), no
//! JavaScript, readable on a phone at a glance. Also the server-side check behind it and
//! `POST /v1/verify`.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, PreEscaped, DOCTYPE};
use trustmark_format::{qr_text, MarkClaims, UnixTime};
use trustmark_verifier::{authenticate, verify, Policy, TrustAnchor, TrustStores, VerifyError};

use super::error::ApiError;
use super::{now, AppState};
use crate::{format_day, MarkStatus};

/// What the claimed class means, from the built-in catalogue of the claimed release, where the
/// catalogue says (`spec/frameworks.md` 3.3).
fn class_meaning(f: &trustmark_format::FrameworkClaim) -> Option<String> {
    let catalogue = crate::assessment::find(f.framework.name()?, Some(&f.version)).ok()?;
    let meaning = catalogue.class_meaning(f.class)?;
    Some(format!("Class {}: {}", f.class, meaning.meaning))
}

/// What a check of a mark concluded.
#[derive(Debug)]
pub(super) enum Outcome {
    /// Genuine, current, not revoked.
    Valid(MarkClaims, String),
    /// Genuine but revoked.
    Revoked(MarkClaims, String),
    /// Genuine but suspended.
    Suspended(MarkClaims, String),
    /// Genuine but expired.
    Expired(MarkClaims, String),
    /// Genuine, but the policy check failed (for example the firmware differs).
    Refused(MarkClaims, String, VerifyError),
    /// Not a genuine mark: forged, altered, unknown issuer or not a mark at all.
    NotGenuine(VerifyError),
}

impl Outcome {
    /// The status word.
    pub(super) fn status(&self) -> &'static str {
        match self {
            Self::Valid(..) => "valid",
            Self::Revoked(..) => "revoked",
            Self::Suspended(..) => "suspended",
            Self::Expired(..) => "expired",
            Self::Refused(..) => "refused",
            Self::NotGenuine(_) => "not_genuine",
        }
    }

    fn claims(&self) -> Option<(&MarkClaims, &str)> {
        match self {
            Self::Valid(c, i)
            | Self::Revoked(c, i)
            | Self::Suspended(c, i)
            | Self::Expired(c, i)
            | Self::Refused(c, i, _) => Some((c, i.as_str())),
            Self::NotGenuine(_) => None,
        }
    }

    /// The `POST /v1/verify` answer.
    pub(super) fn to_json(&self, token: &[u8]) -> serde_json::Value {
        let mut out =
            serde_json::json!({"valid": matches!(self, Self::Valid(..)), "status": self.status()});
        if let Some((c, issuer)) = self.claims() {
            out["mark"] = serde_json::json!({
                "mark_id": crate::mark_id(token),
                "issuer": issuer,
                "vendor": c.vendor,
                "model": c.model,
                "hw_version": c.hw_version,
                "firmware": {"version": c.firmware.version, "sha256": hex::encode(c.firmware.sha256)},
                "claims": c.frameworks.iter().map(|f| serde_json::json!({
                    "framework": f.framework.to_string(), "version": f.version, "class": f.class, "assurance": f.assurance.name(),
                })).collect::<Vec<_>>(),
                "issued_at": c.issued_at.0,
                "expires_at": c.expires_at.0,
                "support_until": format_day(c.support_until),
                "status_index": c.status_index,
            });
        }
        match self {
            Self::NotGenuine(e) | Self::Refused(_, _, e) => {
                out["error"] = serde_json::json!({"code": e.code(), "message": e.to_string()});
            }
            _ => {}
        }
        out
    }
}

/// Verifies `token` with the trust list in force and those of the recognised schemes
/// (`spec/pki.md` 11.6), and, for a mark of this registry, the current status of its marks
/// (no list held at all: 503 `no_trust_list`).
pub(super) fn check(
    state: &AppState,
    token: &[u8],
    firmware: Option<[u8; 32]>,
) -> Result<Outcome, ApiError> {
    let stores = state
        .recognition
        .stores(&state.shared, &state.scheme.anchor, state.crypto);
    if stores.is_empty() {
        return Err(trustmark_domain::DomainError::NoTrustList.into());
    }
    Ok(check_in(state, &stores, token, firmware))
}

/// The name shown for the issuer of a mark of `anchor`'s scheme: the certifier's name for a mark
/// of this registry, and the trust list's name with its scheme for a recognised scheme's.
fn issuer_name(state: &AppState, anchor: &TrustAnchor, token: &[u8], listed: &str) -> String {
    match state.recognition.name_of(anchor) {
        Some(scheme) => format!("{listed} ({scheme})"),
        None => certifier_name(state, token).unwrap_or_else(|| listed.to_owned()),
    }
}

fn check_in(
    state: &AppState,
    trust: &TrustStores<'_>,
    token: &[u8],
    firmware: Option<[u8; 32]>,
) -> Outcome {
    let at = UnixTime(now());
    let policy = Policy {
        firmware_sha256: firmware,
        ..Policy::default()
    };
    match verify(token, trust, &policy, at) {
        Ok(verified) => {
            let issuer = issuer_name(state, verified.anchor(), token, &verified.issuer().name);
            // The status list of the key that signed it: this registry's keys only (a mark of a
            // recognised scheme has its status in that scheme's registry).
            let ours = *verified.anchor() == state.scheme.anchor;
            let status = ours
                .then(|| state.shared.list_of_kid(verified.kid()))
                .flatten()
                .map_or(MarkStatus::Valid, |list| {
                    list.get(verified.claims().status_index)
                });
            let claims = verified.claims().clone();
            match status {
                MarkStatus::Revoked => Outcome::Revoked(claims, issuer),
                MarkStatus::Suspended => Outcome::Suspended(claims, issuer),
                MarkStatus::Valid => Outcome::Valid(claims, issuer),
            }
        }
        // The signature held: these failures are about time or policy, and the claims can be
        // shown. Any other failure is a token that is not genuine, and is not looked at again
        // (a forged token costs one signature check, not two).
        Err(e @ VerifyError::Expired { .. }) => match genuine_claims(state, trust, token) {
            Some((claims, issuer)) => Outcome::Expired(claims, issuer),
            None => Outcome::NotGenuine(e),
        },
        Err(
            e @ (VerifyError::FirmwareMismatch
            | VerifyError::NotYetValid { .. }
            | VerifyError::OutsideScope { .. }
            | VerifyError::IssuedOutsideKeyValidity { .. }),
        ) => match genuine_claims(state, trust, token) {
            Some((claims, issuer)) => Outcome::Refused(claims, issuer, e),
            None => Outcome::NotGenuine(e),
        },
        Err(e) => Outcome::NotGenuine(e),
    }
}

/// The name of the certifier that issued a mark through this service (several certifiers may
/// sign with one accredited key; the trust list names the key holder, the registry the
/// certifier).
fn certifier_name(state: &AppState, token: &[u8]) -> Option<String> {
    let id = crate::mark_id(token);
    state.registry(|r| r.mark_issuer(&id)).ok()?
}

/// The claims of a token whose signature verifies under a trusted key (whatever else fails),
/// as the verifier authenticates it.
fn genuine_claims(
    state: &AppState,
    trust: &TrustStores<'_>,
    token: &[u8],
) -> Option<(MarkClaims, String)> {
    let authentic = authenticate(token, trust).ok()?;
    let name = issuer_name(state, authentic.anchor(), token, &authentic.issuer().name);
    Some((authentic.into_claims(), name))
}

const STYLE: &str = "
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;background:#f4f5f7;color:#1b1f24;font-size:1rem;line-height:1.4;-webkit-text-size-adjust:100%}
main{max-width:34rem;margin:0 auto;padding:1rem}
.banner{border-radius:.75rem;padding:1.25rem;color:#fff;margin-bottom:1rem}
.head{display:flex;align-items:center;gap:.9rem}
.icon{flex:none;width:3rem;height:3rem;border-radius:50%;background:#fff;font-size:2rem;font-weight:800;line-height:3rem;text-align:center}
.banner h1{margin:0;font-size:1.9rem;line-height:1.1;text-wrap:balance;overflow-wrap:anywhere}
.banner p{margin:.8rem 0 0;font-size:1.1rem}
.valid{background:#1a7f37}.valid .icon{color:#1a7f37}
.revoked,.not_genuine,.refused{background:#c62828}.revoked .icon,.not_genuine .icon,.refused .icon{color:#c62828}
.suspended{background:#9a5b00}.suspended .icon{color:#9a5b00}
.expired{background:#57606a}.expired .icon{color:#57606a}
section{background:#fff;border-radius:.75rem;padding:1rem;margin-bottom:1rem}
.caveat{margin:0 0 .8rem;padding:.6rem .75rem;border-radius:.5rem;background:#fff4e5;color:#6b3a00;font-weight:600}
h2{margin:0 0 .8rem;font-size:1.3rem;line-height:1.25}
.facts{margin:0}.facts dt{color:#57606a;font-size:.9rem;margin-top:.7rem}
.facts dd{margin:0;font-size:1.15rem;font-weight:600;overflow-wrap:anywhere}
h3{margin:0 0 .5rem;font-size:.95rem;color:#57606a;font-weight:600}
.tech{display:grid;grid-template-columns:max-content 1fr;gap:.3rem .9rem;margin:0}
.tech dt{color:#57606a}.tech dd{margin:0;overflow-wrap:anywhere}
.reason dl{margin:0}.reason dt{color:#57606a;font-size:.9rem}.reason dd{margin:0 0 .8rem;font-size:1.05rem}
.reason p{margin:0}
footer{color:#57606a;font-size:.85rem;text-align:center;padding:1rem}
";

fn date(t: UnixTime) -> String {
    format_day(trustmark_format::Day((t.0 / 86_400) as u32))
}

/// Renders the page for an outcome.
fn render(outcome: &Outcome) -> Markup {
    let (icon, title, explanation) = match outcome {
        Outcome::Valid(..) => ("✓", "Valid trust mark", "This is a genuine trust mark, and it is current."),
        Outcome::Revoked(..) => ("✕", "REVOKED", "The certifier has revoked this trust mark. Do not rely on it."),
        Outcome::Suspended(..) => ("!", "SUSPENDED", "The certifier has suspended this trust mark while it is reviewed."),
        Outcome::Expired(..) => ("!", "EXPIRED", "This trust mark was genuine but has expired."),
        Outcome::Refused(..) => ("✕", "NOT VALID", "This trust mark was signed by a certifier but does not hold now."),
        Outcome::NotGenuine(_) => ("✕", "NOT A GENUINE MARK", "This code is not a trust mark signed by an accredited certifier. The product's claims cannot be trusted."),
    };
    let caveat = match outcome {
        Outcome::Revoked(..) => {
            Some("These details were certified, but the mark has since been revoked.")
        }
        Outcome::Suspended(..) => {
            Some("These details were certified, but the mark is suspended for now.")
        }
        Outcome::Expired(..) => Some("These details were certified, but the mark has expired."),
        Outcome::Refused(..) => {
            Some("These details were certified, but the mark does not hold now.")
        }
        Outcome::Valid(..) | Outcome::NotGenuine(_) => None,
    };
    let class = outcome.status();
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "Trust mark: " (title) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                main {
                    div class={"banner " (class)} id="status" data-status=(class) role="status" {
                        div class="head" {
                            span class="icon" aria-hidden="true" { (icon) }
                            h1 { (title) }
                        }
                        p { (explanation) }
                    }
                    @if let Some((c, issuer)) = outcome.claims() {
                        section {
                            @if let Some(caveat) = caveat { p class="caveat" { (caveat) } }
                            h2 class="claim" { (c.vendor) " " (c.model) }
                            dl class="facts" {
                                @for f in &c.frameworks {
                                    dt { "Framework" }
                                    dd class="framework" { (f.framework) " " (f.version) ": class " (f.class) " (" (if f.assurance == trustmark_format::Assurance::ThirdParty { "independent test lab" } else { "self-assessed by the manufacturer" }) ")" }
                                    @if let Some(meaning) = class_meaning(f) { dd class="class-meaning" { (meaning) } }
                                }
                                dt { "Certified by" } dd id="issuer" { (issuer) }
                                dt { "Security updates until" } dd id="support" { (format_day(c.support_until)) }
                            }
                        }
                        section {
                            h3 { "Technical details" }
                            dl class="tech" {
                                dt { "Hardware" } dd { (c.hw_version) }
                                dt { "Firmware" } dd { (c.firmware.version) }
                                dt { "Firmware SHA-256" } dd { code { (hex::encode(&c.firmware.sha256[..8])) "…" } }
                                dt { "Mark issued" } dd { (date(c.issued_at)) }
                                dt { "Mark expires" } dd { (date(c.expires_at)) }
                            }
                        }
                    }
                    @if let Outcome::NotGenuine(e) | Outcome::Refused(_, _, e) = outcome {
                        section class="reason" {
                            dl { dt { "Reason" } dd id="reason" { (e) } }
                            @if let Outcome::NotGenuine(_) = outcome {
                                p { "The code may be fake, copied from another product or damaged. Do not rely on this product's security label: ask the seller." }
                            }
                        }
                    }
                    footer { "Checked by the trustmark registry. The signed mark in this code can also be verified offline." }
                }
            }
        }
    }
}

/// The page for a token (the status code says whether the mark holds).
pub(super) fn verification_page(state: &AppState, token: &[u8]) -> Response {
    let outcome = match check(state, token, None) {
        Ok(outcome) => outcome,
        Err(e) => return e.into_response(),
    };
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        render(&outcome).into_string(),
    )
        .into_response()
}

/// `GET /V/{text}` and `/v/{text}`: the URL in the QR code.
pub(super) async fn scanned(State(state): State<AppState>, Path(text): Path<String>) -> Response {
    match qr_text::parse_scanned(&text) {
        Ok(token) => verification_page(&state, &token),
        Err(e) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            render(&Outcome::NotGenuine(VerifyError::Format(e))).into_string(),
        )
            .into_response(),
    }
}
