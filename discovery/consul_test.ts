import assert from "node:assert/strict";
import { ConsulTargetSource } from "./consul.ts";
import { consulEntry, startFakeConsul } from "../tests/support/fake_apis.ts";

const signal = new AbortController().signal;
const TAGS = ["autopgo.scrape=true", "autopgo.scrape.app=shop"];

Deno.test("consul discovery returns passing instances only, falling back to the node address", async () => {
  const consul = startFakeConsul([
    consulEntry("shop-api", "10.0.0.1", "10.1.0.1", 7001, [...TAGS, "autopgo.scrape.path=/p"]),
    consulEntry("shop-api", "10.0.0.2", "", 7002, TAGS),
    consulEntry("shop-api", "10.0.0.3", "10.1.0.3", 7003, TAGS, "critical"),
    consulEntry("shop-worker", "fd00::7", "", 7004, [...TAGS, "autopgo.scrape.scheme=https"]),
    consulEntry("other", "10.0.0.9", "", 7009, ["autopgo.scrape=true", "autopgo.scrape.app=other"]),
  ]);
  try {
    const source = new ConsulTargetSource({
      app: "shop",
      env: { CONSUL_HTTP_ADDR: consul.url.replace("http://", ""), CONSUL_HTTP_TOKEN: "consul-test-token" },
    });
    const targets = await source.list(signal);
    assert.deepEqual(targets.map((t) => `${t.address}${t.path ?? ""}`).sort(), [
      "http://10.0.0.2:7002",
      "http://10.1.0.1:7001/p",
      "https://[fd00::7]:7004",
    ]);
    const urls = consul.requests.map((r) => new URL(r.split(" ")[1], consul.url));
    assert.equal(urls[0].pathname, "/v1/catalog/services");
    assert.equal(
      urls[0].searchParams.get("filter"),
      'ServiceTags contains "autopgo.scrape=true" and ServiceTags contains "autopgo.scrape.app=shop"',
    );
    assert.deepEqual(urls.slice(1).map((u) => u.pathname), [
      "/v1/health/service/shop-api",
      "/v1/health/service/shop-worker",
    ]);
    for (const u of urls.slice(1)) {
      assert.equal(u.searchParams.get("passing"), "true");
      assert.equal(
        u.searchParams.get("filter"),
        'Service.Tags contains "autopgo.scrape=true" and Service.Tags contains "autopgo.scrape.app=shop"',
      );
    }
    await source.check(signal);
    source.close();
  } finally {
    await consul.close();
  }
});

Deno.test("consul discovery: token, namespace and outage", async () => {
  const consul = startFakeConsul([consulEntry("shop", "10.0.0.1", "", 1, TAGS)]);
  try {
    const wrong = new ConsulTargetSource({ app: "shop", env: { CONSUL_HTTP_ADDR: consul.url } });
    await assert.rejects(
      wrong.list(signal),
      /^Error: consul: GET \/v1\/catalog\/services answered 403: ACL not found$/,
    );
    const dir = await Deno.makeTempDir();
    await Deno.writeTextFile(`${dir}/token`, "consul-test-token\n");
    const ok = new ConsulTargetSource({
      app: "shop",
      env: { CONSUL_HTTP_ADDR: consul.url, CONSUL_HTTP_TOKEN_FILE: `${dir}/token`, CONSUL_NAMESPACE: "team-a" },
    });
    await Deno.remove(dir, { recursive: true });
    assert.equal((await ok.list(signal)).length, 1);
    assert.equal(new URL(consul.requests.at(-1)!.split(" ")[1], consul.url).searchParams.get("ns"), "team-a");
    consul.outage = true;
    await assert.rejects(ok.list(signal), /consul: GET \/v1\/catalog\/services answered 503: No cluster leader/);
    await assert.rejects(ok.check(signal), /answered 503/);
  } finally {
    await consul.close();
  }
  const ssl = new ConsulTargetSource({ app: "a", env: { CONSUL_HTTP_ADDR: "127.0.0.1:1", CONSUL_HTTP_SSL: "true" } });
  await assert.rejects(ssl.list(signal), /consul: cannot reach https:\/\/127\.0\.0\.1:1/);
  assert.throws(() => new ConsulTargetSource({ app: "a", env: { CONSUL_HTTP_SSL_VERIFY: "false" } }), /SSL_VERIFY/);
});
