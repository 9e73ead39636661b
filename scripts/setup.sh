#!/usr/bin/env bash
# Installs everything ecfs-ts and its tests need on a Debian machine, as root: the tools the
# tests use as judges (gdb, readelf, eu-readelf, eu-stack), the C compiler with 32-bit
# support for the fixtures, the real programs the heuristics are tried on
# (test/heuristics/real-programs.test.ts), and the npm packages (Bun itself among them).
# Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for tool in gdb:gdb readelf:binutils objdump:binutils nm:binutils as:binutils eu-readelf:elfutils eu-stack:elfutils \
  cc:gcc g++:g++ tar:tar gzip:gzip python3:python3 runuser:util-linux setpriv:util-linux setarch:util-linux ss:iproute2 \
  perl:perl node:nodejs ssh-agent:openssh-client rmiregistry:default-jre-headless tclsh:tcl sqlite3:sqlite3 bc:bc \
  mawk:mawk dbus-daemon:dbus-daemon; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || need+=("${tool#*:}")
done
# Static fixtures need libc.a, and cc -m32 the multilib runtime: probe by compiling.
probe() { printf 'int main(void){return 0;}' | cc "$@" -x c -o /dev/null - >/dev/null 2>&1; }
command -v cc >/dev/null 2>&1 && ! probe -static && need+=(libc6-dev)
command -v cc >/dev/null 2>&1 && ! probe -m32 && need+=(gcc-multilib)
command -v cc >/dev/null 2>&1 || need+=(libc6-dev gcc-multilib)
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
