// stacksafe web UI: reveal (and re-mask) values, copy them, confirm destructive forms.
// Served from /static under a CSP without 'unsafe-inline'; no inline script anywhere.
"use strict";

(function () {
  const MASK = "••••••••";

  function hide(row) {
    const shown = row.querySelector(".value");
    const copy = row.querySelector(".copy");
    const button = row.querySelector(".reveal-form button");
    shown.textContent = MASK;
    shown.classList.add("masked");
    shown.classList.remove("error");
    if (copy) { copy.hidden = true; copy.dataset.value = ""; }
    if (button) { button.textContent = "Reveal"; }
    row.dataset.revealed = "";
    clearTimeout(Number(row.dataset.timer || 0));
  }

  function refused(row, text) {
    // The value stays masked and the button stays "Reveal": nothing was revealed.
    const shown = row.querySelector(".value");
    shown.textContent = text;
    shown.classList.remove("masked");
    shown.classList.add("error");
  }

  function isJson(answer) {
    const type = answer.headers.get("Content-Type") || "";
    return type.split(";")[0].trim().toLowerCase() === "application/json";
  }

  async function reveal(form) {
    const row = form.closest("tr");
    if (row.dataset.revealed) { hide(row); return; }
    const shown = row.querySelector(".value");
    let answer;
    try {
      answer = await fetch(form.action, {
        method: "POST",
        body: new URLSearchParams(new FormData(form)),
        credentials: "same-origin",
        cache: "no-store",
        // A session that ended is answered with a redirect to the sign-in page: not followed
        // (its HTML is not a value), seen here as an opaque redirect.
        redirect: "manual",
        headers: { "Accept": "application/json" },
      });
    } catch (e) {
      refused(row, "the server could not be reached; try again");
      return;
    }
    if (answer.type === "opaqueredirect" || (answer.status >= 300 && answer.status < 400)) {
      refused(row, "Signed out: sign in again");
      return;
    }
    let body = null;
    if (isJson(answer)) {
      try { body = await answer.json(); } catch (e) { body = null; }
    }
    if (!answer.ok || body === null || typeof body !== "object") {
      refused(row, (body && body.error_description) ||
        ("refused (HTTP " + answer.status + "); reload the page"));
      return;
    }
    shown.classList.remove("error");
    shown.textContent = body.value === null ? "(no value)" : body.value;
    shown.classList.remove("masked");
    row.dataset.revealed = "1";
    form.querySelector("button").textContent = "Hide";
    const copy = row.querySelector(".copy");
    if (copy) { copy.hidden = false; copy.dataset.value = body.value || ""; }
    const seconds = Number(form.dataset.hideAfter || 20);
    row.dataset.timer = String(setTimeout(function () { hide(row); }, seconds * 1000));
  }

  document.addEventListener("submit", function (event) {
    const form = event.target;
    if (form.classList.contains("reveal-form")) {
      event.preventDefault();
      reveal(form);
      return;
    }
    const question = form.dataset.confirm;
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });

  document.addEventListener("click", async function (event) {
    const button = event.target.closest(".copy");
    if (!button || !button.dataset.value) { return; }
    try {
      await navigator.clipboard.writeText(button.dataset.value);
      button.textContent = "Copied";
    } catch (e) {
      button.textContent = "Copy failed";
    }
    setTimeout(function () { button.textContent = "Copy"; }, 2000);
  });
})();
