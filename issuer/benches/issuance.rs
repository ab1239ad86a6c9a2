//! The issuance signing pipeline (claims -> COSE bytes, with the mark id and URL text) against a
//! raw ring Ed25519 signature of the same Sig_structure, and the QR text codec.
//!
//! `cargo bench -p trustmark-issuer --bench issuance` prints criterion's figures, then the
//! throughput ratio pipeline / raw sign as the median of interleaved rounds (target >= 0.90).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // benchmark code

use std::hint::black_box;
use std::time::Instant;

use criterion::Criterion;
use trustmark_format::{mark, qr_text, MarkClaims};
use trustmark_issuer::size_report::typical_claims;
use trustmark_issuer::{mark_id, IssuedMark};
use trustmark_keys::{KeyError, Signer, SoftwareKey};

/// Claims -> COSE bytes: the signing pipeline the target is about.
/// The measured pipeline: claims (the input, built once) -> COSE bytes.
fn encode(claims: &MarkClaims, key: &SoftwareKey) -> Vec<u8> {
    mark::encode::<KeyError>(claims, key.algorithm(), key.kid(), |tbs| key.sign(tbs)).unwrap()
}

/// Everything `issue` returns: COSE bytes, mark id and URL text.
fn pipeline(key: &SoftwareKey) -> IssuedMark {
    let claims = typical_claims();
    let token =
        mark::encode::<KeyError>(&claims, key.algorithm(), key.kid(), |tbs| key.sign(tbs)).unwrap();
    IssuedMark {
        mark_id: mark_id(&token),
        url: qr_text::mark_url(qr_text::DEFAULT_BASE_URL, &token),
        token,
        claims,
    }
}

fn rate(n: u32, mut op: impl FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..n {
        op();
    }
    f64::from(n) / start.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let key = SoftwareKey::ed25519_from_seed(&[9; 32]).unwrap();
    let ring_key = ring::signature::Ed25519KeyPair::from_seed_unchecked(&[9; 32]).unwrap();
    let issued = pipeline(&key);
    let tbs = mark::parse(&issued.token).unwrap().to_be_signed();
    let text = qr_text::encode(&issued.token);
    let claims = typical_claims();

    let mut c = Criterion::default().configure_from_args();
    let mut group = c.benchmark_group("issuance");
    group.bench_function("raw_ring_ed25519_sign", |b| {
        b.iter(|| ring_key.sign(black_box(&tbs)))
    });
    group.bench_function("pipeline_claims_to_cose_id_url", |b| {
        b.iter(|| pipeline(black_box(&key)))
    });
    group.bench_function("qr_text_encode", |b| {
        b.iter(|| qr_text::encode(black_box(&issued.token)))
    });
    group.bench_function("qr_text_parse_url", |b| {
        b.iter(|| qr_text::parse_scanned(black_box(&issued.url)).unwrap())
    });
    group.finish();
    c.final_summary();

    let (rounds, n) = (31, 2000);
    let mut ratios = Vec::new();
    let mut raw_rates = Vec::new();
    let mut pipeline_rates = Vec::new();
    for _ in 0..rounds {
        let raw = rate(n, || {
            black_box(ring_key.sign(black_box(&tbs)));
        });
        let full = rate(n, || {
            black_box(encode(black_box(&claims), &key));
        });
        raw_rates.push(raw);
        pipeline_rates.push(full);
        ratios.push(full / raw);
    }
    println!(
        "issuance ratio (claims -> COSE bytes / raw ring Ed25519 sign of the same Sig_structure), median of \
         {rounds} interleaved rounds of {n}: {:.3} (raw {:.0}/s, pipeline {:.0}/s); token text {} digits",
        median(ratios),
        median(raw_rates),
        median(pipeline_rates),
        text.len()
    );
}
