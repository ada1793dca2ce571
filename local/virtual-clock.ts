import { performance } from "node:perf_hooks";
import { promiseHooks } from "node:v8";
import { type InstalledClock, withGlobal } from "@sinonjs/fake-timers";

/*
 * Whole-workflow runs on a virtual clock: setTimeout, setInterval and Date are faked, and time
 * jumps to the next timer whenever everything that can run has run. Hours of Wait states, Retry
 * backoff and Redis task time then take milliseconds, and the timing no longer depends on the
 * machine's load: what happens when is decided by virtual time alone (random jitter aside).
 *
 * What runs under it must do no real I/O (no socket, no file): a read the driver cannot see would
 * let the clock jump past it. The in-memory AWS (local/aws) and the in-process Redis Cloud API
 * (createLocalRedisCloud) qualify. setImmediate, queueMicrotask, process.nextTick and performance
 * stay real: the driver needs them to tell when the work has drained.
 */

export interface VirtualClock {
  /** Virtual epoch milliseconds (what Date.now() answers under the clock). */
  now(): number;
  /** Virtual milliseconds since the run started. */
  elapsed(): number;
  /** Resolves after `ms` of virtual time. */
  sleep(ms: number): Promise<void>;
}

export interface VirtualClockOptions {
  /** Virtual epoch milliseconds the clock starts at. Default: the real time now. */
  start?: number;
  /** Rounds of the event loop without any new work before the clock may move. Default 3. */
  quietRounds?: number;
  /** A run whose virtual time goes past this is a runaway (e.g. a setInterval nobody clears). Default 30 days. */
  maxElapsedMs?: number;
  /**
   * Real milliseconds to wait for work when nothing is scheduled and `main` has not settled, before
   * calling it stuck. Covers a stray real I/O; a run that needs it is no longer deterministic. Default 2000.
   */
  stuckAfterMs?: number;
}

export interface VirtualRun<T> {
  result: T;
  /** Virtual milliseconds from the start until `main` settled. */
  elapsedMs: number;
}

const FAKED = ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "Date"] as const;
/** A drain that never goes quiet (e.g. a setImmediate loop) is a bug of the code under the clock. */
const MAX_ROUNDS_PER_DRAIN = 1_000_000;
const DAY_MS = 86_400_000;

/** Kept from before any clock is installed: the driver's own waits are real. */
const realSetImmediate = globalThis.setImmediate;
let installed = false;

/** Resolves after `ms` of whatever clock is installed: virtual under runOnVirtualClock, real elsewhere. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Runs `main` with the global timers and Date faked, moving the virtual clock to the next timer
 * each time all work has drained, until `main` settles. Answers its result and the virtual time it
 * took; rejects with its error. Timers still pending when `main` settles are dropped.
 */
export async function runOnVirtualClock<T>(
  main: (clock: VirtualClock) => Promise<T>,
  options: VirtualClockOptions = {},
): Promise<VirtualRun<T>> {
  // One global set of timers: two clocks at once would fake each other's.
  if (installed) throw new Error("runOnVirtualClock: a virtual clock is already running");
  installed = true;
  const start = options.start ?? Date.now();
  const fake = withGlobal(globalThis).install({ toFake: [...FAKED], now: start });
  const activity = watchPromises();
  try {
    const clock: VirtualClock = {
      now: () => fake.now,
      elapsed: () => fake.now - start,
      sleep: (ms) => new Promise((resolve) => fake.setTimeout(resolve, ms)),
    };
    const driver = new Driver(fake, activity, options);
    const result = await driver.run(() => main(clock), start);
    return { result, elapsedMs: fake.now - start };
  } finally {
    activity.stop();
    fake.uninstall();
    installed = false;
  }
}

/** Counts promises made, as a sign of work going on that no timer shows. */
function watchPromises(): { count: () => number; stop: () => void } {
  let made = 0;
  const stop = promiseHooks.onInit(() => {
    made++;
  });
  return { count: () => made, stop: () => stop() };
}

type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown };

class Driver {
  /** Promises a round of the event loop makes itself, when nothing else runs. */
  private baseline = 0;
  private readonly quietRounds: number;
  private readonly maxElapsedMs: number;
  private readonly stuckAfterMs: number;

  constructor(
    private readonly fake: InstalledClock,
    private readonly activity: { count: () => number },
    options: VirtualClockOptions,
  ) {
    this.quietRounds = options.quietRounds ?? 3;
    this.maxElapsedMs = options.maxElapsedMs ?? 30 * DAY_MS;
    this.stuckAfterMs = options.stuckAfterMs ?? 2_000;
  }

  async run<T>(main: () => Promise<T>, start: number): Promise<T> {
    await this.calibrate();
    let outcome: Outcome<T> | undefined;
    Promise.resolve()
      .then(main)
      .then(
        (value) => {
          outcome = { ok: true, value };
        },
        (error: unknown) => {
          outcome = { ok: false, error };
        },
      );
    let idleSince: number | undefined;
    for (;;) {
      await this.drain();
      if (outcome) break;
      if (this.fake.countTimers() === 0) {
        // Nothing scheduled and main not settled: only real work (which should not be) can go on.
        idleSince ??= performance.now();
        if (performance.now() - idleSince > this.stuckAfterMs) throw stuck();
        continue;
      }
      idleSince = undefined;
      if (this.fake.now - start > this.maxElapsedMs) {
        throw new Error(`runOnVirtualClock: still running after ${this.maxElapsedMs} ms of virtual time`);
      }
      // One timer at a time, with a drain between: what it starts runs before the next fires.
      this.fake.next();
    }
    const settled = outcome as Outcome<T>;
    if (!settled.ok) throw settled.error;
    return settled.value;
  }

  /** The fewest promises an idle round makes (the driver's own await). */
  private async calibrate(): Promise<void> {
    const rounds: number[] = [];
    for (let i = 0; i < 5; i++) rounds.push((await this.round()).promises);
    this.baseline = Math.min(...rounds);
  }

  /** Runs the event loop until `quietRounds` rounds in a row made no promise and no timer. */
  private async drain(): Promise<void> {
    let quiet = 0;
    for (let rounds = 0; quiet < this.quietRounds; rounds++) {
      if (rounds > MAX_ROUNDS_PER_DRAIN) throw new Error("runOnVirtualClock: the work never drains");
      quiet = (await this.round()).busy ? 0 : quiet + 1;
    }
  }

  /** One real turn of the event loop: every microtask queued before it runs first. */
  private async round(): Promise<{ promises: number; busy: boolean }> {
    const before = { promises: this.activity.count(), timers: this.fake.countTimers() };
    await new Promise((resolve) => realSetImmediate(resolve));
    const promises = this.activity.count() - before.promises;
    return { promises, busy: promises > this.baseline || this.fake.countTimers() !== before.timers };
  }
}

const stuck = () =>
  new Error(
    "runOnVirtualClock: main has not settled, and no timer or other work is pending (real I/O under a virtual clock?)",
  );

/** A function limited to `n` calls at a time, the others queued in order, with its counts. */
export interface Limited<A extends unknown[], R> {
  (...args: A): Promise<R>;
  /** Calls running now. */
  readonly active: number;
  /** Calls waiting for a slot. */
  readonly queued: number;
  /** The most calls that ran at once. */
  readonly peak: number;
}

/**
 * At most `n` calls of `fn` at once; the others wait their turn, first come first served, as
 * invocations of a Lambda function with reserved concurrency `n` would (queued, not throttled).
 */
export function limitConcurrency<A extends unknown[], R>(
  fn: (...args: A) => Promise<R>,
  n: number,
): Limited<A, R> {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`limitConcurrency: ${n} is not a positive integer`);
  let active = 0;
  let peak = 0;
  const waiting: (() => void)[] = [];
  // A finishing call hands its slot to the first in line, so none can jump the queue.
  const release = () => {
    const next = waiting.shift();
    if (next) next();
    else active--;
  };
  const limited = async (...args: A): Promise<R> => {
    if (active < n) active++;
    else await new Promise<void>((resolve) => waiting.push(resolve));
    peak = Math.max(peak, active);
    try {
      return await fn(...args);
    } finally {
      release();
    }
  };
  return Object.defineProperties(limited, {
    active: { get: () => active },
    queued: { get: () => waiting.length },
    peak: { get: () => peak },
  }) as Limited<A, R>;
}
