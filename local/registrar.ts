import type { Runtime, StepRun } from "../functions/lib/define-step.ts";
import type { RegistrarHooks, RegistrarSettings } from "../functions/lib/registrar.ts";
import type { TickOutput } from "../functions/registrar-tick.ts";

/*
 * The registrar's engine in process: what Step Functions does for it in AWS (task tokens, the
 * loop of ticks with its pauses) done here, around the same tick and hand-over code. Its pauses
 * are timers, so a virtual clock drives it as it drives the onboarding's Wait states.
 */

/** The service integration whose task waits for the registrar's answer. */
export const WAIT_FOR_TOKEN = "arn:aws:states:::lambda:invoke.waitForTaskToken";

/** Every such task's HeartbeatSeconds in the workflows: a registrar silent this long is noticed. */
export const HEARTBEAT_SECONDS = 900;

interface Waiter {
  resolve: (output: unknown) => void;
  reject: (error: Error) => void;
  /** When the registrar last said the request is alive (the hand-over counts), on its clock. */
  heardAt: number;
}

export interface LocalRegistrarOptions {
  redis: RegistrarHooks["redis"];
  /** A queue of its own (default: the deployment's table, named by the runtime's settings). */
  queue?: RegistrarHooks["queue"];
  /** The pause between ticks and of budget waits, in ms; unset: as the tick asks (real or virtual time). */
  pauseMs?: number;
  perMinute?: number;
  settings?: Partial<RegistrarSettings>;
  now?: () => number;
}

export class LocalRegistrar {
  /** The code the registrar runs: the environment's, or the run's own (tests wrap it). */
  runs: Record<string, StepRun<unknown>> = {};
  /** Every loop started, by name, for tests. */
  readonly loops: string[] = [];
  private readonly waiters = new Map<string, Waiter>();
  /**
   * A quick run (pauseMs) skips the pauses the registrar asks for, but its clock moves by them:
   * a Retry-After, a refused key's pause, a task's freshness all pass as they would, at once.
   */
  private skippedMs = 0;
  private readonly clock = (): number => (this.options.now ?? Date.now)() + this.skippedMs;
  private loop: Promise<void> | undefined;
  private runtime: Runtime | undefined;

  constructor(private readonly options: LocalRegistrarOptions) {}

  /** What the steps' runtime carries so that the tick and the hand-over run here. */
  hooks(): RegistrarHooks {
    const sleep = this.sleep;
    const registrar = this;
    return {
      tokens: {
        succeed: async (token, output) => this.answer(token, (w) => w.resolve(output)),
        fail: async (token, error, cause) => this.answer(token, (w) => w.reject(named(error, cause))),
        heartbeat: async (token) => {
          const waiter = this.waiters.get(token);
          if (waiter) waiter.heardAt = this.clock();
          return waiter !== undefined;
        },
      },
      start: async (name) => this.start(name),
      get work() {
        const { registerCloudAccount, checkRegistration, withdrawRegistration } = registrar.runs;
        if (!registerCloudAccount || !checkRegistration || !withdrawRegistration) return undefined;
        return {
          register: registerCloudAccount,
          check: checkRegistration,
          withdraw: withdrawRegistration,
          // --- Offboarding ---
          ...(registrar.runs.offboardAtRedis ? { offboard: registrar.runs.offboardAtRedis } : {}),
        };
      },
      redis: this.options.redis,
      ...(this.options.queue ? { queue: this.options.queue } : {}),
      now: this.clock,
      sleep,
      ...(this.options.settings ? { settings: this.options.settings } : {}),
      ...(this.options.perMinute !== undefined ? { perMinute: this.options.perMinute } : {}),
    };
  }

  /** The runtime the loop's ticks run with (the environment's, which carries these hooks). */
  attach(runtime: Runtime): void {
    this.runtime = runtime;
  }

  /**
   * The stand-in of `lambda:invoke.waitForTaskToken`: invokes the function (the hand-over) with
   * its payload, then waits until the registrar answers the payload's token.
   */
  async invokeAndWait(
    parameters: { FunctionName?: unknown; Payload?: { taskToken?: unknown } },
    invoke: (fn: string, payload: unknown) => Promise<unknown>,
  ): Promise<unknown> {
    const fn = String(parameters.FunctionName ?? "");
    const token = String(parameters.Payload?.taskToken ?? "");
    const heardAt = this.clock();
    const answered = new Promise<unknown>((resolve, reject) =>
      this.waiters.set(token, { resolve, reject, heardAt }),
    );
    try {
      await invoke(fn.slice(fn.lastIndexOf(":") + 1), parameters.Payload);
    } catch (error) {
      this.waiters.delete(token);
      throw error;
    }
    return answered;
  }

  /** Resolves once no loop runs (the queue is empty). */
  async settled(): Promise<void> {
    while (this.loop) await this.loop;
  }

  /** Executions still waiting on a token. */
  get waiting(): number {
    return this.waiters.size;
  }

  private answer(token: string, settle: (waiter: Waiter) => void): boolean {
    const waiter = this.waiters.get(token);
    if (!waiter) return false;
    this.waiters.delete(token);
    settle(waiter);
    return true;
  }

  private readonly sleep = (ms: number): Promise<void> => {
    const pause = this.options.pauseMs ?? ms;
    if (this.options.pauseMs !== undefined) this.skippedMs += Math.max(0, ms - pause);
    return new Promise((resolve) => (pause <= 0 ? setImmediate(resolve) : setTimeout(resolve, pause)));
  };

  private start(name: string): void {
    this.loops.push(name);
    const previous = this.loop;
    const current = { done: Promise.resolve() };
    current.done = (async () => {
      await previous;
      await this.run(name);
      if (this.loop === current.done) this.loop = undefined;
    })();
    this.loop = current.done;
  }

  /**
   * What AWS does once the loop's execution has failed: nobody heartbeats the waiting tasks, so
   * each one's HeartbeatSeconds runs out and its execution hands over again (its Retry on
   * States.HeartbeatTimeout), which wakes a new loop, the lease having long expired. Without it a
   * local run would wait forever for an answer nobody will send.
   */
  private async silent(): Promise<void> {
    const heartbeatMs = HEARTBEAT_SECONDS * 1000;
    await this.sleep(heartbeatMs);
    const silentSince = this.clock() - heartbeatMs;
    for (const [token, waiter] of this.waiters) {
      if (waiter.heardAt > silentSince) continue;
      const cause = `no heartbeat from the registrar in ${HEARTBEAT_SECONDS} s`;
      this.answer(token, (w) => w.reject(named("States.HeartbeatTimeout", cause)));
    }
  }

  /** The registrar state machine's loop: Tick, then Pause, until idle; a successor carries on. */
  private async run(first: string): Promise<void> {
    const tick = this.runs.registrarTick;
    const runtime = this.runtime;
    if (!tick || !runtime) throw new Error("the local registrar has no tick code or runtime attached");
    let name = first;
    let ticks = 0;
    let failures = 0;
    for (;;) {
      let out: TickOutput;
      try {
        out = (await tick({ execution: name, ticks }, runtime)) as TickOutput;
        failures = 0;
      } catch {
        // As the state machine's retry would: tried again after a pause, six times; then the loop
        // ends and its lease expires, for the next hand-over to start another (a loop woken
        // meanwhile starts at once, as in AWS: the waits' timeouts run beside the loops).
        if (++failures >= 6) {
          void this.silent();
          return;
        }
        await this.sleep(2_000);
        continue;
      }
      if (out.idle) return;
      if (out.successor) {
        name = out.successor;
        ticks = 0;
      } else ticks = out.ticks;
      await this.sleep(out.nextSeconds * 1000);
    }
  }
}

function named(name: string, message: string): Error {
  const error = new Error(message);
  error.name = name;
  return error;
}
