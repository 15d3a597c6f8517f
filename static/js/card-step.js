/*
 * The card step shared by the consent pages and the patient portal: window.CardStep(root, options).
 *
 * connect to the reader bridge → is there a reader → wait for the card and read its PIN tries →
 * ask for the PIN (tries left; a warning before the last try) → get a challenge from the server →
 * the bridge verifies the PIN and the card signs the challenge → post certificate + signature to
 * the server → go where it says.
 *
 * The PIN goes to the bridge on 127.0.0.1 only. It is never part of a fetch to the server, a form
 * submission (the input has no name) or a URL, and the input is cleared as soon as it is read.
 *
 * Screen readers: the sections only show and hide, which is not announced. Each step's text (the
 * data-say-<step> attributes) is written into the always-present role="status" region
 * [data-card-status], and each failure into the role="alert" region [data-card-alert]; the title
 * then starts with "Error: " until the step is started again.
 *
 * options.showProblem(code, error): the page's own way of showing a failure.
 * options.startAction: the data-action of the buttons that (re)start the step.
 * options.networkProblem: the code to report when the server cannot be reached (else the fetch error).
 * Returns { start }.
 */
(function () {
  "use strict";

  window.CardStep = function (root, options) {
    var bridge = new window.ReaderBridge(root.dataset.bridgeUrl);
    var csrf = root.querySelector("input[name=csrfmiddlewaretoken]").value;
    var pinInput = document.getElementById("pin");
    var running = false;
    var status = root.querySelector("[data-card-status]");
    var alertRegion = root.querySelector("[data-card-alert]");
    var title = document.title;

    // Emptied first, then written: the same text said twice (a second wrong PIN) is announced again.
    function say(region, text) {
      if (!region) return;
      region.textContent = "";
      if (text) window.setTimeout(function () { region.textContent = text; }, 100);
    }

    function sayStep(name) {
      if (status) say(status, status.getAttribute("data-say-" + name));
    }

    function sayError(texts) {
      say(status, "");
      say(alertRegion, texts.filter(Boolean).join(" "));
      var prefix = alertRegion && alertRegion.dataset.errorPrefix;
      document.title = prefix ? prefix + title : title;
    }

    function textOf(element) {
      return element && !element.hidden ? element.textContent.trim() : "";
    }

    function showStep(name) {
      root.querySelectorAll(".card-step").forEach(function (section) {
        section.hidden = section.dataset.step !== name;
      });
      root.querySelectorAll(".problem").forEach(function (section) { section.hidden = true; });
      root.dataset.state = name;
      if (alertRegion) alertRegion.textContent = "";
      document.title = title;
      sayStep(name);
    }

    function fail(error) {
      running = false;
      root.querySelectorAll(".card-step").forEach(function (section) { section.hidden = true; });
      options.showProblem((error && error.code) || "other", error);
      var shown = root.querySelector(".problem:not([hidden])");
      if (shown) sayError([textOf(shown.querySelector("h2")), textOf(shown.querySelector("[data-problem-message]"))]);
    }

    function progress(step) {
      var order = ["reading", "verifying_pin", "signing", "sending"];
      var at = order.indexOf(step);
      if (at < 0) return;
      sayStep(step);
      root.querySelectorAll("[data-progress]").forEach(function (item) {
        var index = order.indexOf(item.dataset.progress);
        item.classList.toggle("done", index < at);
        item.classList.toggle("active", index === at);
        if (index === at) item.setAttribute("aria-current", "step"); else item.removeAttribute("aria-current");
      });
    }

    function post(url, body) {
      var sent = fetch(url, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
        body: JSON.stringify(body)
      });
      if (options.networkProblem) {
        sent = sent.catch(function () { throw { code: options.networkProblem }; });
      }
      return sent.then(function (response) {
        return response.json().catch(function () { return { problem: "other", message: response.statusText }; });
      });
    }

    function askPin(triesLeft, wrong) {
      showStep("pin");
      var tries = document.getElementById("pin-tries");
      tries.textContent = tries.dataset.templateTries.replace("__N__", String(triesLeft));
      // After a wrong PIN the error names the tries left: say it once, not twice.
      tries.hidden = Boolean(wrong);
      var wrongText = document.getElementById("pin-wrong");
      wrongText.hidden = !wrong;
      if (wrong) wrongText.textContent = wrongText.dataset.template.replace("__N__", String(triesLeft));
      document.getElementById("pin-last-try").hidden = triesLeft !== 1;
      document.getElementById("pin-format").hidden = true;
      if (wrong) sayError([textOf(wrongText), textOf(document.getElementById("pin-last-try"))]);
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
          var sent = bridge.authenticate(issued.challenge_message, pin, progress, { timeout: 30 });
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

    document.getElementById("pin-form").addEventListener("submit", function (event) {
      event.preventDefault();
      var pin = pinInput.value;
      pinInput.value = "";
      if (running) return;
      if (!/^[0-9]{4}$/.test(pin)) {
        // One message at a time: the newest. The tries left stay said, calmly, in #pin-tries.
        document.getElementById("pin-wrong").hidden = true;
        document.getElementById("pin-tries").hidden = false;
        document.getElementById("pin-format").hidden = false;
        sayError([textOf(document.getElementById("pin-format"))]);
        pinInput.focus();
        return;
      }
      authenticate(pin);
    });

    root.addEventListener("click", function (event) {
      if (!event.target.closest("[data-action=" + options.startAction + "]")) return;
      event.preventDefault();
      start();
    });

    window.addEventListener("pagehide", function () { bridge.close(); });
    return { start: start };
  };
})();
