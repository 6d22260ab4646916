// The box a shopper draws on the photo to search only that part of it. Pointer events cover
// mouse, touch and pen alike; the box takes arrow keys once focused, and the four number
// fields set it exactly, so no part of it needs a pointer.

// The API refuses a region thinner than 2% of the photo (MIN_REGION in backend/api/schemas.py).
const MIN_SIDE = 0.02;
const KEY_STEP = 0.02;

const clamp = (value, low, high) => Math.min(high, Math.max(low, value));

export function createRegion({ frame, layer, box, fields, clearButton, onChange }) {
  let region = null; // [left, top, right, bottom] as fractions of the photo
  let drag = null;

  function pointAt(event) {
    const rect = frame.getBoundingClientRect();
    return [clamp((event.clientX - rect.left) / rect.width, 0, 1), clamp((event.clientY - rect.top) / rect.height, 0, 1)];
  }

  function set(next, { notify = true, typed = false } = {}) {
    region = next;
    draw(typed);
    if (notify) onChange(region);
  }

  // `typed`: the fields made this box, so the one being edited shows its clamped value too.
  function draw(typed = false) {
    box.hidden = region === null;
    const [left, top, right, bottom] = region || [null, null, null, null];
    if (region) {
      Object.assign(box.style, {
        left: `${left * 100}%`,
        top: `${top * 100}%`,
        width: `${(right - left) * 100}%`,
        height: `${(bottom - top) * 100}%`,
      });
    }
    const values = { left, top, right, bottom };
    for (const [name, input] of Object.entries(fields)) {
      if (typed || document.activeElement !== input) input.value = region ? Math.round(values[name] * 100) : "";
    }
    clearButton.disabled = region === null;
  }

  function normalised(x1, y1, x2, y2) {
    return [Math.min(x1, x2), Math.min(y1, y2), Math.max(x1, x2), Math.max(y1, y2)];
  }

  const bigEnough = (candidate) => candidate[2] - candidate[0] >= MIN_SIDE && candidate[3] - candidate[1] >= MIN_SIDE;

  layer.addEventListener("pointerdown", (event) => {
    if (event.button !== 0) return;
    event.preventDefault();
    layer.setPointerCapture(event.pointerId);
    const [x, y] = pointAt(event);
    drag = { mode: "draw", x, y, before: region };
  });
  box.addEventListener("pointerdown", (event) => {
    if (event.button !== 0 || !region) return;
    event.preventDefault();
    box.setPointerCapture(event.pointerId);
    const [x, y] = pointAt(event);
    drag = { mode: "move", x, y, before: region };
    box.focus({ preventScroll: true });
  });

  function follow(event) {
    if (!drag) return;
    const [x, y] = pointAt(event);
    if (drag.mode === "draw") {
      const candidate = normalised(drag.x, drag.y, x, y);
      region = bigEnough(candidate) ? candidate : drag.before;
    } else {
      const [left, top, right, bottom] = drag.before;
      const dx = clamp(x - drag.x, -left, 1 - right);
      const dy = clamp(y - drag.y, -top, 1 - bottom);
      region = [left + dx, top + dy, right + dx, bottom + dy];
    }
    draw();
  }

  function finish(event) {
    if (!drag) return;
    follow(event);
    const changed = region !== drag.before;
    drag = null;
    if (changed) onChange(region);
  }

  for (const element of [layer, box]) {
    element.addEventListener("pointermove", follow);
    element.addEventListener("pointerup", finish);
    element.addEventListener("pointercancel", finish);
  }

  box.addEventListener("keydown", (event) => {
    if (!region) return;
    if (event.key === "Delete" || event.key === "Backspace" || event.key === "Escape") {
      event.preventDefault();
      set(null);
      return;
    }
    const moves = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
    if (!(event.key in moves)) return;
    event.preventDefault();
    const [dx, dy] = moves[event.key].map((step) => step * KEY_STEP);
    let [left, top, right, bottom] = region;
    if (event.shiftKey) {
      // Resize: the right and bottom edges follow the keys, never past the photo or below the minimum.
      right = clamp(right + dx, left + MIN_SIDE, 1);
      bottom = clamp(bottom + dy, top + MIN_SIDE, 1);
    } else {
      const mx = clamp(dx, -left, 1 - right);
      const my = clamp(dy, -top, 1 - bottom);
      [left, top, right, bottom] = [left + mx, top + my, right + mx, bottom + my];
    }
    set([left, top, right, bottom]);
  });

  function fromFields() {
    const values = Object.values(fields).map((input) => input.valueAsNumber / 100);
    if (values.some((value) => Number.isNaN(value))) return;
    const candidate = normalised(...values.map((value) => clamp(value, 0, 1)));
    if (bigEnough(candidate)) set(candidate, { typed: true });
  }
  // Until all four fields make a box, what was typed stays as it is.
  for (const input of Object.values(fields)) input.addEventListener("change", fromFields);
  clearButton.addEventListener("click", () => set(null));

  draw();
  return {
    get value() {
      return region;
    },
    // A new photo: no box; no search is started from here.
    reset() {
      set(null, { notify: false });
    },
  };
}

// The `region` form field: left,top,right,bottom as fractions.
export function regionField(region) {
  return region ? region.map((edge) => edge.toFixed(4)).join(",") : "";
}
