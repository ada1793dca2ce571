import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { logMetrics } from "@aws-lambda-powertools/metrics/middleware";
import { captureLambdaHandler } from "@aws-lambda-powertools/tracer/middleware";
import middy from "@middy/core";
import httpErrorHandler from "@middy/http-error-handler";
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2 } from "aws-lambda";
import { errorLogFields } from "./errors.ts";
import { logger, metrics } from "./powertools.ts";
import { tracer } from "./tracing.ts";

/*
 * The HTTP API's plumbing, shared by its handlers: refusals as `{message}` JSON, the body limit,
 * JSON answers, the request id in every log line, where a status is read, the caller, the account
 * id of the path, and the middleware of a measured route.
 */

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

/** The answer to anything that is not a refusal: nothing about what went wrong inside. */
export const INTERNAL_ERROR = JSON.stringify({ message: "internal error" });

type HttpMiddleware = middy.MiddlewareObj<APIGatewayProxyEventV2, APIGatewayProxyResultV2>;
type HttpRoute = middy.MiddyfiedHandler<APIGatewayProxyEventV2, APIGatewayProxyResultV2>;
type HttpError = Error & { statusCode?: number; expose?: boolean };

/** A 4xx the caller may read (ours, or middy's own 415 and 422); anything else is a failure. */
export const isRefusal = (error: unknown): error is HttpError & { statusCode: number } => {
  const { statusCode, expose } = (error ?? {}) as HttpError;
  return statusCode !== undefined && statusCode < 500 && expose !== false;
};

/**
 * Runs before http-error-handler (use it after that one): a refusal becomes `{message}` JSON and
 * is logged as such; anything else is logged with its AWS request id and HTTP status and left to
 * the handler's fallback, INTERNAL_ERROR. `count` hears which of the two it was, and the status.
 */
export function problemsAsJson(
  count: (outcome: "refused" | "failed", statusCode: number) => void,
): HttpMiddleware {
  return {
    onError: (request) => {
      const error = request.error as HttpError | null;
      if (isRefusal(error)) {
        logger.info("request refused", { statusCode: error.statusCode, problem: error.message });
        error.message = JSON.stringify({ message: error.message });
        count("refused", error.statusCode);
        return;
      }
      logger.error("request failed", errorLogFields(error));
      if (error) error.expose = false;
      count("failed", 500);
    },
  };
}

/** Every log line of a request carries API Gateway's request id, as its access log does. */
export function correlateRequest(): HttpMiddleware {
  return {
    before: (request) => {
      const requestId = request.event.requestContext?.requestId;
      if (requestId) logger.setCorrelationId(requestId);
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

/** Where a caller reads `id` under `collection` (e.g. `offboardings`), on the same API and stage it called. */
export function urlOnSameStage(event: APIGatewayProxyEventV2, collection: string, id: string): string {
  const { domainName, stage } = event.requestContext;
  const base = stage && stage !== "$default" ? `/${stage}` : "";
  return `https://${domainName}${base}/${collection}/${encodeURIComponent(id)}`;
}

/** Where a caller reads an onboarding's status, on the same API and stage it called. */
export const statusUrl = (event: APIGatewayProxyEventV2, id: string): string =>
  urlOnSameStage(event, "onboardings", id);

/** The route's IAM authorizer names the signer; the event's type does not know the IAM variant. */
export function callerArn(event: APIGatewayProxyEventV2): string | undefined {
  const context = event.requestContext as { authorizer?: { iam?: { userArn?: unknown } } };
  const arn = context.authorizer?.iam?.userArn;
  return typeof arn === "string" ? arn : undefined;
}

/** The `{accountId}` path parameter, or a 400 naming it. */
export function accountIdParameter(accountId: unknown): string {
  if (typeof accountId !== "string" || !/^\d{12}$/.test(accountId)) {
    throw new ApiProblem(400, "accountId: must be a 12-digit account id");
  }
  return accountId;
}

/**
 * The middleware every measured route runs, in order: the Lambda context and request id in the
 * logs, metrics flushed, traced, headers (or the whole event) normalized, refusals as `{message}`
 * JSON and failures as INTERNAL_ERROR, `count` told which. The route adds its own and its handler.
 */
export function measuredRoute(
  normalizer: Parameters<HttpRoute["use"]>[0],
  count: (outcome: "refused" | "failed", statusCode: number) => void,
) {
  return middy<APIGatewayProxyEventV2, APIGatewayProxyResultV2>()
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics))
    .use(captureLambdaHandler(tracer))
    .use(correlateRequest())
    .use(normalizer)
    .use(httpErrorHandler({ logger: false, fallbackMessage: INTERNAL_ERROR }))
    .use(problemsAsJson(count));
}
