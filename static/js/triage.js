// The triage inbox's keyboard and selection. workspace.js already moves the focused row
// (j/k), opens it (Enter) and searches (/); this adds, on the triage page only:
//   a accept the suggestion · d pick a department · x noise (for the selected rows when
//   there are any, else for the focused row) · space select · J/K select and move ·
//   shift+click selects a range · Esc clears the selection.
// After an action htmx swaps the list in place; focus goes to the row that took the
// handled row's place, and the other rows keep their selection.
(function () {
  "use strict";

  if (!document.querySelector("[data-triage]")) return;

  const picker = document.getElementById("triage-picker");
  const filter = picker.querySelector("[data-picker-filter]");
  let pickingFor = null; // the form the picker will submit
  let focusIndex = -1; // where the focus was when an action left
  let kept = []; // the selection to restore after the swap
  let anchor = null; // the last checkbox clicked, for shift+click ranges

  const rows = () => Array.from(document.querySelectorAll("#triage-list tr.case-row"));
  const focused = () => document.querySelector("#triage-list tr.case-row.selected");
  const boxes = () => Array.from(document.querySelectorAll("#triage-list td.sel input"));
  const checked = () => boxes().filter((box) => box.checked);

  function typing(event) {
    const el = event.target;
    return el && (el.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName));
  }

  function focusRow(row) {
    rows().forEach((r) => r.classList.remove("selected"));
    if (!row) return;
    row.classList.add("selected");
    row.focus({ preventScroll: true });
    row.scrollIntoView({ block: "nearest" });
  }

  function refreshBar() {
    const n = checked().length;
    const count = document.querySelector("[data-selected-count]");
    if (count) count.textContent = n ? `${n} selected` : "Nothing selected";
    document.querySelectorAll("[data-bulk]").forEach((b) => { b.disabled = n === 0; });
    const all = document.querySelector("[data-select-all]");
    if (all) {
      all.checked = n > 0 && n === boxes().length;
      all.indeterminate = n > 0 && n < boxes().length;
    }
    rows().forEach((r) => {
      const box = r.querySelector("td.sel input");
      r.classList.toggle("checked", Boolean(box && box.checked));
    });
  }

  function toggle(row, value) {
    const box = row && row.querySelector("td.sel input");
    if (!box) return;
    box.checked = value === undefined ? !box.checked : value;
    anchor = box;
    refreshBar();
  }

  // The form an action key works on: the selection's, or the focused row's own.
  function target(name) {
    if (checked().length) {
      return document.querySelector(`#triage-bulk [data-bulk="${name}"]`);
    }
    const row = focused() || rows()[0];
    if (!row) return null;
    if (!focused()) focusRow(row);
    return row.querySelector(`[data-row-action="${name}"]`);
  }

  function act(name) {
    const button = target(name);
    if (!button) return false;
    if (name === "route") openPicker(button);
    else button.click(); // a click, not requestSubmit(): htmx sends the clicked button's value
    return true;
  }

  function openPicker(button) {
    pickingFor = button;
    filter.value = "";
    showMatches();
    picker.showModal();
    filter.focus();
  }

  function matches() {
    const text = filter.value.trim().toLowerCase();
    return Array.from(picker.querySelectorAll("[data-department]")).filter(
      (b) => !text || b.dataset.name.includes(text)
    );
  }

  function showMatches() {
    const shown = matches();
    picker.querySelectorAll("[data-department]").forEach((b) => {
      b.closest("li").hidden = !shown.includes(b);
    });
  }

  function pick(slug) {
    const button = pickingFor;
    picker.close();
    if (!button || !slug) return;
    const field = button.form.querySelector("input[name=department]");
    field.value = slug;
    button.click(); // htmx reads the form as it sends, during the click
    field.value = "";
  }

  filter.addEventListener("input", showMatches);
  filter.addEventListener("keydown", function (event) {
    const all = Array.from(picker.querySelectorAll("[data-department]"));
    if (/^[1-9]$/.test(event.key) && all[Number(event.key) - 1]) {
      event.preventDefault();
      pick(all[Number(event.key) - 1].dataset.department);
    } else if (event.key === "Enter") {
      event.preventDefault();
      const first = matches()[0];
      if (first) pick(first.dataset.department);
    }
  });
  picker.addEventListener("click", function (event) {
    const choice = event.target.closest("[data-department]");
    if (choice) pick(choice.dataset.department);
    else if (event.target === picker) picker.close(); // a click on the backdrop
  });
  picker.addEventListener("close", function () {
    const row = focused();
    if (row) row.focus({ preventScroll: true });
  });

  document.addEventListener("keydown", function (event) {
    if (picker.open || event.ctrlKey || event.metaKey || event.altKey || typing(event)) return;
    const key = event.key;
    let handled = true;
    if (key === "a") handled = act("accept");
    else if (key === "d") handled = act("route");
    else if (key === "x") handled = act("noise");
    else if (key === " ") toggle(focused() || rows()[0]);
    else if (key === "J" || key === "K") {
      const all = rows();
      const here = focused();
      if (!here) focusRow(all[0]);
      else {
        toggle(here, true);
        const next = all[all.indexOf(here) + (key === "J" ? 1 : -1)];
        if (next) { focusRow(next); toggle(next, true); }
      }
    } else if (key === "Escape" && checked().length) {
      boxes().forEach((box) => { box.checked = false; });
      refreshBar();
    } else handled = false;
    if (handled) event.preventDefault();
  });

  document.addEventListener("click", function (event) {
    const pickButton = event.target.closest("#triage-list [data-pick]");
    const picked = pickButton && pickButton.form.querySelector("input[name=department]").value;
    if (pickButton && !picked) {
      event.preventDefault();
      if (pickButton.dataset.rowAction) focusRow(pickButton.closest("tr"));
      openPicker(pickButton);
      return;
    }
    const similar = event.target.closest("#triage-list [data-members-toggle]");
    if (similar) {
      const list = document.getElementById(similar.getAttribute("aria-controls"));
      list.hidden = !list.hidden;
      similar.setAttribute("aria-expanded", String(!list.hidden));
      return;
    }
    if (event.target.matches("[data-select-all]")) {
      boxes().forEach((box) => { box.checked = event.target.checked; });
      refreshBar();
      return;
    }
    const box = event.target.closest("#triage-list td.sel input");
    if (box) {
      if (event.shiftKey && anchor && anchor !== box) {
        const all = boxes();
        const [from, to] = [all.indexOf(anchor), all.indexOf(box)].sort((x, y) => x - y);
        all.slice(from, to + 1).forEach((b) => { b.checked = box.checked; });
      }
      anchor = box;
      refreshBar();
    }
  });

  document.addEventListener("htmx:beforeRequest", function (event) {
    if (!event.detail.target || event.detail.target.id !== "triage-list") return;
    if (event.detail.requestConfig && event.detail.requestConfig.verb !== "post") {
      focusIndex = -1; // a search: the list is a new one
      kept = [];
      return;
    }
    const form = event.detail.elt.closest && event.detail.elt.closest("form");
    const row = form && form.closest("tr.case-row");
    focusIndex = rows().indexOf(row || focused());
    // A row's own action keeps the others' selection; a bulk action or a new search
    // starts afresh.
    kept = row ? checked().map((box) => box.value) : [];
  });

  document.addEventListener("htmx:afterSettle", function (event) {
    // The new list's own event (the sidebar's, swapped out of band, fires one too).
    if (event.target.id !== "triage-list") return;
    boxes().forEach((box) => { box.checked = kept.includes(box.value); });
    kept = [];
    anchor = null;
    refreshBar();
    const all = rows();
    if (focusIndex >= 0 && all.length) focusRow(all[Math.min(focusIndex, all.length - 1)]);
    focusIndex = -1;
  });

  refreshBar();
})();
