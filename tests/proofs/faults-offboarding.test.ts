import { afterEach, describe, expect, it } from "vitest";
import type { FakeCall } from "../../local/aws/index.ts";
import { type LocalEnvironment, REGISTRAR_TABLE, startLocalEnvironment } from "../../local/environment.ts";
import type { RecordedRequest } from "../../local/redis-cloud/server.ts";
import { expectInvariant, expectOffboarded, TARGET } from "../support/offboarding.ts";
import { occurrences, PERMANENT, TRANSIENT } from "./fault-matrix.ts";

/*
 * The offboarding's fault matrix: every AWS call and every Redis request a clean offboarding
 * makes (found by running one), each failed once with a transient error and once for good. After
 * every case the invariant holds; a transient fault is absorbed (the offboarding ends done); after a
 * permanent one, a re-run without the fault finishes the offboarding.
 */

type Service = FakeCall["service"];

/** Each service's first transient error, its throttling: one transient case a site. */
function THROTTLED(service: Service): () => Error {
  const first = TRANSIENT[service][0];
  if (!first) throw new Error(`no transient error for ${service}`);
  return first.make;
}

interface Site {
  kind: "aws" | "redis";
  /** `iam DeleteRole` / `DELETE /v1/cloud-accounts/:id`. */
  what: string;
  service?: Service;
  /** Its occurrence among the offboarding's calls of the same kind (1-based). */
  nth: number;
}

/** DynamoDB calls are told apart by table: the registry's, or the registrar's queue. */
const awsKey = (call: FakeCall) =>
  `${call.service} ${call.command}${typeof call.input.TableName === "string" ? ` ${call.input.TableName}` : ""}`;

/**
 * The registrar's own queue and Redis's task list: failing for good, they stop the registrar
 * itself, not the offboarding. The task list refused answers the waiting execution by name; the
 * queue refused leaves it to its heartbeat timeout (15 min, then once more, as the local registrar
 * emulates). Either way the run ends, caught, the invariant holding, and a re-run finishes.
 */
const registrarOwn = (site: Site) => site.what.includes(REGISTRAR_TABLE) || site.what === "GET /v1/tasks";
const redisKey = (request: RecordedRequest) => `${request.method} ${request.path.replace(/\/\d+$/, "/:id")}`;

let env: LocalEnvironment | undefined;
afterEach(() => env?.close());

/** A fresh world with the account onboarded; answers the cloud account's id. */
async function onboarded(): Promise<{ env: LocalEnvironment; cloudAccountId: number }> {
  const fresh = await startLocalEnvironment({ targets: [TARGET], aws: { keyPropagationMs: 0 } });
  env = fresh;
  const result = await fresh.run({ accountId: TARGET });
  if (result.status !== "SUCCEEDED") throw new Error("the onboarding before the offboarding failed");
  return { env: fresh, cloudAccountId: (result.output as { cloudAccountId: number }).cloudAccountId };
}

/** Every call a clean offboarding makes, each numbered among its kind. */
async function sites(): Promise<Site[]> {
  const { env: clean } = await onboarded();
  const awsFrom = clean.aws.calls.length;
  const redisFrom = clean.redis.state.requests.length;
  const result = await clean.runWorkflow("offboarding", { accountId: TARGET });
  if (result.status !== "SUCCEEDED") throw new Error("the clean offboarding failed");
  const numbered = occurrences();
  const found: Site[] = [
    ...clean.aws.calls.slice(awsFrom).map((call) => ({
      kind: "aws" as const,
      what: awsKey(call),
      service: call.service,
      nth: numbered(awsKey(call)),
    })),
    ...clean.redis.state.requests
      .slice(redisFrom)
      .map((r) => ({ kind: "redis" as const, what: redisKey(r), nth: numbered(redisKey(r)) })),
  ];
  await clean.close();
  env = undefined;
  return found;
}

const SITES = await sites();

/** Fails the site's call once (or, permanent, it and every later one of its kind) until lifted. */
function inject(world: LocalEnvironment, site: Site, permanent: boolean) {
  let count = 0;
  let fired = false;
  let lifted = false;
  const hit = (key: string) => {
    if (lifted || key !== site.what) return false;
    count += 1;
    const now = permanent ? count >= site.nth : count === site.nth;
    if (now) fired = true;
    return now;
  };
  if (site.kind === "aws" && site.service) {
    const make = permanent ? PERMANENT[site.service] : THROTTLED(site.service);
    world.aws.fail((call) => hit(awsKey(call)), make);
  } else {
    world.redis.state.options.fault = (request) =>
      hit(redisKey(request)) ? { status: permanent ? 403 : 503 } : undefined;
  }
  return {
    fired: () => fired,
    lift: () => {
      lifted = true;
    },
  };
}

describe("the offboarding's fault matrix", () => {
  it("found the offboarding's calls: IAM deletes, the secret, the registry and Redis's", () => {
    const kinds = new Set(SITES.map((s) => s.what));
    // The registrar's own calls are in both halves of the matrix below.
    expect(SITES.filter(registrarOwn).length).toBeGreaterThan(5);
    expect(kinds).toContain("iam DeleteUser");
    expect(kinds).toContain("dynamodb PutItem AccountRegistryTable");
    expect(kinds).toContain("secretsmanager DeleteSecret");
    expect(kinds).toContain("GET /v1/subscriptions");
    expect(kinds).toContain("DELETE /v1/cloud-accounts/:id");
  });

  it.each(SITES.map((s) => [`${s.what} #${s.nth}`, s] as const))(
    "absorbs a transient failure of %s, the invariant holding",
    async (_name, site) => {
      const { env: world, cloudAccountId } = await onboarded();
      const fault = inject(world, site, false);

      const result = await world.runWorkflow("offboarding", { accountId: TARGET });

      expect(fault.fired()).toBe(true);
      expectInvariant(world, cloudAccountId, expect);
      expect(result.error).toBeUndefined();
      expectOffboarded(world, cloudAccountId, expect);
    },
  );

  it.each(SITES.map((s) => [`${s.what} #${s.nth}`, s] as const))(
    "survives a permanent failure of %s, the invariant holding, and a re-run finishes",
    async (_name, site) => {
      const { env: world, cloudAccountId } = await onboarded();
      const fault = inject(world, site, true);

      await world.runWorkflow("offboarding", { accountId: TARGET });

      expect(fault.fired()).toBe(true);
      expectInvariant(world, cloudAccountId, expect);
      fault.lift();
      const again = await world.runWorkflow("offboarding", { accountId: TARGET });

      expect(again.error).toBeUndefined();
      expectInvariant(world, cloudAccountId, expect);
      expectOffboarded(world, cloudAccountId, expect);
    },
  );
});
