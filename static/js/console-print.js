// The entry card's print button (shown only with script; the browser's own print works without it).
(function () {
  "use strict";
  var button = document.getElementById("print-card");
  if (!button) return;
  button.hidden = false;
  button.addEventListener("click", function () { window.print(); });
})();
