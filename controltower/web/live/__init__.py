"""Live pages: every section that shows changing state updates itself over one websocket.

The pieces, in the order a change travels:

1. A service announces it (`controltower.changes.announce`); after commit, `changed` fires.
2. `bus.publish_changes` (connected to `changed` in every process: web, worker, beat) batches the
   changes of ~50 ms and publishes them as one message on a fanout exchange of the Celery broker —
   Redis in production, the embedded `ctfs://` folder on a laptop — so a change made in a worker
   reaches every web process.
3. In each web process one `hub.Hub` listens to that exchange. It knows which pages the
   process's open websockets hold (`pages.LivePage`), groups sockets of identical audience (same
   page, scope, capabilities and time zone) and, at most every `Hub.TICK` seconds, re-renders each
   dirty audience once by calling the page's own view for its live sections (`render`), then
   sends that HTML to every socket of the audience. htmx swaps the sections in by id.

So a page and its live update come from one view and one template; a scoped user's update is
rendered through the same scope checks as the page; and a burst of 1,000 changes a second costs
each audience a few renders a second, not one message per change per browser.
"""
