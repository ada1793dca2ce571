import { DescribeExecutionCommand, type SFNClient, StartExecutionCommand } from "@aws-sdk/client-sfn";
import { executionArn } from "./execution-names.ts";
import { isAwsError } from "./start-execution.ts";

/*
 * Starting a rotation from outside the console (the schedule, the HTTP API). Names are
 * deterministic per account and origin and time window, so a repeated delivery of the same
 * schedule or request starts nothing twice; the account lock serializes the rest.
 */

export type RotationOrigin = "schedule" | "api";

/** `<accountId>-rotate-<origin>-<UTC day for the schedule | UTC minute for the API>`. */
export function rotationExecutionName(accountId: string, origin: RotationOrigin, now: Date): string {
  const iso = now.toISOString();
  const window = origin === "schedule" ? iso.slice(0, 10) : iso.slice(0, 16).replace(":", "");
  return `${accountId}-rotate-${origin}-${window.replaceAll("-", "")}`;
}

export interface RotationStart {
  accountId: string;
  name: string;
  startedBy: string;
  roleName?: string;
}

/** Starts the rotation; a name already taken answers that execution (`started: false`). */
export async function startRotation(sfn: SFNClient, stateMachineArn: string, start: RotationStart) {
  const input = {
    accountId: start.accountId,
    rotate: true,
    ...(start.roleName ? { roleName: start.roleName } : {}),
    startedBy: start.startedBy,
  };
  try {
    const answer = await sfn.send(
      new StartExecutionCommand({ stateMachineArn, name: start.name, input: JSON.stringify(input) }),
    );
    return { executionArn: answer.executionArn ?? executionArn(stateMachineArn, start.name), started: true };
  } catch (error) {
    if (!isAwsError(error, "ExecutionAlreadyExists")) throw error;
    const arn = executionArn(stateMachineArn, start.name);
    const existing = await sfn.send(new DescribeExecutionCommand({ executionArn: arn }));
    return { executionArn: existing.executionArn ?? arn, started: false };
  }
}
