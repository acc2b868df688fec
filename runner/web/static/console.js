// The console's only script: progressive enhancement, the pages work without it.
// - an element with data-refresh="URL" data-every="SECONDS" is replaced by URL's HTML every so often
//   (the server renders that fragment with autoescape; it is the same markup the page was built with);
// - the "select all" box of the items table ticks every item of the page.
"use strict";

function refresh(element) {
  const every = Math.max(2, Number(element.dataset.every || 5)) * 1000;
  const tick = () => {
    fetch(element.dataset.refresh, {credentials: "same-origin", headers: {"Accept": "text/html"}})
      .then((response) => (response.ok ? response.text() : Promise.reject(response.status)))
      .then((html) => {
        element.innerHTML = html;
        element.removeAttribute("data-stale");
      })
      .catch(() => element.setAttribute("data-stale", "true"))
      .finally(() => window.setTimeout(tick, every));
  };
  window.setTimeout(tick, every);
}

function selectAll(box) {
  box.hidden = false;
  box.addEventListener("change", () => {
    for (const pick of document.querySelectorAll("input.pick")) {
      pick.checked = box.checked;
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-refresh]").forEach(refresh);
  const box = document.getElementById("select-all");
  if (box) {
    selectAll(box);
  }
});
