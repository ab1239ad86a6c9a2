//! Full offline verification of a typical mark against raw ring Ed25519 verification of the same
//! Sig_structure bytes, in the same run.
//!
//! `cargo bench -p trustmark-verifier --bench verify` prints criterion's figures, then the ratio
//! of throughputs (full path / raw ring) as the median of interleaved rounds, which cancels most
//! of the drift of a shared machine. Target: >= 0.95, with the vectors' one-issuer trust list and
//! with a trust list of 1,000 issuer keys (the mark's key among them).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use criterion::Criterion;
use ring::signature::{UnparsedPublicKey, ED25519};
use trustmark_format::{mark, Algorithm, TrustList, TrustedIssuer, UnixTime};
use trustmark_keys::{kid_for, Signer, SoftwareKey};
use trustmark_verifier::{
    verify, verify_status_list, verify_with_status, Policy, TrustAnchor, TrustStore,
    VerifiedStatusList, RING,
};

struct Fixture {
    token: Vec<u8>,
    trust_list: Vec<u8>,
    anchor: TrustAnchor,
    now: UnixTime,
    tbs: Vec<u8>,
    signature: Vec<u8>,
    issuer_key: Vec<u8>,
}

fn fixture() -> Fixture {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../spec/vectors/files");
    let read = |name: &str| std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let token = read("typical-mark.cbor");
    let trust_list = read("trust-list.cbor");
    let now = UnixTime(
        String::from_utf8_lossy(&read("time.txt"))
            .trim()
            .parse()
            .unwrap_or_else(|e| panic!("time.txt: {e}")),
    );
    let anchor = TrustAnchor {
        alg: Algorithm::EdDsa,
        public_key: read("root-ed25519.pub"),
    };
    let parsed = mark::parse(&token).unwrap_or_else(|e| panic!("{e}"));
    let trust =
        TrustStore::from_signed(&trust_list, &anchor, now, &RING).unwrap_or_else(|e| panic!("{e}"));
    let issuer_key = trust.list().issuers[0].public_key.clone();
    Fixture {
        tbs: parsed.to_be_signed(),
        signature: parsed.signature().to_vec(),
        token,
        trust_list,
        anchor,
        now,
        issuer_key,
    }
}

/// The vectors' trust list with 999 more Ed25519 issuer keys (random, each with its derived
/// kid), the mark's issuer last, signed by a fresh root: verification must not slow down with
/// the size of the scheme.
fn thousand_keys(f: &Fixture) -> (Vec<u8>, TrustAnchor) {
    let vectors = TrustStore::from_signed(&f.trust_list, &f.anchor, f.now, &RING)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut list: TrustList = vectors.list().clone();
    let template: TrustedIssuer = list.issuers[0].clone();
    let mut issuers = Vec::with_capacity(1000);
    for n in 0..999 {
        let key = SoftwareKey::generate(Algorithm::EdDsa).unwrap();
        issuers.push(TrustedIssuer {
            kid: kid_for(Algorithm::EdDsa, key.public_key()),
            public_key: key.public_key().to_vec(),
            name: format!("Lab {n}"),
            ..template.clone()
        });
    }
    issuers.push(template);
    list.issuers = issuers;
    let root = SoftwareKey::generate(Algorithm::EdDsa).unwrap();
    let signed = list
        .sign(Algorithm::EdDsa, root.kid(), |tbs| root.sign(tbs))
        .unwrap_or_else(|e: trustmark_keys::KeyError| panic!("{e}"));
    let anchor = TrustAnchor {
        alg: Algorithm::EdDsa,
        public_key: root.public_key().to_vec(),
    };
    (signed, anchor)
}

fn raw(f: &Fixture) -> bool {
    UnparsedPublicKey::new(&ED25519, &f.issuer_key)
        .verify(black_box(&f.tbs), black_box(&f.signature))
        .is_ok()
}

fn full(f: &Fixture, trust: &TrustStore<'_>, policy: &Policy) -> bool {
    verify(black_box(&f.token), trust, policy, f.now).is_ok()
}

/// The gateway decision: the mark against the cached trust list and the cached (expanded) status
/// list, with the status lookup.
fn gateway(
    f: &Fixture,
    trust: &TrustStore<'_>,
    status: &VerifiedStatusList,
    policy: &Policy,
) -> bool {
    verify_with_status(black_box(&f.token), trust, Some(status), policy, f.now).is_ok()
}

/// Operations per second of `op` over `n` calls.
fn rate(n: u32, mut op: impl FnMut() -> bool) -> f64 {
    let start = Instant::now();
    for _ in 0..n {
        assert!(op());
    }
    f64::from(n) / start.elapsed().as_secs_f64()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let f = fixture();
    let trust = TrustStore::from_signed(&f.trust_list, &f.anchor, f.now, &RING)
        .unwrap_or_else(|e| panic!("{e}"));
    let policy = Policy {
        firmware_sha256: Some([0x9f; 32]),
        ..Policy::default()
    };
    assert!(raw(&f) && full(&f, &trust, &policy));
    let gateway_policy = Policy {
        require_status: true,
        max_status_age: Some(86_400),
        ..policy.clone()
    };
    let status_token = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../spec/vectors/files/status-list.cwt"),
    )
    .unwrap_or_else(|e| panic!("status-list.cwt: {e}"));
    let mut status = verify_status_list(&status_token, &trust, &gateway_policy, f.now)
        .unwrap_or_else(|e| panic!("{e}"));
    status.expand().unwrap_or_else(|e| panic!("{e}"));
    assert!(gateway(&f, &trust, &status, &gateway_policy));
    let (large_list, large_anchor) = thousand_keys(&f);
    let large = TrustStore::from_signed(&large_list, &large_anchor, f.now, &RING)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(large.list().issuers.len(), 1000);
    assert!(full(&f, &large, &policy));

    let mut c = Criterion::default().configure_from_args();
    let mut group = c.benchmark_group("verify");
    group.bench_function("raw_ring_ed25519", |b| b.iter(|| raw(&f)));
    group.bench_function("trustmark_full_offline", |b| {
        b.iter(|| full(&f, &trust, &policy))
    });
    group.bench_function("trustmark_full_offline_1000_keys", |b| {
        b.iter(|| full(&f, &large, &policy))
    });
    group.bench_function("gateway_decision_with_status", |b| {
        b.iter(|| gateway(&f, &trust, &status, &gateway_policy))
    });
    group.bench_function("trust_list_load", |b| {
        b.iter(|| {
            TrustStore::from_signed(black_box(&f.trust_list), &f.anchor, f.now, &RING).is_ok()
        })
    });
    group.finish();
    c.final_summary();

    // Interleaved rounds: raw and full alternate, so both see the same machine state.
    let (rounds, n) = (31, 2000);
    let mut raw_rates = Vec::new();
    let mut full_rates = Vec::new();
    let mut ratios = Vec::new();
    let mut gateway_ratios = Vec::new();
    let mut large_ratios = Vec::new();
    for _ in 0..rounds {
        let r = rate(n, || raw(&f));
        let v = rate(n, || full(&f, &trust, &policy));
        let g = rate(n, || gateway(&f, &trust, &status, &gateway_policy));
        let l = rate(n, || full(&f, &large, &policy));
        raw_rates.push(r);
        full_rates.push(v);
        ratios.push(v / r);
        gateway_ratios.push(g / r);
        large_ratios.push(l / r);
    }
    let range = |values: &[f64]| {
        let (lo, hi) = values
            .iter()
            .fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
        format!("{lo:.3}-{hi:.3}")
    };
    println!(
        "verify ratio (full offline path / raw ring Ed25519), median of {rounds} interleaved rounds of {n}: {:.3} \
         (raw {:.0}/s, full {:.0}/s, {} cores)",
        median(ratios),
        median(raw_rates),
        median(full_rates),
        std::thread::available_parallelism().map(|p| p.get()).unwrap_or(1)
    );
    println!(
        "verify ratio with a trust list of 1,000 issuer keys (full offline path / raw ring Ed25519), median of \
         {rounds} interleaved rounds of {n}: {:.3} (range {})",
        median(large_ratios.clone()),
        range(&large_ratios)
    );
    println!(
        "gateway ratio (mark + cached trust list + status lookup / raw ring Ed25519), median of {rounds} \
         interleaved rounds of {n}: {:.3}",
        median(gateway_ratios)
    );
}
