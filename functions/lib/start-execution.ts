import { paginateListExecutions, type SFNClient, StartExecutionCommand } from "@aws-sdk/client-sfn";
import { accountPrefix, executionArn } from "./execution-names.ts";
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
  /** The name is taken by an execution that has ended: this start was handled before. */
  | ({ kind: "taken" } & ExecutionRef);

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
 * Starts `name` unless the account already has an onboarding running.
 *
 * The check and the start are two calls, and ListExecutions is eventually consistent, so two
 * starters can both find nothing. Names make that race harmless where it matters: concurrent
 * starts of one origin use the same name, and StartExecution is idempotent per name for STANDARD
 * workflows (same input: the running execution is returned; otherwise ExecutionAlreadyExists,
 * after which the list is asked again). What remains is two different origins (say a vending
 * event and an API call) for one account within the list's lag, about a second; the steps
 * reconcile what exists, so the later run finds the resources in place.
 */
export async function startUnlessRunning(
  sfn: SFNClient,
  stateMachineArn: string,
  start: { name: string; input: StartInput & { startedBy?: string } },
): Promise<StartOutcome> {
  const running = await findRunning(sfn, stateMachineArn, start.input.accountId);
  if (running) return { kind: "running", ...running };
  try {
    const answer = await sfn.send(
      new StartExecutionCommand({ stateMachineArn, name: start.name, input: JSON.stringify(start.input) }),
    );
    return {
      kind: "started",
      executionArn: answer.executionArn ?? executionArn(stateMachineArn, start.name),
      name: start.name,
    };
  } catch (error) {
    if (!isAwsError(error, "ExecutionAlreadyExists")) throw error;
    const now = await findRunning(sfn, stateMachineArn, start.input.accountId);
    if (now) return { kind: "running", ...now };
    return { kind: "taken", executionArn: executionArn(stateMachineArn, start.name), name: start.name };
  }
}

/** By name, not class: the name is the service's contract and survives duplicate SDK copies. */
export const isAwsError = (error: unknown, name: string): boolean =>
  error instanceof Error && error.name === name;
