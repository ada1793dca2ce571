import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { MetricUnit } from "@aws-lambda-powertools/metrics";
import { logMetrics } from "@aws-lambda-powertools/metrics/middleware";
import middy, { type MiddlewareObj } from "@middy/core";
import type { Context } from "aws-lambda";
import type * as z from "zod";
import { type ClientFactory, type Home, homeFromFunctionArn } from "./aws.ts";
import type { LambdaClients } from "./clients.ts";
import { type Config, readSettings, type SettingName, type SettingsOf } from "./config.ts";
import { describeAwsFailure, errorLogFields, type WorkflowError } from "./errors.ts";
import { parseOrRefuse } from "./input.ts";
import { logger, metrics } from "./powertools.ts";
import type { RedisCloudSource } from "./redis-api-keys.ts";
import type { RegistrarHooks } from "./registrar.ts";

/**
 * What a step needs from where it runs: the home account, SDK clients and settings. Lambda
 * builds it at cold start from the function's ARN, its declared clients and its environment;
 * local runs and tests build it around an in-memory AWS.
 */
export interface Runtime<C = Config> extends Home {
  clients: ClientFactory;
  config: C;
  /** Where Redis Cloud steps get their client; unset: from the settings (see redis-api-keys.ts). */
  redis?: RedisCloudSource;
  /** Local runs: the registrar's engine in process (task tokens, its loop, its clock). */
  registrar?: RegistrarHooks;
}

/** A step as the local runner and the Lambda handler call it: an event in, a result out. */
export type StepRun<R> = (event: unknown, runtime: Runtime) => Promise<R>;

export interface StepContext<I, C> {
  input: I;
  runtime: Runtime<C>;
  step: string;
}

export interface StepDefinition<S extends z.ZodType, D, R, K extends SettingName> {
  /** The state's name: it names the step in errors, logs and metrics. */
  name: string;
  /** What the state machine hands the step. */
  input: S;
  /** The settings the function reads from its environment (in Lambda). */
  settings?: readonly K[];
  /** The SDK clients the function calls (in Lambda); none: it bundles no SDK client. */
  clients?: LambdaClients;
  /** Builds the core's dependencies from the runtime. */
  deps: (context: StepContext<z.output<S>, SettingsOf<K | "logLevel">>) => D | Promise<D>;
  /** The pure core. */
  run: (input: z.output<S>, deps: D) => Promise<R>;
  /** Sees every failure before it leaves the step (e.g. to drop cached credentials). */
  onError?: (error: WorkflowError) => void;
}

export interface Step<I, R> {
  name: string;
  /** Parses the event: InvalidInput naming the field, never a value. */
  parse: (event: unknown) => I;
  /** The step as the local runner calls it. */
  run: StepRun<R>;
  /** The Lambda handler: parsing, logs with the account and execution, tracing, metrics. */
  handler: middy.MiddyfiedHandler<unknown, R, Error, Context>;
}

/**
 * Declares a step once: its input schema, its dependencies and its pure core. The same `run`
 * serves the local runner and tests; the handler adds what Lambda needs around it.
 */
export function defineStep<S extends z.ZodType, D, R, K extends SettingName = "logLevel">(
  definition: StepDefinition<S, D, R, K>,
): Step<z.output<S>, R> {
  const { name } = definition;
  const parse = (event: unknown): z.output<S> => parseOrRefuse(definition.input, event, name);
  const execute = async (input: z.output<S>, runtime: Runtime<SettingsOf<K | "logLevel">>): Promise<R> => {
    try {
      const deps = await definition.deps({ input, runtime, step: name });
      const result = await definition.run(input, deps);
      logger.info("step done", { step: name, result });
      return result;
    } catch (thrown) {
      const error = describeAwsFailure(name, "step", "", thrown);
      // The execution's cause must name the step, whichever layer made the error.
      if (!error.message.startsWith(`${name}:`)) error.message = `${name}: ${error.message}`;
      definition.onError?.(error);
      throw error;
    }
  };
  const run: StepRun<R> = async (event, runtime) =>
    execute(parse(event), runtime as unknown as Runtime<SettingsOf<K | "logLevel">>);
  return { name, parse, run, handler: lambdaHandler(definition, parse, execute) };
}

function lambdaHandler<S extends z.ZodType, D, R, K extends SettingName>(
  definition: StepDefinition<S, D, R, K>,
  parse: (event: unknown) => z.output<S>,
  execute: (input: z.output<S>, runtime: Runtime<SettingsOf<K | "logLevel">>) => Promise<R>,
) {
  const keys = [...new Set(["logLevel" as const, ...(definition.settings ?? [])])];
  const clients = definition.clients;
  let runtime: Runtime<SettingsOf<K | "logLevel">> | undefined;
  const handler = middy(async (event: unknown, context: Context) => {
    // Cold start: a bad setting fails here, by name, on every invocation until it is fixed.
    runtime ??= {
      ...homeFromFunctionArn(context.invokedFunctionArn),
      clients: clients?.factory ?? noClients,
      config: readSettings(keys, process.env) as SettingsOf<K | "logLevel">,
    };
    const input = parse(event);
    logger.appendKeys(logKeys(input));
    return execute(input, runtime);
  })
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics))
    .use(outcome(definition.name));
  return clients ? handler.use(clients.tracing) : handler;
}

/** Every log line of an invocation names the account and the execution it works for. */
function logKeys(input: unknown): Record<string, string> {
  const { target, execution } = (input ?? {}) as { target?: { accountId?: unknown }; execution?: unknown };
  const keys: Record<string, string> = {};
  if (typeof target?.accountId === "string") keys.accountId = target.accountId;
  if (typeof execution === "string") keys.execution = execution;
  return keys;
}

/**
 * One metric per outcome, by step, and every failure as a named error the state machine's
 * Retry/Catch match, logged with its cause's AWS request id and HTTP status.
 */
function outcome(step: string): MiddlewareObj<unknown, unknown, Error, Context> {
  const count = (metric: "StepSucceeded" | "StepFailed") => {
    metrics.addDimension("step", step);
    metrics.addMetric(metric, MetricUnit.Count, 1);
  };
  return {
    after: () => count("StepSucceeded"),
    onError: (request) => {
      const error = describeAwsFailure(step, "step", "", request.error);
      logger.error("step failed", { step, ...errorLogFields(error) });
      count("StepFailed");
      request.error = error;
    },
  };
}

const noClients: ClientFactory = new Proxy({} as ClientFactory, {
  get: (_target, service) => () => {
    throw new Error(`this function declares no SDK clients (asked for ${String(service)})`);
  },
});

/**
 * A runtime for local runs and tests: the home account, its clients, the shared settings and any
 * other a run needs (the registry's table name).
 */
export function createRuntime(
  home: Home,
  clients: ClientFactory,
  config: Config & Partial<SettingsOf<SettingName>>,
  redis?: RedisCloudSource,
): Runtime {
  return { ...home, clients, config, ...(redis ? { redis } : {}) };
}
