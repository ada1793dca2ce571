import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { GetCallerIdentityCommand, STSClient } from "@aws-sdk/client-sts";
import { lambdaClients } from "./lib/clients.ts";
import { USER_NAME } from "./lib/config.ts";
import { defineStep } from "./lib/define-step.ts";
import { describeAwsFailure, WorkflowError } from "./lib/errors.ts";
import { type RedisStepInput, RedisStepInputSchema, readAccountCredentials } from "./lib/redis-api-keys.ts";
import { StepRecorder } from "./lib/step.ts";

const STEP = "VerifyAccessKey";

/** What AWS answers, for a while, to a key IAM has not propagated yet. */
const NOT_PROPAGATED = new Set([
  "InvalidClientTokenId",
  "SignatureDoesNotMatch",
  "AuthFailure",
  "UnrecognizedClientException",
]);

export interface AccessKeyCredentials {
  accessKeyId: string;
  secretAccessKey: string;
}

/**
 * A check a second: IAM propagates a new key in about 10 s, and each second of polling saved is a
 * second sooner at Redis; STS's GetCallerIdentity is free and not throttled at this rate.
 */
export const POLL_MS = 1_000;

/**
 * How long one invocation keeps checking: under the function's timeout (serverless.yml, 110 s)
 * with room for the secret's read and the last call; the state retries once after it.
 */
export const BUDGET_MS = 90_000;

export interface VerifyDeps {
  secrets: SecretsManagerClient;
  /** An STS client that signs with the given key (not the function's own role). */
  stsFor: (credentials: AccessKeyCredentials) => STSClient;
  /** The pause between two checks of the key. */
  pollMs: number;
  /** How long the step checks before it gives up with KeyNotPropagated. */
  budgetMs: number;
  sleep: (ms: number) => Promise<void>;
  /** Milliseconds, as Date.now: only differences are used. */
  now: () => number;
}

export interface VerifyResult {
  accessKeyId: string;
  /** Whom AWS says the key belongs to: `redislabs-user` of the target account. */
  verifiedArn: string;
}

/**
 * Step 6: proves AWS accepts the new key before Redis is given it, because Redis refuses a key
 * it cannot use yet (CLOUD_ACCOUNT_INVALID_CREDS). Until IAM has propagated the key, the step
 * asks again every `pollMs` within this invocation (a state retry would add its own interval and
 * an invocation per check); past `budgetMs` it throws KeyNotPropagated, which the state retries
 * once. Any other failure (no secret, access denied, another identity) is thrown at once.
 */
export async function verifyAccessKey(input: RedisStepInput, deps: VerifyDeps): Promise<VerifyResult> {
  const rec = new StepRecorder(STEP, input.execution);
  const { accessKeyId, secretAccessKey } = await readAccountCredentials(
    deps.secrets,
    input.credentialsSecretArn,
    rec,
    ["accessKeyId", "secretAccessKey"],
    input.versionStage,
  );
  // One client for every check: the key is the same, and so is the connection.
  const sts = deps.stsFor({ accessKeyId, secretAccessKey });
  const started = deps.now();
  let attempts = 0;
  for (;;) {
    attempts += 1;
    const identity = await sts.send(new GetCallerIdentityCommand({})).catch((error: unknown) => {
      if (error instanceof Error && NOT_PROPAGATED.has(error.name)) return error;
      throw describeAwsFailure(STEP, "GetCallerIdentity", `with access key ${accessKeyId}`, error);
    });
    if (!(identity instanceof Error)) return checkedIdentity(input, accessKeyId, identity.Arn ?? "");
    const elapsed = deps.now() - started;
    if (elapsed + deps.pollMs > deps.budgetMs) {
      throw new WorkflowError(
        "KeyNotPropagated",
        `${STEP}: AWS does not accept access key ${accessKeyId} yet (${identity.name}) after ${attempts} attempts in ${Math.round(elapsed / 1000)} s; IAM is still propagating it`,
      );
    }
    await deps.sleep(deps.pollMs);
  }
}

function checkedIdentity(input: RedisStepInput, accessKeyId: string, verifiedArn: string): VerifyResult {
  if (!isRedisUserOf(verifiedArn, input.target.accountId)) {
    throw new WorkflowError(
      "UnexpectedError",
      `${STEP}: access key ${accessKeyId} belongs to ${verifiedArn || "an unknown identity"}, not to ${USER_NAME} of account ${input.target.accountId}`,
    );
  }
  return { accessKeyId, verifiedArn };
}

function isRedisUserOf(arn: string, accountId: string): boolean {
  const match = /^arn:aws[\w-]*:iam::(\d{12}):user\/(?:[^:]*\/)?([^/:]+)$/.exec(arn);
  return match?.[1] === accountId && match[2] === USER_NAME;
}

/** The step, deployed with POLL_MS and BUDGET_MS; local runs that mean to exhaust it pass less. */
export function verifyAccessKeyStep(
  timing: Pick<VerifyDeps, "pollMs" | "budgetMs"> = { pollMs: POLL_MS, budgetMs: BUDGET_MS },
) {
  return defineStep({
    name: STEP,
    input: RedisStepInputSchema,
    clients: lambdaClients({ sts: STSClient, secrets: SecretsManagerClient }),
    deps: ({ runtime }): VerifyDeps => ({
      secrets: runtime.clients.secrets(),
      // STS of the function's region, signed with the key under test (not the function's role).
      stsFor: (credentials) => runtime.clients.sts(credentials),
      ...timing,
      sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
      now: Date.now,
    }),
    run: verifyAccessKey,
  });
}

export const { run, handler } = verifyAccessKeyStep();
