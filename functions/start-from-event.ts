import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { logMetrics } from "@aws-lambda-powertools/metrics/middleware";
import { parser } from "@aws-lambda-powertools/parser/middleware";
import { captureLambdaHandler } from "@aws-lambda-powertools/tracer/middleware";
import type { SFNClient } from "@aws-sdk/client-sfn";
import middy from "@middy/core";
import type { Context } from "aws-lambda";
import { readSettings } from "./lib/config.ts";
import { errorLogFields, WorkflowError } from "./lib/errors.ts";
import { vendingExecutionName } from "./lib/execution-names.ts";
import { logger, metrics } from "./lib/powertools.ts";
import { startUnlessRunning } from "./lib/start-execution.ts";
import { parseStartInput } from "./lib/start-input.ts";
import { reconciledRecently, type StormGate, stormGateOf } from "./lib/storm.ts";
import { tracer } from "./lib/tracing.ts";
import { countStart } from "./lib/trigger-metrics.ts";
import { atColdStart, sfnClient } from "./lib/trigger-runtime.ts";
import { type Decision, decide, VENDING_SETTINGS, type VendingSettings } from "./lib/vending-decision.ts";
import { readVendingEvent, type VendingEventParse, VendingEventSchema } from "./lib/vending-events.ts";

export interface StarterDeps {
  sfn: SFNClient;
  stateMachineArn: string;
  settings: VendingSettings;
  // --- Event storms: absent, every event starts as before ---
  storm?: StormGate;
}

export type StartFromEventResult =
  | { outcome: "ignored"; reason: string }
  // --- Event storms ---
  | { outcome: "already reconciled"; accountId: string; reason: string }
  | {
      outcome: "started" | "already running" | "already handled";
      accountId: string;
      executionArn: string;
    };

const OUTCOME = { started: "started", running: "already running", taken: "already handled" } as const;

/**
 * Starts the onboarding of a vended account, under a name fixed per account and source (and its
 * re-drives', see attemptName). An execution of that name that is running or has succeeded means
 * the event was handled before (a redelivery, or an Update after the Create): a success, not a
 * retry. One that failed, timed out or was aborted is re-driven under the next name, so that a
 * redelivered event (from the dead-letter queue, say) onboards the account again. Errors of Step
 * Functions, and RedrivesExhausted, are thrown: Lambda retries the event, then sends it to the
 * dead-letter queue.
 */
export async function startFromEvent(
  event: VendingEventParse,
  deps: StarterDeps,
): Promise<StartFromEventResult> {
  const reading = readVendingEvent(event);
  if (reading.kind === "ignored") {
    countStart("vending", "ignored");
    return { outcome: "ignored", reason: reading.reason };
  }
  const decision = decide(reading.account, deps.settings);
  if (decision.kind === "ignored") {
    countStart("vending", "ignored");
    return { outcome: "ignored", reason: decision.reason };
  }
  // --- Event storms: an account in hand starts nothing, and costs Redis nothing ---
  const quiet = deps.storm && (await reconciledRecently(decision.accountId, deps.storm));
  if (quiet) {
    countStart("vending", "reconciled");
    return { outcome: "already reconciled", accountId: decision.accountId, reason: quiet };
  }
  const input = inputOf(decision);
  const name = vendingExecutionName(input.accountId, reading.account.source);
  const outcome = await startUnlessRunning(deps.sfn, deps.stateMachineArn, { name, input });
  countStart("vending", outcome.kind);
  return { outcome: OUTCOME[outcome.kind], accountId: input.accountId, executionArn: outcome.executionArn };
}

/** The same account always gets the same input, so that Step Functions' idempotent start holds. */
function inputOf({ accountId, roleName, accountName }: Extract<Decision, { kind: "start" }>) {
  const parsed = parseStartInput({ accountId, roleName, accountName });
  if ("problem" in parsed) throw new WorkflowError("InvalidInput", `vending event: ${parsed.problem}`);
  return parsed.input;
}

/** The starter's environment, one schema: a bad setting stops it with ConfigurationError naming it. */
export const STARTER_SETTINGS = [
  "logLevel",
  "stateMachineArn",
  // Read so that the vending roles are checked against it: a role outside TARGET_ROLE_NAMES would
  // fail the first state of every run started.
  "allowedTargetRoleNames",
  ...VENDING_SETTINGS,
] as const;

export function starterDeps(env: Record<string, string | undefined>): StarterDeps {
  const { stateMachineArn, ...settings } = readSettings(STARTER_SETTINGS, env);
  // --- Event storms ---
  const storm = stormGateOf(env);
  return { sfn: sfnClient(), stateMachineArn, settings, ...(storm ? { storm } : {}) };
}

/**
 * The Lambda handler around `startFromEvent`, with its dependencies loaded on first use. A failure
 * is logged with its AWS request id and counted, then thrown: Lambda retries the event, then
 * dead-letters it.
 */
export function createHandler(load: () => StarterDeps) {
  const deps = atColdStart(load);
  return middy<unknown, StartFromEventResult, Error, Context>()
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics))
    .use(captureLambdaHandler(tracer))
    .use({
      onError: ({ error }) => {
        logger.error(
          "vending event failed; Lambda retries it, then sends it to the dead-letter queue",
          errorLogFields(error),
        );
        countStart("vending", error?.name === "InvalidInput" ? "refused" : "failed");
      },
    })
    .use(parser({ schema: VendingEventSchema, safeParse: true }))
    .handler(async (event) => {
      // The parser middleware has replaced the event with its reading (safeParse: never a throw).
      const result = await startFromEvent(event as VendingEventParse, deps());
      logger.info("vending event handled", { ...result });
      return result;
    });
}

export const handler = createHandler(() => starterDeps(process.env));
