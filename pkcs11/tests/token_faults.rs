//! A token pulled out and put back, in a process of its own (the module is restarted on
//! reconnect only when no other token of the process uses it).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::sync::Arc;

use trustmark_format::Algorithm;
use trustmark_keys::{KeyError, SignerProvider};
use trustmark_pkcs11::softhsm::SoftHsm;
use trustmark_pkcs11::{Token, TokenProvider, RETRY_AFTER};

#[test]
fn a_token_pulled_out_is_unavailable_and_used_again_when_back() {
    let dir = tempfile::tempdir().unwrap();
    let hsm = SoftHsm::create(dir.path()).unwrap();
    std::env::set_var("SOFTHSM2_CONF", &hsm.conf);
    let config = hsm
        .init_token("fault", "1234", &dir.path().join("pin"))
        .unwrap();
    let provider = TokenProvider::new(Arc::new(Token::new(config).unwrap()));
    let key = provider.generate(Algorithm::Es256).unwrap();
    key.sign(b"before").unwrap();
    // Pull the token out: its directory leaves the token directory.
    let pulled = hsm.pull_out().unwrap();
    let mut outcomes = Vec::new();
    for _ in 0..3 {
        outcomes.push(
            key.sign(b"while out")
                .map(|_| ())
                .map_err(|e| e.to_string()),
        );
        std::thread::sleep(RETRY_AFTER);
    }
    // The first request finds its key handle stale and drops the connection; the next ones
    // look for the token again and do not find it. Every one is "unavailable", none panics.
    assert!(
        outcomes.iter().all(|o| o
            .as_ref()
            .is_err_and(|e| e.starts_with("signing key store unavailable: token fault: "))),
        "{outcomes:?}"
    );
    assert!(
        outcomes[1..].iter().all(|o| o.as_ref().is_err_and(
            |e| e.ends_with("no token labelled \"fault\" in /usr/lib/softhsm/libsofthsm2.so")
        )),
        "{outcomes:?}"
    );
    // Put it back: the next request after the wait reconnects and signs with the same key.
    pulled.put_back().unwrap();
    std::thread::sleep(RETRY_AFTER);
    let back = key.sign(b"back");
    assert!(
        back.is_ok(),
        "{:?}",
        back.map_err(|e: KeyError| e.to_string())
    );
}
