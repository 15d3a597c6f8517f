/*
 * The card step of the patient portal (templates/portal/_card.html): sign-in, cancelling consents,
 * health-insurance-use registration, on static/js/card-step.js. "Read my card" starts it; a failure
 * is one panel with the page's own message for the codes it knows, else the server's or bridge's.
 */
(function () {
  "use strict";

  var root = document.getElementById("card-flow");
  if (!root) return;

  var messages = root.querySelector("[data-messages]").dataset;
  var english = (document.documentElement.lang || "ja").indexOf("en") === 0;

  var KNOWN = {
    bridge_unavailable: messages.bridgeUnavailable,
    no_reader: messages.noReader,
    no_card: messages.noCard,
    card_removed: messages.noCard,
    pin_locked: messages.pinLocked
  };

  function showProblem(code, error) {
    var text = KNOWN[code] || (error && (english ? error.message_en || error.message : error.message)) || code;
    var panel = root.querySelector(".problem");
    panel.querySelector("[data-problem-message]").textContent = text;
    panel.querySelector("[data-problem-code]").textContent = code;
    panel.hidden = false;
    root.dataset.state = "problem";
    root.dataset.problem = code;
    panel.focus();
  }

  window.CardStep(root, { showProblem: showProblem, startAction: "start" });
})();
