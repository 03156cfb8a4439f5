#!/usr/bin/env bash
# Runs every fuzz target in fuzz/ for SECONDS each (default 600), one after the other,
# growing the corpora in fuzz/corpus/. Needs the nightly toolchain and cargo-fuzz
# (`cargo install cargo-fuzz`). A crash stops the run; its input is in fuzz/artifacts/.
#
#   scripts/fuzz.sh            # 10 minutes per target
#   scripts/fuzz.sh 60 jwt     # one target for a minute
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${1:-600}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo +nightly fuzz list)
fi
for target in "${targets[@]}"; do
    echo "== $target for ${seconds}s"
    cargo +nightly fuzz run -O "$target" -- -max_total_time="$seconds" -max_len=4096 -print_final_stats=1
done
