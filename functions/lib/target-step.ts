import { IAMClient } from "@aws-sdk/client-iam";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { STSClient } from "@aws-sdk/client-sts";
import { type Home, targetIam } from "./aws.ts";
import { lambdaClients } from "./clients.ts";
import { TARGET_SETTINGS } from "./config.ts";
import type { StepContext } from "./define-step.ts";
import { type StepInput, StepInputSchema } from "./step.ts";

/*
 * What every step acting in a target account shares: the input the state machine builds, the
 * settings that bound which role it may assume, and IAM in that account (through STS).
 */

export interface TargetDeps {
  iam: IAMClient;
  home: Home;
}

const targetDeps = async <C>({ input, runtime, step }: StepContext<StepInput, C>): Promise<TargetDeps> => ({
  iam: await targetIam(runtime, input, step),
  home: { partition: runtime.partition, region: runtime.region, accountId: runtime.accountId },
});

export const targetStep = {
  input: StepInputSchema,
  settings: TARGET_SETTINGS,
  clients: lambdaClients({ iam: IAMClient, sts: STSClient }),
  deps: targetDeps,
};

/** The same, with Secrets Manager in the home account (where the credentials secrets are). */
export const targetStepWithSecrets = {
  ...targetStep,
  clients: lambdaClients({ iam: IAMClient, sts: STSClient, secrets: SecretsManagerClient }),
};

export { targetDeps };
