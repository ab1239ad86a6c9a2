//! Signing in a PKCS#11 token (SoftHSM2, a throwaway token) against software keys, in one run:
//! per algorithm, the time of one signature through `TokenKey::sign` (queue to a session
//! worker, `C_SignInit` + `C_Sign`, for ES256 the software SHA-256 and low-s) and through
//! `SoftwareKey::sign` (ring), as medians of interleaved rounds; then the token's throughput with
//! 1 and with 4 signing threads (the session pool is what lets the second scale).
//!
//! `cargo bench -p trustmark-pkcs11 --bench sign` (needs Debian's softhsm2).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // benchmark code

use std::sync::Arc;
use std::time::Instant;

use trustmark_format::Algorithm;
use trustmark_keys::{SharedSigner, Signer, SignerProvider, SoftwareKey};
use trustmark_pkcs11::softhsm::SoftHsm;
use trustmark_pkcs11::{Token, TokenConfig, TokenProvider};

const ROUNDS: usize = 15;
const SIGNS: usize = 200;

fn per_sign_us(key: &dyn Signer, n: usize) -> f64 {
    let message = [0x5a; 200];
    let start = Instant::now();
    for _ in 0..n {
        std::hint::black_box(key.sign(std::hint::black_box(&message)).unwrap());
    }
    start.elapsed().as_secs_f64() * 1e6 / n as f64
}

fn median_range(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

/// Signatures per second with `threads` threads sharing one token key.
fn throughput(key: &SharedSigner, threads: usize) -> f64 {
    let per_thread = 400;
    let start = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| per_sign_us(key.as_ref(), per_thread));
        }
    });
    (threads * per_thread) as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let hsm = SoftHsm::create(dir.path()).unwrap();
    std::env::set_var("SOFTHSM2_CONF", &hsm.conf);
    let config: TokenConfig = hsm
        .init_token("bench", "1234", &dir.path().join("pin"))
        .unwrap();
    let provider = TokenProvider::new(Arc::new(Token::new(config).unwrap()));
    println!(
        "cores: {}",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    for alg in [Algorithm::EdDsa, Algorithm::Es256] {
        let token = provider.generate(alg).unwrap();
        let software = SoftwareKey::generate(alg).unwrap();
        per_sign_us(token.as_ref(), 50);
        per_sign_us(&software, 50);
        let (mut t, mut s, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        for round in 0..ROUNDS {
            // ABBA within each pair of rounds.
            let (a, b) = if round % 2 == 0 {
                let a = per_sign_us(&software, SIGNS);
                (a, per_sign_us(token.as_ref(), SIGNS))
            } else {
                let b = per_sign_us(token.as_ref(), SIGNS);
                (per_sign_us(&software, SIGNS), b)
            };
            s.push(a);
            t.push(b);
            ratios.push(a / b);
        }
        let (tm, tl, th) = median_range(t);
        let (sm, sl, sh) = median_range(s);
        let (rm, rl, rh) = median_range(ratios);
        println!(
            "{alg:?}: token {tm:.1} us/signature (range {tl:.1}-{th:.1}), software {sm:.1} us ({sl:.1}-{sh:.1}); throughput token/software {rm:.3} (range {rl:.3}-{rh:.3}), {ROUNDS} rounds of {SIGNS}"
        );
        let one = throughput(&token, 1);
        let four = throughput(&token, 4);
        println!(
            "{alg:?}: token throughput 1 thread {one:.0}/s, 4 threads {four:.0}/s (x{:.2})",
            four / one
        );
    }
}
