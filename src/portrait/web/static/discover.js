// Portrait discover page: its three tabs (ranking, niche groups, subgroups) switch in place,
// by mouse or by the arrow keys; Enter in a field runs its tab's section.
// Without this script every tab is a link to the page with that tab open. No inline script.
(function () {
  "use strict";
  var tabs = Array.prototype.slice.call(document.querySelectorAll("[role=tablist] [role=tab]"));
  if (!tabs.length) return;

  function panelOf(tab) {
    return document.getElementById(tab.getAttribute("aria-controls"));
  }

  function open(tab, focus) {
    tabs.forEach(function (other) {
      var selected = other === tab;
      other.setAttribute("aria-selected", selected ? "true" : "false");
      if (selected) other.removeAttribute("tabindex"); else other.setAttribute("tabindex", "-1");
      panelOf(other).hidden = !selected;
    });
    var key = tab.id.replace(/^tab-/, "");
    var form = document.getElementById("discover-form");
    if (form) form.setAttribute("action", "/discover/" + key);
    if (window.history && window.history.replaceState) {
      window.history.replaceState(null, "", "/discover?tab=" + key);
    }
    if (focus) tab.focus();
  }

  tabs.forEach(function (tab, i) {
    tab.addEventListener("click", function (event) {
      event.preventDefault();
      open(tab, false);
    });
    tab.addEventListener("keydown", function (event) {
      var next = null;
      if (event.key === "ArrowRight") next = tabs[(i + 1) % tabs.length];
      else if (event.key === "ArrowLeft") next = tabs[(i - 1 + tabs.length) % tabs.length];
      else if (event.key === "Home") next = tabs[0];
      else if (event.key === "End") next = tabs[tabs.length - 1];
      if (next) {
        event.preventDefault();
        open(next, true);
      }
    });
  });

  // Enter in a field of the form would click its first button (the ranking's): run the
  // section of the field's tab (the open tab's for the target and the baseline) instead
  document.addEventListener("keydown", function (event) {
    var field = event.target;
    if (event.key !== "Enter" || field.tagName !== "INPUT" || !field.form) return;
    if (field.form.id !== "discover-form") return;
    var current = tabs.filter(function (t) { return t.getAttribute("aria-selected") === "true"; })[0];
    var panel = field.closest("[role=tabpanel]") || (current && panelOf(current));
    var button = panel && panel.querySelector("button[type=submit]");
    if (button) {
      event.preventDefault();
      button.click();
    }
  });
})();
