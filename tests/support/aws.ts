import {
  ConcurrentModificationException,
  EntityAlreadyExistsException,
  IAMServiceException,
  LimitExceededException,
  NoSuchEntityException,
  ServiceFailureException,
} from "@aws-sdk/client-iam";
import { ResourceExistsException, ResourceNotFoundException } from "@aws-sdk/client-secrets-manager";
import type { Context } from "aws-lambda";
import type { Home } from "../../functions/lib/aws.ts";
import { type ChangeRecorder, type RegistryItem, toItem } from "../../functions/lib/registry.ts";
import type { Change, StepInput } from "../../functions/lib/step.ts";

export interface Tag {
  Key: string;
  Value: string;
}

/** The account the functions run in, and the account being onboarded. */
export const HOME: Home = { partition: "aws", region: "eu-west-1", accountId: "111111111111" };
export const TARGET = "222222222222";
export const EXECUTION = "onboard-222222222222-a1b2";

export function stepInput(execution = EXECUTION, accountId = TARGET): StepInput {
  return {
    target: { accountId, roleName: "OrganizationAccountAccessRole", accountName: "payments-prod" },
    execution,
  };
}

export const arnIn = (accountId: string, resource: string) => `arn:aws:iam::${accountId}:${resource}`;

/** IAM answers policy documents URL-encoded. */
export const encoded = (document: unknown): string => encodeURIComponent(JSON.stringify(document));

/** The tags a resource made by execution `execution` of this product carries. */
export const ourTags = (execution: string): Tag[] => [
  { Key: "ManagedBy", Value: "redis-cloud-byoc-onboarding" },
  { Key: "redis-cloud-byoc:execution", Value: execution },
];

/** Tags of something this product did not make. */
export const FOREIGN_TAGS: Tag[] = [{ Key: "team", Value: "platform" }];

const meta = { $metadata: { httpStatusCode: 400, requestId: "req-0001" } };

/** The SDK's real exceptions, as IAM and Secrets Manager reject. */
export const awsError = {
  noSuchEntity: (message = "The entity cannot be found.") => new NoSuchEntityException({ message, ...meta }),
  alreadyExists: (message = "The entity already exists.") =>
    new EntityAlreadyExistsException({ message, ...meta }),
  limitExceeded: (message = "Cannot exceed quota.") => new LimitExceededException({ message, ...meta }),
  serviceFailure: (message = "Internal failure.") =>
    new ServiceFailureException({ message, $metadata: { httpStatusCode: 500 } }),
  concurrentModification: (message = "Please try again.") =>
    new ConcurrentModificationException({ message, ...meta }),
  /** IAM's throttling code is not modelled: the SDK raises a service exception named after it. */
  throttling: () =>
    new IAMServiceException({ name: "Throttling", $fault: "client", message: "Rate exceeded", ...meta }),
  /** Throttling recognised by the SDK's shape alone (429 status, retryable trait). */
  throttlingByShape: () =>
    Object.assign(
      new IAMServiceException({
        name: "TooManyCalls",
        $fault: "client",
        message: "Slow down",
        $metadata: { httpStatusCode: 429 },
      }),
      { $retryable: { throttling: true } },
    ),
  accessDenied: (message = "not authorized") =>
    new IAMServiceException({
      name: "AccessDenied",
      $fault: "client",
      message,
      $metadata: { httpStatusCode: 403 },
    }),
  secretNotFound: (message = "Secrets Manager can't find the specified secret.") =>
    new ResourceNotFoundException({ message, ...meta }),
  secretExists: (message = "A resource with the ID you requested already exists.") =>
    new ResourceExistsException({ message, ...meta }),
};

/** A mocked client, seen only through what it recorded. */
interface RecordingStub {
  calls(): { args: readonly unknown[] }[];
}

/** The names of the commands a mocked client received, in order. */
export function sentCommands(mock: RecordingStub): string[] {
  return mock.calls().map((call) => (call.args[0] as object).constructor.name);
}

const WRITE = /^(Create|Delete|Attach|Detach|Update|Put|Add|Remove|Tag|Untag|Set|Upload|Change|Reset)/;

/** The commands that change something, in order. */
export const writeCommands = (mock: RecordingStub): string[] =>
  sentCommands(mock).filter((name) => WRITE.test(name));

/** The error a promise rejects with (fails the test when it resolves). */
export async function rejectionOf(promise: Promise<unknown>): Promise<Error> {
  let outcome: unknown;
  try {
    outcome = await promise;
  } catch (error) {
    if (error instanceof Error) return error;
    throw new Error(`rejected with a non-Error: ${String(error)}`);
  }
  throw new Error(`expected a rejection, got ${JSON.stringify(outcome)}`);
}

/** What Lambda hands a function, for the handler tests. */
/** The state machine the trigger handlers start (set for every test in vitest.config.ts). */
export const STATE_MACHINE_ARN = process.env.STATE_MACHINE_ARN ?? "";

export function lambdaContext(accountId: string, functionName = "onboarding-test-step"): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: "$LATEST",
    invokedFunctionArn: `arn:aws:lambda:${HOME.region}:${accountId}:function:${functionName}`,
    memoryLimitInMB: "256",
    awsRequestId: "00000000-0000-4000-8000-000000000000",
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: "2024/01/01/[$LATEST]0000",
    getRemainingTimeInMillis: () => 30_000,
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}

/** A registry that keeps nothing: for tests of what a step does in IAM, not what it records. */
export const NO_REGISTRY: ChangeRecorder = {
  get: async () => undefined,
  recordChange: async () => {},
  recordAdoption: async () => {},
};

/**
 * A registry that says the product made these resources (an earlier run did) and keeps what the
 * steps record, adoptions with their state before, in memory.
 */
export function ownedRegistry(owned: Change[] = [], extra: Partial<RegistryItem> = {}) {
  const recorded: { change: Change; origin: "created" | "adopted"; prior?: string }[] = [];
  const item = registryItemOwning(owned, extra);
  const entry = (change: Change, origin: "created" | "adopted", prior?: string) => ({
    change,
    execution: EXECUTION,
    origin,
    recordedAt: "2026-01-01T00:00:01.000Z",
    ...(prior === undefined ? {} : { prior }),
  });
  const registry: ChangeRecorder = {
    // What it was given, and since then what the steps recorded: a later step sees an earlier's.
    get: async () => ({
      ...item,
      resources: [...item.resources, ...recorded.map((r) => entry(r.change, r.origin, r.prior))],
    }),
    recordChange: async (_account, _execution, change) => {
      recorded.push({ change, origin: "created" });
    },
    recordAdoption: async (_account, _execution, change, prior) => {
      recorded.push({ change, origin: "adopted", prior });
    },
  };
  return { registry, recorded };
}

/** The registry item of a running execution, saying an earlier run made these resources. */
export function registryItemOwning(owned: Change[] = [], extra: Partial<RegistryItem> = {}): RegistryItem {
  return {
    accountId: TARGET,
    version: 1,
    status: "active",
    lastExecution: EXECUTION,
    lastOutcome: "running",
    startedAt: "2026-01-01T00:00:00.000Z",
    updatedAt: "2026-01-01T00:00:00.000Z",
    resources: owned.map((change) => ({
      change,
      execution: "onboard-earlier",
      origin: "created" as const,
      recordedAt: "2026-01-01T00:00:00.000Z",
    })),
    ...extra,
  };
}

/**
 * The write commands the mocked clients had received when each adoption was recorded: an adoption
 * must be kept before the first write to what it takes over.
 */
export function writesAtEachAdoption(registry: ChangeRecorder, ...mocks: RecordingStub[]): string[][] {
  const seen: string[][] = [];
  const record = registry.recordAdoption.bind(registry);
  registry.recordAdoption = async (...args) => {
    seen.push(mocks.flatMap((mock) => writeCommands(mock)));
    await record(...args);
  };
  return seen;
}

/** The step input of a run whose input says `"adopt": true`. */
export function adoptingInput(execution = EXECUTION): StepInput {
  const input = stepInput(execution);
  return { ...input, target: { ...input.target, adopt: true } };
}

export const REGISTRY_TABLE = "redis-cloud-byoc-test-account-registry";

/** The registry item of a run that has begun and not ended, as GetItem answers it. */
export const runningItem = (execution = EXECUTION, accountId = TARGET) =>
  toItem({
    accountId,
    version: 1,
    status: "onboarding",
    lastExecution: execution,
    lastOutcome: "running",
    startedAt: "2026-01-01T00:00:00.000Z",
    updatedAt: "2026-01-01T00:00:00.000Z",
    resources: [],
  });
