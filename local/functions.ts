import type { STSClient } from "@aws-sdk/client-sts";
import { checkRun } from "../functions/check-registration.ts";
import { run as ensureConsoleRole } from "../functions/ensure-console-role.ts";
import { run as ensureInstancePolicy } from "../functions/ensure-instance-policy.ts";
import { run as ensureNodeRole } from "../functions/ensure-node-role.ts";
import { run as ensureUser } from "../functions/ensure-user.ts";
import { run as ensureUserPolicy } from "../functions/ensure-user-policy.ts";
import type { StepRun } from "../functions/lib/handler.ts";
import type { RedisCloudSource } from "../functions/lib/redis-api-keys.ts";
import { registerRun } from "../functions/register-cloud-account.ts";
import { rollbackRun } from "../functions/rollback.ts";
import { run as validateInput } from "../functions/validate-input.ts";
import { type AccessKeyCredentials, verifyRun } from "../functions/verify-access-key.ts";

export interface LocalWiring {
  /** Where the Redis Cloud steps get their client (the local API, or the real one). */
  redis: RedisCloudSource;
  /** An STS client signing with a given key (the new user's), for VerifyAccessKey. */
  stsFor: (credentials: AccessKeyCredentials) => STSClient;
}

/**
 * The code behind each function of serverless.yml, by the name the definition's Fn::GetAtt
 * uses: the same `run` the Lambda handlers wrap, with the endpoints of the local environment.
 */
export function stepRuns(wiring: LocalWiring): Record<string, StepRun<unknown>> {
  return {
    validateInput,
    ensureInstancePolicy,
    ensureNodeRole,
    ensureUserPolicy,
    ensureUser,
    ensureConsoleRole,
    verifyAccessKey: verifyRun((credentials) => wiring.stsFor(credentials)),
    registerCloudAccount: registerRun(wiring.redis),
    // Polling jitter is the step's own; locally the Wait states take no time anyway.
    checkRegistration: checkRun(wiring.redis),
    rollback: rollbackRun(wiring.redis),
  };
}
