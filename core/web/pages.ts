/**
 * The HTML of the web page: a shell per page, rendered with hono's `html` tag, which escapes every
 * interpolated value (the app name from the URL, in text and in attributes). The shells hold no
 * profile data: the script (assets/) fetches it from the JSON endpoints with the bearer token when
 * the server has one, and writes it into the page as text nodes only, never as HTML.
 *
 * Layout stability is decided here: everything above the fold has its final size before any data
 * arrives (stat cards with placeholders, a flame graph box of fixed height, one-line status), and
 * the sections whose size depends on the data are appended below it once loaded, so nothing that
 * is already on screen moves.
 *
 * @module
 */

import { html } from "hono/html";
import type { HtmlEscapedString } from "hono/utils/html";
import { assetPath } from "./assets/mod.ts";

/** What every page needs to know about the server. */
export interface PageContext {
  /** True when the server has a `--token`: the script asks for it before fetching anything. */
  authRequired: boolean;
}

type Html = HtmlEscapedString | Promise<HtmlEscapedString>;

function layout(ctx: PageContext, page: { title: string; kind: string; app?: string }, content: Html): Html {
  return html`
    <!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <meta name="color-scheme" content="light dark">
        <title>${page.title}</title>
        <link rel="icon" href="${assetPath("icon")}" type="image/svg+xml">
        <link rel="stylesheet" href="${assetPath("style")}">
        <script type="module" src="${assetPath("script")}"></script>
      </head>
      <body data-page="${page.kind}" data-auth="${ctx.authRequired ? "required" : "none"}" data-app="${page.app ?? ""}">
        <header class="bar">
          <a class="brand" href="/"><img src="${assetPath("icon")}" width="22" height="22" alt="">autopgo</a>
          <span class="tagline">continuous profile-guided optimisation</span>
          <button type="button" id="token-button" class="ghost" ${ctx.authRequired ? "" : " hidden"}>Token</button>
        </header>
        <main class="wrap">
    ${content}
        </main>
        <dialog id="token-dialog">
          <form id="token-form" method="dialog">
            <h2>Bearer token</h2>
            <p>This server requires the token it was started with (<code>--token</code>). It stays in this
        browser tab only (sessionStorage) and is sent as <code>Authorization: Bearer</code> to the API.</p>
            <label for="token-input">Token</label>
            <input id="token-input" name="token" type="password" autocomplete="off" spellcheck="false" required>
            <p id="token-error" class="error" role="alert"></p>
            <div class="actions">
              <button type="button" id="token-forget" class="ghost">Forget</button>
              <button type="submit" class="primary">Use token</button>
            </div>
          </form>
        </dialog>
      </body>
    </html>
  `;
}

/** The list of apps, at `/`. */
export function indexPage(ctx: PageContext): Html {
  return layout(
    ctx,
    { title: "autopgo — profiles", kind: "index" },
    html`
      <div class="heading">
        <h1>Profiles</h1>
        <p class="status" id="status">Loading…</p>
      </div>
      <section class="card list-card">
        <table class="apps">
          <thead>
            <tr>
              <th>App</th>
              <th class="num">Merged profile</th>
              <th class="num">Updated</th>
              <th class="num">Uploads merged</th>
            </tr>
          </thead>
          <tbody id="apps"></tbody>
        </table>
      </section>
      <div id="more"></div>
    `,
  );
}

const STATS: [id: string, label: string][] = [
  ["total", "Total"],
  ["samples", "Samples"],
  ["duration", "Duration"],
  ["uploads", "Uploads merged"],
  ["size", "Size"],
  ["updated", "Updated"],
  ["pgo", "Go PGO"],
];

/** The page of one app, at `/app/:app`. */
export function appPage(ctx: PageContext, app: string): Html {
  const stats = STATS.map(([id, label]) =>
    html`<div class="stat"><span class="label">${label}</span><span class="value" id="stat-${id}">—</span></div>`
  );
  return layout(
    ctx,
    { title: `${app} — autopgo`, kind: "app", app },
    html`
      <nav class="crumbs"><a href="/">Profiles</a><span aria-hidden="true">/</span><span>${app}</span></nav>
      <div class="heading">
        <h1 class="app-name">${app}</h1>
        <p class="status" id="status">Loading the merged profile…</p>
      </div>
      <section class="stats" id="stats">${stats}</section>
      <section class="card flame-card">
        <div class="card-head">
          <h2>Flame graph</h2>
          <span class="muted" id="flame-type"></span>
        </div>
        <div class="toolbar">
          <input type="search" id="search" placeholder="Search functions" autocomplete="off" spellcheck="false"
            aria-label="Search functions">
          <span class="matches" id="matches"></span>
          <button type="button" id="reset" class="ghost" disabled>Reset zoom</button>
        </div>
        <div class="flame" id="flame"></div>
        <div class="details" id="details">Hover or tap a frame to see its weight; click to zoom in.</div>
      </section>
      <div id="more"></div>
    `,
  );
}

/** A small page for an error on a page route (the message is escaped like everything else). */
export function errorPage(ctx: PageContext, status: number, message: string): Html {
  return layout(
    ctx,
    { title: `${status} — autopgo`, kind: "error" },
    html`
      <div class="heading">
        <h1>${status}</h1>
        <p class="status">${message}</p>
      </div>
      <p><a href="/">Back to the profiles</a></p>
    `,
  );
}
