// Portrait experiment forms (import, plan size): clear the problems of the last attempt, and
// the plan of the last inputs, before the form is sent again. No inline script, no eval.
(function () {
  "use strict";
  document.querySelectorAll("form.experiment-form").forEach(function (form) {
    form.addEventListener("htmx:beforeRequest", function (event) {
      if (event.detail.elt !== form) return;
      form.querySelectorAll(".field-problem").forEach(function (slot) { slot.textContent = ""; });
    });
  });
  var result = document.getElementById("plan-result");
  if (result) {
    // a problem is swapped in next to its field: the plan shown was for other inputs
    document.body.addEventListener("htmx:afterRequest", function (event) {
      if (event.detail.elt && event.detail.elt.id === "plan-form" && event.detail.xhr.status >= 400) {
        result.textContent = "";
      }
    });
  }
})();
