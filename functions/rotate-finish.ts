import type * as z from "zod";
import { defineStep } from "./lib/define-step.ts";
import type { Registry } from "./lib/registry.ts";
import { ErrorNameSchema, registryStep } from "./lib/registry-step.ts";
import { RotationRecordSchema, RotationRefsSchema } from "./lib/rotation.ts";
import { StepInputSchema } from "./lib/step.ts";

const STEP = "RecordRotationEnd";

const FinishInputSchema = StepInputSchema.extend({
  rotation: RotationRefsSchema,
  /** Absent: the rotation succeeded. */
  error: ErrorNameSchema.optional(),
});
export type FinishInput = z.output<typeof FinishInputSchema>;

/**
 * The registry says how the rotation ended: its record's outcome, and the account's run. The
 * account stays active either way, on the key the registry names (the new one once switched).
 */
export async function recordRotationEnd(
  input: FinishInput,
  deps: { registry: Pick<Registry, "get" | "recordRotation" | "finish">; now?: () => Date },
) {
  const { accountId } = input.target;
  const at = (deps.now ?? (() => new Date()))().toISOString();
  const outcome = input.error === undefined ? "succeeded" : "failed";
  const item = await deps.registry.recordRotation(accountId, input.execution, {
    outcome,
    endedAt: at,
    ...(input.error === undefined ? {} : { error: input.error }),
  });
  const stored = item ?? (await deps.registry.get(accountId));
  const rotation = RotationRecordSchema.safeParse(stored?.rotation).data;
  if (input.error !== undefined) {
    await deps.registry.finish(accountId, input.execution, { status: "failed", error: input.error });
  } else {
    await deps.registry.finish(accountId, input.execution, {
      status: "active",
      cloudAccountId: input.rotation.cloudAccountId,
      accessKeyId: stored?.accessKeyId ?? input.rotation.previousAccessKeyId,
      secretArn: input.rotation.secretArn,
    });
  }
  return { outcome, accessKeyId: stored?.accessKeyId ?? null, switched: rotation?.switchedAt !== undefined };
}

export const { run, handler } = defineStep({
  ...registryStep,
  name: STEP,
  input: FinishInputSchema,
  run: recordRotationEnd,
});
