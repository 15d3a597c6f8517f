// The live board: consent events of this institution over a WebSocket, without reloading.
// After a dropped connection it reconnects with backoff and fetches what it missed from
// events.json?since=<time of the last event seen>; ids already shown are skipped.
(function () {
  "use strict";
  var list = document.getElementById("events");
  var status = document.getElementById("board-status");
  var empty = document.getElementById("events-empty");
  if (!list || !status) return;
  var seen = {};
  var lastAt = null;
  var attempt = 0;
  var socket = null;
  var stopped = false;
  var ended = {};  // consent id -> "cancelled" | "superseded": no longer in force, nothing to open

  function label(name) { return list.dataset["label" + name.charAt(0).toUpperCase() + name.slice(1)] || name; }
  function statusLabel(state) { return status.dataset["label" + state.charAt(0).toUpperCase() + state.slice(1)] || state; }

  function withId(name, consentId) { return (list.getAttribute("data-label-" + name) || "").replace("{id}", consentId); }

  // New rows are announced through the status live region, shortly ("New consent #7").
  function announce(events) {
    var texts = events.map(function (e) {
      return e.event === "registered" ? withId("arrived", e.consent_id) : label(e.event) + " #" + e.consent_id;
    });
    if (texts.length) status.textContent = texts.join(list.dataset.labelSeparator || ", ");
  }

  function setState(state) {
    status.dataset.state = state;
    status.textContent = statusLabel(state);
  }

  // Japan time whatever the device's zone, as the server writes it ("2026-11-26 02:31 JST").
  // Japan has no daylight saving: UTC+9 all year.
  function japanTime(iso) {
    var d = new Date(iso);
    if (isNaN(d.getTime())) return iso;
    var j = new Date(d.getTime() + 9 * 3600 * 1000);
    function two(n) { return (n < 10 ? "0" : "") + n; }
    return j.getUTCFullYear() + "-" + two(j.getUTCMonth() + 1) + "-" + two(j.getUTCDate()) + " " +
      two(j.getUTCHours()) + ":" + two(j.getUTCMinutes()) + " JST";
  }

  function itemsText(items) {
    return (items || []).map(function (item) {
      return list.getAttribute("data-label-item-" + item) || item;
    }).join(list.dataset.labelSeparator || ", ");
  }

  // A consent cancelled or replaced: its rows say so and no longer offer "open".
  function markEnded(consentId, why) {
    ended[consentId] = why;
    Array.prototype.forEach.call(list.querySelectorAll('li[data-consent="' + consentId + '"]'), function (li) {
      if (li.classList.contains("event-ended")) return;
      if (!li.classList.contains("event-registered") && !li.classList.contains("event-end_set")) return;
      li.classList.add("event-ended");
      var open = li.querySelector(".event-open");
      if (open) open.remove();
      var note = document.createElement("span");
      note.className = "event-ended-note";
      note.dataset.ended = why;
      note.textContent = list.getAttribute("data-label-ended-" + why) || why;
      li.appendChild(note);
    });
  }

  function endingOf(e) {
    return e.event === "cancelled" || e.event === "superseded" ? e.event : null;
  }

  function remember(e) {
    seen[e.id] = true;
    if (!lastAt || new Date(e.at) > new Date(lastAt)) lastAt = e.at;
  }

  function render(e) {
    if (seen[e.id]) return false;
    remember(e);
    var li = document.createElement("li");
    li.className = "event event-" + e.event + " event-new";
    li.dataset.id = e.id;
    li.dataset.consent = String(e.consent_id);
    li.dataset.at = e.at;
    function span(cls, text) { var s = document.createElement("span"); s.className = cls; s.textContent = text; li.appendChild(s); }
    span("event-what", label(e.event));
    span("event-kind", label(e.kind));
    span("event-items", itemsText(e.items));
    var t = document.createElement("time"); t.dateTime = e.at; t.textContent = japanTime(e.at); li.appendChild(t);
    var id = document.createElement("small"); id.className = "event-id"; id.textContent = "#" + e.consent_id; li.appendChild(id);
    if (e.event === "registered") {
      var a = document.createElement("a");
      a.className = "button secondary event-open";
      a.href = list.dataset.patientsUrl + encodeURIComponent(e.consent_id) + "/";
      a.textContent = label("open");
      a.setAttribute("aria-label", withId("open-consent", e.consent_id));
      li.appendChild(a);
    }
    list.insertBefore(li, list.firstChild);
    if (empty) empty.hidden = true;
    var why = endingOf(e) || ended[e.consent_id];
    if (why) markEnded(e.consent_id, why);
    return true;
  }

  function catchUp() {
    var url = list.dataset.eventsUrl + (lastAt ? "?since=" + encodeURIComponent(lastAt) : "");
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) {
        if (r.status === 401) { signedOut(); return null; }
        return r.ok ? r.json() : null;
      })
      .then(function (body) { if (body) announce(body.events.filter(render)); })
      .catch(function () { /* the next reconnect tries again */ });
  }

  function signedOut() {
    stopped = true;
    setState("signedout");
    window.setTimeout(function () { window.location.assign(list.dataset.signinUrl); }, 1500);
  }

  function connect() {
    if (stopped) return;
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + window.location.host + list.dataset.socket);
    socket.onopen = function () {
      attempt = 0;
      setState("live");
      list.dataset.connections = String(Number(list.dataset.connections || "0") + 1);
      catchUp();  // whatever happened while the socket was down (or since the page was made)
    };
    socket.onmessage = function (message) {
      var data;
      try { data = JSON.parse(message.data); } catch (err) { return; }
      if (data.type !== "consent") return;
      if (render(data)) announce([data]);
      // A registration may replace an earlier consent of the same patient; the socket carries nobody,
      // so the catch-up (over this signed-in session) says which consent was replaced.
      if (data.event === "registered") catchUp();
    };
    socket.onclose = function (event) {
      socket = null;
      if (event.code === 4401 || event.code === 4403) { signedOut(); return; }
      if (stopped) return;
      setState("reconnecting");
      attempt += 1;
      // Backoff: 0.5 s, 1 s, 2 s … up to 30 s, with jitter so many boards do not return at once.
      var delay = Math.min(30000, 500 * Math.pow(2, attempt - 1)) * (0.75 + Math.random() * 0.5);
      window.setTimeout(connect, delay);
    };
  }

  var initial = document.getElementById("events-initial");
  if (initial) {
    try {
      JSON.parse(initial.textContent).forEach(function (e) {
        remember(e);
        if (endingOf(e)) ended[e.consent_id] = endingOf(e);
      });
    } catch (err) { /* nothing shown yet */ }
  }
  Array.prototype.forEach.call(list.querySelectorAll("li[data-consent]"), function (li) {
    var note = li.querySelector(".event-ended-note");
    if (note) ended[li.dataset.consent] = note.dataset.ended;
  });
  // The board reconnects when the network returns; tests and operators can also drop it on purpose.
  window.addEventListener("online", function () { if (socket) socket.close(); });
  window.homeconsentBoard = { drop: function () { if (socket) socket.close(); } };
  connect();
})();
