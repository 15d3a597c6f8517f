/*
 * The console's emergency / disaster search form: shows the fields of the chosen method, and for the
 * card method reads the card's certificate through the local reader bridge (no PIN) before sending.
 */
(function () {
  "use strict";
  var form = document.getElementById("special-search");
  if (!form) return;
  var sections = { attributes: "by-attributes", insurer_keys: "by-insurer-keys", card: "by-card" };
  var status = document.getElementById("card-status");
  var certificate = document.getElementById("certificate");

  function method() {
    var checked = form.querySelector("input[name=method]:checked");
    return checked ? checked.value : "attributes";
  }

  function show() {
    var chosen = method();
    Object.keys(sections).forEach(function (name) {
      document.getElementById(sections[name]).hidden = name !== chosen;
    });
  }

  form.querySelectorAll("input[name=method]").forEach(function (input) {
    input.addEventListener("change", show);
  });
  show();

  form.addEventListener("submit", function (event) {
    if (method() !== "card" || certificate.value) return;
    event.preventDefault();
    status.textContent = form.dataset.reading;
    var bridge = new ReaderBridge(form.dataset.bridgeUrl);
    bridge.connect()
      .then(function (b) { return b.readCertificate({ timeout: 30 }); })
      .then(function (result) {
        certificate.value = result.certificate;
        form.submit();
      })
      .catch(function (error) {
        status.textContent = error.code === "bridge_unavailable" ? form.dataset.bridgeUnavailable : error.message;
        status.className = "error";
      });
  });
})();
