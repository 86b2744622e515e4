#!/usr/bin/env bash
# Lay out ../shared as the project's own CI has it, from public sources:
#   ../shared/models     stories260K.bin, tok512.bin, tokenizer.bin (fetched and
#                        sha256-checked by `invoke models.fetch` from the registry)
#   ../shared/upstream/llama2.c   llama2.c's run.c/runq.c, built beside the engine
#   Open Watcom          the official snapshot, unpacked into the cache; WATCOM is
#                        exported to the later steps through $GITHUB_ENV
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
shared=../shared
mkdir -p "$shared/models" "$shared/upstream"

./retro models.fetch stories260K
./retro models.fetch tokenizer
cache="${XDG_CACHE_HOME:-$HOME/.cache}/retrollama"
for f in stories260K.bin tok512.bin tokenizer.bin; do
  cp "$cache/$f" "$shared/models/$f"
done

if [ ! -f "$shared/upstream/llama2.c/run.c" ]; then
  git clone --depth 1 "${LLAMA2C_URL:?set by the workflow}" "$shared/upstream/llama2.c"
fi

owc="$cache/toolchains/openwatcom-release"
if [ ! -x "$owc/binl64/wcc386" ]; then
  mkdir -p "$owc"
  curl -fsSL --retry 3 "${OPENWATCOM_URL:?set by the workflow}" -o /tmp/ow.tar.xz
  tar -C "$owc" -xJf /tmp/ow.tar.xz
fi
if [ -n "${GITHUB_ENV:-}" ]; then
  echo "WATCOM=$owc" >> "$GITHUB_ENV"
fi
