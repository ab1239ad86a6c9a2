//! Offline verification of trust marks.
//!
//! Everything a decision depends on is an argument: the token, the [`TrustStore`] (a trust list
//! verified under the scheme's [`TrustAnchor`], with the crypto backend), the [`Policy`] and the
//! time. Nothing here reads a clock, the network or global state. A successful [`verify`]
//! returns a [`VerifiedMark`], which nothing else can construct; a failure says which check
//! failed ([`VerifyError`]).
//!
//! The core is `#![no_std]` with `alloc`. Features: `ring` (crypto backend, default), `std`,
//! `cli` (the `trustmark-verify` tool).
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
mod policy;
mod trust;
mod verify;

pub use crypto::SignatureVerifier;
#[cfg(feature = "ring")]
pub use crypto::{RingVerifier, RING};
pub use error::VerifyError;
pub use policy::{FrameworkRequirement, Policy};
pub use trust::{TrustAnchor, TrustStore, MAX_KEYS_PER_KID};
pub use verify::{verify, VerifiedMark};
