import { FLEET_BUDGET_PER_MINUTE, runFleet } from "../local/fleet.ts";
import {
  busiestMinute,
  type LocalRedisCloudOptions,
  type LocalRedisCloudState,
} from "../local/redis-cloud/server.ts";

/*
 * Fleet-scale registration on a virtual clock: N accounts vended at once, each onboarded by the
 * real definition and step code with the definition's own waits and retries, the registrar
 * ticking with the pauses it asks for and its deployed budget, and the local Redis Cloud API
 * enforcing Redis's limits (400 requests per sliding minute, one task at a time, each taking its
 * time, 404 while fresh). Hours of Redis work take seconds; every figure is virtual time.
 */

export interface FleetFigures {
  accounts: number;
  taskSeconds: number;
  succeeded: number;
  outcomes: Record<string, number>;
  /** Virtual seconds from the first start to the last end. */
  totalSeconds: number;
  /** totalSeconds / (N × task time): Redis working back to back is 1. */
  ofSerialFloor: number;
  redisRequests: number;
  requestsPerOnboarding: number;
  responses429: number;
  busiestMinute: number;
  budgetPerMinute: number;
  stateTransitionsPerOnboarding: number;
  /** Registrar loops started (one, when it never went idle). */
  registrarLoops: number;
  /** Cloud accounts at Redis at the end, and how many AWS accounts hold more than one. */
  cloudAccounts: number;
  duplicateRegistrations: number;
  faultsInjected: number;
}

export interface FleetOptions {
  /** A transient fault for some requests (503, a reset, an answer lost after the work was done). */
  fault?: LocalRedisCloudOptions["fault"];
}

/** `accounts` fresh accounts started within the same instant, on a virtual clock. */
export async function measureFleet(
  accounts: number,
  taskSeconds: number,
  options: FleetOptions = {},
): Promise<FleetFigures> {
  const { env, results, elapsedMs } = await runFleet(accounts, {
    taskSeconds,
    ...(options.fault ? { redis: { fault: options.fault } } : {}),
  });
  const requests = env.redis.state.requests;
  const transitions = results.reduce(
    (sum, r) => sum + r.events.filter((e) => e.type === "StateEntered").length,
    0,
  );
  const outcomes: Record<string, number> = {};
  for (const r of results) {
    const key = r.error ? `${r.status} (${r.error.Error})` : r.status;
    outcomes[key] = (outcomes[key] ?? 0) + 1;
  }
  const totalSeconds = elapsedMs / 1000;
  return {
    accounts,
    taskSeconds,
    succeeded: results.filter((r) => r.status === "SUCCEEDED").length,
    outcomes,
    totalSeconds: Math.round(totalSeconds),
    ...redisFigures(env.redis.state.requests, accounts, taskSeconds, totalSeconds),
    stateTransitionsPerOnboarding: Number((transitions / accounts).toFixed(1)),
    registrarLoops: env.registrar.loops.length,
    cloudAccounts: env.redis.state.accounts.size,
    duplicateRegistrations: duplicates(env),
    faultsInjected: requests.filter((r) => r.status >= 500 || r.status === 0).length,
  };
}

/** AWS accounts (by cloud account name) that Redis holds more than one cloud account for. */
function duplicates(env: { redis: { state: { accounts: Map<number, { name: string }> } } }): number {
  const names = new Map<string, number>();
  for (const account of env.redis.state.accounts.values())
    names.set(account.name, (names.get(account.name) ?? 0) + 1);
  return [...names.values()].filter((n) => n > 1).length;
}

/** What Redis saw of a fleet: its requests, its 429s, its busiest minute, against the serial floor. */
export function redisFigures(
  requests: LocalRedisCloudState["requests"],
  accounts: number,
  taskSeconds: number,
  totalSeconds: number,
) {
  return {
    ofSerialFloor: Number((totalSeconds / (accounts * taskSeconds)).toFixed(3)),
    redisRequests: requests.length,
    requestsPerOnboarding: Number((requests.length / accounts).toFixed(2)),
    responses429: requests.filter((r) => r.status === 429).length,
    busiestMinute: busiestMinute(requests),
    budgetPerMinute: FLEET_BUDGET_PER_MINUTE,
  };
}
