import { DeleteAccessKeyCommand, type IAMClient } from "@aws-sdk/client-iam";
import { targetIam } from "./lib/aws.ts";
import { USER_NAME } from "./lib/config.ts";
import { defineStep } from "./lib/define-step.ts";
import { WorkflowError } from "./lib/errors.ts";
import { redisCloudOf, redisStep } from "./lib/redis-api-keys.ts";
import type { RedisCloud } from "./lib/redis-cloud.ts";
import { type RegistrationRecord, Registry, type RegistryItem } from "./lib/registry.ts";
import { type StepInput, StepRecorder } from "./lib/step.ts";
import { targetStepWithSecrets } from "./lib/target-step.ts";

const STEP = "RetireOldKey";

export interface RetireDeps {
  registry: Pick<Registry, "get">;
  /** IAM in the target account: assumed only when there is a key to delete. */
  iam: () => Promise<IAMClient>;
  /** The Redis Cloud API: asked for only when there is a key to delete. */
  redis: () => Promise<RedisCloud>;
}

export interface RetireResult {
  /** Ids of the access keys deleted (never a secret). */
  retired: string[];
}

/** What this run's update asked Redis to leave: the key, and the cloud account now on the new one. */
interface Retiring {
  cloudAccountId: number;
  accessKeyId: string;
  previousAccessKeyId: string;
}

/**
 * Step 7c: once the registration is active, deletes the access key Redis used before this run
 * gave its cloud account a new one (a registration of kind update), so that redislabs-user keeps
 * only the key Redis uses. Redis is read first: the old key is deleted only once the cloud
 * account, read by id, holds the new key in full. Any other registration retires nothing.
 */
export async function retireOldKey(input: StepInput, deps: RetireDeps): Promise<RetireResult> {
  const rec = new StepRecorder(STEP, input.execution);
  const retiring = keyToRetire(await deps.registry.get(input.target.accountId), input.execution);
  if (!retiring) return { retired: [] };
  const { cloudAccountId, accessKeyId, previousAccessKeyId } = retiring;
  const account = await (await deps.redis()).getCloudAccount(cloudAccountId);
  if (account.accessKeyId !== accessKeyId) {
    throw new WorkflowError(
      "CloudAccountError",
      `${STEP}: Redis Cloud cloud account ${cloudAccountId} holds access key ${account.accessKeyId ?? "(none shown)"}, not ${accessKeyId}; access key ${previousAccessKeyId} is kept, Redis may still use it`,
    );
  }
  const iam = await deps.iam();
  // A key already gone (a retried step, an operator) is what this step wants: not an error.
  await rec.delete("DeleteAccessKey", `${previousAccessKeyId} of ${USER_NAME}`, () =>
    iam.send(new DeleteAccessKeyCommand({ UserName: USER_NAME, AccessKeyId: previousAccessKeyId })),
  );
  return { retired: [previousAccessKeyId] };
}

/**
 * The previous key of this run's own update, while this run is the account's running one: a
 * registration of another run, a create, or an update that kept its key retires nothing.
 */
function keyToRetire(item: RegistryItem | undefined, execution: string): Retiring | undefined {
  if (item?.lastExecution !== execution || item.lastOutcome !== "running") return undefined;
  const registration: RegistrationRecord | undefined = item.registration;
  if (registration?.execution !== execution || registration.kind !== "update") return undefined;
  const { cloudAccountId, accessKeyId, previousAccessKeyId } = registration;
  if (cloudAccountId === undefined || previousAccessKeyId === undefined) return undefined;
  if (previousAccessKeyId === accessKeyId) return undefined;
  return { cloudAccountId, accessKeyId, previousAccessKeyId };
}

export const { run, handler } = defineStep({
  name: STEP,
  input: targetStepWithSecrets.input,
  settings: [...targetStepWithSecrets.settings, ...redisStep.settings],
  // IAM through STS in the target account, the registry, and the Redis API keys' secret.
  clients: targetStepWithSecrets.clients,
  deps: ({ input, runtime, step }): RetireDeps => ({
    registry: new Registry(runtime.clients.dynamodb(), runtime.config.registryTableName, step),
    iam: () => targetIam(runtime, input, step),
    redis: () => redisCloudOf(runtime, step),
  }),
  onError: redisStep.onError,
  run: retireOldKey,
});
