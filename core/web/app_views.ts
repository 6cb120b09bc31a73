/**
 * What the web page shows about one app's merged profile, computed from one version of its base:
 * the `inspect` summary, the `explain` report and the flame graph, as the JSON bytes the routes
 * send (profile_views.ts caches them by version and runs this as a profile job).
 *
 * @module
 */

import { readBaseState } from "../pipeline/base_state.ts";
import { type WindowRange, windowRangeOf } from "../pipeline/window_view.ts";
import { decodeProfile } from "../pprof/decode.ts";
import { edgeMap } from "../pprof/edges.ts";
import { ProfileError } from "../pprof/errors.ts";
import { explainEdgeMap, type ExplainReport } from "../pprof/explain.ts";
import { type ProfileSummary, summarizeProfile } from "../pprof/summary.ts";
import { flameGraph } from "./flame_graph.ts";

/** One entry of `GET /api/apps`. */
export interface AppListEntry {
  app: string;
  /** Size of the merged profile in bytes. */
  bytes: number;
  /** When the merged profile was last written (ISO-8601). */
  lastModified: string;
  /** Uploads merged into it; null when the base predates the count. */
  uploadsMerged: number | null;
  /** The retention windows it covers (issue 14); null when it is not built from windows. */
  windows: WindowRange | null;
}

/** Body of `GET /api/profile/:app/report`. */
export interface AppReport extends AppListEntry {
  /** What `autopgo inspect --json` prints about the merged profile (top 20). */
  summary: ProfileSummary;
  /** What `autopgo explain --json` prints (99% CDF); `ignoredReason` says why when the compiler would not use it. */
  explain: ExplainReport;
}

/** Rows per top list in the report (as `inspect --top 20`). */
export const REPORT_TOP = 20;

/** An app's report and flame graph as the JSON the routes send, serialised once per version. */
export interface ViewsJson {
  report: Uint8Array<ArrayBuffer>;
  flame: Uint8Array<ArrayBuffer>;
}

/**
 * Computes the views of the base `data` of `app`, last written at `modified` (pure; throws
 * ProfileError when the base does not decode). Runs as a profile job (profile_jobs.ts), off the
 * thread that serves HTTP.
 */
export function computeViewsJson(app: string, data: Uint8Array, modified: Date): ViewsJson {
  const profile = decodeProfile(data);
  const summary = summarizeProfile(profile, { top: REPORT_TOP });
  const rankedIndex = profile.sampleType.findIndex((t) => `${t.type}/${t.unit}` === summary.rankedBy);
  const file = `${app}/default.pgo`;
  let explain: ExplainReport;
  try {
    const map = edgeMap(profile);
    const t = profile.sampleType[map.sampleIndex];
    explain = explainEdgeMap(map, { file, format: "pprof", sampleType: t ? `${t.type}/${t.unit}` : "" });
  } catch (error) {
    if (!(error instanceof ProfileError)) throw error;
    explain = {
      ...explainEdgeMap({ sampleIndex: -1, totalWeight: 0, byWeight: [] }, { file, format: "pprof", sampleType: "" }),
      ignoredReason: error.message,
    };
  }
  const state = readBaseState(profile.comments);
  const merged = state.merged;
  const report: AppReport = {
    app,
    bytes: data.byteLength,
    lastModified: modified.toISOString(),
    uploadsMerged: merged ?? null,
    windows: windowRangeOf(state) ?? null,
    summary,
    explain,
  };
  const flame = flameGraph(profile, rankedIndex);
  const encode = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
  return { report: encode(report), flame: encode(flame) };
}
