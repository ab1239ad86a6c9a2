//! Issuing trust marks: the request a certifier submits, signing under an issuer certificate's
//! scope and validity, QR images, and the offline registry. The `trustmark-issuer` binary wraps
//! these in a command line.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod assessed;
pub mod assessment;
mod error;
mod issue;
pub mod offline;
pub mod qr;
mod request;
pub mod service;
pub mod size_report;
pub mod status_zlib;
pub mod store_migration;

pub use assessed::{decide_claims, Assessment, DecidedClaim, SchemePolicy};
pub use error::IssueError;
pub use issue::{mark_id, IssuedMark, MarkIssuer};
pub use request::{
    format_day, parse_day, ClaimRequest, FirmwareRequest, IssueRequest, MAX_VALID_DAYS,
};
pub use trustmark_domain::{MarkStatus, StatusChange, TransitionError};
