/*
 * The card step of the patient portal (templates/portal/_card.html): sign-in, cancelling consents,
 * health-insurance-use registration.
 *
 * "Read my card" → connect to the reader bridge → wait for the card, read its PIN tries → ask for
 * the PIN → get a challenge from this server → the bridge verifies the PIN and the card signs →
 * post certificate + signature (never the PIN) → go where the server says.
 *
 * The PIN goes to the bridge on 127.0.0.1 only: the input has no name, it is cleared as soon as it
 * is read, and it is never part of a request to the server.
 */
(function () {
  "use strict";

  var root = document.getElementById("card-flow");
  if (!root) return;

  var bridge = new window.ReaderBridge(root.dataset.bridgeUrl);
  var csrf = root.querySelector("input[name=csrfmiddlewaretoken]").value;
  var pinInput = document.getElementById("pin");
  var messages = root.querySelector("[data-messages]").dataset;
  var running = false;
  var english = (document.documentElement.lang || "ja").indexOf("en") === 0;

  var KNOWN = {
    bridge_unavailable: messages.bridgeUnavailable,
    no_reader: messages.noReader,
    no_card: messages.noCard,
    card_removed: messages.noCard,
    pin_locked: messages.pinLocked
  };

  function showStep(name) {
    root.querySelectorAll(".card-step").forEach(function (section) {
      section.hidden = section.dataset.step !== name;
    });
    root.querySelector(".problem").hidden = true;
    root.dataset.state = name;
  }

  function fail(error) {
    running = false;
    var code = (error && error.code) || "other";
    var text = KNOWN[code] || (error && (english ? error.message_en || error.message : error.message)) || code;
    root.querySelectorAll(".card-step").forEach(function (section) { section.hidden = true; });
    var panel = root.querySelector(".problem");
    panel.querySelector("[data-problem-message]").textContent = text;
    panel.querySelector("[data-problem-code]").textContent = code;
    panel.hidden = false;
    root.dataset.state = "problem";
    root.dataset.problem = code;
    panel.focus();
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().catch(function () { return { problem: "other", message: response.statusText }; });
    });
  }

  function askPin(triesLeft, wrong) {
    showStep("pin");
    var tries = document.getElementById("pin-tries");
    tries.textContent = tries.dataset.template.replace("__N__", String(triesLeft));
    var wrongText = document.getElementById("pin-wrong");
    wrongText.hidden = !wrong;
    if (wrong) wrongText.textContent = wrongText.dataset.template.replace("__N__", String(triesLeft));
    document.getElementById("pin-last-try").hidden = triesLeft !== 1;
    document.getElementById("pin-format").hidden = true;
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
        if (!status.reader) throw { code: "no_reader" };
        showStep("place");
        return bridge.triesLeft({ timeout: 60 });
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
    var challenge;
    post(root.dataset.challengeUrl, {})
      .then(function (issued) {
        if (issued.problem) throw { code: issued.problem, message: issued.message, message_en: issued.message };
        challenge = issued;
        var sent = bridge.authenticate(issued.digest_info, pin, null, { timeout: 30 });
        pin = null;
        return sent;
      })
      .then(function (card) {
        return post(root.dataset.answerUrl, {
          challenge: challenge.challenge, certificate: card.certificate, signature: card.signature
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

  document.getElementById("pin-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var pin = pinInput.value;
    pinInput.value = "";
    if (!/^[0-9]{4}$/.test(pin)) {
      document.getElementById("pin-format").hidden = false;
      pinInput.focus();
      return;
    }
    authenticate(pin);
  });

  root.addEventListener("click", function (event) {
    if (!event.target.closest("[data-action=start]")) return;
    event.preventDefault();
    start();
  });

  window.addEventListener("pagehide", function () { bridge.close(); });
})();
