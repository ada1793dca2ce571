import { performance } from "node:perf_hooks";
import { StateMachine, type StateMachineDefinition } from "aws-local-stepfunctions";
import { describe, expect, it } from "vitest";
import { startLocalEnvironment } from "../../local/environment.ts";
import { limitConcurrency, runOnVirtualClock, sleep } from "../../local/virtual-clock.ts";

const HOUR = 3_600_000;
const START = Date.UTC(2030, 0, 1);

describe("runOnVirtualClock", () => {
  it("runs a 6-hour chain of timers in well under a second, Date.now() following the virtual time", async () => {
    // Prepare
    const realStart = performance.now();

    // Act
    const run = await runOnVirtualClock(
      async (clock) => {
        const first = Date.now();
        for (let i = 0; i < 360; i++) await new Promise((resolve) => setTimeout(resolve, 60_000));
        return { first, last: Date.now(), date: new Date().toISOString(), clock: clock.elapsed() };
      },
      { start: START },
    );

    // Assess
    expect(performance.now() - realStart).toBeLessThan(1_000);
    expect(run.elapsedMs).toBe(6 * HOUR);
    expect(run.result).toEqual({
      first: START,
      last: START + 6 * HOUR,
      date: "2030-01-01T06:00:00.000Z",
      clock: 6 * HOUR,
    });
    expect(Date.now()).toBeLessThan(START);
  });

  it("wakes interleaved sleepers in the order of their virtual times", async () => {
    // Act
    const { result } = await runOnVirtualClock(
      async (clock) => {
        const woke: string[] = [];
        const sleeper = async (name: string, naps: number[]) => {
          for (const ms of naps) {
            await clock.sleep(ms);
            woke.push(`${name}@${clock.elapsed()}`);
          }
        };
        await Promise.all([sleeper("a", [10, 10, 10]), sleeper("b", [15, 16])]);
        return woke;
      },
      { start: START },
    );

    // Assess
    expect(result).toEqual(["a@10", "b@15", "a@20", "a@30", "b@31"]);
  });

  it("lets work that takes many turns of promises finish before the clock moves", async () => {
    // Act: a timer due at once races a long chain of promises, as a step's SDK calls are.
    const { result } = await runOnVirtualClock(async () => {
      const order: string[] = [];
      const timer = sleep(1).then(() => order.push("timer"));
      let chain = Promise.resolve();
      for (let i = 0; i < 10_000; i++) chain = chain.then(() => undefined);
      await chain.then(() => order.push("chain"));
      await timer;
      return order;
    });

    // Assess
    expect(result).toEqual(["chain", "timer"]);
  });

  it("rejects with the error of main, and gives the real timers back", async () => {
    // Act
    const error = await runOnVirtualClock(async () => {
      await sleep(HOUR);
      throw new Error("failed after an hour");
    }).then(
      () => new Error("resolved"),
      (thrown: unknown) => thrown as Error,
    );
    const realTimer = await new Promise<string>((resolve) => setTimeout(() => resolve("real"), 1));

    // Assess
    expect(error.message).toBe("failed after an hour");
    expect(realTimer).toBe("real");
  });

  it("calls a run stuck when it waits on nothing that can ever come", async () => {
    // Act
    const error = await runOnVirtualClock(() => new Promise<never>(() => {}), { stuckAfterMs: 50 }).then(
      () => new Error("resolved"),
      (thrown: unknown) => thrown as Error,
    );

    // Assess
    expect(error.message).toContain("no timer or other work is pending");
  });

  it("runs a state machine's hour-long Wait and its Retry backoff in virtual time", async () => {
    // Prepare
    const definition = {
      StartAt: "Pause",
      States: {
        Pause: { Type: "Wait", Seconds: 3600, Next: "Flaky" },
        Flaky: {
          Type: "Task",
          Resource: "arn:aws:lambda:us-east-1:111111111111:function:flaky",
          Retry: [{ ErrorEquals: ["States.ALL"], IntervalSeconds: 60, MaxAttempts: 3, BackoffRate: 2 }],
          End: true,
        },
      },
    } as StateMachineDefinition;

    // Act
    const run = await runOnVirtualClock(
      async (clock) => {
        const attempts: number[] = [];
        const flaky = async () => {
          attempts.push(clock.elapsed() / 1000);
          if (attempts.length < 3) throw new Error("not yet");
          return { attempts };
        };
        const execution = new StateMachine(definition).run(
          {},
          { overrides: { taskResourceLocalHandlers: { Flaky: flaky } } },
        );
        return execution.result;
      },
      { start: START },
    );

    // Assess: the Wait, then retries after 60 s and 120 s.
    expect(run.result).toEqual({ attempts: [3600, 3660, 3780] });
    expect(run.elapsedMs).toBe(3780_000);
  });

  it("onboards an account with the real definition's own waits, Redis taking 30 s a task", async () => {
    // Act
    const run = await runOnVirtualClock(
      async () => {
        const env = await startLocalEnvironment({
          targets: ["222222222222"],
          redis: { inProcess: true, taskSeconds: 30 },
          // The registrar pauses as deployed (its ticks' own waits), not at once: on a virtual
          // clock an untimed loop would never let time move.
          registrar: { timed: true },
        });
        try {
          const result = await env.run(
            { accountId: "222222222222", accountName: "payments-prod" },
            { pauseMs: undefined },
          );
          const tasks = [...env.redis.state.tasks.values()];
          return { result, tasks, accounts: [...env.redis.state.accounts.values()], url: env.redis.url };
        } finally {
          await env.close();
        }
      },
      { start: START },
    );

    // Assess
    const { result, tasks, accounts, url } = run.result;
    expect(result.error).toBeUndefined();
    expect(result.status).toBe("SUCCEEDED");
    expect(url).toBe("http://redis-cloud.invalid/v1");
    expect(tasks).toHaveLength(1);
    expect(tasks[0]).toMatchObject({ status: "processing-completed" });
    expect((tasks[0]?.endedAt ?? 0) - (tasks[0]?.startedAt ?? 0)).toBe(30_000);
    expect(accounts).toEqual([expect.objectContaining({ status: "active" })]);
    // Redis is asked once IAM has propagated the key (10 s by default), then works 30 s; the
    // registrar looks again on its own pauses and answers the run's RegisterCloudAccount, so the
    // whole run takes about a minute of virtual time.
    expect((tasks[0]?.createdAt ?? 0) - START).toBeGreaterThanOrEqual(10_000);
    expect(run.elapsedMs).toBeGreaterThanOrEqual(40_000);
    expect(run.elapsedMs).toBeLessThan(300_000);
  });
});

describe("limitConcurrency", () => {
  it("runs at most n calls at once, the others in the order they came", async () => {
    // Act
    const run = await runOnVirtualClock(async (clock) => {
      const started: string[] = [];
      const work = limitConcurrency(async (name: string) => {
        started.push(`${name}@${clock.elapsed()}`);
        await clock.sleep(10_000);
        return name.toUpperCase();
      }, 2);
      const calls = ["a", "b", "c", "d", "e"].map((name) => work(name));
      const queuedAtFirst = work.queued;
      const results = await Promise.all(calls);
      return { started, results, queuedAtFirst, peak: work.peak, active: work.active };
    });

    // Assess
    expect(run.result).toEqual({
      started: ["a@0", "b@0", "c@10000", "d@10000", "e@20000"],
      results: ["A", "B", "C", "D", "E"],
      queuedAtFirst: 3,
      peak: 2,
      active: 0,
    });
    expect(run.elapsedMs).toBe(30_000);
  });

  it("frees the slot of a call that fails", async () => {
    // Prepare
    const work = limitConcurrency(async (fail: boolean) => {
      if (fail) throw new Error("failed");
      return "done";
    }, 1);

    // Act
    const outcomes = await Promise.allSettled([work(true), work(false)]);

    // Assess
    expect(outcomes.map((o) => o.status)).toEqual(["rejected", "fulfilled"]);
    expect(work.active).toBe(0);
  });

  it("refuses a limit that is not a positive integer", () => {
    expect(() => limitConcurrency(async () => 1, 0)).toThrow(RangeError);
  });
});
