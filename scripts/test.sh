#!/bin/bash
# The README's test command: installs what it needs, builds, then runs unit and integration tests.
# Every server the tests use (PostgreSQL, Redis, the sandbox Quadlets host) is started by the test
# harness on loopback and stopped by PID afterwards, also when a test fails.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# The tests are TypeScript too: vitest strips their types without checking them.
npx tsc -p tsconfig.test.json
# The import rules (layers, no circles): .dependency-cruiser.cjs; then lint (type-aware) and format.
npm run --silent lint:imports
npm run --silent lint
npm run --silent lint:ansible
npx vitest run "$@"
# Unit tests also run on Node 24, the runtime of RHEL 9 hosts (the npm package node@24 carries it).
if [ "${SKIP_NODE24:-}" != 1 ] && [ $# -eq 0 ]; then
  npx -y -p node@24 node node_modules/vitest/vitest.mjs run --project unit
fi
