//! The status list of the brief's numbers: 2^20 marks at 2 bits, 1% revoked. Measures the
//! rebuild (pack, zlib level 9 with a 4 KiB window in reusable chunks, sign) from scratch and
//! after one status change against plain zlib level 9 of the same bits (the in-run baseline),
//! the lookups, and prints the sizes.
//!
//! `cargo bench -p trustmark-issuer --bench status_list`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // benchmark code

use std::hint::black_box;
use std::io::Write;

use criterion::Criterion;
use std::time::Instant;

use trustmark_format::status_list::{CompressedStatusList, StatusList, StatusListToken};
use trustmark_format::UnixTime;
use trustmark_issuer::status_zlib::{zlib9, ChunkedZlib, CHUNK};
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

/// Packs, compresses (with what `compressor` kept from its last call) and signs the token.
fn rebuild(list: &StatusList, key: &SoftwareKey, compressor: &mut ChunkedZlib) -> Vec<u8> {
    let token = StatusListToken {
        uri: "https://verify.example.org/v1/status-lists/1".into(),
        issued_at: UnixTime(1_795_300_000),
        expires_at: Some(UnixTime(1_795_386_400)),
        ttl: Some(300),
        list: list.clone(),
    };
    token
        .sign(
            key.algorithm(),
            key.kid(),
            |bits| compressor.compress(bits).unwrap(),
            |tbs| key.sign(tbs),
        )
        .unwrap()
}

/// Revokes or reinstates entry `i`-th of a fixed walk over the list, so every call changes
/// one entry somewhere else.
fn change_one(list: &mut StatusList, i: &mut usize) {
    *i = (*i + 7919 * 4) % ENTRIES;
    let old = list.get(*i).unwrap();
    list.set(*i, old ^ 1).unwrap();
}

fn seconds(f: impl FnOnce()) -> f64 {
    let start = Instant::now();
    f();
    start.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let list = list();
    let key = SoftwareKey::ed25519_from_seed(&[7; 32]).unwrap();
    let signed = rebuild(&list, &key, &mut ChunkedZlib::new());
    let baseline = plain_zlib9(list.as_bytes());
    let whole_4k = {
        let mut z = flate2::Compress::new_with_window_bits(flate2::Compression::new(9), true, 12);
        let mut out = Vec::with_capacity(list.as_bytes().len());
        z.compress_vec(list.as_bytes(), &mut out, flate2::FlushCompress::Finish)
            .unwrap();
        out
    };
    let compressed = zlib9(list.as_bytes()).unwrap();
    let document = list.to_cbor(|bits| zlib9(bits).unwrap());
    let travelling = CompressedStatusList::from_cbor(&document).unwrap();
    let last = ENTRIES - 1;
    assert_eq!(
        travelling.get(last, 1 << 20).unwrap(),
        list.get(last).unwrap()
    );
    println!(
        "status list: {ENTRIES} entries at 2 bits, {} revoked: packed {} bytes; zlib-9 (32 KiB window) {} bytes; \
         zlib-9 4 KiB window, one stream {} bytes, in {} chunks {} bytes; signed token {} bytes (target <= 15,300); {} cores",
        ENTRIES / 100,
        list.as_bytes().len(),
        baseline.len(),
        whole_4k.len(),
        list.as_bytes().len().div_ceil(CHUNK),
        compressed.len(),
        signed.len(),
        std::thread::available_parallelism().map(|p| p.get()).unwrap_or(1)
    );

    let mut c = Criterion::default().sample_size(20).configure_from_args();
    let mut group = c.benchmark_group("status_list_2^20");
    group.bench_function("baseline_zlib9_same_bits", |b| {
        b.iter(|| plain_zlib9(black_box(list.as_bytes())))
    });
    group.bench_function("rebuild_signed_token_from_scratch", |b| {
        b.iter(|| rebuild(black_box(&list), &key, &mut ChunkedZlib::new()))
    });
    let mut warm = ChunkedZlib::new();
    let mut changing = list.clone();
    let mut at = 0;
    group.bench_function("rebuild_signed_token_after_one_change", |b| {
        b.iter(|| {
            change_one(&mut changing, &mut at);
            rebuild(black_box(&changing), &key, &mut warm)
        })
    });
    group.bench_function("lookup_expanded", |b| b.iter(|| list.get(black_box(last))));
    group.bench_function("lookup_streaming_inflate_last_entry", |b| {
        b.iter(|| travelling.get(black_box(last), 1 << 20))
    });
    group.finish();
    c.final_summary();

    // Interleaved rounds: the baseline and both rebuilds alternate, so all see the same machine.
    let rounds = 21;
    let (mut cold, mut incremental) = (Vec::new(), Vec::new());
    let (mut base_ms, mut cold_ms, mut incremental_ms) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let b = seconds(|| drop(black_box(plain_zlib9(list.as_bytes()))));
        let c = seconds(|| drop(black_box(rebuild(&list, &key, &mut ChunkedZlib::new()))));
        change_one(&mut changing, &mut at);
        let i = seconds(|| drop(black_box(rebuild(&changing, &key, &mut warm))));
        cold.push(c / b);
        incremental.push(i / b);
        base_ms.push(b * 1e3);
        cold_ms.push(c * 1e3);
        incremental_ms.push(i * 1e3);
    }
    println!(
        "status list rebuild / plain zlib-9 of the same bits, median of {rounds} interleaved rounds: \
         from scratch {:.2} ({:.1} ms), after one change {:.2} ({:.1} ms); baseline {:.1} ms (target: rebuild <= 100 ms)",
        median(cold),
        median(cold_ms),
        median(incremental),
        median(incremental_ms),
        median(base_ms)
    );
}
