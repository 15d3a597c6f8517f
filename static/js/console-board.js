// The live board: consent events of this institution over a WebSocket, without reloading.
// After a dropped connection it reconnects with backoff and fetches what it missed from
// events.json?since=<time of the last event seen>; ids already shown are skipped.
(function () {
  "use strict";
  var list = document.getElementById("events");
  var status = document.getElementById("board-status");
  var statusText = status ? status.querySelector(".connection-text") : null;
  var announcer = document.getElementById("board-announce");
  var empty = document.getElementById("events-empty");
  if (!list || !status) return;
  var seen = {};
  var lastAt = null;
  var attempt = 0;
  var socket = null;
  var stopped = false;
  var ended = {};  // consent id -> "cancelled" | "superseded": no longer in force, nothing to open
  var announced = {};  // consent id -> true once its arrival was announced (a replacement names it once)

  function label(name) { return list.dataset["label" + name.charAt(0).toUpperCase() + name.slice(1)] || name; }
  function statusLabel(state) { return status.dataset["label" + state.charAt(0).toUpperCase() + state.slice(1)] || state; }

  function withId(name, consentId, old) {
    return (list.getAttribute("data-label-" + name) || "").replace("{id}", consentId).replace("{old}", old);
  }

  // News goes to its own live region, so the connection indicator is never overwritten (issue 12).
  function announce(texts) {
    texts = texts.filter(Boolean);
    if (texts.length && announcer) announcer.textContent = texts.join(list.dataset.labelSeparator || ", ");
  }

  function setState(state) {
    status.dataset.state = state;
    if (statusText) statusText.textContent = statusLabel(state); else status.textContent = statusLabel(state);
  }

  // Japan time whatever the device's zone, in the page's date format as the server writes it
  // (data-time-format, a Django format: "Y年n月j日 G:i" → "2026年11月26日 2:31 JST").
  // Japan has no daylight saving: UTC+9 all year.
  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  function japanTime(iso) {
    var d = new Date(iso);
    if (isNaN(d.getTime())) return iso;
    var j = new Date(d.getTime() + 9 * 3600 * 1000);
    function two(n) { return (n < 10 ? "0" : "") + n; }
    var parts = {
      Y: String(j.getUTCFullYear()), n: String(j.getUTCMonth() + 1), j: String(j.getUTCDate()),
      G: String(j.getUTCHours()), H: two(j.getUTCHours()), i: two(j.getUTCMinutes()), M: MONTHS[j.getUTCMonth()]
    };
    var format = list.dataset.timeFormat || "Y-m-d H:i";
    parts.m = two(j.getUTCMonth() + 1); parts.d = two(j.getUTCDate());
    return format.replace(/[YnjGHiMmd]/g, function (c) { return parts[c]; }) + " JST";
  }

  function itemsText(items) {
    return (items || []).map(function (item) {
      return list.getAttribute("data-label-item-" + item) || item;
    }).join(list.dataset.labelSeparator || ", ");
  }

  function rowOf(consentId) { return list.querySelector('li[data-consent="' + consentId + '"]'); }

  function setPart(li, cls, text, data) {
    var el = li.querySelector("." + cls);
    if (!text) { if (el) el.remove(); return; }
    if (!el) {
      el = document.createElement("span");
      el.className = cls;
      var before = li.querySelector(".event-ended-note, .event-open");
      li.insertBefore(el, before);
    }
    el.textContent = text;
    Object.keys(data || {}).forEach(function (key) { el.dataset[key] = data[key]; });
  }

  // A consent cancelled or replaced: its row says so and no longer offers "open".
  function markEnded(consentId, why) {
    ended[consentId] = why;
    var li = rowOf(consentId);
    if (!li || li.classList.contains("event-ended")) return;
    li.classList.add("event-ended");
    var open = li.querySelector(".event-open");
    if (open) open.remove();
    var note = document.createElement("span");
    note.className = "event-ended-note";
    note.dataset.ended = why;
    note.textContent = list.getAttribute("data-label-ended-" + why) || why;
    li.appendChild(note);
  }

  function endingOf(e) {
    return e.event === "cancelled" || e.event === "superseded" ? e.event : null;
  }

  function remember(e) {
    seen[e.id] = true;
    if (!lastAt || new Date(e.at) > new Date(lastAt)) lastAt = e.at;
  }

  // One row per consent: a new event of a consent updates its row (and moves it to the top).
  function apply(e) {
    var li = rowOf(e.consent_id);
    var fresh = !li;
    if (fresh) {
      li = document.createElement("li");
      li.dataset.consent = String(e.consent_id);
      function span(cls) { var s = document.createElement("span"); s.className = cls; li.appendChild(s); return s; }
      span("event-what"); span("event-kind"); span("event-items");
      li.appendChild(document.createElement("time"));
      var id = document.createElement("small"); id.className = "event-id"; id.textContent = "#" + e.consent_id; li.appendChild(id);
      if (!ended[e.consent_id] && !endingOf(e)) {
        var a = document.createElement("a");
        a.className = "button secondary event-open";
        a.href = list.dataset.patientsUrl + encodeURIComponent(e.consent_id) + "/";
        a.textContent = label("open");
        a.setAttribute("aria-label", withId("open-consent", e.consent_id));
        li.appendChild(a);
      }
    }
    var wasEnded = li.classList.contains("event-ended");
    li.className = "event event-" + e.event + " event-new" + (wasEnded ? " event-ended" : "");
    li.dataset.id = e.id;
    li.dataset.event = e.event;
    li.dataset.at = e.at;
    li.querySelector(".event-what").textContent = label(e.event);
    li.querySelector(".event-kind").textContent = label(e.kind);
    if ((e.items || []).length) li.querySelector(".event-items").textContent = itemsText(e.items);
    var t = li.querySelector("time"); t.dateTime = e.at; t.textContent = japanTime(e.at);
    setPart(li, "event-by", e.ended_by ? list.getAttribute("data-label-by-" + e.ended_by) : "", { by: e.ended_by || "" });
    setPart(li, "event-replaced-by", e.replaced_by ? withId("replaced-by", e.replaced_by) : "", { replacedBy: e.replaced_by || "" });
    list.insertBefore(li, list.firstChild);
    if (empty) empty.hidden = true;
    var why = endingOf(e) || ended[e.consent_id];
    if (why) markEnded(e.consent_id, why);
    if (e.event === "superseded" && e.replaced_by) {
      var newer = rowOf(e.replaced_by);
      if (newer) setPart(newer, "event-replaces", withId("replaces", e.consent_id), { replaces: String(e.consent_id) });
    }
    return fresh;
  }

  // What the announcement says of an event first seen: the new consent by its number (and the one it
  // replaces), a cancellation and by whom.
  function newsOf(e, replacing) {
    if (e.event === "registered") {
      announced[e.consent_id] = true;
      return replacing[e.consent_id] ? withId("arrived-replacing", e.consent_id, replacing[e.consent_id]) : withId("arrived", e.consent_id);
    }
    if (e.event === "cancelled" && e.ended_by) return withId("cancelled-by-" + e.ended_by, e.consent_id);
    if (e.event === "superseded") {
      // Named through the new consent: "New consent #7 (replaces #6)", said once it is known.
      if (e.replaced_by && announced[e.replaced_by]) return withId("arrived-replacing", e.replaced_by, e.consent_id);
      return null;
    }
    return label(e.event) + " #" + e.consent_id;
  }

  function take(events) {
    var replacing = {};
    events.forEach(function (e) { if (e.event === "superseded" && e.replaced_by) replacing[e.replaced_by] = e.consent_id; });
    var news = [];
    events.forEach(function (e) {
      var known = seen[e.id];
      remember(e);
      // A catch-up event may carry what the socket could not (by whom, replaced by which): re-apply.
      apply(e);
      if (!known) news.push(newsOf(e, replacing));
    });
    announce(news);
  }

  function catchUp() {
    var url = list.dataset.eventsUrl + (lastAt ? "?since=" + encodeURIComponent(lastAt) : "");
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) {
        if (r.status === 401) { signedOut(); return null; }
        return r.ok ? r.json() : null;
      })
      .then(function (body) { if (body) take(body.events.filter(isNewer)); })
      .catch(function () { /* the next reconnect tries again */ });
  }

  // A catch-up repeats boundary events; only those not shown, or carrying more than was shown, apply.
  function isNewer(e) {
    if (!seen[e.id]) return true;
    var li = rowOf(e.consent_id);
    if (!li || li.dataset.id !== e.id) return false;
    return (e.ended_by && !li.querySelector(".event-by")) || (e.replaced_by && !li.querySelector(".event-replaced-by"));
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
      if (!seen[data.id]) take([data]);
      // The socket names nobody: the catch-up (over this signed-in session) says which consent a
      // registration replaced, and who cancelled.
      if (data.event === "registered" || data.event === "cancelled") catchUp();
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
        announced[e.consent_id] = true;
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
