#!/usr/bin/env bash
# Short fuzzing run of every target, as CI does it (scripts/test-all): build, seed the corpora
# from the vectors, replay the committed regression inputs, then fuzz each target for SECONDS
# (default 20). Exits non-zero on the first crash, leak, timeout or out-of-memory; libFuzzer
# saves the input under fuzz/artifacts/<target>/.
#
# Needs the nightly toolchain and cargo-fuzz:
# `cargo install cargo-fuzz --version 0.13.2 --locked`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

seconds=${1:-20}
targets=(mark_decode verify qr_text trust_list status_list responses csr)

# cargo fuzz has no --locked: check here that Cargo.lock is current, so the build below cannot
# quietly resolve other versions than the committed ones.
cargo +nightly metadata --locked --format-version 1 >/dev/null

echo "== build (nightly, address sanitizer, debug assertions)"
start=$SECONDS
cargo +nightly fuzz build
echo "built in $((SECONDS - start)) s"

echo "== seed corpora"
bash seed.sh

for target in "${targets[@]}"; do
    regressions=()
    if [ -d "regressions/$target" ]; then
        mapfile -t regressions < <(find "regressions/$target" -type f ! -name '.*' | sort)
    fi
    if [ ${#regressions[@]} -gt 0 ]; then
        echo "== $target: replay ${#regressions[@]} regression inputs"
        # Files (not directories) as arguments: libFuzzer runs each once and exits.
        cargo +nightly fuzz run "$target" "${regressions[@]}"
    fi
    echo "== $target: fuzz for $seconds s"
    mkdir -p artifacts
    log="artifacts/$target.log"
    if ! cargo +nightly fuzz run "$target" "corpus/$target" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
        tail -n 80 "$log" >&2
        echo "FAIL: fuzz target $target; the input is in fuzz/artifacts/$target/" >&2
        exit 1
    fi
    summary="^(#[0-9]+[[:space:]]+(INITED|DONE)"
    summary+="|stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb))"
    grep -E "$summary" "$log"
done
echo "fuzz: all ${#targets[@]} targets ran ${seconds} s each without a crash"
