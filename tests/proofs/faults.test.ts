import { PutSecretValueCommand } from "@aws-sdk/client-secrets-manager";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { PERMANENT_ERRORS, TRANSIENT_ERRORS, WorkflowError } from "../../functions/lib/errors.ts";
import { awsError, type FakeCall } from "../../local/aws/index.ts";
import {
  API_KEYS_SECRET,
  HOME,
  type LocalEnvironment,
  type LocalEnvironmentOptions,
} from "../../local/environment.ts";
import type { RecordedRequest } from "../../local/redis-cloud/server.ts";
import type { WorkflowResult } from "../../local/workflow.ts";
import {
  type AwsSite as AwsCallSite,
  coldEnvironment,
  injectAws,
  type Outcome,
  occurrences,
  outcome,
  PERMANENT,
  type RedisSite as RedisCallSite,
  redisFaultsOnce,
  report,
  secretName,
  signature,
  TRANSIENT,
} from "./fault-matrix.ts";
import {
  attributingRuns,
  pastRetryAfter,
  redisEndpoint,
  redisRefusesOnce,
  settleRedis,
  statesEntered,
  TARGET,
} from "./support.ts";

/*
 * The fault matrix: every call a clean onboarding makes, to AWS and to Redis Cloud, is made to fail
 * once with a transient error (the run must still succeed, with no duplicate) and for good with a
 * permanent one (the run must fail by name, naming the step, and leave both accounts and Redis as
 * they were). "Every call" is every call site of the clean run: the n-th call with a given
 * (service, command, resource), so that e.g. the three reads of the credentials secret by three
 * different states are three entries.
 */

const NAMED_ERRORS: readonly string[] = [...TRANSIENT_ERRORS, ...PERMANENT_ERRORS];

interface AwsSite extends AwsCallSite {
  state: string;
  /** The function whose own code makes the call (the registrar's tick, or a step's code). */
  fn: string;
}
interface RedisSite extends RedisCallSite {
  state: string;
}
type Site = AwsSite | RedisSite;

const label = (site: Site): string =>
  site.kind === "aws"
    ? `${site.state}: ${site.service} ${site.command} ${site.resource} #${site.nth}`
    : `${site.state}: ${site.endpoint} #${site.nth}`;

/** What a call acts on, the same from one environment to the next (secret ARNs end in a random suffix). */
function resourceOf(call: FakeCall): string {
  const input = call.input;
  const named = [input.RoleName, input.PolicyArn, input.UserName, input.InstanceProfileName, input.RoleArn]
    .concat(input.SecretId, input.Name, input.TableName)
    .find((value): value is string => typeof value === "string");
  return secretName(named ?? "");
}

let env: LocalEnvironment | undefined;
afterEach(async () => {
  await env?.close();
  env = undefined;
});

/** A fresh environment, cold like a new Lambda container: the API keys are read again. */
async function freshEnvironment(registrar?: LocalEnvironmentOptions["registrar"]): Promise<LocalEnvironment> {
  env = await coldEnvironment(registrar);
  return env;
}

/** The clean run: its call sites, and the distinct (service, command) pairs and endpoints. */
const sites: Site[] = [];
let pairs: string[] = [];
let endpoints: string[] = [];

beforeAll(async () => {
  const clean = await freshEnvironment();
  const first = clean.aws.calls.length;
  const firstRequest = clean.redis.state.requests.length;
  const attribution = attributingRuns(clean);
  const result = await clean.run({ accountId: TARGET }, { runs: attribution.runs });
  attribution.attribute("(after the run)");
  if (result.status !== "SUCCEEDED") throw new Error(`the clean run failed: ${JSON.stringify(result.error)}`);

  const nth = occurrences();
  clean.aws.calls.slice(first).forEach((call, i) => {
    const resource = resourceOf(call);
    const state = attribution.awsStates[first + i] ?? "?";
    const fn = attribution.awsFunctions[first + i] ?? "?";
    const { service, command } = call;
    sites.push({ kind: "aws", service, command, resource, nth: nth(signature(call, resource)), state, fn });
  });
  clean.redis.state.requests.slice(firstRequest).forEach((request, i) => {
    const endpoint = redisEndpoint(request);
    const state = attribution.redisStates[firstRequest + i] ?? "?";
    sites.push({ kind: "redis", endpoint, nth: nth(endpoint), state });
  });
  pairs = [...new Set(clean.aws.calls.slice(first).map((c) => `${c.service} ${c.command}`))];
  endpoints = [...new Set(clean.redis.state.requests.slice(firstRequest).map(redisEndpoint))];
  await clean.close();
  env = undefined;
});

describe("the clean run the matrix is built from", () => {
  it("calls IAM, STS, Secrets Manager, DynamoDB (the registry, the registrar's queue) and Redis's three endpoints, each for a named state", () => {
    console.log(
      `clean run: ${sites.length} call sites; ${pairs.length} (service, command) pairs; Redis endpoints: ${endpoints.join(", ")}`,
    );
    expect(new Set(pairs.map((p) => p.split(" ")[0]))).toEqual(
      new Set(["sts", "iam", "secretsmanager", "dynamodb"]),
    );
    // The registrar follows the run's task and cloud account through its two looks a tick (the
    // lists), never by id: one GET /v1/tasks and one GET /v1/cloud-accounts serve every run.
    expect(endpoints.sort()).toEqual(["GET /v1/cloud-accounts", "GET /v1/tasks", "POST /v1/cloud-accounts"]);
    // Every Redis request is the registrar's, made while the run waits in RegisterCloudAccount.
    expect(new Set(sites.filter((site) => site.kind === "redis").map((site) => site.state))).toEqual(
      new Set(["RegisterCloudAccount"]),
    );
    // The API keys are read by the registrar's first tick in a cold container: a site too.
    expect(sites.map(label)).toContain(
      "RegisterCloudAccount: secretsmanager GetSecretValue redis-cloud/api-keys #1",
    );
    expect(sites.every((site) => site.state !== "?" && !site.state.startsWith("("))).toBe(true);
    expect(
      sites.every((site) => /^[A-Z]/.test(site.state)),
      "every site is a state's",
    ).toBe(true);
  });
});

/** What a run that survived a transient fault must have left: one key, one secret, one cloud account. */
function expectOnboardedOnce(e: LocalEnvironment, result: WorkflowResult) {
  expect(result.error).toBeUndefined();
  expect(result.status).toBe("SUCCEEDED");
  const user = e.aws.account(TARGET).users.get("redislabs-user");
  expect(user?.keys).toHaveLength(1);
  const secret = e.aws.account(HOME.accountId).secrets.get(`redis-cloud/byoc/${TARGET}`);
  const stored = JSON.parse(secret?.versions.at(-1)?.SecretString ?? "{}") as Record<string, unknown>;
  expect(stored.accessKeyId).toBe(user?.keys[0]?.AccessKeyId);
  expect(stored.cloudAccountId).toBe((result.output as { cloudAccountId?: number }).cloudAccountId);
  expect([...e.redis.state.accounts.values()].map((a) => a.accessKeyId)).toEqual([stored.accessKeyId]);
}

/** Redis's transient answers: the rate limit, a server error, and a connection dropped mid-request. */
const REDIS_TRANSIENT = [
  { name: "429 Too Many Requests", redis: "429" },
  { name: "503 Service Unavailable", redis: { status: 503 } },
  { name: "connection reset", redis: "reset" },
] as const;

describe("a transient fault of any call, once", () => {
  it("still onboards the account, with one key, one secret and one cloud account", async () => {
    const outcomes: Outcome[] = [];
    for (const site of sites) {
      const faults = site.kind === "aws" ? TRANSIENT[site.service] : REDIS_TRANSIENT;
      for (const fault of faults) {
        const e = await freshEnvironment();
        const matches = (r: RecordedRequest) => redisEndpoint(r) === (site as RedisSite).endpoint;
        const injected =
          site.kind === "aws" && "make" in fault
            ? injectAws(e, site, resourceOf, fault.make, false)
            : "redis" in fault && fault.redis !== "429"
              ? redisFaultsOnce(e, matches, site.nth, fault.redis)
              : redisRefusesOnce(e, matches, site.nth).fired;
        const result = await e.run({ accountId: TARGET }, { runs: pastRetryAfter(e) });
        outcomes.push(
          await outcome(label(site), fault.name, async () => {
            expect(injected(), "the fault was injected").toBe(true);
            expectOnboardedOnce(e, result);
          }),
        );
        await e.close();
        env = undefined;
      }
    }
    expect(report("transient faults", outcomes)).toEqual([]);
    expect(outcomes.length).toBeGreaterThanOrEqual(sites.length);
  }, 600_000);
});

const SECRET = `redis-cloud/byoc/${TARGET}`;

/**
 * Reads the rollback cannot do without: IAM refuses to delete a role with policies attached, or a
 * user with policies or keys, so the rollback must list them first. Refused for good, they leave
 * the entity undeletable by design; what the run must then do is say so (the entity is listed
 * as left behind, with the error) and still fail with the original error. Every other read the
 * rollback shares with the steps (GetRole, GetPolicy, GetInstanceProfile, GetUser, DescribeSecret,
 * GetSecretValue) only finds what the failed step made, or is not needed at all: refused, the
 * rollback can still undo everything recorded, so those stay in the matrix in full. The registry
 * read (DynamoDB GetItem) is the rollback's authority on what this run made: refused for good, the
 * rollback undoes nothing rather than guess, and reports that it could not.
 */
const ROLLBACK_NEEDS = new Set([
  "ListAttachedRolePolicies",
  "ListAttachedUserPolicies",
  "ListAccessKeys",
  "GetItem",
]);

/**
 * The registrar's own calls, made by its tick whatever the run: its queue and the API keys. Refused
 * for good, the registrar cannot work at all, for any run: it answers no token, and Step Functions
 * ends the wait by the state's HeartbeatSeconds (15 min, then once more), as the local registrar
 * does. Their permanent faults are a matrix of their own (below): the run cannot be rolled back
 * through a registrar that cannot work, only ended and reported. Transient faults of these calls
 * are in the transient matrix; the steps' own calls made by the registrar (the credentials
 * secret, the registry) are in both.
 */
const REGISTRAR_OWN = new Set([
  "dynamodb Scan RegistrarTable",
  "dynamodb GetItem RegistrarTable",
  "dynamodb PutItem RegistrarTable",
  "dynamodb DeleteItem RegistrarTable",
  "secretsmanager GetSecretValue redis-cloud/api-keys",
]);

/**
 * A call of the registrar's own: to its queue (but the hand-over's, which fails the run by name)
 * or for the API keys. Its loop may still be finishing when the run has moved on, so these are
 * known by what they call, not by the state they overlap.
 */
const registrarOwn = (site: AwsSite): boolean =>
  REGISTRAR_OWN.has(signature(site, site.resource)) && site.fn !== "submitToRegistrar";

/** Functions whose code runs for the state waiting on the registrar: their cause names the step. */
const SERVED_BY_REGISTRAR = new Set([
  "submitToRegistrar",
  "registerCloudAccount",
  "checkRegistration",
  "withdrawRegistration",
]);

/** `submitToRegistrar` → SubmitToRegistrar: the step's name, with which its errors' causes begin. */
const stepOf = (fn: string): string => `${fn.charAt(0).toUpperCase()}${fn.slice(1)}`;

interface FailureDetail {
  error?: string;
  cause?: string;
  rollback?: { undone?: string[]; leftBehind?: { change: string; error: string }[]; Error?: string };
}

/** The states that failed, in order (a retried attempt's too). */
const failedStates = (result: WorkflowResult): string[] =>
  result.events.flatMap((event) => (event.type === "StateFailed" ? [event.state.name] : []));

/** The Detail of the run's "Onboarding Failed" event, as published on the default bus. */
function failureDetail(e: LocalEnvironment): FailureDetail | undefined {
  const entries = e.published.flatMap(
    (p) => (p as { Entries?: { DetailType?: string; Detail?: FailureDetail }[] }).Entries ?? [],
  );
  return entries.find((entry) => entry.DetailType === "Redis Cloud Onboarding Failed")?.Detail;
}

/**
 * A run stopped by a permanent fault: failed by a stable name, with a cause naming the state that
 * failed, rolled back once to exactly the accounts' state before the run (the credentials secret
 * gone too), and nothing left at Redis once it has done what it was asked.
 */
async function expectRolledBack(
  e: LocalEnvironment,
  result: WorkflowResult,
  before: ReturnType<LocalEnvironment["aws"]["snapshot"]>,
  expected: { error: string; state: string },
) {
  expect(result.status).toBe("FAILED");
  expect(NAMED_ERRORS).toContain(result.error?.Error);
  expect(result.error?.Error).toBe(expected.error);
  expect(result.error?.Cause).toContain(expected.state);
  expect(statesEntered(result).filter((s) => s === "RollBack")).toHaveLength(1);
  const after = e.aws.snapshot();
  expect(after[TARGET]).toEqual(before[TARGET]);
  expect(after[HOME.accountId]).toEqual(before[HOME.accountId]);
  expect(e.aws.account(HOME.accountId).secrets.has(SECRET)).toBe(false);
  await settleRedis(e);
  expect([...e.redis.state.accounts.keys()]).toEqual([]);
}

interface RedisPermanent {
  fault: string;
  arrange: (e: LocalEnvironment) => Promise<void>;
  /** The registrar's settings this fault needs to show within the test's time. */
  registrar?: LocalEnvironmentOptions["registrar"];
  /** The error the run fails with, at state RegisterCloudAccount, and the step its cause names. */
  error: string;
  state: string;
}

/**
 * How each Redis endpoint is made to refuse for good, with the error the run must fail by and the
 * step its cause must name. The registrar runs the steps' code for the run and answers its token
 * with the step's error: the run fails at RegisterCloudAccount, and is rolled back through
 * WithdrawRegistration and RollBack.
 */
const REDIS_PERMANENT: Record<string, RedisPermanent[]> = {
  "GET /v1/cloud-accounts": [
    {
      fault: "API keys refused (401)",
      arrange: async (e) => {
        // The deployment's API keys secret holds keys Redis does not accept (revoked, or mistyped).
        await e.runtime.clients.secrets().send(
          new PutSecretValueCommand({
            SecretId: API_KEYS_SECRET,
            SecretString: JSON.stringify({ accountKey: "revoked-account-key", userKey: "revoked-user-key" }),
          }),
        );
      },
      error: "RedisCloudUnauthorized",
      state: "RegisterCloudAccount",
    },
    {
      // The list is where the registrar sees the cloud account's status.
      fault: "cloud account ends active-error",
      arrange: async (e) => {
        e.redis.state.options.failAccounts = true;
      },
      error: "CloudAccountError",
      state: "CheckRegistration",
    },
  ],
  "POST /v1/cloud-accounts": [
    {
      fault: "create task rejected (CLOUD_ACCOUNT_PERMISSIONS_ERROR)",
      arrange: async (e) => {
        e.redis.state.options.failTasksWith = { type: "CLOUD_ACCOUNT_PERMISSIONS_ERROR" };
      },
      error: "RedisTaskFailed",
      state: "CheckRegistration",
    },
  ],
  "GET /v1/tasks": [
    {
      fault: "task never listed nor found (404)",
      arrange: async (e) => {
        e.redis.state.options.taskNotFoundPolls = Number.MAX_SAFE_INTEGER;
      },
      // A task unseen this long after its request is one Redis never took: 2 minutes deployed,
      // none here, so that the registrar reads it by id at once.
      registrar: { settings: { freshMs: 0 } },
      error: "RedisTaskNotFound",
      state: "RegisterCloudAccount",
    },
    {
      // The registrar's own look, shared by every request: refused for good, it answers every
      // waiting run by the error's name rather than leave them to their heartbeat timeout.
      fault: "task list refused (403)",
      arrange: async (e) => {
        e.redis.state.options.fault = (request) =>
          request.method === "GET" && request.path === "/v1/tasks" ? { status: 403 } : undefined;
      },
      error: "RedisCloudUnauthorized",
      state: "Registrar: GET /v1/tasks",
    },
  ],
};

describe("a permanent fault of any call", () => {
  it("fails the run by name, naming the step, and rolls back to exactly what was there", async () => {
    const outcomes: Outcome[] = [];
    // Every AWS call site but the registrar's own (see REGISTRAR_OWN); for Redis, one permanent
    // fault per endpoint (Redis refuses a kind of request, not its nth poll of a task).
    const permanentSites = sites.filter((site) =>
      site.kind === "aws" ? !registrarOwn(site) : site.nth === 1,
    );
    const own = sites.filter((site) => site.kind === "aws" && registrarOwn(site));
    expect(new Set(own.map((site) => site.kind === "aws" && signature(site, site.resource)))).toEqual(
      REGISTRAR_OWN,
    );
    console.log(`permanent faults: ${own.length} sites of the registrar's own left out`);
    type Case = { site: Site; redis: RedisPermanent | undefined };
    const cases = permanentSites.flatMap((site): Case[] =>
      site.kind === "aws"
        ? [{ site, redis: undefined }]
        : (REDIS_PERMANENT[site.endpoint] ?? [undefined]).map((redis) => ({ site, redis })),
    );
    for (const { site, redis } of cases) {
      const e = await freshEnvironment(redis?.registrar);
      let injected: () => boolean = () => true;
      let expected: { error: string; state: string; fault: string };
      if (site.kind === "aws") {
        injected = injectAws(e, site, resourceOf, PERMANENT[site.service], true);
        const error = site.command === "AssumeRole" ? "TargetAccessDenied" : "AccessDenied";
        // A step run for a waiting state (the hand-over, or the registrar's work) names itself.
        const served = SERVED_BY_REGISTRAR.has(site.fn);
        expected = {
          error,
          state: served ? stepOf(site.fn) : site.state,
          fault: `${PERMANENT[site.service]().name} from #${site.nth} on`,
        };
      } else {
        if (!redis) throw new Error(`no permanent fault for ${site.endpoint}`);
        await redis.arrange(e);
        expected = redis;
      }
      const before = e.aws.snapshot();
      const result = await e.run({ accountId: TARGET });
      // The registry's GetItem is the rollback's authority; the hand-over's GetItem (the queue) is not.
      const byDesign =
        site.kind === "aws" && ROLLBACK_NEEDS.has(site.command) && site.resource !== "RegistrarTable";
      const rollbackReport = () => `(rollback: ${JSON.stringify(failureDetail(e)?.rollback)?.slice(0, 300)})`;
      outcomes.push(
        await outcome(
          label(site),
          expected.fault,
          async () => {
            expect(injected(), "the fault was injected").toBe(true);
            if (site.kind === "redis" || SERVED_BY_REGISTRAR.has(site.fn)) {
              // The refusal reaches the run through the registrar's answer (or its hand-over): the
              // state that waits fails, and no other before it.
              expect(failedStates(result)[0]).toBe(
                site.kind === "redis" ? "RegisterCloudAccount" : site.state,
              );
            }
            if (!byDesign) return expectRolledBack(e, result, before, expected);
            expect(result.error?.Error).toBe(expected.error);
            expect(result.error?.Cause).toContain(expected.state);
            // The refused entity is reported with the refusal; what depends on it (a policy still
            // attached to it) with its own named error.
            const left = failureDetail(e)?.rollback?.leftBehind ?? [];
            expect(left.map((item) => item.error.split(":")[0])).toContain("AccessDenied");
            for (const item of left) expect(NAMED_ERRORS).toContain(item.error.split(":")[0]);
          },
          rollbackReport,
        ),
      );
      await e.close();
      env = undefined;
    }
    expect(permanentSites.filter((site) => site.kind === "redis")).toHaveLength(endpoints.length);
    expect(cases.filter((c) => c.redis).length).toBe(Object.values(REDIS_PERMANENT).flat().length);
    expect(report("permanent faults", outcomes)).toEqual([]);
  }, 600_000);
});

describe("a rollback that itself fails", () => {
  it("reports what it left behind, with the error, and ends the run with the original error, once", async () => {
    const e = await freshEnvironment();
    const before = e.aws.snapshot();
    e.aws.fail(
      (call) => call.command === "CreateRole" && call.input.RoleName === "redislabs-role",
      () => awsError("iam", "AccessDenied", "explicit deny in a service control policy"),
    );
    // Compensation refused for good: the node role the run made cannot be deleted.
    e.aws.fail(
      (call) => call.command === "DeleteRole" && call.input.RoleName === "redislabs-cluster-node-role",
      () => awsError("iam", "AccessDenied", "explicit deny on iam:DeleteRole"),
    );

    const result = await e.run({ accountId: TARGET });

    expect(result.status).toBe("FAILED");
    expect(result.error?.Error).toBe("AccessDenied");
    expect(result.error?.Cause).toContain("EnsureConsoleRole");
    expect(result.error?.Cause).not.toContain("DeleteRole");
    // No loop: one rollback, one refused DeleteRole, one failure event.
    expect(statesEntered(result).filter((s) => s === "RollBack")).toHaveLength(1);
    expect(e.aws.calls.filter((c) => c.command === "DeleteRole" && c.error)).toHaveLength(1);
    expect(e.published).toHaveLength(1);
    const leftBehind = [
      {
        change: "Role redislabs-cluster-node-role",
        error: expect.stringMatching(/^AccessDenied: Rollback: /),
      },
    ];
    expect(failureDetail(e)?.rollback?.leftBehind).toEqual(leftBehind);
    const rollbackExit = result.events.find(
      (ev) => ev.type === "StateExited" && ev.state.name === "RollBack",
    );
    expect(JSON.stringify(rollbackExit)).toContain("Role redislabs-cluster-node-role");
    // Everything else the run made is gone: the target differs from before by that role alone.
    const after = e.aws.snapshot();
    const withoutNodeRole = {
      ...after[TARGET],
      roles: after[TARGET]?.roles.filter((r) => r.RoleName !== "redislabs-cluster-node-role"),
    };
    expect(withoutNodeRole).toEqual(before[TARGET]);
    expect(after[HOME.accountId]).toEqual(before[HOME.accountId]);
  });

  it("when the rollback step fails outright, publishes its error and still ends with the original one", async () => {
    const e = await freshEnvironment();
    let rollingBack = false;
    const runs = { ...e.runs };
    // The rollback keeps one undo's failure to itself; here its whole invocation fails, every
    // time, with a transient error: retried, but not for ever.
    runs.rollback = async () => {
      rollingBack = true;
      throw new WorkflowError("ServiceFailure", "Rollback: the function itself failed");
    };
    e.aws.fail(
      (call) => call.command === "AttachUserPolicy",
      () => awsError("iam", "AccessDenied", "explicit deny"),
    );

    const result = await e.run({ accountId: TARGET }, { runs });

    expect(rollingBack).toBe(true);
    expect(result.error?.Error).toBe("AccessDenied");
    expect(result.error?.Cause).toContain("EnsureUser");
    const entered = statesEntered(result);
    expect(entered.filter((s) => s === "RollBack")).toHaveLength(1);
    // After the rollback, only the way out: no step runs again.
    const afterRollback = entered.slice(entered.indexOf("RollBack") + 1);
    expect(afterRollback.filter((s) => /^(Ensure|Verify|Register|Check)/.test(s))).toEqual([]);
    expect(afterRollback.at(-1)).toBe("OnboardingFailed");
    const retries = result.events.filter((ev) => ev.type === "StateRetried" && ev.state.name === "RollBack");
    expect(retries.length).toBeGreaterThan(0);
    expect(retries.length).toBeLessThanOrEqual(6);
    expect(failureDetail(e)).toMatchObject({
      error: "AccessDenied",
      rollback: { Error: "ServiceFailure" },
    });
  });
});

describe("a permanent fault of the registrar's own calls", () => {
  it("ends the run, never waiting for ever: by a name, with Redis on a live key and what it holds reported", async () => {
    const own = sites.filter((site): site is AwsSite => site.kind === "aws" && registrarOwn(site));
    const outcomes: Outcome[] = [];
    const ends: Record<string, number> = {};
    for (const site of own) {
      const e = await freshEnvironment();
      const injected = injectAws(e, site, resourceOf, PERMANENT[site.service], true);
      const result = await e.run({ accountId: TARGET });
      await settleRedis(e);
      const end = result.status === "SUCCEEDED" ? "SUCCEEDED" : `FAILED ${result.error?.Error}`;
      ends[end] = (ends[end] ?? 0) + 1;
      outcomes.push(
        await outcome(label(site), `${PERMANENT[site.service]().name} from #${site.nth} on`, async () => {
          expect(injected(), "the fault was injected").toBe(true);
          expect(e.registrar.waiting, "no run left waiting on the registrar").toBe(0);
          const held = [...e.redis.state.accounts.values()];
          expect(held.length).toBeLessThanOrEqual(1);
          for (const account of held)
            expect(e.aws.findAccessKey(account.accessKeyId), "a live key").toBeDefined();
          if (result.status === "SUCCEEDED") return;
          // The registrar silent: its wait timed out (twice); or its queue refused the hand-over.
          expect(["States.HeartbeatTimeout", "AccessDenied"]).toContain(result.error?.Error);
          const left = (failureDetail(e)?.rollback?.leftBehind ?? []).map((item) => item.change);
          if (held.length > 0) expect(left.some((change) => change.startsWith("CloudAccount"))).toBe(true);
        }),
      );
      await e.close();
      env = undefined;
    }
    console.log(`the registrar's own calls, refused for good: ${own.length} sites; ${JSON.stringify(ends)}`);
    expect(own.length).toBeGreaterThan(20);
    expect(ends["FAILED States.HeartbeatTimeout"]).toBeGreaterThan(0);
    expect(report("the registrar's own calls, refused for good", outcomes)).toEqual([]);
  }, 600_000);
});
