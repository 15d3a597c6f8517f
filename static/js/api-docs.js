// The API reference page (/api/v1/docs): Redoc over the schema this server publishes.
// A file rather than an inline script, so the page's Content-Security-Policy allows scripts from 'self' only.
(function () {
  "use strict";
  var container = document.getElementById("redoc-container");
  var font = "system-ui, 'Hiragino Sans', 'Noto Sans JP', sans-serif";
  Redoc.init(container.getAttribute("data-schema-url"), {
    expandResponses: "200",
    jsonSampleExpandLevel: 3,
    pathInMiddlePanel: true,
    theme: { typography: { fontFamily: font, headings: { fontFamily: font } } }
  }, container);
})();
