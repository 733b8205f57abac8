/* A failed htmx request says why, in place: the server's message goes into the page's flash area
 * (and, for an element that asked for it with data-error-target, into that element). */
(function () {
  "use strict";
  function messageOf(xhr) {
    var text = (xhr && xhr.responseText) || "";
    if (/^\s*[{[]/.test(text)) {
      try { var body = JSON.parse(text); text = (body.error && body.error.message) || body.detail || text; } catch (e) { /* keep text */ }
    } else if (/</.test(text)) {
      var doc = new DOMParser().parseFromString(text, "text/html");
      var main = doc.querySelector(".error-page") || doc.querySelector("main") || doc.body;
      text = main ? main.textContent : text;
    }
    text = text.replace(/\s+/g, " ").trim();
    if (!text) text = "The server answered " + (xhr ? xhr.status : "nothing") + ".";
    return text.length > 400 ? text.slice(0, 400) + "…" : text;
  }
  function show(elt, text) {
    var area = document.getElementById("flash-area");
    var custom = elt && elt.closest && elt.closest("[data-error-target]");
    var target = custom ? document.querySelector(custom.getAttribute("data-error-target")) : null;
    var box = document.createElement("div");
    box.className = "flash flash-error htmx-error";
    box.setAttribute("role", "alert");
    var strong = document.createElement("strong");
    strong.textContent = "That did not work: ";
    box.appendChild(strong);
    box.appendChild(document.createTextNode(text + " "));
    var close = document.createElement("button");
    close.type = "button"; close.className = "link flash-close"; close.textContent = "Dismiss";
    close.addEventListener("click", function () { box.remove(); });
    box.appendChild(close);
    var into = target || area;
    if (into) { into.replaceChildren(box); } else { document.body.prepend(box); }
    box.scrollIntoView({block: "nearest"});
  }
  document.addEventListener("htmx:responseError", function (evt) {
    show(evt.detail.elt, messageOf(evt.detail.xhr));
  });
  document.addEventListener("htmx:sendError", function (evt) {
    show(evt.detail.elt, "Could not reach the server. Check your connection and try again.");
  });
})();
