// --- Offboarding ---
import type { OffboardAtRedisResult } from "../offboard-at-redis.ts";
import type { StepRun } from "./define-step.ts";
import { TRANSIENT_ERRORS, WorkflowError } from "./errors.ts";
import { logger } from "./powertools.ts";
import type { RedisApiKeys } from "./redis-cloud.ts";
// --- Reconcile ---
import { answerLook } from "./registrar-look.ts";
import { offboardOne } from "./registrar-offboard.ts";
import type { QueuedRequest, RegistrarQueue, RegistrarState } from "./registrar-queue.ts";
import { BudgetSpent, type TickRedis } from "./registrar-redis.ts";
import { answerStatus, isRegistration } from "./registrar-status.ts";
import type { Registration } from "./registration.ts";

/*
 * The registrar: the only path from the onboardings to Redis Cloud's API. Executions hand it their
 * request and wait on a task token; each tick of its loop looks once at Redis's tasks and cloud
 * accounts, finishes what Redis finished (SendTaskSuccess / SendTaskFailure with the step's error
 * name), and sends new requests while fewer than `maxInFlight` of its tasks are at Redis (Redis
 * works one task at a time per account: more queued there only wait longer, and cannot be taken
 * back). The work itself is the steps' own code (RegisterCloudAccount, CheckRegistration,
 * WithdrawRegistration), given the tick's shared, budgeted client.
 */

export interface RegistrarSettings {
  /** Tasks of the registrar's at Redis at once: one processed, the next ready behind it. */
  maxInFlight: number;
  /** A task answered 404 this long after its request is one Redis never took. */
  freshMs: number;
  /** After Redis refused a key IAM had not propagated: the pause, and how many refusals end it. */
  refusalPauseMs: number;
  maxRefusals: number;
  /** How often a waiting execution hears that its request is alive (its HeartbeatSeconds is longer). */
  heartbeatMs: number;
  /**
   * A tick's time for heartbeats, stalest first: a queue of thousands (a fleet's rotations) is
   * heard over a few ticks, well within the 15-minute HeartbeatSeconds, never past the tick's own
   * timeout.
   */
  heartbeatSliceMs: number;
  /** A withdrawal waits this long at most for the task of the registration it withdraws. */
  withdrawWaitMs: number;
  /** What a task takes at Redis before the registrar has seen one end. */
  taskMs: number;
}

export const DEFAULT_SETTINGS: RegistrarSettings = {
  maxInFlight: 2,
  freshMs: 120_000,
  refusalPauseMs: 15_000,
  maxRefusals: 5,
  heartbeatMs: 300_000,
  heartbeatSliceMs: 10_000,
  withdrawWaitMs: 1_800_000,
  taskMs: 30_000,
};

/** The steps' code, run for a request with the tick's client. */
export interface RegistrarWork {
  register(request: QueuedRequest, redis: TickRedis): Promise<Registration>;
  check(request: QueuedRequest, redis: TickRedis): Promise<Registration & { status: string }>;
  withdraw(request: QueuedRequest, redis: TickRedis): Promise<unknown>;
  // --- Offboarding ---
  /** One look at an offboarding's delete (see functions/offboard-at-redis.ts). */
  offboard?(request: QueuedRequest, redis: TickRedis): Promise<OffboardAtRedisResult>;
}

/** Step Functions' task-token calls. A token whose execution is gone answers false. */
export interface TaskTokens {
  succeed(token: string, output: unknown): Promise<boolean>;
  fail(token: string, error: string, cause: string): Promise<boolean>;
  heartbeat(token: string): Promise<boolean>;
}

/**
 * Where the registrar runs, when not in AWS: task tokens answered in process, its loop started
 * in process, the steps' code (tests wrap it), Redis reached without a socket, and a clock.
 */
export interface RegistrarHooks {
  tokens: TaskTokens;
  start: (name: string) => Promise<void>;
  work?: {
    register: StepRun<unknown>;
    check: StepRun<unknown>;
    withdraw: StepRun<unknown>;
    // --- Offboarding ---
    offboard?: StepRun<unknown>;
  };
  /** Where Redis is, and its API keys (or the secret holding them; default: the setting's). */
  redis: { baseUrl: string; fetch?: typeof fetch; keys?: RedisApiKeys; apiKeysSecret?: string };
  /** The queue, when not the deployment's table (a run against live AWS keeps its own in memory). */
  queue?: RegistrarQueue;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  settings?: Partial<RegistrarSettings>;
  perMinute?: number;
}

export interface TickDeps {
  queue: RegistrarQueue;
  state: RegistrarState;
  redis: TickRedis;
  work: RegistrarWork;
  tokens: TaskTokens;
  now: () => number;
  settings: RegistrarSettings;
}

export interface TickResult {
  /** Nothing queued: the loop may end. */
  idle: boolean;
  /** When to tick again. */
  nextSeconds: number;
  finished: number;
  sent: number;
  waiting: number;
}

const WAITING = new Set(["initialized", "received", "processing-in-progress"]);
const POLL_MS = 3_000;
/** Never longer: a long task is looked at least every 5 min (heartbeats go out at each look). */
const MAX_PAUSE_MS = 300_000;
const MAX_OVERRUN_PAUSE_MS = 30_000;

const isTransient = (error: unknown) =>
  error instanceof BudgetSpent || (TRANSIENT_ERRORS as readonly string[]).includes((error as Error).name);

/** One pass over the queue. Never throws for one request: its failure is that request's. */
export async function tick(deps: TickDeps): Promise<TickResult> {
  const requests = await deps.queue.list();
  const counts = { finished: 0, sent: 0 };
  if (requests.length === 0) return { idle: true, nextSeconds: 0, waiting: 0, ...counts };
  const inFlight = requests.filter((r) => r.phase === "sent");
  if (inFlight.length > 0) {
    const refused = await lookAtTasks(deps);
    if (refused) return answerAll(requests, refused, deps);
  }
  const done = new Set<string>();
  for (const request of requests.filter((r) => r.kind === "withdraw")) {
    if (await withdrawOne(request, requests, deps, done)) done.add(request.id);
  }
  // --- Reconcile: looks are answered from the tick's one list of cloud accounts ---
  for (const request of requests.filter((r) => r.kind === "look")) {
    if (await answerLook(request, deps, isTransient)) done.add(request.id);
  }
  for (const request of requests.filter((r) => isRegistration(r.kind) && r.phase !== "queued")) {
    if (done.has(request.id)) continue;
    if (await followOne(request, deps)) done.add(request.id);
  }
  // Credential rotation: a status request is answered from this tick's one look at the accounts.
  for (const request of requests.filter((r) => r.kind === "status")) {
    if (await answerStatus(request, deps)) done.add(request.id);
  }
  // --- Offboarding ---
  for (const request of requests.filter((r) => r.kind === "offboard")) {
    if (await offboardOne(request, deps, isTransient)) done.add(request.id);
  }
  counts.finished = done.size;
  counts.sent = await sendNew(requests, done, deps);
  await heartbeats(requests, done, deps);
  const left = await deps.queue.list();
  return {
    idle: left.length === 0,
    nextSeconds: nextPause(left, deps) / 1000,
    waiting: left.length,
    ...counts,
  };
}

/**
 * The tick's one look at Redis's tasks. A transient failure fails the tick (the loop's retry tries
 * again); a permanent one (the API keys refused) is answered below, not kept silent.
 */
async function lookAtTasks(deps: TickDeps): Promise<WorkflowError | undefined> {
  try {
    await deps.redis.lookAtTasks();
    return undefined;
  } catch (error) {
    if (isTransient(error)) throw error;
    const name = error instanceof WorkflowError ? error.name : "UnexpectedError";
    return new WorkflowError(name, `Registrar: GET /v1/tasks: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * Redis refused the registrar for good: every request needs Redis, so every waiting execution
 * hears the error by name at once (and rolls back or fails) instead of waiting for its heartbeat
 * to time out on a loop that died.
 */
async function answerAll(
  requests: QueuedRequest[],
  error: WorkflowError,
  deps: TickDeps,
): Promise<TickResult> {
  logger.error("registrar: Redis refused the task list; every waiting request is failed", { error });
  for (const request of requests) {
    await finish(request, deps, () => deps.tokens.fail(request.taskToken, error.name, error.message));
  }
  return { idle: true, nextSeconds: 0, finished: requests.length, sent: 0, waiting: 0 };
}

/** Follows a sent request's task; true once the waiting execution has its answer. */
async function followOne(request: QueuedRequest, deps: TickDeps): Promise<boolean> {
  const taskId = request.registration?.taskId;
  if (request.phase === "sent" && taskId !== undefined) {
    const task = deps.redis.seen(taskId) ?? (await lateLook(request, taskId, deps));
    if (task === "gone") return true;
    if (!task || WAITING.has(task.status)) return false;
    learn(request, deps);
  }
  try {
    const result = await deps.work.check(request, deps.redis);
    if (result.status === "active") return answer(request, deps, result);
    await deps.queue.update({ ...request, phase: "checking", registration: result });
    return false;
  } catch (error) {
    return failed(request, error, deps);
  }
}

/**
 * A task not in the list: fresh for `freshMs` after its request, then read once by id (a long
 * list may leave it out); still unknown, Redis never took it.
 */
async function lateLook(request: QueuedRequest, taskId: string, deps: TickDeps) {
  if (deps.now() - (request.sentAt ?? deps.now()) < deps.settings.freshMs) return undefined;
  try {
    return await deps.redis.readTask(taskId);
  } catch (error) {
    if ((error as { status?: number }).status !== 404) return undefined;
    const cause = `RegisterCloudAccount: Redis Cloud task ${taskId} was still not found ${Math.round(deps.settings.freshMs / 1000)} s after its request: Redis did not take it`;
    await finish(request, deps, () => deps.tokens.fail(request.taskToken, "RedisTaskNotFound", cause));
    return "gone" as const;
  }
}

/** The end of a task seen: the next in line started then; what it took teaches the next pause. */
function learn(request: QueuedRequest, deps: TickDeps) {
  const at = deps.now();
  const started = Math.max(request.sentAt ?? at, deps.state.lastCompletionAt ?? 0);
  const took = at - started;
  const known = deps.state.taskMs ?? deps.settings.taskMs;
  if (took > 0) deps.state.taskMs = Math.round((known + took) / 2);
  deps.state.lastCompletionAt = at;
}

/** A failure: a key Redis could not use yet is asked again later; a transient one next tick. */
async function failed(request: QueuedRequest, error: unknown, deps: TickDeps): Promise<boolean> {
  if (isTransient(error)) {
    logger.warn("registrar: retried next tick", {
      execution: request.execution,
      error: (error as Error).name,
    });
    return false;
  }
  const named = error instanceof WorkflowError ? error : new WorkflowError("UnexpectedError", String(error));
  const refusals = (request.refusals ?? 0) + 1;
  if (named.name === "CloudAccountInvalidCreds" && refusals < deps.settings.maxRefusals) {
    const { registration: _, sentAt: __, ...rest } = request;
    await deps.queue.update({
      ...rest,
      phase: "queued",
      refusals,
      notBefore: deps.now() + deps.settings.refusalPauseMs,
    });
    return false;
  }
  return finish(request, deps, () => deps.tokens.fail(request.taskToken, named.name, named.message));
}

async function answer(request: QueuedRequest, deps: TickDeps, result: unknown): Promise<boolean> {
  return finish(request, deps, () => deps.tokens.succeed(request.taskToken, result));
}

/** Tells the execution, then forgets the request (an execution gone has nothing to hear). */
async function finish(request: QueuedRequest, deps: TickDeps, tell: () => Promise<boolean>) {
  await tell();
  await deps.queue.remove(request);
  return true;
}

/** Sends queued registrations, oldest first, while Redis holds fewer than maxInFlight of ours. */
async function sendNew(requests: QueuedRequest[], done: Set<string>, deps: TickDeps): Promise<number> {
  let inFlight = requests.filter((r) => r.phase === "sent" && !done.has(r.id)).length;
  let sent = 0;
  const ready = requests.filter(
    (r) => isRegistration(r.kind) && r.phase === "queued" && (r.notBefore ?? 0) <= deps.now(),
  );
  for (const request of ready) {
    if (inFlight >= deps.settings.maxInFlight) break;
    try {
      const registration = await deps.work.register(request, deps.redis);
      const phase = registration.taskId !== undefined ? "sent" : "checking";
      await deps.queue.update({ ...request, phase, registration, sentAt: deps.now() });
      if (phase === "sent") inFlight += 1;
      sent += 1;
    } catch (error) {
      if (error instanceof BudgetSpent) break;
      if (await failed(request, error, deps)) done.add(request.id);
    }
  }
  return sent;
}

/**
 * A rollback's withdrawal: it waits (bounded) for the task of this execution's registration, so
 * that the cloud account a fresh task makes is deleted, never missed; a registration not sent
 * yet is dropped. True once the rollback has its answer.
 */
async function withdrawOne(request: QueuedRequest, all: QueuedRequest[], deps: TickDeps, done: Set<string>) {
  const own = all.find((r) => r.kind === "register" && r.execution === request.execution);
  const taskId = own?.phase === "sent" ? own.registration?.taskId : undefined;
  if (own && taskId !== undefined) {
    const task = deps.redis.seen(taskId);
    const waited = deps.now() - request.enqueuedAt;
    const fresh = deps.now() - (own.sentAt ?? 0) < deps.settings.freshMs;
    const running = task ? WAITING.has(task.status) : fresh;
    if (running && waited < deps.settings.withdrawWaitMs) return false;
  }
  try {
    const result = await deps.work.withdraw(request, deps.redis);
    if (own) {
      // Its execution has moved on: the registration is neither followed nor sent any more.
      await deps.queue.remove(own);
      done.add(own.id);
    }
    return answer(request, deps, result);
  } catch (error) {
    if (isTransient(error)) return false;
    const named = error instanceof Error ? error : new Error(String(error));
    return finish(request, deps, () => deps.tokens.fail(request.taskToken, named.name, named.message));
  }
}

/** Heartbeats sent at once: each is three calls (Step Functions, then the queue's read and write). */
const HEARTBEAT_CONCURRENCY = 10;

/**
 * Every waiting execution hears, every `heartbeatMs`, that its request is still being worked:
 * the stalest first, a few at once, for at most `heartbeatSliceMs`; the rest at the next tick.
 * Each is best effort: a throttled call leaves that heartbeat to the next tick (well within the
 * execution's HeartbeatSeconds), never the tick's work undone, nor the loop's retries spent.
 */
async function heartbeats(requests: QueuedRequest[], done: Set<string>, deps: TickDeps) {
  const heardAt = (r: QueuedRequest) => r.heartbeatAt ?? r.enqueuedAt;
  const due = requests
    .filter((r) => !done.has(r.id) && deps.now() - heardAt(r) >= deps.settings.heartbeatMs)
    .sort((a, b) => heardAt(a) - heardAt(b));
  const until = deps.now() + deps.settings.heartbeatSliceMs;
  for (let i = 0; i < due.length && deps.now() < until; i += HEARTBEAT_CONCURRENCY) {
    await Promise.all(due.slice(i, i + HEARTBEAT_CONCURRENCY).map((r) => bestEffortHeartbeat(r, deps)));
  }
}

async function bestEffortHeartbeat(request: QueuedRequest, deps: TickDeps) {
  try {
    await heartbeat(request, deps);
  } catch (error) {
    if (!isTransient(error)) throw error;
    logger.warn("registrar: heartbeat left to the next tick", {
      execution: request.execution,
      error: (error as Error).name,
    });
  }
}

async function heartbeat(request: QueuedRequest, deps: TickDeps) {
  const alive = await deps.tokens.heartbeat(request.taskToken);
  if (!alive && request.phase === "queued") {
    // Its execution is over (timed out, stopped): nothing was sent, nothing is owed.
    await deps.queue.remove(request);
    return;
  }
  const current = (await deps.queue.get(request.execution, request.kind)) ?? request;
  await deps.queue.update({ ...current, heartbeatAt: deps.now() });
}

/**
 * The pause before the next look: until the task Redis is working should end (learned from the
 * ones before, Redis working them one after another), then every 3 s, longer as the task overruns
 * the estimate by more (half the overrun, at most 30 s: a slow task costs few looks while the
 * estimate learns); a refused key's next try, or Redis's Retry-After, when sooner or later.
 */
function nextPause(left: QueuedRequest[], deps: TickDeps): number {
  const at = deps.now();
  const wakes: number[] = [];
  const head = left.find((r) => r.phase === "sent");
  if (head) {
    const started = Math.max(head.sentAt ?? at, deps.state.lastCompletionAt ?? 0);
    const expected = started + (deps.state.taskMs ?? deps.settings.taskMs);
    const overrun = at - expected;
    wakes.push(overrun < 0 ? expected : at + Math.min(MAX_OVERRUN_PAUSE_MS, Math.max(POLL_MS, overrun / 2)));
  }
  if (left.some((r) => r.phase === "checking" || r.kind === "withdraw" || r.kind === "look")) wakes.push(at);
  // Queued requests wait for room at Redis, which only the head's end makes.
  const room = left.filter((r) => r.phase === "sent").length < deps.settings.maxInFlight;
  for (const r of left) if (r.phase === "queued" && room) wakes.push(r.notBefore ?? at);
  const soonest = Math.min(...wakes, at + MAX_PAUSE_MS);
  const pause = Math.max(POLL_MS, soonest - at, (deps.state.pausedUntil ?? at) - at);
  return Math.min(MAX_PAUSE_MS, pause);
}
