import * as z from "zod";
import { defineStep } from "./lib/define-step.ts";
import { WorkflowError } from "./lib/errors.ts";
import type { Registry } from "./lib/registry.ts";
import { registryStep } from "./lib/registry-step.ts";
import { RotationRecordSchema, type RotationRefs } from "./lib/rotation.ts";
import { StepInputSchema } from "./lib/step.ts";

const STEP = "BeginRotation";

const BeginInputSchema = StepInputSchema.extend({ startedBy: z.string().nullable().optional() });
export type BeginInput = z.output<typeof BeginInputSchema>;

/**
 * Under the account lock: the registry names this rotation as the account's running run, with the
 * key Redis uses now. Only an onboarded account (active, its cloud account, key and secret known)
 * is rotated: anything else is NotOnboarded, and nothing is touched.
 */
export async function beginRotation(
  input: BeginInput,
  deps: { registry: Pick<Registry, "beginRotation"> },
): Promise<RotationRefs> {
  const item = await deps.registry.beginRotation(
    input.target.accountId,
    input.execution,
    input.startedBy ?? undefined,
  );
  const rotation = RotationRecordSchema.safeParse(item.rotation);
  if (!rotation.success || !item.cloudAccountId || !item.secretArn) {
    throw new WorkflowError(
      "RegistryInvalid",
      `${STEP}: registry item of account ${input.target.accountId}: field rotation is not valid`,
    );
  }
  return {
    secretArn: item.secretArn,
    cloudAccountId: item.cloudAccountId,
    previousAccessKeyId: rotation.data.previousAccessKeyId,
  };
}

export const { run, handler } = defineStep({
  ...registryStep,
  name: STEP,
  input: BeginInputSchema,
  run: beginRotation,
});
