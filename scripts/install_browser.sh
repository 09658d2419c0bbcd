#!/usr/bin/env bash
# Installs headless Chromium and its WebDriver for the browser tests of reports
# (tests/reporting/browser.py); the Makefile's test target calls it before pytest.
#   - Both present (at $CHROMIUM / $CHROMEDRIVER or on PATH, as browser.py looks): does nothing.
#   - Absent: apt-get installs Debian's chromium and chromium-driver, as root or through
#     passwordless sudo (`sudo -n`: never a password prompt).
#   - Absent and not installable (no root, no passwordless sudo, no apt-get, or apt-get failed):
#     prints one line and exits 0, and the browser tests skip. Under CI (the CI variable set, as
#     browser.py reads it) this exits 1 instead: CI must run the browser tests.
# CHROMIUM and CHROMEDRIVER may be set to other paths (default /usr/bin/chromium, chromedriver).
set -euo pipefail

CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
CHROMEDRIVER=${CHROMEDRIVER:-/usr/bin/chromedriver}

present() {
    { [[ -x "$CHROMIUM" ]] || command -v chromium >/dev/null 2>&1; } &&
        { [[ -x "$CHROMEDRIVER" ]] || command -v chromedriver >/dev/null 2>&1; }
}

cannot_install() {
    if [[ -n "${CI:-}" ]]; then
        echo "install_browser.sh: CI is set and Chromium cannot be installed: $1" >&2
        exit 1
    fi
    echo "install_browser.sh: Chromium not installed ($1); the browser tests will skip" >&2
    exit 0
}

if present; then
    exit 0
fi

if [[ "$(id -u)" -eq 0 ]]; then
    SUDO=
elif command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then
    SUDO="sudo -n"
else
    cannot_install "needs root or passwordless sudo for apt-get"
fi
if ! command -v apt-get >/dev/null 2>&1; then
    cannot_install "no apt-get on this system"
fi

export DEBIAN_FRONTEND=noninteractive
# $SUDO unquoted on purpose: empty, or the two words "sudo -n".
if ! { $SUDO apt-get update &&
    $SUDO apt-get install -y --no-install-recommends chromium chromium-driver; }; then
    cannot_install "apt-get install chromium chromium-driver failed"
fi
if ! present; then
    cannot_install "apt-get ran but $CHROMIUM or $CHROMEDRIVER is still missing"
fi
