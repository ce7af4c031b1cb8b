// The page's live connection: shows its state on the badge (an operator must know when a page
// has gone stale) and, when htmx changes the URL in place (filters, paging), tells the server
// which page the sections now belong to, so live updates keep the reader's filters. A section
// may name the URL it is rendered from itself (`data-live-page`: a pinned list's anchor, the page
// of a list paged in place), which the address bar does not show.
(function () {
  var labels = { open: "live", closed: "reconnecting…", connecting: "connecting…" };
  var socket = null;
  var followed = null;

  function show(state) {
    var badge = document.getElementById("live-state");
    if (!badge || badge.dataset.state === state) return;
    badge.dataset.state = state;
    badge.textContent = labels[state];
    badge.title = state === "open" ? "Live updates: connected" : "Live updates: not connected, this page may be stale";
  }

  function here() {
    var section = document.querySelector("[data-live-page]");
    var page = section && section.getAttribute("data-live-page");
    return page && page.charAt(0) === "/" ? page : window.location.pathname + window.location.search;
  }

  // A page whose live sections depend on when it was shown (a list's "shown up to" mark) names
  // the URL that says so: the address bar takes it before the socket opens, so the socket, a
  // reload and a copied link all mean the rows the reader has.
  var named = document.querySelector("[data-live-url]");
  if (named && named.dataset.liveUrl.charAt(0) === "/" && named.dataset.liveUrl !== here()) {
    history.replaceState(history.state, "", named.dataset.liveUrl);
  }

  function follow() {
    var page = here();
    if (!socket || page === followed) return;
    followed = page;
    socket.send(JSON.stringify({ page: page }));
  }

  document.addEventListener("htmx:wsConnecting", function () { show("connecting"); });
  document.addEventListener("htmx:wsOpen", function (event) {
    socket = event.detail.socketWrapper;
    followed = null;
    show("open");
    follow(); // a reconnect after the URL changed in place must hold the current page's sections
  });
  document.addEventListener("htmx:wsClose", function () { socket = null; show("closed"); });
  document.addEventListener("htmx:wsError", function () { show("closed"); });
  document.addEventListener("htmx:pushedIntoHistory", follow);
  document.addEventListener("htmx:replacedInHistory", follow);
  // A section names the page it was rendered for (`data-live-for`): one rendered for a page this
  // one has since left (a filter changed while it was on its way) must not undo the change.
  document.addEventListener("htmx:wsBeforeMessage", function (event) {
    if (event.detail.message.indexOf("data-live-for=") < 0) return;
    var parsed = new DOMParser().parseFromString(event.detail.message, "text/html");
    var section = parsed.querySelector("[data-live-for]");
    if (section && section.getAttribute("data-live-for") !== here()) event.preventDefault();
  });
  // A section swapped in (filtered, paged, or a pinned list re-anchored) may name a new page.
  document.addEventListener("htmx:afterSettle", follow);
  document.addEventListener("htmx:wsAfterMessage", follow);
})();
