import { createHash } from "node:crypto";
import * as z from "zod";
import { StepInputSchema } from "./step.ts";

/*
 * Credential rotation's shared shapes: what the registry keeps of a rotation, and what the
 * rotation's steps hand each other (ids and ARNs only, never a secret).
 */

const text = z.string().min(1);
const isoTime = z.iso.datetime({ error: "must be an ISO-8601 UTC time" });
const ACCESS_KEY_ID = /^[A-Z0-9]{16,128}$/;

export const ROTATION_OUTCOMES = ["running", "succeeded", "failed"] as const;

/** The registry's record of the account's last rotation (the item's `rotation` attribute). */
export const RotationRecordSchema = z.object({
  execution: text,
  startedAt: isoTime,
  /** The key Redis used when the rotation began; deleted once Redis is seen on the new one. */
  previousAccessKeyId: text,
  /** The key this rotation made: recorded right after CreateAccessKey, before its secret is stored. */
  newAccessKeyId: text.optional(),
  /** When Redis was switched to the new key (the secret's AWSCURRENT moved with it). */
  switchedAt: isoTime.optional(),
  outcome: z.enum(ROTATION_OUTCOMES),
  /** The error name a failed rotation ended with (never its cause). */
  error: z.string().optional(),
  endedAt: isoTime.optional(),
});
export type RotationRecord = z.output<typeof RotationRecordSchema>;

/** What BeginRotation answers, and every later rotation step takes as `rotation`. */
export const RotationRefsSchema = z.object(
  {
    secretArn: z.string().regex(/^arn:aws[\w-]*:secretsmanager:/, "must be a secret ARN"),
    cloudAccountId: z.number().int().positive(),
    previousAccessKeyId: z.string().regex(ACCESS_KEY_ID, "must be an access key id"),
  },
  { error: "is required (the BeginRotation step's output)" },
);
export type RotationRefs = z.output<typeof RotationRefsSchema>;

export const RotationStepInputSchema = StepInputSchema.extend({ rotation: RotationRefsSchema });
export type RotationStepInput = z.output<typeof RotationStepInputSchema>;

/**
 * The ClientRequestToken of this execution's pending version: a retried step writes the same
 * version (or finds it written), never a second one. It is also the version's id.
 */
export function pendingVersionId(secretArn: string, execution: string): string {
  const hex = createHash("sha256").update(`rotation|${secretArn}|${execution}`).digest("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}
