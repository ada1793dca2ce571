import {
  DescribeSecretCommand,
  type SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from "@aws-sdk/client-secrets-manager";
import * as z from "zod";
import { defineStep } from "./lib/define-step.ts";
import { WorkflowError } from "./lib/errors.ts";
import type { Registry } from "./lib/registry.ts";
import { RotationStepInputSchema } from "./lib/rotation.ts";
import { rotationStep } from "./lib/rotation-step.ts";
import { StepRecorder } from "./lib/step.ts";

const STEP = "PromotePendingVersion";

export const NewKeySchema = z.object(
  {
    newAccessKeyId: z.string().regex(/^[A-Z0-9]{16,128}$/, "must be an access key id"),
    pendingVersionId: z.string().min(32).max(64),
  },
  { error: "is required (the CreatePendingKey step's output)" },
);

const PromoteInputSchema = RotationStepInputSchema.extend({ newKey: NewKeySchema });
export type PromoteInput = z.output<typeof PromoteInputSchema>;

export interface PromoteDeps {
  secrets: SecretsManagerClient;
  registry: Pick<Registry, "recordRotation">;
  now?: () => Date;
}

/**
 * The switch, once Redis is active on the new key: the registry names the new key as the one Redis
 * uses (first, so that it never names a key Redis has left), then the pending version becomes
 * AWSCURRENT (Secrets Manager labels the old one AWSPREVIOUS) and loses its AWSPENDING label.
 * Idempotent: labels already moved are left as they are.
 */
export async function promotePendingVersion(input: PromoteInput, deps: PromoteDeps) {
  const rec = new StepRecorder(STEP, input.execution);
  const { secretArn } = input.rotation;
  const { newAccessKeyId, pendingVersionId } = input.newKey;
  const at = (deps.now ?? (() => new Date()))().toISOString();
  await deps.registry.recordRotation(input.target.accountId, input.execution, {
    accessKeyId: newAccessKeyId,
    switchedAt: at,
  });
  const described = await rec.call("DescribeSecret", secretArn, () =>
    deps.secrets.send(new DescribeSecretCommand({ SecretId: secretArn })),
  );
  const stages = described.VersionIdsToStages ?? {};
  if (!stages[pendingVersionId]) {
    throw new WorkflowError(
      "UnexpectedError",
      `${STEP}: secret ${secretArn} has no version ${pendingVersionId}`,
    );
  }
  const currentId = Object.keys(stages).find((id) => stages[id]?.includes("AWSCURRENT"));
  if (currentId !== pendingVersionId) {
    await rec.change("UpdateSecretVersionStage", `${secretArn} AWSCURRENT`, () =>
      deps.secrets.send(
        new UpdateSecretVersionStageCommand({
          SecretId: secretArn,
          VersionStage: "AWSCURRENT",
          MoveToVersionId: pendingVersionId,
          ...(currentId ? { RemoveFromVersionId: currentId } : {}),
        }),
      ),
    );
  }
  if (stages[pendingVersionId]?.includes("AWSPENDING")) {
    await rec.change("UpdateSecretVersionStage", `${secretArn} AWSPENDING`, () =>
      deps.secrets.send(
        new UpdateSecretVersionStageCommand({
          SecretId: secretArn,
          VersionStage: "AWSPENDING",
          RemoveFromVersionId: pendingVersionId,
        }),
      ),
    );
  }
  return {
    currentVersionId: pendingVersionId,
    ...(currentId && currentId !== pendingVersionId ? { previousVersionId: currentId } : {}),
  };
}

export const { run, handler } = defineStep({
  ...rotationStep,
  name: STEP,
  input: PromoteInputSchema,
  deps: (context) => rotationStep.deps(context),
  run: promotePendingVersion,
});
