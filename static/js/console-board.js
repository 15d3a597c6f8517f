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

  function label(name) { return list.dataset["label" + name.charAt(0).toUpperCase() + name.slice(1)] || name; }
  function statusLabel(state) { return status.dataset["label" + state.charAt(0).toUpperCase() + state.slice(1)] || state; }

  function setState(state) {
    status.dataset.state = state;
    status.textContent = statusLabel(state);
  }

  function localTime(iso) {
    var d = new Date(iso);
    if (isNaN(d.getTime())) return iso;
    function two(n) { return (n < 10 ? "0" : "") + n; }
    return d.getFullYear() + "-" + two(d.getMonth() + 1) + "-" + two(d.getDate()) + " " +
      two(d.getHours()) + ":" + two(d.getMinutes()) + ":" + two(d.getSeconds());
  }

  function remember(e) {
    seen[e.id] = true;
    if (!lastAt || new Date(e.at) > new Date(lastAt)) lastAt = e.at;
  }

  function render(e) {
    if (seen[e.id]) return;
    remember(e);
    var li = document.createElement("li");
    li.className = "event event-" + e.event + " event-new";
    li.dataset.id = e.id;
    li.dataset.at = e.at;
    function span(cls, text) { var s = document.createElement("span"); s.className = cls; s.textContent = text; li.appendChild(s); }
    span("event-what", label(e.event));
    span("event-kind", label(e.kind));
    var t = document.createElement("time"); t.dateTime = e.at; t.textContent = localTime(e.at); li.appendChild(t);
    span("event-id", "#" + e.consent_id);
    if (e.event === "registered") {
      var a = document.createElement("a");
      a.className = "button secondary";
      a.href = list.dataset.patientsUrl + encodeURIComponent(e.consent_id) + "/";
      a.textContent = label("open");
      li.appendChild(a);
    }
    list.insertBefore(li, list.firstChild);
    if (empty) empty.hidden = true;
  }

  function catchUp() {
    var url = list.dataset.eventsUrl + (lastAt ? "?since=" + encodeURIComponent(lastAt) : "");
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) {
        if (r.status === 401) { signedOut(); return null; }
        return r.ok ? r.json() : null;
      })
      .then(function (body) { if (body) body.events.forEach(render); })
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
      if (data.type === "consent") render(data);
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
    try { JSON.parse(initial.textContent).forEach(remember); } catch (err) { /* nothing shown yet */ }
  }
  Array.prototype.forEach.call(list.querySelectorAll("time"), function (t) { t.textContent = localTime(t.dateTime); });
  // The board reconnects when the network returns; tests and operators can also drop it on purpose.
  window.addEventListener("online", function () { if (socket) socket.close(); });
  window.homeconsentBoard = { drop: function () { if (socket) socket.close(); } };
  connect();
})();
