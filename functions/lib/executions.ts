import {
  DescribeExecutionCommand,
  type ExecutionStatus,
  GetExecutionHistoryCommand,
  paginateListExecutions,
  type SFNClient,
  StartExecutionCommand,
} from "@aws-sdk/client-sfn";
import type middy from "@middy/core";
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2 } from "aws-lambda";
import { WorkflowError } from "./errors.ts";
import {
  FIELD_NAMES,
  type InputProblem,
  inputProblem,
  type OnboardingInput as SchemaInput,
  StartInputSchema,
} from "./onboarding-input.ts";
import { logger } from "./powertools.ts";

/*
 * Shared by every way of starting an onboarding other than the console: the account-vending event
 * starter and the HTTP API. One rule holds them together: an account never has two onboardings
 * running at once. Every execution they start is named `<accountId>-<origin>`, so the running one
 * of an account is found by name prefix among the state machine's RUNNING executions.
 */

// ---------------------------------------------------------------------------------------------
// Execution names
// ---------------------------------------------------------------------------------------------

export type VendingSource = "controltower" | "organizations";

/** Every execution started here begins with the account id: the key of the "already running" check. */
export const accountPrefix = (accountId: string): string => `${accountId}-`;

/**
 * One name per account and vending source, for ever: a duplicate delivery or a Create followed by
 * an Update reuse it, and Step Functions itself collapses them (same name and input: the running
 * execution is returned; a closed one: ExecutionAlreadyExists). The source is part of the name
 * because in a Control Tower landing zone Organizations also reports every account Control Tower
 * creates, earlier and with a role that does not exist there; sharing the name would let that
 * doomed run block the Control Tower one.
 */
export const vendingExecutionName = (accountId: string, source: VendingSource): string =>
  `${accountId}-vending-${source}`;

/**
 * `<accountId>-api-<UTC minute>`, e.g. `222222222222-api-20261121T1956Z`: identical requests of the
 * same minute collide on the name, so Step Functions collapses them even before ListExecutions
 * (eventually consistent) shows the first one.
 */
export function apiExecutionName(accountId: string, now: Date): string {
  const minute = now.toISOString().slice(0, 16).replace(/[-:]/g, "");
  return `${accountId}-api-${minute}Z`;
}

/** Step Functions' rule for execution names: 1–80 characters, none of these, no control character. */
const EXECUTION_NAME = /^[^\s<>{}[\]?*"#%\\^|~`$&,;:/\p{Cc}]{1,80}$/u;

export const isExecutionName = (name: unknown): name is string =>
  typeof name === "string" && EXECUTION_NAME.test(name);

/** `…:stateMachine:<machine>` → `…:execution:<machine>:<name>`. */
export const executionArn = (stateMachineArn: string, name: string): string =>
  `${stateMachineArn.replace(":stateMachine:", ":execution:")}:${name}`;

/** The name is the last field of an execution ARN. */
export const executionName = (arn: string): string => arn.slice(arn.lastIndexOf(":") + 1);

// ---------------------------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------------------------

const STATE_MACHINE_ARN = /^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:stateMachine:[A-Za-z0-9_-]{1,80}$/;

/** Read once at cold start: a missing or wrong ARN stops the function by name, not the first call. */
export function loadStateMachineArn(env: Record<string, string | undefined>): string {
  const arn = env.STATE_MACHINE_ARN?.trim() ?? "";
  if (!STATE_MACHINE_ARN.test(arn)) {
    throw new WorkflowError("ConfigurationError", "setting STATE_MACHINE_ARN: must be a state machine ARN");
  }
  return arn;
}

// ---------------------------------------------------------------------------------------------
// Input: the state machine's own schema file, so a start refused here would fail ValidateInput too
// ---------------------------------------------------------------------------------------------

/** What the starters pass to the state machine: the schema's fields, with the account always named. */
export type OnboardingInput = SchemaInput & { accountId: string };

/** The input rebuilt field by field, in a fixed order, so equal starts are equal JSON. */
export function parseOnboardingInput(value: unknown): { input: OnboardingInput } | { problem: string } {
  const parsed = StartInputSchema.safeParse(value);
  if (!parsed.success) return { problem: describeProblem(inputProblem(parsed.error)) };
  const { accountId, roleName, accountName } = parsed.data;
  return {
    input: {
      accountId,
      ...(roleName === undefined ? {} : { roleName }),
      ...(accountName === undefined ? {} : { accountName }),
    },
  };
}

/** The schema's description of a field, without the console's default (a start from here has none). */
const withoutDefault = (about: string | undefined): string | undefined =>
  about?.replace(/ \(default.*\)$/, "");

/** Names the field and the rule it breaks, never the value that broke it. */
function describeProblem(problem: InputProblem): string {
  switch (problem.kind) {
    case "unknown-field": {
      const named = problem.field === undefined ? "unknown field" : `unknown field "${problem.field}"`;
      return `body: ${named} (the body takes only ${FIELD_NAMES})`;
    }
    case "missing":
      return `${problem.field}: is required: ${withoutDefault(problem.about) ?? problem.field}`;
    case "not-an-object":
      return `body: must be a JSON object with ${FIELD_NAMES}`;
    case "bad-value": {
      const description = withoutDefault(problem.about);
      return description
        ? `${problem.field}: ${problem.rule}: ${description}`
        : `${problem.field}: ${problem.rule}`;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Starting, at most one running per account
// ---------------------------------------------------------------------------------------------

export interface ExecutionRef {
  executionArn: string;
  name: string;
}

export type StartOutcome =
  /** A new execution (or, for an identical repeat of a running one, that one). */
  | ({ kind: "started" } & ExecutionRef)
  /** The account already had an onboarding running: that one. */
  | ({ kind: "running" } & ExecutionRef)
  /** The name is taken by an execution that has ended: this start was handled before. */
  | ({ kind: "taken" } & ExecutionRef);

/** The oldest RUNNING execution of this state machine whose name says it onboards this account. */
export async function findRunning(
  sfn: SFNClient,
  stateMachineArn: string,
  accountId: string,
): Promise<ExecutionRef | undefined> {
  const prefix = accountPrefix(accountId);
  let oldest: { ref: ExecutionRef; started: number } | undefined;
  const pages = paginateListExecutions(
    { client: sfn, pageSize: 1000 },
    { stateMachineArn, statusFilter: "RUNNING" },
  );
  for await (const page of pages) {
    for (const execution of page.executions ?? []) {
      if (!execution.name?.startsWith(prefix) || !execution.executionArn) continue;
      const started = execution.startDate?.getTime() ?? 0;
      if (oldest === undefined || started < oldest.started) {
        oldest = { ref: { executionArn: execution.executionArn, name: execution.name }, started };
      }
    }
  }
  return oldest?.ref;
}

/**
 * Starts `name` unless the account already has an onboarding running.
 *
 * The check and the start are two calls, and ListExecutions is eventually consistent, so two
 * starters can both find nothing. Names make that race harmless where it matters: concurrent
 * starts of one origin use the same name, and StartExecution is idempotent per name for STANDARD
 * workflows (same input: the running execution is returned; otherwise ExecutionAlreadyExists,
 * after which the list is asked again). What remains is two different origins (say a vending
 * event and an API call) for one account within the list's lag, about a second; the steps
 * reconcile what exists, so the later run finds the resources in place.
 */
export async function startUnlessRunning(
  sfn: SFNClient,
  stateMachineArn: string,
  start: { name: string; input: OnboardingInput },
): Promise<StartOutcome> {
  const running = await findRunning(sfn, stateMachineArn, start.input.accountId);
  if (running) return { kind: "running", ...running };
  try {
    const answer = await sfn.send(
      new StartExecutionCommand({ stateMachineArn, name: start.name, input: JSON.stringify(start.input) }),
    );
    return {
      kind: "started",
      executionArn: answer.executionArn ?? executionArn(stateMachineArn, start.name),
      name: start.name,
    };
  } catch (error) {
    if (!isAwsError(error, "ExecutionAlreadyExists")) throw error;
    const now = await findRunning(sfn, stateMachineArn, start.input.accountId);
    if (now) return { kind: "running", ...now };
    return { kind: "taken", executionArn: executionArn(stateMachineArn, start.name), name: start.name };
  }
}

/** By name, not class: the name is the service's contract and survives duplicate SDK copies. */
export const isAwsError = (error: unknown, name: string): boolean =>
  error instanceof Error && error.name === name;

// ---------------------------------------------------------------------------------------------
// Describing
// ---------------------------------------------------------------------------------------------

export interface OnboardingStatus {
  id: string;
  status: ExecutionStatus;
  currentStep?: string;
  startedAt: string;
  stoppedAt?: string;
  cloudAccountId?: number;
  error?: { name: string; cause?: string };
}

/**
 * What an onboarding is doing, from its execution: never its input, its history or any output
 * but the Redis cloud account id. Undefined when there is no such execution.
 */
export async function describeOnboarding(
  sfn: SFNClient,
  stateMachineArn: string,
  id: string,
): Promise<OnboardingStatus | undefined> {
  const arn = executionArn(stateMachineArn, id);
  const execution = await sfn.send(new DescribeExecutionCommand({ executionArn: arn })).catch((error) => {
    if (isAwsError(error, "ExecutionDoesNotExist")) return undefined;
    throw error;
  });
  if (!execution?.status || !execution.startDate) return undefined;
  const status: OnboardingStatus = {
    id,
    status: execution.status,
    startedAt: execution.startDate.toISOString(),
  };
  // A closed run is summed up by its status and error; only a running one has a step worth naming.
  if (execution.status === "RUNNING") {
    const step = await lastEnteredState(sfn, arn);
    if (step) status.currentStep = step;
  }
  if (execution.stopDate) status.stoppedAt = execution.stopDate.toISOString();
  const cloudAccountId = cloudAccountIdOf(execution.output);
  if (cloudAccountId !== undefined) status.cloudAccountId = cloudAccountId;
  if (execution.error) status.error = errorOf(execution.error, execution.cause);
  return status;
}

/** Newest events first and without their data: the state names are all that is read. */
async function lastEnteredState(sfn: SFNClient, arn: string): Promise<string | undefined> {
  const history = await sfn.send(
    new GetExecutionHistoryCommand({
      executionArn: arn,
      reverseOrder: true,
      includeExecutionData: false,
      maxResults: 100,
    }),
  );
  return history.events?.find((event) => event.stateEnteredEventDetails?.name)?.stateEnteredEventDetails
    ?.name;
}

function cloudAccountIdOf(output: string | undefined): number | undefined {
  const value = parseJson(output);
  const id = isRecord(value) ? value.cloudAccountId : undefined;
  const n = typeof id === "string" && /^\d+$/.test(id) ? Number(id) : id;
  return typeof n === "number" && Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

const MAX_CAUSE = 1000;

/**
 * A failed Lambda step's cause is the JSON of its error, stack trace included: only the message is
 * kept (the steps' messages name the step, call and resource, never a secret). Other causes
 * (States.Timeout, an abort) are short text and kept as they are.
 */
function errorOf(name: string, cause: string | undefined): { name: string; cause?: string } {
  const parsed = parseJson(cause);
  const message = isRecord(parsed) && typeof parsed.errorMessage === "string" ? parsed.errorMessage : cause;
  if (!message) return { name };
  return { name, cause: message.length > MAX_CAUSE ? `${message.slice(0, MAX_CAUSE)}…` : message };
}

function parseJson(text: string | undefined): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === "object" && !Array.isArray(value);

// ---------------------------------------------------------------------------------------------
// HTTP API plumbing shared by the two handlers
// ---------------------------------------------------------------------------------------------

/** A refusal the caller may read: http-error-handler answers it with its status and message. */
export class ApiProblem extends Error {
  readonly expose = true;

  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
    this.name = "ApiProblem";
  }
}

export interface ApiAnswer {
  statusCode: number;
  body: Record<string, unknown>;
  headers?: Record<string, string>;
}

export const json = (answer: ApiAnswer): APIGatewayProxyResultV2 => ({
  statusCode: answer.statusCode,
  headers: { "Content-Type": "application/json", ...answer.headers },
  body: JSON.stringify(answer.body),
});

/** The answer to anything that is not an ApiProblem: nothing about what went wrong inside. */
export const INTERNAL_ERROR = JSON.stringify({ message: "internal error" });

type HttpMiddleware = middy.MiddlewareObj<APIGatewayProxyEventV2, APIGatewayProxyResultV2>;

/**
 * Runs before http-error-handler (use it after that one): a refusal becomes `{message}` JSON and
 * is logged as such; anything else is logged by name and message and left to the handler's
 * fallback, INTERNAL_ERROR. Middy's own refusals (415, 422) carry their message the same way.
 */
export function problemsAsJson(): HttpMiddleware {
  return {
    onError: (request) => {
      const error = request.error as (Error & { statusCode?: number; expose?: boolean }) | undefined;
      if (error?.statusCode && error.statusCode < 500 && error.expose !== false) {
        logger.info("request refused", { statusCode: error.statusCode, problem: error.message });
        error.message = JSON.stringify({ message: error.message });
        return;
      }
      logger.error("request failed", { errorName: error?.name, errorMessage: error?.message });
      if (error) error.expose = false;
    },
  };
}

/** Refuses a body over `limit` bytes before it is parsed. */
export function bodyLimit(limit: number): HttpMiddleware {
  return {
    before: (request) => {
      const { body, isBase64Encoded } = request.event;
      if (body === undefined) return;
      const bytes = isBase64Encoded ? Buffer.from(body, "base64").length : Buffer.byteLength(body, "utf8");
      if (bytes > limit) throw new ApiProblem(413, `body: larger than ${limit} bytes`);
    },
  };
}

/** Where a caller reads an onboarding's status, on the same API and stage it called. */
export function statusUrl(event: APIGatewayProxyEventV2, id: string): string {
  const { domainName, stage } = event.requestContext;
  const base = stage && stage !== "$default" ? `/${stage}` : "";
  return `https://${domainName}${base}/onboardings/${encodeURIComponent(id)}`;
}
