#!/usr/bin/env bash
# Installs headless Chromium and its WebDriver for the browser tests of reports
# (tests/reporting/browser.py). Idempotent: does nothing when both binaries exist.
# Needs root (apt-get); the Makefile's test target calls it before pytest.
set -euo pipefail

CHROMIUM=/usr/bin/chromium
CHROMEDRIVER=/usr/bin/chromedriver

if [[ -x "$CHROMIUM" && -x "$CHROMEDRIVER" ]]; then
    exit 0
fi

if [[ "$(id -u)" -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=sudo
    else
        echo "install_browser.sh: need root to apt-get install chromium chromium-driver" >&2
        exit 1
    fi
else
    SUDO=
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends chromium chromium-driver
