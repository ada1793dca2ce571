import type { IAMClient } from "@aws-sdk/client-iam";
import type { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { ensureConsoleRole } from "./ensure-console-role.ts";
import { ensureInstancePolicy } from "./ensure-instance-policy.ts";
import { ensureNodeRole } from "./ensure-node-role.ts";
import { ensureUser, PLANNED_KEY } from "./ensure-user.ts";
import { ensureUserPolicy } from "./ensure-user-policy.ts";
import type { Home } from "./lib/aws.ts";
import { cloudAccountName, findCloudAccountOfKey } from "./lib/cloud-accounts.ts";
import { type Config, SECRET_SETTINGS, type SettingsOf, USER_NAME } from "./lib/config.ts";
import { readCredentials, secretName } from "./lib/credentials-secret.ts";
import { defineStep } from "./lib/define-step.ts";
import { WorkflowError } from "./lib/errors.ts";
import { type Finding, foreignResource } from "./lib/ownership.ts";
import { redisCloudOf } from "./lib/redis-api-keys.ts";
import { type RedisCloud, RedisCloudError } from "./lib/redis-cloud.ts";
import type { ChangeRecorder } from "./lib/registry.ts";
import { type PlannedWrite, PlanSink, type StepInput, StepRecorder } from "./lib/step.ts";
import { targetDeps, targetStepWithSecrets } from "./lib/target-step.ts";

const STEP = "PlanOnboarding";

/**
 * What a run would do in the account, at Redis and in Secrets Manager, found by running the very
 * steps of the run with their writes held back: reads are made, writes are listed, nothing is sent.
 */
export interface OnboardingPlan {
  accountId: string;
  adopt: boolean;
  /** The resources that exist, are not the product's and differ from what Redis requires. */
  foreign: (Finding & { step: string })[];
  /** Set when the run would stop before its first write (ForeignResource): `writes` is then empty. */
  stops?: { error: string; cause: string };
  /** The writes the run would make, in order, with documents before and after where they tell. */
  writes: PlannedWrite[];
  /** The writes with `"adopt": true`, when the run stops without it. */
  writesIfAdopted?: PlannedWrite[];
  /** Reads the plan made in the account and in Secrets Manager. */
  reads: number;
}

export interface PlanDeps {
  iam: IAMClient;
  secrets: SecretsManagerClient;
  home: Home;
  config: Pick<Config, "secretNamePrefix" | "consoleRolePolicyName"> &
    Partial<SettingsOf<"credentialsKeyArn" | "secretReaderArns">>;
  registry: ChangeRecorder;
  /** Redis Cloud, for a plan's registration; a run's own check before its writes does without. */
  redis?: () => Promise<RedisCloud>;
}

/** The steps that write in the account, in the state machine's order. */
const STEPS = [
  (input: StepInput, deps: PlanDeps & { plan: PlanSink }) => ensureUserPolicy(input, deps),
  (input: StepInput, deps: PlanDeps & { plan: PlanSink }) => ensureUser(input, deps),
  (input: StepInput, deps: PlanDeps & { plan: PlanSink }) => ensureInstancePolicy(input, deps),
  (input: StepInput, deps: PlanDeps & { plan: PlanSink }) => ensureNodeRole(input, deps),
  (input: StepInput, deps: PlanDeps & { plan: PlanSink }) => ensureConsoleRole(input, deps),
];

/**
 * The plan of an onboarding. In a run (no `"plan": true`) this is the check before the first
 * write: every foreign resource found stops the run with ForeignResource, naming each, unless the
 * input adopts them (and none is one that adopting would destroy).
 */
export async function planOnboarding(input: StepInput, deps: PlanDeps): Promise<OnboardingPlan> {
  try {
    return await plan(input, deps);
  } catch (error) {
    // The state is named, then the step whose reads failed: "CheckOwnership: EnsureUser: GetUser …".
    if (!(error instanceof WorkflowError)) throw error;
    throw new WorkflowError(error.name, `${stateOf(input)}: ${error.message}`, {
      cause: error.cause ?? error,
    });
  }
}

/** The state this step runs as: the plan of a plan, the check before the first write of a run. */
const stateOf = (input: StepInput) => (input.target.plan ? "PlanOnly" : "CheckOwnership");

async function plan(input: StepInput, deps: PlanDeps): Promise<OnboardingPlan> {
  const adopt = input.target.adopt === true;
  const sink = new PlanSink();
  let accessKeyId: string | undefined;
  let stopped: Error | undefined;
  for (const step of STEPS) {
    try {
      const output = await step(input, { ...deps, plan: sink });
      if ("accessKeyId" in output) accessKeyId = output.accessKeyId;
    } catch (error) {
      // A foreign resource that even an adoption may not take: the plan goes on with the rest.
      if (!(error instanceof Error && error.name === "ForeignResource")) throw error;
      stopped = error;
    }
  }
  if (input.target.plan && deps.redis && accessKeyId && !stopped) {
    await planRegistration(input, deps, deps.redis, accessKeyId, sink);
  }
  const stopping = sink.findings.some((f) => f.blocking) || (!adopt && sink.findings.length > 0);
  if (!input.target.plan && stopping)
    throw foreignResource("the check before the first write", sink.findings);
  const plan: OnboardingPlan = {
    accountId: input.target.accountId,
    adopt,
    foreign: sink.findings,
    writes: stopping ? [] : sink.writes,
    reads: sink.reads,
  };
  if (!stopping) return plan;
  const cause = (stopped ?? foreignResource("the check before the first write", sink.findings)).message;
  return {
    ...plan,
    stops: { error: "ForeignResource", cause },
    ...(stopped ? {} : { writesIfAdopted: sink.writes }),
  };
}

/**
 * What the run would ask of Redis, and the writes that follow it: a new registration, an update
 * of the account's cloud account to a new key (then the old key's deletion), or nothing; and the
 * cloud account's id stored with the credentials.
 */
async function planRegistration(
  input: StepInput,
  deps: PlanDeps,
  redisOf: () => Promise<RedisCloud>,
  accessKeyId: string,
  sink: PlanSink,
) {
  const rec = new StepRecorder(STEP, input.execution, async () => {}, { plan: sink });
  const { accountId } = input.target;
  const redis = await redisOf();
  const item = await deps.registry.get(accountId);
  const knownId = item?.registration?.cloudAccountId ?? item?.cloudAccountId;
  const known = knownId === undefined ? undefined : await cloudAccountById(redis, knownId);
  const name = cloudAccountName(input.target);
  const planned = (operation: string, resource: string, after?: unknown) =>
    sink.writes.push({
      step: "Registration",
      kind: "change",
      operation,
      resource,
      ...(after ? { after } : {}),
    });
  let cloudAccountId = known?.id;
  if (known && known.accessKeyId !== accessKeyId) {
    planned(`PUT /v1/cloud-accounts/${known.id}`, `cloud account ${known.id}`, { accessKeyId });
    if (known.accessKeyId) planned("DeleteAccessKey", `${known.accessKeyId} of ${USER_NAME}`);
  } else if (!known) {
    const found =
      accessKeyId === PLANNED_KEY ? undefined : await findCloudAccountOfKey(redis, { name, accessKeyId });
    cloudAccountId = found?.id;
    if (!found) planned("POST /v1/cloud-accounts", `cloud account "${name}"`, { name, accessKeyId });
  }
  const stored = await readCredentials(deps.secrets, secretName(deps.config, accountId), rec);
  if (cloudAccountId === undefined || stored?.value.cloudAccountId !== cloudAccountId) {
    const secret = stored?.arn ?? `(new secret ${secretName(deps.config, accountId)})`;
    planned("TagResource", secret);
    planned("PutSecretValue", secret);
  }
}

async function cloudAccountById(redis: RedisCloud, id: number) {
  try {
    return await redis.getCloudAccount(id);
  } catch (error) {
    if (error instanceof RedisCloudError && error.status === 404) return undefined;
    throw error;
  }
}

export const { run, handler } = defineStep({
  ...targetStepWithSecrets,
  name: STEP,
  settings: [
    ...targetStepWithSecrets.settings,
    ...SECRET_SETTINGS,
    "consoleRolePolicyName",
    "apiKeysSecret",
    "apiUrl",
  ],
  deps: async (context): Promise<PlanDeps> => ({
    // Its failures (the role cannot be assumed) name the state it runs as.
    ...(await targetDeps({ ...context, step: stateOf(context.input) })),
    secrets: context.runtime.clients.secrets(),
    config: context.runtime.config,
    redis: () => redisCloudOf(context.runtime, context.step),
  }),
  run: planOnboarding,
});
