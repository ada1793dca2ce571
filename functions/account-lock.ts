import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { defineStep, type StepRun } from "./lib/define-step.ts";
import { WorkflowError } from "./lib/errors.ts";
import { DynamoLockStore, type LockStore } from "./lib/lock-store.ts";
import { StepInputSchema } from "./lib/step.ts";

const ACQUIRE_STEP = "AcquireAccountLock";
const RELEASE_STEP = "ReleaseAccountLock";

/**
 * How long a lock outlives its last acquire. An execution that dies without releasing (timed
 * out, stopped by hand) blocks its account this long at most. It outlasts the state machine's
 * own timeout (4.5 h, which bounds the registration polling), so a live run never loses it.
 */
export const LOCK_TTL_MS = 5 * 60 * 60 * 1000;

export interface LockResult {
  /** The execution holding the lock: this one. */
  lockedBy: string;
  accountId: string;
}

export interface ReleaseResult {
  released: true;
}

type Env = Record<string, string | undefined>;

/** DynamoDB's rule for table names. */
const TABLE_NAME = /^[\w.-]{3,255}$/;

/** Reads LOCK_TABLE_NAME the way loadConfig reads its settings: a bad one fails by name. */
export function loadLockTableName(env: Env): string {
  const name = env.LOCK_TABLE_NAME?.trim() ?? "";
  if (name === "") {
    throw new WorkflowError(
      "ConfigurationError",
      "setting LOCK_TABLE_NAME: is required: the lock table's name",
    );
  }
  if (!TABLE_NAME.test(name)) {
    throw new WorkflowError(
      "ConfigurationError",
      "setting LOCK_TABLE_NAME: must be a DynamoDB table name (3 to 255 letters, digits, '_', '-' or '.')",
    );
  }
  return name;
}

/**
 * The deployment's store, made at the first invocation rather than at import: tests and the
 * local runner import this module without LOCK_TABLE_NAME. A bad setting is not kept, so every
 * invocation fails by name until it is fixed.
 */
export function lockStoreFromEnv(env: Env = process.env): () => LockStore {
  let store: LockStore | undefined;
  return () => (store ??= new DynamoLockStore(new DynamoDBClient({}), loadLockTableName(env)));
}

/**
 * Step 0: takes the target account's lock for this execution, so that onboardings of one account
 * run one after another. A refusal is the transient OnboardingInProgress: the state machine
 * waits and tries again, and once the holder is done this run finds everything in place.
 */
export function acquireLockRun(store?: LockStore) {
  return defineStep({
    name: ACQUIRE_STEP,
    input: StepInputSchema,
    deps: () => (store ? () => store : lockStoreFromEnv()),
    run: (input, locks) => acquire(input, locks),
  });
}

async function acquire(
  { target, execution }: { target: { accountId: string }; execution: string },
  locks: () => LockStore,
): Promise<LockResult> {
  {
    const { accountId } = target;
    const claim = await locks().acquire(accountId, execution, Date.now(), LOCK_TTL_MS);
    if (!claim.acquired) {
      const holder = claim.heldBy === undefined ? "another execution" : `execution ${claim.heldBy}`;
      throw new WorkflowError(
        "OnboardingInProgress",
        `${ACQUIRE_STEP}: account ${accountId} is being onboarded by ${holder}; ${execution} waits for it to end`,
      );
    }
    return { lockedBy: execution, accountId };
  }
}

/**
 * Last step, on success and failure alike: frees the lock if this execution still holds it.
 * Idempotent: releasing a lock that is gone or taken over by another execution changes nothing.
 */
export function releaseLockRun(store?: LockStore) {
  return defineStep({
    name: RELEASE_STEP,
    input: StepInputSchema,
    deps: () => (store ? () => store : lockStoreFromEnv()),
    run: async ({ target, execution }, locks): Promise<ReleaseResult> => {
      await locks().release(target.accountId, execution);
      return { released: true };
    },
  });
}

export const { handler } = acquireLockRun();
export const { handler: releaseHandler } = releaseLockRun();
export type { StepRun };
