//! QR images of mark URLs.

use std::path::Path;

use qrcode::{EcLevel, QrCode, Version};

use crate::IssueError;

/// Error-correction level of printed QR codes: M (15% recovery) survives creases and glare on
/// packaging and keeps a typical mark at version 11.
pub const PRINT_EC_LEVEL: EcLevel = EcLevel::M;

/// The smallest-version QR code for `text` (the encoder mixes alphanumeric and numeric
/// segments optimally and picks the least version that holds them).
pub fn qr_code(text: &str, ec: EcLevel) -> Result<QrCode, IssueError> {
    QrCode::with_error_correction_level(text.as_bytes(), ec)
        .map_err(|e| IssueError::Qr(e.to_string()))
}

/// The QR version number of a code.
pub fn version_number(code: &QrCode) -> i16 {
    match code.version() {
        Version::Normal(v) | Version::Micro(v) => v,
    }
}

/// Writes the QR code of `text` to `path`: SVG if the name ends in `.svg`, PNG otherwise.
pub fn write_qr_image(text: &str, path: &Path) -> Result<i16, IssueError> {
    let code = qr_code(text, PRINT_EC_LEVEL)?;
    let io = |source| IssueError::Io {
        path: path.to_path_buf(),
        source,
    };
    let is_svg = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("svg"));
    if is_svg {
        let svg = code
            .render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(256, 256)
            .quiet_zone(true)
            .build();
        std::fs::write(path, svg).map_err(io)?;
    } else {
        let image = code
            .render::<image::Luma<u8>>()
            .module_dimensions(4, 4)
            .quiet_zone(true)
            .build();
        image
            .save_with_format(path, image::ImageFormat::Png)
            .map_err(|e| IssueError::Qr(format!("{}: {e}", path.display())))?;
    }
    Ok(version_number(&code))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::size_report::typical_claims;
    use trustmark_format::{mark, qr_text};

    /// The encoder picks the least version: one version smaller cannot hold the URL.
    #[test]
    fn uses_the_smallest_version() {
        let token = mark::encode::<trustmark_format::FormatError>(
            &typical_claims(),
            trustmark_format::Algorithm::EdDsa,
            &[1, 2, 3, 4],
            |_| Ok(vec![0x5a; 64]),
        )
        .unwrap_or_default();
        let url = qr_text::mark_url(qr_text::DEFAULT_BASE_URL, &token);
        for ec in [EcLevel::M, EcLevel::Q] {
            let code = qr_code(&url, ec).unwrap_or_else(|e| panic!("{e}"));
            let version = version_number(&code);
            assert!(
                QrCode::with_version(url.as_bytes(), Version::Normal(version - 1), ec).is_err()
            );
        }
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let written =
            write_qr_image(&url, &dir.path().join("m.png")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            written,
            version_number(&qr_code(&url, PRINT_EC_LEVEL).unwrap_or_else(|e| panic!("{e}")))
        );
        assert_eq!(written, 11);
    }
}
