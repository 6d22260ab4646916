// A small element builder, so views are written as data and never as HTML strings: product
// names and API messages are always text, never markup.

export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(element.dataset, value);
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  element.append(...children.flat().filter((child) => child !== null && child !== undefined && child !== false));
  return element;
}

export function show(element, visible) {
  element.hidden = !visible;
}

// An error paragraph (role=alert) shows the message, or hides when given none.
export function showError(element, error) {
  if (error && error.name === "AbortError") return;
  element.textContent = error ? error.message : "";
  element.hidden = !error;
}

const status = () => document.getElementById("status");

// The page's one polite live region: what just happened, for screen readers and everyone.
export function announce(message) {
  status().textContent = message;
}
