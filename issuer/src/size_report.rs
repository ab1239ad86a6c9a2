//! The size figures of the brief, measured on a typical mark: token bytes, URL length, and the
//! QR version at error levels M and Q.

use qrcode::EcLevel;
use serde::Serialize;
use trustmark_format::{
    mark, qr_text, Assurance, Day, Firmware, FrameworkClaim, FrameworkId, MarkClaims, UnixTime,
};
use trustmark_keys::{Signer, SoftwareKey};

use crate::qr::{qr_code, version_number};
use crate::IssueError;

/// A base URL of the longest length the brief budgets for (30 characters).
pub const LONG_BASE_URL: &str = "HTTPS://MARKS01.SCHEME.EXAMPLE";

/// The typical mark of the brief: vendor and model of 16 characters, hardware and firmware
/// versions of 5, one framework claim, and the largest status index of a 2^20-entry list (so the
/// figure is the worst case of a typical mark).
pub fn typical_claims() -> MarkClaims {
    MarkClaims {
        vendor: "Acme Devices Ltd".into(),
        model: "SmartHub Pro 200".into(),
        hw_version: "1.2.0".into(),
        firmware: Firmware {
            version: "4.1.7".into(),
            sha256: [0xa5; 32],
        },
        frameworks: vec![FrameworkClaim {
            framework: FrameworkId::IOTSF_ICAF,
            version: "3.0".into(),
            class: 2,
            assurance: Assurance::ThirdParty,
        }],
        issued_at: UnixTime(1_795_300_000),
        expires_at: UnixTime(1_795_300_000 + 365 * 86_400),
        support_until: Day(22_279),
        status_index: (1 << 20) - 1,
    }
}

/// QR figures for one base URL.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct UrlFigures {
    /// The base URL.
    pub base_url: String,
    /// Length of the whole URL in characters.
    pub url_chars: usize,
    /// QR version at error level M.
    pub qr_version_m: i16,
    /// QR version at error level Q.
    pub qr_version_q: i16,
}

/// The size report.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SizeReport {
    /// Signature algorithm used.
    pub alg: String,
    /// Token size in bytes.
    pub token_bytes: usize,
    /// Payload (claims) size in bytes.
    pub payload_bytes: usize,
    /// Token text length in digits.
    pub token_digits: usize,
    /// Figures per base URL.
    pub urls: Vec<UrlFigures>,
}

/// Measures the typical mark signed with a fresh key of each algorithm.
pub fn measure(key: &dyn Signer) -> Result<SizeReport, IssueError> {
    let claims = typical_claims();
    let token = mark::encode(&claims, key.algorithm(), key.kid(), |tbs| key.sign(tbs))?;
    let urls = [qr_text::DEFAULT_BASE_URL, LONG_BASE_URL]
        .iter()
        .map(|base| {
            let url = qr_text::mark_url(base, &token);
            Ok(UrlFigures {
                base_url: (*base).to_owned(),
                url_chars: url.len(),
                qr_version_m: version_number(&qr_code(&url, EcLevel::M)?),
                qr_version_q: version_number(&qr_code(&url, EcLevel::Q)?),
            })
        })
        .collect::<Result<Vec<_>, IssueError>>()?;
    Ok(SizeReport {
        alg: key.algorithm().to_string(),
        token_bytes: token.len(),
        payload_bytes: claims.to_cbor()?.len(),
        token_digits: qr_text::encode(&token).len(),
        urls,
    })
}

/// The report for both algorithms, with throwaway keys.
pub fn measure_all() -> Result<Vec<SizeReport>, IssueError> {
    [
        trustmark_format::Algorithm::EdDsa,
        trustmark_format::Algorithm::Es256,
    ]
    .into_iter()
    .map(|alg| measure(&SoftwareKey::generate(alg)?))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typical_mark_meets_the_size_targets() -> Result<(), IssueError> {
        assert_eq!(LONG_BASE_URL.len(), 30);
        let claims = typical_claims();
        assert_eq!((claims.vendor.len(), claims.model.len()), (16, 16));
        assert_eq!(
            (claims.hw_version.len(), claims.firmware.version.len()),
            (5, 5)
        );
        for report in measure_all()? {
            println!("{}", serde_json::to_string(&report).unwrap_or_default());
            assert!(report.token_bytes <= 200, "{report:?}");
            for url in &report.urls {
                assert!(url.qr_version_m <= 11, "{url:?}");
                assert!(url.qr_version_q <= 13, "{url:?}");
            }
        }
        Ok(())
    }
}
