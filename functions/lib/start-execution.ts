import {
  DescribeExecutionCommand,
  type ExecutionStatus,
  paginateListExecutions,
  type SFNClient,
  StartExecutionCommand,
} from "@aws-sdk/client-sfn";
import { accountPrefix, attemptName, executionArn } from "./execution-names.ts";
import type { StartInput } from "./onboarding-input.ts";

/*
 * Starting an onboarding from outside the console (an account-vending event, the HTTP API), at
 * most one running per account: the running one is found by its name's account prefix.
 */

export interface ExecutionRef {
  executionArn: string;
  name: string;
}

export type StartOutcome =
  /** A new execution (or, for an identical repeat of a running one, that one). */
  | ({ kind: "started" } & ExecutionRef)
  /** The account already had an onboarding running: that one. */
  | ({ kind: "running" } & ExecutionRef)
  /** The name's family ends with an execution that succeeded: this start was handled before. */
  | ({ kind: "taken" } & ExecutionRef);

/**
 * How many executions one name family may have (the first name and its re-drives `-2` … `-50`).
 * Every start walks the family from its first name, two calls a name, so the bound keeps a start
 * within its function's timeout; an account whose onboarding failed this often needs a person.
 */
export const MAX_ATTEMPTS = 50;

/** Every name of the family is taken by a run that ended unsuccessfully. */
export class RedrivesExhausted extends Error {
  override readonly name = "RedrivesExhausted";
}

/** The oldest RUNNING execution of this state machine whose name says it onboards this account. */
export async function findRunning(
  sfn: SFNClient,
  stateMachineArn: string,
  accountId: string,
): Promise<ExecutionRef | undefined> {
  const prefix = accountPrefix(accountId);
  let oldest: { ref: ExecutionRef; started: number } | undefined;
  const pages = paginateListExecutions(
    { client: sfn, pageSize: 1000 },
    { stateMachineArn, statusFilter: "RUNNING" },
  );
  for await (const page of pages) {
    for (const execution of page.executions ?? []) {
      if (!execution.name?.startsWith(prefix) || !execution.executionArn) continue;
      const started = execution.startDate?.getTime() ?? 0;
      if (oldest === undefined || started < oldest.started) {
        oldest = { ref: { executionArn: execution.executionArn, name: execution.name }, started };
      }
    }
  }
  return oldest?.ref;
}

/**
 * Starts `name` unless the account already has an onboarding running; a name taken by a run that
 * failed, timed out or was aborted is re-driven under the family's next name (see attemptName).
 *
 * The check and the start are two calls, and ListExecutions is eventually consistent, so two
 * starters can both find nothing. Names make that race harmless where it matters: concurrent
 * starts of one origin walk the same names to the same first free one, and StartExecution is
 * idempotent per name for STANDARD workflows (same input: the running execution is returned;
 * otherwise ExecutionAlreadyExists, after which that execution is described). What remains is two
 * different origins (say a vending event and an API call) for one account within the list's lag,
 * about a second; the steps reconcile what exists, so the later run finds the resources in place.
 */
export async function startUnlessRunning(
  sfn: SFNClient,
  stateMachineArn: string,
  start: { name: string; input: StartInput & { startedBy?: string } },
): Promise<StartOutcome> {
  const running = await findRunning(sfn, stateMachineArn, start.input.accountId);
  if (running) return { kind: "running", ...running };
  const input = JSON.stringify(start.input);
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    const name = attemptName(start.name, attempt);
    const outcome = await startOrRead(sfn, stateMachineArn, name, input);
    if (outcome !== "ended unsuccessfully") return outcome;
  }
  throw new RedrivesExhausted(
    `${start.name}: it and its ${MAX_ATTEMPTS - 1} re-drives have all ended unsuccessfully; start the next onboarding from the console`,
  );
}

/** Step Functions keeps a name for 90 days after its run; these end it without success. */
const UNSUCCESSFUL: ReadonlySet<ExecutionStatus | undefined> = new Set(["FAILED", "TIMED_OUT", "ABORTED"]);
/** Still going: PENDING_REDRIVE is a run someone re-drove in Step Functions, about to go on. */
const GOING: ReadonlySet<ExecutionStatus | undefined> = new Set(["RUNNING", "PENDING_REDRIVE"]);

/** Starts `name`, or says what the execution that holds it tells of this start. */
async function startOrRead(
  sfn: SFNClient,
  stateMachineArn: string,
  name: string,
  input: string,
): Promise<StartOutcome | "ended unsuccessfully"> {
  const ref = { executionArn: executionArn(stateMachineArn, name), name };
  try {
    const answer = await sfn.send(new StartExecutionCommand({ stateMachineArn, name, input }));
    return { kind: "started", ...ref, executionArn: answer.executionArn ?? ref.executionArn };
  } catch (error) {
    if (!isAwsError(error, "ExecutionAlreadyExists")) throw error;
  }
  const { status } = await sfn.send(new DescribeExecutionCommand({ executionArn: ref.executionArn }));
  if (UNSUCCESSFUL.has(status)) return "ended unsuccessfully";
  // SUCCEEDED, or a status this code does not know: never start a second run over it.
  return { kind: GOING.has(status) ? "running" : "taken", ...ref };
}

/** By name, not class: the name is the service's contract and survives duplicate SDK copies. */
export const isAwsError = (error: unknown, name: string): boolean =>
  error instanceof Error && error.name === name;
