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
//! - [`ids`]: the registry's typed ids (certifiers, assessments, marks).
//! - [`mark_status`]: a mark's status in the registry and its one transition function.
//! - [`DomainError`]: the one error type; HTTP status codes are the HTTP layer's business.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod error;
pub mod ids;
pub mod key_ring;
pub mod mark_status;
pub mod scope;
pub mod trust;

pub use error::{DomainError, ScopeLimit};
pub use ids::{AssessmentId, CertifierId, IdError, MarkId};
pub use key_ring::{IssuerKey, KeyRing, KeyState, Kid};
pub use mark_status::{MarkStatus, StatusChange, TransitionError};
pub use trust::{AcceptedTrustList, KeyChange, TrustListHealth};
