#!/usr/bin/env bash
# Install what the browser tests (tests/web_browser.rs, tests/browser/*.mjs) and the page's
# screenshots need:
#   - Debian's `chromium` (apt-get; /usr/bin/chromium). Playwright's own browser download
#     (`npx playwright install`) is never used: the tests drive the system Chromium.
#   - `playwright-core` from the npm registry into tests/browser/node_modules, at the version
#     pinned in tests/browser/package.json and package-lock.json (`npm ci`).
# Needs Node.js 20+ and npm (Debian's `nodejs` and `npm` are installed when missing).
# Idempotent: does nothing when chromium is there and node_modules matches the lock file.
# Needs root (or sudo) only when something has to come from apt.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi
apt_install() {
    if [ -n "$sudo" ] && ! command -v sudo >/dev/null; then
        echo "install-browser-deps: need root or sudo to apt-get install $*" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    for attempt in 1 2 3; do
        if $sudo apt-get update -qq && $sudo apt-get install -y -qq --no-install-recommends "$@"; then
            return 0
        fi
        [ "$attempt" -eq 3 ] && { echo "install-browser-deps: apt-get install $* failed" >&2; exit 1; }
        echo "install-browser-deps: apt-get failed, retrying in 10 s" >&2
        sleep 10
    done
}

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium fonts-dejavu-core)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
    echo "install-browser-deps: installing ${missing[*]}"
    apt_install "${missing[@]}"
fi
command -v chromium >/dev/null || { echo "install-browser-deps: chromium still missing" >&2; exit 1; }
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
    echo "install-browser-deps: Node.js $(node --version) is too old; playwright-core needs 20+" >&2
    exit 1
fi

# playwright-core, exactly as locked. The stamp holds the lock file's hash: `npm ci` runs
# again only when the lock changes or node_modules is gone.
dir=tests/browser
stamp=$dir/node_modules/.callbox-lock-sha256
want=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -d "$dir/node_modules/playwright-core" ]; then
    echo "install-browser-deps: chromium $(chromium --version 2>/dev/null | awk '{print $2}') and playwright-core already installed"
    exit 0
fi
echo "install-browser-deps: npm ci in $dir"
for attempt in 1 2 3; do
    # never let a package download a browser of its own
    if (cd "$dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error); then
        break
    fi
    [ "$attempt" -eq 3 ] && { echo "install-browser-deps: npm ci failed" >&2; exit 1; }
    echo "install-browser-deps: npm ci failed, retrying in 10 s" >&2
    sleep 10
done
echo "$want" > "$stamp"
(cd "$dir" && node -e 'require("playwright-core")') \
    || { echo "install-browser-deps: playwright-core does not load" >&2; exit 1; }
echo "install-browser-deps: done (chromium $(chromium --version 2>/dev/null | awk '{print $2}'), playwright-core $(cd "$dir" && node -p 'require("playwright-core/package.json").version'))"
