import { DeleteAccessKeyCommand, type IAMClient } from "@aws-sdk/client-iam";
import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  type SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from "@aws-sdk/client-secrets-manager";
import * as z from "zod";
import { USER_NAME } from "./lib/config.ts";
import { defineStep } from "./lib/define-step.ts";
import { setConsolePassword } from "./lib/iam.ts";
import { parseJsonObject } from "./lib/input.ts";
import type { Registry } from "./lib/registry.ts";
import { pendingVersionId, RotationRecordSchema, RotationStepInputSchema } from "./lib/rotation.ts";
import { rotationStep } from "./lib/rotation-step.ts";
import { StepRecorder } from "./lib/step.ts";

const STEP = "UndoRotation";

const UndoInputSchema = RotationStepInputSchema.extend({
  /** How Redis saw the cloud account after the failure (the registrar's status answer), or an error. */
  atRedis: z.looseObject({ accessKeyId: z.string().nullable().optional() }).optional(),
});
export type UndoInput = z.output<typeof UndoInputSchema>;

export interface UndoDeps {
  iam: () => Promise<IAMClient>;
  secrets: SecretsManagerClient;
  registry: Pick<Registry, "get">;
}

export interface UndoResult {
  undone: string[];
  leftBehind: { resource: string; reason: string }[];
}

/**
 * A failure before the switch: Redis stays on the old key. The new key is deleted, the console
 * password set back to the one Redis holds (AWSCURRENT's), and the AWSPENDING label taken off —
 * unless Redis may already use the new key (it said so, or could not be asked after this run's PUT
 * was sent): then nothing is taken from it, and the result says so.
 */
export async function undoRotation(input: UndoInput, deps: UndoDeps): Promise<UndoResult> {
  const rec = new StepRecorder(STEP, input.execution);
  const { secretArn } = input.rotation;
  const result: UndoResult = { undone: [], leftBehind: [] };
  const item = await deps.registry.get(input.target.accountId);
  const rotation = RotationRecordSchema.safeParse(item?.rotation).data;
  const newKey = rotation?.execution === input.execution ? rotation.newAccessKeyId : undefined;
  if (!newKey) return result;
  const registration = item?.registration;
  const sent = registration?.execution === input.execution && registration.accessKeyId === newKey;
  const redisSaid = input.atRedis?.accessKeyId;
  const mayUse = redisSaid === newKey || (redisSaid === undefined && sent);
  if (mayUse) {
    result.leftBehind.push({
      resource: `access key ${newKey} of ${USER_NAME}`,
      reason:
        redisSaid === newKey
          ? "KeyInUse: Redis holds it"
          : "KeyInUse: Redis was asked to use it and could not be asked since",
    });
    return result;
  }
  const iam = await deps.iam();
  await rec.delete("DeleteAccessKey", `${newKey} of ${USER_NAME}`, () =>
    iam.send(new DeleteAccessKeyCommand({ UserName: USER_NAME, AccessKeyId: newKey })),
  );
  result.undone.push(`access key ${newKey}`);
  const current = await rec.call("GetSecretValue", secretArn, () =>
    deps.secrets.send(new GetSecretValueCommand({ SecretId: secretArn })),
  );
  const password = parseJsonObject(current.SecretString)?.consolePassword;
  if (typeof password === "string" && password !== "") {
    await setConsolePassword(iam, password, rec);
    result.undone.push(`console password of ${USER_NAME}`);
  }
  const versionId = pendingVersionId(secretArn, input.execution);
  const described = await rec.call("DescribeSecret", secretArn, () =>
    deps.secrets.send(new DescribeSecretCommand({ SecretId: secretArn })),
  );
  if (described.VersionIdsToStages?.[versionId]?.includes("AWSPENDING")) {
    await rec.change("UpdateSecretVersionStage", `${secretArn} AWSPENDING`, () =>
      deps.secrets.send(
        new UpdateSecretVersionStageCommand({
          SecretId: secretArn,
          VersionStage: "AWSPENDING",
          RemoveFromVersionId: versionId,
        }),
      ),
    );
    result.undone.push("AWSPENDING label");
  }
  return result;
}

export const { run, handler } = defineStep({
  ...rotationStep,
  name: STEP,
  input: UndoInputSchema,
  deps: (context) => rotationStep.deps(context),
  run: undoRotation,
});
