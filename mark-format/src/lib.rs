//! Formats of the trustmark system: the signed trust-mark token (a CBOR Web Token in a tagged
//! COSE_Sign1), the numeric text that carries a token in a QR code URL, the root-signed trust
//! list that tells verifiers which issuer keys to trust, and the issuers' signed status lists
//! (IETF Token Status List, CWT form) that say which marks are revoked or suspended.
//!
//! This crate is `#![no_std]` with `alloc`, does no I/O and never reads a clock. It encodes and
//! decodes; it does not verify signatures (that is `trustmark-verifier`'s job, with the crypto
//! injected). Decoding is strict: one deterministic CBOR item (RFC 8949 section 4.2.1), nothing
//! after it, explicit size limits, and a specific [`FormatError`] for each way input is wrong.
//!
//! ```
//! use trustmark_format::{qr_text, Algorithm};
//! let token = [0xd2, 0x84, 0x40];
//! let url = qr_text::mark_url("HTTPS://VERIFY.EXAMPLE.ORG", &token);
//! assert_eq!(url, "HTTPS://VERIFY.EXAMPLE.ORG/V/13796416");
//! assert_eq!(qr_text::parse_scanned(&url.to_lowercase()), Ok(token.to_vec()));
//! assert_eq!(Algorithm::EdDsa.cose_value(), -8);
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(
    clippy::std_instead_of_core,
    clippy::std_instead_of_alloc,
    clippy::alloc_instead_of_core
)]

extern crate alloc;

pub mod cbor;
pub mod claims;
pub mod cose;
pub mod ecdsa;
mod error;
pub mod mark;
pub mod qr_text;
pub mod status_list;
pub mod trust_list;
mod types;
mod value;

pub use claims::{Firmware, FrameworkClaim, MarkClaims};
pub use cose::ParsedSign1;
pub use error::FormatError;
pub use status_list::{
    CompressedStatusList, Status, StatusList, StatusListClaims, StatusListToken,
};
pub use trust_list::{FrameworkScope, IssuerScope, TrustList, TrustedIssuer};
pub use types::{Algorithm, Assurance, Day, FrameworkId, UnixTime};
