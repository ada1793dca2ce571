import { readFile, writeFile } from "node:fs/promises";
import { startLocalEnvironment } from "../local/environment.ts";
import { FLEET_BUDGET_PER_MINUTE } from "../local/fleet.ts";
import { runOnVirtualClock } from "../local/virtual-clock.ts";
import { redisFigures } from "./fleet.ts";

/*
 * A backfill through the bulk onboarding, on the virtual clock: N existing accounts in three OUs,
 * `{"organization": true}`, the real bulk definition (its Distributed Map through the local
 * stand-in, MaxConcurrency as deployed) starting the real onboarding per account, the registrar
 * with its deployed budget, the local Redis Cloud API enforcing Redis's limits. The same targets
 * as the registrar's fleets: every account onboarded, total ≈ N × task, no 429, the busiest
 * minute within the budget.
 */

/** [accounts, seconds per Redis task] of the backfill the bench measures. */
export const BULK_BACKFILL = [1000, 30] as const;
const OUS = ["ou-bulk-11111111", "ou-bulk-22222222", "ou-bulk-33333333"];

export async function measureBulkBackfill(accounts: number, taskSeconds: number) {
  const started = performance.now();
  const { result, elapsedMs } = await runOnVirtualClock(
    async () => {
      const targets = Array.from({ length: accounts }, (_, i) => String(600_000_000_000 + i));
      const env = await startLocalEnvironment({
        targets,
        aws: { keyPropagationMs: 10_000 },
        redis: { inProcess: true, taskSeconds, freshSeconds: 3 },
        registrar: { timed: true, perMinute: FLEET_BUDGET_PER_MINUTE },
      });
      try {
        for (const ou of OUS) env.aws.addOrganizationalUnit(ou, "r-bulk");
        for (const [i, id] of targets.entries())
          env.aws.addOrganizationAccount(id, OUS[i % OUS.length] as string);
        const run = await env.runWorkflow("bulk-onboarding", { organization: true }, { pauseMs: undefined });
        await env.registrar.settled();
        return { env, run };
      } finally {
        await env.close();
      }
    },
    { maxElapsedMs: 10 * 24 * 3600_000 },
  );
  const { env, run } = result;
  const summary = (run.output ?? {}) as {
    onboarded?: number;
    failed?: number;
    failures?: Record<string, number>;
  };
  const requests = env.redis.state.requests;
  const totalSeconds = elapsedMs / 1000;
  const concurrency = env.runtime.config as { bulkConcurrency?: number };
  return {
    accounts,
    taskSeconds,
    status: run.status,
    mapConcurrency: concurrency.bulkConcurrency ?? 50,
    onboarded: summary.onboarded ?? 0,
    failed: summary.failed ?? 0,
    failures: summary.failures ?? {},
    totalSeconds: Math.round(totalSeconds),
    ...redisFigures(requests, accounts, taskSeconds, totalSeconds),
    cloudAccounts: env.redis.state.accounts.size,
    realSeconds: Number(((performance.now() - started) / 1000).toFixed(1)),
  };
}

/** Measures the backfill and writes it into results.json beside the other figures (`bulk`). */
export async function benchBulk(resultsFile: string): Promise<void> {
  process.env.POWERTOOLS_LOG_LEVEL = "SILENT";
  const [accounts, taskSeconds] = BULK_BACKFILL;
  const figures = await measureBulkBackfill(accounts, taskSeconds);
  const results = JSON.parse(await readFile(resultsFile, "utf8").catch(() => "{}")) as Record<
    string,
    unknown
  >;
  results.bulk = {
    settings: {
      clock:
        "virtual: the real bulk and onboarding definitions and step code, every wait and pause as written",
      input: '{"organization": true}, the accounts in three OUs',
      redis: "400 requests per sliding minute, one task at a time, 404 for 3 s after its POST",
      keyPropagationMs: 10_000,
      registrarBudgetPerMinute: FLEET_BUDGET_PER_MINUTE,
    },
    backfill: figures,
  };
  await writeFile(resultsFile, `${JSON.stringify(results, null, 2)}\n`);
  console.log(
    `bulk backfill (virtual clock): ${figures.onboarded}/${figures.accounts} onboarded, ${figures.failed} failed, ` +
      `${figures.totalSeconds} s (${figures.ofSerialFloor} × N×task), ${figures.responses429} 429s, ` +
      `busiest minute ${figures.busiestMinute}/${figures.budgetPerMinute}; ${figures.realSeconds} s real`,
  );
}
