# Sourced by the HTTP benchmark scripts. Builds the release binary, starts the issuer service on
# a free loopback port with a fresh data directory, and creates a certifier and an assessment.
#   in:  SERVER_CPUS  optional CPU list for taskset (e.g. 0): the cores the server may use
#        DATA_ROOT    optional parent of the data directory (e.g. /dev/shm for a tmpfs run)
#        SERVER_CONFIG optional service configuration file (TOML), read at each start_server
#        ISSUER_BIN   optional binary to run instead of building target/release/trustmark-issuer
#        SERVER_DATABASE optional PostgreSQL connection string: the registry there, not in sled
#   out: bin work base server key assessment mark (one mark request as JSON); the server is
#        stopped and the work directory removed on exit.
# Needs wrk (Debian package wrk), curl, python3.
command -v wrk >/dev/null || { echo "install wrk (apt-get install wrk)" >&2; exit 2; }
if [ -n "${ISSUER_BIN:-}" ]; then
    bin=$ISSUER_BIN
else
    cargo build --release -q -p trustmark-issuer
    bin=target/release/trustmark-issuer
fi
work=$(mktemp -d ${DATA_ROOT:+-p "$DATA_ROOT"})
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
pin=()
[ -n "${SERVER_CPUS:-}" ] && pin=(taskset -c "$SERVER_CPUS")
# Starts the server on the data directory and waits (at most 10 minutes) until it answers.
start_server() {
    RUST_LOG=${SERVER_LOG:-warn} TRUSTMARK_DATABASE=${SERVER_DATABASE:-} "${pin[@]}" "$bin" serve \
        --data-dir "$work/data" --listen "127.0.0.1:$port" \
        ${SERVER_CONFIG:+--config "$SERVER_CONFIG"} 2>>"$work/server.log" &
    server=$!
    for _ in $(seq 6000); do curl -sf "$base/healthz" >/dev/null && return 0; sleep 0.1; done
    echo "the server did not start: $(tail -3 "$work/server.log")" >&2
    exit 1
}
# Stops the server gracefully (SIGTERM) and waits for it.
stop_server() { kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true; }
trap 'stop_server; rm -rf "$work"' EXIT
start_server
admin=$(cat "$work/data/admin-api-key")
key=$(curl -sf -XPOST "$base/v1/certifiers" -H "authorization: Bearer $admin" -H 'content-type: application/json' \
    -d '{"name":"Bench Lab","assurance":"third-party"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["api_key"])')
assessment=$(curl -sf -XPOST "$base/v1/assessments?framework=uk-psti&target_class=1" -H "authorization: Bearer $key" \
    -H 'content-type: text/csv' --data-binary $'requirement,response,evidence\n1,C,E1\n2,C,E2\n3,C,E3\n' \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["assessment_id"])')
# The bench certifier's status list (each issuer key has its own; the development certifier made
# at the first start holds list 1).
status_list=$(curl -sf -XPOST "$base/v1/marks" -H "authorization: Bearer $key" -H 'content-type: application/json' \
    -d '{"assessment_id":"'"$assessment"'","vendor":"V","model":"M","hw_version":"1","firmware":{"version":"1","sha256":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"},"support_until":"2030-12-31","valid_days":365}' \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["status_list"])')
mark='{"assessment_id":"'"$assessment"'","vendor":"Acme Devices Ltd","model":"SmartHub Pro 200","hw_version":"1.2.0","firmware":{"version":"4.1.7","sha256":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"},"support_until":"2030-12-31","valid_days":365}'

# The server's CPU time so far in clock ticks, per thread group: "tokio-rt-worker=N trustmark-writer=N ...".
server_cpu() {
    for t in /proc/"$server"/task/*; do
        echo "$(cat "$t/comm") $(awk '{print $14 + $15}' "$t/stat")"
    done | awk '{n = $1; sub(/-[0-9]+$/, "", n); a[n] += $2} END {for (k in a) printf "%s=%d ", k, a[k]; print ""}'
}

# Microseconds of server CPU per mark between two server_cpu snapshots, per thread group:
# cpu_per_mark "BEFORE" "AFTER" MARKS
cpu_per_mark() {
    python3 - "$1" "$2" "$3" "$(getconf CLK_TCK)" <<'PY'
import sys
def parse(s): return {k: int(v) for k, v in (p.split("=") for p in s.split())}
before, after, marks, tck = parse(sys.argv[1]), parse(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
groups = {k: (after[k] - before.get(k, 0)) / tck * 1e6 / max(marks, 1) for k in after}
total = sum(groups.values())
shown = " ".join(f"{k} {v:.1f}" for k, v in sorted(groups.items(), key=lambda kv: -kv[1]) if v >= 0.5)
print(f"server CPU per mark: {total:.1f} us ({shown})")
PY
}

# Marks in the store: the status lists' entries (highest committed index + 1, summed over every
# issuer key's list), which unlike the issuance counter survive a restart.
marks_issued() { curl -sf "$base/metrics" | awk '/^trustmark_status_list_entries\{/ {s += $2} END {print s + 0}'; }

# "groups commands apply_us flush_us" of the writer so far.
writer_counters() {
    curl -sf "$base/metrics" | awk '
        /^trustmark_commit_groups_total/ {g = $2} /^trustmark_commit_commands_total/ {c = $2}
        /^trustmark_commit_apply_microseconds_total/ {a = $2} /^trustmark_commit_flush_microseconds_total/ {f = $2}
        END {print g, c, a, f}'
}

# Waits (at most 60 s) until the server uses less than a tenth of a core over a second: after a
# bulk load, sled's background work would otherwise be measured with the next run.
wait_idle() {
    local before after
    for _ in $(seq 60); do
        before=$(awk '{print $14 + $15}' /proc/"$server"/stat)
        sleep 1
        after=$(awk '{print $14 + $15}' /proc/"$server"/stat)
        [ $((after - before)) -lt $(($(getconf CLK_TCK) / 10)) ] && return 0
    done
}
