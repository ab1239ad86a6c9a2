//! The issuer's domain core (`spec/pki.md` section 11): what a scheme's registry decides, with
//! no HTTP, storage or async runtime in it, so the service, its stores (sled, PostgreSQL) and its
//! signers (software keys, PKCS#11) are plugged in around it.
//!
//! - [`key_ring`]: a certifier's issuer keys and their life (pending, active, retiring,
//!   retired), derived from what the registry stores and the trust list in force.
//! - [`trust`]: accepting a signed trust list (root signature, rollback, currency), the key
//!   changes it brings, and how close it is to expiry.
//! - [`scope`]: whether a claim lies inside an issuer key's accreditation, with the limit that
//!   refuses it.
//! - [`DomainError`]: the one error type; HTTP status codes are the HTTP layer's business.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod error;
pub mod key_ring;
pub mod scope;
pub mod trust;

pub use error::{DomainError, ScopeLimit};
pub use key_ring::{IssuerKey, KeyRing, KeyState, Kid};
pub use trust::{AcceptedTrustList, KeyChange, TrustListHealth};
