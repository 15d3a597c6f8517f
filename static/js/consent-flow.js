/*
 * The card step of the consent pages (templates/consent/card.html).
 *
 * connect to the reader bridge → is there a reader → wait for the card and read its PIN tries →
 * ask for the PIN (tries left; a warning before the last try) → get a challenge from the server →
 * the bridge verifies the PIN and the card signs the challenge → post certificate + signature to
 * the server → go where it says.
 *
 * The PIN goes to the bridge on 127.0.0.1 only. It is never part of a fetch to the server, a form
 * submission (the input has no name) or a URL, and the input is cleared as soon as it is read.
 */
(function () {
  "use strict";

  var root = document.getElementById("card-flow");
  if (!root) return;

  var bridge = new window.ReaderBridge(root.dataset.bridgeUrl);
  var csrf = root.querySelector("input[name=csrfmiddlewaretoken]").value;
  var pinForm = document.getElementById("pin-form");
  var pinInput = document.getElementById("pin");
  var running = false;

  // Error codes of the bridge and of the server, mapped to the panel that tells what to do.
  var PANELS = {
    bridge_unavailable: "bridge_unavailable",
    no_reader: "no_reader",
    no_card: "no_card",
    card_removed: "no_card",
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
    challenge_unknown: "session_expired"
  };

  function showStep(name) {
    root.querySelectorAll(".card-step").forEach(function (section) {
      section.hidden = section.dataset.step !== name;
    });
    root.querySelectorAll(".problem").forEach(function (section) { section.hidden = true; });
    root.dataset.state = name;
  }

  function showProblem(code, message) {
    var panel = PANELS[code] || "other";
    root.querySelectorAll(".card-step").forEach(function (section) { section.hidden = true; });
    root.querySelectorAll(".problem").forEach(function (section) {
      section.hidden = section.dataset.problem !== panel;
    });
    var shown = root.querySelector('.problem[data-problem="' + panel + '"]');
    if (panel === "other") {
      shown.querySelector("[data-problem-message]").textContent = message || code;
    }
    root.dataset.state = "problem";
    root.dataset.problem = code;
    shown.focus();
  }

  function englishPage() {
    return (document.documentElement.lang || "ja").indexOf("en") === 0;
  }

  function fail(error) {
    running = false;
    var code = (error && error.code) || "other";
    var message = error && (englishPage() ? error.message_en : error.message);
    showProblem(code, message);
  }

  function progress(step) {
    var order = ["reading", "verifying_pin", "signing", "sending"];
    var at = order.indexOf(step);
    if (at < 0) return;
    root.querySelectorAll("[data-progress]").forEach(function (item) {
      var index = order.indexOf(item.dataset.progress);
      item.classList.toggle("done", index < at);
      item.classList.toggle("active", index === at);
      if (index === at) item.setAttribute("aria-current", "step"); else item.removeAttribute("aria-current");
    });
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify(body)
    }).catch(function () {
      throw { code: "network" };
    }).then(function (response) {
      return response.json().catch(function () { return { problem: "other", message: response.statusText }; });
    });
  }

  function askPin(triesLeft, wrong) {
    showStep("pin");
    var tries = document.getElementById("pin-tries");
    tries.textContent = tries.dataset.templateTries.replace("__N__", String(triesLeft));
    var wrongText = document.getElementById("pin-wrong");
    wrongText.hidden = !wrong;
    if (wrong) wrongText.textContent = wrongText.dataset.template.replace("__N__", String(triesLeft));
    document.getElementById("pin-last-try").hidden = triesLeft !== 1;
    document.getElementById("pin-format").hidden = true;
    root.dataset.triesLeft = String(triesLeft);
    pinInput.value = "";
    pinInput.focus();
  }

  function start() {
    if (running) return;
    running = true;
    showStep("connect");
    bridge.connect()
      .then(function () { return bridge.status(); })
      .then(function (status) {
        if (!status.reader) {
          throw { code: "no_reader", message: status.message, message_en: status.message_en };
        }
        showStep("place");
        return bridge.triesLeft({ timeout: Number(root.dataset.cardWait) || 60 });
      })
      .then(function (result) {
        running = false;
        if (result.tries_left === 0) throw { code: "pin_locked" };
        askPin(result.tries_left, false);
      })
      .catch(fail);
  }

  function authenticate(pin) {
    running = true;
    showStep("working");
    progress("reading");
    var challenge;
    post(root.dataset.challengeUrl, {})
      .then(function (issued) {
        if (issued.problem) throw { code: issued.problem, message: issued.message, message_en: issued.message };
        challenge = issued;
        var sent = bridge.authenticate(issued.digest_info, pin, progress, { timeout: 30 });
        pin = null;
        return sent;
      })
      .then(function (card) {
        progress("sending");
        return post(root.dataset.answerUrl, {
          challenge: challenge.challenge,
          certificate: card.certificate,
          signature: card.signature
        });
      })
      .then(function (answer) {
        if (answer.next) {
          root.dataset.state = "done";
          window.location.assign(answer.next);
          return;
        }
        throw { code: answer.problem, message: answer.message, message_en: answer.message };
      })
      .catch(function (error) {
        pin = null;
        running = false;
        if (error && error.code === "pin_incorrect" && error.tries_left > 0) {
          askPin(error.tries_left, true);
          return;
        }
        fail(error);
      });
  }

  pinForm.addEventListener("submit", function (event) {
    event.preventDefault();
    var pin = pinInput.value;
    pinInput.value = "";
    if (running) return;
    if (!/^[0-9]{4}$/.test(pin)) {
      document.getElementById("pin-format").hidden = false;
      pinInput.focus();
      return;
    }
    authenticate(pin);
  });

  root.addEventListener("click", function (event) {
    var target = event.target.closest("[data-action=retry]");
    if (!target) return;
    event.preventDefault();
    start();
  });

  window.addEventListener("pagehide", function () { bridge.close(); });
  start();
})();
