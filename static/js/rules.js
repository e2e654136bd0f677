// The rule builder (/rules/…). The server redraws the rows and the JSON view out of band
// after each change (routing/views.py); a redraw that lands while the person is typing in
// one of those fields would replace what they type, so it waits for the next change.
(function () {
  "use strict";
  document.addEventListener("htmx:oobBeforeSwap", function (event) {
    const active = document.activeElement;
    const target = event.detail.target;
    if (target && active && target.contains(active) && active.matches("textarea, input:not([type=hidden])")) {
      event.detail.shouldSwap = false;
    }
  });
})();
