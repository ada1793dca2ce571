import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { IAMClient } from "@aws-sdk/client-iam";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { STSClient } from "@aws-sdk/client-sts";
import { type Home, targetIam } from "./aws.ts";
import { lambdaClients } from "./clients.ts";
import { TARGET_SETTINGS } from "./config.ts";
import type { StepContext } from "./define-step.ts";
import { Ownership } from "./ownership.ts";
import { type ChangeRecorder, Registry } from "./registry.ts";
import { type PlanSink, type StepInput, StepInputSchema, StepRecorder } from "./step.ts";

/*
 * What every step acting in a target account shares: the input the state machine builds, the
 * settings that bound which role it may assume, IAM in that account (through STS), and the
 * account registry in the home account, where each change is recorded as it is made.
 */

export interface TargetDeps {
  iam: IAMClient;
  home: Home;
  registry: Registry;
}

type TargetSettings = { registryTableName: string };

const targetDeps = async <C extends TargetSettings>({
  input,
  runtime,
  step,
}: StepContext<StepInput, C>): Promise<TargetDeps> => ({
  iam: await targetIam(runtime, input, step),
  home: { partition: runtime.partition, region: runtime.region, accountId: runtime.accountId },
  registry: new Registry(runtime.clients.dynamodb(), runtime.config.registryTableName, step),
});

export const targetStep = {
  input: StepInputSchema,
  settings: TARGET_SETTINGS,
  clients: lambdaClients({ iam: IAMClient, sts: STSClient, dynamodb: DynamoDBClient }),
  deps: targetDeps,
};

/** The same, with Secrets Manager in the home account (where the credentials secrets are). */
export const targetStepWithSecrets = {
  ...targetStep,
  clients: lambdaClients({
    iam: IAMClient,
    sts: STSClient,
    secrets: SecretsManagerClient,
    dynamodb: DynamoDBClient,
  }),
};

/** What a step acting in the account needs to record: the registry, and in a plan, the plan. */
export interface RecorderDeps {
  registry: ChangeRecorder;
  /** Set: plan mode (nothing is written, the registry included). */
  plan?: PlanSink;
}

/**
 * A step's recorder: it knows what the registry says the product owns, and sends every change
 * (and adoption) to the registry before the step goes on. In a plan it writes nothing at all.
 */
export async function recorderFor(step: string, input: StepInput, deps: RecorderDeps): Promise<StepRecorder> {
  const { accountId } = input.target;
  const ownership = new Ownership(await deps.registry.get(accountId), input.target.adopt === true);
  if (deps.plan)
    return new StepRecorder(step, input.execution, async () => {}, { ownership, plan: deps.plan });
  return new StepRecorder(
    step,
    input.execution,
    (change) => deps.registry.recordChange(accountId, input.execution, change),
    {
      ownership,
      adopt: (change, prior) => deps.registry.recordAdoption(accountId, input.execution, change, prior),
    },
  );
}

export { targetDeps };
