/**
 * The web page's script (browser JavaScript, served as `autopgo.js` after the flame graph
 * renderer): fetches the JSON endpoints and fills the page the server rendered (pages.ts).
 *
 * - The token: when the page says the server needs one (`data-auth="required"`), the script takes
 *   it from this tab's sessionStorage (`autopgo.token`) or asks for it in a dialog before any
 *   request, and sends it as `Authorization: Bearer`. A 401 forgets it and asks again. It never
 *   goes into a URL, a cookie or localStorage, so it is gone when the tab closes.
 * - Every value from the server is written with `textContent` or as an attribute value; nothing is
 *   parsed as HTML, so a function name like `<img onerror=…>` shows as text.
 * - Numbers: totals and sizes as `autopgo inspect` prints them, percentages with its rounding,
 *   and human units (s, ms, KiB) where a table needs to stay readable.
 *
 * Written without template literals so it can live in a TypeScript string constant.
 *
 * @module
 */

/** The page script, appended to the flame graph renderer in `autopgo.js`. */
export const PAGE_SCRIPT = String.raw`
const TOKEN_KEY = "autopgo.token";
const page = document.body.dataset.page;
const authRequired = document.body.dataset.auth === "required";
const $ = (id) => document.getElementById(id);

class AuthError extends Error {}

function el(tag, props, children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null) continue;
    if (key === "text") node.textContent = String(value);
    else if (key === "class") node.className = value;
    else node.setAttribute(key, String(value));
  }
  for (const child of children || []) node.append(child);
  return node;
}

const intFormat = new Intl.NumberFormat("en-US");
function int(n) {
  return intFormat.format(n);
}

function pct(v, total) {
  return total === 0 ? "-" : (v / total * 100).toFixed(1) + "%";
}

function pct2(v) {
  return v.toFixed(2) + "%";
}

function bytes(n) {
  if (n < 1024) return n + " B";
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024, u = 0;
  while (v >= 1024 && u < units.length - 1) v /= 1024, u++;
  return (v >= 100 ? v.toFixed(0) : v.toFixed(1)) + " " + units[u];
}

function seconds(ns) {
  const s = ns / 1e9;
  if (s >= 3600) return (s / 3600).toFixed(1) + " h";
  if (s >= 60) return (s / 60).toFixed(1) + " min";
  if (s >= 1) return s.toFixed(2) + " s";
  if (s >= 1e-3) return (s * 1e3).toFixed(1) + " ms";
  return (s * 1e6).toFixed(0) + " \u00b5s";
}

function value(v, unit) {
  if (unit === "nanoseconds") return seconds(v);
  if (unit === "bytes") return bytes(v);
  if (unit === "count" || unit === "") return int(v);
  return int(v) + " " + unit;
}

function age(iso) {
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (s < 45) return "just now";
  if (s < 90 * 60) return Math.round(s / 60) + " min ago";
  if (s < 36 * 3600) return Math.round(s / 3600) + " h ago";
  return Math.round(s / 86400) + " d ago";
}

function setStatus(text, isError) {
  const status = $("status");
  status.textContent = text;
  status.title = text;
  status.classList.toggle("error", !!isError);
}

// Everyone waiting for a token (a load, the Token button) is resolved by the next submit.
const tokenWaiters = [];

function askToken(message) {
  const dialog = $("token-dialog");
  $("token-error").textContent = message || "";
  $("token-input").value = "";
  if (!dialog.open) dialog.showModal();
  return new Promise((resolve) => tokenWaiters.push(resolve));
}

async function api(path) {
  const headers = {};
  if (authRequired) {
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (!token) throw new AuthError("");
    headers.authorization = "Bearer " + token;
  }
  const response = await fetch(path, { headers: headers, cache: "no-store" });
  if (response.status === 401) {
    sessionStorage.removeItem(TOKEN_KEY);
    throw new AuthError("The server refused this token.");
  }
  if (!response.ok) {
    let message = response.status + " " + response.statusText;
    try {
      message = (await response.json()).message || message;
    } catch (_) { /* not JSON */ }
    const error = new Error(message);
    error.status = response.status;
    throw error;
  }
  return await response.json();
}

async function withToken(load) {
  for (;;) {
    try {
      return await load();
    } catch (error) {
      if (!(error instanceof AuthError)) throw error;
      setStatus("Waiting for the bearer token\u2026");
      await askToken(error.message);
    }
  }
}

function setupToken() {
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const token = $("token-input").value.trim();
    if (!token) return;
    sessionStorage.setItem(TOKEN_KEY, token);
    $("token-dialog").close();
    for (const resolve of tokenWaiters.splice(0)) resolve();
  });
  $("token-button").addEventListener("click", () => askToken("").then(() => location.reload()));
  $("token-forget").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    $("token-input").value = "";
    $("token-error").textContent = "Forgotten: this tab no longer holds a token.";
  });
}

async function showIndex() {
  const data = await withToken(() => api("/api/apps"));
  const body = $("apps");
  body.replaceChildren();
  for (const entry of data.apps) {
    const merged = entry.uploadsMerged === null
      ? el("td", { class: "num muted-cell", text: "not counted", title: "This profile was merged before autopgo counted uploads" })
      : el("td", { class: "num", text: int(entry.uploadsMerged) + (entry.uploadsMerged === 1 ? " upload" : " uploads") });
    body.append(el("tr", {}, [
      el("td", {}, [el("a", { href: "/app/" + encodeURIComponent(entry.app), text: entry.app })]),
      el("td", { class: "num", text: bytes(entry.bytes), title: int(entry.bytes) + " bytes" }),
      el("td", { class: "num", text: age(entry.lastModified), title: new Date(entry.lastModified).toLocaleString() }),
      merged,
    ]));
  }
  const n = data.apps.length;
  setStatus(n === 0 ? "No merged profiles yet." : n + (n === 1 ? " app" : " apps") + " with a merged profile");
  if (n === 0) {
    $("more").append(el("section", { class: "card empty" }, [
      "Upload a Go CPU profile and it appears here once merged:",
      el("code", { text: "curl --data-binary @cpu.pprof " + location.origin + "/api/profile/my-service" }),
    ]));
  }
}

function stat(id, text, title, cls) {
  const node = $("stat-" + id);
  node.textContent = text;
  node.title = title || text;
  if (cls) node.classList.add(cls);
}

// A function name as text with line-break opportunities after "/", "." and ",".
function fnText(name) {
  const parts = name.split(/(?<=[/.,])/);
  const nodes = [];
  parts.forEach((part, i) => {
    if (i > 0) nodes.push(document.createElement("wbr"));
    nodes.push(part);
  });
  return nodes;
}

// headers: [title, class]; rows of cells: [text, class, title]. A cell whose class has "fn" is a
// function name. Rows beyond limit wait behind a "Show more" button. Cells carry their column's
// title as data-label (narrow screens show it instead of the header).
function table(headers, rows, limit, cls) {
  const head = el("tr", {}, headers.map((h) => el("th", { class: h[1] || "", text: h[0] })));
  const row = (cells) =>
    el("tr", {}, cells.map((c, i) => {
      const fn = (c[1] || "").split(" ").includes("fn");
      return el("td", { class: c[1] || "", title: c[2], "data-label": headers[i][0] }, fn ? fnText(c[0]) : [c[0]]);
    }));
  const body = el("tbody", {}, rows.slice(0, limit).map(row));
  if (rows.length > limit) {
    const button = el("button", { type: "button", text: "Show " + int(rows.length - limit) + " more" });
    const more = el("tr", {}, [el("td", { class: "more", colspan: headers.length }, [button])]);
    button.addEventListener("click", () => more.replaceWith(...rows.slice(limit).map(row)));
    body.append(more);
  }
  return el("div", { class: "table-wrap" }, [el("table", { class: cls }, [el("thead", {}, [head]), body])]);
}

const TOP_ROWS = 20;

function explainSection(r) {
  const e = r.explain;
  const hot = el("section", { class: "card" }, [el("div", { class: "card-head" }, [el("h2", { text: "Hot call sites" }), el("span", { class: "muted", text: "PGO inlining" })])]);
  const dev = el("section", { class: "card" }, [el("div", { class: "card-head" }, [el("h2", { text: "Devirtualization candidates" }), el("span", { class: "muted", text: "heaviest callee per call site" })])]);
  if (e.ignoredReason) {
    hot.append(el("p", { class: "lead", text: "The Go compiler ignores this profile: " + e.ignoredReason + "." }));
    dev.append(el("p", { class: "lead", text: "No candidates." }));
  } else {
    hot.append(el("p", { class: "lead", text: int(e.hotEdges.length) + " of " + int(e.edgeCount) + " call edges are hot (" + e.thresholdPercent + "% CDF of weight " + int(e.totalWeight) + " " + e.sampleType + "), at " + int(e.hotCallSiteCount) + " call sites; " + int(e.hotCallees.length) + " hot callees get the large inline budget." }));
    hot.append(table(
      [["Weight", "num"], ["Share", "num"], ["Cum", "num"], ["Caller"], ["Offset"], ["Callee"]],
      e.hotEdges.map((h) => [[int(h.weight), "num"], [pct2(h.share), "num"], [pct2(h.cumulativeShare), "num"], [h.caller, "fn caller"], ["+" + h.callSiteOffset, "off"], [h.callee, "fn callee"]]),
      TOP_ROWS,
      "edges",
    ));
    dev.append(el("p", { class: "lead", text: "What PGO devirtualization tests for first at an indirect call (" + int(e.devirtualization.length) + " call sites)." }));
    dev.append(table(
      [["Weight", "num"], ["Share", "num"], ["Site share", "num"], ["Caller"], ["Offset"], ["Callee"]],
      e.devirtualization.map((c) => [[int(c.weight), "num"], [pct2(c.share), "num"], [pct2(c.siteShare), "num", "of " + c.calleeCount + (c.calleeCount === 1 ? " callee" : " callees")], [c.caller, "fn caller"], ["+" + c.callSiteOffset, "off"], [c.callee + (c.tiedWith.length ? " (tied with " + c.tiedWith.join(", ") + ")" : ""), "fn callee"]]),
      TOP_ROWS,
      "edges",
    ));
  }
  return el("div", { class: "section" }, [hot, dev]);
}

function inspectSection(r) {
  const s = r.summary;
  const c = s.counts;
  const rows = [
    ["Sample types", s.sampleTypes.join(", ") + (s.defaultSampleType ? " (default " + s.defaultSampleType + ")" : "")],
    ["Period", s.periodType ? s.period + " " + s.periodType : String(s.period)],
    ["Duration", s.durationNanos > 0 ? (s.durationNanos / 1e9).toFixed(2) + "s" : "-"],
    ["Time", s.time || "-"],
    ["Sizes", c.samples + " samples, " + c.locations + " locations, " + c.functions + " functions, " + c.mappings + " mappings, " + c.strings + " strings"],
    ["Totals", s.totals.map((t) => t.total + " " + t.type + "/" + t.unit).join(", ") || "-"],
  ];
  const ni = s.noInline || { guards: [], functions: [] };
  if (ni.guards.length > 0 || ni.functions.length > 0) {
    rows.push(["No-inline", (ni.guards.length === 0 ? "no guard recorded" : ni.guards.length + " guard" + (ni.guards.length === 1 ? "" : "s") + " applied (" + ni.guards.join(", ") + ")") + "; " +
      (ni.functions.length === 0 ? "no function of this profile matches" : "renamed, so PGO inlines them nowhere and nothing into them: " + ni.functions.join(", "))]);
  }
  const kv = el("dl", { class: "kv", id: "summary" });
  for (const [k, v] of rows) kv.append(el("dt", { text: k }), el("dd", { text: v }));
  kv.append(el("dt", { text: "PGO" }), el("dd", {}, [s.pgo.usable
    ? el("span", { class: "badge good", text: "usable" })
    : el("span", { class: "badge bad", text: "not usable" }), s.pgo.usable ? "" : " " + s.pgo.reasons.join("; ")]));
  const total = (s.totals.find((t) => t.type + "/" + t.unit === s.rankedBy) || { total: 0 }).total;
  const unit = s.rankedBy.split("/")[1] || "";
  const top = (title, list, id) => el("div", { id: id }, [
    el("h3", { text: title + " (" + (s.rankedBy || "no sample types") + ")" }),
    table(
      [["Flat", "num opt"], ["Flat%", "num"], ["Cum", "num opt"], ["Cum%", "num"], ["Function"]],
      list.map((f) => [[value(f.flat, unit), "num opt", int(f.flat)], [pct(f.flat, total), "num"], [value(f.cum, unit), "num opt", int(f.cum)], [pct(f.cum, total), "num"], [f.name, "fn"]]),
      TOP_ROWS,
      "top",
    ),
  ]);
  return el("section", { class: "card section" }, [
    el("div", { class: "card-head" }, [el("h2", { text: "Inspect summary" }), el("span", { class: "muted", text: "autopgo inspect of the merged profile" })]),
    kv,
    el("div", { class: "tables" }, [top("Top " + s.topFlat.length + " by flat", s.topFlat, "top-flat"), top("Top " + s.topCum.length + " by cum", s.topCum, "top-cum")]),
  ]);
}

function showFlame(flame) {
  const box = $("flame");
  $("flame-type").textContent = flame.sampleType ? flame.sampleType + " \u00b7 total " + value(flame.total, flame.unit) : "";
  if (flame.total === 0) {
    box.append(el("div", { class: "placeholder", text: "No samples with weight to draw." }));
    return;
  }
  const details = $("details");
  const idle = "Hover or tap a frame to see its weight; click to zoom in." + (flame.omitted ? " " + int(flame.omitted) + " frames narrower than 0.001% are left out." : "");
  details.textContent = idle;
  const graph = createFlameGraph(box, flame, {
    onHover(f) {
      if (!f) {
        details.textContent = idle;
        return;
      }
      details.replaceChildren(
        el("span", { class: "name", text: f.name }),
        value(f.total, flame.unit) + " (" + (f.share * 100).toFixed(2) + "% of all)" + (f.self > 0 ? " \u00b7 self " + value(f.self, flame.unit) : "") + " \u00b7 depth " + f.depth,
      );
    },
    onZoom(zoomed) {
      $("reset").disabled = !zoomed;
    },
  });
  if (flame.maxLocations <= 2) {
    box.append(el("div", { class: "note", text: "Only the leaf and its caller are stored: the worker keeps what Go PGO reads (--compaction pgo). Run it with --compaction none to keep whole stacks." }));
  }
  $("reset").addEventListener("click", () => graph.reset());
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && document.activeElement !== $("search")) graph.reset();
  });
  let timer = 0;
  $("search").addEventListener("input", (e) => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      const text = e.target.value;
      const result = graph.search(text);
      $("matches").textContent = text.trim() ? int(result.frames) + (result.frames === 1 ? " frame matches" : " frames match") + " \u00b7 " + (result.share * 100).toFixed(1) + "% of the total" : "";
    }, 120);
  });
}

async function showApp() {
  const app = document.body.dataset.app;
  const base = "/api/profile/" + encodeURIComponent(app);
  let report, flame;
  try {
    [report, flame] = await withToken(() => Promise.all([api(base + "/report"), api(base + "/flamegraph")]));
  } catch (error) {
    if (error.status === 404) {
      setStatus("No merged profile for this app (yet).");
      $("flame").append(el("div", { class: "placeholder", text: "Nothing to draw." }));
      return;
    }
    throw error;
  }
  const s = report.summary;
  const ranked = s.totals.find((t) => t.type + "/" + t.unit === s.rankedBy);
  stat("total", ranked ? value(ranked.total, ranked.unit) : "-", ranked ? int(ranked.total) + " " + s.rankedBy : "");
  stat("samples", int(s.counts.samples));
  stat("duration", s.durationNanos > 0 ? seconds(s.durationNanos) : "-");
  stat("uploads", report.uploadsMerged === null ? "not counted" : int(report.uploadsMerged));
  stat("size", bytes(report.bytes), int(report.bytes) + " bytes");
  stat("updated", age(report.lastModified), new Date(report.lastModified).toLocaleString());
  stat("pgo", s.pgo.usable ? "usable" : "not usable", s.pgo.usable ? "Go's PGO reads this profile" : s.pgo.reasons.join("; "), s.pgo.usable ? "good" : "bad");
  const uploads = report.uploadsMerged === null ? "" : int(report.uploadsMerged) + (report.uploadsMerged === 1 ? " upload" : " uploads") + " merged \u00b7 ";
  setStatus(uploads + "updated " + age(report.lastModified));
  showFlame(flame);
  $("more").append(explainSection(report), inspectSection(report));
}

async function main() {
  setupToken();
  try {
    if (page === "index") await showIndex();
    else if (page === "app") await showApp();
  } catch (error) {
    setStatus("Could not load: " + (error && error.message ? error.message : String(error)), true);
  }
}

main();
`;
