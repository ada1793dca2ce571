import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisCloud } from "../../functions/lib/redis-cloud.ts";
import { API_KEYS, CREATE_REQUEST, UPDATE_REQUEST } from "../local/redis-cloud/fixtures.ts";
import { rejectionOf } from "../support/aws.ts";

/*
 * The client's real requests against Prism mocking Redis's own OpenAPI description: Prism
 * validates each request (path, parameters, headers, body) and reports any violation in the
 * `sl-violations` header, which fails the test. The same requests are also checked against the
 * project's own description, local/redis-cloud/openapi.json.
 */

const OFFICIAL_REL = "../shared/redis-cloud-api/openapi-cloud-accounts-subset.json";
const OFFICIAL = fileURLToPath(new URL(`../../${OFFICIAL_REL}`, import.meta.url));
const OWN = fileURLToPath(new URL("../../local/redis-cloud/openapi.json", import.meta.url));
const PRISM = createRequire(import.meta.url).resolve("@stoplight/prism-cli/dist/index.js");
const officialPresent = existsSync(OFFICIAL);

interface Exchange {
  method: string;
  path: string;
  status: number;
  violations: string | null;
}

interface Prism {
  url: string;
  exchanges: Exchange[];
  /** Everything Prism printed, for a failing test's message. */
  output: () => string;
  stop: () => Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

/** Prism's mock server on an ephemeral port, ready once it answers HTTP at all. */
async function startPrism(spec: string): Promise<Prism> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [PRISM, "mock", "--multiprocess=false", "--errors", "-h", "127.0.0.1", "-p", String(port), spec],
    { stdio: ["ignore", "pipe", "pipe"], detached: process.platform !== "win32" },
  );
  let output = "";
  child.stdout?.on("data", (chunk) => {
    output += String(chunk);
  });
  child.stderr?.on("data", (chunk) => {
    output += String(chunk);
  });
  const prism: Prism = {
    url: `http://127.0.0.1:${port}`,
    exchanges: [],
    output: () => output,
    stop: () => stop(child),
  };
  const deadline = Date.now() + 45_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`Prism exited (${child.exitCode}):\n${output}`);
    if (Date.now() > deadline) {
      await prism.stop();
      throw new Error(`Prism did not answer within 45 s:\n${output}`);
    }
    const answered = await fetch(`${prism.url}/v1/cloud-accounts`, {
      signal: AbortSignal.timeout(1000),
    }).then(
      () => true,
      () => false,
    );
    if (answered) return prism;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** Stops Prism and anything it started (its process group), by force if it lingers. */
async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const signal = (name: NodeJS.Signals) => {
    try {
      if (process.platform === "win32") child.kill(name);
      else process.kill(-(child.pid as number), name);
    } catch {
      // Already gone.
    }
  };
  signal("SIGTERM");
  const timeout = new Promise<"timeout">((resolve) => setTimeout(() => resolve("timeout"), 5000).unref());
  if ((await Promise.race([exited, timeout])) === "timeout") {
    signal("SIGKILL");
    await exited;
  }
}

/** A fetch that records what Prism said of each request. */
function recording(prism: Prism): typeof fetch {
  return (async (url: string | URL | Request, init?: RequestInit) => {
    const response = await fetch(url, init);
    prism.exchanges.push({
      method: init?.method ?? "GET",
      path: new URL(String(url)).pathname,
      status: response.status,
      violations: response.headers.get("sl-violations"),
    });
    return response;
  }) as typeof fetch;
}

/** Every call the onboarding makes, as its client makes them. */
async function everyCall(redis: RedisCloud) {
  const accounts = await redis.listCloudAccounts();
  const account = await redis.getCloudAccount(1);
  const created = await redis.createCloudAccount(CREATE_REQUEST);
  const updated = await redis.updateCloudAccount(1, UPDATE_REQUEST);
  const task = await redis.getTask("5f0c5e54-6b1f-4a52-9d6a-1b8e2f3c4d5e");
  const deletion = await redis.deleteCloudAccount(1);
  return { accounts, account, created, updated, task, deletion };
}

/** Requests made by hand, to prove that Prism does refuse a bad one. */
const keyHeaders = { "x-api-key": API_KEYS.accountKey, "x-api-secret-key": API_KEYS.userKey };

async function badRequests(prism: Prism) {
  const missingField = await fetch(`${prism.url}/v1/cloud-accounts`, {
    method: "POST",
    headers: { ...keyHeaders, "content-type": "application/json" },
    body: JSON.stringify({ name: "payments-prod", provider: "AWS" }),
  });
  const missingKey = await fetch(`${prism.url}/v1/cloud-accounts`, {
    headers: { "x-api-key": API_KEYS.accountKey },
  });
  const updateMissingField = await fetch(`${prism.url}/v1/cloud-accounts/1`, {
    method: "PUT",
    headers: { ...keyHeaders, "content-type": "application/json" },
    body: JSON.stringify({ accessKeyId: "AKIAEXAMPLE000000333" }),
  });
  return {
    missingField: missingField.headers.get("sl-violations"),
    missingKey: missingKey.status,
    updateMissingField: updateMissingField.headers.get("sl-violations"),
  };
}

describe.skipIf(!officialPresent)(
  `Redis Cloud client against Redis's official API description (Prism)${officialPresent ? "" : `, skipped: ${OFFICIAL_REL} (kept beside the repository on CI and developer machines) is absent`}`,
  () => {
    let prism: Prism;
    let dir: string;

    beforeAll(async () => {
      // The official file puts x-api-key, x-api-secret-key and x-auth-token in ONE security
      // requirement (all three at once), while the live API authenticates with the two API keys
      // alone (x-auth-token is the console's session). Only that field is changed, in a copy.
      const official = JSON.parse(await readFile(OFFICIAL, "utf8")) as Record<string, unknown>;
      dir = await mkdtemp(join(tmpdir(), "redis-contract-"));
      const spec = join(dir, "openapi-cloud-accounts-subset.json");
      await writeFile(
        spec,
        JSON.stringify({ ...official, security: [{ "x-api-key": [], "x-api-secret-key": [] }] }),
      );
      prism = await startPrism(spec);
    }, 60_000);

    afterAll(async () => {
      await prism?.stop();
      if (dir) await rm(dir, { recursive: true, force: true });
    }, 20_000);

    it("changes nothing in the official description but the API-key security requirement", async () => {
      // Prepare
      const official = JSON.parse(await readFile(OFFICIAL, "utf8")) as Record<string, unknown>;
      const used = JSON.parse(
        await readFile(join(dir, "openapi-cloud-accounts-subset.json"), "utf8"),
      ) as Record<string, unknown>;

      // Act
      const { security: officialSecurity, ...officialRest } = official;
      const { security: usedSecurity, ...usedRest } = used;

      // Assess
      expect(usedRest).toEqual(officialRest);
      expect(officialSecurity).toEqual([{ "x-api-key": [], "x-api-secret-key": [], "x-auth-token": [] }]);
      expect(usedSecurity).toEqual([{ "x-api-key": [], "x-api-secret-key": [] }]);
    });

    it("accepts every request the client makes, and the client reads every answer", async () => {
      // Prepare
      prism.exchanges.length = 0;
      const redis = new RedisCloud({ baseUrl: `${prism.url}/v1`, keys: API_KEYS, fetch: recording(prism) });

      // Act
      const answers = await everyCall(redis);
      // The official GET /v1/tasks declares its answer `*/*`, which Prism cannot mock for a JSON
      // client (406 after the request passed validation, which comes first: a bad one is 401/422).
      const listing = await rejectionOf(redis.listTasks());

      // Assess
      expect(
        prism.exchanges.filter((e) => e.violations !== null),
        prism.output(),
      ).toEqual([]);
      expect(listing.message).toContain("GET /tasks answered 406");
      expect(listing.message).toContain("NOT_ACCEPTABLE");
      expect(prism.exchanges.map((e) => `${e.method} ${e.path} ${e.status}`)).toEqual([
        "GET /v1/cloud-accounts 200",
        "GET /v1/cloud-accounts/1 200",
        "POST /v1/cloud-accounts 202",
        "PUT /v1/cloud-accounts/1 202",
        "GET /v1/tasks/5f0c5e54-6b1f-4a52-9d6a-1b8e2f3c4d5e 200",
        "DELETE /v1/cloud-accounts/1 200",
        "GET /v1/tasks 406",
      ]);
      expect(answers.accounts.map((a) => a.id)).toEqual([1, 2, 3]);
      expect(answers.account.id).toBe(1);
      expect(typeof answers.created.taskId).toBe("string");
      expect(typeof answers.updated.taskId).toBe("string");
      // The spec's string form of a task error.
      expect(answers.task.error?.type).toMatch(/^[A-Z_]+$/);
    });

    it("would fail on a request that breaks the description", async () => {
      // Act
      const { missingField, missingKey, updateMissingField } = await badRequests(prism);

      // Assess
      expect(missingField).toContain("accessSecretKey");
      expect(missingKey).toBe(401);
      expect(updateMissingField).toContain("consolePassword");
    });
  },
);

describe("Redis Cloud client against the project's own API description (Prism)", () => {
  let prism: Prism;

  beforeAll(async () => {
    prism = await startPrism(OWN);
  }, 60_000);

  afterAll(async () => {
    await prism?.stop();
  }, 20_000);

  it("accepts every request the client makes", async () => {
    // Prepare
    prism.exchanges.length = 0;
    const redis = new RedisCloud({ baseUrl: `${prism.url}/v1`, keys: API_KEYS, fetch: recording(prism) });

    // Act
    const answers = await everyCall(redis);
    const tasks = await redis.listTasks();

    // Assess
    expect(
      prism.exchanges.filter((e) => e.violations !== null),
      prism.output(),
    ).toEqual([]);
    expect(prism.exchanges.every((e) => e.status >= 200 && e.status < 300)).toBe(true);
    expect(answers.task.resourceId).toBe(1001);
    expect(answers.updated.commandType).toBe("cloudAccountUpdateRequest");
    expect(tasks.map((t) => t.resourceId)).toEqual([1001]);
  });

  it("would fail on a request that breaks the description", async () => {
    // Act
    const { missingField, missingKey, updateMissingField } = await badRequests(prism);

    // Assess
    expect(missingField).toContain("accessSecretKey");
    expect(missingKey).toBe(401);
    expect(updateMissingField).toContain("consolePassword");
  });
});
