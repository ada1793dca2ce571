import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SendTaskSuccessCommand, StartExecutionCommand } from "@aws-sdk/client-sfn";
import * as z from "zod";
import { lambdaClients } from "./lib/clients.ts";
import { REGISTRAR_SETTINGS } from "./lib/config.ts";
import { defineStep } from "./lib/define-step.ts";
import { wakeRegistrar } from "./lib/registrar-lease.ts";
import { DynamoRegistrarQueue, REQUEST_KINDS, type RegistrarQueue } from "./lib/registrar-queue.ts";
import { Registry } from "./lib/registry.ts";
import { StepInputSchema } from "./lib/step.ts";
import { sfnClient } from "./lib/trigger-runtime.ts";

const STEP = "SubmitToRegistrar";

/*
 * How an execution hands a request to the registrar: the state invokes this function with
 * `.waitForTaskToken`, so the execution waits until the registrar answers the token. The request
 * carries ids only (the credentials secret's ARN, never its value).
 */

const SECRET_ARN = /^arn:aws[\w-]*:secretsmanager:[\w-]+:\d{12}:secret:[\w/+=.@-]+$/;

export const SubmitInputSchema = StepInputSchema.extend({
  kind: z.enum(REQUEST_KINDS, { error: `must be one of ${REQUEST_KINDS.join(", ")}` }),
  taskToken: z.string({ error: "is required ($$.Task.Token)" }).min(1).max(8_192),
  credentialsSecretArn: z
    .string()
    .regex(SECRET_ARN, "must be a secret ARN (the EnsureUser step's secretArn)")
    .optional(),
  // Credential rotation: the cloud account a `status` request asks about.
  cloudAccountId: z.number().int().positive().optional(),
  // --- Reconcile: the cloud accounts of one page whose statuses a `look` asks for ---
  cloudAccountIds: z
    .array(z.number().int().positive(), { error: "must be a list of cloud account ids" })
    .max(100, "must list at most 100 cloud accounts (one page)")
    .optional(),
})
  .refine((input) => input.kind !== "register" || input.credentialsSecretArn !== undefined, {
    path: ["credentialsSecretArn"],
    message: "is required to register (the EnsureUser step's secretArn)",
  })
  // Credential rotation: a rotation's PUT reads the secret; a status request names its cloud account.
  .refine((input) => input.kind !== "rotate" || input.credentialsSecretArn !== undefined, {
    path: ["credentialsSecretArn"],
    message: "is required to rotate (the rotation's secret ARN)",
  })
  .refine((input) => input.kind !== "status" || input.cloudAccountId !== undefined, {
    path: ["cloudAccountId"],
    message: "is required to ask a cloud account's status",
  });
export type SubmitInput = z.output<typeof SubmitInputSchema>;

export interface SubmitDeps {
  queue: RegistrarQueue;
  registry: Pick<Registry, "get">;
  /** Answers a token at once, when there is nothing for the registrar to do. */
  succeed: (token: string, output: unknown) => Promise<unknown>;
  start: (name: string) => Promise<void>;
  now: () => number;
}

export interface SubmitResult {
  queued: boolean;
  /** The registrar loop this hand-over started, if none was running. */
  started?: string;
}

/**
 * Queues the request (a retried hand-over gives the queued one its new token) and starts the
 * registrar when none runs. A withdrawal with nothing to withdraw (no registration of this
 * execution, none queued) is answered at once: a failure before Redis costs Redis nothing.
 */
export async function submitToRegistrar(input: SubmitInput, deps: SubmitDeps): Promise<SubmitResult> {
  if (input.kind === "withdraw" && (await nothingToWithdraw(input, deps))) {
    await deps.succeed(input.taskToken, { undone: [], leftBehind: [] });
    return { queued: false };
  }
  const now = deps.now();
  const { taskToken, kind, target, execution, credentialsSecretArn, cloudAccountIds } = input;
  await deps.queue.submit(
    {
      kind,
      target,
      execution,
      ...(credentialsSecretArn ? { credentialsSecretArn } : {}),
      ...(input.cloudAccountId === undefined
        ? {}
        : { registration: { cloudAccountId: input.cloudAccountId } }),
      ...(cloudAccountIds ? { cloudAccountIds } : {}),
      enqueuedAt: now,
      heartbeatAt: now,
      phase: "queued",
    },
    taskToken,
  );
  const started = await wakeRegistrar(deps.queue, deps.start, now);
  return { queued: true, ...(started ? { started } : {}) };
}

async function nothingToWithdraw(input: SubmitInput, deps: SubmitDeps): Promise<boolean> {
  if (await deps.queue.get(input.execution, "register")) return false;
  const registration = (await deps.registry.get(input.target.accountId))?.registration;
  return !(registration?.execution === input.execution && registration.origin === "created");
}

export const { run, handler } = defineStep({
  name: STEP,
  input: SubmitInputSchema,
  settings: REGISTRAR_SETTINGS,
  clients: lambdaClients({ dynamodb: DynamoDBClient }),
  deps: ({ runtime, step }): SubmitDeps => {
    const { config } = runtime;
    const hooks = runtime.registrar;
    const dynamodb = runtime.clients.dynamodb();
    return {
      queue: hooks?.queue ?? new DynamoRegistrarQueue(dynamodb, config.registrarTableName, step),
      registry: new Registry(dynamodb, config.registryTableName, step),
      succeed:
        hooks?.tokens.succeed ??
        ((taskToken, output) =>
          sfnClient().send(new SendTaskSuccessCommand({ taskToken, output: JSON.stringify(output) }))),
      start:
        hooks?.start ??
        (async (name) => {
          await sfnClient().send(
            new StartExecutionCommand({
              stateMachineArn: config.registrarStateMachineArn,
              name,
              input: JSON.stringify({ ticks: 0 }),
            }),
          );
        }),
      now: hooks?.now ?? Date.now,
    };
  },
  run: submitToRegistrar,
});
