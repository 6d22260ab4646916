// The page's router: the URL's fragment picks the view (#/, #/product/<id>, #/admin), so each
// view has an address, and the browser's back button goes back to the search as it was.

import { leaveAdmin, setUpAdmin, showAdmin } from "./admin.js";
import { setUpProduct, showProduct } from "./product.js";
import { setUpShopper } from "./shopper.js";

const VIEWS = ["shopper-view", "product-view", "admin-view"];
const $ = (id) => document.getElementById(id);

function route() {
  const path = location.hash.replace(/^#/, "") || "/";
  const product = path.match(/^\/product\/(\d+)$/);
  const view = product ? "product-view" : path === "/admin" ? "admin-view" : "shopper-view";
  for (const id of VIEWS) $(id).hidden = id !== view;
  for (const link of document.querySelectorAll("[data-nav]")) {
    const current = `${link.dataset.nav}-view` === view;
    if (current) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (view !== "admin-view") leaveAdmin();
  if (product) {
    showProduct(Number(product[1]));
  } else if (view === "admin-view") {
    document.title = "Admin · Vitrine";
    showAdmin();
  } else {
    document.title = "Search by photo · Vitrine";
    if (document.readyState === "complete") $("shopper-title").focus();
  }
}

setUpShopper();
setUpProduct();
setUpAdmin();
window.addEventListener("hashchange", route);
route();
