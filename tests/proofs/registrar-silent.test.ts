import { afterEach, describe, expect, it } from "vitest";
import type { StepRun } from "../../functions/lib/define-step.ts";
import { WorkflowError } from "../../functions/lib/errors.ts";
import { forgetRedisApiKeys } from "../../functions/lib/redis-api-keys.ts";
import { type LocalEnvironment, startLocalEnvironment } from "../../local/environment.ts";
import { TARGET } from "./support.ts";

/*
 * A registrar loop that dies: its tick fails every attempt the state machine's retry allows (a
 * sustained outage of its table), and the loop's execution ends with requests still queued. In
 * AWS nobody then heartbeats the waiting executions: each one's HeartbeatSeconds runs out, its
 * Retry on States.HeartbeatTimeout hands the request over again, and that hand-over, the lease
 * having expired, starts a new loop. The local registrar does the same, so the run ends
 * onboarded instead of waiting forever.
 */

let env: LocalEnvironment | undefined;
afterEach(async () => {
  await env?.close();
  env = undefined;
});

async function freshEnvironment(): Promise<LocalEnvironment> {
  forgetRedisApiKeys();
  env = await startLocalEnvironment({ targets: [TARGET], aws: { keyPropagationMs: 0 } });
  return env;
}

/** The environment's tick, failing its first `failures` invocations as a throttled table would. */
function failingTicks(e: LocalEnvironment, failures: number): Record<string, StepRun<unknown>> {
  const tick = e.runs.registrarTick as StepRun<unknown>;
  let calls = 0;
  const registrarTick: StepRun<unknown> = async (event, runtime) => {
    calls += 1;
    if (calls <= failures) throw new WorkflowError("Throttling", "RegistrarTick: Scan: Rate exceeded");
    return tick(event, runtime);
  };
  return { ...e.runs, registrarTick };
}

describe("a registrar loop whose ticks fail every retry", () => {
  it("is noticed by the waiting run's heartbeat timeout; the run hands over again and ends onboarded", async () => {
    const e = await freshEnvironment();

    const result = await e.run({ accountId: TARGET }, { runs: failingTicks(e, 6) });

    expect(result.status).toBe("SUCCEEDED");
    const retried = result.events.filter(
      (ev) => ev.type === "StateRetried" && ev.state.name === "RegisterCloudAccount",
    );
    expect(retried).toHaveLength(1);
    // The first loop died; the hand-over after the timeout started the second, which answered.
    expect(e.registrar.loops).toHaveLength(2);
    expect(e.registrar.waiting).toBe(0);
    expect([...e.redis.state.accounts.values()]).toHaveLength(1);
  });

  it("fails the run, rolled back, when the second loop dies too: the wait is handed over once", async () => {
    const e = await freshEnvironment();

    const result = await e.run({ accountId: TARGET }, { runs: failingTicks(e, 12) });

    expect(result.status).toBe("FAILED");
    expect(result.error?.Error).toBe("States.HeartbeatTimeout");
    expect(e.registrar.waiting).toBe(0);
    // Nothing was sent to Redis; the rollback left nothing behind there.
    expect(e.redis.state.accounts.size).toBe(0);
  });
});
