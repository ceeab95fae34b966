// The page as the office uses it, in headless Chromium (issue 12, "What it must show").
// Driven by tests/web_browser.rs, which seeds the box, starts `callbox run`, and runs this
// script twice on one data directory:
//
//   phase "first":         setup code -> password -> login; the dashboard's queue counts;
//                          hostile caller text shown inert; play a call recording; retry a
//                          record that needs attention; save a setting; a bad value's error
//                          next to its field.
//   phase "after_restart": (the daemon was restarted) log in; the saved setting is still
//                          there; log out, and the back button shows no data.
//
// Each step records what it saw; tests/web_browser.rs compares that with what it seeded.
import {
  Steps, assert, launchBrowser, logIn, openPage, pathOf, readInput, setUpAndLogIn, writeResults,
} from "./lib.mjs";
import { shootBoth } from "./screenshots.mjs";

const { input, outputPath } = readInput();
const seed = input.seed;

// ---- phase "first" ----------------------------------------------------------------------------

async function dashboardCounts(page, observed) {
  await page.goto("/");
  observed.h1 = (await page.textContent("h1"))?.trim();
  await page.waitForSelector("table#queue-counts");
  observed.queue_counts = await page.$$eval("table#queue-counts tr[data-state]", (rows) =>
    Object.fromEntries(rows.map((row) => [
      row.dataset.state,
      Number.parseInt(row.querySelector("td.count")?.textContent.trim() ?? "NaN", 10),
    ])));
  observed.chart_days = await page.locator("svg#calls-chart g.day").count();
  observed.chart_bars = await page.locator("svg#calls-chart rect[data-outcome]").count();
  observed.services = await page.$$eval("#services [data-service]", (items) =>
    items.map((item) => ({ name: item.dataset.service, state: item.dataset.state })));
}

async function hostileInert(page, observed) {
  await page.goto("/calls");
  await page.waitForSelector("table#calls");
  observed.rows = await page.locator("table#calls tr[data-call-key]").count();
  const table = page.locator("table#calls");
  observed.text_shows_hostile = (await table.innerText()).includes(seed.hostile_marker);
  observed.img_in_table = await table.locator("img").count();
  observed.script_in_table = await table.locator("script").count();
  // Search by name: the list narrows to the one caller.
  await page.fill("form#call-filter input#q", seed.caller_name);
  await Promise.all([
    page.waitForURL((url) => url.pathname === "/calls" && url.searchParams.has("q")),
    page.locator("form#call-filter").evaluate((form) => form.requestSubmit()),
  ]);
  await page.waitForSelector("table#calls");
  observed.search_rows = await page.$$eval("table#calls tr[data-call-key]", (rows) =>
    rows.map((row) => row.dataset.callKey));
}

async function playRecording(page, observed) {
  const key = seed.recording_key;
  const answers = [];
  const watch = (response) => {
    if (new URL(response.url()).pathname.endsWith("/recording")) {
      answers.push({ status: response.status(), type: response.headers()["content-type"] });
    }
  };
  page.on("response", watch);
  await page.goto(`/calls/${encodeURIComponent(key)}`);
  const audio = page.locator("audio#recording");
  await audio.waitFor({ state: "attached" });
  observed.src = await audio.getAttribute("src");
  observed.transcript_speakers = await page.$$eval("ol#transcript li[data-speaker]", (items) =>
    items.map((item) => item.dataset.speaker));
  observed.call_records = await page.$$eval("table#call-records tr[data-record-id]", (rows) =>
    rows.map((row) => row.dataset.recordId));
  observed.media = await audio.evaluate(async (element) => {
    const loaded = new Promise((resolve, reject) => {
      if (element.readyState >= 1) return resolve();
      element.addEventListener("loadedmetadata", () => resolve(), { once: true });
      element.addEventListener("error", () => reject(new Error(`media error ${element.error?.code}`)), { once: true });
      setTimeout(() => reject(new Error(`no metadata after 10 s (readyState ${element.readyState})`)), 10_000);
    });
    if (element.readyState < 1) element.load();
    await loaded;
    let playError = null;
    try {
      await element.play();
    } catch (error) {
      playError = String(error);
    }
    await new Promise((resolve) => setTimeout(resolve, 800));
    const state = {
      duration: element.duration,
      current_time: element.currentTime,
      paused: element.paused,
      ready_state: element.readyState,
      play_error: playError,
    };
    element.pause();
    return state;
  });
  page.off("response", watch);
  observed.recording_answers = answers;
  assert(observed.media.duration > 0, `the recording has no duration: ${JSON.stringify(observed.media)}`);
}

async function retryRecord(page, observed) {
  const id = seed.retry_id;
  await page.goto("/queue");
  const row = `table#queue tr[data-record-id="${id}"]`;
  await page.waitForSelector(row);
  observed.state_before = await page.getAttribute(row, "data-state");
  observed.rows = await page.locator("table#queue tr[data-record-id]").count();
  const answer = page.waitForResponse((r) => r.url().endsWith(`/api/queue/${id}/retry`));
  await page.click(`button.retry[data-record-id="${id}"]`);
  observed.retry_status = (await answer).status();
  // The row changes in place, or the page reloads: either way ask the DOM again.
  await page.waitForFunction(
    ([selector, before]) => {
      const element = document.querySelector(selector);
      return element !== null && element.dataset.state !== before;
    },
    [row, observed.state_before],
  );
  observed.state_after = await page.getAttribute(row, "data-state");
}

/// Fills one settings field (input, textarea or select) by its dotted key and saves. Returns
/// the PUT /api/settings status and the page's message.
async function saveSetting(page, key, value) {
  await page.goto("/settings");
  const field = page.locator(`form#settings-form [name="${key}"]`);
  await field.waitFor();
  const tag = await field.evaluate((element) => element.tagName.toLowerCase());
  if (tag === "select") await field.selectOption(value);
  else await field.fill(value);
  const answer = page.waitForResponse((r) => new URL(r.url()).pathname === "/api/settings"
    && r.request().method() === "PUT");
  await page.click("button#save-settings");
  const status = (await answer).status();
  return { tag, status };
}

async function fieldValue(page, key) {
  return page.locator(`form#settings-form [name="${key}"]`).inputValue();
}

async function settingSaved(page, observed) {
  const { key, value } = input.setting;
  const saved = await saveSetting(page, key, value);
  observed.put_status = saved.status;
  await page.waitForFunction(() => (document.getElementById("settings-message")?.textContent ?? "").trim() !== "");
  observed.message = (await page.textContent("#settings-message"))?.trim();
  await page.reload();
  observed.value_after_reload = await fieldValue(page, key);
}

async function badValue(page, observed) {
  const { key, value } = input.bad_setting;
  observed.value_before = await page.goto("/settings").then(() => fieldValue(page, key));
  const saved = await saveSetting(page, key, value);
  observed.field_tag = saved.tag;
  observed.put_status = saved.status;
  const error = page.locator(`[data-error-for="${key}"]`);
  await page.waitForFunction((k) => {
    const element = document.querySelector(`[data-error-for="${k}"]`);
    return element !== null && element.textContent.trim() !== "";
  }, key);
  observed.error_text = (await error.textContent())?.trim();
  observed.error_visible = await error.isVisible();
  // "next to the field": the message sits in the field's own label/row, not at the page top
  observed.error_near_field = await page.evaluate((k) => {
    const field = document.querySelector(`form#settings-form [name="${k}"]`);
    const message = document.querySelector(`[data-error-for="${k}"]`);
    if (!field || !message) return false;
    const a = field.getBoundingClientRect();
    const b = message.getBoundingClientRect();
    return Math.abs(b.top - a.bottom) < 120 || Math.abs(a.top - b.bottom) < 120;
  }, key);
  observed.other_errors = await page.$$eval("[data-error-for]", (items, k) =>
    items.filter((item) => item.dataset.errorFor !== k && item.textContent.trim() !== "")
      .map((item) => item.dataset.errorFor), key);
  await page.reload();
  observed.value_after_reload = await fieldValue(page, key);
}

// ---- phase "after_restart" ----------------------------------------------------------------------

async function settingKept(page, observed) {
  await page.goto("/settings");
  observed.value = await fieldValue(page, input.setting.key);
}

async function logoutThenBack(page, observed) {
  // Two pages that show the caller, so whichever the back button returns to (logout may
  // replace the current history entry or add one) had data on it.
  await page.goto("/calls");
  await page.waitForSelector("table#calls");
  observed.before_logout_shows_caller = (await page.innerText("body")).includes(seed.caller_name);
  await page.goto(`/calls?q=${encodeURIComponent(seed.caller_name)}`);
  await page.waitForSelector("table#calls");
  observed.before_logout_shows_caller &&= (await page.innerText("body")).includes(seed.caller_name);
  await Promise.all([
    page.waitForURL((url) => url.pathname === "/login"),
    page.click("button#logout"),
  ]);
  observed.after_logout = pathOf(page);
  await page.goBack({ waitUntil: "load" }).catch((error) => {
    observed.go_back_error = String(error);
  });
  // The page reloads itself when shown from the back/forward cache; let that finish.
  await page.waitForLoadState("load");
  await page.waitForTimeout(500);
  await page.waitForLoadState("load");
  observed.after_back = pathOf(page);
  const body = await page.innerText("body");
  observed.after_back_shows_caller = body.includes(seed.caller_name);
  observed.after_back_has_calls_table = await page.locator("table#calls").count();
  observed.after_back_has_logout = await page.locator("button#logout").count();
  observed.api_status_after_logout = await page.evaluate(async () =>
    (await fetch("/api/status", { credentials: "same-origin" })).status);
  await page.goto("/");
  observed.dashboard_after_logout = pathOf(page);
}

// ---- main ---------------------------------------------------------------------------------------

async function main() {
  const browser = await launchBrowser();
  const { page, incidents, consoleErrors } = await openPage(browser, input);
  const steps = new Steps(page, input.artifacts);
  try {
    if (input.phase === "first") {
      // The setup page exists only until the password is set: its screenshots are taken here.
      if (input.screenshots) {
        await steps.run("shoot_setup", async (o) => {
          await page.goto("/setup");
          o.path = pathOf(page);
          await shootBoth(page, input.screenshots, "setup", o);
        });
      }
      await steps.run("setup_login", (o) => setUpAndLogIn(page, input, o));
      const after = { needs: ["setup_login"] };
      await steps.run("dashboard_counts", (o) => dashboardCounts(page, o), after);
      await steps.run("hostile_inert", (o) => hostileInert(page, o), after);
      await steps.run("play_recording", (o) => playRecording(page, o), after);
      await steps.run("retry_record", (o) => retryRecord(page, o), after);
      await steps.run("setting_saved", (o) => settingSaved(page, o), after);
      await steps.run("bad_value", (o) => badValue(page, o), after);
    } else if (input.phase === "after_restart") {
      await steps.run("login", (o) => logIn(page, input, o));
      const after = { needs: ["login"] };
      await steps.run("setting_kept", (o) => settingKept(page, o), after);
      await steps.run("logout_back", (o) => logoutThenBack(page, o), after);
    } else {
      throw new Error(`unknown phase ${input.phase}`);
    }
  } finally {
    await browser.close();
  }
  return writeResults(outputPath, steps.results, { incidents, console_errors: consoleErrors });
}

main().then(
  (ok) => process.exit(ok ? 0 : 1),
  (error) => {
    console.error(`[browser] could not run: ${error?.stack || error}`);
    writeResults(outputPath, [{ name: "run", ok: false, error: String(error?.stack || error), observed: {} }]);
    process.exit(2);
  },
);
