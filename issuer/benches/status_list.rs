//! The status list of the brief's numbers: 2^20 marks at 2 bits, 1% revoked. Measures the
//! rebuild (pack, zlib level 9 with a 4 KiB window, sign) against plain zlib level 9 of the same
//! bits (the in-run baseline), and prints the signed size.
//!
//! `cargo bench -p trustmark-issuer --bench status_list`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // benchmark code

use std::hint::black_box;
use std::io::Write;

use criterion::Criterion;
use trustmark_format::status_list::{StatusList, StatusListToken};
use trustmark_format::UnixTime;
use trustmark_issuer::service::status::zlib9;
use trustmark_keys::{Signer, SoftwareKey};

const ENTRIES: usize = 1 << 20;

/// 1% of the entries revoked, at distinct pseudo-random indexes (fixed seed, xorshift).
fn list() -> StatusList {
    let mut list = StatusList::new(2, ENTRIES).unwrap();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut revoked = 0;
    while revoked < ENTRIES / 100 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let index = (x % ENTRIES as u64) as usize;
        if list.get(index) == Some(0) {
            list.set(index, 1).unwrap();
            revoked += 1;
        }
    }
    list
}

fn plain_zlib9(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(9));
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn rebuild(list: &StatusList, key: &SoftwareKey) -> Vec<u8> {
    let token = StatusListToken {
        uri: "https://verify.example.org/v1/status-lists/1".into(),
        issued_at: UnixTime(1_795_300_000),
        expires_at: Some(UnixTime(1_795_386_400)),
        ttl: Some(300),
        list: list.clone(),
    };
    token
        .sign(key.algorithm(), key.kid(), zlib9, |tbs| key.sign(tbs))
        .unwrap()
}

fn main() {
    let list = list();
    let key = SoftwareKey::ed25519_from_seed(&[7; 32]).unwrap();
    let signed = rebuild(&list, &key);
    let baseline = plain_zlib9(list.as_bytes());
    println!(
        "status list: {} entries at 2 bits, {} revoked: packed {} bytes, zlib-9 (32 KiB window) {} bytes, \
         signed token (zlib-9, 4 KiB window) {} bytes (target <= 15,300)",
        ENTRIES,
        ENTRIES / 100,
        list.as_bytes().len(),
        baseline.len(),
        signed.len()
    );
    let mut c = Criterion::default().sample_size(20).configure_from_args();
    let mut group = c.benchmark_group("status_list_2^20");
    group.bench_function("baseline_zlib9_same_bits", |b| {
        b.iter(|| plain_zlib9(black_box(list.as_bytes())))
    });
    group.bench_function("rebuild_signed_token", |b| {
        b.iter(|| rebuild(black_box(&list), &key))
    });
    group.finish();
    c.final_summary();
}
