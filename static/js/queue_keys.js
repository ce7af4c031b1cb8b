// Keyboard work on the exception queue: j/k move the selection, Enter opens, a assigns to me,
// r retries (asks why), e resolves (asks for the reason), s snoozes, x picks for a bulk action,
// ? shows the keys. Progressive enhancement: without this file the queue's links, forms and
// bulk form work as they are. Actions go through the cases API (`/api/v1/exceptions/<id>/…`)
// with the version the row shows, so a case someone changed meanwhile is refused (409) and
// said so, never acted on blindly. Live updates replace the table; the selection and the
// picked rows are kept by case id across them.
(function () {
  "use strict";
  var root = document.getElementById("queue-keys");
  if (!root || !document.getElementById("case-queue")) return;
  var api = root.dataset.api;
  var canWork = root.dataset.canWork === "1";
  var selected = null; // case id
  var picked = {}; // case id -> true: rows ticked for a bulk action
  var hint = document.getElementById("queue-keys-hint");
  var status = document.getElementById("queue-keys-status");
  if (hint) hint.hidden = false;

  function rows() { return Array.prototype.slice.call(document.querySelectorAll("#case-table .case-row")); }
  function rowOf(id) { return document.querySelector('#case-table .case-row[data-case="' + id + '"]'); }

  function say(text, bad) {
    if (!status) return;
    status.textContent = text;
    status.className = bad ? "error" : "";
  }

  function mark() {
    rows().forEach(function (row) {
      var on = row.dataset.case === selected;
      row.classList.toggle("selected", on);
      if (on) row.setAttribute("aria-selected", "true"); else row.removeAttribute("aria-selected");
      var box = row.querySelector('input[name="ids"]');
      if (box && picked[row.dataset.case]) box.checked = true;
    });
  }

  function select(row) {
    if (!row) return;
    selected = row.dataset.case;
    mark();
    row.scrollIntoView({ block: "nearest" });
  }

  function move(step) {
    var all = rows();
    if (!all.length) return;
    var at = all.indexOf(rowOf(selected));
    if (at < 0) { select(all[step > 0 ? 0 : all.length - 1]); return; }
    select(all[Math.min(all.length - 1, Math.max(0, at + step))]);
  }

  function csrf() {
    try { return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || ""; }
    catch (error) { return ""; }
  }

  function refresh() {
    // The live socket pushes the new queue too; asking once more keeps the keyboard's result
    // visible at once when the socket is down.
    if (window.htmx) window.htmx.ajax("GET", window.location.pathname + window.location.search, { target: "#case-queue", swap: "outerHTML" });
  }

  function problemText(body, fallback) {
    if (!body) return fallback;
    if (body.errors && body.errors.length) {
      return body.errors.map(function (e) { return (e.pointer ? e.pointer.replace(/^\//, "") + ": " : "") + e.detail; }).join(" ");
    }
    return body.detail || body.title || fallback;
  }

  function act(id, action, payload, done) {
    say("Working on case " + id + "…");
    fetch(api + "/" + id + "/" + action, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": csrf() },
      body: JSON.stringify(payload),
    }).then(function (response) {
      return response.json().catch(function () { return null; }).then(function (body) {
        if (!response.ok) { say(problemText(body, "Refused (" + response.status + ")."), true); refresh(); return; }
        say(done(body));
        refresh();
      });
    }).catch(function () { say("The server could not be reached; nothing was done.", true); });
  }

  function current() {
    var row = rowOf(selected);
    if (!row) { say("Select a case first (j / k).", true); return null; }
    return row;
  }

  function version(row) { return parseInt(row.dataset.version, 10) || undefined; }

  function ask(dialogId, row) {
    var dialog = document.getElementById(dialogId);
    if (!dialog) return;
    dialog.dataset.case = row.dataset.case;
    dialog.dataset.version = row.dataset.version;
    Array.prototype.forEach.call(dialog.querySelectorAll(".queue-keys-case"), function (el) { el.textContent = "#" + row.dataset.case; });
    dialog.showModal();
    var first = dialog.querySelector("select, input");
    if (first) first.focus();
  }

  // The dialogs' forms: method=dialog closes them; we send what they say.
  Array.prototype.forEach.call(document.querySelectorAll("dialog form[data-action]"), function (form) {
    // Enter on a choice sends the form too (a select alone would open its list instead).
    form.addEventListener("keydown", function (event) {
      if (event.key !== "Enter" || event.target.tagName !== "SELECT") return;
      event.preventDefault();
      form.requestSubmit(form.querySelector('button[type="submit"]:not([value="cancel"])'));
    });
    form.addEventListener("submit", function (event) {
      var dialog = form.closest("dialog");
      var submitter = event.submitter;
      if (submitter && submitter.value === "cancel") return;
      var id = dialog.dataset.case;
      var seen = parseInt(dialog.dataset.version, 10) || undefined;
      var action = form.dataset.action;
      if (action === "resolve") {
        act(id, "resolve", { reason_code: form.elements.reason_code.value, comment: form.elements.comment.value, version: seen },
          function () { return "Case " + id + " resolved."; });
      } else if (action === "snooze") {
        var until = new Date(Date.now() + 1000 * parseInt(form.elements["for"].value, 10)).toISOString();
        act(id, "snooze", { until: until, version: seen }, function () { return "Case " + id + " snoozed."; });
      } else if (action === "retry") {
        act(id, "retry", { reason: form.elements.reason.value },
          function (body) { return "Case " + id + ": retry job #" + body.id + " queued (" + body.total + " deliveries)."; });
      }
      form.reset();
    });
  });

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    var target = event.target;
    // Typing is not a command; a focused button or link keeps its own Enter and Space.
    if (target && (target.isContentEditable || /^(INPUT|SELECT|TEXTAREA)$/.test(target.tagName))) return;
    if (event.key === "Enter" && target && target.closest && target.closest("a, button")) return;
    if (document.querySelector("dialog[open]")) return; // a dialog takes the keys (Esc closes it)
    var key = event.key;
    var row;
    if (key === "j") move(1);
    else if (key === "k") move(-1);
    else if (key === "?") { var help = document.getElementById("queue-keys-help"); if (help) help.showModal(); }
    else if (key === "Enter") { row = current(); if (row) window.location.assign(row.dataset.url); }
    else if (!canWork) return;
    else if (key === "a") {
      row = current();
      if (row) act(row.dataset.case, "assign", { assignee: "me", version: version(row) }, function (body) { return "Case " + body.id + " assigned to you."; });
    } else if (key === "e") { row = current(); if (row) ask("queue-keys-resolve", row); }
    else if (key === "s") { row = current(); if (row) ask("queue-keys-snooze", row); }
    else if (key === "r") {
      row = current();
      if (row && row.dataset.kind !== "dead_letter") say("Only a dead-letter case has deliveries to retry.", true);
      else if (row) ask("queue-keys-retry", row);
    } else if (key === "x") {
      row = current();
      var box = row && row.querySelector('input[name="ids"]');
      if (box) { box.checked = !box.checked; picked[row.dataset.case] = box.checked; }
    } else return;
    event.preventDefault();
  });

  // Ticking with the mouse counts as picking too.
  document.addEventListener("change", function (event) {
    var box = event.target;
    if (box && box.name === "ids" && box.form && box.form.id === "bulk-form") picked[box.value] = box.checked;
  });

  // A click on a row (not its link or box) selects it.
  document.addEventListener("click", function (event) {
    var row = event.target.closest && event.target.closest("#case-table .case-row");
    if (row && !event.target.closest("a, input")) select(row);
  });

  // The bulk form shows only the choices its action takes (all of them without this script).
  var bulkAction = document.getElementById("bulk-action");
  function bulkChoices() {
    Array.prototype.forEach.call(document.querySelectorAll("[data-bulk-for]"), function (el) {
      el.hidden = el.dataset.bulkFor !== bulkAction.value;
    });
  }
  if (bulkAction) { bulkAction.addEventListener("change", bulkChoices); bulkChoices(); }

  // Live updates and filter changes replace the table: select again what was selected.
  new MutationObserver(mark).observe(document.querySelector("main") || document.body, { childList: true, subtree: true });
})();
