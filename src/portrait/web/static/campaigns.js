// Portrait campaign form: add and remove variant rows (numbering their problem and preview
// slots), ask for the live preview (debounced by htmx) when a template, a subject or the
// audience changes, and clear old problems before the form is sent. No inline script, no eval.
(function () {
  "use strict";
  var form = document.getElementById("campaign-form");
  if (!form) return;
  var rows = document.getElementById("variants");
  var blank = document.getElementById("variant-row");
  var status = document.getElementById("preview-status");
  var PARTS = ["name", "weight", "subject", "template"];

  function renumber() {
    var all = rows.querySelectorAll(".variant");
    all.forEach(function (row, i) {
      row.setAttribute("data-index", String(i));
      PARTS.forEach(function (part) {
        var slot = row.querySelector("[id^='problem-variants-'][id$='-" + part + "']");
        if (slot) slot.id = "problem-variants-" + i + "-" + part;
      });
      var preview = row.querySelector(".preview");
      if (preview) preview.id = "preview-" + i;
      var remove = row.querySelector(".remove-variant");
      if (remove) remove.disabled = all.length < 2;
    });
  }

  function askPreview() {
    if (status && window.htmx) window.htmx.trigger(status, "preview");
  }

  function clearProblems() {
    form.querySelectorAll(".field-problem").forEach(function (slot) { slot.textContent = ""; });
  }

  document.getElementById("add-variant").addEventListener("click", function () {
    var row = blank.content.firstElementChild.cloneNode(true);
    rows.appendChild(row);
    renumber();
    row.querySelector("input[name='variant_name']").focus();
  });

  rows.addEventListener("click", function (event) {
    var button = event.target.closest(".remove-variant");
    if (!button || rows.querySelectorAll(".variant").length < 2) return;
    var row = button.closest(".variant");
    row.parentNode.removeChild(row);
    renumber();
    askPreview();
  });

  form.addEventListener("input", function (event) {
    if (event.target.matches(".tpl, .subj")) askPreview();
  });
  form.addEventListener("change", function (event) {
    if (event.target.id === "audience") askPreview();
  });
  form.addEventListener("htmx:beforeRequest", function (event) {
    if (event.detail.elt === form) clearProblems();
  });

  renumber();
  if (document.getElementById("audience").value) {
    var written = Array.prototype.some.call(form.querySelectorAll(".tpl"), function (t) {
      return t.value.trim() !== "";
    });
    if (written) askPreview();
  }
})();
