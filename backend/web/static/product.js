// A product's view: its photos and fields, and a list that starts as "more like this" and
// follows the shopper's likes and dislikes, which this tab remembers (sessionStorage).

import { call } from "./api.js";
import { announce, h, show, showError } from "./dom.js";
import { formatPrice, renderResults, stockText } from "./results.js";

const PICKS_KEY = "vitrine.picks";
const LIST_SIZE = 12;
const $ = (id) => document.getElementById(id);
let shown = null; // the product on screen
let listing = null; // the AbortController of the list in flight
let asking = 0; // which showProduct call is the latest: an older answer arriving late is dropped

export function readPicks() {
  try {
    const stored = JSON.parse(sessionStorage.getItem(PICKS_KEY));
    if (stored && Array.isArray(stored.positive) && Array.isArray(stored.negative)) return stored;
  } catch {
    // unreadable: start again
  }
  return { positive: [], negative: [] };
}

function savePicks(picks) {
  sessionStorage.setItem(PICKS_KEY, JSON.stringify(picks));
}

export function setUpProduct() {
  $("picks-clear").addEventListener("click", () => {
    savePicks({ positive: [], negative: [] });
    announce("Likes and dislikes forgotten.");
    refreshPickButtons();
    loadList();
  });
}

export async function showProduct(productId) {
  const article = $("product");
  article.setAttribute("aria-busy", "true");
  $("more-results").setAttribute("aria-busy", "true"); // the list follows once the product is known
  showError($("product-error"), null);
  shown = null;
  const asked = ++asking;
  try {
    const product = await call(`/products/${productId}`);
    if (asked !== asking) return;
    shown = product;
    renderProduct(article, product);
    document.title = `${product.name} · Vitrine`;
  } catch (error) {
    if (asked !== asking) return;
    article.replaceChildren(h("h1", { id: "product-title", tabindex: "-1" }, "Product not found"));
    $("more-results").replaceChildren();
    $("more-results").removeAttribute("aria-busy");
    showError($("product-error"), error);
    announce(error.message);
    return;
  } finally {
    if (asked === asking) article.removeAttribute("aria-busy");
  }
  if (asked !== asking) return;
  $("product-title").focus();
  await loadList();
}

function renderProduct(article, product) {
  const images = product.images;
  const main = images.length
    ? h("img", { id: "product-photo", src: images[0].url, alt: `${product.name}, photo 1 of ${images.length}` })
    : h("div", { class: "no-photo" }, "No photo");
  const thumbnails = images.map((image, index) =>
    h(
      "button",
      {
        type: "button",
        class: "thumbnail",
        "aria-pressed": index === 0 ? "true" : "false",
        "aria-label": `Show photo ${index + 1} of ${images.length}`,
        onclick: (event) => {
          main.src = image.url;
          main.alt = `${product.name}, photo ${index + 1} of ${images.length}`;
          for (const other of event.currentTarget.parentElement.children) other.setAttribute("aria-pressed", "false");
          event.currentTarget.setAttribute("aria-pressed", "true");
        },
      },
      h("img", { src: image.url, alt: "" }),
    ),
  );
  const attributes = Object.entries(product.attributes || {}).flatMap(([name, value]) => [
    h("dt", {}, name),
    h("dd", {}, String(value)),
  ]);
  article.replaceChildren(
    h("div", { class: "gallery" }, main, images.length > 1 ? h("div", { class: "thumbnails" }, thumbnails) : null),
    h(
      "div",
      { class: "details" },
      h("h1", { id: "product-title", tabindex: "-1" }, product.name),
      h("p", { class: "price" }, formatPrice(product)),
      h("p", { class: product.in_stock ? "stock in" : "stock out" }, stockText(product)),
      h("p", { class: "description" }, product.description),
      h(
        "dl",
        { class: "facts" },
        h("dt", {}, "Brand"),
        h("dd", {}, product.brand || "–"),
        h("dt", {}, "Category"),
        h("dd", {}, product.category),
        h("dt", {}, "SKU"),
        h("dd", {}, product.sku),
        attributes,
      ),
      pickButtons(product),
    ),
  );
}

// Like / dislike toggles: pressed is in the tab's list; the two exclude each other.
function pickButtons(product) {
  const button = (kind, text) =>
    h(
      "button",
      {
        type: "button",
        class: `pick ${kind}`,
        dataset: { pick: kind, productId: product.id },
        "aria-pressed": readPicks()[kind].includes(product.id) ? "true" : "false",
        "aria-label": `${text} ${product.name}`,
        onclick: () => togglePick(product, kind),
      },
      text,
    );
  return h("div", { class: "pick-buttons" }, button("positive", "Like"), button("negative", "Dislike"));
}

function togglePick(product, kind) {
  const picks = readPicks();
  const other = kind === "positive" ? "negative" : "positive";
  const had = picks[kind].includes(product.id);
  picks[kind] = picks[kind].filter((id) => id !== product.id);
  picks[other] = picks[other].filter((id) => id !== product.id);
  if (!had) picks[kind].push(product.id);
  savePicks(picks);
  refreshPickButtons();
  const verb = had ? "No longer " + (kind === "positive" ? "liked" : "disliked") : kind === "positive" ? "Liked" : "Disliked";
  announce(`${verb}: ${product.name}. Updating the list…`);
  loadList();
}

function refreshPickButtons() {
  const picks = readPicks();
  for (const button of document.querySelectorAll("#product-view button.pick")) {
    const id = Number(button.dataset.productId);
    button.setAttribute("aria-pressed", picks[button.dataset.pick].includes(id) ? "true" : "false");
  }
}

// With no picks: the products that look like this one. With picks: recommendations from every
// like and dislike of the tab, this product counting as liked unless it was disliked.
async function loadList() {
  if (!shown) return;
  const product = shown;
  const picks = readPicks();
  const positive = [...new Set([...(picks.negative.includes(product.id) ? [] : [product.id]), ...picks.positive])];
  const refined = picks.positive.length + picks.negative.length > 0;
  $("more-title").textContent = refined ? "Picked for you" : "More like this";
  $("picks-summary").textContent = refined
    ? `From your picks in this tab: ${picks.positive.length} liked, ${picks.negative.length} disliked.`
    : "Like or dislike products to refine this list.";
  show($("picks-clear"), refined);
  listing?.abort();
  const running = new AbortController();
  listing = running;
  const list = $("more-results");
  list.setAttribute("aria-busy", "true");
  try {
    const answer = refined
      ? await call("/recommendations", {
          method: "POST",
          json: { positive, negative: picks.negative, limit: LIST_SIZE },
          signal: running.signal,
        })
      : await call(`/products/${product.id}/similar?limit=${LIST_SIZE}`, { signal: running.signal });
    showError($("more-error"), null);
    renderResults(list, answer.results, { actions: pickButtons });
    announce(refined ? `${answer.count} products picked from your likes and dislikes.` : `${answer.count} similar products.`);
  } catch (error) {
    if (error.name === "AbortError") return;
    list.replaceChildren();
    showError($("more-error"), error);
    announce(error.message);
  } finally {
    if (listing === running) list.removeAttribute("aria-busy");
  }
}
