import { createHash } from "node:crypto";
import {
  DescribeExecutionCommand,
  type DescribeExecutionCommandOutput,
  type SFNClient,
  StartExecutionCommand,
} from "@aws-sdk/client-sfn";
import httpHeaderNormalizer from "@middy/http-header-normalizer";
import type { APIGatewayProxyEventV2 } from "aws-lambda";
import { BulkInputSchema } from "./lib/bulk-input.ts";
import { readSettings } from "./lib/config.ts";
import { ExecutionNameSchema, executionArn, executionName } from "./lib/execution-names.ts";
import {
  type ApiAnswer,
  ApiProblem,
  bodyLimit,
  callerArn,
  json,
  measuredRoute,
  urlOnSameStage,
} from "./lib/http.ts";
import { describeIssue } from "./lib/input.ts";
import { STARTED_BY_ARN } from "./lib/onboarding-input.ts";
import { logger } from "./lib/powertools.ts";
import { isAwsError } from "./lib/start-execution.ts";
import { countStart } from "./lib/trigger-metrics.ts";
import { atColdStart, sfnClient } from "./lib/trigger-runtime.ts";

/** 10,000 account ids and their quotes and commas, with room for the other fields. */
export const MAX_BULK_BODY_BYTES = 256 * 1024;

export interface BulkRequestDeps {
  sfn: SFNClient;
  /** The bulk onboarding state machine (setting BULK_STATE_MACHINE_ARN). */
  stateMachineArn: string;
  now: () => Date;
  statusUrl: (id: string) => string;
  caller?: string | undefined;
}

/**
 * POST /onboardings/bulk: starts a bulk onboarding with the body as its input (checked here as
 * its first state checks it, so that a bad body starts nothing: 400 naming the field). The name is
 * `bulk-<UTC minute>-<digest of the input>`: the same request repeated within the minute is the
 * same execution (Step Functions answers the running one), never a second bulk run.
 */
export async function startBulkRequest(body: unknown, deps: BulkRequestDeps): Promise<ApiAnswer> {
  const parsed = BulkInputSchema.safeParse(body ?? {}, { reportInput: true });
  if (!parsed.success) {
    const { field, problem } = describeIssue(parsed.error.issues[0]);
    throw new ApiProblem(400, `${field}: ${problem}`);
  }
  const { startedBy: _claimed, ...rest } = parsed.data;
  const input =
    deps.caller !== undefined && STARTED_BY_ARN.test(deps.caller)
      ? { ...rest, startedBy: deps.caller }
      : rest;
  const text = JSON.stringify(input);
  const minute = deps.now().toISOString().slice(0, 16).replace(/[-:]/g, "");
  const name = `bulk-${minute}Z-${createHash("sha256").update(text).digest("hex").slice(0, 16)}`;
  let arn = executionArn(deps.stateMachineArn, name);
  let statusCode = 202;
  try {
    const answer = await deps.sfn.send(
      new StartExecutionCommand({ stateMachineArn: deps.stateMachineArn, name, input: text }),
    );
    arn = answer.executionArn ?? arn;
  } catch (error) {
    // This minute's identical request has already run to its end: that run is the answer.
    if (!isAwsError(error, "ExecutionAlreadyExists")) throw error;
    statusCode = 200;
  }
  const id = executionName(arn);
  const location = deps.statusUrl(id);
  return {
    statusCode,
    headers: { Location: location },
    body: { executionArn: arn, id, statusUrl: location },
  };
}

/** GET /onboardings/bulk/{id}: the bulk run's status, and its summary once it has ended. */
export async function getBulkRequest(id: unknown, deps: Pick<BulkRequestDeps, "sfn" | "stateMachineArn">) {
  const name = ExecutionNameSchema.safeParse(id);
  if (!name.success) throw new ApiProblem(400, "id: not a bulk onboarding id");
  let described: DescribeExecutionCommandOutput;
  try {
    described = await deps.sfn.send(
      new DescribeExecutionCommand({ executionArn: executionArn(deps.stateMachineArn, name.data) }),
    );
  } catch (error) {
    if (isAwsError(error, "ExecutionDoesNotExist"))
      throw new ApiProblem(404, "id: no bulk onboarding has this id");
    throw error;
  }
  const { status, startDate, stopDate, output, error } = described;
  return {
    statusCode: 200,
    body: {
      status,
      startedAt: startDate?.toISOString(),
      ...(stopDate ? { stoppedAt: stopDate.toISOString() } : {}),
      // The summary holds counts, account ids and error names: nothing secret.
      ...(status === "SUCCEEDED" && output ? { summary: JSON.parse(output) as unknown } : {}),
      ...(error ? { error } : {}),
    },
  };
}

export const BULK_REQUEST_SETTINGS = ["logLevel", "bulkStateMachineArn"] as const;

export function bulkRequestDeps(env: Record<string, string | undefined>) {
  const { bulkStateMachineArn } = readSettings(BULK_REQUEST_SETTINGS, env);
  return { sfn: sfnClient(), stateMachineArn: bulkStateMachineArn };
}

/** Where a caller reads a bulk run's status, on the same API and stage it called. */
const bulkStatusUrl = (event: APIGatewayProxyEventV2, id: string): string =>
  urlOnSameStage(event, "onboardings/bulk", id);

/** The POST's JSON body (a GET has none, so no body parser runs for both routes). */
function jsonBody(event: APIGatewayProxyEventV2): unknown {
  if (event.body === undefined) return undefined;
  const text = event.isBase64Encoded ? Buffer.from(event.body, "base64").toString("utf8") : event.body;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    // JSON.parse's message quotes the body: it never leaves here.
    throw new ApiProblem(400, "body: must be a JSON object");
  }
}

/** One function behind both bulk routes; the GET has no body, which the parser then leaves alone. */
export function createHandler(load: () => Pick<BulkRequestDeps, "sfn" | "stateMachineArn">) {
  const deps = atColdStart(load);
  return measuredRoute(httpHeaderNormalizer(), (outcome) => countStart("api", outcome))
    .use(bodyLimit(MAX_BULK_BODY_BYTES))
    .handler(async (event) => {
      if (event.routeKey.startsWith("GET "))
        return json(await getBulkRequest(event.pathParameters?.id, deps()));
      const caller = callerArn(event);
      const answer = await startBulkRequest(jsonBody(event), {
        ...deps(),
        now: () => new Date(),
        statusUrl: (id) => bulkStatusUrl(event, id),
        caller: typeof caller === "string" ? caller : undefined,
      });
      countStart("api", answer.statusCode === 202 ? "started" : "taken");
      logger.info("bulk onboarding requested", { statusCode: answer.statusCode, id: answer.body.id });
      return json(answer);
    });
}

export const handler = createHandler(() => bulkRequestDeps(process.env));
