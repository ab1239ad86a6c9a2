#!/usr/bin/env bash
# Proves on the host that trustmark-verifier and trustmark-format build and run without std, with
# each crypto backend (ring, and the pure-Rust rustcrypto one), and that this check would notice
# std if it crept in. Needs stable Rust and a C compiler (for ring; the rustcrypto build needs
# none, and this script checks that ring and getrandom stay out of its dependency graph).
# Exit status 0 only if both proofs ran and held, and the negative control failed to build for
# the right reason.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

mkdir -p target
# Where cargo builds (CARGO_TARGET_DIR, relative to this directory, if set); the copies and logs
# below stay in ./target.
build_dir=${CARGO_TARGET_DIR:-target}
failed=()
summary=()

# prove NAME CARGO_FEATURE_ARGS...: build the proof with one backend, run it, and note its
# figures.
prove() {
    local name=$1
    shift
    echo "== build ($name backend: release, no_std, panic = abort)"
    cargo build --release --locked "$@"
    # Both builds write the same path: keep each binary under its backend's name.
    local bin=target/trustmark-nostd-proof-$name
    cp "$build_dir/release/trustmark-nostd-proof" "$bin"

    echo "== run ($name)"
    local log=target/proof-$name.log
    local status=0
    "$bin" | tee "$log" || status=$?
    if [ "$status" -ne 0 ]; then
        echo "FAIL: the no_std proof ($name) exited with status $status" >&2
        failed+=("$name")
    fi
    local size heap allocations
    size=$(stat -c %s "$bin")
    heap=$(sed -n 's/^heap high-water, whole decision[^:]*: \([0-9]*\) bytes.*/\1/p' "$log")
    allocations=$(sed -n 's/^heap allocations: \([0-9]*\) .*/\1/p' "$log")
    echo "release binary size ($name): $size bytes (stripped, opt-level z, LTO)"
    summary+=("$(printf '%-12s %16s %12s %18s' "$name" "${heap:-?}" "${allocations:-?}" "$size")")
}

prove ring
prove rustcrypto --no-default-features --features backend-rustcrypto

echo "== the rustcrypto build is pure Rust: no ring, getrandom or cc in its dependency graph"
deps=$(cargo tree --locked --no-default-features --features backend-rustcrypto -e normal,build \
    --prefix none | awk '{print $1}' | sort -u)
if grep -Ex 'ring|getrandom|cc' <<<"$deps"; then
    echo "FAIL: the rustcrypto build depends on the crates above" >&2
    failed+=("rustcrypto-dependencies")
else
    echo "none of ring, getrandom, cc"
fi

echo "== negative control (--features negative-control: the verifier's std feature)"
log=target/negative-control.log
if cargo build --release --locked --features negative-control >"$log" 2>&1; then
    echo "FAIL: the negative control built: a dependency on std would go unnoticed" >&2
    exit 1
fi
# It must fail because std was linked, not for an unrelated reason (network, compiler, ...).
if ! grep -E "duplicate lang item .*panic_impl" "$log"; then
    echo "FAIL: the negative control failed to build, but not because of std:" >&2
    cat "$log" >&2
    exit 1
fi
# Informational: which crate brought std in (the check above is the one that matters).
grep -E "first defined in crate .std." "$log" || true
echo "negative control: std was detected as expected"

echo "== summary (one decision: trust list + status list + mark)"
printf '%-12s %16s %12s %18s\n' backend "heap high-water" allocations "binary size (B)"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
    echo "FAIL: ${failed[*]}" >&2
    exit 1
fi
echo "no_std proof: both backends held"
