#!/usr/bin/env bash
# The linters of `make lint` beyond gofmt and go vet: staticcheck and deadcode on
# both modules, and no tracked file over 1 MB outside testdata. Run from the
# repository root with the tools in bin/ (make lint builds them).
#
# known-findings.txt lists findings that are known and owned elsewhere, one
# "module: file: finding" line each (staticcheck's and deadcode's own lines, paths
# relative to the module, without line and column so that edits elsewhere in the
# file do not matter). lint fails on any finding not listed and on any listed
# finding that is gone, so the list only shrinks. Strict is an empty list:
# LINT_KNOWN=/dev/null make lint.
set -euo pipefail
root=$(pwd)
known=${LINT_KNOWN:-$root/test/tools/lint/known-findings.txt}
found=$(mktemp)
trap 'rm -f "$found"' EXIT

lint_module() { # $1 = module directory, $2... = extra flags for both tools
	local dir=$1
	shift
	(cd "$dir" && "$root/bin/staticcheck" "$@" ./... 2>&1 || true) | sed -E "s|^|$dir: |; s/:[0-9]+:[0-9]+:/:/" >>"$found"
	(cd "$dir" && "$root/bin/deadcode" -test "$@" ./... 2>&1 || true) | sed -E "s|^|$dir: |; s/:[0-9]+:[0-9]+:/:/" >>"$found"
}
lint_module .
lint_module test
lint_module test -tags release

status=0
sort -u -o "$found" "$found"
wanted=$(grep -v '^#' "$known" | grep -v '^$' | sort -u || true)
new=$(comm -23 "$found" <(echo "$wanted") | grep -v '^$' || true)
gone=$(comm -13 "$found" <(echo "$wanted") | grep -v '^$' || true)
if [ -n "$new" ]; then
	echo "staticcheck/deadcode findings:"
	echo "$new"
	status=1
fi
if [ -n "$gone" ]; then
	echo "fixed, remove from $known:"
	echo "$gone"
	status=1
fi
if [ -n "$wanted" ] && [ -z "$new$gone" ]; then
	echo "lint: $(echo "$wanted" | wc -l) known findings remain in $known"
fi

big=$(git ls-files -z | xargs -0 -r stat -c '%s %n' 2>/dev/null | awk '$1 > 1048576 && $2 !~ /(^|\/)testdata\// {print $2 " (" $1 " bytes)"}')
if [ -n "$big" ]; then
	echo "tracked files over 1 MB outside testdata (build them, or keep them out of Git):"
	echo "$big"
	status=1
fi
exit $status
