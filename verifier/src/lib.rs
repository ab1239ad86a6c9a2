//! Offline verification of trust marks.
//!
//! Everything a decision depends on is an argument: the token, the [`TrustStore`] (a trust list
//! verified under the scheme's [`TrustAnchor`], with the crypto backend), the issuer's status
//! list if the caller has one (a [`VerifiedStatusList`] from [`verify_status_list`]), the
//! [`Policy`] and the time. Nothing here reads a clock, the network or global state. A
//! successful [`verify`] or [`verify_with_status`] returns a [`VerifiedMark`], which nothing
//! else can construct; a failure says which check failed ([`VerifyError`]).
//!
//! A verifier that recognises several schemes at once (mutual recognition) holds a
//! [`TrustStores`]: one trust list per scheme root, each verified under its own anchor. The
//! functions above take either ([`TrustedSchemes`]); a mark's kid is looked up in every scheme,
//! and [`VerifiedMark::anchor`] says which scheme verified it (`spec/pki.md` section 6.3).
//!
//! The core is `#![no_std]` with `alloc`. Features: `ring` (crypto backend; the only default
//! feature), `rustcrypto` (a pure-Rust crypto backend for bare-metal targets; both may be
//! enabled, and they accept the same signatures: `spec/backends.md`), `std`, `fetch`, `text`,
//! `cli` (the `trustmark-verify` tool and its dependencies). With `std`, `stdout::print_line` is
//! how the workspace's command-line tools print.
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
//!
//! // Two schemes: each list checked under its own root, marks of either verify.
//! # let (other_anchor, other_trust_list_bytes) = (anchor.clone(), Vec::new());
//! use trustmark_verifier::TrustStores;
//! let mut schemes = TrustStores::new(&RING);
//! schemes.add(&trust_list_bytes, &anchor, now)?;
//! schemes.add(&other_trust_list_bytes, &other_anchor, now)?;
//! let mark = verify(&token, &schemes, &Policy::default(), now)?;
//! let verified_by: &TrustAnchor = mark.anchor();
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
mod release;
mod schemes;
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
pub use release::{Release, MAX_RELEASE_PARTS};
pub use schemes::TrustStores;
pub use status::{verify_status_list, verify_status_list_with_budget, VerifiedStatusList};
pub use trust::{TrustAnchor, TrustStore, TrustedSchemes, MAX_KEYS_PER_KID};
pub use verify::{authenticate, verify, verify_with_status, Authentic, VerifiedMark};

// The tool's tests (`tests/cli.rs`) require the `cli` feature, which this crate's dev-dependency
// on itself turns on for every test build. Were it off, cargo would skip them without a word;
// this stops the build of the unit tests instead.
#[cfg(all(test, not(feature = "cli")))]
compile_error!(
    "the `cli` feature is off in a test build: tests/cli.rs would be skipped (see the \
     dev-dependencies in Cargo.toml)"
);
