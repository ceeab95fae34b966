// Shared by the browser scripts: Debian's Chromium driven by playwright-core, a step runner
// that records what each step saw, and the results file tests/web_browser.rs reads.
//
// Every script takes two arguments: the input JSON written by tests/web_browser.rs (base URL,
// password, what was seeded) and the path of the results JSON it writes. A script exits 0
// when every step passed, 1 when one failed, 2 when it could not run at all.
import { chromium } from "playwright-core";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

// As the machine notes say: without the background-networking flags Chromium keeps trying
// Google's hosts, which this closed network refuses. Playwright adds --headless and a fresh
// temporary --user-data-dir itself.
export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--autoplay-policy=no-user-gesture-required",
];

export function readInput() {
  const [inputPath, outputPath] = process.argv.slice(2);
  if (!inputPath || !outputPath) {
    console.error("usage: node <script>.mjs <input.json> <results.json>");
    process.exit(2);
  }
  const input = JSON.parse(readFileSync(inputPath, "utf8"));
  return { input, outputPath };
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CALLBOX_CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: 60_000,
  });
}

/// A new context and page on the box's self-signed certificate, watching for what must never
/// happen on the page: a script the page did not mean to run (an alert or prompt, i.e.
/// hostile text that became markup), an uncaught exception, a Content-Security-Policy
/// violation.
export async function openPage(browser, input, viewport = { width: 1280, height: 800 }) {
  const context = await browser.newContext({
    ignoreHTTPSErrors: true,
    baseURL: input.base,
    viewport,
    acceptDownloads: true,
  });
  context.setDefaultTimeout(input.timeout_ms ?? 15_000);
  const page = await context.newPage();
  const incidents = [];
  const consoleErrors = [];
  const confirms = [];
  page.on("dialog", async (dialog) => {
    // A "are you sure?" of the page's own is accepted, as a user would; an alert or prompt
    // is what hostile text turned into script does.
    if (dialog.type() === "confirm" || dialog.type() === "beforeunload") {
      confirms.push(dialog.message());
      await dialog.accept().catch(() => {});
      return;
    }
    incidents.push(`dialog (${dialog.type()}): ${dialog.message()}`);
    await dialog.dismiss().catch(() => {});
  });
  page.on("pageerror", (error) => incidents.push(`uncaught exception: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() !== "error") return;
    const text = message.text();
    if (/Content Security Policy/i.test(text)) incidents.push(`CSP violation: ${text}`);
    else consoleErrors.push(text);
  });
  return { context, page, incidents, consoleErrors, confirms };
}

/// Runs named steps in order, each with a timeout; records ok / error / what it observed.
/// A step marked `needs` is skipped (and failed) when the named step did not pass.
export class Steps {
  constructor(page, artifacts) {
    this.page = page;
    this.artifacts = artifacts;
    this.results = [];
    if (artifacts) mkdirSync(artifacts, { recursive: true });
  }

  passed(name) {
    return this.results.some((r) => r.name === name && r.ok);
  }

  async run(name, fn, { needs = [] } = {}) {
    const started = Date.now();
    const missing = needs.filter((n) => !this.passed(n));
    if (missing.length > 0) {
      this.results.push({ name, ok: false, error: `not run: ${missing.join(", ")} failed`, observed: {} });
      console.error(`[browser] ${name}: NOT RUN (${missing.join(", ")} failed)`);
      return;
    }
    const observed = {};
    try {
      await fn(observed);
      this.results.push({ name, ok: true, observed, ms: Date.now() - started });
      console.error(`[browser] ${name}: ok (${Date.now() - started} ms)`);
    } catch (error) {
      const result = { name, ok: false, error: String(error?.stack || error), observed, ms: Date.now() - started };
      result.url = this.page.url();
      if (this.artifacts) {
        const shot = join(this.artifacts, `failed-${name}.png`);
        await this.page.screenshot({ path: shot, fullPage: true }).catch(() => {});
        result.screenshot = shot;
        result.html = await this.page.content().catch(() => "");
      }
      this.results.push(result);
      console.error(`[browser] ${name}: FAILED: ${result.error}\n  at ${result.url}`);
    }
  }
}

export function writeResults(outputPath, results, extra = {}) {
  const ok = results.every((r) => r.ok);
  writeFileSync(outputPath, JSON.stringify({ ok, steps: results, ...extra }, null, 2));
  return ok;
}

export function assert(condition, message) {
  if (!condition) throw new Error(message);
}

/// The page's path, without origin or query.
export function pathOf(page) {
  return new URL(page.url()).pathname;
}

/// Sets up the admin password with the setup code, then logs in. Leaves the page on `/`.
export async function setUpAndLogIn(page, input, observed) {
  await page.goto("/");
  observed.first_visit_landed_on = pathOf(page);
  assert(observed.first_visit_landed_on === "/setup",
    `before setup, / should lead to /setup; landed on ${page.url()}`);
  await page.fill("#setup_code", input.setup_code);
  await page.fill("#password", input.password);
  await Promise.all([
    page.waitForURL((url) => url.pathname === "/login"),
    page.click("#setup-form button[type=submit]"),
  ]);
  observed.after_setup = pathOf(page);
  await logIn(page, input, observed);
}

/// Logs in on /login with the admin password. Leaves the page on `/`.
export async function logIn(page, input, observed) {
  if (pathOf(page) !== "/login") await page.goto("/login");
  await page.fill("#password", input.password);
  await Promise.all([
    page.waitForURL((url) => url.pathname === "/"),
    page.click("#login-form button[type=submit]"),
  ]);
  observed.after_login = pathOf(page);
  observed.h1 = (await page.textContent("h1"))?.trim();
  assert(await page.isVisible("button#logout"), "no button#logout after login");
}
