import {
  DescribeExecutionCommand,
  ExecutionAlreadyExists,
  type ExecutionStatus,
  type ListExecutionsCommandOutput,
  type SFNClient,
  StartExecutionCommand,
} from "@aws-sdk/client-sfn";
import type { AwsClientStub } from "aws-sdk-client-mock";
import { executionArn, executionName } from "../../functions/lib/execution-names.ts";

/** What ListExecutions answers while one execution of the state machine is running. */
export function runningListing(
  machine: string,
  name: string,
  startDate = new Date(),
): Pick<ListExecutionsCommandOutput, "executions"> {
  return {
    executions: [
      {
        executionArn: executionArn(machine, name),
        stateMachineArn: machine,
        name,
        status: "RUNNING",
        startDate,
      },
    ],
  };
}

/**
 * These names are held by runs of these statuses (Step Functions Standard keeps a name 90 days):
 * a start of one is refused with ExecutionAlreadyExists and DescribeExecution tells its status;
 * any other name starts.
 */
export function holdNames(
  sfnMock: AwsClientStub<SFNClient>,
  machine: string,
  held: Record<string, ExecutionStatus>,
): void {
  sfnMock.on(StartExecutionCommand).callsFake((input: { name: string }) => {
    if (Object.hasOwn(held, input.name)) {
      throw new ExecutionAlreadyExists({ message: "Execution Already Exists", $metadata: {} });
    }
    return { executionArn: executionArn(machine, input.name), startDate: new Date() };
  });
  sfnMock.on(DescribeExecutionCommand).callsFake((input: { executionArn: string }) => ({
    executionArn: input.executionArn,
    stateMachineArn: machine,
    status: held[executionName(input.executionArn)],
    startDate: new Date(),
  }));
}

/** The family's first name and its re-drives up to `count` names, each held by a failed run. */
export const failedFamily = (first: string, count: number): Record<string, ExecutionStatus> =>
  Object.fromEntries(
    Array.from({ length: count }, (_, i) => [i === 0 ? first : `${first}-${i + 1}`, "FAILED" as const]),
  );
