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

  async function reveal(form) {
    const row = form.closest("tr");
    if (row.dataset.revealed) { hide(row); return; }
    const shown = row.querySelector(".value");
    const answer = await fetch(form.action, {
      method: "POST",
      body: new URLSearchParams(new FormData(form)),
      credentials: "same-origin",
      cache: "no-store",
      headers: { "Accept": "application/json" },
    });
    let body = {};
    try { body = await answer.json(); } catch (e) { body = {}; }
    if (!answer.ok) {
      shown.textContent = body.error_description || ("refused (HTTP " + answer.status + ")");
      shown.classList.remove("masked");
      shown.classList.add("error");
      return;
    }
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
