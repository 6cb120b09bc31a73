/**
 * `kube` discovery with @kubernetes/client-node (loaded lazily, only in this mode): pods in all
 * namespaces with labels `autopgo.scrape=true,autopgo.scrape.app=<app>` and field selector
 * `status.phase=Running`; only pods with an IP, no deletion timestamp and a `Ready` condition of
 * `True`. Port (required), path and scheme come from the `autopgo.scrape.*` annotations; IPv6
 * pod IPs are bracketed. Config: an optional kubeconfig path, else the in-cluster service account.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { makeTarget, SCRAPE_KEYS, type Target, type TargetSource } from "../core/scrape/target.ts";
import { sdkExports } from "../adapters/sdk_exports.ts";
import { abortable } from "../core/sleep.ts";

/** The parts of a pod that discovery reads (a subset of the client's V1Pod). */
export interface PodLike {
  /** Name, namespace, annotations and deletion timestamp. */
  metadata?: {
    name?: string;
    namespace?: string;
    annotations?: Record<string, string>;
    deletionTimestamp?: unknown;
  };
  /** Phase, IPs and conditions. */
  status?: {
    phase?: string;
    podIP?: string;
    podIPs?: { ip?: string }[];
    conditions?: { type?: string; status?: string }[];
  };
}

/** Label selector of the original, for one app. */
export function kubeLabelSelector(app: string): string {
  return `${SCRAPE_KEYS.scrape}=true,${SCRAPE_KEYS.app}=${app}`;
}

/** Field selector of the original. */
export const KUBE_FIELD_SELECTOR = "status.phase=Running";

/** Why a pod is not a target, or `undefined` when it is one. */
export function podProblem(pod: PodLike): string | undefined {
  if (pod.status?.phase !== "Running") return `phase is ${pod.status?.phase ?? "unknown"}`;
  if (pod.metadata?.deletionTimestamp) return "pod is terminating";
  if (!(pod.status?.podIP || pod.status?.podIPs?.[0]?.ip)) return "pod has no IP yet";
  const ready = pod.status?.conditions?.find((c) => c.type === "Ready");
  if (ready?.status !== "True") return "pod is not ready";
  if (!pod.metadata?.annotations?.[SCRAPE_KEYS.port]) return `annotation ${SCRAPE_KEYS.port} is missing`;
  return undefined;
}

/** Turns listed pods into targets, logging (debug) why a pod is skipped. */
export function podsToTargets(pods: readonly PodLike[]): Target[] {
  const log = getLogger(["autopgo", "scrape", "kube"]);
  const targets: Target[] = [];
  for (const pod of pods) {
    const name = `${pod.metadata?.namespace ?? ""}/${pod.metadata?.name ?? ""}`;
    const problem = podProblem(pod);
    if (problem) {
      log.debug("skipping pod {pod}: {problem}", { pod: name, problem });
      continue;
    }
    const annotations = pod.metadata?.annotations ?? {};
    try {
      targets.push(makeTarget({
        scheme: annotations[SCRAPE_KEYS.scheme],
        host: (pod.status?.podIP || pod.status?.podIPs?.[0]?.ip)!,
        port: annotations[SCRAPE_KEYS.port].trim(),
        path: annotations[SCRAPE_KEYS.path],
      }));
    } catch (e) {
      log.warn("skipping pod {pod}: {error}", { pod: name, error: (e as Error).message });
    }
  }
  return targets;
}

/** Lists pods; injected in tests of the mapping, real client otherwise. */
export type PodLister = (signal: AbortSignal) => Promise<PodLike[]>;

/** Options of {@link KubeTargetSource.open}. */
export interface KubeSourceOptions {
  /** Application whose pods are scraped. */
  app: string;
  /** Path of a kubeconfig file; in-cluster config when absent. */
  kubeconfig?: string;
  /** Environment (default `Deno.env`), for the in-cluster check. */
  env?: Record<string, string | undefined>;
}

/** Targets from the Kubernetes API. */
export class KubeTargetSource implements TargetSource {
  /** Health dependency name. */
  readonly name = "kubernetes";
  readonly #listPods: PodLister;

  /** Wraps a pod lister (tests); use {@link KubeTargetSource.open} for the real API. */
  constructor(listPods: PodLister) {
    this.#listPods = listPods;
  }

  /** Loads the client library and the config; throws one-line errors for missing/bad config. */
  static async open(options: KubeSourceOptions): Promise<KubeTargetSource> {
    const env = options.env ?? Deno.env.toObject();
    if (!options.kubeconfig && !env.KUBERNETES_SERVICE_HOST) {
      throw new Error(
        "kube: not running inside a cluster (KUBERNETES_SERVICE_HOST unset); pass the path of a kubeconfig",
      );
    }
    const k8s = sdkExports(await import("@kubernetes/client-node"));
    const config = new k8s.KubeConfig();
    try {
      if (options.kubeconfig) config.loadFromFile(options.kubeconfig);
      else config.loadFromCluster();
    } catch (e) {
      const where = options.kubeconfig ? `kubeconfig ${options.kubeconfig}` : "in-cluster config";
      throw new Error(`kube: cannot load ${where}: ${oneLine(e)}`);
    }
    if (!config.getCurrentCluster()) {
      throw new Error(`kube: ${options.kubeconfig ?? "config"} has no current cluster (check current-context)`);
    }
    const api = config.makeApiClient(k8s.CoreV1Api);
    const request = {
      labelSelector: kubeLabelSelector(options.app),
      fieldSelector: KUBE_FIELD_SELECTOR,
    };
    return new KubeTargetSource(async (signal) => {
      try {
        const list = await abortable(api.listPodForAllNamespaces(request), signal);
        return list.items as PodLike[];
      } catch (e) {
        if (signal.aborted) throw new Error("kube: pod list aborted");
        throw new Error(`kube: listing pods failed: ${oneLine(e)}`);
      }
    });
  }

  /** Pods that are running, ready and annotated, as targets. */
  async list(signal: AbortSignal): Promise<Target[]> {
    return podsToTargets(await this.#listPods(signal));
  }

  /** Healthy when the pod list call succeeds (the original's check). */
  async check(signal: AbortSignal): Promise<void> {
    await this.#listPods(signal);
  }
}

function oneLine(e: unknown): string {
  const err = e as { code?: number; body?: unknown; message?: string };
  let text = err?.message ?? String(e);
  const body = typeof err?.body === "string" ? safeJson(err.body) : err?.body;
  const message = (body as { message?: unknown })?.message;
  if (typeof err?.code === "number") text = `HTTP ${err.code}${typeof message === "string" ? `: ${message}` : ""}`;
  const line = text.replace(/\s+/g, " ").trim();
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
