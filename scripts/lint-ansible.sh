#!/bin/bash
# ansible-lint (Debian's, offline, the production profile) over the flightctl.restore collection,
# found as a collection from deploy/ansible.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root/deploy/ansible/ansible_collections/flightctl/restore"
ANSIBLE_COLLECTIONS_PATH="$root/deploy/ansible" ansible-lint --nocolor --profile production -q
