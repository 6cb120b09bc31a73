/**
 * A local stand-in for GitHub's release downloads on 127.0.0.1, with github.com's URL layout, so
 * install.sh and the GitHub Action are tested against the paths and redirects they meet for real:
 *
 * - `GET /OWNER/NAME/releases/latest` → 302 to `/OWNER/NAME/releases/tag/<latest tag>` (a page)
 * - `GET /OWNER/NAME/releases/latest/download/<asset>` → 302 to the asset of the latest tag
 * - `GET /OWNER/NAME/releases/download/<tag>/<asset>` → 302 to `/release-assets/…` (GitHub serves
 *   asset bytes from another host), which answers 200 with the file
 * - anything else: 404
 *
 * Each release is a directory whose files are its assets. Every request path is logged.
 *
 * @module
 */

import { join } from "node:path";

/** A running release server. */
export interface ReleaseServer {
  /** `http://127.0.0.1:PORT`, what the runner calls GITHUB_SERVER_URL. */
  readonly origin: string;
  /** `http://127.0.0.1:PORT/OWNER/NAME/releases`, what install.sh calls AUTOPGO_RELEASE_URL. */
  readonly releasesUrl: string;
  /** Paths requested so far, in order. */
  readonly requests: string[];
  close(): Promise<void>;
}

/** Options of {@link startReleaseServer}. */
export interface ReleaseServerOptions {
  /** `owner/name` of the repository. */
  repo: string;
  /** Tag → directory of its assets. */
  releases: Record<string, string>;
  /** The tag `latest` points at. */
  latest: string;
}

async function asset(dir: string, name: string): Promise<Uint8Array<ArrayBuffer> | undefined> {
  if (!/^[A-Za-z0-9._-]+$/.test(name)) return undefined;
  try {
    return await Deno.readFile(join(dir, name));
  } catch {
    return undefined;
  }
}

/** Serves `releases` under `/<repo>/releases/` on a free port of 127.0.0.1. */
export function startReleaseServer(options: ReleaseServerOptions): ReleaseServer {
  const requests: string[] = [];
  const prefix = `/${options.repo}/releases`;
  const redirect = (location: string) => new Response(null, { status: 302, headers: { location } });
  const notFound = () => new Response("Not Found", { status: 404 });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (request) => {
    const path = new URL(request.url).pathname;
    requests.push(path);
    const stored = path.match(/^\/release-assets\/([^/]+)\/([^/]+)$/);
    if (stored) {
      const dir = options.releases[decodeURIComponent(stored[1])];
      const bytes = dir ? await asset(dir, decodeURIComponent(stored[2])) : undefined;
      return bytes ? new Response(bytes, { headers: { "content-type": "application/octet-stream" } }) : notFound();
    }
    if (!path.startsWith(`${prefix}/`)) return notFound();
    const rest = path.slice(prefix.length + 1).split("/").map(decodeURIComponent);
    if (rest.length === 1 && rest[0] === "latest") return redirect(`${prefix}/tag/${options.latest}`);
    if (rest.length === 2 && rest[0] === "tag" && options.releases[rest[1]]) {
      return new Response(`<html><title>Release ${rest[1]}</title></html>`, {
        headers: { "content-type": "text/html" },
      });
    }
    if (rest.length === 3 && rest[0] === "latest" && rest[1] === "download") {
      return redirect(`${prefix}/download/${options.latest}/${rest[2]}`);
    }
    if (rest.length === 3 && rest[0] === "download") {
      const dir = options.releases[rest[1]];
      if (dir && await asset(dir, rest[2])) return redirect(`/release-assets/${rest[1]}/${rest[2]}`);
    }
    return notFound();
  });
  const addr = server.addr as Deno.NetAddr;
  return {
    origin: `http://127.0.0.1:${addr.port}`,
    releasesUrl: `http://127.0.0.1:${addr.port}${prefix}`,
    requests,
    close: () => server.shutdown(),
  };
}
