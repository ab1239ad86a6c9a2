//! Offline verification of trust marks.
//!
//! Everything a decision depends on is an argument: the token, the [`TrustStore`] (a trust list
//! verified under the scheme's [`TrustAnchor`], with the crypto backend), the issuer's status
//! list if the caller has one (a [`VerifiedStatusList`] from [`verify_status_list`]), the
//! [`Policy`] and the time. Nothing here reads a clock, the network or global state. A
//! successful [`verify`] or [`verify_with_status`] returns a [`VerifiedMark`], which nothing
//! else can construct; a failure says which check failed ([`VerifyError`]).
//!
//! The core is `#![no_std]` with `alloc`. Features: `ring` (crypto backend, default),
//! `rustcrypto` (a pure-Rust crypto backend for bare-metal targets; both may be enabled, and they
//! accept the same signatures: `spec/backends.md`), `std`, `cli` (the `trustmark-verify` tool).
//! With `std`, `stdout::print_line` is how the workspace's command-line tools print.
//!
//! ```no_run
//! # #[cfg(feature = "ring")] {
//! use trustmark_format::{Algorithm, UnixTime};
//! use trustmark_verifier::{verify, Policy, TrustAnchor, TrustStore, RING};
//! # let (root_public_key, trust_list_bytes, token): (Vec<u8>, Vec<u8>, Vec<u8>) = Default::default();
//! let anchor = TrustAnchor { alg: Algorithm::EdDsa, public_key: root_public_key };
//! let now = UnixTime(1_800_000_000);
//! let trust = TrustStore::from_signed(&trust_list_bytes, &anchor, now, &RING)?;
//! let mark = verify(&token, &trust, &Policy::default(), now)?;
//! println!("{} {}", mark.claims().vendor, mark.claims().model);
//!
//! // With the issuer's status list (fetched or cached): revoked and suspended marks fail.
//! # let status_list_token: Vec<u8> = Vec::new();
//! use trustmark_verifier::{verify_status_list, verify_with_status};
//! let policy = Policy { max_status_age: Some(7 * 86_400), ..Policy::default() };
//! let list = verify_status_list(&status_list_token, &trust, &policy, now)?;
//! let mark = verify_with_status(&token, &trust, Some(&list), &policy, now)?;
//! assert_eq!(mark.status_as_of(), Some(list.issued_at()));
//! # }
//! # Ok::<(), trustmark_verifier::VerifyError>(())
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
#[cfg(feature = "std")]
extern crate std;

pub mod cose;
mod crypto;
mod error;
#[cfg(feature = "fetch")]
pub mod fetch;
#[cfg(feature = "std")]
pub mod gateway;
#[cfg(feature = "text")]
pub mod mark_text;
mod policy;
mod status;
#[cfg(feature = "std")]
pub mod stdout;
mod trust;
mod verify;

pub use crypto::SignatureVerifier;
#[cfg(feature = "ring")]
pub use crypto::{RingVerifier, RING};
#[cfg(feature = "rustcrypto")]
pub use crypto::{RustCryptoVerifier, RUST_CRYPTO};
pub use error::VerifyError;
pub use policy::{FrameworkRequirement, Policy};
pub use status::{verify_status_list, verify_status_list_with_budget, VerifiedStatusList};
pub use trust::{TrustAnchor, TrustStore, MAX_KEYS_PER_KID};
pub use verify::{verify, verify_with_status, VerifiedMark};
