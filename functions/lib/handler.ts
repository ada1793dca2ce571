import { Logger } from "@aws-lambda-powertools/logger";
import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import type { IAMClient } from "@aws-sdk/client-iam";
import middy from "@middy/core";
import type { Context } from "aws-lambda";
import { type Home, homeFromFunctionArn, sdkClients, TargetClients } from "./aws.ts";
import { describeAwsFailure, invalidInput } from "./errors.ts";
import type { StepInput } from "./step.ts";

export const logger = new Logger({ serviceName: "redis-cloud-byoc-onboarding" });

/**
 * Wraps a step for Lambda: structured logs with the invocation's context, and every failure
 * turned into a named WorkflowError that the state machine's Retry/Catch can match. Only the
 * error's name and message are logged; neither ever carries a secret.
 */
export function lambdaHandler<E, R>(step: string, run: (event: E, home: Home) => Promise<R>) {
  return middy(async (event: E, context: Context) =>
    run(event, homeFromFunctionArn(context.invokedFunctionArn)),
  )
    .use(injectLambdaContext(logger))
    .use({
      onError: (request) => {
        const error = describeAwsFailure(step, "step", "", request.error);
        logger.error("step failed", { step, errorName: error.name, errorMessage: error.message });
        request.error = error;
      },
    });
}

const targets = new TargetClients(sdkClients, sdkClients.sts());

/** A step acting in the target account: reads its input and hands the core that account's IAM. */
export function iamStepHandler<R>(
  step: string,
  core: (input: StepInput, deps: { iam: IAMClient; home: Home }) => Promise<R>,
) {
  return lambdaHandler(step, async (event: unknown, home) => {
    const input = parseStepInput(event);
    const iam = await targets.iamFor(home, input.target, input.execution, step);
    const result = await core(input, { iam, home });
    logger.info("step done", { step, accountId: input.target.accountId, result });
    return result;
  });
}

/** The state machine builds this input; a malformed one means a broken definition. */
export function parseStepInput(event: unknown): StepInput {
  const e = (event ?? {}) as Partial<StepInput>;
  const t = e.target;
  if (!t || typeof t.accountId !== "string" || typeof t.roleName !== "string") {
    throw invalidInput("target", "missing accountId or roleName (run the ValidateInput state first)");
  }
  if (typeof e.execution !== "string" || e.execution === "") {
    throw invalidInput("execution", "missing the execution name");
  }
  return { target: { ...t, accountName: t.accountName ?? "" }, execution: e.execution };
}
