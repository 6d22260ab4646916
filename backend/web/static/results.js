// Result cards, shared by the search, "more like this" and recommendation lists.

import { h } from "./dom.js";

export function formatPrice(product) {
  return `${Number(product.price).toFixed(2)} ${product.currency}`;
}

export function stockText(product) {
  return product.in_stock ? "In stock" : "Sold out";
}

// One card: the product's first photo, and the photo that matched when it is another one.
// `actions` builds extra controls for the card (like / dislike).
export function resultCard(match, { actions } = {}) {
  const { product, score } = match;
  const first = product.images[0];
  const matched = product.images.find((image) => image.id === match.matched_image_id);
  const photo = first
    ? h("img", { src: first.url, alt: product.name, width: first.width, height: first.height, loading: "lazy" })
    : h("div", { class: "no-photo" }, "No photo");
  const matchedNote =
    matched && matched !== first
      ? h(
          "figure",
          { class: "matched" },
          h("img", { src: matched.url, alt: `The photo of ${product.name} that matched`, loading: "lazy" }),
          h("figcaption", {}, "Matched photo"),
        )
      : h("p", { class: "matched-note" }, "Matched this photo");
  const link = h("a", { href: `#/product/${product.id}`, class: "card-link" }, product.name);
  return h(
    "li",
    {
      class: "card",
      dataset: { productId: product.id, sku: product.sku, matchedImageId: match.matched_image_id },
    },
    h("div", { class: "card-photo" }, photo, matchedNote),
    h("h3", {}, link),
    h(
      "dl",
      { class: "card-facts" },
      h("dt", {}, "Brand"),
      h("dd", { class: "brand" }, product.brand || "–"),
      h("dt", {}, "Category"),
      h("dd", { class: "category" }, product.category),
      h("dt", {}, "Price"),
      h("dd", { class: "price" }, formatPrice(product)),
      h("dt", {}, "Stock"),
      h("dd", { class: product.in_stock ? "stock in" : "stock out" }, stockText(product)),
      h("dt", {}, "Score"),
      h("dd", { class: "score" }, score.toFixed(3)),
    ),
    actions ? actions(product) : null,
  );
}

export function renderResults(list, results, options) {
  list.replaceChildren(...results.map((match) => resultCard(match, options)));
}
