import assert from "node:assert/strict";
import { NomadTargetSource } from "./nomad.ts";
import { nomadRegistration, startFakeNomad } from "../tests/support/fake_apis.ts";

const signal = new AbortController().signal;
const TAGS = ["autopgo.scrape=true", "autopgo.scrape.app=shop"];

Deno.test("nomad discovery lists tagged registrations of the app across namespaces", async () => {
  const nomad = startFakeNomad([
    nomadRegistration("shop-api", "10.0.0.1", 20001, [...TAGS, "autopgo.scrape.path=/pprof/cpu"]),
    nomadRegistration("shop-api", "10.0.0.2", 20002, TAGS),
    nomadRegistration("shop-web", "fd00::5", 20003, [...TAGS, "autopgo.scrape.scheme=https"], "platform"),
    nomadRegistration("other", "10.0.0.9", 20009, ["autopgo.scrape=true", "autopgo.scrape.app=other"]),
    nomadRegistration("shop-untagged", "10.0.0.8", 20008, ["autopgo.scrape.app=shop"]),
  ]);
  try {
    const source = new NomadTargetSource({
      app: "shop",
      env: { NOMAD_ADDR: nomad.url, NOMAD_TOKEN: "nomad-test-token", NOMAD_REGION: "eu" },
    });
    const targets = await source.list(signal);
    assert.deepEqual(targets.map((t) => `${t.address}${t.path ?? ""}`).sort(), [
      "http://10.0.0.1:20001/pprof/cpu",
      "http://10.0.0.2:20002",
      "https://[fd00::5]:20003",
    ]);
    const filter = 'Tags contains "autopgo.scrape=true" and Tags contains "autopgo.scrape.app=shop"';
    const first = new URL(nomad.requests[0].split(" ")[1], nomad.url);
    assert.equal(first.pathname, "/v1/services");
    assert.equal(first.searchParams.get("namespace"), "*");
    assert.equal(first.searchParams.get("filter"), filter);
    assert.equal(first.searchParams.get("region"), "eu");
    const perService = nomad.requests.slice(1).map((r) => new URL(r.split(" ")[1], nomad.url));
    assert.deepEqual(perService.map((u) => `${u.pathname} ${u.searchParams.get("namespace")}`).sort(), [
      "/v1/service/shop-api default",
      "/v1/service/shop-web platform",
    ]);
    await source.check(signal);
    source.close();
  } finally {
    await nomad.close();
  }
});

Deno.test("nomad discovery: wrong token, outage and bad settings give one-line errors", async () => {
  const nomad = startFakeNomad([nomadRegistration("shop", "10.0.0.1", 1, TAGS)]);
  try {
    const wrong = new NomadTargetSource({ app: "shop", env: { NOMAD_ADDR: nomad.url, NOMAD_TOKEN: "nope" } });
    await assert.rejects(wrong.list(signal), /^Error: nomad: GET \/v1\/services answered 403: Permission denied$/);
    const ok = new NomadTargetSource({
      app: "shop",
      env: { NOMAD_ADDR: nomad.url, NOMAD_TOKEN: "nomad-test-token", NOMAD_NAMESPACE: "default" },
    });
    assert.equal((await ok.list(signal)).length, 1);
    assert.equal(new URL(nomad.requests.at(-2)!.split(" ")[1], nomad.url).searchParams.get("namespace"), "default");
    nomad.outage = true;
    await assert.rejects(ok.list(signal), /answered 503/);
    await assert.rejects(ok.check(signal), /answered 503/);
  } finally {
    await nomad.close();
  }
  assert.throws(() => new NomadTargetSource({ app: "a", env: { NOMAD_ADDR: "ftp://x" } }), /NOMAD_ADDR scheme/);
  assert.throws(() => new NomadTargetSource({ app: "a", env: { NOMAD_SKIP_VERIFY: "true" } }), /NOMAD_SKIP_VERIFY/);
  assert.throws(
    () => new NomadTargetSource({ app: "a", env: { NOMAD_ADDR: "https://h:4646", NOMAD_CACERT: "/nonexistent.pem" } }),
    /cannot read CA certificate \/nonexistent\.pem/,
  );
});
