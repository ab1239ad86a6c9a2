//! Status lists end to end in the verifier: tokens signed with real keys (ring, through
//! trustmark-keys), a root-signed trust list, and every outcome of `verify_status_list` and
//! `verify_with_status` with its exact error; the draft's example Status List Token checked with
//! the generic COSE verifier; and the brief's size figure for 2^20 marks. Every case runs with
//! each crypto backend (`RING`, `RUST_CRYPTO`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

mod common;

use std::path::{Path, PathBuf};
use std::time::Instant;

use base64::Engine;
use trustmark_format::status_list::{CompressedStatusList, MAX_LIST_BYTES};
use trustmark_format::{
    Algorithm, FormatError, Status, StatusList, StatusListClaims, StatusListToken, TrustedIssuer,
    UnixTime,
};
use trustmark_keys::{KeyError, Signer, SoftwareKey};
use trustmark_verifier::cose::verify_cose_sign1;
use trustmark_verifier::{
    verify, verify_status_list, verify_status_list_with_budget, verify_with_status, Policy,
    SignatureVerifier, TrustAnchor, TrustStore, VerifiedStatusList, VerifyError,
};

use common::{
    entries, entry, for_each_backend, key, mark_by, status_token, token_with, zlib9, Root,
    BACKENDS, DAY, NOW,
};

const URI_A: &str = "https://status.lab-a.example/v1/lists/1";
const URI_B: &str = "https://status.lab-b.example/v1/lists/1";

/// The scheme: a root, and issuers
/// - `a`: lab A's key, publishing at `URI_A`; `a2`: lab A's second key, same URI;
/// - `b`: lab B, publishing at `URI_B`;
/// - `c`: a certifier with no status list URI in the trust list;
/// - `es`: an ES256 key publishing at `URI_B` too (lab B's second key).
struct Scheme {
    root: Root,
    a: SoftwareKey,
    a2: SoftwareKey,
    b: SoftwareKey,
    c: SoftwareKey,
    es: SoftwareKey,
}

impl Scheme {
    fn new() -> Self {
        Self {
            root: Root::new(1),
            a: key(2),
            a2: key(3),
            b: key(4),
            c: key(5),
            es: SoftwareKey::generate(Algorithm::Es256).unwrap(),
        }
    }

    fn entries(&self) -> Vec<TrustedIssuer> {
        vec![
            entry(&self.a, "Lab A", Some(URI_A)),
            entry(&self.a2, "Lab A (second key)", Some(URI_A)),
            entry(&self.b, "Lab B", Some(URI_B)),
            entry(&self.c, "Certifier C", None),
            entry(&self.es, "Lab B (ES256)", Some(URI_B)),
        ]
    }

    fn anchor(&self) -> TrustAnchor {
        self.root.anchor()
    }

    fn signed_trust_list(&self, sequence: u64, issuers: Vec<TrustedIssuer>) -> Vec<u8> {
        self.root.signed_list(sequence, issuers)
    }

    fn trust(&self, crypto: &'static dyn SignatureVerifier) -> TrustStore<'static> {
        self.root.store(self.entries(), crypto)
    }
}

fn verified(token: &[u8], trust: &TrustStore<'_>) -> VerifiedStatusList {
    verify_status_list(token, trust, &Policy::default(), UnixTime(NOW)).unwrap()
}

/// Verifies `mark` with `list` at `now` under the default policy.
fn check(
    mark: &[u8],
    trust: &TrustStore<'_>,
    list: &VerifiedStatusList,
    now: u64,
) -> Result<(), VerifyError> {
    verify_with_status(mark, trust, Some(list), &Policy::default(), UnixTime(now)).map(|_| ())
}

#[test]
fn valid_revoked_suspended() {
    for_each_backend(|crypto| {
        let s = Scheme::new();
        let trust = s.trust(crypto);
        let set = [
            (1, Status::Invalid),
            (2, Status::Suspended),
            (3, Status::ApplicationSpecific(3)),
        ];
        let mut list = verified(&status_token(&s.a, URI_A, entries(1000, &set)), &trust);
        assert_eq!(
            (list.uri(), list.len(), list.bits(), list.ttl()),
            (URI_A, 1000, 2, Some(43_200))
        );
        assert_eq!(list.issuer().kid, s.a.kid());
        // Check the compressed form, then the same after expanding it.
        for expanded in [false, true] {
            if expanded {
                list.expand().unwrap();
            }
            let ok = verify_with_status(
                &mark_by(&s.a, 0),
                &trust,
                Some(&list),
                &Policy::default(),
                UnixTime(NOW + 60),
            )
            .unwrap();
            assert_eq!(ok.status_as_of(), Some(UnixTime(NOW)));
            assert_eq!(
                check(&mark_by(&s.a, 1), &trust, &list, NOW),
                Err(VerifyError::Revoked {
                    index: 1,
                    status: 1
                })
            );
            assert_eq!(
                check(&mark_by(&s.a, 2), &trust, &list, NOW),
                Err(VerifyError::Suspended { index: 2 })
            );
            // Application-specific: this profile assigns none, so it is treated as revoked.
            assert_eq!(
                check(&mark_by(&s.a, 3), &trust, &list, NOW),
                Err(VerifyError::Revoked {
                    index: 3,
                    status: 3
                })
            );
            // Index 1000 is past the 1000 entries.
            assert_eq!(
                check(&mark_by(&s.a, 1000), &trust, &list, NOW),
                Err(VerifyError::StatusIndexOutOfRange {
                    index: 1000,
                    len: 1000
                })
            );
            assert_eq!(
                check(&mark_by(&s.a, u32::MAX), &trust, &list, NOW),
                Err(VerifyError::StatusIndexOutOfRange {
                    index: u32::MAX,
                    len: 1000
                })
            );
            assert_eq!(list.status(999), Ok(Status::Valid));
        }
        // The codes, as JSON output and vectors name them.
        for (error, code) in [
            (
                VerifyError::Revoked {
                    index: 1,
                    status: 1,
                },
                "revoked",
            ),
            (VerifyError::Suspended { index: 2 }, "suspended"),
            (
                VerifyError::StatusIndexOutOfRange { index: 1, len: 0 },
                "status_index_out_of_range",
            ),
            (VerifyError::StatusMissing, "status_missing"),
        ] {
            assert_eq!(error.code(), code);
            assert!(!error.to_string().is_empty());
        }
    });
}

#[test]
fn stale_expired_and_early_lists() {
    for_each_backend(|crypto| {
        let s = Scheme::new();
        let trust = s.trust(crypto);
        let token = status_token(&s.a, URI_A, entries(100, &[]));
        let mark = mark_by(&s.a, 7);
        let hour = Policy {
            max_status_age: Some(3600),
            ..Policy::default()
        };
        // Fresh: accepted at NOW + 3600, stale one second later, at construction and at use.
        let list = verify_status_list(&token, &trust, &hour, UnixTime(NOW + 3600)).unwrap();
        assert!(
            verify_with_status(&mark, &trust, Some(&list), &hour, UnixTime(NOW + 3600)).is_ok()
        );
        let stale_error = VerifyError::StatusListStale {
            issued_at: UnixTime(NOW),
            max_age: 3600,
            now: UnixTime(NOW + 3601),
        };
        assert_eq!(stale_error.code(), "status_list_stale");
        let stale = Err(stale_error);
        assert_eq!(
            verify_status_list(&token, &trust, &hour, UnixTime(NOW + 3601)).map(|_| ()),
            stale
        );
        assert_eq!(
            verify_with_status(&mark, &trust, Some(&list), &hour, UnixTime(NOW + 3601)).map(|_| ()),
            stale
        );
        // Without a maximum age, only exp limits it.
        assert!(check(&mark, &trust, &list, NOW + DAY - 1).is_ok());
        let expired_error = VerifyError::StatusListExpired {
            expires_at: UnixTime(NOW + DAY),
            now: UnixTime(NOW + DAY),
        };
        assert_eq!(expired_error.code(), "status_list_expired");
        let expired = Err(expired_error);
        assert_eq!(check(&mark, &trust, &list, NOW + DAY), expired);
        assert_eq!(
            verify_status_list(&token, &trust, &Policy::default(), UnixTime(NOW + DAY)).map(|_| ()),
            expired
        );
        // Issued after the verification time.
        let early = Err(VerifyError::StatusListNotYetValid {
            issued_at: UnixTime(NOW),
            now: UnixTime(NOW - 1),
        });
        assert_eq!(
            verify_status_list(&token, &trust, &Policy::default(), UnixTime(NOW - 1)).map(|_| ()),
            early
        );
        assert_eq!(check(&mark, &trust, &list, NOW - 1), early);
        // No exp at all: valid until the policy's age says otherwise.
        let open = token_with(&s.a, URI_A, UnixTime(NOW), None, entries(100, &[]));
        let open = verified(&open, &trust);
        assert_eq!(open.expires_at(), None);
        assert!(check(&mark, &trust, &open, NOW + 29 * DAY).is_ok());
        // ttl is cache advice, not validity.
        assert!(!open.refresh_due(UnixTime(NOW + 43_199)));
        assert!(open.refresh_due(UnixTime(NOW + 43_200)));
    });
}

#[test]
fn the_list_must_be_the_mark_issuers() {
    for_each_backend(|crypto| {
        let s = Scheme::new();
        let trust = s.trust(crypto);
        let mark_a = mark_by(&s.a, 5);
        // Lab B's own list does not speak for lab A's marks.
        let list_b = verified(&status_token(&s.b, URI_B, entries(100, &[])), &trust);
        assert_eq!(
            check(&mark_a, &trust, &list_b, NOW),
            Err(VerifyError::StatusListIssuerMismatch)
        );
        // Lab B cannot sign a list for lab A's URI: its trust-list entry says where it publishes.
        assert_eq!(
            verify_status_list(
                &status_token(&s.b, URI_A, entries(100, &[])),
                &trust,
                &Policy::default(),
                UnixTime(NOW)
            )
            .map(|_| ()),
            Err(VerifyError::StatusListUriMismatch {
                expected: URI_B.to_string(),
                found: URI_A.to_string()
            })
        );
        // Certifier C has no URI in the trust list, so its list's sub is not checked, but it
        // still does not speak for lab A's marks, even under lab A's URI.
        let list_c = verified(&status_token(&s.c, URI_A, entries(100, &[])), &trust);
        assert_eq!(
            check(&mark_a, &trust, &list_c, NOW),
            Err(VerifyError::StatusListIssuerMismatch)
        );
        // ... but does for its own marks (same key), and lab A's list does not for C's marks.
        let mark_c = mark_by(&s.c, 5);
        assert!(check(&mark_c, &trust, &list_c, NOW).is_ok());
        let list_a = verified(
            &status_token(&s.a, URI_A, entries(100, &[(5, Status::Invalid)])),
            &trust,
        );
        assert_eq!(
            check(&mark_c, &trust, &list_a, NOW),
            Err(VerifyError::StatusListIssuerMismatch)
        );
        // Lab A's second key (same URI) speaks for marks of its first key: key rollover.
        let list_a2 = verified(
            &status_token(&s.a2, URI_A, entries(100, &[(5, Status::Suspended)])),
            &trust,
        );
        assert_eq!(
            check(&mark_a, &trust, &list_a2, NOW),
            Err(VerifyError::Suspended { index: 5 })
        );
        // Until that key leaves the trust list: a list cached from before is no longer applied.
        let without_a2: Vec<TrustedIssuer> = s
            .entries()
            .into_iter()
            .filter(|i| i.kid != s.a2.kid())
            .collect();
        let mut trust2 = trust;
        trust2
            .update(
                &s.signed_trust_list(2, without_a2),
                &s.anchor(),
                UnixTime(NOW),
            )
            .unwrap();
        assert_eq!(
            check(&mark_a, &trust2, &list_a2, NOW),
            Err(VerifyError::StatusListIssuerMismatch)
        );
        assert_eq!(
            check(&mark_a, &trust2, &list_a, NOW),
            Err(VerifyError::Revoked {
                index: 5,
                status: 1
            })
        );
    });
}

#[test]
fn signatures_keys_and_profiles() {
    for_each_backend(|crypto| {
        let s = Scheme::new();
        let trust = s.trust(crypto);
        let policy = Policy::default();
        let now = UnixTime(NOW);
        let token = status_token(&s.a, URI_A, entries(100, &[]));
        // The last byte is the end of the signature.
        let mut tampered = token.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert_eq!(
            verify_status_list(&tampered, &trust, &policy, now).map(|_| ()),
            Err(VerifyError::StatusListSignature)
        );
        assert_eq!(
            VerifyError::StatusListSignature.code(),
            "status_list_signature"
        );
        // A key the trust list does not have.
        let stranger = key(99);
        assert_eq!(
            verify_status_list(
                &status_token(&stranger, URI_A, entries(8, &[])),
                &trust,
                &policy,
                now
            )
            .map(|_| ()),
            Err(VerifyError::UnknownKid {
                kid: stranger.kid().to_vec()
            })
        );
        // Issued outside the key's validity (the key's certificate had expired).
        let late = token_with(
            &s.a,
            URI_A,
            UnixTime(NOW + 366 * DAY),
            None,
            entries(8, &[]),
        );
        assert_eq!(
            verify_status_list(&late, &trust, &policy, UnixTime(NOW + 367 * DAY)).map(|_| ()),
            Err(VerifyError::StatusListOutsideKeyValidity {
                iat: UnixTime(NOW + 366 * DAY),
                not_before: UnixTime(NOW - 365 * DAY),
                not_after: UnixTime(NOW + 365 * DAY),
            })
        );
        // A mark is not a status list, nor the other way round.
        assert_eq!(
            verify_status_list(&mark_by(&s.a, 1), &trust, &policy, now).map(|_| ()),
            Err(VerifyError::Format(FormatError::MissingTyp))
        );
        assert_eq!(
            verify(&token, &trust, &policy, now).map(|_| ()),
            Err(VerifyError::Format(
                FormatError::UnexpectedHeaderParameter { label: 16 }
            ))
        );
        // A budget below the list's size refuses it (100 entries at 2 bits: 25 bytes).
        assert_eq!(
            verify_status_list_with_budget(&token, &trust, &policy, now, 24).map(|_| ()),
            Err(VerifyError::Format(FormatError::StatusListTooLarge {
                max: 24
            }))
        );
        assert!(verify_status_list_with_budget(&token, &trust, &policy, now, 25).is_ok());
    });
}

/// P-256 group order, big-endian, to turn a low-s signature into its high-s twin.
const P256_ORDER: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

#[test]
fn es256_lists_and_the_low_s_rule() {
    for_each_backend(|crypto| {
        let s = Scheme::new();
        let trust = s.trust(crypto);
        let token = status_token(&s.es, URI_B, entries(100, &[(9, Status::Invalid)]));
        let list = verified(&token, &trust);
        // Lab B's ES256 key speaks for lab B's Ed25519 marks (same URI).
        assert_eq!(
            check(&mark_by(&s.b, 9), &trust, &list, NOW),
            Err(VerifyError::Revoked {
                index: 9,
                status: 1
            })
        );
        // s -> n - s: still a valid ECDSA signature, but not the canonical one.
        let mut high = token.clone();
        let sig = high.len() - 32;
        let mut borrow = 0i16;
        for i in (0..32).rev() {
            let d = i16::from(P256_ORDER[i]) - i16::from(high[sig + i]) - borrow;
            borrow = i16::from(d < 0);
            high[sig + i] = d.rem_euclid(256) as u8;
        }
        assert_eq!(
            verify_status_list(&high, &trust, &Policy::default(), UnixTime(NOW)).map(|_| ()),
            Err(VerifyError::NonCanonicalSignature)
        );
    });
}

#[test]
fn require_status() {
    for_each_backend(|crypto| {
        let s = Scheme::new();
        let trust = s.trust(crypto);
        let mark = mark_by(&s.a, 0);
        let policy = Policy {
            require_status: true,
            ..Policy::default()
        };
        let now = UnixTime(NOW);
        assert_eq!(
            verify(&mark, &trust, &policy, now).map(|_| ()),
            Err(VerifyError::StatusMissing)
        );
        assert_eq!(
            verify_with_status(&mark, &trust, None, &policy, now).map(|_| ()),
            Err(VerifyError::StatusMissing)
        );
        let list = verified(&status_token(&s.a, URI_A, entries(8, &[])), &trust);
        assert!(verify_with_status(&mark, &trust, Some(&list), &policy, now).is_ok());
        // Without the flag, no list is fine, and says so.
        let plain = verify(&mark, &trust, &Policy::default(), now).unwrap();
        assert_eq!(plain.status_as_of(), None);
    });
}

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors/token-status-list")
}

fn vector_hex(name: &str) -> Vec<u8> {
    let path = vectors().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let digits: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    hex::decode(digits).unwrap()
}

/// The example signing key of the draft (`vectors/README.md`), as a raw P-256 point.
fn draft_key() -> Vec<u8> {
    let b64 = |s: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s)
            .unwrap()
    };
    let mut point = vec![0x04];
    point.extend(b64("I3HWm_0Ds1dPMI-IWmf4mBmH-YaeAVbPVu7vB27CxXo"));
    point.extend(b64("6N_d5Elj9bs1htgV3okJKIdbHEpkgTmAluYKJemzn1M"));
    point
}

/// The draft's example Status List Token (`status_list_cwt.md`): it verifies with the generic
/// COSE_Sign1 verifier and our claims decoder reads it, but it is not our profile (kid in the
/// unprotected header, claims not in bytewise order), and the profile parser says why.
#[test]
fn draft_example_status_list_token() {
    for_each_backend(|crypto| {
        let token = vector_hex("status_list_cwt.md");
        let payload =
            verify_cose_sign1(&token, Algorithm::Es256, &draft_key(), &[], crypto).unwrap();
        let claims = StatusListClaims::from_cbor(&payload).unwrap();
        assert_eq!(claims.uri, "https://example.com/statuslists/1");
        assert_eq!(claims.issued_at, UnixTime(1_686_920_170));
        assert_eq!(claims.expires_at, Some(UnixTime(2_291_720_170)));
        assert_eq!(claims.ttl, Some(43_200));
        let list = claims.list.inflate(MAX_LIST_BYTES).unwrap();
        assert_eq!((list.bits(), list.as_bytes()), (1, &[0xb9, 0xa3][..]));
        // Our encoder, given the same claims, writes them in bytewise order instead (2, 4, 6,
        // 65533, 65534 where the draft has 2, 6, 4, 65534, 65533), with the same StatusList bytes.
        let ours = StatusListToken::from_cbor(&payload, MAX_LIST_BYTES)
            .unwrap()
            .to_cbor(zlib9)
            .unwrap();
        assert_ne!(ours, payload);
        assert_eq!(ours.len(), payload.len());
        let status_list = CompressedStatusList::from_cbor(
            &hex::decode("a2646269747301636c73744a78dadbb918000217015d").unwrap(),
        )
        .unwrap()
        .to_cbor();
        assert!(ours.windows(status_list.len()).any(|w| w == status_list));
        // Not our profile: the kid is in the unprotected header.
        assert_eq!(
            StatusListToken::parse_signed(&token),
            Err(FormatError::UnprotectedHeaderNotEmpty)
        );
        let s = Scheme::new();
        assert_eq!(
            verify_status_list(&token, &s.trust(crypto), &Policy::default(), UnixTime(NOW))
                .map(|_| ()),
            Err(VerifyError::Format(FormatError::UnprotectedHeaderNotEmpty))
        );
        // A changed signature byte fails the generic check too.
        let mut tampered = token.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert_eq!(
            verify_cose_sign1(&tampered, Algorithm::Es256, &draft_key(), &[], crypto),
            Err(VerifyError::BadSignature)
        );
        // The draft's Referenced Token (kid "12" too) verifies under the same key.
        let referenced = vector_hex("referenced_token_cwt.md");
        assert!(
            verify_cose_sign1(&referenced, Algorithm::Es256, &draft_key(), &[], crypto).is_ok()
        );
    });
}

/// xorshift64*: a fixed-seed generator, so that the list is the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Entries in the brief's list, and how many are revoked (1%, rounded).
const ENTRIES: usize = 1 << 20;
const REVOKED: usize = 10_486;
/// The brief's target for the signed token: 15.3 KB, with KB = 1,000 bytes (the brief's other
/// figure, "zlib level 9 packs the bits to 15.2 KB", is in the same unit: 15,264 bytes here
/// with zlib's default window, which would be 14.9 KiB).
const TARGET_SIGNED_LEN: usize = 15_300;
/// What the token adds to the compressed list with lab A's 39-byte URI, a 4-byte kid, and all
/// of exp, iat and ttl: 2 (tag, array) + 39 (protected header with its head: alg 2, kid 6, typ
/// 29, map 1, bstr head 1) + 1 (empty unprotected map) + 3 (payload bstr head) + 79 (claims map
/// head 1, sub 43, exp 6, iat 6, status_list key 3, StatusList map without lst's content 14,
/// ttl 6) + 66 (signature with its head). See `spec/status-list.md`.
const TOKEN_OVERHEAD: usize = 190;

/// The brief's list: 2^20 entries at 2 bits with 1% revoked at distinct pseudo-random indices
/// (fixed seed), and the revoked set.
fn brief_list() -> (StatusList, std::collections::BTreeSet<usize>) {
    let mut rng = Rng(0x7275_7374_6d61_726b); // "rustmark"
    let mut revoked = std::collections::BTreeSet::new();
    while revoked.len() < REVOKED {
        revoked.insert((rng.next() % ENTRIES as u64) as usize);
    }
    let mut list = StatusList::new(2, ENTRIES).unwrap();
    for index in &revoked {
        list.set(*index, Status::Invalid.value()).unwrap();
    }
    (list, revoked)
}

/// zlib at level 9 with a `window_bits` window.
fn zlib9_window(data: &[u8], window_bits: u8) -> Vec<u8> {
    let mut z =
        flate2::Compress::new_with_window_bits(flate2::Compression::new(9), true, window_bits);
    let mut out = Vec::with_capacity(data.len() + data.len() / 1000 + 64);
    match z.compress_vec(data, &mut out, flate2::FlushCompress::Finish) {
        Ok(flate2::Status::StreamEnd) => out,
        other => panic!("zlib: {other:?}"),
    }
}

/// The brief's figure, measured: 2^20 marks at 2 bits, 1% revoked, zlib level 9. Prints the
/// compressed and signed sizes for zlib's default 32 KiB window (`windowBits` 15, as the
/// draft's vectors) and for a 4 KiB one (`windowBits` 12), and the times (not asserted).
/// Asserts the token's overhead, that the signed token with the 4 KiB window is at most
/// 15.3 KB (15,300 bytes), and that it verifies with every entry as set.
///
/// With the default window the signed token is 15,454 bytes: over the target (zlib alone makes
/// 15,264 bytes, the token adds 190, of which the signature is 66). A smaller window
/// compresses this sparse list better (shorter distances have cheaper codes, and a run of
/// zeros is matched at distance 1 whatever the window) and also bounds a streaming reader's
/// heap: see `spec/status-list.md`.
#[test]
fn size_of_a_million_mark_list() {
    let (list, revoked) = brief_list();
    let s = Scheme::new();
    let mut signed_small_window = Vec::new();
    for window_bits in [15u8, 12] {
        let started = Instant::now();
        let compressed = zlib9_window(list.as_bytes(), window_bits);
        let compressed_in = started.elapsed();
        let started = Instant::now();
        let token = StatusListToken {
            uri: URI_A.to_string(),
            issued_at: UnixTime(NOW),
            expires_at: Some(UnixTime(NOW + DAY)),
            ttl: Some(43_200),
            list: list.clone(),
        }
        .sign::<KeyError>(
            Algorithm::EdDsa,
            s.a.kid(),
            |raw| zlib9_window(raw, window_bits),
            |tbs| s.a.sign(tbs),
        )
        .unwrap();
        let signed_in = started.elapsed();
        println!(
            "2^20 entries x 2 bits ({} bytes), {} revoked, zlib level 9, windowBits \
             {window_bits}: compressed {} bytes, signed token {} bytes (Ed25519, {}-byte sub, \
             exp, ttl; target {TARGET_SIGNED_LEN}); compress {:.1} ms, encode + compress + \
             sign {:.1} ms",
            list.as_bytes().len(),
            revoked.len(),
            compressed.len(),
            token.len(),
            URI_A.len(),
            compressed_in.as_secs_f64() * 1e3,
            signed_in.as_secs_f64() * 1e3,
        );
        assert_eq!(token.len(), compressed.len() + TOKEN_OVERHEAD);
        signed_small_window = token;
    }
    let token = signed_small_window;
    assert!(
        token.len() <= TARGET_SIGNED_LEN,
        "signed token is {} bytes, over {TARGET_SIGNED_LEN}",
        token.len()
    );
    // It verifies with each backend, and holds every entry as set.
    let last = *revoked.iter().next_back().unwrap();
    let mut verified_list = None;
    for (backend, crypto) in BACKENDS {
        let trust = s.trust(crypto);
        let started = Instant::now();
        let list = verified(&token, &trust);
        let check_time = started.elapsed();
        assert_eq!(list.len(), ENTRIES);
        let started = Instant::now();
        assert_eq!(list.status(last as u32), Ok(Status::Invalid));
        let lookup_time = started.elapsed();
        println!(
            "{backend}: verify_status_list (signature + full streaming inflate): {:.2} ms; \
             streaming lookup of entry {last}: {:.2} ms",
            check_time.as_secs_f64() * 1e3,
            lookup_time.as_secs_f64() * 1e3,
        );
        verified_list = Some(list);
    }
    // Reading the entries involves no crypto: once is enough.
    let mut expanded = verified_list.unwrap();
    expanded.expand().unwrap();
    for index in 0..ENTRIES {
        let expected = if revoked.contains(&index) {
            Status::Invalid
        } else {
            Status::Valid
        };
        assert_eq!(expanded.status(index as u32), Ok(expected));
    }
}
