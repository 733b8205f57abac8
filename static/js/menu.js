/* On a narrow screen the top navigation folds behind a "Menu" button. Without this script the links stay
 * visible (wrapped), so every page is still reachable. */
(function () {
  "use strict";
  function ready() {
    var bar = document.querySelector(".topbar");
    var button = bar && bar.querySelector(".menu-toggle");
    if (!button) return;
    button.hidden = false;
    bar.classList.add("menu-ready");
    button.addEventListener("click", function () {
      var open = bar.classList.toggle("is-open");
      button.setAttribute("aria-expanded", open ? "true" : "false");
    });
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && bar.classList.contains("is-open")) {
        bar.classList.remove("is-open");
        button.setAttribute("aria-expanded", "false");
        button.focus();
      }
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", ready);
  else ready();
})();
