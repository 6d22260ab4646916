// The admin's view: catalog size, the index's model and collection, drift, and "sync now" with
// live progress. The token is asked once and kept in sessionStorage: this tab only, until it closes.

import { call } from "./api.js";
import { announce, h, show, showError } from "./dom.js";

const TOKEN_KEY = "vitrine.adminToken";
const POLL_MS = 300;
const STAGES = { planning: "Planning", embed: "Embedding photos", payload: "Updating product fields", idle: "Idle" };
const REPORT_ROWS = [
  ["embedded", "Photos embedded"],
  ["reused", "Vectors reused"],
  ["payload_updated", "Product fields updated"],
  ["deleted", "Points deleted"],
  ["unchanged", "Unchanged"],
  ["failed", "Failed"],
  ["files_removed", "Image files removed"],
];
const DRIFT_ROWS = [
  ["missing_points", "Photos not yet indexed"],
  ["changed_images", "Photos changed"],
  ["other_model_vectors", "Vectors of another model"],
  ["stale_payloads", "Product fields out of date"],
  ["orphan_points", "Points of deleted photos"],
];
const $ = (id) => document.getElementById(id);
let polling = null; // the timer of the progress poll
let syncing = false; // this tab's POST /admin/sync is in flight

const token = () => sessionStorage.getItem(TOKEN_KEY);
const adminCall = (path, options = {}) => call(path, { ...options, token: token() });

export function setUpAdmin() {
  $("token-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const candidate = $("token-input").value.trim();
    if (!candidate) return;
    try {
      await call("/admin/sync", { token: candidate }); // the cheapest admin call: checks the token
    } catch (error) {
      showError($("admin-error"), error);
      announce(error.message);
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, candidate);
    $("token-input").value = "";
    showAdmin();
  });
  $("token-forget").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    announce("Token forgotten.");
    showAdmin();
  });
  $("sync-button").addEventListener("click", syncNow);
  $("drift-refresh").addEventListener("click", () => loadDrift());
}

export function showAdmin() {
  showError($("admin-error"), null);
  const signedIn = Boolean(token());
  show($("token-form"), !signedIn);
  show($("admin-panels"), signedIn);
  if (!signedIn) {
    $("token-input").focus();
    return;
  }
  $("admin-title").focus();
  loadAll();
}

export function leaveAdmin() {
  stopPolling();
}

async function loadAll() {
  await Promise.all([loadCatalogSize(), loadStatus(), loadDrift()]);
}

// An admin call's failure: a token the server no longer takes sends the admin back to the form.
function failed(error) {
  if (error.status === 401) sessionStorage.removeItem(TOKEN_KEY);
  if (error.status === 401) {
    show($("token-form"), true);
    show($("admin-panels"), false);
    stopPolling();
  }
  showError($("admin-error"), error);
  announce(error.message);
}

async function loadCatalogSize() {
  try {
    const page = await call("/products?limit=1");
    $("catalog-size").textContent = String(page.total);
  } catch (error) {
    failed(error);
  }
}

async function loadStatus() {
  try {
    const status = await adminCall("/admin/sync");
    renderStatus(status);
    if (status.running && !polling) poll();
    return status;
  } catch (error) {
    failed(error);
    return null;
  }
}

async function loadDrift() {
  try {
    renderDrift(await adminCall("/admin/sync/drift"));
  } catch (error) {
    failed(error);
  }
}

function renderStatus(status) {
  const progress = $("sync-progress");
  const stage = STAGES[status.stage] || status.stage;
  if (status.running) {
    if (status.total > 0) {
      progress.max = status.total;
      progress.value = status.done;
      $("sync-stage").textContent = `${stage}: ${status.done} of ${status.total}`;
    } else {
      progress.removeAttribute("value"); // indeterminate until the sync knows its total
      $("sync-stage").textContent = `${stage}…`;
    }
  } else {
    progress.max = 1;
    progress.value = status.last_report ? 1 : 0;
    $("sync-stage").textContent = status.stage === "interrupted" ? "The last sync was interrupted" : "Idle";
  }
  progress.dataset.running = String(status.running);
  $("sync-button").disabled = status.running || syncing;
  renderReport(status.last_report, status.running ? null : status.started_at);
  if (status.running && status.started_at) {
    // started_at is the running sync's; the report below is still the one before it.
    $("last-sync-time").textContent = `A sync started ${new Date(status.started_at).toLocaleString()}; the report below is the one before it.`;
  }
}

function renderReport(report, startedAt) {
  $("active-model").textContent = report ? report.model : "unknown until a sync runs";
  $("active-collection").textContent = report
    ? `${report.collection}${report.active ? " (active)" : " (built, not active)"}`
    : "unknown until a sync runs";
  $("last-sync-time").textContent = report
    ? `Started ${startedAt ? new Date(startedAt).toLocaleString() : "at an unknown time"}.`
    : "No sync has run yet.";
  const rows = report
    ? REPORT_ROWS.map(([key, text]) => {
        const value = key === "failed" ? report.failed.length : report[key];
        return h("tr", { dataset: { key } }, h("th", { scope: "row" }, text), h("td", {}, String(value)));
      })
    : [];
  $("last-report").tBodies[0].replaceChildren(...rows);
}

function renderDrift(drift) {
  $("drift-state").textContent = drift.in_sync ? "The index matches the catalog." : "The index is behind the catalog: sync to catch up.";
  $("drift-state").className = drift.in_sync ? "ok" : "warning";
  const known = DRIFT_ROWS.filter(([key]) => key in drift);
  const others = Object.keys(drift).filter((key) => key !== "in_sync" && !DRIFT_ROWS.some(([row]) => row === key));
  const rows = [...known, ...others.map((key) => [key, key.replaceAll("_", " ")])].map(([key, text]) =>
    h("tr", { dataset: { key } }, h("th", { scope: "row" }, text), h("td", {}, String(drift[key]))),
  );
  $("drift").tBodies[0].replaceChildren(...rows);
}

// POST /admin/sync answers only when the sync ends, so it is not awaited here: the progress is
// polled meanwhile, and the answer (the report, or the API's error) ends the poll.
function syncNow() {
  syncing = true;
  $("sync-button").disabled = true;
  showError($("admin-error"), null);
  announce("Sync started.");
  adminCall("/admin/sync", { method: "POST" })
    .then((report) => {
      const failures = report.failed.length ? `, ${report.failed.length} failed` : "";
      announce(`Sync finished: ${report.embedded} embedded, ${report.deleted} deleted${failures}.`);
    })
    .catch(failed)
    .finally(async () => {
      syncing = false;
      stopPolling();
      await loadAll();
    });
  poll();
}

async function poll() {
  stopPolling();
  polling = setTimeout(async () => {
    const status = await loadStatus();
    if (polling === null) return; // stopped while the answer was on its way
    polling = null;
    if (status && (status.running || syncing)) poll();
  }, POLL_MS);
}

function stopPolling() {
  clearTimeout(polling);
  polling = null;
}
