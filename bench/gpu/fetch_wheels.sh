#!/usr/bin/env bash
# Download the wheels the GPU checks carry (bench/gpu/wheels.txt) into .whl/ for the lent machine's
# Python (3.12, x86-64). Packages published only as source (pure Python) are built into wheels here.
#   bench/gpu/fetch_wheels.sh [DEST] [PYTHON_VERSION]
set -euo pipefail
cd "$(dirname "$0")/../.."
dest=${1:-.whl}
version=${2:-3.12}
rm -rf "$dest"; mkdir -p "$dest"
platforms=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64; do
  platforms+=(--platform "$p")
done
pip=(.venv/bin/python -m pip)
grep -v '^#' bench/gpu/wheels.txt | grep . | while read -r requirement; do
  "${pip[@]}" download -q --no-deps --only-binary=:all: --python-version "$version" --implementation cp \
      "${platforms[@]}" -d "$dest" "$requirement" 2>/dev/null \
    || "${pip[@]}" wheel -q --no-deps -w "$dest" "$requirement"
done
du -sh "$dest"
