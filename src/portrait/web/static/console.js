// Portrait console: charts (Vega-Lite specs from the server, drawn with vega-embed and
// Vega's CSP-safe expression interpreter) and small page behaviours. No inline script, no eval.
(function () {
  "use strict";
  var VENDOR = ["vega.min.js", "vega-lite.min.js", "vega-embed.min.js", "vega-interpreter.min.js"];
  var loading = null;

  // The four scripts download in parallel and run in order (async = false), once a page
  // has a chart; the browser keeps them (a day, versioned URLs) and their compiled code.
  function vegaReady() {
    if (!loading) {
      var version = document.documentElement.getAttribute("data-version") || "";
      loading = Promise.all(VENDOR.map(function (name) {
        return new Promise(function (resolve, reject) {
          var s = document.createElement("script");
          s.src = "/static/vendor/" + name + "?v=" + version;
          s.async = false;
          s.onload = resolve;
          s.onerror = function () { reject(new Error("could not load " + name)); };
          document.head.appendChild(s);
        });
      }));
    }
    return loading;
  }

  function drawCharts(root) {
    var charts = (root || document).querySelectorAll(".chart[data-spec]:not([data-drawn])");
    if (!charts.length) return;
    vegaReady().then(function () {
      performance.mark("portrait:charts-ready");
      charts.forEach(function (el) {
        el.setAttribute("data-drawn", "pending");
        var spec = JSON.parse(el.getAttribute("data-spec"));
        window.vegaEmbed(el, spec, {
          renderer: "svg",
          actions: false,
          ast: true,
          expr: window.vegaInterpreter.expressionInterpreter,
          defaultStyle: false,
          tooltip: true
        }).then(function (result) {
          // one labelled image for assistive technology; its marks are not announced one by
          // one (the page shows the same numbers in a table)
          var svg = el.querySelector("svg");
          if (svg) svg.setAttribute("aria-hidden", "true");
          if (!el.getAttribute("role")) el.setAttribute("role", "img");
          if (!el.getAttribute("aria-label")) {
            var title = spec.title && (spec.title.text || spec.title);
            el.setAttribute("aria-label", typeof title === "string" ? title : "chart");
          }
          el.setAttribute("data-drawn", "yes");
          performance.mark("portrait:chart-drawn");
          if (el.dataset.clickAdd) {
            result.view.addEventListener("click", function (_event, item) {
              if (item && item.datum) {
                el.dispatchEvent(new CustomEvent("chart-click", { detail: item.datum, bubbles: true }));
              }
            });
          }
        }).catch(function (error) {
          el.setAttribute("data-drawn", "failed");
          el.textContent = String(error);
        });
      });
    });
  }
  window.portraitDrawCharts = drawCharts;

  function confirmClicks(root) {
    (root || document).querySelectorAll("[data-confirm]:not([data-confirm-bound])").forEach(function (el) {
      el.setAttribute("data-confirm-bound", "yes");
      el.addEventListener("click", function (event) {
        if (!window.confirm(el.getAttribute("data-confirm"))) {
          event.preventDefault();
          event.stopImmediatePropagation();
        }
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    drawCharts(document);
    confirmClicks(document);
  });
  document.addEventListener("htmx:afterSettle", function (event) {
    drawCharts(event.target);
    confirmClicks(event.target);
  });
})();
