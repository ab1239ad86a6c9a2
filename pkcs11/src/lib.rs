//! Signing keys in a PKCS#11 token (a hardware security module, or SoftHSM2 in tests), behind the
//! same [`trustmark_keys::SignerProvider`] as software keys: keys are generated inside the token
//! (sensitive, never extractable), found again by `CKA_ID` = their kid, and sign with `CKM_EDDSA`
//! (Ed25519) or `CKM_ECDSA` over a SHA-256 digest made in software (ES256; the signature is the
//! fixed `r || s` form, normalised to low `s` as the token profile requires).
//!
//! A token that is missing, logged out or failing answers
//! [`trustmark_keys::KeyError::Unavailable`] and is reconnected on a later request
//! ([`Token`]). Specification: `spec/pki.md` section 12.

#![deny(missing_docs)]

mod config;
mod import;
mod key;
pub mod softhsm;
mod token;

pub use config::{Pin, TokenConfig, DEFAULT_SESSIONS};
pub use import::Imported;
pub use key::{Protection, TokenKey, TokenProvider};
pub use token::{Token, RETRY_AFTER};
