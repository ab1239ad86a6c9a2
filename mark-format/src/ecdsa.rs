//! ECDSA signature canonical form. For every valid ECDSA signature `(r, s)`, `(r, n - s)` is
//! valid too, so without a rule anyone could turn an ES256 mark into a second, different token
//! that verifies (a different mark id for the same mark). The profile requires the low form,
//! `s <= n / 2`: signers normalise, verifiers reject the high form.

/// Half the order of the P-256 group, `floor(n / 2)`, big-endian.
const P256_HALF_ORDER: [u8; 32] = [
    0x7f, 0xff, 0xff, 0xff, 0x80, 0x00, 0x00, 0x00, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xde, 0x73, 0x7d, 0x56, 0xd3, 0x8b, 0xcf, 0x42, 0x79, 0xdc, 0xe5, 0x61, 0x7e, 0x31, 0x92, 0xa8,
];

/// The order `n` of the P-256 group, big-endian.
const P256_ORDER: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

/// Whether an ES256 signature `r || s` (64 bytes) has `s <= n / 2`. Other lengths are not.
pub fn is_low_s(signature: &[u8]) -> bool {
    signature.len() == 64 && signature[32..] <= P256_HALF_ORDER[..]
}

/// Rewrites an ES256 signature `r || s` to its low-s form `r || n - s` if `s > n / 2`.
/// Signatures of another length are left alone.
pub fn normalize_s(signature: &mut [u8]) {
    if signature.len() != 64 || is_low_s(signature) {
        return;
    }
    // n - s, big-endian, with borrow. s < n for any valid signature, so there is no final borrow.
    let mut borrow = 0u16;
    for i in (0..32).rev() {
        let s = u16::from(signature[32 + i]) + borrow;
        let n = u16::from(P256_ORDER[i]);
        let (digit, next) = if n >= s { (n - s, 0) } else { (n + 256 - s, 1) };
        signature[32 + i] = digit as u8;
        borrow = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_high_s_and_keeps_low_s() {
        let mut sig = [0u8; 64];
        sig[32..].copy_from_slice(&P256_HALF_ORDER);
        assert!(is_low_s(&sig));
        // s = n/2 + 1 is high; n - s = n/2 (n is odd), which is low.
        sig[63] += 1;
        assert!(!is_low_s(&sig));
        normalize_s(&mut sig);
        assert_eq!(sig[32..], P256_HALF_ORDER[..]);
        // s = n - 1 becomes 1.
        let mut sig = [0u8; 64];
        sig[32..].copy_from_slice(&P256_ORDER);
        sig[63] -= 1;
        normalize_s(&mut sig);
        let mut one = [0u8; 32];
        one[31] = 1;
        assert_eq!(sig[32..], one[..]);
    }
}
