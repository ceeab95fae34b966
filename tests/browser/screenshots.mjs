// PNG screenshots of every page of the box, at desktop (1280x800) and phone (360x740) widths,
// for docs/screenshots/ (linked from the README). tests/web_browser.rs runs it on its seeded
// box after the flows, into the target directory; with CALLBOX_SCREENSHOTS_DIR set (e.g.
// docs/screenshots) the PNGs go there instead.
//
// Input (as flows.mjs): base, password, seed.recording_key, screenshots (the folder). The
// setup page is only there before the password is set: flows.mjs shoots it (shootSetup).
// Per page it also records whether the phone layout scrolls sideways (wider than 360 px).
import { join } from "node:path";
import { mkdirSync } from "node:fs";
import { Steps, launchBrowser, logIn, openPage, pathOf, readInput, writeResults } from "./lib.mjs";

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 360, height: 740 };
const MAX_HEIGHT = 2400;

/// Both widths of the page now open, as `<name>-desktop.png` and `<name>-phone.png`; the page's
/// width at phone size (document scroll width) in `observed`.
export async function shootBoth(page, dir, name, observed) {
  mkdirSync(dir, { recursive: true });
  for (const [label, viewport] of [["desktop", DESKTOP], ["phone", PHONE]]) {
    await page.setViewportSize(viewport);
    await page.waitForTimeout(150);
    const path = join(dir, `${name}-${label}.png`);
    // The whole page, but at most MAX_HEIGHT px of it (the settings page runs to meters),
    // through a window that tall: a sticky bar then sits at its bottom, as a reader expects,
    // not over the middle of a full-page capture.
    const height = await page.evaluate(() => document.documentElement.scrollHeight);
    await page.setViewportSize({ width: viewport.width, height: Math.min(Math.max(height, viewport.height), MAX_HEIGHT) });
    await page.waitForTimeout(100);
    await page.screenshot({ path });
    await page.setViewportSize(viewport);
    observed[`${label}_png`] = path;
    if (label === "phone") {
      observed.phone_scroll_width = await page.evaluate(() => document.documentElement.scrollWidth);
    }
  }
  await page.setViewportSize(DESKTOP);
}

const PAGES = (seed) => [
  ["dashboard", "/"],
  ["calls", "/calls"],
  ["call-detail", `/calls/${encodeURIComponent(seed.recording_key)}`],
  ["queue", "/queue"],
  ["on-call", "/on-call"],
  ["settings", "/settings"],
  ["updates", "/updates"],
  ["diagnostics", "/diagnostics"],
];

async function main() {
  const { input, outputPath } = readInput();
  const dir = input.screenshots;
  const browser = await launchBrowser();
  const { context, page, incidents, consoleErrors } = await openPage(browser, input);
  const steps = new Steps(page, input.artifacts);
  try {
    // The login page as a visitor sees it: its own context, no session.
    const visitor = await browser.newContext({ ignoreHTTPSErrors: true, baseURL: input.base, viewport: DESKTOP });
    const visitorPage = await visitor.newPage();
    await steps.run("shoot_login", async (o) => {
      await visitorPage.goto("/login");
      o.path = pathOf(visitorPage);
      await shootBoth(visitorPage, dir, "login", o);
    });
    await visitor.close();

    await steps.run("login", (o) => logIn(page, input, o));
    for (const [name, path] of PAGES(input.seed)) {
      await steps.run(`shoot_${name}`, async (o) => {
        const answer = await page.goto(path);
        o.status = answer?.status();
        o.path = pathOf(page);
        if (o.path !== new URL(path, input.base).pathname) throw new Error(`${path} led to ${page.url()}`);
        if (o.status !== 200) throw new Error(`${path} answered ${o.status}`);
        await page.waitForLoadState("networkidle").catch(() => {});
        await shootBoth(page, dir, name, o);
      }, { needs: ["login"] });
    }
  } finally {
    await context.close();
    await browser.close();
  }
  return writeResults(outputPath, steps.results, { incidents, console_errors: consoleErrors });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().then(
    (ok) => process.exit(ok ? 0 : 1),
    (error) => {
      console.error(`[browser] could not run: ${error?.stack || error}`);
      process.exit(2);
    },
  );
}
