import { type LocalEnvironment, startLocalEnvironment } from "./environment.ts";
import type { LocalRedisCloudOptions } from "./redis-cloud/server.ts";
import { runOnVirtualClock } from "./virtual-clock.ts";
import type { WorkflowResult } from "./workflow.ts";

/*
 * A fleet vended at once, on a virtual clock: each account onboarded by the real definition and
 * step code with every wait as written, the registrar ticking as deployed (its pauses, its
 * budget), the local Redis Cloud API enforcing Redis's limits (tasks that take their time, one at
 * a time, 404 while fresh), IAM propagating a new key in 10 s. The benchmark and the proofs share it.
 */

/** The registrar's deployed budget (serverless.yml's redisRequestsPerMinute). */
export const FLEET_BUDGET_PER_MINUTE = 360;
/** IAM's propagation of a new access key, as the in-memory AWS models it. */
const PROPAGATION_MS = 10_000;

export interface FleetOptions {
  /** Seconds each Redis task takes. */
  taskSeconds: number;
  /** The local API's other options (a fault for some requests, say). */
  redis?: Partial<LocalRedisCloudOptions>;
  /** Before the runs start: what each run gets besides the defaults (its own services, say). */
  arrange?: (env: LocalEnvironment) => Partial<Parameters<LocalEnvironment["run"]>[1]>;
  /** First account id of the fleet; the others follow. */
  firstAccount?: number;
}

export interface Fleet {
  env: LocalEnvironment;
  results: WorkflowResult[];
  /** Virtual milliseconds from the first start until the last run and the registrar ended. */
  elapsedMs: number;
}

/** `accounts` fresh accounts started within the same instant; answers every run and the time it all took. */
export async function runFleet(accounts: number, options: FleetOptions): Promise<Fleet> {
  const first = options.firstAccount ?? 400_000_000_000;
  const { result, elapsedMs } = await runOnVirtualClock(
    async () => {
      const targets = Array.from({ length: accounts }, (_, i) => String(first + i));
      const env = await startLocalEnvironment({
        targets,
        aws: { keyPropagationMs: PROPAGATION_MS },
        redis: { inProcess: true, taskSeconds: options.taskSeconds, freshSeconds: 3, ...options.redis },
        registrar: { timed: true, perMinute: FLEET_BUDGET_PER_MINUTE },
      });
      try {
        const more = options.arrange?.(env) ?? {};
        const results = await Promise.all(
          targets.map((accountId) => env.run({ accountId }, { pauseMs: undefined, ...more })),
        );
        await env.registrar.settled();
        return { env, results };
      } finally {
        await env.close();
      }
    },
    { maxElapsedMs: 10 * 24 * 3600_000 },
  );
  return { ...result, elapsedMs };
}
