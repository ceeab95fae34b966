// callbox local page. No framework, no inline script (the CSP forbids it); messages are set
// with textContent only, never as HTML.
"use strict";

function say(text) {
  const message = document.getElementById("message");
  if (message) message.textContent = text;
}

async function send(method, path, body) {
  const headers = { "Content-Type": "application/json" };
  const csrf = document.querySelector('meta[name="csrf-token"]');
  if (csrf) headers["X-CSRF-Token"] = csrf.content;
  return fetch(path, {
    method: method,
    headers: headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
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

function onSubmit(id, handler) {
  const form = document.getElementById(id);
  if (!form) return;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("button");
    button.disabled = true;
    say("");
    try {
      await handler(form);
    } catch (_) {
      say("The box did not answer. Check the network and try again.");
    } finally {
      button.disabled = false;
    }
  });
}

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

const logout = document.getElementById("logout");
if (logout) {
  logout.addEventListener("click", async () => {
    await send("DELETE", "/api/session");
    window.location.replace("/login");
  });
}
