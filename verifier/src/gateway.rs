//! std: the onboarding check of a gateway. A device presents its mark and its measured firmware
//! digest (over any byte stream; the example uses TCP on loopback); the gateway verifies the mark
//! offline against its cached trust list and status list and admits the device only if the
//! policy holds, with the measured digest as the expected one.
//!
//! Presentation (ASCII lines, at most [`MAX_PRESENTATION`] bytes):
//!
//! ```text
//! TRUSTMARK <mark URL or token text>
//! FIRMWARE <64 hex digits: SHA-256 of the running image, as the device measured it>
//! ```

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use std::io::{BufRead, BufReader, Read};

use trustmark_format::{qr_text, UnixTime};

use crate::{
    verify_with_status, Policy, TrustedSchemes, VerifiedMark, VerifiedStatusList, VerifyError,
};

/// Largest presentation read: a maximal mark URL is about 2,600 characters.
pub const MAX_PRESENTATION: u64 = 8 * 1024;

/// What a device presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presentation {
    /// The mark's COSE bytes.
    pub token: Vec<u8>,
    /// The measured firmware digest.
    pub firmware_sha256: [u8; 32],
}

/// Why a presentation could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresentationError(pub String);

impl fmt::Display for PresentationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed presentation: {}", self.0)
    }
}

impl core::error::Error for PresentationError {}

impl Presentation {
    /// Reads a presentation from a stream (bounded; anything malformed is an error).
    pub fn read(stream: impl Read) -> Result<Self, PresentationError> {
        let bad = |reason: &str| PresentationError(reason.to_string());
        let mut reader = BufReader::new(stream.take(MAX_PRESENTATION));
        let mut token = None;
        let mut firmware = None;
        let mut line = String::new();
        while token.is_none() || firmware.is_none() {
            line.clear();
            let n = reader
                .read_line(&mut line)
                .map_err(|e| PresentationError(format!("{e}")))?;
            if n == 0 {
                return Err(bad(
                    "the device closed before presenting a mark and a firmware digest",
                ));
            }
            match line.trim_end().split_once(' ') {
                Some(("TRUSTMARK", text)) => {
                    token = Some(
                        qr_text::parse_scanned(text)
                            .map_err(|e| PresentationError(format!("mark: {e}")))?,
                    )
                }
                Some(("FIRMWARE", hex_digest)) => {
                    firmware = Some(
                        parse_digest(hex_digest)
                            .ok_or_else(|| bad("FIRMWARE must be 64 hex digits"))?,
                    )
                }
                _ => return Err(bad("expected TRUSTMARK or FIRMWARE lines")),
            }
        }
        match (token, firmware) {
            (Some(token), Some(firmware_sha256)) => Ok(Self {
                token,
                firmware_sha256,
            }),
            _ => Err(bad("incomplete")),
        }
    }

    /// The presentation as the device sends it.
    pub fn to_text(&self, base_url: &str) -> String {
        let digest: String = self
            .firmware_sha256
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!(
            "TRUSTMARK {}\nFIRMWARE {digest}\n",
            qr_text::mark_url(base_url, &self.token)
        )
    }
}

fn parse_digest(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// The gateway's decision.
#[derive(Debug)]
pub enum Admission {
    /// Admit the device.
    Admit(alloc::boxed::Box<VerifiedMark>),
    /// Refuse it, with the failed check.
    Refuse(VerifyError),
}

/// Decides on a presentation: the policy's firmware digest is replaced by the measured one, so a
/// device running other firmware than its mark is for is refused. `trust` is one scheme's
/// [`crate::TrustStore`] or several schemes' [`crate::TrustStores`].
pub fn admit<T: TrustedSchemes + ?Sized>(
    presentation: &Presentation,
    trust: &T,
    status: Option<&VerifiedStatusList>,
    policy: &Policy,
    now: UnixTime,
) -> Admission {
    let policy = Policy {
        firmware_sha256: Some(presentation.firmware_sha256),
        ..policy.clone()
    };
    match verify_with_status(&presentation.token, trust, status, &policy, now) {
        Ok(mark) => Admission::Admit(alloc::boxed::Box::new(mark)),
        Err(e) => Admission::Refuse(e),
    }
}
