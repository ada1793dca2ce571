import * as z from "zod";

const count = z.number().int().nonnegative();

/** RegisterCloudAccount's output, or this step's previous one. */
export const RegistrationSchema = z
  .object(
    {
      taskId: z.string().min(1).optional(),
      cloudAccountId: count.optional(),
      /** Checks made so far. */
      attempt: count.optional(),
      /** The cloud account existed before this run (passed through for the rollback). */
      reused: z.boolean().optional(),
      /** The existing cloud account was given this run's key: `taskId` is that update's. */
      updated: z.boolean().optional(),
    },
    { error: "is required (the RegisterCloudAccount step's output)" },
  )
  .refine(
    (r) => r.taskId !== undefined || r.cloudAccountId !== undefined,
    "has neither taskId nor cloudAccountId",
  );
export type Registration = z.output<typeof RegistrationSchema>;
