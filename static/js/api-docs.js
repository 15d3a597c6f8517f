// The API reference page (/api/v1/docs): Redoc over the schema this server publishes.
// A file rather than an inline script, so the page's Content-Security-Policy allows scripts from 'self' only.
(function () {
  "use strict";
  var container = document.getElementById("redoc-container");
  var url = container.getAttribute("data-schema-url");
  var font = "system-ui, 'Hiragino Sans', 'Noto Sans JP', sans-serif";
  var options = {
    expandResponses: "200",
    jsonSampleExpandLevel: 3,
    pathInMiddlePanel: true,
    theme: { typography: { fontFamily: font, headings: { fontFamily: font } } }
  };
  // Redoc's h1 is "<title> (<version>)", which reads as "…API (1)": say "version 1" in words instead.
  fetch(url + (url.indexOf("?") < 0 ? "?" : "&") + "format=json", { headers: { Accept: "application/json" } })
    .then(function (r) { if (!r.ok) throw new Error(String(r.status)); return r.json(); })
    .then(function (spec) {
      if (spec.info && spec.info.version) {
        spec.info.title = spec.info.title + ", version " + spec.info.version;
        spec.info.version = "";
      }
      Redoc.init(spec, options, container);
    })
    .catch(function () { Redoc.init(url, options, container); });
})();
