// Keyboard shortcuts for the triage workspace. No inline scripts anywhere (the Content
// Security Policy allows only script files served by the app).
(function () {
  "use strict";

  function typing(event) {
    const el = event.target;
    return el && (el.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName));
  }

  function rows() {
    return Array.from(document.querySelectorAll("[data-keyboard-list] tr.case-row"));
  }

  function selectedRow() {
    return document.querySelector("[data-keyboard-list] tr.case-row.selected");
  }

  function select(row) {
    rows().forEach((r) => r.classList.remove("selected"));
    if (row) {
      row.classList.add("selected");
      row.focus({ preventScroll: true });
      row.scrollIntoView({ block: "nearest" });
    }
  }

  function move(step) {
    const all = rows();
    if (!all.length) return;
    const index = all.indexOf(selectedRow());
    const next = index < 0 ? 0 : Math.min(all.length - 1, Math.max(0, index + step));
    select(all[next]);
  }

  function openShortcuts() {
    const dialog = document.getElementById("shortcuts");
    if (dialog && !dialog.open) dialog.showModal();
  }

  function clickAction(name) {
    const button = document.querySelector(`[data-item-page] [data-action="${name}"]`);
    if (button) button.click();
    return Boolean(button);
  }

  function focusAction(name) {
    const field = document.querySelector(`[data-item-page] [data-action="${name}"]`);
    if (field) field.focus();
    return Boolean(field);
  }

  const onItemPage = () => Boolean(document.querySelector("[data-item-page]"));

  // Fields a shortcut focuses: Enter sends their form (a select or a checkbox has no
  // implicit submission of its own); the note's textarea keeps Enter for new lines and
  // sends on Ctrl/Cmd+Enter. requestSubmit(), not submit(): htmx hears the submit event.
  function submitFromField(event) {
    const field = event.target;
    const action = field && field.dataset && field.dataset.action;
    if (event.key !== "Enter" || !action || !field.form || event.altKey || event.shiftKey) {
      return false;
    }
    if (!["INPUT", "SELECT", "TEXTAREA"].includes(field.tagName)) return false; // buttons click
    const modified = event.ctrlKey || event.metaKey;
    if (field.tagName === "TEXTAREA" ? !modified : modified) return false;
    field.form.requestSubmit();
    return true;
  }

  function follow(name) {
    const link = document.querySelector(`[data-item-nav="${name}"]`);
    if (link) window.location = link.href;
    return Boolean(link);
  }

  document.addEventListener("keydown", function (event) {
    if (submitFromField(event)) {
      event.preventDefault();
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (typing(event)) {
      if (event.key === "Escape") event.target.blur();
      return;
    }
    const key = event.key;
    let handled = true;
    if (key === "?") openShortcuts();
    else if (key === "/") {
      const search = document.getElementById("id_q");
      if (search) search.focus(); else handled = false;
    } else if (key === "j") {
      if (onItemPage()) handled = follow("next"); else move(1);
    } else if (key === "k") {
      if (onItemPage()) handled = follow("prev"); else move(-1);
    }
    else if (key === "Enter" && selectedRow()) window.location = selectedRow().dataset.itemUrl;
    else if (key === "c") {
      if (onItemPage()) handled = clickAction("claim");
      else {
        const claim = selectedRow() && selectedRow().querySelector("[data-claim]");
        if (claim) claim.click(); else handled = false;
      }
    } else if (key === "a") handled = focusAction("assign");
    // An item still in triage has no case to reroute: r goes to its route-from-triage form.
    else if (key === "r") handled = focusAction("reroute") || focusAction("route");
    else if (key === "s") handled = focusAction("share");
    else if (key === "e") handled = clickAction("resolve");
    else if (key === "n") handled = focusAction("note");
    else handled = false;
    if (handled) event.preventDefault();
  });

  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-shortcuts-open]")) openShortcuts();
    const row = event.target.closest("tr.case-row");
    if (row && !event.target.closest("a, button, input, select")) select(row);
  });

  // Keep the selection after htmx replaces a row (claim from the list). afterSettle, not
  // afterSwap: htmx restores the new element's own class list while settling.
  document.addEventListener("htmx:afterSettle", function (event) {
    const row = event.detail.target && event.detail.target.closest &&
      document.getElementById(event.detail.target.id);
    if (row && row.classList.contains("case-row")) select(row);
  });
})();
