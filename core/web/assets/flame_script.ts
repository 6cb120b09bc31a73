/**
 * The flame graph renderer of the web page (browser JavaScript, served as part of `autopgo.js`):
 * an icicle SVG, root on top, drawn from the JSON of `GET /api/profile/:app/flamegraph`
 * (core/web/flame_graph.ts documents the frame layout).
 *
 * - Zoom: clicking a frame makes it the full width (its ancestors stay above it, faded);
 *   clicking an ancestor or "Reset zoom" (or Escape) zooms back out.
 * - Search: frames whose name contains the text (any case) are highlighted and the rest fade;
 *   the caller is told how many frames match and what share of the total they cover (a match
 *   nested in another match counts once).
 * - Only frames at least half a pixel wide are drawn, so a huge profile still draws quickly; the
 *   picture is redrawn when the box changes width.
 * - Names reach the SVG as text nodes (`textContent`), never as markup. Labels drop the package
 *   path (`github.com/x/y/pkg.F` shows as `pkg.F`) and are cut to the frame's width; the full
 *   name is given to the caller on hover and click.
 *
 * Written without template literals so it can live in a TypeScript string constant.
 *
 * @module
 */

/** The renderer: defines `createFlameGraph(box, data, hooks)` for the page script. */
export const FLAME_SCRIPT = String.raw`
const SVG_NS = "http://www.w3.org/2000/svg";
const ROW = 18;

// "github.com/x/y/pkg.(*T).M" is labelled "pkg.(*T).M": the package path goes when it is one.
function shortName(name) {
  const paren = name.indexOf("(");
  const slash = name.lastIndexOf("/", paren >= 0 ? paren : name.length);
  if (slash < 0 || !/^[\w.~-]+(\/[\w.~-]+)*$/.test(name.slice(0, slash))) return name;
  return name.slice(slash + 1);
}

function frameColor(name, depth) {
  if (depth === 0) return "hsl(220, 12%, 74%)";
  let h = 0;
  for (let i = 0; i < name.length; i++) h = (h * 31 + name.charCodeAt(i)) >>> 0;
  const light = 60 + (h % 11);
  const slash = name.indexOf("/");
  const head = slash >= 0 ? name.slice(0, slash) : name.slice(0, Math.max(0, name.indexOf(".")));
  if (head === "runtime") return "hsl(" + (198 + (h % 22)) + ", 48%, " + (light + 4) + "%)";
  const standardLibrary = head !== "" && head !== "main" && !head.includes(".");
  if (standardLibrary) return "hsl(" + (34 + (h % 14)) + ", 84%, " + light + "%)";
  return "hsl(" + (4 + (h % 22)) + ", 80%, " + light + "%)";
}

function createFlameGraph(box, data, hooks) {
  const count = data.frames.length / 4;
  const name = new Int32Array(count), depth = new Int32Array(count), parent = new Int32Array(count);
  const total = new Float64Array(count), self = new Float64Array(count), x = new Float64Array(count);
  const end = new Int32Array(count);
  const next = [0], open = [];
  for (let i = 0; i < count; i++) {
    name[i] = data.frames[4 * i];
    const d = depth[i] = data.frames[4 * i + 1];
    total[i] = data.frames[4 * i + 2];
    self[i] = data.frames[4 * i + 3];
    x[i] = d === 0 ? 0 : next[d];
    next[d] = x[i] + total[i];
    next[d + 1] = x[i];
    while (open.length > d) end[open.pop()] = i;
    parent[i] = d === 0 ? -1 : open[d - 1];
    open.push(i);
  }
  while (open.length) end[open.pop()] = count;
  const names = data.names;
  const lower = names.map((n) => n.toLowerCase());
  const shortNames = names.map(shortName);
  let focus = 0;
  let query = "";
  let matched = null;
  let svg = null;
  let charWidth = 7;
  let drawnWidth = 0;

  function measure() {
    const ctx = document.createElement("canvas").getContext("2d");
    if (!ctx) return;
    ctx.font = "11.5px " + getComputedStyle(box).getPropertyValue("--mono");
    const w = ctx.measureText("abcdefghijklmnopqrstuvwxyz").width / 26;
    if (w > 0) charWidth = w;
  }

  function label(i, width) {
    const fit = Math.floor((width - 8) / charWidth);
    if (fit < 3) return "";
    const text = shortNames[name[i]];
    return text.length <= fit ? text : text.slice(0, fit - 1) + "\u2026";
  }

  function draw() {
    const width = box.clientWidth;
    if (width <= 0) return;
    drawnWidth = width;
    const x0 = x[focus], span = total[focus] || 1, scale = width / span;
    const rows = data.maxDepth + 1;
    const root = document.createElementNS(SVG_NS, "svg");
    root.setAttribute("width", String(width));
    root.setAttribute("height", String(rows * ROW));
    root.setAttribute("role", "img");
    root.setAttribute("aria-label", "Flame graph");
    const add = (i, left, w, cls) => {
      const g = document.createElementNS(SVG_NS, "g");
      g.setAttribute("class", cls);
      g.setAttribute("transform", "translate(" + left.toFixed(2) + "," + depth[i] * ROW + ")");
      g.dataset.i = String(i);
      const rect = document.createElementNS(SVG_NS, "rect");
      rect.setAttribute("width", Math.max(w - 0.5, 0.5).toFixed(2));
      rect.setAttribute("height", String(ROW - 1));
      rect.setAttribute("rx", "2");
      rect.setAttribute("fill", frameColor(names[name[i]], depth[i]));
      g.appendChild(rect);
      const text = label(i, w);
      if (text) {
        const t = document.createElementNS(SVG_NS, "text");
        t.setAttribute("x", "4");
        t.setAttribute("y", "12.5");
        t.textContent = text;
        g.appendChild(t);
      }
      root.appendChild(g);
    };
    for (let a = parent[focus]; a >= 0; a = parent[a]) add(a, 0, width, "fr above" + (matched ? dimOrMatch(a) : ""));
    for (let i = focus; i < end[focus];) {
      const w = total[i] * scale;
      if (w < 0.5) {
        i = end[i];
        continue;
      }
      add(i, (x[i] - x0) * scale, w, "fr" + (matched ? dimOrMatch(i) : ""));
      i++;
    }
    if (svg) box.replaceChild(root, svg);
    else box.prepend(root);
    svg = root;
  }

  function dimOrMatch(i) {
    return matched[i] ? " match" : " dim";
  }

  function info(i) {
    return { name: names[name[i]], total: total[i], self: self[i], share: total[i] / (total[0] || 1), depth: depth[i] };
  }

  function search(text) {
    query = text.trim().toLowerCase();
    if (!query) {
      matched = null;
      draw();
      return { frames: 0, share: 0 };
    }
    matched = new Uint8Array(count);
    let frames = 0, covered = 0;
    for (let i = 0; i < count; i++) {
      if (!lower[name[i]].includes(query)) continue;
      matched[i] = 1;
      frames++;
      let inside = false;
      for (let a = parent[i]; a >= 0; a = parent[a]) if (matched[a]) inside = true;
      if (!inside) covered += total[i];
    }
    draw();
    return { frames: frames, share: covered / (total[0] || 1) };
  }

  function zoom(i) {
    focus = i;
    draw();
    hooks.onZoom(i !== 0);
  }

  function frameAt(target) {
    const g = target && target.closest ? target.closest("g.fr") : null;
    return g ? Number(g.dataset.i) : -1;
  }

  box.addEventListener("mousemove", (e) => {
    const i = frameAt(e.target);
    if (i >= 0) hooks.onHover(info(i));
  });
  box.addEventListener("mouseleave", () => hooks.onHover(null));
  box.addEventListener("click", (e) => {
    const i = frameAt(e.target);
    if (i < 0) return;
    hooks.onHover(info(i));
    if (i !== focus) zoom(i);
  });
  new ResizeObserver(() => {
    if (box.clientWidth !== drawnWidth) requestAnimationFrame(draw);
  }).observe(box);
  measure();
  draw();
  return { search: search, reset: () => zoom(0), info: info, count: count };
}
`;
