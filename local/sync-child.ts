import {
  runWorkflow,
  type ServiceContext,
  type WorkflowName,
  type WorkflowResult,
  workflowOfRef,
} from "./workflow.ts";

/*
 * Step Functions' own integrations that start an execution, for the local environment and a
 * --live run alike: the execution runs in this process to its end, with the starter's wiring.
 */

interface StartParameters {
  StateMachineArn: string;
  Input?: unknown;
  Name?: string;
}

/** Runs the execution the parameters start, named as they say, to its end. */
function runToItsEnd(
  integration: string,
  parameters: unknown,
  run: ServiceContext | undefined,
  workflowOf: (stateMachineArn: string) => WorkflowName,
): Promise<WorkflowResult> {
  if (!run) throw new Error(`${integration} needs the run's options`);
  const { StateMachineArn, Input, Name } = parameters as StartParameters;
  return runWorkflow(workflowOf(StateMachineArn), Input ?? {}, {
    ...run.options,
    ...(Name === undefined ? {} : { executionName: Name }),
    onEvent: undefined,
  });
}

/**
 * `startExecution.sync:2`: the child, named by its Ref, runs to its end, and its failure fails
 * the state as States.TaskFailed with the child's error in the cause, as in AWS.
 */
export function syncChildStandIn(home: { region: string; accountId: string }) {
  return async (parameters: unknown, run?: ServiceContext) => {
    const child = await runToItsEnd("startExecution.sync:2", parameters, run, workflowOfRef);
    const { StateMachineArn } = parameters as StartParameters;
    const ExecutionArn = `arn:aws:states:${home.region}:${home.accountId}:execution:${StateMachineArn}:${child.executionName}`;
    if (child.status === "FAILED") {
      const failure = new Error(JSON.stringify({ ExecutionArn, Status: "FAILED", ...child.error }));
      failure.name = "States.TaskFailed";
      throw failure;
    }
    return { ExecutionArn, Name: child.executionName, Status: "SUCCEEDED", Output: child.output };
  };
}

/** The workflow a state machine ARN names (…:stateMachine:<name>, as $$.StateMachine.Id locally). */
const workflowOfArn = (arn: string): WorkflowName => arn.slice(arn.lastIndexOf(":") + 1) as WorkflowName;

/**
 * Plain `startExecution` of a successor (the reconcile's Relay starts a fresh execution of its own
 * machine, $$.StateMachine.Id). Here the successor runs to its end before the state answers (AWS
 * answers at once), so that a local reconcile of any fleet has ended when its first execution has.
 */
export function successorStandIn(home: { region: string; accountId: string }) {
  return async (parameters: unknown, run?: ServiceContext) => {
    const successor = await runToItsEnd("startExecution", parameters, run, workflowOfArn);
    const name = workflowOfArn((parameters as StartParameters).StateMachineArn);
    const ExecutionArn = `arn:aws:states:${home.region}:${home.accountId}:execution:${name}:${successor.executionName}`;
    return { ExecutionArn, StartDate: new Date().toISOString() };
  };
}
