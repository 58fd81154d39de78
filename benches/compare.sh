#!/usr/bin/env bash
# Side-by-side: ipc-lab's ping-pong against a bare C ping-pong (benches/c/pingpong.c), same
# mechanism, payload size and placement, alternating in one run so both see the same machine.
#
#   benches/compare.sh [ROUNDS] [SIZES] [COUNT]      e.g. benches/compare.sh 5 64,4096 20000
#
# Blocking mechanisms run with both processes on CPU 0 (waking a process on the other core of a
# VM costs 2-35 us depending on the moment, which would drown the difference); shm spin runs with
# one process per core (CPU 0 and 1), as a busy-wait must. Prints, per mechanism, the median over
# ROUNDS of each side's p50 round trip and two ratios: against C carrying the same payload, and
# against C carrying the same bytes on the wire (the payload plus the 40 bytes of an ipc-lab
# frame's header), which tells the kernel's cost of those bytes from our code's. The floor is
# the second: at 64 B and 4 KiB ipc-lab's round trip is at most 1.10x the C one carrying the same
# wire bytes (the "floor" column says ok or over).
# Then 1 MiB: ipc-lab's ping-pong over shm (spin, CPU 0 and 1) against the C one, both ratios
# again; the goal is at least as fast as the C ping-pong (a ratio at most 1.00). Last, bulk
# transfer: 1 MiB messages streamed over shm (spin, CPU 0 -> CPU 1) against a 1 MiB memcpy on
# this machine, as a share of its bandwidth.
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

floor=1.10
header() {
  printf '%-10s %7s %-12s %10s %14s %14s %13s %16s %6s\n' mechanism size placement "C p50 ns" "C+40 B p50 ns" \
    "ipc-lab p50 ns" "same payload" "same wire bytes" "$1"
}
# row MECH SIZE PLACEMENT C C+40 IPC GOAL [ON]: GOAL is the largest ratio that meets the goal (or
# - for none), ON the ratio it is on: wire (the default, same wire bytes) or same (same payload).
row() {
  local same wire verdict=-
  same=$(echo "$6 / $4" | bc -l)
  wire=$(echo "$6 / $5" | bc -l)
  if [ "$7" != - ]; then
    local on=$wire
    [ "${8:-wire}" = same ] && on=$same
    verdict=$([ "$(echo "$on <= $7" | bc -l)" = 1 ] && echo ok || echo over)
  fi
  printf '%-10s %7s %-12s %10s %14s %14s %13.2f %16.2f %6s\n' "$1" "$2" "$3" "$4" "$5" "$6" "$same" "$wire" "$verdict"
}
header "floor"
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
  goal=-
  { [ "$size" = 64 ] || [ "$size" = 4096 ]; } && goal=$floor
  row "$([ "$mech" = shm ] && echo shm-spin || echo "$mech")" "$size" "$placement" "$c_med" "$h_med" "$r_med" "$goal"
done
done

# 1 MiB ping-pong over shm (spin, one process per core), alternating: the goal is ipc-lab at least
# as fast as the C ping-pong (a ratio at most 1.00; the C one carrying 40 bytes more is shown too).
big=1048576 big_count=2000 big_warmup=200
c_runs=() h_runs=() r_runs=()
for _ in $(seq "$rounds"); do
  c_runs+=("$("$cbin" shm-spin "$big" "$big_count" "$big_warmup" 0,1 | awk '{print $4}')")
  h_runs+=("$("$cbin" shm-spin "$((big + 40))" "$big_count" "$big_warmup" 0,1 | awk '{print $4}')")
  r_runs+=("$("$ipc" bench --mechanism shm --shm-wait spin --size 1MiB --count "$big_count" --warmup "$big_warmup" \
    --pin 0,1 --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["rtt_ns"]["p50"])')")
done
echo
header "goal"
row shm-spin "$big" "CPU 0 + 1" "$(printf '%s\n' "${c_runs[@]}" | median)" "$(printf '%s\n' "${h_runs[@]}" | median)" \
  "$(printf '%s\n' "${r_runs[@]}" | median)" 1.00 same

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
