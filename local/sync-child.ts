import { runWorkflow, type ServiceContext, type WorkflowName, workflowOfRef } from "./workflow.ts";

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

/**
 * Step Functions' plain `startExecution` of a successor (the reconcile's Relay starts a fresh
 * execution of its own machine, $$.StateMachine.Id), for the local environment and a --live run
 * alike. Here the successor runs to its end before the state answers (AWS answers at once), so
 * that a local reconcile of any fleet has ended when its first execution has.
 */
export function successorStandIn(home: { region: string; accountId: string }) {
  return async (parameters: unknown, run?: ServiceContext) => {
    if (!run) throw new Error("startExecution needs the run's options");
    const { StateMachineArn, Input, Name } = parameters as {
      StateMachineArn: string;
      Input?: unknown;
      Name?: string;
    };
    const name = StateMachineArn.slice(StateMachineArn.lastIndexOf(":") + 1) as WorkflowName;
    const successor = await runWorkflow(name, Input ?? {}, {
      ...run.options,
      ...(Name === undefined ? {} : { executionName: Name }),
      onEvent: undefined,
    });
    const ExecutionArn = `arn:aws:states:${home.region}:${home.accountId}:execution:${name}:${successor.executionName}`;
    return { ExecutionArn, StartDate: new Date().toISOString() };
  };
}
