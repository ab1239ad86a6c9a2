//! A bounded cache of signatures that verified, in front of the crypto backend of the service's
//! trust store. The verification page and `POST /v1/verify` are public: without it every request
//! costs an Ed25519 verification, and a popular mark (a product on a shelf, scanned all day)
//! costs the same one again and again.
//!
//! Only the signature check is cached. Everything else the verifier does (parsing, the key's
//! validity, time, scope, policy) and the registry's status run on every request, so a cached
//! mark still turns expired, revoked or suspended at once. Only successes are cached: a forged
//! token costs its verification each time (and meets the public rate limit), and cannot push
//! genuine entries out faster than genuine traffic does, since a failure never enters the cache.

use trustmark_format::Algorithm;
use trustmark_verifier::SignatureVerifier;

/// A [`SignatureVerifier`] that remembers `(alg, key, message, signature)` tuples that verified.
pub struct CachingVerifier {
    inner: &'static dyn SignatureVerifier,
    /// `None`: caching is off.
    verified: Option<quick_cache::sync::Cache<[u8; 32], ()>>,
}

impl std::fmt::Debug for CachingVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachingVerifier")
            .field("entries", &self.len())
            .finish_non_exhaustive()
    }
}

impl CachingVerifier {
    /// Remembers up to `entries` verified signatures (0: none, every call verifies).
    pub fn new(inner: &'static dyn SignatureVerifier, entries: usize) -> Self {
        Self {
            inner,
            verified: (entries > 0).then(|| quick_cache::sync::Cache::new(entries)),
        }
    }

    /// The number of signatures remembered.
    pub fn len(&self) -> usize {
        self.verified.as_ref().map_or(0, |c| c.len())
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// SHA-256 over every input of a verification, each length-prefixed, so that no two
    /// different inputs share a key.
    fn key(alg: Algorithm, public_key: &[u8], message: &[u8], signature: &[u8]) -> [u8; 32] {
        let mut context = ring::digest::Context::new(&ring::digest::SHA256);
        context.update(&alg.cose_value().to_be_bytes());
        for part in [public_key, message, signature] {
            context.update(&(part.len() as u64).to_be_bytes());
            context.update(part);
        }
        let mut key = [0u8; 32];
        key.copy_from_slice(context.finish().as_ref());
        key
    }
}

impl SignatureVerifier for CachingVerifier {
    fn verify(&self, alg: Algorithm, public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
        let Some(verified) = &self.verified else {
            return self.inner.verify(alg, public_key, message, signature);
        };
        let key = Self::key(alg, public_key, message, signature);
        if verified.get(&key).is_some() {
            return true;
        }
        let valid = self.inner.verify(alg, public_key, message, signature);
        if valid {
            verified.insert(key, ());
        }
        valid
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Accepts signatures equal to the message, and counts the calls.
    struct Counting(AtomicUsize);

    impl SignatureVerifier for Counting {
        fn verify(&self, _: Algorithm, _: &[u8], message: &[u8], signature: &[u8]) -> bool {
            self.0.fetch_add(1, Ordering::SeqCst);
            message == signature
        }
    }

    static COUNTING: Counting = Counting(AtomicUsize::new(0));

    #[test]
    fn successes_are_remembered_and_failures_are_not() {
        let cache = CachingVerifier::new(&COUNTING, 2);
        let calls = || COUNTING.0.load(Ordering::SeqCst);
        assert!(cache.verify(Algorithm::EdDsa, b"k", b"m", b"m"));
        assert!(cache.verify(Algorithm::EdDsa, b"k", b"m", b"m"));
        assert_eq!(calls(), 1);
        // Any other input is another entry: key, algorithm, or where one part ends.
        assert!(!cache.verify(Algorithm::EdDsa, b"k", b"m", b"x"));
        assert!(!cache.verify(Algorithm::EdDsa, b"k", b"m", b"x"));
        assert!(cache.verify(Algorithm::Es256, b"k", b"m", b"m"));
        assert!(cache.verify(Algorithm::EdDsa, b"km", b"", b""));
        assert_eq!(calls(), 5);
        assert!(cache.len() <= 2, "bounded: {}", cache.len());
        let off = CachingVerifier::new(&COUNTING, 0);
        assert!(off.verify(Algorithm::EdDsa, b"k", b"m", b"m"));
        assert!(off.verify(Algorithm::EdDsa, b"k", b"m", b"m"));
        assert_eq!((calls(), off.len()), (7, 0));
    }
}
