// Small page behaviour on top of htmx: resume the live stream where it stopped, show whether it is
// connected, and tick countdowns and ages every second between server updates. Countdowns count from
// the server's clock, not the browser's: a browser whose clock is wrong still shows the right time left.
(function () {
  "use strict";
  var lastEventId = null;
  var liveState = "Connecting…";
  // Server clock minus browser clock, in ms. Every countdown carries the server's "now" at render time
  // (data-now, ISO 8601 with zone); the newest one seen, on load or brought by a swap, sets the offset.
  var skew = 0;
  var skewFrom = -Infinity;

  function syncClock() {
    document.querySelectorAll("[data-now]:not([data-now-seen])").forEach(function (el) {
      el.setAttribute("data-now-seen", "");
      var serverNow = Date.parse(el.dataset.now);
      if (!isNaN(serverNow) && serverNow >= skewFrom) {
        skewFrom = serverNow;
        skew = serverNow - Date.now();
      }
    });
  }

  function showLive() {
    document.querySelectorAll("[data-live-indicator]").forEach(function (el) {
      el.textContent = liveState;
      el.dataset.state = liveState === "Live" ? "live" : "down";
    });
  }

  if (window.htmx) {
    // When the SSE extension has to open a new EventSource (not the browser's own reconnect,
    // which sends Last-Event-ID by itself), ask the server to resume after the last event seen.
    htmx.createEventSource = function (url) {
      if (lastEventId) {
        var u = new URL(url, window.location.href);
        u.searchParams.set("last_event_id", lastEventId);
        url = u.toString();
      }
      return new EventSource(url, { withCredentials: true });
    };
  }
  document.addEventListener("DOMContentLoaded", function () {
    showLive();
    tick();
    window.setInterval(tick, 1000);
  });
  document.addEventListener("htmx:sseMessage", function (e) {
    if (e.detail && e.detail.lastEventId) lastEventId = e.detail.lastEventId;
  });
  document.addEventListener("htmx:sseOpen", function () { liveState = "Live"; showLive(); });
  document.addEventListener("htmx:sseError", function () { liveState = "Reconnecting…"; showLive(); });
  document.addEventListener("htmx:afterSwap", function () { showLive(); tick(); });

  // The same words as pitchey_incidents/timefmt.py: the two largest non-zero units, "1 h 5 min".
  function fmt(seconds) {
    var rest = Math.floor(Math.abs(seconds)), parts = [];
    [["d", 86400], ["h", 3600], ["min", 60], ["s", 1]].forEach(function (u) {
      var n = Math.floor(rest / u[1]);
      rest -= n * u[1];
      if (n) parts.push(n + " " + u[0]);
    });
    return parts.slice(0, 2).join(" ") || "0 s";
  }

  function tick() {
    syncClock();
    var now = Date.now() + skew;
    document.querySelectorAll("[data-due]").forEach(function (el) {
      var left = (Date.parse(el.dataset.due) - now) / 1000;
      var overdue = left < 0;
      el.textContent = overdue ? "⚠ OVERDUE by " + fmt(left) : "due in " + fmt(left);
      el.classList.toggle("overdue", overdue);
      var row = el.closest("tr");
      if (row) row.classList.toggle("is-overdue", overdue);
    });
    document.querySelectorAll("[data-since]").forEach(function (el) {
      el.textContent = fmt((now - Date.parse(el.dataset.since)) / 1000);
    });
  }
})();
