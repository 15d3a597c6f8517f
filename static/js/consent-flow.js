/*
 * The script of the consent pages.
 *
 * The confirm page (templates/consent/confirm.html): the end-date box is shown, enabled and
 * required only while "set an end date" is chosen. Without script it is always there and the
 * server checks it; the form has novalidate, so the server's coded message in the page's
 * language answers a bad date, never the browser's own.
 *
 * The card step (templates/consent/card.html), on static/js/card-step.js: starts at once, and
 * shows each failure as the panel of templates/consent/_problems.html that tells what to do,
 * with the code it met printed on the panel.
 */
(function () {
  "use strict";

  // A form the server sent back with an error (limit, visit date, end date): focus goes to the
  // coded message, so it is read at once instead of the top of the page (progressive: the message
  // is there without script too).
  var formError = document.querySelector("form .error[data-code][tabindex]");
  if (formError) formError.focus();

  var choice = document.getElementById("until-choice");
  if (choice) {
    var dated = document.getElementById("until-date");
    var box = document.getElementById("until-date-box");
    var input = document.getElementById("until-date-value");
    var showDate = function () {
      box.hidden = !dated.checked;
      // A disabled box is not sent: a date typed before switching back cannot hold the form up.
      input.disabled = !dated.checked;
      input.required = dated.checked;
    };
    choice.addEventListener("change", showDate);
    showDate();
  }

  var root = document.getElementById("card-flow");
  if (!root) return;

  // Error codes of the bridge and of the server, mapped to the panel that tells what to do.
  var PANELS = {
    bridge_unavailable: "bridge_unavailable",
    no_reader: "no_reader",
    no_card: "no_card",
    card_removed: "card_removed",
    cancelled: "no_card",
    not_jpki_card: "not_jpki_card",
    pin_not_set: "pin_not_set",
    pin_locked: "pin_locked",
    busy: "busy",
    certificate_expired: "certificate_expired",
    certificate_revoked: "certificate_revoked",
    card_not_registered: "card_not_registered",
    no_valid_qualification: "no_valid_qualification",
    no_qualification: "no_valid_qualification",
    network: "network",
    session_expired: "session_expired",
    challenge_expired: "session_expired",
    challenge_reused: "session_expired",
    challenge_unknown: "session_expired",
    // The draft this page was for has ended (the next patient started on this device) or changed.
    consent_draft_ended: "consent_draft_ended",
    consent_draft_not_confirmed: "session_expired",
    // A telehealth app's session that ended mid-flow: only the way back to the app helps.
    consent_session_expired: "app_session_ended",
    consent_session_declined: "app_session_ended",
    consent_session_completed: "app_session_ended",
    consent_session_unknown: "app_session_ended"
  };

  function englishPage() {
    return (document.documentElement.lang || "ja").indexOf("en") === 0;
  }

  function showProblem(code, error) {
    var message = error && (englishPage() ? error.message_en : error.message);
    var panel = PANELS[code] || "other";
    // The app's panel is on the page only in an app's session.
    if (!root.querySelector('.problem[data-problem="' + panel + '"]')) panel = "other";
    root.querySelectorAll(".problem").forEach(function (section) {
      section.hidden = section.dataset.problem !== panel;
    });
    var shown = root.querySelector('.problem[data-problem="' + panel + '"]');
    if (panel === "other") {
      shown.querySelector("[data-problem-message]").textContent = message || code;
    }
    if (panel === "card_removed") {
      // Whether a PIN try was used: the bridge says if the PIN had reached the card when it left.
      var tried = Boolean(error && error.pin_tried);
      shown.querySelector('[data-pin-tried="yes"]').hidden = !tried;
      shown.querySelector('[data-pin-tried="no"]').hidden = tried;
    }
    // The code met, not the panel's: "cancelled" shows the no_card panel but says cancelled.
    shown.querySelector("[data-error-code]").textContent = code || "other";
    root.dataset.state = "problem";
    root.dataset.problem = code;
    shown.focus();
  }

  window.CardStep(root, { showProblem: showProblem, startAction: "retry", networkProblem: "network" }).start();
})();
