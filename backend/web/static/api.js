// Calls to the Vitrine API. Every failure becomes an ApiError whose message is the API's own
// `error.message`, so each view can show it as it is.

export class ApiError extends Error {
  constructor(message, { status = 0, code = "network", requestId = null } = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.requestId = requestId;
  }
}

// `json` is sent as a JSON body, `form` (a FormData) as multipart; `token` as the admin bearer.
export async function call(path, { method = "GET", json, form, token, signal } = {}) {
  const headers = { Accept: "application/json" };
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form !== undefined) {
    body = form; // the browser writes the multipart boundary
  }
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(path, { method, headers, body, signal, cache: "no-store" });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(`could not reach the server (${error.message})`);
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null; // not JSON: a proxy's page, say; the status line tells what happened
  }
  if (!response.ok) {
    const error = data && data.error;
    throw new ApiError(error && error.message ? error.message : `${response.status} ${response.statusText}`, {
      status: response.status,
      code: error ? error.code : "http_error",
      requestId: error ? error.request_id : null,
    });
  }
  return data;
}

// Filter and paging fields as the API takes them; empty values are left out.
export function appendFields(target, fields) {
  for (const [name, value] of Object.entries(fields)) {
    const values = Array.isArray(value) ? value : [value];
    for (const one of values) {
      if (one !== undefined && one !== null && one !== "") target.append(name, String(one));
    }
  }
  return target;
}
