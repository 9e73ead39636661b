#!/usr/bin/env bash
# Installs everything ecfs-ts and its tests need on a Debian machine, as root: the tools the
# tests use as judges (gdb, readelf, eu-readelf, eu-stack), the C compiler with 32-bit
# support for the fixtures, and the npm packages (Bun itself among them). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for tool in gdb:gdb readelf:binutils objdump:binutils eu-readelf:elfutils eu-stack:elfutils cc:gcc tar:tar gzip:gzip python3:python3 runuser:util-linux; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || need+=("${tool#*:}")
done
# cc -m32 needs the multilib runtime; probe by compiling.
if ! printf 'int main(void){return 0;}' | cc -m32 -x c -o /dev/null - >/dev/null 2>&1; then need+=(gcc-multilib); fi
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
npm ci --no-audit --no-fund
# Bun arrives through the `bun` package's postinstall; should an npm refuse to run install
# scripts, run that step by hand.
if ! ./node_modules/.bin/bun --version >/dev/null 2>&1; then node node_modules/bun/install.js; fi
./node_modules/.bin/bun --version >/dev/null
