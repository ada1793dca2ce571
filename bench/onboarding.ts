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
  // In process: a socket's keep-alive timers would outlive it into the fleets' virtual clock.
  const env = await startLocalEnvironment({
    targets: [target],
    aws: { keyPropagationMs: 0 },
    redis: { inProcess: true },
  });
  try {
    const fresh = await measureRun(env, target);
    const rerun = await measureRun(env, target);
    return { fresh, rerun };
  } finally {
    await env.close();
  }
}
