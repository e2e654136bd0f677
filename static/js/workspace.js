// Keyboard shortcuts for the triage workspace. No inline scripts anywhere (the Content
// Security Policy allows only script files served by the app).
(function () {
  "use strict";
  document.documentElement.classList.add("js");

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

  // The full item page; on a queue, the item shown in the reading pane is its own scope.
  const onItemPage = () =>
    Boolean(document.querySelector("[data-item-page]")) && !document.querySelector("[data-queue]");

  // The queue's reading pane (htmx): a row's link loads the item's content beside the list
  // and pushes /queue/<slug>/?…&open=<item> into the address bar, so a reload keeps it.
  const pane = () => document.getElementById("reading-pane");
  const paneOpen = () => Boolean(pane() && !pane().hidden);

  function openRow(row) {
    const link = row && row.querySelector(".row-link");
    if (link) link.click(); // htmx handles the click: GET into the pane, push the URL
    return Boolean(link);
  }

  function setOpenField(itemId) {
    // The filter form carries the open item, so filtering keeps the pane in the URL.
    const field = document.getElementById("pane-open");
    if (!field) return;
    field.value = itemId || "";
    field.disabled = !itemId;
  }

  function closePane() {
    const el = pane();
    if (!el || el.hidden) return false;
    el.hidden = true;
    el.replaceChildren();
    document.querySelector("[data-queue]").classList.remove("pane-open");
    setOpenField(null);
    const url = new URL(window.location.href);
    url.searchParams.delete("open");
    history.pushState({ htmx: true }, "", url.pathname + url.search);
    const row = selectedRow();
    if (row) row.focus({ preventScroll: true });
    return true;
  }

  function paneShown() {
    const el = pane();
    el.hidden = false;
    document.querySelector("[data-queue]").classList.add("pane-open");
    const itemId = new URL(window.location.href).searchParams.get("open");
    setOpenField(itemId);
    const row = document.querySelector(`tr.case-row[data-item-id="${itemId}"]`);
    if (row) {
      row.classList.remove("unread");
      if (row !== selectedRow()) select(row);
    }
  }

  function refreshRows() {
    // An action in the pane changed the case: the list shows it as it now is.
    if (document.getElementById("queue-rows")) {
      htmx.ajax("GET", window.location.pathname + window.location.search, {
        target: "#queue-rows",
        swap: "outerHTML",
      });
    }
  }

  // Enter on a focused link, button or menu does what that control does, not open the row.
  function onControl() {
    const el = document.activeElement;
    return Boolean(el && el !== document.body && !el.matches("tr.case-row") &&
      el.closest("a, button, summary, label"));
  }

  function closeMenus(except) {
    document.querySelectorAll("details.menu[open]").forEach((menu) => {
      if (menu !== except) menu.open = false;
    });
  }

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

  // Assign, reroute, share, tags and note open a small dialog with its field focused (Esc
  // closes it natively). Without JavaScript the dialogs' forms are shown in place (app.css).
  function openDialog(name) {
    const dialog = document.querySelector(`[data-item-page] dialog[data-dialog="${name}"]`);
    if (!dialog) return false;
    closeMenus(null);
    if (!dialog.open) dialog.showModal();
    const field = dialog.querySelector(`[data-action="${name}"]`);
    if (field) field.focus();
    return true;
  }

  function undoLast() {
    const button = document.querySelector(".toast [data-undo]");
    if (button) button.click();
    return Boolean(button);
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
    if (event.key === "Escape" && document.querySelector("details.menu[open]")) {
      const menu = document.querySelector("details.menu[open]");
      menu.open = false;
      menu.querySelector("summary").focus();
      event.preventDefault();
      return;
    }
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
    } else if (key === "j" || key === "k") {
      const step = key === "j" ? 1 : -1;
      if (onItemPage()) handled = follow(step > 0 ? "next" : "prev");
      else {
        const before = selectedRow();
        move(step);
        // The open pane follows the selection.
        if (paneOpen() && selectedRow() !== before) openRow(selectedRow());
      }
    } else if (key === "Enter" && selectedRow() && !onControl()) {
      if (!openRow(selectedRow())) window.location = selectedRow().dataset.itemUrl;
    } else if (key === "Escape") handled = closePane();
    else if (key === "c") {
      if (onItemPage() || paneOpen()) handled = clickAction("claim");
      else {
        const claim = selectedRow() && selectedRow().querySelector("[data-claim]");
        if (claim) claim.click(); else handled = false;
      }
    } else if (key === "a") handled = openDialog("assign");
    // An item still in triage has no case to reroute: r goes to its route-from-triage form.
    else if (key === "r") handled = openDialog("reroute") || focusAction("route");
    else if (key === "s") handled = openDialog("share");
    else if (key === "e") handled = clickAction("resolve");
    else if (key === "n") handled = openDialog("note");
    else if (key === "z") handled = undoLast();
    else handled = false;
    if (handled) event.preventDefault();
  });

  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-shortcuts-open]")) openShortcuts();
    const opener = event.target.closest("[data-open-dialog]");
    if (opener) {
      // The dialog of the case card (or timeline) the button sits in.
      const scope = opener.closest(".case-card, .timeline") || document;
      const dialog = scope.querySelector(`dialog[data-dialog="${opener.dataset.openDialog}"]`);
      if (dialog) {
        closeMenus(null);
        dialog.showModal();
        const field = dialog.querySelector("[data-action]");
        if (field) field.focus();
      }
      return;
    }
    const closer = event.target.closest("[data-dialog-close]");
    if (closer) closer.closest("dialog").close();
    if (event.target.closest("[data-pane-close]")) {
      if (closePane()) event.preventDefault();
      return;
    }
    const toast = event.target.closest("[data-toast-close]");
    if (toast) toast.closest(".toast").remove();
    if (!event.target.closest("details.menu")) closeMenus(null);
    const row = event.target.closest("tr.case-row");
    if (row && !event.target.closest("a, button, input, select, label")) {
      // The whole row opens the item, not only its text.
      select(row);
      openRow(row);
    } else if (row && event.target.closest(".row-link")) select(row);
  });

  // One filter menu open at a time.
  document.addEventListener(
    "toggle",
    function (event) {
      if (event.target.matches && event.target.matches("details.menu") && event.target.open) {
        closeMenus(event.target);
      }
    },
    true,
  );

  document.addEventListener("htmx:afterSwap", function (event) {
    const target = event.detail.target;
    if (!target) return;
    if (target.id === "reading-pane") paneShown();
    else if (target.id === "work" || (target.closest && target.closest("#reading-pane"))) {
      if (paneOpen()) refreshRows();
    }
  });

  // Back / forward between pane states that htmx restored from its history.
  document.addEventListener("htmx:historyRestore", function () {
    const itemId = new URL(window.location.href).searchParams.get("open");
    setOpenField(pane() && !pane().hidden ? itemId : null);
  });

  // Messages are toasts: a confirmation leaves by itself, an error stays until dismissed,
  // one with an Undo button stays for its undo window (the server checks the window too).
  function expireToasts(root) {
    root.querySelectorAll(".toast.success, .toast.info").forEach((t) => {
      if (t.dataset.expires) return;
      t.dataset.expires = "1";
      const seconds = Number(t.dataset.undoSeconds || 6);
      window.setTimeout(() => t.remove(), seconds * 1000);
    });
  }
  expireToasts(document);

  // The reading pane closed a case (resolve, dismiss): open the next row of the queue, in
  // its current order (the one after the closed case's, or the one before at the end).
  document.addEventListener("sb-case-closed", function () {
    if (!paneOpen()) return;
    const all = rows();
    const current = selectedRow();
    const at = all.indexOf(current);
    const next = at >= 0 ? all[at + 1] || all[at - 1] : null;
    if (next && next !== current) {
      select(next);
      openRow(next);
    }
  });

  // Keep the selection after htmx replaces a row (claim from the list). afterSettle, not
  // afterSwap: htmx restores the new element's own class list while settling.
  document.addEventListener("htmx:afterSettle", function (event) {
    expireToasts(document);
    const row = event.detail.target && event.detail.target.closest &&
      document.getElementById(event.detail.target.id);
    if (row && row.classList.contains("case-row")) select(row);
    if (event.detail.target && event.detail.target.id === "queue-rows" && paneOpen()) {
      // The rows were re-read: select the open item's row again, if it is still listed.
      const itemId = new URL(window.location.href).searchParams.get("open");
      const open = document.querySelector(`tr.case-row[data-item-id="${itemId}"]`);
      if (open) {
        open.classList.add("selected");
        open.classList.remove("unread");
      }
    }
  });
})();
