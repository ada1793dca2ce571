import { targetIam } from "./aws.ts";
import type { StepContext } from "./define-step.ts";
import { Registry } from "./registry.ts";
import type { StepInput } from "./step.ts";
import { targetStepWithSecrets } from "./target-step.ts";

/*
 * What the rotation's steps in the target account share: IAM there (through STS), Secrets Manager
 * and the registry in the home account. IAM is assumed only when a step needs it.
 */
export const rotationStep = {
  settings: targetStepWithSecrets.settings,
  clients: targetStepWithSecrets.clients,
  deps: ({ input, runtime, step }: StepContext<StepInput, { registryTableName: string }>) => ({
    iam: () => targetIam(runtime, input, step),
    secrets: runtime.clients.secrets(),
    registry: new Registry(runtime.clients.dynamodb(), runtime.config.registryTableName, step),
  }),
};
