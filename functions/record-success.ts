import * as z from "zod";
import { defineStep } from "./lib/define-step.ts";
import { emitFleetMetric } from "./lib/fleet-metrics.ts";
import { shippedDocumentHashes } from "./lib/policies.ts";
import type { Registry } from "./lib/registry.ts";
import { registryStep } from "./lib/registry-step.ts";
import { StepInputSchema } from "./lib/step.ts";

const STEP = "RecordSuccess";

const RecordSuccessInputSchema = StepInputSchema.extend({
  cloudAccountId: z.number().int().positive(),
  /** The id only: the key's secret never leaves Secrets Manager. */
  accessKeyId: z.string().regex(/^[A-Z0-9]{16,128}$/, "must be an access key id"),
  secretArn: z.string().regex(/^arn:aws[\w-]*:secretsmanager:/, "must be a secret ARN"),
  /** `$$.Execution.StartTime`: the fleet's OnboardingDuration counts from it. */
  executionStartedAt: z.iso.datetime({ offset: true, error: "must be an ISO-8601 time" }).optional(),
});
export type RecordSuccessInput = z.output<typeof RecordSuccessInputSchema>;

/** The cloud account is active: the registry says so, with what Redis uses. */
export async function recordSuccess(
  input: RecordSuccessInput,
  deps: { registry: Pick<Registry, "finish">; now?: () => Date },
): Promise<{ status: "active" }> {
  const { target, execution, cloudAccountId, accessKeyId, secretArn } = input;
  const item = await deps.registry.finish(target.accountId, execution, {
    status: "active",
    cloudAccountId,
    accessKeyId,
    secretArn,
    // Every resource now carries the documents this release ships.
    documentHashes: shippedDocumentHashes(),
  });
  emitFleetMetric("onboardingSucceeded");
  // From the execution's start; without it (an older definition), from RecordStart's record.
  const startedAt = Date.parse(input.executionStartedAt ?? item?.startedAt ?? "");
  if (Number.isFinite(startedAt)) {
    const seconds = ((deps.now?.() ?? new Date()).getTime() - startedAt) / 1000;
    emitFleetMetric("onboardingDuration", Math.max(0, seconds));
  }
  return { status: "active" };
}

export const { run, handler } = defineStep({
  ...registryStep,
  name: STEP,
  input: RecordSuccessInputSchema,
  run: recordSuccess,
});
