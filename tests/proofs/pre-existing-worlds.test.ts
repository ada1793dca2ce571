import { createHash } from "node:crypto";
import { GetSecretValueCommand } from "@aws-sdk/client-secrets-manager";
import { afterAll, describe, expect, it } from "vitest";
import type { StepRun } from "../../functions/lib/define-step.ts";
import { isWrite } from "../../local/aws/index.ts";
import { failableStates } from "../../local/cli/fail-at.ts";
import { HOME, type LocalEnvironment, registryItemOf } from "../../local/environment.ts";
import { loadDefinition, type WorkflowOptions, type WorkflowResult } from "../../local/workflow.ts";
import { settleRedis, statesEntered, TARGET } from "./support.ts";
import {
  crashAfterWrite,
  failingState,
  isResourceWrite,
  SECRET_NAME,
  WORLDS,
  type World,
  worldEnvironment,
} from "./worlds.ts";

/*
 * Pre-existing worlds: an account that already holds resources of Redis's names, made by someone
 * else (or by the product, then partly lost). Each world runs the real state machine without and
 * with `"adopt": true`, to success, to a permanent failure of every state after CheckOwnership,
 * and through a crash right after each of its writes. Whatever happens: what was not the
 * product's is left byte-identical (or given back when adopted), and Redis holds at most one cloud
 * account per AWS account, with a key that exists in IAM.
 */

/** The Task states a successful run passes after CheckOwnership, in order (from the definition). */
function laterStates(): string[] {
  const states = loadDefinition().States as Record<
    string,
    { Type: string; Next?: string; Choices?: { Next: string }[]; End?: boolean }
  >;
  const failable = new Set(failableStates().map((s) => s.state));
  const path: string[] = [];
  let name: string | undefined = states.CheckOwnership?.Next;
  while (name && states[name] && path.length < 50) {
    const state = states[name];
    if (state?.Type === "Task" && failable.has(name)) path.push(name);
    name = state?.Type === "Choice" ? state.Choices?.[0]?.Next : state?.Next;
  }
  return path;
}
const LATER = laterStates();
/** Failures of these are caught and ignored: the run still succeeds. */
const IGNORED_FAILURES = new Set(["ReleaseAccountLock", "PublishSucceeded"]);
/**
 * States after the lost-secret world's PUT has given Redis the new key: the registrar sends it and
 * follows it while the run waits in RegisterCloudAccount, so these are the states after that one.
 */
const AFTER_UPDATE = new Set(LATER.slice(LATER.indexOf("RegisterCloudAccount") + 1));
/**
 * The states up to Redis's answer to the registration: a failure injected there comes first. A
 * failure injected at RegisterCloudAccount fails its hand-over: the registrar is never asked.
 */
const BEFORE_REGISTRATION = new Set(LATER.slice(0, LATER.indexOf("RegisterCloudAccount") + 1));
/** Where a crash's run is then made to fail, so that the rollback meets what the crash left. */
const LAST_FAILING = "RecordSuccess";

const EXECUTION = "this-run";

type Snapshot = ReturnType<LocalEnvironment["aws"]["snapshot"]>;

/** Every secret value by where it is, hashed: equal maps mean byte-identical values, none printed. */
function fingerprints(env: LocalEnvironment): Record<string, string> {
  const hash = (text: string) => createHash("sha256").update(text).digest("hex");
  const out: Record<string, string> = {};
  for (const accountId of [TARGET, HOME.accountId]) {
    const account = env.aws.account(accountId);
    for (const user of account.users.values()) {
      for (const key of user.keys) out[`${accountId} key ${key.AccessKeyId}`] = hash(key.SecretAccessKey);
      if (user.login) out[`${accountId} password of ${user.UserName}`] = hash(user.login.password);
    }
    for (const secret of account.secrets.values()) {
      for (const version of secret.versions) {
        out[`${accountId} secret ${secret.Name} ${version.VersionId}`] = hash(version.SecretString);
      }
    }
  }
  return out;
}

interface Before {
  snapshot: Snapshot;
  fingerprints: Record<string, string>;
  from: number;
}

const take = (env: LocalEnvironment): Before => ({
  snapshot: env.aws.snapshot(),
  fingerprints: fingerprints(env),
  from: env.aws.calls.length,
});

/** IAM writes in the target and Secrets Manager writes in the home account, refused ones too. */
const attemptedWrites = (env: LocalEnvironment, from: number) =>
  env.aws.calls
    .slice(from)
    .filter(
      (c) =>
        isWrite(c.command) &&
        ((c.service === "iam" && c.accountId === TARGET) ||
          (c.service === "secretsmanager" && c.accountId === HOME.accountId)),
    ).length;

/** Redis holds at most one cloud account per AWS account, each with a key IAM has. */
async function expectRedisSound(env: LocalEnvironment) {
  await settleRedis(env);
  const owners = new Map<string, number[]>();
  for (const account of env.redis.state.accounts.values()) {
    const key = env.aws.findAccessKey(account.accessKeyId);
    expect(key, `the key of cloud account ${account.id} exists in IAM`).toBeDefined();
    const owner = key?.accountId ?? account.name;
    owners.set(owner, [...(owners.get(owner) ?? []), account.id]);
  }
  for (const [owner, ids] of owners) expect(ids, `cloud accounts of AWS account ${owner}`).toHaveLength(1);
}

/**
 * The accounts exactly as before. One change is documented as unrestorable: a console password
 * the run reset (an adopted user's, or the product's own when its secret was lost). It may differ,
 * and only when the world has one to reset.
 */
/**
 * The home account as it is, less the secret versions a run added when it may (an adopted secret:
 * Secrets Manager deletes no version on request; the run's stays, labelled AWSPREVIOUS, and the
 * version that was current is current again).
 */
function withoutAddedVersions(after: Snapshot, before: Before, mayAdd: boolean) {
  const home = after[HOME.accountId];
  if (!mayAdd || !home) return home;
  const had = new Set(
    (before.snapshot[HOME.accountId]?.secrets ?? []).flatMap((s) => s.versions.map((v) => v.VersionId)),
  );
  const secrets = home.secrets.map((s) => ({
    ...s,
    versions: s.versions.filter((v) => had.has(v.VersionId)),
  }));
  return { ...home, secrets };
}

function expectAsBefore(env: LocalEnvironment, before: Before, world: World, adopted: boolean) {
  const after = env.aws.snapshot();
  expect(after[TARGET]).toEqual(before.snapshot[TARGET]);
  expect(withoutAddedVersions(after, before, adopted && world.addsSecretVersion === true)).toEqual(
    before.snapshot[HOME.accountId],
  );
  const mayAdd = adopted && world.addsSecretVersion === true;
  // The values of the secret versions it held are unchanged; a version the run added may stay.
  const now = Object.fromEntries(
    Object.entries(fingerprints(env)).filter(
      ([name]) => !mayAdd || !name.startsWith(`${HOME.accountId} secret `) || name in before.fingerprints,
    ),
  );
  const password = `${TARGET} password of redislabs-user`;
  if (adopted && world.resetsPassword) {
    expect(now[password]).toBeDefined();
    const { [password]: _now, ...rest } = now;
    const { [password]: _before, ...was } = before.fingerprints;
    expect(rest).toEqual(was);
  } else {
    expect(now).toEqual(before.fingerprints);
  }
}

/** A run without `"adopt": true` (or of a world even adoption may not touch): stopped, nothing written. */
function expectStopped(env: LocalEnvironment, result: WorkflowResult, before: Before, world: World) {
  expect(result.status).toBe("FAILED");
  expect(result.error?.Error).toBe("ForeignResource");
  for (const resource of world.foreign) expect(result.error?.Cause).toContain(resource);
  expect(statesEntered(result)).not.toContain("EnsureUserPolicy");
  expect(attemptedWrites(env, before.from)).toBe(0);
  expectAsBefore(env, before, world, false);
}

/** A run that ended well: everything as Redis requires, which a plan made afterwards confirms. */
async function expectAsRedisRequires(env: LocalEnvironment, result: WorkflowResult, adopted: boolean) {
  expect(result.error).toBeUndefined();
  expect(result.status).toBe("SUCCEEDED");
  const output = result.output as { accessKeyId: string; cloudAccountId: number };
  const secret = await env.runtime.clients
    .secrets()
    .send(new GetSecretValueCommand({ SecretId: SECRET_NAME }));
  const stored = JSON.parse(secret.SecretString ?? "{}") as { accessKeyId?: string; cloudAccountId?: number };
  expect(stored.accessKeyId).toBe(output.accessKeyId);
  expect(stored.cloudAccountId).toBe(output.cloudAccountId);
  expect(env.redis.state.accounts.get(output.cloudAccountId)?.accessKeyId).toBe(output.accessKeyId);
  const item = registryItemOf(env.dynamodb, TARGET);
  expect(item).toMatchObject({ status: "active", accessKeyId: output.accessKeyId });
  if (adopted) {
    const adoptions = item?.resources.filter((e) => e.origin === "adopted") ?? [];
    expect(adoptions.length).toBeGreaterThan(0);
    for (const entry of adoptions) expect(typeof entry.prior).toBe("string");
  }
  const from = env.aws.calls.length;
  const plan = await env.run({ accountId: TARGET, plan: true }, { executionName: "plan-after" });
  expect(plan.status).toBe("SUCCEEDED");
  expect((plan.output as { plan: unknown }).plan).toMatchObject({ foreign: [], writes: [] });
  expect(attemptedWrites(env, from)).toBe(0);
}

/** A failed run of an adopted world: failed by the fault's name, everything given back. */
function expectGivenBack(
  env: LocalEnvironment,
  result: WorkflowResult,
  before: Before,
  world: World,
  error: { name: string; state?: string },
) {
  expect(result.status).toBe("FAILED");
  expect(result.error?.Error).toBe(error.name);
  if (error.state) expect(result.error?.Cause).toContain(error.state);
  expect(statesEntered(result).filter((s) => s === "RollBack")).toHaveLength(1);
  expectAsBefore(env, before, world, true);
}

interface Row {
  world: string;
  adopt: boolean;
  fault: string;
  held: boolean;
  /** The Redis invariants held (a key IAM has, one cloud account per AWS account), whatever else did not. */
  redisSound: boolean;
  writes: number;
  why?: string;
}
const rows: Row[] = [];

type Fault =
  | { kind: "none" }
  | { kind: "fail"; state: string }
  | { kind: "crash"; nth: number; afterwards?: string };
const faultLabel = (fault: Fault) =>
  fault.kind === "none"
    ? "no fault"
    : fault.kind === "fail"
      ? `AccessDenied at ${fault.state}`
      : `crash after write #${fault.nth}${fault.afterwards ? `, then AccessDenied at ${fault.afterwards}` : ""}`;

/** One run of the world, checked; a failed expectation becomes a row that says why. */
async function runCase(world: World, adopt: boolean, fault: Fault): Promise<Row> {
  const env = await worldEnvironment(world);
  let writes = 0;
  let redisSound = false;
  try {
    const before = take(env);
    let wiring: Partial<WorkflowOptions> = {};
    let crashed: (() => boolean) | undefined;
    if (fault.kind === "fail") wiring = failingState(env, fault.state);
    if (fault.kind === "crash") {
      crashed = crashAfterWrite(env, fault.nth, before.from);
      if (fault.afterwards) wiring = failingState(env, fault.afterwards);
    }
    const input = adopt ? { accountId: TARGET, adopt: true } : { accountId: TARGET };
    const result = await env.run(input, { executionName: EXECUTION, ...wiring });
    writes = env.aws.calls.slice(before.from).filter(isResourceWrite).length;
    const check = async () => {
      if (crashed) expect(crashed(), "the crash was injected").toBe(true);
      await expectRedisSound(env);
      redisSound = true;
      const stops = !world.productMade && (!adopt || world.blocking);
      if (stops) return expectStopped(env, result, before, world);
      const failAt =
        fault.kind === "fail" && !IGNORED_FAILURES.has(fault.state)
          ? fault.state
          : fault.kind === "crash"
            ? fault.afterwards
            : undefined;
      // Redis refuses the account's second key at registration: whatever fails after it never runs.
      const refused = world.adoptedError && !(failAt && BEFORE_REGISTRATION.has(failAt));
      if (refused) return expectGivenBack(env, result, before, world, { name: world.adoptedError ?? "" });
      // Redis was asked to use the new key: it stays (with the old one), never given back to a dead key.
      if (failAt && world.productMade && AFTER_UPDATE.has(failAt)) {
        expect(result.error?.Error).toBe("AccessDenied");
        expect(env.redis.state.accounts.size).toBe(1);
        return;
      }
      if (failAt) return expectGivenBack(env, result, before, world, { name: "AccessDenied", state: failAt });
      return expectAsRedisRequires(env, result, adopt && !world.productMade);
    };
    await check();
    return { world: world.name, adopt, fault: faultLabel(fault), held: true, redisSound, writes };
  } catch (error) {
    const why = error instanceof Error ? error.message.split("\n").slice(0, 4).join(" ") : String(error);
    return { world: world.name, adopt, fault: faultLabel(fault), held: false, redisSound, writes, why };
  } finally {
    await env.close();
  }
}

/** Success and a permanent failure of every later state. */
async function failures(world: World, adopt: boolean): Promise<{ rows: Row[]; writes: number }> {
  const clean = await runCase(world, adopt, { kind: "none" });
  const out = [clean];
  for (const state of LATER) out.push(await runCase(world, adopt, { kind: "fail", state }));
  rows.push(...out);
  return { rows: out, writes: clean.writes };
}

/**
 * A crash right after every write the clean run made:
 * alternately the run goes on to its end, or is then made to fail at RecordSuccess.
 */
const crashPoints = (writes: number) => Array.from({ length: writes }, (_, i) => i + 1);

async function crashes(world: World, adopt: boolean, writes: number): Promise<Row[]> {
  const out: Row[] = [];
  for (const [i, nth] of crashPoints(writes).entries()) {
    const then = i % 2 === 1 ? { afterwards: LAST_FAILING } : {};
    out.push(await runCase(world, adopt, { kind: "crash", nth, ...then }));
  }
  rows.push(...out);
  return out;
}

const failed = (out: Row[]) =>
  out.filter((r) => !r.held).map((r) => `${r.adopt ? "adopt" : "no adopt"} / ${r.fault}: ${r.why}`);

/** Writes of each world's clean run, by world and mode, for its crash cases. */
const cleanWrites = new Map<string, number>();
const modeKey = (world: World, adopt: boolean) => `${world.name}|${adopt}`;

/*
 * Every change to what existed is recorded before it is made, an adoption's state before is kept
 * whole (a retried attempt gives back what the adoption found, not its own writes), and a new key
 * the registry cannot take is withdrawn: a crash between a write and its record is given back like
 * any failure, in every world.
 */

describe("an account that already holds resources of Redis's names", () => {
  it(`covers ${WORLDS.length} worlds and the ${LATER.length} states after CheckOwnership`, () => {
    expect(LATER[0]).toBe("EnsureUserPolicy");
    expect(LATER).toEqual(expect.arrayContaining(["EnsureUser", "RegisterCloudAccount", "RecordSuccess"]));
    // Redis is reached by the registrar only, on behalf of RegisterCloudAccount: no state follows it.
    expect([...AFTER_UPDATE]).toEqual([
      "RetireOldKey",
      "RecordSuccess",
      "ReleaseAccountLock",
      "PublishSucceeded",
    ]);
  });

  for (const world of WORLDS) {
    for (const adopt of [false, true]) {
      const mode = adopt ? 'with "adopt": true' : 'without "adopt"';
      it(`${world.name}, ${mode}: success and a permanent failure of each of the ${LATER.length} later states`, async () => {
        const { rows: out, writes } = await failures(world, adopt);
        cleanWrites.set(modeKey(world, adopt), writes);
        expect(failed(out)).toEqual([]);
        expect(out).toHaveLength(1 + LATER.length);
        // Stopped runs write nothing; the others write, or there would be nothing to crash after.
        expect(writes > 0).toBe(world.productMade || (adopt && !world.blocking));
      }, 60_000);
      it(`${world.name}, ${mode}: a crash right after every write keeps Redis on a key IAM has, and the run's outcome`, async () => {
        const writes = cleanWrites.get(modeKey(world, adopt)) ?? 0;
        const out = await crashes(world, adopt, writes);
        expect(out).toHaveLength(crashPoints(writes).length);
        expect(out.filter((r) => !r.redisSound).map((r) => `${r.fault}: ${r.why}`)).toEqual([]);
        expect(failed(out)).toEqual([]);
      }, 60_000);
    }
  }
});

describe("a plan of a pre-existing world", () => {
  it(`names every foreign resource of the ${WORLDS.filter((w) => !w.productMade).length} foreign worlds and writes nothing`, async () => {
    for (const world of WORLDS.filter((w) => !w.productMade)) {
      const env = await worldEnvironment(world);
      try {
        const before = take(env);
        const result = await env.run({ accountId: TARGET, plan: true }, { executionName: "plan-run" });
        expect(result.status, world.name).toBe("SUCCEEDED");
        const plan = (result.output as { plan: { foreign: { resource: string }[]; writes: unknown[] } }).plan;
        const named = plan.foreign.map((f) => f.resource);
        for (const resource of world.foreign)
          expect(
            named.some((n) => n.startsWith(resource)),
            world.name,
          ).toBe(true);
        expect(plan.writes, world.name).toEqual([]);
        expect(attemptedWrites(env, before.from), world.name).toBe(0);
        expectAsBefore(env, before, world, false);
      } finally {
        await env.close();
      }
    }
  }, 60_000);
});

describe("a lost credentials secret", () => {
  it("is made again and Redis is moved to the new key, its one cloud account kept", async () => {
    const world = WORLDS.find((w) => w.productMade) as World;
    const env = await worldEnvironment(world);
    try {
      const result = await env.run({ accountId: TARGET }, { executionName: EXECUTION });
      await expectAsRedisRequires(env, result, false);
      await expectRedisSound(env);
      expect(env.redis.state.accounts.size).toBe(1);
    } finally {
      await env.close();
    }
  }, 30_000);
});

describe("a crafted invocation of the rollback", () => {
  const rollbackOf = (env: LocalEnvironment, execution: string, extra: Record<string, unknown> = {}) =>
    (env.runs.rollback as StepRun<unknown>)(
      {
        target: { accountId: TARGET, roleName: "OrganizationAccountAccessRole", accountName: "" },
        execution,
        ...extra,
      },
      env.runtime,
    );

  it("with foreign resources' names and no run of its own deletes nothing", async () => {
    const world = WORLDS.find((w) => w.name.startsWith("redislabs-role")) as World;
    const env = await worldEnvironment(world);
    try {
      const before = take(env);
      const answered = (await rollbackOf(env, "crafted-run")) as { undone: string[]; refused?: string };
      expect(answered.undone).toEqual([]);
      expect(answered.refused).toContain("holds no run");
      // Names of what to undo are not the rollback's to take: it reads the registry only.
      const changes = [
        { type: "Role", name: "redislabs-role" },
        { type: "AccessKey", user: "redislabs-user", accessKeyId: "AKIAFOREIGN0000000" },
      ];
      await expect(rollbackOf(env, "crafted-run", { changes })).rejects.toMatchObject({
        name: "InvalidInput",
      });
      expect(attemptedWrites(env, before.from)).toBe(0);
      expectAsBefore(env, before, world, false);
    } finally {
      await env.close();
    }
  });

  it("with another execution's name (a finished run's, or one not running) deletes nothing", async () => {
    const world = WORLDS.find((w) => w.name.startsWith("onboarded by another")) as World;
    const env = await worldEnvironment(world);
    try {
      // This deployment onboards the account itself: its registry names earlier-run, finished.
      await env.run({ accountId: TARGET, adopt: true }, { executionName: "ours" });
      const before = take(env);
      const redisBefore = [...env.redis.state.accounts.keys()];
      for (const execution of ["earlier-run", "ours", "someone-else"]) {
        const answered = (await rollbackOf(env, execution)) as { undone: string[]; refused?: string };
        expect(answered.undone, execution).toEqual([]);
        expect(answered.refused, execution).toBeDefined();
      }
      // A run in progress: only it may roll back, not another execution naming itself.
      await (env.runs.recordStart as StepRun<unknown>)(
        {
          target: { accountId: TARGET, roleName: "OrganizationAccountAccessRole", accountName: "" },
          execution: "running-run",
        },
        env.runtime,
      );
      const answered = (await rollbackOf(env, "ours")) as { undone: string[]; refused?: string };
      expect(answered.undone).toEqual([]);
      expect(answered.refused).toContain("running-run");
      expect(attemptedWrites(env, before.from)).toBe(0);
      expectAsBefore(env, before, world, false);
      await settleRedis(env);
      expect([...env.redis.state.accounts.keys()]).toEqual(redisBefore);
    } finally {
      await env.close();
    }
  });
});

afterAll(() => {
  const writes = rows.reduce((sum, r) => sum + r.writes, 0);
  const held = rows.filter((r) => r.held).length;
  console.log(
    `pre-existing worlds: ${WORLDS.length} worlds, ${rows.length} cases (${held} held), ${writes} IAM/Secrets writes`,
  );
});
