// The shopper's view: a photo (picked, taken, dropped or pasted), an optional box on it,
// filters with the current result's facet counts, and pages of results.

import { appendFields, call } from "./api.js";
import { announce, h, show, showError } from "./dom.js";
import { createRegion, regionField } from "./region.js";
import { renderResults } from "./results.js";

const FACETS = ["category", "brand"];
const $ = (id) => document.getElementById(id);

const state = {
  photo: null, // the File or Blob sent as `image`, as the shopper gave it
  previewUrl: null,
  selected: { category: new Set(), brand: new Set() },
  seen: { category: new Set(), brand: new Set() }, // facet values shown so far, kept while filtering
  offset: 0,
  running: null, // the AbortController of the search in flight
};
let region;

export function setUpShopper() {
  region = createRegion({
    frame: $("photo-frame"),
    layer: $("region-layer"),
    box: $("region-box"),
    fields: { left: $("region-left"), top: $("region-top"), right: $("region-right"), bottom: $("region-bottom") },
    clearButton: $("region-clear"),
    onChange: () => search({ fromStart: true }),
  });
  for (const input of [$("photo-input"), $("camera-input")]) {
    input.addEventListener("change", () => {
      if (input.files.length) usePhoto(input.files[0]);
      input.value = ""; // picking the same file again is a new search
    });
  }
  const zone = $("drop-zone");
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("dragging");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("dragging");
    const file = event.dataTransfer.files[0];
    if (file) usePhoto(file);
  });
  // A photo dropped beside the zone would make the browser leave the page to show it.
  window.addEventListener("dragover", (event) => event.preventDefault());
  window.addEventListener("drop", (event) => event.preventDefault());
  document.addEventListener("paste", (event) => {
    if ($("shopper-view").hidden) return;
    const file = [...event.clipboardData.files].find((item) => item.type.startsWith("image/"));
    if (file) {
      event.preventDefault();
      usePhoto(file);
    }
  });

  $("search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    search({ fromStart: true });
  });
  for (const id of ["price-min", "price-max", "in-stock", "page-size"]) {
    $(id).addEventListener("change", () => search({ fromStart: true }));
  }
  $("previous-page").addEventListener("click", () => {
    state.offset = Math.max(0, state.offset - pageSize());
    search();
  });
  $("next-page").addEventListener("click", () => {
    state.offset = Number($("next-page").dataset.offset);
    search();
  });
}

function usePhoto(file) {
  state.photo = file;
  $("photo-name").textContent = file.name ? `Photo: ${file.name}` : "Pasted photo";
  if (state.previewUrl) URL.revokeObjectURL(state.previewUrl);
  state.previewUrl = URL.createObjectURL(file);
  const preview = $("photo-preview");
  // The server reads formats a browser may not show (TIFF): such a photo is searched unseen.
  preview.onload = () => show($("photo-stage"), true);
  preview.onerror = () => show($("photo-stage"), false);
  preview.src = state.previewUrl;
  region.reset();
  $("search-button").disabled = false;
  search({ fromStart: true });
}

const pageSize = () => Number($("page-size").value);

function searchForm() {
  const form = new FormData();
  form.append("image", state.photo, state.photo.name || "pasted-photo");
  return appendFields(form, {
    region: regionField(region.value),
    category: [...state.selected.category],
    brand: [...state.selected.brand],
    price_min: $("price-min").value,
    price_max: $("price-max").value,
    in_stock: $("in-stock").checked ? "true" : "",
    limit: pageSize(),
    offset: state.offset,
    facets: FACETS.join(","),
  });
}

async function search({ fromStart = false } = {}) {
  if (!state.photo) return;
  if (fromStart) state.offset = 0;
  state.running?.abort(); // a newer question makes the older answer worthless
  const running = new AbortController();
  state.running = running;
  const list = $("search-results");
  list.setAttribute("aria-busy", "true");
  announce("Searching…");
  try {
    const answer = await call("/search", { method: "POST", form: searchForm(), signal: running.signal });
    showError($("search-error"), null);
    renderResults(list, answer.results);
    renderFacets(answer.facets || {});
    renderPaging(answer);
    announce(summaryText(answer));
  } catch (error) {
    if (error.name === "AbortError") return;
    list.replaceChildren();
    $("search-summary").textContent = "";
    show($("search-pages"), false);
    showError($("search-error"), error);
    announce(`Search failed: ${error.message}`);
  } finally {
    if (state.running === running) {
      state.running = null;
      list.removeAttribute("aria-busy");
    }
  }
}

function summaryText(answer) {
  if (!answer.count) return answer.offset ? "No more results." : "No products match this photo and these filters.";
  const where = region.value ? "the box on your photo" : "your photo";
  return `Results ${answer.offset + 1} to ${answer.offset + answer.count} for ${where}.`;
}

function renderPaging(answer) {
  $("search-summary").textContent = summaryText(answer);
  const hasPages = answer.offset > 0 || answer.next_offset !== null;
  show($("search-pages"), hasPages);
  $("previous-page").disabled = answer.offset === 0;
  $("next-page").disabled = answer.next_offset === null;
  $("next-page").dataset.offset = answer.next_offset ?? "";
}

// Each value's checkbox is made once and then only updated, so a keyboard user who ticks one
// keeps focus on it while the results and counts change around it.
function renderFacets(facets) {
  for (const field of FACETS) {
    const counts = facets[field] || {};
    for (const value of Object.keys(counts)) state.seen[field].add(value);
    const box = $(`${field}-facet`);
    const values = [...state.seen[field]].sort((a, b) => a.localeCompare(b));
    if (values.length) box.querySelector(".hint")?.remove();
    const existing = new Map([...box.querySelectorAll(".facet-value")].map((label) => [label.dataset.value, label]));
    let next = null;
    for (const value of [...values].reverse()) {
      let label = existing.get(value);
      if (!label) {
        label = facetOption(field, value);
        box.insertBefore(label, next);
      }
      const count = counts[value] || 0;
      label.dataset.count = count;
      label.querySelector(".facet-count").textContent = `(${count})`;
      label.querySelector("input").checked = state.selected[field].has(value);
      next = label;
    }
  }
}

function facetOption(field, value) {
  const input = h("input", {
    type: "checkbox",
    name: field,
    value,
    onchange: (event) => {
      if (event.target.checked) state.selected[field].add(value);
      else state.selected[field].delete(value);
      search({ fromStart: true });
    },
  });
  return h(
    "label",
    { class: "check facet-value", dataset: { value } },
    input,
    h("span", { class: "facet-name" }, value || "(none)"),
    " ",
    h("span", { class: "facet-count" }),
  );
}
