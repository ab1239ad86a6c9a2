#!/usr/bin/env bash
# Proves on the host that trustmark-verifier (ring backend) and trustmark-format build and run
# without std, and that this check would notice std if it crept in. Needs only stable Rust and a
# C compiler (for ring). Exit status 0 only if the proof ran and the negative control failed to
# build for the right reason.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

echo "== build (release, no_std, panic = abort)"
cargo build --release --locked

echo "== run"
bin=target/release/trustmark-nostd-proof
status=0
"$bin" || status=$?
if [ "$status" -ne 0 ]; then
    echo "FAIL: the no_std proof exited with status $status" >&2
    exit 1
fi
echo "release binary size: $(stat -c %s "$bin") bytes (stripped, opt-level z, LTO)"

echo "== negative control (--features negative-control: the verifier's std feature)"
log=target/negative-control.log
mkdir -p target
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
