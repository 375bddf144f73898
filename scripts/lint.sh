#!/bin/sh
# lint.sh - `make lint`: the layer check, cppcheck and clang-tidy over src/,
# tests/unit and tests/fuzz. Any finding fails. Suppressions:
#   - clang-tidy: the checks left out in .clang-tidy, each with its reason;
#   - cppcheck: missingIncludeSystem (system headers are not given to it;
#     the compiler checks them) and the NOLINT-style inline comments
#     "cppcheck-suppress", each beside its reason.
set -e
cd "$(dirname "$0")/.."
CFLAGS_LINT="-std=gnu11 -D_GNU_SOURCE -DHAVE_AFXDP -Isrc -Itests/unit"
status=0

python3 scripts/check-layers.py || status=1

echo "lint: cppcheck"
cppcheck --quiet --error-exitcode=1 --inline-suppr \
	--enable=warning,performance,portability --std=c11 \
	-D_GNU_SOURCE -DHAVE_AFXDP -Isrc -Itests/unit \
	--suppress=missingIncludeSystem \
	--template='{file}:{line}: cppcheck {id}: {message}' \
	src tests/unit tests/fuzz || status=1

echo "lint: clang-tidy"
files=$(find src tests/unit tests/fuzz -name '*.c' | sort)
n=$(nproc)
# One process per file, as many at once as there are CPUs.
printf '%s\n' $files | xargs -P "$n" -I{} \
	sh -c "clang-tidy --quiet {} -- $CFLAGS_LINT 2>/dev/null; true" \
	> build/lint-tidy.txt
if grep -E 'warning:|error:' build/lint-tidy.txt | sort -u | grep .; then
	status=1
fi
[ $status = 0 ] && echo "lint: 0 findings"
exit $status
