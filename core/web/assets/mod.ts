/**
 * The web page's static assets — stylesheet, script and icon — as TypeScript string constants, so
 * they ship inside the program (`deno compile`, `deno bundle`) and the page works offline, with
 * nothing fetched from any other host. Each is served at a path carrying a hash of its content,
 * so browsers may cache it for good and still get the new one after an upgrade.
 *
 * @module
 */

import { FLAME_SCRIPT } from "./flame_script.ts";
import { PAGE_SCRIPT } from "./page_script.ts";
import { STYLE } from "./style.ts";

/** One asset: its body and content type. */
export interface Asset {
  body: string;
  contentType: string;
}

const ICON = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">
<rect width="32" height="32" rx="7" fill="#1f2430"/>
<rect x="5" y="21" width="22" height="5" rx="1.5" fill="#e8553e"/>
<rect x="5" y="15" width="14" height="5" rx="1.5" fill="#f08a3c"/>
<rect x="20" y="15" width="7" height="5" rx="1.5" fill="#f3b43f"/>
<rect x="5" y="9" width="8" height="5" rx="1.5" fill="#f3b43f"/>
</svg>
`;

const ASSETS = {
  style: { name: "autopgo.css", body: STYLE, contentType: "text/css; charset=utf-8" },
  script: {
    name: "autopgo.js",
    body: `${FLAME_SCRIPT}\n${PAGE_SCRIPT}`,
    contentType: "text/javascript; charset=utf-8",
  },
  icon: { name: "autopgo.svg", body: ICON, contentType: "image/svg+xml" },
};

/** The names of the assets. */
export type AssetKind = keyof typeof ASSETS;

/** FNV-1a of `text` in 8 hex digits: enough to tell versions of an asset apart. */
function contentHash(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(16).padStart(8, "0");
}

const PATHS = new Map<string, Asset>();
const PATH_OF = {} as Record<AssetKind, string>;
for (const [kind, asset] of Object.entries(ASSETS) as [AssetKind, (typeof ASSETS)[AssetKind]][]) {
  const path = `/assets/${contentHash(asset.body)}/${asset.name}`;
  PATH_OF[kind] = path;
  PATHS.set(path, { body: asset.body, contentType: asset.contentType });
}

/** The URL path `kind` is served at. */
export function assetPath(kind: AssetKind): string {
  return PATH_OF[kind];
}

/** The asset served at `path`, or undefined. */
export function assetAt(path: string): Asset | undefined {
  return PATHS.get(path);
}
