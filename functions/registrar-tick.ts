import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import {
  SendTaskFailureCommand,
  SendTaskHeartbeatCommand,
  SendTaskSuccessCommand,
} from "@aws-sdk/client-sfn";
import * as z from "zod";
import { run as checkRegistration } from "./check-registration.ts";
import { lambdaClients } from "./lib/clients.ts";
import { REDIS_SETTINGS, type SettingsOf } from "./lib/config.ts";
import { defineStep, type Runtime, type StepContext, type StepRun } from "./lib/define-step.ts";
import { cachedRedisApiKeys } from "./lib/redis-api-keys.ts";
import {
  DEFAULT_SETTINGS,
  type RegistrarSettings,
  type RegistrarWork,
  type TaskTokens,
  type TickResult,
  tick,
} from "./lib/registrar.ts";
import { LEASE_MARGIN_MS, registrarName } from "./lib/registrar-lease.ts";
import { TickMeter } from "./lib/registrar-metrics.ts";
import { DynamoRegistrarQueue, type QueuedRequest, type RegistrarQueue } from "./lib/registrar-queue.ts";
import { budgetedFetch, RequestBudget, TickRedis } from "./lib/registrar-redis.ts";
import { sfnClient } from "./lib/trigger-runtime.ts";
// --- Offboarding ---
import { run as offboardAtRedis } from "./offboard-at-redis.ts";
import { run as registerCloudAccount } from "./register-cloud-account.ts";
import { run as withdrawRegistration } from "./withdraw-registration.ts";

const STEP = "RegistrarTick";

/** What the registrar's loop hands each tick: its own name, and how many ticks it has run. */
export const TickInputSchema = z.object({
  execution: z.string().min(1),
  ticks: z.number().int().nonnegative().default(0),
});
export type TickInput = z.output<typeof TickInputSchema>;

export interface TickOutput {
  idle: boolean;
  /** The loop's pause before the next tick (a whole number: a Wait state's seconds). */
  nextSeconds: number;
  ticks: number;
  /** Set when this loop hands over to a new execution (its history stays small). */
  successor?: string;
  /** Why this loop stopped without working: another holds the lease. */
  stopped?: string;
}

/** Ticks of one loop before it hands over to a fresh execution (25,000 history events allowed). */
export const MAX_TICKS = 1_000;
/** A tick's own time: its Lambda timeout is 60 s, and budget waits end before this. */
const TICK_MS = 40_000;

export interface TickStepDeps {
  queue: RegistrarQueue;
  tokens: TaskTokens;
  work: RegistrarWork;
  /** A client for this tick, spending the budget kept in the registrar's state. */
  redisFor: (budget: RequestBudget) => TickRedis;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  perMinute: number;
  settings: RegistrarSettings;
  // --- Fleet metrics ---
  /** Counts this tick's requests and 429s (its fetch is below the budget) and reports them. */
  meter?: TickMeter;
}

/**
 * One tick of the registrar's loop, under its lease: another loop holding it ends this one. The
 * lease is renewed for the pause the loop is about to take, and released when the queue is empty
 * (then looked at once more, so that a request handed over meanwhile is not stranded).
 */
export async function registrarTick(input: TickInput, deps: TickStepDeps): Promise<TickOutput> {
  const ticks = input.ticks + 1;
  const lease = { owner: input.execution, now: deps.now() };
  const state = await deps.queue.loadState();
  if (state.owner !== input.execution && (state.leaseUntil ?? 0) > lease.now) {
    return { idle: true, nextSeconds: 0, ticks, stopped: `the lease is held by ${state.owner}` };
  }
  const mine = { ...state, owner: input.execution, leaseUntil: lease.now + TICK_MS + LEASE_MARGIN_MS };
  if (!(await deps.queue.saveState(mine, lease))) {
    return { idle: true, nextSeconds: 0, ticks, stopped: "another loop took the lease" };
  }
  const budget = new RequestBudget(mine, {
    perMinute: deps.perMinute,
    now: deps.now,
    sleep: deps.sleep,
    deadline: lease.now + TICK_MS,
  });
  const result = await tick({ ...deps, state: mine, redis: deps.redisFor(budget) });
  deps.meter?.report(result.waiting);
  return settle(input, ticks, result, mine, deps);
}

async function settle(
  input: TickInput,
  ticks: number,
  result: TickResult,
  state: Awaited<ReturnType<RegistrarQueue["loadState"]>>,
  deps: TickStepDeps,
): Promise<TickOutput> {
  const nextSeconds = Math.max(1, Math.ceil(result.nextSeconds));
  const now = deps.now();
  if (result.idle) {
    await deps.queue.saveState({ ...state, leaseUntil: 0 });
    // A hand-over between the last look and the release found the lease held: take it back.
    if ((await deps.queue.list()).length === 0) return { idle: true, nextSeconds: 0, ticks };
    const back = { ...state, owner: input.execution, leaseUntil: now + LEASE_MARGIN_MS };
    const retaken = await deps.queue.saveState(back, { owner: input.execution, now });
    return retaken ? { idle: false, nextSeconds: 1, ticks } : { idle: true, nextSeconds: 0, ticks };
  }
  const successor = ticks >= MAX_TICKS ? registrarName(now) : undefined;
  const owner = successor ?? input.execution;
  await deps.queue.saveState({ ...state, owner, leaseUntil: now + nextSeconds * 1000 + LEASE_MARGIN_MS });
  return { idle: false, nextSeconds, ticks, ...(successor ? { successor } : {}) };
}

/** Step Functions' answers; a token whose execution has ended is no error of the registrar's. */
function sfnTokens(): TaskTokens {
  const gone = (error: unknown) =>
    ["TaskTimedOut", "TaskDoesNotExist", "InvalidToken"].includes((error as Error).name);
  const send = async (call: () => Promise<unknown>) => {
    try {
      await call();
      return true;
    } catch (error) {
      if (gone(error)) return false;
      throw error;
    }
  };
  return {
    succeed: (taskToken, output) =>
      send(() =>
        sfnClient().send(new SendTaskSuccessCommand({ taskToken, output: JSON.stringify(output ?? {}) })),
      ),
    fail: (taskToken, error, cause) =>
      send(() =>
        sfnClient().send(new SendTaskFailureCommand({ taskToken, error, cause: cause.slice(0, 32_000) })),
      ),
    heartbeat: (taskToken) => send(() => sfnClient().send(new SendTaskHeartbeatCommand({ taskToken }))),
  };
}

type TickSettings = SettingsOf<(typeof TICK_SETTINGS)[number]>;
const TICK_SETTINGS = [
  ...REDIS_SETTINGS,
  "registrarTableName",
  "registryTableName",
  "secretNamePrefix",
  "redisRequestsPerMinute",
  "registrarMaxInFlight",
] as const;

/** The steps' code, run with a runtime whose Redis client is the tick's. */
function workOf(
  runtime: Runtime,
  runs: Record<Exclude<keyof RegistrarWork, "offboard">, StepRun<unknown>> & { offboard?: StepRun<unknown> },
): RegistrarWork {
  const withRedis = (redis: TickRedis): Runtime => ({ ...runtime, redis: async () => redis });
  const input = (request: QueuedRequest) => ({
    target: request.target,
    execution: request.execution,
    ...(request.credentialsSecretArn ? { credentialsSecretArn: request.credentialsSecretArn } : {}),
    ...(request.registration ? { registration: request.registration } : {}),
    // Credential rotation: the new key and password are the secret's pending version, read here.
    ...(request.kind === "rotate" ? { versionStage: "AWSPENDING" as const } : {}),
  });
  return {
    register: async (request, redis) => (await runs.register(input(request), withRedis(redis))) as never,
    check: async (request, redis) => (await runs.check(input(request), withRedis(redis))) as never,
    withdraw: (request, redis) => runs.withdraw(input(request), withRedis(redis)),
    // --- Offboarding ---
    ...(runs.offboard
      ? {
          offboard: async (request, redis) =>
            (await runs.offboard?.(input(request), withRedis(redis))) as never,
        }
      : {}),
  };
}

async function tickDeps({ runtime }: StepContext<TickInput, TickSettings>): Promise<TickStepDeps> {
  const hooks = runtime.registrar;
  const { config } = runtime;
  const secrets = runtime.clients.secrets();
  const keys =
    hooks?.redis.keys ??
    (await cachedRedisApiKeys(secrets, hooks?.redis.apiKeysSecret ?? config.apiKeysSecret, STEP));
  // Fleet metrics: every request the tick sends, and every 429, pass the meter.
  const meter = new TickMeter();
  const fetchImpl = meter.count(hooks?.redis.fetch ?? fetch);
  const baseUrl = hooks?.redis.baseUrl ?? config.apiUrl;
  const now = hooks?.now ?? Date.now;
  const runs = hooks?.work ?? {
    register: registerCloudAccount,
    check: checkRegistration,
    withdraw: withdrawRegistration,
    // --- Offboarding ---
    offboard: offboardAtRedis,
  };
  return {
    queue:
      hooks?.queue ?? new DynamoRegistrarQueue(runtime.clients.dynamodb(), config.registrarTableName, STEP),
    tokens: hooks?.tokens ?? sfnTokens(),
    work: workOf(runtime as unknown as Runtime, runs),
    redisFor: (budget) => new TickRedis({ baseUrl, keys, fetch: budgetedFetch(budget, fetchImpl) }),
    now,
    sleep: hooks?.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms))),
    perMinute: hooks?.perMinute ?? config.redisRequestsPerMinute,
    settings: { ...DEFAULT_SETTINGS, maxInFlight: config.registrarMaxInFlight, ...hooks?.settings },
    meter,
  };
}

export const { run, handler } = defineStep({
  name: STEP,
  input: TickInputSchema,
  settings: TICK_SETTINGS,
  clients: lambdaClients({ secrets: SecretsManagerClient, dynamodb: DynamoDBClient }),
  deps: tickDeps,
  run: registrarTick,
});
