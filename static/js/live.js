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

  // A page whose live sections depend on when it was shown (a list's "shown up to" mark) names
  // the URL that says so: the address bar takes it before the socket opens, so the socket, a
  // reload and a copied link all mean the rows the reader has.
  var named = document.querySelector("[data-live-url]");
  if (named && named.dataset.liveUrl.charAt(0) === "/" && named.dataset.liveUrl !== here()) {
    history.replaceState(history.state, "", named.dataset.liveUrl);
  }

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
