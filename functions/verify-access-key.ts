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

export interface VerifyDeps {
  secrets: SecretsManagerClient;
  /** An STS client that signs with the given key (not the function's own role). */
  stsFor: (credentials: AccessKeyCredentials) => STSClient;
}

export interface VerifyResult {
  accessKeyId: string;
  /** Whom AWS says the key belongs to: `redislabs-user` of the target account. */
  verifiedArn: string;
}

/**
 * Step 6: proves AWS accepts the new key before Redis is given it, because Redis refuses a key
 * it cannot use yet (CLOUD_ACCOUNT_INVALID_CREDS). Until IAM has propagated the key, the step
 * throws KeyNotPropagated and the state machine retries it with backoff.
 */
export async function verifyAccessKey(input: RedisStepInput, deps: VerifyDeps): Promise<VerifyResult> {
  const rec = new StepRecorder(STEP, input.execution);
  const { accessKeyId, secretAccessKey } = await readAccountCredentials(
    deps.secrets,
    input.credentialsSecretArn,
    rec,
    ["accessKeyId", "secretAccessKey"],
  );
  const identity = await deps
    .stsFor({ accessKeyId, secretAccessKey })
    .send(new GetCallerIdentityCommand({}))
    .catch((error: unknown) => {
      if (error instanceof Error && NOT_PROPAGATED.has(error.name)) {
        throw new WorkflowError(
          "KeyNotPropagated",
          `${STEP}: AWS does not accept access key ${accessKeyId} yet (${error.name}); IAM is still propagating it`,
        );
      }
      throw describeAwsFailure(STEP, "GetCallerIdentity", `with access key ${accessKeyId}`, error);
    });
  const verifiedArn = identity.Arn ?? "";
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

export const { run, handler } = defineStep({
  name: STEP,
  input: RedisStepInputSchema,
  clients: lambdaClients({ sts: STSClient, secrets: SecretsManagerClient }),
  deps: ({ runtime }): VerifyDeps => ({
    secrets: runtime.clients.secrets(),
    // STS of the function's region, signed with the key under test (not the function's role).
    stsFor: (credentials) => runtime.clients.sts(credentials),
  }),
  run: verifyAccessKey,
});
