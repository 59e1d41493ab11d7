// Vitrine visual search page: plain JS over the app's JSON API (/api/...), no build step.
"use strict";

const FILTERS = ["category", "color", "pattern"];
const state = { mode: null, files: [], itemId: null, crop: null };
const $ = (id) => document.getElementById(id);

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key in node) node[key] = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function label(value) { return String(value).replace(/_/g, " "); }

function setStatus(text, kind = "") {
  const status = $("status");
  status.textContent = text;
  status.className = "status" + (kind ? " " + kind : "");
  status.setAttribute("role", kind === "error" ? "alert" : "status");
}

async function api(path, options) {
  const response = await fetch(path, options);
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const detail = Array.isArray(body.detail) ? body.detail.map((d) => d.msg).join("; ") : body.detail;
    throw new Error(detail || `${response.status} ${response.statusText}`);
  }
  return body;
}

// -- release and filters ------------------------------------------------------------------
async function loadRelease() {
  try {
    const info = await api("/api/release");
    $("release").textContent = `Release ${info.release_id} · model ${info.model_version} · ${info.n_items} items`;
    $("release").dataset.releaseId = info.release_id;
    const box = $("filters");
    box.replaceChildren();
    for (const name of FILTERS) {
      const values = info.filters[name] || [];
      if (!values.length) continue;
      const choices = el("div", { className: "choices" });
      for (const value of values) {
        const input = el("input", { type: "checkbox", name, value });
        input.addEventListener("change", () => { if (state.mode) search(); });
        choices.append(el("label", {}, input, label(value)));
      }
      box.append(el("details", {}, el("summary", {}, name), choices));
    }
    loadCatalog("");
  } catch (error) {
    $("release").textContent = `No release available: ${error.message}`;
  }
}

function chosenFilters() {
  const chosen = [];
  for (const input of document.querySelectorAll("#filters input:checked")) chosen.push([input.name, input.value]);
  return chosen;
}

// -- photos, drop and crop ----------------------------------------------------------------
function choosePhotos(files) {
  const images = [...files].filter((f) => f.type.startsWith("image/") || !f.type);
  if (!images.length) { setStatus("Those files are not photos.", "error"); return; }
  state.files = images;
  state.itemId = null;
  state.crop = null;
  state.mode = images.length === 1 ? "photo" : "profile";
  $("query-item").hidden = true;
  const preview = $("preview");
  const thumbs = $("thumbs");
  if (state.mode === "photo") {
    thumbs.hidden = true;
    preview.hidden = false;
    $("preview-img").src = URL.createObjectURL(images[0]);
    $("crop-box").hidden = true;
    $("results-title").textContent = "Similar items";
  } else {
    preview.hidden = true;
    thumbs.hidden = false;
    thumbs.replaceChildren(...images.map((f, i) =>
      el("li", {}, el("img", { src: URL.createObjectURL(f), alt: `Profile photo ${i + 1}: ${f.name}` }))));
    $("results-title").textContent = `Recommended for your style (${images.length} photos)`;
  }
  search();
}

function drawCrop() {
  const box = $("crop-box");
  if (!state.crop) { box.hidden = true; return; }
  const [x0, y0, x1, y1] = state.crop;
  Object.assign(box.style, { left: `${x0 * 100}%`, top: `${y0 * 100}%`,
    width: `${(x1 - x0) * 100}%`, height: `${(y1 - y0) * 100}%` });
  box.hidden = false;
}

function setupCrop() {
  const area = $("crop-area");
  let start = null;
  const point = (event) => {
    const r = area.getBoundingClientRect();
    return [Math.min(1, Math.max(0, (event.clientX - r.left) / r.width)),
            Math.min(1, Math.max(0, (event.clientY - r.top) / r.height))];
  };
  area.addEventListener("pointerdown", (event) => {
    start = point(event);
    area.setPointerCapture(event.pointerId);
    event.preventDefault();
  });
  area.addEventListener("pointermove", (event) => {
    if (!start) return;
    const [x, y] = point(event);
    state.crop = [Math.min(start[0], x), Math.min(start[1], y), Math.max(start[0], x), Math.max(start[1], y)];
    drawCrop();
  });
  area.addEventListener("pointerup", () => {
    if (!start) return;
    start = null;
    const c = state.crop;
    if (!c || c[2] - c[0] < 0.05 || c[3] - c[1] < 0.05) state.crop = null;  // a click, not a box
    drawCrop();
    if (state.mode === "photo") search();
  });
  $("crop-box").addEventListener("keydown", (event) => {
    const steps = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
    if (!state.crop || !(event.key in steps)) return;
    event.preventDefault();
    const [dx, dy] = steps[event.key].map((v) => v * 0.02);
    let [x0, y0, x1, y1] = state.crop;
    if (event.shiftKey) { x1 += dx; y1 += dy; } else { x0 += dx; x1 += dx; y0 += dy; y1 += dy; }
    if (x0 < 0 || y0 < 0 || x1 > 1 || y1 > 1 || x1 - x0 < 0.05 || y1 - y0 < 0.05) return;
    state.crop = [x0, y0, x1, y1];
    drawCrop();
  });
  $("crop-box").addEventListener("keyup", (event) => { if (event.key.startsWith("Arrow")) search(); });
  $("reset-crop").addEventListener("click", () => {
    state.crop = [0.1, 0.1, 0.9, 0.9];  // a starting box the keyboard can adjust
    drawCrop();
    $("crop-box").focus();
    search();
  });
}

function setupDrop() {
  const drop = $("drop");
  $("photos").addEventListener("change", (event) => choosePhotos(event.target.files));
  for (const name of ["dragenter", "dragover"]) {
    drop.addEventListener(name, (event) => { event.preventDefault(); drop.classList.add("over"); });
  }
  for (const name of ["dragleave", "drop"]) {
    drop.addEventListener(name, () => drop.classList.remove("over"));
  }
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    choosePhotos(event.dataTransfer.files);
  });
}

// -- catalog picker -----------------------------------------------------------------------
async function loadCatalog(q) {
  try {
    const page = await api(`/api/items?limit=24&q=${encodeURIComponent(q)}`);
    $("catalog-list").replaceChildren(...page.results.map((item) => {
      const button = el("button", { type: "button", dataset: { itemId: item.item_id } },
        el("img", { src: item.image_url, alt: "", loading: "lazy" }), item.title || item.item_id);
      button.addEventListener("click", () => pickItem(item));
      return el("li", {}, button);
    }));
  } catch (error) {
    setStatus(error.message, "error");
  }
}

function pickItem(item) {
  state.mode = "item";
  state.itemId = item.item_id;
  state.files = [];
  $("preview").hidden = true;
  $("thumbs").hidden = true;
  const shown = $("query-item");
  shown.replaceChildren("Items like: ", el("strong", {}, item.title || item.item_id));
  shown.hidden = false;
  $("results-title").textContent = "Similar items";
  search();
}

// -- search and results -------------------------------------------------------------------
let generation = 0;

async function search() {
  if (!state.mode) { setStatus("Choose a photo or pick a catalog item first.", "notice"); return; }
  const k = $("k").value;
  const mine = ++generation;
  let request;
  if (state.mode === "item") {
    const params = new URLSearchParams({ item_id: state.itemId, k });
    for (const [name, value] of chosenFilters()) params.append(name, value);
    request = api(`/api/similar?${params}`);
  } else {
    const form = new FormData();
    form.append("k", k);
    for (const [name, value] of chosenFilters()) form.append(name, value);
    if (state.mode === "photo") {
      form.append("image", state.files[0]);
      if (state.crop) form.append("crop", state.crop.map((v) => v.toFixed(4)).join(","));
      request = api("/api/similar", { method: "POST", body: form });
    } else {
      for (const file of state.files) form.append("images", file);
      request = api("/api/profile", { method: "POST", body: form });
    }
  }
  setStatus("Searching…");
  $("results").setAttribute("aria-busy", "true");
  try {
    const answer = await request;
    if (mine === generation) show(answer);
  } catch (error) {
    if (mine === generation) { setStatus(error.message, "error"); $("results").replaceChildren(); }
  } finally {
    if (mine === generation) $("results").removeAttribute("aria-busy");
  }
}

function attributeList(attributes) {
  return el("ul", { className: "attrs" }, ...Object.entries(attributes).map(([name, a]) =>
    el("li", { dataset: { attr: name, value: a.value } },
      `${label(name)}: ${label(a.value)} (${Math.round(a.confidence * 100)}%)`)));
}

function offerList(offers) {
  return el("ul", { className: "offers" }, ...offers.map((o) => {
    const price = o.price == null ? "" : ` ${Number(o.price).toFixed(2)} ${o.currency || ""}`;
    const safe = /^https?:\/\//i.test(o.url || "");
    const name = safe ? el("a", { href: o.url, target: "_blank", rel: "noopener noreferrer" }, o.retailer)
                      : el("span", {}, o.retailer);
    return el("li", {}, name, price);
  }));
}

function show(answer) {
  const release = $("release").dataset.releaseId;
  if (release && release !== answer.release_id) loadRelease();  // the app switched releases
  const qa = $("query-attributes");
  const attrs = answer.query.attributes;
  if (attrs && Object.keys(attrs).length) {
    const title = state.mode === "profile" ? "Your style profile" : state.mode === "item" ? "This item" : "Your photo looks like";
    qa.replaceChildren(el("strong", {}, title + ": "), attributeList(attrs));
    qa.hidden = false;
  } else {
    qa.hidden = true;
  }
  const results = answer.results;
  if (!results.length) setStatus("Nothing matches these filters.", "notice");
  else if (answer.no_close_match) {
    setStatus(`No close match: the nearest item is farther than this catalog's usual distance ` +
              `(${results[0].distance.toFixed(3)} > ${answer.distance_threshold.toFixed(3)}). The nearest items anyway:`,
              "notice");
  } else setStatus(`${results.length} items, most similar first.`);
  $("status").dataset.match = answer.no_close_match ? "none" : "close";
  $("results").replaceChildren(...results.map((r) => {
    const more = el("button", { type: "button", className: "secondary" }, "More like this");
    more.addEventListener("click", () => pickItem(r));
    const meta = r.score == null ? `distance ${r.distance.toFixed(3)}`
                                 : `score ${r.score.toFixed(3)} · distance ${r.distance.toFixed(3)}`;
    return el("li", { className: "card", dataset: { itemId: r.item_id } },
      el("img", { src: r.image_url, alt: r.title || r.item_id, loading: "lazy" }),
      el("h3", {}, r.title || r.item_id), el("p", { className: "meta" }, meta),
      attributeList(r.attributes), offerList(r.offers), more);
  }));
}

document.addEventListener("DOMContentLoaded", () => {
  setupDrop();
  setupCrop();
  $("query-form").addEventListener("submit", (event) => { event.preventDefault(); search(); });
  $("k").addEventListener("change", () => { if (state.mode) search(); });
  let timer = null;
  $("catalog-q").addEventListener("input", (event) => {
    clearTimeout(timer);
    timer = setTimeout(() => loadCatalog(event.target.value), 250);
  });
  loadRelease();
});
