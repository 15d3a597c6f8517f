// The portal's section strip scrolls sideways on a phone: bring the current section into view.
(function () {
  "use strict";
  var current = document.querySelector(".portal-nav a[aria-current]");
  var strip = document.getElementById("portal-nav");
  if (!current || !strip || strip.scrollWidth <= strip.clientWidth) return;
  strip.scrollLeft = Math.max(0, current.offsetLeft - (strip.clientWidth - current.offsetWidth) / 2);
})();
