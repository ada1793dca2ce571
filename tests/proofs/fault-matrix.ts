import { forgetRedisApiKeys } from "../../functions/lib/redis-api-keys.ts";
import { awsError, type FakeCall, type Service } from "../../local/aws/index.ts";
import {
  type LocalEnvironment,
  type LocalEnvironmentOptions,
  startLocalEnvironment,
} from "../../local/environment.ts";
import type { RecordedRequest } from "../../local/redis-cloud/server.ts";
import { TARGET } from "./support.ts";

/*
 * The harness the workflows' fault matrices share: the faults each AWS service is failed with, the
 * injection of a fault into the n-th call of a call site, and the matrix's rows, so that a failed
 * case is reported with the others instead of stopping the matrix.
 */

/** A call site of AWS: the n-th call of one (service, command, resource) in a clean run. */
export interface AwsSite {
  kind: "aws";
  service: Service;
  command: string;
  resource: string;
  nth: number;
}

/** A call site of Redis: the n-th request to one endpoint in a clean run. */
export interface RedisSite {
  kind: "redis";
  endpoint: string;
  nth: number;
}

export const signature = (call: Pick<FakeCall, "service" | "command">, resource: string) =>
  `${call.service} ${call.command} ${resource}`;

/** Numbers each key's occurrences, from 1: the n-th call of a site. */
export function occurrences(): (key: string) => number {
  const counts = new Map<string, number>();
  return (key) => {
    counts.set(key, (counts.get(key) ?? 0) + 1);
    return counts.get(key) ?? 0;
  };
}

/** A 5xx as the SDK makes it from a response: named by the code, with the HTTP status. */
export function serverError(service: Service, name: string): Error {
  const error = awsError(service, name, "We encountered an internal error. Please try again.", "server");
  error.$metadata = { httpStatusCode: 500 };
  return error;
}

/** Each service's transient errors: its throttling, and its 5xx. */
export const TRANSIENT: Record<Service, { name: string; make: () => Error }[]> = {
  iam: [
    { name: "Throttling", make: () => awsError("iam", "Throttling", "Rate exceeded") },
    { name: "ServiceFailure 500", make: () => serverError("iam", "ServiceFailure") },
  ],
  sts: [
    { name: "Throttling", make: () => awsError("sts", "Throttling", "Rate exceeded") },
    { name: "InternalFailure 500", make: () => serverError("sts", "InternalFailure") },
  ],
  secretsmanager: [
    {
      name: "ThrottlingException",
      make: () => awsError("secretsmanager", "ThrottlingException", "Rate exceeded"),
    },
    { name: "InternalServiceError 500", make: () => serverError("secretsmanager", "InternalServiceError") },
  ],
  dynamodb: [
    {
      name: "ProvisionedThroughputExceededException",
      make: () => awsError("dynamodb", "ProvisionedThroughputExceededException", "Rate exceeded"),
    },
    { name: "InternalServerError 500", make: () => serverError("dynamodb", "InternalServerError") },
  ],
  organizations: [
    {
      name: "TooManyRequestsException",
      make: () => awsError("organizations", "TooManyRequestsException", "Rate exceeded"),
    },
    { name: "ServiceException 500", make: () => serverError("organizations", "ServiceException") },
  ],
};

/** Each service's refusal for good. */
export const PERMANENT: Record<Service, () => Error> = {
  iam: () => awsError("iam", "AccessDenied", "explicit deny in a service control policy"),
  sts: () => awsError("sts", "AccessDenied", "not authorized to perform this action"),
  secretsmanager: () => awsError("secretsmanager", "AccessDeniedException", "explicit deny"),
  dynamodb: () => awsError("dynamodb", "AccessDeniedException", "explicit deny"),
  organizations: () => awsError("organizations", "AccessDeniedException", "explicit deny"),
};

/**
 * Makes the site's call fail (the nth only, or with `onward` that one and every later one); the
 * site's calls are known by their signature, their resource read by `resourceOf`. Answers whether
 * the fault fired.
 */
export function injectAws(
  e: LocalEnvironment,
  site: AwsSite,
  resourceOf: (call: FakeCall) => string,
  make: () => Error,
  onward: boolean,
): () => boolean {
  let seen = 0;
  let fired = false;
  e.aws.fail(
    (call) => {
      if (signature(call, resourceOf(call)) !== signature(site, site.resource)) return false;
      seen += 1;
      const hit = onward ? seen >= site.nth : seen === site.nth;
      if (hit) fired = true;
      return hit;
    },
    make,
    onward ? Number.POSITIVE_INFINITY : 1,
  );
  return () => fired;
}

/** The nth request that `matches` meets the fault, once; answers whether it fired. */
export function redisFaultsOnce(
  e: LocalEnvironment,
  matches: (request: RecordedRequest) => boolean,
  nth: number,
  fault: { status: number } | "reset" | "lost",
): () => boolean {
  let seen = 0;
  let fired = false;
  e.redis.state.options.fault = (request) => {
    if (fired || !matches(request) || ++seen !== nth) return undefined;
    fired = true;
    return fault;
  };
  return () => fired;
}

/** A case of a matrix: held, or why not. */
export interface Outcome {
  site: string;
  fault: string;
  held: boolean;
  why?: string;
}

/**
 * Runs `check`; a failed expectation becomes a row of the matrix instead of stopping it, with
 * `context` (e.g. what the rollback reported) to tell why.
 */
export async function outcome(
  site: string,
  fault: string,
  check: () => unknown,
  context: () => string = () => "",
): Promise<Outcome> {
  try {
    await check();
    return { site, fault, held: true };
  } catch (error) {
    const why = error instanceof Error ? error.message.split("\n").slice(0, 6).join(" ") : String(error);
    return { site, fault, held: false, why: `${why} ${context()}`.trimEnd() };
  }
}

/** Logs the matrix's size and every case that did not hold; answers those. */
export function report(kind: string, outcomes: Outcome[]): Outcome[] {
  const failed = outcomes.filter((o) => !o.held);
  console.log(`${kind}: matrix size ${outcomes.length}, held ${outcomes.length - failed.length}`);
  for (const o of failed) console.log(`  did not hold: ${o.site} [${o.fault}]: ${o.why}`);
  return failed;
}

/** A fresh environment with the matrices' target, cold like a new Lambda container: the API keys are read again. */
export function coldEnvironment(registrar?: LocalEnvironmentOptions["registrar"]): Promise<LocalEnvironment> {
  forgetRedisApiKeys();
  return startLocalEnvironment({
    targets: [TARGET],
    aws: { keyPropagationMs: 0 },
    ...(registrar ? { registrar } : {}),
  });
}

/** A secret's ARN by its name: the same from one environment to the next (ARNs end in a random suffix). */
export const secretName = (value: string): string =>
  value.replace(/^arn:aws:secretsmanager:[^:]+:\d{12}:secret:(.+)-[a-z0-9]{6}$/, "$1");
