/**
 * The `azblob://` driver: URL and credential rules without a service, then the shared blob
 * conformance suite, pagination, credential failures and the cloud suite against a real
 * Azurite (skipped with a reason when it is not installed, failing under CI=true).
 *
 * The conformance suite opens stores through `openBlobStore`, which reads credentials from
 * the process environment, so this file sets `AZURE_STORAGE_ACCOUNT` / `AZURE_STORAGE_KEY` to
 * Azurite's public development account while its tests run.
 *
 * @module
 */

import assert from "node:assert/strict";
import { BlobError } from "../../core/blob.ts";
import { Bucket } from "../../core/blob_bucket.ts";
import { openBlobStore } from "../../core/registry.ts";
import { registerBuiltinDrivers } from "../mod.ts";
import { blobConformance } from "../../tests/support/blob_conformance.ts";
import { cloudBlobSuite } from "../../tests/support/cloud_blob_suite.ts";
import {
  type Azurite,
  AZURITE_ACCOUNT,
  AZURITE_KEY,
  azuriteBinary,
  startAzurite,
} from "../../tests/support/services/azurite.ts";
import { serviceSkip } from "../../tests/support/services/service.ts";
import { azureBlobSettings, openAzureBlob } from "./azure_blob.ts";

const enc = (text: string) => new TextEncoder().encode(text);
const envOf = (vars: Record<string, string>) => (name: string) => vars[name];
const settings = (url: string, vars: Record<string, string>) => azureBlobSettings(new URL(url), envOf(vars));
const SHARED = { AZURE_STORAGE_ACCOUNT: "myaccount", AZURE_STORAGE_KEY: "a2V5" };

Deno.test("azblob: service endpoints follow gocloud's domain, protocol, cdn and localemu rules", () => {
  assert.equal(settings("azblob://profiles", SHARED).serviceUrl, "https://myaccount.blob.core.windows.net");
  assert.equal(
    settings("azblob://profiles?domain=blob.core.chinacloudapi.cn&protocol=http", SHARED).serviceUrl,
    "http://myaccount.blob.core.chinacloudapi.cn",
  );
  assert.equal(
    settings("azblob://profiles?cdn=true&domain=cdn.example.com", SHARED).serviceUrl,
    "https://cdn.example.com",
  );
  assert.equal(
    settings("azblob://profiles?localemu=true&domain=azurite:10000&protocol=http", SHARED).serviceUrl,
    "http://azurite:10000/myaccount",
  );
  assert.equal(settings("azblob://profiles?localemu=1", SHARED).serviceUrl, "http://127.0.0.1:10000/myaccount");
  assert.equal(
    settings("azblob://profiles?domain=localhost:10000", SHARED).serviceUrl,
    "http://localhost:10000/myaccount",
  );
  const fromEnv = settings("azblob://profiles", {
    ...SHARED,
    AZURE_STORAGE_DOMAIN: "127.0.0.1:9",
    AZURE_STORAGE_PROTOCOL: "https",
  });
  assert.equal(fromEnv.serviceUrl, "https://127.0.0.1:9/myaccount");
  const other = settings("azblob://profiles?storage_account=other&prefix=team/a/", SHARED);
  assert.equal(other.serviceUrl, "https://other.blob.core.windows.net");
  assert.deepEqual(other.auth, { kind: "shared-key", account: "other", key: "a2V5" });
  assert.equal(other.prefix, "team/a/");
  assert.equal(other.container, "profiles");
});

Deno.test("azblob: malformed URLs fail with one line naming the parameter and the fix", () => {
  const cases: [string, RegExp][] = [
    ["azblob://profiles?region=x", /unknown parameter "region" \(known: prefix, domain/],
    ["azblob://profiles?cdn=maybe", /cdn=maybe: expected true or false/],
    ["azblob://profiles?protocol=ftp", /protocol=ftp: expected http or https/],
    ["azblob://profiles?domain=https://x.net", /domain=https:\/\/x.net: expected a host name/],
    ["azblob://profiles?prefix=team", /prefix="team" must be a folder path ending in "\/"/],
    ["azblob://profiles?prefix=../x/", /prefix="..\/x\/" must be a folder path/],
    ["azblob://Profiles", /invalid container name "Profiles"/],
    ["azblob://ab", /invalid container name "ab"/],
    ["azblob://a--b", /invalid container name/],
    ["azblob://profiles/team", /unexpected path "\/team"; put a key prefix in prefix=team\//],
    ["azblob://profiles:99", /a port does not belong/],
    ["azblob://user:secret@profiles", /credentials do not belong in the URL/],
    ["azblob://profiles?storage_account=Bad_Name", /invalid storage account "Bad_Name"/],
  ];
  for (const [url, pattern] of cases) {
    assert.throws(() => settings(url, SHARED), (e) => {
      assert.ok(e instanceof Error && pattern.test(e.message), `${url}: ${(e as Error).message}`);
      assert.ok(!e.message.includes("\n") && !e.message.includes("secret"), e.message);
      return true;
    });
  }
});

Deno.test("azblob: credentials come from shared key, SAS token or connection string, in that order", () => {
  assert.equal(settings("azblob://c-1", { ...SHARED, AZURE_STORAGE_SAS_TOKEN: "sv=1" }).auth.kind, "shared-key");
  const sas = settings("azblob://c-1", { AZURE_STORAGE_ACCOUNT: "acct", AZURE_STORAGE_SAS_TOKEN: "?sv=1&sig=abc" });
  assert.deepEqual(sas.auth, { kind: "sas", account: "acct", token: "sv=1&sig=abc" });
  const conn = "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=a2V5;EndpointSuffix=core.windows.net";
  const fromConn = settings("azblob://c-1?prefix=p/", { AZURE_STORAGE_CONNECTION_STRING: conn });
  assert.deepEqual(fromConn.auth, {
    kind: "connection-string",
    variable: "AZURE_STORAGE_CONNECTION_STRING",
    connectionString: conn,
  });
  assert.equal(fromConn.serviceUrl, undefined);
  assert.equal(settings("azblob://c-1", { AZURE_STORAGEBLOB_CONNECTIONSTRING: conn }).auth.kind, "connection-string");
});

Deno.test("azblob: missing or conflicting credentials fail with one line naming the variables", () => {
  const failsWith = (url: string, vars: Record<string, string>, pattern: RegExp) =>
    assert.throws(
      () => settings(url, vars),
      (e) => e instanceof Error && pattern.test(e.message) && !/\n/.test(e.message),
    );
  failsWith(
    "azblob://c-1",
    {},
    /no credentials: set AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN, or AZURE_STORAGE_CONNECTION_STRING \(DefaultAzureCredential is not supported: it needs @azure\/identity/,
  );
  failsWith("azblob://c-1", { AZURE_STORAGE_KEY: "a2V5" }, /AZURE_STORAGE_KEY needs AZURE_STORAGE_ACCOUNT/);
  failsWith("azblob://c-1", { AZURE_STORAGE_SAS_TOKEN: "sv=1" }, /AZURE_STORAGE_SAS_TOKEN needs AZURE_STORAGE_ACCOUNT/);
  // A SAS token rides on every request: the URL may not send it elsewhere than the environment says.
  failsWith(
    "azblob://c-1?domain=evil.example.com",
    { AZURE_STORAGE_ACCOUNT: "acct", AZURE_STORAGE_SAS_TOKEN: "sig=s" },
    /with AZURE_STORAGE_SAS_TOKEN the URL may not change the service endpoint/,
  );
  failsWith(
    "azblob://c-1?localemu=true",
    { AZURE_STORAGE_CONNECTION_STRING: "UseDevelopmentStorage=true" },
    /localemu cannot be combined with AZURE_STORAGE_CONNECTION_STRING, which names its own endpoint/,
  );
});

const azuriteSkip = serviceSkip("azurite", azuriteBinary() !== undefined, "npm azurite under the service cache");
/** One Azurite for the whole file, started before any test so no test owns its process. */
const azurite = azuriteSkip ? undefined : await startAzurite();
if (azurite) {
  globalThis.addEventListener("unload", () => azurite.stopNow());
  Deno.env.set("AZURE_STORAGE_ACCOUNT", AZURITE_ACCOUNT);
  Deno.env.set("AZURE_STORAGE_KEY", AZURITE_KEY);
  registerBuiltinDrivers();
}
let containers = 0;

function service(): Azurite {
  if (!azurite) throw new Error("azurite is not running");
  return azurite;
}

/** A fresh container with two decoy blobs outside `tenant/`, and the prefixed store's URL. */
async function freshContainer(): Promise<{ az: Azurite; name: string; url: string }> {
  const az = service();
  const name = `conf-${++containers}-${crypto.randomUUID().slice(0, 8)}`;
  await az.createContainer(name);
  const raw = await openAzureBlob(new URL(az.url(name)));
  await raw.write("outside", enc("decoy"), {});
  await raw.write("tenant.txt/x", enc("decoy"), {});
  return { az, name, url: az.url(name, { prefix: "tenant/" }) };
}

blobConformance("azblob (Azurite)", async () => {
  const { az, name, url } = await freshContainer();
  return { store: await openBlobStore(url), cleanup: () => az.deleteContainer(name) };
}, {
  skip: azuriteSkip,
  openMissing: () => openBlobStore(service().url("no-such-container")),
});

Deno.test(
  { name: "azblob: listings follow continuation across small pages", ignore: Boolean(azuriteSkip) },
  async () => {
    const az = service();
    const name = `pages-${crypto.randomUUID().slice(0, 8)}`;
    await az.createContainer(name);
    try {
      const store = new Bucket(await openAzureBlob(new URL(az.url(name)), { pageSize: 2 }));
      const keys = ["a/1", "a/2", "b/1", "c/x/1", "d", "e/1", "e/2"];
      for (const key of keys) await store.write(key, enc(key));
      const listed: string[] = [];
      for await (const info of store.list("")) listed.push(info.key);
      assert.deepEqual(listed, keys);
      const folders: string[] = [];
      for await (const folder of store.listPrefixes("")) folders.push(folder);
      assert.deepEqual(folders, ["a/", "b/", "c/", "e/"]);
      await store.close();
    } finally {
      await az.deleteContainer(name);
    }
  },
);

Deno.test(
  { name: "azblob: SAS tokens and connection strings reach the container too", ignore: Boolean(azuriteSkip) },
  async () => {
    const az = service();
    const name = `creds-${crypto.randomUUID().slice(0, 8)}`;
    await az.createContainer(name);
    try {
      const { ContainerSASPermissions } = await import("@azure/storage-blob");
      const keyed = await openAzureBlob(new URL(az.url(name)), { env: envOf(az.env) });
      const sasUrl = await keyed.client.generateSasUrl({
        permissions: ContainerSASPermissions.parse("racwdl"),
        expiresOn: new Date(Date.now() + 3_600_000),
      });
      const token = new URL(sasUrl).search.slice(1);
      const viaSas = await openAzureBlob(new URL(`azblob://${name}?prefix=sas/`), {
        env: envOf({
          AZURE_STORAGE_ACCOUNT: AZURITE_ACCOUNT,
          AZURE_STORAGE_SAS_TOKEN: token,
          AZURE_STORAGE_DOMAIN: az.domain,
          AZURE_STORAGE_IS_LOCAL_EMULATOR: "true",
        }),
      });
      const viaConnection = await openAzureBlob(new URL(`azblob://${name}`), {
        env: envOf({ AZURE_STORAGE_CONNECTION_STRING: az.connectionString }),
      });
      for (const driver of [viaSas, viaConnection]) {
        assert.ok(!/sig=|AccountKey|Eby8/.test(driver.description), driver.description);
        assert.match(driver.description, new RegExp(`azblob container "${name}" \\(${az.serviceUrl}`));
        const store = new Bucket(driver, { attempts: 1 });
        await store.check();
        const version = await store.write("k", enc("via " + driver.description));
        assert.equal((await store.read("k")).version, version);
      }
      const listed: string[] = [];
      for await (const info of new Bucket(viaConnection).list("")) listed.push(info.key);
      assert.deepEqual(listed, ["k", "sas/k"], "the SAS store wrote below its prefix");
    } finally {
      await az.deleteContainer(name);
    }
  },
);

Deno.test({ name: "azblob: a wrong key fails with one permission line", ignore: Boolean(azuriteSkip) }, async () => {
  const az = service();
  const name = `auth-${crypto.randomUUID().slice(0, 8)}`;
  await az.createContainer(name);
  try {
    const wrongKey = btoa("not the key of devstoreaccount1");
    const driver = await openAzureBlob(new URL(az.url(name)), {
      env: envOf({ AZURE_STORAGE_ACCOUNT: AZURITE_ACCOUNT, AZURE_STORAGE_KEY: wrongKey }),
    });
    const store = new Bucket(driver, { attempts: 1 });
    for (const attempt of [() => store.check(), () => store.write("k", enc("x")), () => store.read("k")]) {
      await assert.rejects(attempt, (e) => {
        assert.ok(e instanceof BlobError && e.kind === "permission", String(e));
        assert.match(
          e.message,
          /access denied \(Authori[sz]ationFailure|AuthenticationFailed\); check AZURE_STORAGE_ACCOUNT/,
        );
        assert.match(e.message, new RegExp(`azblob container "${name}"`));
        assert.ok(!e.message.includes("\n") && !e.message.includes(wrongKey), e.message);
        return true;
      });
    }
  } finally {
    await az.deleteContainer(name);
  }
});

Deno.test({
  name: "azblob: an unreachable endpoint is unavailable at once (no SDK retries)",
  ignore: Boolean(azuriteSkip),
}, async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const driver = await openAzureBlob(new URL(`azblob://gone?localemu=true&domain=127.0.0.1:${port}`), {
    env: envOf({ AZURE_STORAGE_ACCOUNT: AZURITE_ACCOUNT, AZURE_STORAGE_KEY: AZURITE_KEY }),
  });
  const started = Date.now();
  const error = await driver.check().then(() => undefined, (e: unknown) => e);
  assert.ok(error !== undefined, "check of a closed port must fail");
  assert.equal(driver.errorKind(error), "unavailable");
  // The SDK's default policy would retry with seconds of backoff; the Bucket owns retries instead.
  assert.ok(Date.now() - started < 3_000, `took ${Date.now() - started} ms`);
});

cloudBlobSuite("azblob (Azurite)", {
  skip: azuriteSkip,
  async start() {
    const az = await startAzurite();
    return {
      url: (container) => az.url(container),
      env: az.env,
      createBucket: (container) => az.createContainer(container),
      restart: (downtimeMs) => az.restart(downtimeMs),
      wrongCredentials: (container) => ({
        url: az.url(container),
        env: { AZURE_STORAGE_ACCOUNT: AZURITE_ACCOUNT, AZURE_STORAGE_KEY: btoa("not the key of devstoreaccount1") },
      }),
      stop: () => az.stop(),
    };
  },
});
