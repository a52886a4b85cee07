#!/usr/bin/env bash
# Takes the README's screenshots (docs/images/) anew from the current code: the browser walk
# (tests/browser/test_walk.py) and the disk pages (tests/browser/test_disk_pages.py) on real stacks. Needs what .ci/run installs: a running Docker
# Engine, the stand-in images it builds, and Debian's chromium, chromium-driver and libnss3-tools.
# Behind a TLS-inspecting proxy, set JHDEPLOY_TEST_CA_DIR as for the tests.
set -o errexit -o pipefail -o nounset
cd "$(dirname "$0")/../.."
[ -x .venv/bin/python ] || { python3 -m venv .venv && .venv/bin/pip install -q -r requirements-dev.txt; }
JHDEPLOY_DOC_SCREENSHOTS=docs/images .venv/bin/python -m pytest -q -m browser tests/browser/test_walk.py \
  tests/browser/test_disk_pages.py
ls -l docs/images/
