import assert from "node:assert/strict";
import { KUBE_FIELD_SELECTOR, kubeLabelSelector, KubeTargetSource, podProblem, podsToTargets } from "./kube.ts";
import { fakeKubeconfig, fakePod, startFakeKube } from "../tests/support/fake_apis.ts";

const signal = new AbortController().signal;
const LABELS = { "autopgo.scrape": "true", "autopgo.scrape.app": "shop" };

Deno.test("kube pods map to targets from annotations; unready, IP-less or unannotated pods are skipped", () => {
  const pods = [
    fakePod("a", { labels: LABELS, ip: "10.0.0.1", annotations: { "autopgo.scrape.port": "6060" } }),
    fakePod("b", {
      labels: LABELS,
      ip: "fd00::2",
      annotations: { "autopgo.scrape.port": "8443", "autopgo.scrape.scheme": "https", "autopgo.scrape.path": "/p" },
    }),
    fakePod("c", { labels: LABELS, ip: "10.0.0.3", ready: false, annotations: { "autopgo.scrape.port": "1" } }),
    fakePod("d", { labels: LABELS, annotations: { "autopgo.scrape.port": "1" } }),
    fakePod("e", { labels: LABELS, ip: "10.0.0.5" }),
    fakePod("f", { labels: LABELS, ip: "10.0.0.6", annotations: { "autopgo.scrape.port": "http" } }),
  ];
  assert.deepEqual(podsToTargets(pods), [
    { address: "http://10.0.0.1:6060" },
    { address: "https://[fd00::2]:8443", path: "/p" },
  ]);
  assert.equal(podProblem(pods[2]), "pod is not ready");
  assert.equal(podProblem(pods[3]), "pod has no IP yet");
  assert.match(podProblem(pods[4]) ?? "", /annotation autopgo\.scrape\.port is missing/);
  const terminating = fakePod("g", { labels: LABELS, ip: "10.0.0.7", annotations: { "autopgo.scrape.port": "1" } });
  terminating.metadata.deletionTimestamp = "2026-01-01T00:00:00Z";
  assert.equal(podProblem(terminating), "pod is terminating");
});

Deno.test("kube discovery lists pods through the real client against an API server stand-in", async () => {
  const kube = startFakeKube([
    fakePod("shop-1", { labels: LABELS, ip: "10.0.0.1", annotations: { "autopgo.scrape.port": "6060" } }),
    fakePod("shop-2", {
      labels: LABELS,
      ip: "10.0.0.2",
      phase: "Pending",
      annotations: { "autopgo.scrape.port": "6060" },
    }),
    fakePod("other", {
      labels: { "autopgo.scrape": "true", "autopgo.scrape.app": "other" },
      ip: "10.0.0.3",
      annotations: { "autopgo.scrape.port": "6060" },
    }),
  ]);
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/kubeconfig`, fakeKubeconfig(kube.url));
    const source = await KubeTargetSource.open({ app: "shop", kubeconfig: `${dir}/kubeconfig` });
    assert.deepEqual(await source.list(signal), [{ address: "http://10.0.0.1:6060" }]);
    const url = new URL(kube.requests[0].split(" ")[1], kube.url);
    assert.equal(url.pathname, "/api/v1/pods");
    assert.equal(url.searchParams.get("labelSelector"), kubeLabelSelector("shop"));
    assert.equal(url.searchParams.get("labelSelector"), "autopgo.scrape=true,autopgo.scrape.app=shop");
    assert.equal(url.searchParams.get("fieldSelector"), KUBE_FIELD_SELECTOR);
    await source.check(signal);
    kube.outage = true;
    await assert.rejects(source.list(signal), (e: Error) => /^kube: listing pods failed: HTTP 503/.test(e.message));

    await Deno.writeTextFile(`${dir}/bad-token`, fakeKubeconfig(kube.url, "wrong"));
    kube.outage = false;
    const unauthorized = await KubeTargetSource.open({ app: "shop", kubeconfig: `${dir}/bad-token` });
    await assert.rejects(unauthorized.list(signal), /HTTP 401/);
  } finally {
    await kube.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("kube discovery: missing config is a clear error", async () => {
  await assert.rejects(KubeTargetSource.open({ app: "shop", env: {} }), /not running inside a cluster/);
  await assert.rejects(
    KubeTargetSource.open({ app: "shop", kubeconfig: "/nonexistent/kubeconfig", env: {} }),
    /kube: cannot load kubeconfig \/nonexistent\/kubeconfig/,
  );
});
