/*
 * The order of the two routes of the proof step (templates/_app_route.html): when the local reader
 * bridge answers (a PC or tablet with a reader), the card reader comes first and the authentication
 * app second; when none answers (a phone), the app comes first and the reader is one tap away
 * ("Use a card reader instead"). The routes are moved in the DOM, so screen readers meet them in
 * the order shown.
 *
 * Consent pages start the card step at once: its state (data-state on #card-flow) tells whether the
 * bridge answered. The portal starts it on a tap: there a short WebSocket probe asks the bridge.
 */
(function () {
  "use strict";

  var app = document.getElementById("app-route");
  var flow = document.getElementById("card-flow");
  if (!app || !flow) return;
  var readerSwitch = document.getElementById("reader-route-switch");
  var parent = flow.parentNode;
  var decided = false;

  function readerFirst() {
    decided = true;
    parent.insertBefore(flow, app);
    flow.hidden = false;
    readerSwitch.hidden = true;
    document.body.dataset.routeFirst = "reader";
  }

  function appFirst() {
    decided = true;
    parent.insertBefore(app, flow);
    parent.insertBefore(readerSwitch, flow);
    flow.hidden = true;
    readerSwitch.hidden = false;
    document.body.dataset.routeFirst = "app";
  }

  readerSwitch.querySelector("button").addEventListener("click", function () {
    flow.hidden = false;
    readerSwitch.hidden = true;
    var start = flow.querySelector("[data-action=start], [data-action=retry]");
    if (start) start.click();
  });

  if (flow.dataset.autostart === "yes") {
    var decide = function () {
      if (decided) return;
      var state = flow.dataset.state;
      if (state === "problem" && flow.dataset.problem === "bridge_unavailable") appFirst();
      else if (state && state !== "connect" && state !== "problem") readerFirst();
    };
    new MutationObserver(decide).observe(flow, { attributes: true, attributeFilter: ["data-state", "data-problem"] });
    decide(); // the card step may have met the bridge (or its absence) before this script loaded
    return;
  }

  var socket;
  var timer = window.setTimeout(function () { if (socket) socket.close(); if (!decided) appFirst(); }, 1500);
  try {
    socket = new WebSocket(flow.dataset.bridgeUrl);
  } catch (error) {
    window.clearTimeout(timer);
    appFirst();
    return;
  }
  socket.onopen = function () { window.clearTimeout(timer); socket.close(); if (!decided) readerFirst(); };
  socket.onerror = function () { window.clearTimeout(timer); if (!decided) appFirst(); };
})();
