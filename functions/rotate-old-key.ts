import { DeleteAccessKeyCommand, type IAMClient, UpdateAccessKeyCommand } from "@aws-sdk/client-iam";
import * as z from "zod";
import { USER_NAME } from "./lib/config.ts";
import { defineStep } from "./lib/define-step.ts";
import { RotationStepInputSchema } from "./lib/rotation.ts";
import { rotationStep } from "./lib/rotation-step.ts";
import { StepRecorder } from "./lib/step.ts";

const STEP = "RotateOldKey";

const OldKeyInputSchema = RotationStepInputSchema.extend({
  action: z.enum(["deactivate", "reactivate", "delete"], {
    error: "must be deactivate, reactivate or delete",
  }),
});
export type OldKeyInput = z.output<typeof OldKeyInputSchema>;

/**
 * The old key after the switch, in three states of the rotation: made Inactive (reversible: Redis
 * is asked whether it still works), Active again (Redis turned active-error), or deleted (Redis is
 * fine without it). A key already gone is what a delete wants.
 */
export async function rotateOldKey(input: OldKeyInput, deps: { iam: () => Promise<IAMClient> }) {
  const rec = new StepRecorder(STEP, input.execution);
  const id = input.rotation.previousAccessKeyId;
  const iam = await deps.iam();
  if (input.action === "delete") {
    await rec.delete("DeleteAccessKey", `${id} of ${USER_NAME}`, () =>
      iam.send(new DeleteAccessKeyCommand({ UserName: USER_NAME, AccessKeyId: id })),
    );
    return { accessKeyId: id, deleted: true };
  }
  const status = input.action === "deactivate" ? "Inactive" : "Active";
  await rec.change("UpdateAccessKey", `${id} of ${USER_NAME} (${status})`, () =>
    iam.send(new UpdateAccessKeyCommand({ UserName: USER_NAME, AccessKeyId: id, Status: status })),
  );
  return { accessKeyId: id, status };
}

export const { run, handler } = defineStep({
  ...rotationStep,
  name: STEP,
  input: OldKeyInputSchema,
  deps: (context) => rotationStep.deps(context),
  run: rotateOldKey,
});
