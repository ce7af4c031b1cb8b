// Shows whether this page receives live updates: the htmx websocket extension announces its
// connection's state as events on <main>; an operator must know when a page has gone stale.
(function () {
  var labels = { open: "live", closed: "reconnecting…", connecting: "connecting…" };

  function show(state) {
    var badge = document.getElementById("live-state");
    if (!badge || badge.dataset.state === state) return;
    badge.dataset.state = state;
    badge.textContent = labels[state];
    badge.title = state === "open" ? "Live updates: connected" : "Live updates: not connected, this page may be stale";
  }

  document.addEventListener("htmx:wsConnecting", function () { show("connecting"); });
  document.addEventListener("htmx:wsOpen", function () { show("open"); });
  document.addEventListener("htmx:wsClose", function () { show("closed"); });
  document.addEventListener("htmx:wsError", function () { show("closed"); });
})();
