#!/bin/sh
# Install the duckdb R package on Linux x86_64 without compiling DuckDB
# itself: the R glue of a duckdb-r source tree linked against a prebuilt
# libduckdb.so of exactly the same DuckDB commit (duckdb-r's
# DUCKDB_R_USE_SYSTEM_LIB route). This is how the DuckDB tests
# (tests/testthat/test-db-duckdb.R) and bench/db_duckdb.R were run for
# umfrage; it takes a few minutes instead of hours.
#
# Usage:
#   tools/duckdb-dev.sh DUCKDB_R_SRC LIB [LIBDUCKDB_DIR]
#
#   DUCKDB_R_SRC   a duckdb-r source tree (a checkout of duckdb/duckdb-r)
#                  whose vendored DuckDB is v1.5.5, commit d8cdaa33fd
#                  (src/duckdb/src/function/table/version/pragma_version.cpp
#                  says DUCKDB_SOURCE_ID "d8cdaa33fd..."), e.g. the tag
#                  v1.5.5.9018; it is copied, not modified
#   LIB            the R library to install DBI and duckdb into (created)
#   LIBDUCKDB_DIR  where libduckdb.so is put (default LIB/../duckdb-lib);
#                  the installed package finds it there at run time
#                  (RUNPATH), so keep it
#
# Then: R_LIBS=LIB Rscript -e 'DBI::dbConnect(duckdb::duckdb())'
#
# Why this route (as found on the Debian 12 machine this was written on):
#   - CRAN serves duckdb 2.0.0, which vendors DuckDB v2.0.0 (commit
#     d54cbbe3df); npm has no libduckdb of that commit, and CRAN's source
#     package compiles the whole engine (about 2,000 C++ files, hours on 2
#     cores). CRAN's archive of older versions is not reachable from here.
#   - npm's @duckdb/node-bindings-linux-x64@1.5.5-r.5 ships libduckdb.so of
#     DuckDB v1.5.5, commit d8cdaa33fd (reachable through the npm registry).
#   - GitHub (duckdb-r's releases, DuckDB's release assets, which duckdb-r's
#     own scripts/install-libduckdb.sh downloads) is not reachable from a
#     fresh machine of this kind: the duckdb-r source tree at a matching
#     commit has to be brought along, hence the argument.
#   - Debian has no duckdb or libduckdb package.
# duckdb-r's configure checks that the library's embedded commit matches
# the vendored headers and stops otherwise; this script checks it first.

set -eu

if [ $# -lt 2 ] || [ $# -gt 3 ]; then
  sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi

src=$(cd "$1" && pwd)
lib=$2
mkdir -p "$lib"
lib=$(cd "$lib" && pwd)
libdir=${3:-$(dirname "$lib")/duckdb-lib}
mkdir -p "$libdir"
libdir=$(cd "$libdir" && pwd)

commit=d8cdaa33fd
npm_url=https://registry.npmjs.org/@duckdb/node-bindings-linux-x64/-/node-bindings-linux-x64-1.5.5-r.5.tgz
npm_sha256=86d2bda909785550e8a14a57a8a4584827aff0e268d8f1a58c3fd48559f7020e

[ "$(uname -s)" = Linux ] && [ "$(uname -m)" = x86_64 ] || {
  echo "duckdb-dev.sh: only for Linux x86_64 (the npm package is linux-x64)" >&2; exit 1; }
for tool in R Rscript tar strings sha256sum; do
  command -v "$tool" >/dev/null 2>&1 || { echo "duckdb-dev.sh: needs $tool" >&2; exit 1; }
done

# 1. the source tree: duckdb-r, vendoring DuckDB commit d8cdaa33fd
grep -q '^Package: duckdb$' "$src/DESCRIPTION" 2>/dev/null || {
  echo "duckdb-dev.sh: $src is not a duckdb-r source tree (no DESCRIPTION of package duckdb)" >&2; exit 1; }
vfile="$src/src/duckdb/src/function/table/version/pragma_version.cpp"
[ -f "$vfile" ] || {
  echo "duckdb-dev.sh: $vfile not found (the vendored DuckDB sources are missing)" >&2; exit 1; }
vendored=$(sed -n 's/^#define DUCKDB_SOURCE_ID "\(.*\)"$/\1/p' "$vfile" | cut -c1-10)
if [ "$vendored" != "$commit" ]; then
  echo "duckdb-dev.sh: $src vendors DuckDB commit '$vendored'; the npm libduckdb is commit $commit" >&2
  echo "  (DuckDB v1.5.5): check out duckdb-r at a matching commit, e.g. tag v1.5.5.9018" >&2
  exit 1
fi
echo "duckdb-r source: $src (version $(sed -n 's/^Version: //p' "$src/DESCRIPTION"), DuckDB commit $vendored)"

# 2. libduckdb.so from the npm tarball
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "downloading $npm_url"
if command -v curl >/dev/null 2>&1; then
  curl -fsSL -o "$tmp/nb.tgz" "$npm_url"
else
  wget -q -O "$tmp/nb.tgz" "$npm_url"
fi
echo "$npm_sha256  $tmp/nb.tgz" | sha256sum -c - >/dev/null || {
  echo "duckdb-dev.sh: the npm tarball's SHA-256 is not $npm_sha256" >&2; exit 1; }
tar -xzf "$tmp/nb.tgz" -C "$tmp" package/libduckdb.so
strings "$tmp/package/libduckdb.so" | grep -q "^$commit" || {
  echo "duckdb-dev.sh: the npm libduckdb.so does not carry commit $commit" >&2; exit 1; }
cp "$tmp/package/libduckdb.so" "$libdir/libduckdb.so"
echo "libduckdb.so (DuckDB commit $commit) in $libdir"

# 3. DBI >= 1.2 from CRAN (duckdb 1.5.5 needs it) into LIB
R_LIBS="$lib" Rscript -e '
lib <- commandArgs(TRUE)[1L]
if (!requireNamespace("DBI", quietly = TRUE) || utils::packageVersion("DBI") < "1.2") {
  repos <- getOption("repos")
  if (is.null(repos) || any(repos == "@CRAN@")) repos <- c(CRAN = "https://cloud.r-project.org")
  utils::install.packages("DBI", lib = lib, repos = repos)
}
if (utils::packageVersion("DBI", lib.loc = .libPaths()) < "1.2") stop("DBI >= 1.2 could not be installed")
cat("DBI", format(utils::packageVersion("DBI")), "\n")' "$lib"

# 4. duckdb: the glue only, linked against that libduckdb (from a copy of
#    the tree: configure and the build write into src/)
echo "copying the source tree"
mkdir "$tmp/duckdb-r"
(cd "$src" && tar --exclude=.git -cf - .) | (cd "$tmp/duckdb-r" && tar -xf -)
rm -f "$tmp/duckdb-r/src/"*.o "$tmp/duckdb-r/src/"*.so "$tmp/duckdb-r/src/Makevars.system-lib"
echo "building duckdb against $libdir/libduckdb.so"
DUCKDB_R_USE_SYSTEM_LIB=1 DUCKDB_R_LIB_DIR="$libdir" R_LIBS="$lib" \
  R CMD INSTALL --no-multiarch -l "$lib" "$tmp/duckdb-r"

# 5. it loads, and runs the engine it was built for
R_LIBS="$lib" Rscript -e '
con <- DBI::dbConnect(duckdb::duckdb(shared_home = FALSE))
v <- DBI::dbGetQuery(con, "SELECT library_version, source_id FROM pragma_version()")
DBI::dbDisconnect(con, shutdown = TRUE)
cat(sprintf("duckdb %s: DuckDB %s, commit %s\n", utils::packageVersion("duckdb"), v$library_version, v$source_id))'
