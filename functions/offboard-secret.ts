import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import {
  DeleteSecretCommand,
  DescribeSecretCommand,
  SecretsManagerClient,
} from "@aws-sdk/client-secrets-manager";
import { lambdaClients } from "./lib/clients.ts";
import { secretName } from "./lib/credentials-secret.ts";
import { defineStep } from "./lib/define-step.ts";
import { describeAwsFailure } from "./lib/errors.ts";
import { type NotDone, offboardingRun, SECRET_CHANGES } from "./lib/offboarding.ts";
import { Registry } from "./lib/registry.ts";
import { type StepInput, StepInputSchema } from "./lib/step.ts";

const STEP = "ScheduleSecretDeletion";

/*
 * The account's credentials secret, in the home account: scheduled for deletion with a recovery
 * window (SECRET_RECOVERY_DAYS, 7 to 30), never deleted at once, so an offboarding by mistake can
 * be undone by restoring it. Only a secret the product created goes; one it adopted is left, said so.
 */

export interface SecretReport {
  secretArn: string | null;
  /** ISO time Secrets Manager will delete it; null when nothing was scheduled. */
  deletionDate: string | null;
  recoveryDays: number;
  kept: NotDone[];
}

export interface OffboardSecretDeps {
  secrets: Pick<SecretsManagerClient, "send">;
  registry: Pick<Registry, "get" | "forgetEntries">;
  config: { secretNamePrefix: string; secretRecoveryDays: number };
}

export async function scheduleSecretDeletion(
  input: StepInput,
  deps: OffboardSecretDeps,
): Promise<SecretReport> {
  const { accountId } = input.target;
  const recoveryDays = deps.config.secretRecoveryDays;
  const item = await offboardingRun(deps.registry, accountId, input.execution, STEP);
  const entries = item.resources.filter((e) => SECRET_CHANGES.has(e.change.type));
  const created = entries.find((e) => e.change.type === "Secret" && e.origin === "created");
  const report: SecretReport = { secretArn: null, deletionDate: null, recoveryDays, kept: [] };
  const name = secretName(deps.config, accountId);
  if (created?.change.type === "Secret") {
    const arn = created.change.arn;
    report.secretArn = arn;
    report.deletionDate = await schedule(deps, name, arn, recoveryDays);
  } else if (entries.length > 0 || item.secretArn) {
    report.kept.push({
      resource: `secret ${name}`,
      reason: "the product adopted it, it did not create it: left in place, with the credentials it holds",
    });
  }
  if (entries.length > 0) await deps.registry.forgetEntries(accountId, input.execution, entries);
  return report;
}

/** DeleteSecret once; a secret already scheduled or gone answers the date it has, or null. */
async function schedule(deps: OffboardSecretDeps, name: string, arn: string, days: number) {
  const call = async <T>(operation: string, send: () => Promise<T>) => {
    try {
      return await send();
    } catch (error) {
      if ((error as Error).name === "ResourceNotFoundException") return undefined;
      throw describeAwsFailure(STEP, operation, name, error);
    }
  };
  const described = await call("DescribeSecret", () =>
    deps.secrets.send(new DescribeSecretCommand({ SecretId: name })),
  );
  if (!described || described.ARN !== arn) return null;
  if (described.DeletedDate) {
    return new Date(new Date(described.DeletedDate).getTime() + days * 86_400_000).toISOString();
  }
  const deleted = await call("DeleteSecret", () =>
    deps.secrets.send(new DeleteSecretCommand({ SecretId: arn, RecoveryWindowInDays: days })),
  );
  return deleted?.DeletionDate ? new Date(deleted.DeletionDate).toISOString() : null;
}

export const { run, handler } = defineStep({
  name: STEP,
  input: StepInputSchema,
  settings: ["logLevel", "registryTableName", "secretNamePrefix", "secretRecoveryDays"],
  clients: lambdaClients({ secrets: SecretsManagerClient, dynamodb: DynamoDBClient }),
  deps: ({ runtime, step }): OffboardSecretDeps => ({
    secrets: runtime.clients.secrets(),
    registry: new Registry(runtime.clients.dynamodb(), runtime.config.registryTableName, step),
    config: runtime.config,
  }),
  run: scheduleSecretDeletion,
});
