import { isServerError, isThrottlingError, isTransientError } from "@smithy/core/retry";

/**
 * Every error a step throws has one of these names. The state machine's Retry and Catch fields
 * match them literally, so they are part of the workflow's public contract: never rename one.
 */
export const TRANSIENT_ERRORS = [
  "Throttling",
  "ServiceFailure",
  "ConcurrentModification",
  // A new access key is not accepted by AWS until IAM has propagated it (seconds, rarely minutes).
  "KeyNotPropagated",
  // 429, 5xx or a network fault of the Redis Cloud API.
  "RedisCloudUnavailable",
  // Another execution held the account's lock for as long as the state machine waits for it.
  "OnboardingInProgress",
  // Another writer changed the account's registry item since it was read (its version moved on).
  "RegistryConflict",
] as const;

export const PERMANENT_ERRORS = [
  "InvalidInput",
  // The account is in neither ALLOWED_ACCOUNT_IDS nor an OU of ALLOWED_OU_IDS (or is not ACTIVE).
  "TargetNotAllowed",
  "ConfigurationError",
  "TargetAccessDenied",
  "AccessDenied",
  "LimitExceeded",
  // A resource exists that the product did not make and that differs from what Redis requires.
  "ForeignResource",
  "NoSuchEntity",
  "ResourceConflict",
  "MalformedPolicy",
  "RedisCloudRejected",
  "RedisCloudUnauthorized",
  "RedisCloudNotFound",
  "RedisCloudConflict",
  "RedisTaskFailed",
  // A task Redis still answered 404 for two minutes after it was made: Redis never took it.
  "RedisTaskNotFound",
  // Redis rejected the new key: retried by re-registering, a bounded number of times.
  "CloudAccountInvalidCreds",
  "CloudAccountError",
  "RollbackFailed",
  // The account's registry item does not read as the registry writes it; the message names the field.
  "RegistryInvalid",
  "UnexpectedError",
  // Credential rotation: the account has no active onboarding (registry item, key, secret) to rotate.
  "NotOnboarded",
  // --- Offboarding ---
  // A Redis Cloud subscription still uses the cloud account: offboarding changes nothing.
  "CloudAccountInUse",
] as const;

export type TransientErrorName = (typeof TRANSIENT_ERRORS)[number];
export type PermanentErrorName = (typeof PERMANENT_ERRORS)[number];
export type WorkflowErrorName = TransientErrorName | PermanentErrorName;

/**
 * An error with a stable name. Its message must never carry a secret. The error it stands for,
 * if any, is kept as `cause` for the logs (its AWS request id, its HTTP status); the state
 * machine sees only the name and the message.
 */
export class WorkflowError extends Error {
  override readonly name: WorkflowErrorName;

  constructor(name: WorkflowErrorName, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = name;
  }
}

export const invalidInput = (field: string, problem: string): WorkflowError =>
  new WorkflowError("InvalidInput", `${field}: ${problem}`);

/**
 * Whether a field name the caller sent may be repeated in an error: only a plain, short name.
 * Anything that looks like a credential (an AWS key id, a long random or hex string) is not,
 * since errors are kept in the execution's history for 90 days.
 */
export function isPrintableFieldName(name: string): boolean {
  if (!/^[A-Za-z][A-Za-z0-9_.-]{0,39}$/.test(name)) return false;
  if (/^(AKIA|ASIA|AROA|AIDA)[A-Z0-9]{12,}$/.test(name)) return false;
  if (/[0-9a-fA-F]{20,}/.test(name)) return false;
  // Random tokens mix cases and digits densely; field names are words.
  const digits = name.replace(/[^0-9]/g, "").length;
  return digits <= 4;
}

export const isTransientName = (name: string): boolean =>
  (TRANSIENT_ERRORS as readonly string[]).includes(name);

/**
 * A call retried in the same invocation while it fails transiently (throttling, a registry race),
 * `tries` times at most, the pause doubling from `firstPauseMs`: for the few writes whose failure
 * would leave something behind that a retried step could no longer tell as its own.
 */
export async function retryTransient<T>(act: () => Promise<T>, tries = 3, firstPauseMs = 200): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await act();
    } catch (error) {
      if (!(error instanceof Error && isTransientName(error.name)) || attempt >= tries) throw error;
      await new Promise((resolve) => setTimeout(resolve, firstPauseMs * 2 ** (attempt - 1)));
    }
  }
}

/** IAM and STS send these codes; the SDK surfaces them as `error.name`. */
const AWS_PERMANENT: Record<string, PermanentErrorName> = {
  AccessDenied: "AccessDenied",
  AccessDeniedException: "AccessDenied",
  UnauthorizedOperation: "AccessDenied",
  LimitExceeded: "LimitExceeded",
  LimitExceededException: "LimitExceeded",
  NoSuchEntity: "NoSuchEntity",
  NoSuchEntityException: "NoSuchEntity",
  ResourceNotFoundException: "NoSuchEntity",
  DeleteConflict: "ResourceConflict",
  DeleteConflictException: "ResourceConflict",
  EntityAlreadyExists: "ResourceConflict",
  EntityAlreadyExistsException: "ResourceConflict",
  MalformedPolicyDocument: "MalformedPolicy",
  MalformedPolicyDocumentException: "MalformedPolicy",
  MalformedPolicyDocumentError: "MalformedPolicy",
};

const CONCURRENT = new Set(["ConcurrentModification", "ConcurrentModificationException"]);

/** What an SDK error means for the workflow: retry it (transient) or stop (permanent). */
export function classifyAwsError(error: unknown): WorkflowErrorName {
  if (error instanceof WorkflowError) return error.name;
  const name = error instanceof Error ? error.name : "";
  if (CONCURRENT.has(name)) return "ConcurrentModification";
  const permanent = AWS_PERMANENT[name];
  if (permanent) return permanent;
  if (error instanceof Error) {
    // The SDK's own classifiers know every service's throttling codes and network faults.
    const sdkError = error as Parameters<typeof isThrottlingError>[0];
    if (isThrottlingError(sdkError)) return "Throttling";
    if (isTransientError(sdkError) || isServerError(sdkError)) return "ServiceFailure";
    if (["ServiceFailure", "ServiceFailureException", "InternalServiceError"].includes(name)) {
      return "ServiceFailure";
    }
  }
  return "UnexpectedError";
}

/**
 * Wraps any failure of one AWS call into a WorkflowError whose message names the step, the
 * operation and the resource. Only the SDK error's name and message are kept: AWS never echoes
 * request parameters such as passwords or secret values in them.
 */
export function describeAwsFailure(step: string, operation: string, resource: string, error: unknown) {
  if (error instanceof WorkflowError) return error;
  const name = classifyAwsError(error);
  const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return new WorkflowError(name, `${step}: ${operation} ${resource} failed (${detail})`, { cause: error });
}

interface AwsMetadata {
  $metadata?: { requestId?: string; httpStatusCode?: number };
}

/**
 * What a log line says of a failure: the stable name and message, and of the error behind it
 * the SDK's name, the AWS request id and the HTTP status, which support cases ask for. Never
 * the request itself, which may hold a secret.
 */
export function errorLogFields(error: unknown): Record<string, string | number> {
  const fields: Record<string, string | number> = {};
  if (!(error instanceof Error)) return { errorName: "UnexpectedError", errorMessage: String(error) };
  fields.errorName = error.name;
  fields.errorMessage = error.message;
  const cause = error.cause instanceof Error ? error.cause : undefined;
  if (cause) fields.causeName = cause.name;
  const metadata = ((cause ?? error) as AwsMetadata).$metadata;
  if (metadata?.requestId) fields.awsRequestId = metadata.requestId;
  if (metadata?.httpStatusCode) fields.httpStatusCode = metadata.httpStatusCode;
  return fields;
}
