// callbox local page. No framework, no inline script (the CSP forbids it); text from the box
// is set with textContent only, never as HTML. Every change carries the session's CSRF token
// from <meta name="csrf-token">.
"use strict";

// ---- shared ----

function say(text) {
  const message = document.getElementById("message");
  if (message) message.textContent = text;
}

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : null;
}

async function send(method, path, body) {
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const token = csrfToken();
  if (token && method !== "GET") headers["X-CSRF-Token"] = token;
  const response = await fetch(path, {
    method: method,
    headers: headers,
    credentials: "same-origin",
    cache: "no-store",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 401 && token) {
    // The session ended (idle, logout elsewhere, restart): back to the login page.
    window.location.assign("/login");
  }
  return response;
}

async function explain(response) {
  if (response.status === 429) {
    const wait = response.headers.get("Retry-After") || "a few";
    return "Too many failed attempts. Try again in " + wait + " seconds.";
  }
  try {
    const answer = await response.json();
    if (answer.errors) return Object.values(answer.errors).join(" ");
    if (answer.error) return answer.error;
  } catch (_) {
    /* not JSON */
  }
  return "The box refused (" + response.status + ").";
}

const NO_ANSWER = "The box did not answer. Check the network and try again.";

// Runs `work` with `button` disabled; a network failure is said on the page.
async function busy(button, work) {
  if (button) button.disabled = true;
  try {
    await work();
  } catch (_) {
    say(NO_ANSWER);
  } finally {
    if (button) button.disabled = false;
  }
}

function onSubmit(id, handler) {
  const form = document.getElementById(id);
  if (!form) return;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    say("");
    const button = form.querySelector('button[type="submit"]') || form.querySelector("button");
    busy(button, () => handler(form));
  });
}

function onClick(id, handler) {
  const button = document.getElementById(id);
  if (button) button.addEventListener("click", () => busy(button, () => handler(button)));
}

// After logout the back button must show no data: a page restored from the back/forward
// cache is loaded again (and, without a session, the box sends it to /login).
window.addEventListener("pageshow", (event) => {
  if (event.persisted) window.location.reload();
});

// ---- login, setup, logout ----

onSubmit("login-form", async (form) => {
  const response = await send("POST", "/api/session", { password: form.password.value });
  if (response.ok) {
    window.location.assign("/");
  } else {
    say(await explain(response));
  }
});

onSubmit("setup-form", async (form) => {
  const response = await send("POST", "/api/setup", {
    setup_code: form.setup_code.value,
    password: form.password.value,
  });
  if (response.ok) {
    window.location.assign("/login");
  } else {
    say(await explain(response));
  }
});

onClick("logout", async () => {
  await send("DELETE", "/api/session");
  window.location.replace("/login");
});

// ---- queue: retry ----

document.querySelectorAll("button.retry[data-record-id]").forEach((button) => {
  button.addEventListener("click", () =>
    busy(button, async () => {
      const id = button.dataset.recordId;
      const response = await send("POST", "/api/queue/" + encodeURIComponent(id) + "/retry");
      if (!response.ok) {
        say(await explain(response));
        return;
      }
      const record = await response.json();
      const row = button.closest("tr");
      if (row) {
        row.dataset.state = record.state;
        const badge = row.querySelector("td.state .badge");
        if (badge) {
          badge.textContent = record.state;
          badge.className = "badge";
        }
      }
      say("Record " + id + " is back in line.");
      if (!record.retryable) button.remove();
    })
  );
});

// ---- on call: take an alert by hand ----

document.querySelectorAll("button.acknowledge[data-alert-id]").forEach((button) => {
  button.addEventListener("click", () =>
    busy(button, async () => {
      const id = button.dataset.alertId;
      const field = document.getElementById("ack-by");
      const by = field ? field.value.trim() : "";
      if (!by) {
        say("Type your name in Taken by first.");
        if (field) field.focus();
        return;
      }
      const response = await send(
        "POST",
        "/api/alerts/" + encodeURIComponent(id) + "/acknowledge",
        { by: by }
      );
      if (!response.ok) {
        say(await explain(response));
        return;
      }
      const alert = await response.json();
      const cell = button.closest("td");
      if (cell) cell.textContent = (alert.acknowledged_by || by) + " " + (alert.acknowledged_at || "");
      say("Alert " + id + " is yours; paging stopped.");
    })
  );
});

// ---- settings ----

function fieldValue(element) {
  const kind = element.dataset.kind;
  const text = element.value;
  if (kind === "bool") return text === "true";
  if (kind === "number") return text.trim() === "" ? null : Number(text);
  if (kind === "list") {
    return text
      .split("\n")
      .map((line) => line.trim())
      .filter((line) => line !== "");
  }
  return text;
}

function settingsFields(form) {
  return Array.from(form.querySelectorAll("[name][data-kind]")).filter((el) => !el.disabled);
}

// What the page loaded with, to send only what changed.
const initialSettings = new Map();

function changedSettings(form) {
  const changes = {};
  for (const element of settingsFields(form)) {
    if (element.dataset.kind === "secret") {
      if (element.value !== "") changes[element.name] = element.value;
    } else if (element.value !== initialSettings.get(element.name)) {
      changes[element.name] = fieldValue(element);
    }
  }
  return changes;
}

function clearFieldErrors() {
  document.querySelectorAll("[data-error-for]").forEach((el) => {
    el.textContent = "";
  });
  document.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
}

function showFieldErrors(errors) {
  let unplaced = [];
  for (const [key, reason] of Object.entries(errors)) {
    const slot = Array.from(document.querySelectorAll("[data-error-for]")).find(
      (el) => el.dataset.errorFor === key
    );
    const input = Array.from(document.querySelectorAll("[name]")).find((el) => el.name === key);
    if (slot) slot.textContent = reason;
    else unplaced.push(key + ": " + reason);
    if (input) input.setAttribute("aria-invalid", "true");
  }
  return unplaced;
}

function showRestartNeeded(keys) {
  const banner = document.getElementById("restart-needed");
  if (!banner || keys.length === 0) return;
  const list = document.getElementById("restart-keys");
  if (list) {
    const known = list.textContent ? list.textContent.split(", ") : [];
    list.textContent = Array.from(new Set(known.concat(keys))).join(", ");
  }
  banner.hidden = false;
}

const settingsForm = document.getElementById("settings-form");
if (settingsForm) {
  for (const element of settingsFields(settingsForm)) {
    initialSettings.set(element.name, element.value);
  }
  onSubmit("settings-form", async (form) => {
    const message = document.getElementById("settings-message");
    clearFieldErrors();
    message.textContent = "";
    const changes = changedSettings(form);
    if (Object.keys(changes).length === 0) {
      message.textContent = "Nothing changed.";
      return;
    }
    const response = await send("PUT", "/api/settings", { changes: changes });
    if (response.status === 422) {
      const answer = await response.json();
      const unplaced = showFieldErrors(answer.errors || {});
      message.textContent = "Not saved: correct the fields marked. " + unplaced.join(" ");
      return;
    }
    if (!response.ok) {
      message.textContent = await explain(response);
      return;
    }
    const applied = await response.json();
    for (const element of settingsFields(form)) {
      if (element.dataset.kind === "secret" && element.value !== "") {
        element.value = "";
        element.placeholder = "set";
      }
      initialSettings.set(element.name, element.value);
    }
    const waiting = applied.restart_needed || [];
    message.textContent =
      waiting.length > 0 ? "Saved. A restart is needed for: " + waiting.join(", ") + "." : "Saved.";
    showRestartNeeded(waiting);
  });
}

// "Hear it": the prompt in the box's own voice, played from a Blob URL.
let previewUrl = null;
document.querySelectorAll("button.hear[data-for]").forEach((button) => {
  button.addEventListener("click", () =>
    busy(button, async () => {
      const field = Array.from(document.querySelectorAll("[name]")).find(
        (el) => el.name === button.dataset.for
      );
      const text = field ? field.value.trim() : "";
      if (text === "") {
        say("There is nothing to say.");
        return;
      }
      const response = await send("POST", "/api/voice/preview", { text: text });
      if (!response.ok) {
        say(await explain(response));
        return;
      }
      const wav = await response.blob();
      if (previewUrl) URL.revokeObjectURL(previewUrl);
      previewUrl = URL.createObjectURL(wav);
      // A player beside the button, so it can be played again (or at all, where the browser
      // does not start sound by itself).
      let player = button.nextElementSibling;
      if (!player || player.tagName !== "AUDIO") {
        player = document.createElement("audio");
        player.controls = true;
        player.className = "preview";
        button.after(player);
      }
      player.src = previewUrl;
      player.play().catch(() => say("Press play to hear it."));
    })
  );
});

onClick("test-connection", async () => {
  const report = document.getElementById("connection-report");
  report.textContent = "Testing…";
  const response = await send("POST", "/api/settings/test-connection");
  if (!response.ok) {
    report.textContent = await explain(response);
    return;
  }
  const answer = await response.json();
  report.textContent = "";
  for (const step of answer.steps || []) {
    const item = document.createElement("li");
    item.dataset.step = step.name;
    item.dataset.ok = String(step.ok);
    item.className = step.ok ? "good" : "bad";
    const name = document.createElement("strong");
    name.textContent = step.name + ": " + (step.ok ? "pass" : "fail");
    item.append(name, " " + (step.detail || ""));
    report.append(item);
  }
});

onClick("restart", async () => {
  const response = await send("POST", "/api/restart");
  const message = document.getElementById("settings-message");
  if (response.status === 202) {
    const plan = await response.json();
    message.textContent = plan.message || "The box restarts once the line is idle.";
  } else {
    message.textContent = await explain(response);
  }
});

// ---- updates ----

onClick("check-updates", async () => {
  const result = document.getElementById("update-result");
  result.textContent = "Checking…";
  const response = await send("POST", "/api/updates/check");
  if (!response.ok) {
    result.textContent = await explain(response);
    return;
  }
  const view = await response.json();
  const last = document.getElementById("update-last-check");
  if (last && view.last_check) last.textContent = view.last_check;
  result.textContent = view.last_result || (view.available ? "—" : view.missing || "not wired yet");
});

// ---- diagnostics: the live log tail ----

const logTail = document.getElementById("log-tail");
if (logTail) {
  const MAX_LINES = 2000;
  let after = 0;
  const state = document.getElementById("log-state");
  const poll = async () => {
    try {
      const response = await send("GET", "/api/logs?after=" + after + "&limit=500");
      if (!response.ok) {
        if (state) state.textContent = "(" + (await explain(response)) + ")";
        return;
      }
      const lines = await response.json();
      const atBottom = logTail.scrollTop + logTail.clientHeight >= logTail.scrollHeight - 4;
      for (const line of lines) {
        logTail.append(document.createTextNode(line.text + "\n"));
        after = Math.max(after, line.seq);
      }
      while (logTail.childNodes.length > MAX_LINES) logTail.removeChild(logTail.firstChild);
      if (atBottom) logTail.scrollTop = logTail.scrollHeight;
      if (state) state.textContent = "(live)";
    } catch (_) {
      if (state) state.textContent = "(the box did not answer; retrying)";
    } finally {
      window.setTimeout(poll, 2000);
    }
  };
  poll();
}
