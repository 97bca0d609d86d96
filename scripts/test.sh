#!/usr/bin/env bash
# Runs the unit tests, then the integration tests (real containerd, needs root), and prints one
# closing line "tests: N passed, N failed, N skipped" over both. Exits non-zero if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
rc=0
npx --no-install jest --selectProjects unit --json --outputFile="$out/unit.json" || rc=1
npx --no-install jest --selectProjects integration --runInBand --json --outputFile="$out/integration.json" || rc=1
node -e '
  let p = 0, f = 0, s = 0, suitesFailed = 0;
  for (const file of process.argv.slice(1)) {
    let r;
    try { r = require(file); } catch { suitesFailed++; continue; }
    p += r.numPassedTests; f += r.numFailedTests; s += r.numPendingTests + r.numTodoTests;
    suitesFailed += r.numRuntimeErrorTestSuites;
  }
  if (suitesFailed) console.log(`suites that failed to run: ${suitesFailed}`);
  console.log(`tests: ${p} passed, ${f + suitesFailed} failed, ${s} skipped`);
' "$out/unit.json" "$out/integration.json"
rm -rf "$out"
exit $rc
