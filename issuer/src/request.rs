//! The issue request a certifier submits (JSON), and its validation into mark claims.

use serde::Deserialize;
use time::{Date, Month};
use trustmark_format::{Assurance, Day, Firmware, FrameworkClaim, MarkClaims, UnixTime};

use crate::{DecidedClaim, IssueError};

/// Longest validity a mark may be given (10 years): a mark outliving every key and trust list
/// that could verify it helps no one.
pub const MAX_VALID_DAYS: u64 = 3650;

/// One framework claim as requested.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ClaimRequest {
    /// Framework short name (`iotsf-icaf`, `etsi-en-303-645`, `uk-psti`).
    pub framework: String,
    /// Framework release; if given, it must be the catalogued one.
    #[serde(default)]
    pub version: Option<String>,
    /// Class; if given, it must not exceed what the assessment achieves. If absent, the mark
    /// claims the achieved class.
    #[serde(default)]
    pub class: Option<u8>,
}

/// Firmware as requested.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FirmwareRequest {
    /// Firmware version.
    pub version: String,
    /// SHA-256 of the image, 64 hex digits.
    pub sha256: String,
}

/// A request to issue a mark.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct IssueRequest {
    /// Vendor (manufacturer).
    pub vendor: String,
    /// Device model.
    pub model: String,
    /// Hardware version.
    pub hw_version: String,
    /// Firmware version and digest.
    pub firmware: FirmwareRequest,
    /// Framework claims.
    pub claims: Vec<ClaimRequest>,
    /// `third-party` or `self`.
    pub assurance: String,
    /// Last day of security support, `YYYY-MM-DD`.
    pub support_until: String,
    /// Days the mark is valid from issuance.
    pub valid_days: u64,
}

impl IssueRequest {
    /// Parses a JSON request.
    pub fn from_json(text: &str) -> Result<Self, IssueError> {
        serde_json::from_str(text).map_err(|e| IssueError::invalid("request", e.to_string()))
    }

    /// The assurance named in the request.
    pub fn assurance(&self) -> Result<Assurance, IssueError> {
        Assurance::from_name(&self.assurance)
            .ok_or_else(|| IssueError::invalid("assurance", "must be \"third-party\" or \"self\""))
    }

    /// The claims of the mark, issued at `now` with `status_index`, with the framework claims
    /// decided from assessments ([`crate::decide_claims`]).
    pub fn to_claims(
        &self,
        now: UnixTime,
        status_index: u32,
        decided: &[DecidedClaim],
    ) -> Result<MarkClaims, IssueError> {
        let assurance = self.assurance()?;
        let mut frameworks: Vec<FrameworkClaim> = decided
            .iter()
            .map(|d| FrameworkClaim {
                framework: d.framework,
                version: d.version.clone(),
                class: d.class,
                assurance,
            })
            .collect();
        if frameworks.is_empty() {
            return Err(IssueError::invalid(
                "claims",
                "at least one framework claim is required",
            ));
        }
        frameworks.sort_by_key(|c| c.framework);
        if frameworks
            .windows(2)
            .any(|w| w[0].framework == w[1].framework)
        {
            return Err(IssueError::invalid("claims", "one claim per framework"));
        }
        if self.valid_days == 0 || self.valid_days > MAX_VALID_DAYS {
            return Err(IssueError::invalid(
                "valid_days",
                format!("must be 1 to {MAX_VALID_DAYS}"),
            ));
        }
        let claims = MarkClaims {
            vendor: self.vendor.clone(),
            model: self.model.clone(),
            hw_version: self.hw_version.clone(),
            firmware: Firmware {
                version: self.firmware.version.clone(),
                sha256: parse_sha256(&self.firmware.sha256)?,
            },
            frameworks,
            issued_at: now,
            expires_at: UnixTime(now.0 + self.valid_days * 86_400),
            support_until: parse_day(&self.support_until)?,
            status_index,
        };
        claims.validate()?;
        Ok(claims)
    }
}

fn parse_sha256(text: &str) -> Result<[u8; 32], IssueError> {
    hex::decode(text)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| IssueError::invalid("firmware.sha256", "must be 64 hex digits (SHA-256)"))
}

/// Parses `YYYY-MM-DD` into a day number.
pub fn parse_day(text: &str) -> Result<Day, IssueError> {
    let bad = || IssueError::invalid("support_until", "must be a date YYYY-MM-DD");
    let mut parts = text.splitn(3, '-');
    let mut next = || {
        parts
            .next()
            .and_then(|p| p.parse::<i32>().ok())
            .ok_or_else(bad)
    };
    let (year, month, day) = (next()?, next()?, next()?);
    let month = u8::try_from(month)
        .ok()
        .and_then(|m| Month::try_from(m).ok())
        .ok_or_else(bad)?;
    let date = Date::from_calendar_date(year, month, u8::try_from(day).map_err(|_| bad())?)
        .map_err(|_| bad())?;
    let days = date.to_julian_day()
        - Date::from_calendar_date(1970, Month::January, 1)
            .map_err(|_| bad())?
            .to_julian_day();
    u32::try_from(days).map(Day).map_err(|_| bad())
}

/// Formats a day number as `YYYY-MM-DD`.
pub fn format_day(day: Day) -> String {
    let epoch = time::macros::date!(1970 - 01 - 01);
    epoch
        .checked_add(time::Duration::days(i64::from(day.0)))
        .map(|d| d.to_string())
        .unwrap_or_else(|| format!("day {}", day.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_round_trip() {
        assert_eq!(parse_day("1970-01-01").ok(), Some(Day(0)));
        assert_eq!(parse_day("2030-12-31").ok(), Some(Day(22_279)));
        assert_eq!(format_day(Day(22_279)), "2030-12-31");
        assert!(parse_day("2030-02-30").is_err());
        assert!(parse_day("1969-12-31").is_err());
        assert!(parse_day("soon").is_err());
    }
}
