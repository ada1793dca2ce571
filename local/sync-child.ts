import { runWorkflow, type ServiceContext, workflowOfRef } from "./workflow.ts";

/**
 * Step Functions' `startExecution.sync:2`, for the local environment and for a --live bulk run
 * alike: the child, named by its Ref, runs in this process to its end with the parent's wiring,
 * and its failure fails the state as States.TaskFailed with the child's error in the cause, as in
 * AWS.
 */
export function syncChildStandIn(home: { region: string; accountId: string }) {
  return async (parameters: unknown, run?: ServiceContext) => {
    if (!run) throw new Error("startExecution.sync:2 needs the run's options");
    const { StateMachineArn, Input, Name } = parameters as {
      StateMachineArn: string;
      Input?: unknown;
      Name?: string;
    };
    const child = await runWorkflow(workflowOfRef(StateMachineArn), Input ?? {}, {
      ...run.options,
      ...(Name === undefined ? {} : { executionName: Name }),
      onEvent: undefined,
    });
    const ExecutionArn = `arn:aws:states:${home.region}:${home.accountId}:execution:${StateMachineArn}:${child.executionName}`;
    if (child.status === "FAILED") {
      const failure = new Error(JSON.stringify({ ExecutionArn, Status: "FAILED", ...child.error }));
      failure.name = "States.TaskFailed";
      throw failure;
    }
    return { ExecutionArn, Name: child.executionName, Status: "SUCCEEDED", Output: child.output };
  };
}
