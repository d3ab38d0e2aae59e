/**
 * Debian's Chromium for the dashboard's browser test (test/integration/dashboard.test.ts, driven by
 * playwright-core, which downloads no browser of its own). Installed with apt-get when missing and
 * we may (root, as on CI: non-interactive, no recommends), else the message says what to install.
 */
import { findOrInstall, type Log } from './proc';

/** The path of the `chromium` executable (/usr/bin/chromium from Debian's package). */
export function ensureChromium(log: Log): Promise<string> {
  return findOrInstall(
    'chromium',
    'chromium',
    log,
    "The dashboard's browser test needs Chromium: install Debian's package (`sudo apt-get install --no-install-recommends chromium`) or put a `chromium` on PATH.",
  );
}
