#!/usr/bin/env bash
# Build an SQLite shell whose `.recover` works (Debian's sqlite3 3.40 lacks the sqlite_dbpage
# table it needs): the amalgamation and shell.c come from the sqlean.py source package on
# PyPI (the registries are all this machine reaches), built with the DBPAGE and DBSTAT
# virtual tables. Usage: benchmarks/build_sqlite_recover.sh [OUT] (default
# benchmarks/out/sqlite3-recover). Needs gcc; takes about 40 s on 2 cores.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/out/sqlite3-recover}"
python="${PYTHON:-$here/../.venv/bin/python}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$python" -m pip download --quiet --no-binary :all: --no-deps "sqlean.py==3.50.4.5" -d "$work"
tar -xzf "$work"/sqlean_py-*.tar.gz -C "$work"
src="$(echo "$work"/sqlean_py-*/sqlite)"
# sqlean.py appends its own init hook after the amalgamation's end: leave it out
sed '/^\/\*\*\*\*\*\*\*\*\*\*\*\*\*\*\*\*\*\*\*\*\*\*\*\*\*\* End of sqlite3.c/q' "$src/sqlite3.c" > "$work/sqlite3.c"
cp "$src/sqlite3.h" "$work/"
mkdir -p "$(dirname "$out")"
gcc -O2 -DSQLITE_ENABLE_DBPAGE_VTAB -DSQLITE_ENABLE_DBSTAT_VTAB -DSQLITE_THREADSAFE=0 \
    -I"$work" "$src/shell.c" "$work/sqlite3.c" -lm -o "$out"
"$out" --version
