#!/usr/bin/env bash
# Side-by-side: ipc-lab's ping-pong against a bare C ping-pong (benches/c/pingpong.c), same
# mechanism, payload size and placement, alternating in one run so both see the same machine.
#
#   benches/compare.sh [ROUNDS] [SIZES] [COUNT]      e.g. benches/compare.sh 5 64,4096 20000
#
# Blocking mechanisms run with both processes on CPU 0 (waking a process on the other core of a
# VM costs 2-35 us depending on the moment, which would drown the difference); shm spin runs with
# one process per core (CPU 0 and 1), as a busy-wait must. Prints, per mechanism, the median over
# ROUNDS of each side's p50 round trip and their ratio, and the C ping-pong again carrying 40 more
# bytes (an ipc-lab frame's header): what the header's bytes cost the kernel, apart from our code.
# Last, bulk transfer: 1 MiB messages streamed over shm (spin, CPU 0 -> CPU 1) against a 1 MiB
# memcpy on this machine, as a share of its bandwidth.
set -euo pipefail
rounds=${1:-5}
sizes=${2:-64}
count=${3:-20000}
warmup=$((count / 10))
root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
cargo build --release --quiet --manifest-path "$root/Cargo.toml"
ipc="$target/release/ipc-lab"
cbin=$(mktemp -d)/pingpong
trap 'rm -rf "$(dirname "$cbin")"' EXIT
cc -O2 -o "$cbin" "$root/benches/c/pingpong.c" -lrt -lpthread

median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

printf '%-10s %6s %-12s %10s %14s %7s %14s %9s\n' mechanism size placement "C p50 ns" "ipc-lab p50 ns" ratio "C+40 B p50 ns" "vs C+40 B"
for size in ${sizes//,/ }; do
for spec in pipe:0:pipe fifo:0:fifo unix:0:unix tcp:0:tcp mqueue:0:mqueue shm-spin:0,1:shm; do
  IFS=: read -r cmech pin mech <<<"$spec"
  extra=()
  [ "$mech" = shm ] && extra=(--shm-wait spin)
  c_runs=() r_runs=() h_runs=()
  for _ in $(seq "$rounds"); do
    c_runs+=("$("$cbin" "$cmech" "$size" "$count" "$warmup" "$pin" | awk '{print $4}')")
    h_runs+=("$("$cbin" "$cmech" "$((size + 40))" "$count" "$warmup" "$pin" | awk '{print $4}')")
    r_runs+=("$("$ipc" bench --mechanism "$mech" --size "$size" --count "$count" --warmup "$warmup" \
      --pin "$pin" "${extra[@]}" --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["rtt_ns"]["p50"])')")
  done
  c_med=$(printf '%s\n' "${c_runs[@]}" | median)
  r_med=$(printf '%s\n' "${r_runs[@]}" | median)
  h_med=$(printf '%s\n' "${h_runs[@]}" | median)
  placement=$([ "$pin" = 0 ] && echo "both CPU 0" || echo "CPU 0 + 1")
  printf '%-10s %6s %-12s %10s %14s %7.2f %14s %9.2f\n' "$mech" "$size" "$placement" "$c_med" "$r_med" \
    "$(echo "$r_med / $c_med" | bc -l)" "$h_med" "$(echo "$r_med / $h_med" | bc -l)"
done
done

# Bulk: 1 MiB over shm (spin, one process per core) against memcpy of 1 MiB, alternating.
m_runs=() s_runs=()
for _ in $(seq "$rounds"); do
  m_runs+=("$("$cbin" memcpy 1048576 2000 200 0 | awk '{print 1048576 / $4}')")
  s_runs+=("$("$ipc" bench --mechanism shm --shm-wait spin --pattern stream --size 1MiB --count 2000 --warmup 200 \
    --pin 0,1 --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["bytes_per_sec"] / 1e9)')")
done
m_med=$(printf '%s\n' "${m_runs[@]}" | median)
s_med=$(printf '%s\n' "${s_runs[@]}" | median)
printf '\n1 MiB messages over shm (spin, CPU 0 -> 1): %.2f GB/s; memcpy of 1 MiB on CPU 0: %.2f GB/s; shm moves %.0f%% of it\n' \
  "$s_med" "$m_med" "$(echo "100 * $s_med / $m_med" | bc -l)"
