import { isWrite } from "../local/aws/index.ts";
import { HOME, type LocalEnvironment, startLocalEnvironment } from "../local/environment.ts";
import { resolveDefinition, taskStates, type WorkflowResult } from "../local/workflow.ts";

/** What one onboarding cost, read from the fake AWS's call log and the execution's event log. */
export interface RunFigures {
  status: WorkflowResult["status"];
  /** IAM calls in the target account that were not Get/List/Describe. */
  iamWrites: number;
  iamWriteCommands: string[];
  /** StateEntered events: what STANDARD workflows bill, retries aside. */
  stateTransitions: number;
  /** Entries into and retries of the Task states whose resource is a Lambda function. */
  lambdaInvocations: number;
  retries: number;
}

export interface BurstFigures {
  accounts: number;
  wallMs: number;
  outcomes: Record<string, number>;
  redisRequests: number;
  redisStatuses: Record<string, number>;
  stateTransitions: number;
  lambdaInvocations: number;
}

/** The states that invoke a Lambda function (the others are Pass, Wait, Choice or EventBridge). */
const LAMBDA_STATES = new Set(
  taskStates(resolveDefinition(HOME.accountId))
    .filter((task) => task.lambda)
    .map((task) => task.state),
);

function countEvents(
  result: WorkflowResult,
): Pick<RunFigures, "stateTransitions" | "lambdaInvocations" | "retries"> {
  let stateTransitions = 0;
  let lambdaInvocations = 0;
  let retries = 0;
  for (const event of result.events) {
    if (event.type !== "StateEntered" && event.type !== "StateRetried") continue;
    if (event.type === "StateEntered") stateTransitions += 1;
    else retries += 1;
    // A retry of a Lambda task is one more invocation of the function.
    if (LAMBDA_STATES.has(event.state.name)) lambdaInvocations += 1;
  }
  return { stateTransitions, lambdaInvocations, retries };
}

/** Runs one onboarding of `accountId` and counts what it did; the call log is cumulative. */
async function measureRun(env: LocalEnvironment, accountId: string): Promise<RunFigures> {
  const before = env.aws.calls.length;
  const result = await env.run({ accountId }, { pauseMs: 0 });
  const writes = env.aws.calls
    .slice(before)
    .filter((call) => call.accountId === accountId && call.service === "iam" && isWrite(call.command));
  return {
    status: result.status,
    iamWrites: writes.length,
    iamWriteCommands: writes.map((call) => call.command).sort(),
    ...countEvents(result),
  };
}

/** A fresh account's onboarding, then the same account's again (which should change nothing). */
export async function measureOnboarding(): Promise<{ fresh: RunFigures; rerun: RunFigures }> {
  const target = "222222222222";
  const env = await startLocalEnvironment({ targets: [target], aws: { keyPropagationMs: 0 } });
  try {
    const fresh = await measureRun(env, target);
    const rerun = await measureRun(env, target);
    return { fresh, rerun };
  } finally {
    await env.close();
  }
}

/**
 * The local Redis API's rate limit during the burst: none in effect. Its 400 requests a minute
 * model Redis's per-key limit, which a deployment stays under through the Redis steps' reserved
 * concurrency of 1 and their 300 ms pacing; the local environment has neither, and with
 * `pauseMs: 0` the state machine's retries ignore Retry-After. Under the limit most of a burst
 * would fail, by an amount that depends on where in the wall-clock minute it started: a figure
 * neither meaningful nor repeatable.
 */
const BURST_RATE_LIMIT_PER_MINUTE = Number.MAX_SAFE_INTEGER;

/** `accounts` onboardings of distinct fresh accounts, all started at once, timed to the last. */
export async function measureBurst(accounts: number): Promise<BurstFigures> {
  const targets = Array.from({ length: accounts }, (_, i) => String(300_000_000_000 + i));
  const env = await startLocalEnvironment({
    targets,
    aws: { keyPropagationMs: 0 },
    redis: { rateLimitPerMinute: BURST_RATE_LIMIT_PER_MINUTE },
  });
  try {
    const start = performance.now();
    const results = await Promise.all(targets.map((accountId) => env.run({ accountId }, { pauseMs: 0 })));
    const wallMs = performance.now() - start;
    const counted = results.map(countEvents);
    return {
      accounts,
      wallMs,
      outcomes: tally(results.map((r) => (r.error ? `${r.status} (${r.error.Error})` : r.status))),
      redisRequests: env.redis.state.requests.length,
      redisStatuses: tally(env.redis.state.requests.map((r) => String(r.status))),
      stateTransitions: counted.reduce((sum, c) => sum + c.stateTransitions, 0),
      lambdaInvocations: counted.reduce((sum, c) => sum + c.lambdaInvocations, 0),
    };
  } finally {
    await env.close();
  }
}

function tally(values: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values.sort()) counts[value] = (counts[value] ?? 0) + 1;
  return counts;
}
