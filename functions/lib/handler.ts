import { Logger } from "@aws-lambda-powertools/logger";
import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import type { IAMClient } from "@aws-sdk/client-iam";
import middy from "@middy/core";
import type { Context } from "aws-lambda";
import { type ClientFactory, type Home, homeFromFunctionArn, sdkClients, TargetClients } from "./aws.ts";
import { type Config, loadConfig } from "./config.ts";
import { describeAwsFailure, invalidInput } from "./errors.ts";
import type { StepInput } from "./step.ts";

export const logger = new Logger({ serviceName: "redis-cloud-byoc-onboarding" });

/**
 * What a step needs from where it runs: the home account, clients and settings. Lambda builds it
 * from the environment at cold start; local runs and tests build it around an in-memory AWS.
 */
export interface Runtime extends Home {
  clients: ClientFactory;
  targets: TargetClients;
  config: Config;
}

export type StepRun<R> = (event: unknown, runtime: Runtime) => Promise<R>;

export function createRuntime(home: Home, clients: ClientFactory, config: Config): Runtime {
  return { ...home, clients, targets: new TargetClients(clients), config };
}

/**
 * Wraps a step for Lambda: settings read once at cold start (a bad one fails by name), structured
 * logs with the invocation's context, and every failure turned into a named WorkflowError that the
 * state machine's Retry/Catch can match. Only the error's name and message are logged; neither
 * ever carries a secret.
 */
export function lambdaHandler<R>(step: string, run: StepRun<R>) {
  const config = loadConfig(process.env);
  const clients = sdkClients();
  let runtime: Runtime | undefined;
  return middy(async (event: unknown, context: Context) => {
    runtime ??= createRuntime(homeFromFunctionArn(context.invokedFunctionArn), clients, config);
    return run(event, runtime);
  })
    .use(injectLambdaContext(logger))
    .use({
      onError: (request) => {
        const error = describeAwsFailure(step, "step", "", request.error);
        logger.error("step failed", { step, errorName: error.name, errorMessage: error.message });
        request.error = error;
      },
    });
}

/** A step acting in the target account: reads its input and hands the core that account's IAM. */
export function iamStep<R>(
  step: string,
  core: (input: StepInput, deps: { iam: IAMClient; home: Home }, runtime: Runtime) => Promise<R>,
): StepRun<R> {
  return async (event, runtime) => {
    const input = parseStepInput(event);
    const iam = await runtime.targets.iamFor(runtime, input.target, input.execution, step);
    const result = await core(input, { iam, home: runtime }, runtime);
    logger.info("step done", { step, accountId: input.target.accountId, result });
    return result;
  };
}

/**
 * The state machine builds this input; a malformed one means a broken definition. Fields other
 * than target and execution (a step's own inputs) are passed through.
 */
export function parseStepInput(event: unknown): StepInput {
  const e = (event ?? {}) as Partial<StepInput>;
  const t = e.target;
  if (!t || typeof t.accountId !== "string" || typeof t.roleName !== "string") {
    throw invalidInput("target", "missing accountId or roleName (run the ValidateInput state first)");
  }
  if (typeof e.execution !== "string" || e.execution === "") {
    throw invalidInput("execution", "missing the execution name");
  }
  return { ...e, target: { ...t, accountName: t.accountName ?? "" }, execution: e.execution };
}
