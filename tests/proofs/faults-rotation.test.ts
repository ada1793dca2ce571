import { PutSecretValueCommand } from "@aws-sdk/client-secrets-manager";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { PERMANENT_ERRORS, TRANSIENT_ERRORS } from "../../functions/lib/errors.ts";
import { forgetRedisApiKeys } from "../../functions/lib/redis-api-keys.ts";
import type { FakeCall } from "../../local/aws/index.ts";
import {
  API_KEYS_SECRET,
  type LocalEnvironment,
  type LocalEnvironmentOptions,
  registryItemOf,
} from "../../local/environment.ts";
import type { WorkflowResult } from "../../local/workflow.ts";
import {
  type AwsSite,
  coldEnvironment,
  injectAws,
  type Outcome,
  occurrences,
  outcome,
  PERMANENT,
  type RedisSite,
  redisFaultsOnce,
  report,
  secretName,
  signature,
  TRANSIENT,
} from "./fault-matrix.ts";
import { redisEndpoint, TARGET } from "./support.ts";

/*
 * The rotation's fault matrix: every call a clean rotation makes (after a clean onboarding), to AWS
 * and to Redis Cloud, fails once with a transient error (the rotation must still succeed) and for
 * good with a permanent one (it must fail by a stable name). After every case the invariant holds:
 * the key the registry says Redis uses exists and is active in IAM, redislabs-user holds at most two
 * keys, and Redis holds one cloud account for the account (on the registry's key, or, when the
 * rotation failed before the switch, on the old key).
 */

const NAMED_ERRORS: readonly string[] = [...TRANSIENT_ERRORS, ...PERMANENT_ERRORS];
const ROTATE = { accountId: TARGET, rotate: true };

type Site = AwsSite | RedisSite;

const label = (site: Site) =>
  site.kind === "aws"
    ? `${site.service} ${site.command} ${site.resource} #${site.nth}`
    : `${site.endpoint} #${site.nth}`;

function resourceOf(call: FakeCall): string {
  const input = call.input;
  const named = [input.UserName, input.RoleArn, input.SecretId, input.Name, input.TableName].find(
    (value): value is string => typeof value === "string",
  );
  return secretName(named ?? "");
}

/** The registrar's own calls (its queue, the API keys): its loop outlives any one request. */
const REGISTRAR_OWN = /^(dynamodb \w+ RegistrarTable|secretsmanager GetSecretValue redis-cloud\/api-keys)$/;

let env: LocalEnvironment | undefined;
afterEach(async () => {
  await env?.close();
  env = undefined;
});

/** A fresh environment with the account onboarded: faults are injected after this. */
async function onboarded(registrar?: LocalEnvironmentOptions["registrar"]): Promise<LocalEnvironment> {
  env = await coldEnvironment(registrar);
  const result = await env.run({ accountId: TARGET });
  if (result.status !== "SUCCEEDED") throw new Error(`onboarding failed: ${JSON.stringify(result.error)}`);
  return env;
}

const sites: Site[] = [];

beforeAll(async () => {
  const e = await onboarded();
  const firstCall = e.aws.calls.length;
  const firstRequest = e.redis.state.requests.length;
  const result = await e.runWorkflow("rotation", ROTATE);
  if (result.status !== "SUCCEEDED")
    throw new Error(`the clean rotation failed: ${JSON.stringify(result.error)}`);
  const nth = occurrences();
  for (const call of e.aws.calls.slice(firstCall)) {
    const resource = resourceOf(call);
    sites.push({
      kind: "aws",
      service: call.service,
      command: call.command,
      resource,
      nth: nth(signature(call, resource)),
    });
  }
  for (const request of e.redis.state.requests.slice(firstRequest)) {
    const endpoint = redisEndpoint(request);
    sites.push({ kind: "redis", endpoint, nth: nth(endpoint) });
  }
  await e.close();
  env = undefined;
}, 120_000);

const keysOf = (e: LocalEnvironment) => e.aws.account(TARGET).users.get("redislabs-user")?.keys ?? [];

/** The invariant, after any case. */
function expectInvariant(e: LocalEnvironment) {
  const used = registryItemOf(e.dynamodb, TARGET)?.accessKeyId;
  const keys = keysOf(e);
  expect(keys.find((k) => k.AccessKeyId === used)?.Status, "the registry's key is active in IAM").toBe(
    "Active",
  );
  expect(keys.length, "at most two keys").toBeLessThanOrEqual(2);
  const accounts = [...e.redis.state.accounts.values()];
  expect(accounts, "one cloud account").toHaveLength(1);
  // Redis is on a key that exists: the registry's, or the new one of a switch the registry has not recorded.
  expect(
    keys.map((k) => k.AccessKeyId),
    "Redis's key exists in IAM",
  ).toContain(accounts[0]?.accessKeyId);
}

/** Bounded: a case that does not end is a row that did not hold, not a hung matrix. */
async function rotate(e: LocalEnvironment): Promise<WorkflowResult | "did not end"> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<"did not end">((resolve) => {
    timer = setTimeout(() => resolve("did not end"), 20_000);
  });
  try {
    return await Promise.race([e.runWorkflow("rotation", ROTATE), limit]);
  } finally {
    clearTimeout(timer);
  }
}

describe("the clean rotation the matrix is built from", () => {
  it("calls IAM, STS, Secrets Manager, DynamoDB and Redis's PUT and two lists", () => {
    const services = new Set(sites.flatMap((s) => (s.kind === "aws" ? [s.service] : [])));
    expect(services).toEqual(new Set(["iam", "sts", "secretsmanager", "dynamodb"]));
    const endpoints = new Set(sites.flatMap((s) => (s.kind === "redis" ? [s.endpoint] : [])));
    expect(endpoints).toContain("PUT /v1/cloud-accounts/{id}");
    expect(endpoints).toContain("GET /v1/cloud-accounts");
    console.log(`clean rotation: ${sites.length} call sites`);
  });
});

describe("a transient fault of any call of the rotation, once", () => {
  it("still rotates: Redis on the new key, the only key, active", async () => {
    const rows: Outcome[] = [];
    for (const site of sites) {
      const faults =
        site.kind === "aws"
          ? TRANSIENT[site.service].map((f) => ({ name: f.name, aws: f.make }))
          : [
              { name: "503", redis: { status: 503 } as const },
              { name: "connection reset", redis: "reset" as const },
            ];
      for (const fault of faults) {
        const e = await onboarded();
        const injected =
          site.kind === "aws" && "aws" in fault
            ? injectAws(e, site, resourceOf, fault.aws, false)
            : redisFaultsOnce(
                e,
                (request) => redisEndpoint(request) === (site as RedisSite).endpoint,
                site.nth,
                (fault as { redis: { status: number } | "reset" }).redis,
              );
        const result = await rotate(e);
        rows.push(
          await outcome(label(site), fault.name, () => {
            expect(injected(), "the fault was injected").toBe(true);
            expect(result === "did not end" ? result : result.status).toBe("SUCCEEDED");
            expect(keysOf(e).map((k) => k.AccessKeyId)).toEqual([
              registryItemOf(e.dynamodb, TARGET)?.accessKeyId,
            ]);
            expectInvariant(e);
          }),
        );
        await e.close();
        env = undefined;
      }
    }
    expect(report("rotation, transient faults", rows)).toEqual([]);
    expect(rows.length).toBeGreaterThanOrEqual(sites.length);
  }, 900_000);
});

interface RedisPermanent {
  fault: string;
  arrange: (e: LocalEnvironment) => Promise<void>;
  registrar?: LocalEnvironmentOptions["registrar"];
}

/** How each Redis endpoint refuses for good during a rotation. */
const REDIS_PERMANENT: Record<string, RedisPermanent[]> = {
  "PUT /v1/cloud-accounts/{id}": [
    {
      fault: "update task rejected (CLOUD_ACCOUNT_PERMISSIONS_ERROR)",
      arrange: async (e) => {
        e.redis.state.options.failTasksWith = { type: "CLOUD_ACCOUNT_PERMISSIONS_ERROR" };
      },
    },
  ],
  "GET /v1/cloud-accounts": [
    {
      fault: "API keys refused (401)",
      arrange: async (e) => {
        await e.runtime.clients.secrets().send(
          new PutSecretValueCommand({
            SecretId: API_KEYS_SECRET,
            SecretString: JSON.stringify({ accountKey: "revoked-account-key", userKey: "revoked-user-key" }),
          }),
        );
        forgetRedisApiKeys();
      },
    },
    {
      fault: "cloud account active-error",
      arrange: async (e) => {
        for (const account of e.redis.state.accounts.values()) account.status = "active-error";
      },
    },
  ],
  "GET /v1/tasks": [
    {
      fault: "task never listed nor found (404)",
      arrange: async (e) => {
        e.redis.state.options.taskNotFoundPolls = Number.MAX_SAFE_INTEGER;
      },
      registrar: { settings: { freshMs: 0 } },
    },
  ],
};

describe("a permanent fault of any call of the rotation", () => {
  it("fails the rotation by a stable name, and the invariant holds", async () => {
    const rows: Outcome[] = [];
    // Every AWS call site, the registrar's own too (a registrar that cannot work goes silent, and
    // the waiting state times out, as in AWS); for Redis, one permanent fault per endpoint.
    const permanent = sites.filter((site) => site.kind === "aws" || site.nth === 1);
    for (const site of permanent) {
      const redisCases = site.kind === "redis" ? (REDIS_PERMANENT[site.endpoint] ?? []) : [undefined];
      for (const redis of redisCases) {
        const e = await onboarded(redis?.registrar);
        let injected: () => boolean = () => true;
        if (site.kind === "aws") injected = injectAws(e, site, resourceOf, PERMANENT[site.service], true);
        else await redis?.arrange(e);
        const result = await rotate(e);
        rows.push(
          await outcome(label(site), redis?.fault ?? "refused from then on", () => {
            expect(injected(), "the fault was injected").toBe(true);
            if (result === "did not end") throw new Error("the rotation did not end");
            const silent = site.kind === "aws" && REGISTRAR_OWN.test(signature(site, site.resource));
            const names = silent ? [...NAMED_ERRORS, "States.HeartbeatTimeout"] : NAMED_ERRORS;
            if (result.status === "FAILED") expect(names).toContain(result.error?.Error);
            // Reading what the switch made (its DeleteAccessKey of the old key, refused for good)
            // fails the rotation after the switch; a refused GetItem of the registrar may still succeed.
            expectInvariant(e);
          }),
        );
        // Faults off, so that closing does not trip over them.
        e.aws.fail(
          () => false,
          () => new Error("unused"),
          0,
        );
        await e.close();
        env = undefined;
      }
    }
    expect(report("rotation, permanent faults", rows)).toEqual([]);
    expect(rows.length).toBeGreaterThan(10);
  }, 900_000);
});
