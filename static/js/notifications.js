// The bell's dropdown: loads the latest notifications when opened (htmx), closes on Escape
// or a click elsewhere. Without JavaScript the panel still links to the notifications page.
(function () {
  "use strict";

  function bell() {
    return document.querySelector("details[data-bell]");
  }

  document.addEventListener(
    "toggle",
    function (event) {
      const details = event.target;
      if (!details.matches || !details.matches("details[data-bell]") || !details.open) return;
      if (window.htmx) {
        window.htmx.ajax("GET", details.dataset.bellUrl, { target: "#bell-panel", swap: "innerHTML" });
      }
    },
    true // toggle does not bubble
  );

  document.addEventListener("click", function (event) {
    const details = bell();
    if (details && details.open && !details.contains(event.target)) details.open = false;
  });

  document.addEventListener("keydown", function (event) {
    const details = bell();
    if (event.key === "Escape" && details && details.open) {
      details.open = false;
      details.querySelector("summary").focus();
    }
  });
})();
