#!/bin/bash
# The README's run command: installs what it needs, then runs the agent against a sandbox
# Flight Control host on this machine and removes the sandbox afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
node dist/test/harness/sandbox.js
