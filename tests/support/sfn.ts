import type { ListExecutionsCommandOutput } from "@aws-sdk/client-sfn";
import { executionArn } from "../../functions/lib/execution-names.ts";

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
