// The page's live connection: shows its state on the badge (an operator must know when a page
// has gone stale) and, when htmx changes the URL in place (filters, paging), tells the server
// which page the sections now belong to, so live updates keep the reader's filters.
(function () {
  var labels = { open: "live", closed: "reconnecting…", connecting: "connecting…" };
  var socket = null;

  function show(state) {
    var badge = document.getElementById("live-state");
    if (!badge || badge.dataset.state === state) return;
    badge.dataset.state = state;
    badge.textContent = labels[state];
    badge.title = state === "open" ? "Live updates: connected" : "Live updates: not connected, this page may be stale";
  }

  function here() { return window.location.pathname + window.location.search; }

  function follow() {
    if (socket) socket.send(JSON.stringify({ page: here() }));
  }

  document.addEventListener("htmx:wsConnecting", function () { show("connecting"); });
  document.addEventListener("htmx:wsOpen", function (event) {
    socket = event.detail.socketWrapper;
    show("open");
    follow(); // a reconnect after the URL changed in place must hold the current page's sections
  });
  document.addEventListener("htmx:wsClose", function () { socket = null; show("closed"); });
  document.addEventListener("htmx:wsError", function () { show("closed"); });
  document.addEventListener("htmx:pushedIntoHistory", follow);
  document.addEventListener("htmx:replacedInHistory", follow);
})();
