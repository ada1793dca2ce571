import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { SFNClient } from "@aws-sdk/client-sfn";
import middy from "@middy/core";
import { loadConfig } from "./lib/config.ts";
import { WorkflowError } from "./lib/errors.ts";
import {
  loadStateMachineArn,
  parseOnboardingInput,
  startUnlessRunning,
  vendingExecutionName,
} from "./lib/executions.ts";
import { logger } from "./lib/powertools.ts";
import {
  type Decision,
  decide,
  loadVendingSettings,
  readVendingEvent,
  type VendingSettings,
} from "./lib/vending-events.ts";

export interface StarterDeps {
  sfn: SFNClient;
  stateMachineArn: string;
  settings: VendingSettings;
}

export type StartFromEventResult =
  | { outcome: "ignored"; reason: string }
  | {
      outcome: "started" | "already running" | "already handled";
      accountId: string;
      executionArn: string;
    };

const OUTCOME = { started: "started", running: "already running", taken: "already handled" } as const;

/**
 * Starts the onboarding of a vended account, at most once per account and source (the name is
 * fixed). An execution of that name that has ended answers ExecutionAlreadyExists: the event was
 * handled before (a redelivery, or an Update after the Create), so this is a success, not a retry.
 * Errors of Step Functions are thrown: Lambda retries the event, then sends it to the dead-letter
 * queue.
 */
export async function startFromEvent(event: unknown, deps: StarterDeps): Promise<StartFromEventResult> {
  const reading = readVendingEvent(event);
  if (reading.kind === "ignored") return { outcome: "ignored", reason: reading.reason };
  const decision = decide(reading.account, deps.settings);
  if (decision.kind === "ignored") return { outcome: "ignored", reason: decision.reason };
  const input = inputOf(decision);
  const name = vendingExecutionName(input.accountId, reading.account.source);
  const outcome = await startUnlessRunning(deps.sfn, deps.stateMachineArn, { name, input });
  return { outcome: OUTCOME[outcome.kind], accountId: input.accountId, executionArn: outcome.executionArn };
}

/**
 * The same account always gets the same input, so that Step Functions' idempotent start holds. A
 * name the schema refuses (the event's, not ours to fix) is left out: the run then uses its default.
 */
function inputOf({ accountId, roleName, accountName }: Extract<Decision, { kind: "start" }>) {
  const named = parseOnboardingInput({ accountId, roleName, accountName });
  if ("input" in named) return named.input;
  const unnamed = parseOnboardingInput({ accountId, roleName });
  if ("input" in unnamed) return unnamed.input;
  throw new WorkflowError("InvalidInput", `vending event: ${unnamed.problem}`);
}

const config = loadConfig(process.env);
const deps: StarterDeps = {
  sfn: new SFNClient({}),
  stateMachineArn: loadStateMachineArn(process.env),
  settings: loadVendingSettings(process.env, config),
};

export const handler = middy(async (event: unknown) => {
  const result = await startFromEvent(event, deps);
  logger.info("vending event handled", { ...result });
  return result;
})
  .use(injectLambdaContext(logger))
  .use({
    onError: ({ error }) => {
      logger.error("vending event failed; Lambda retries it, then sends it to the dead-letter queue", {
        errorName: error?.name,
        errorMessage: error?.message,
      });
    },
  });
