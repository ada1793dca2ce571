import {
  DescribeExecutionCommand,
  type ExecutionStatus,
  GetExecutionHistoryCommand,
  type SFNClient,
} from "@aws-sdk/client-sfn";
import * as z from "zod";
import { executionArn } from "./execution-names.ts";
import { isAwsError } from "./start-execution.ts";

/*
 * What GET /onboardings/{id} says of an onboarding, from its execution: never its input, its
 * history or any output but the Redis cloud account id (and a plan's answer, which is its point).
 */

export interface OnboardingStatus {
  id: string;
  status: ExecutionStatus;
  currentStep?: string;
  startedAt: string;
  stoppedAt?: string;
  cloudAccountId?: number;
  /** A plan's answer, once it succeeded: the writes an onboarding would make (no secret in it). */
  plan?: Record<string, unknown>;
  error?: { name: string; cause?: string };
}

/** Text holding JSON of `schema`'s shape; any other text fails the parse and is left out. */
const jsonText = <S extends z.ZodType>(schema: S) =>
  z
    .string()
    .transform((text, ctx) => {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        ctx.addIssue({ code: "custom", message: "is not JSON" });
        return z.NEVER;
      }
    })
    .pipe(schema);

/** Registration answers the id as a number; a string of digits is read the same. */
const OutputSchema = jsonText(
  z.object({
    cloudAccountId: z
      .union([z.number(), z.string().regex(/^\d+$/).transform(Number)])
      .pipe(z.int().positive()),
  }),
);

/** A plan's output: `plan` is answered as it is (references and documents only). */
const PlanOutputSchema = jsonText(z.object({ plan: z.record(z.string(), z.unknown()) }));

/** A failed Lambda step's cause: the JSON of its error, stack trace included. */
const LambdaCauseSchema = jsonText(z.object({ errorMessage: z.string() }));

const MAX_CAUSE = 1000;

/** What an onboarding is doing; undefined when there is no such execution. */
export async function describeOnboarding(
  sfn: SFNClient,
  stateMachineArn: string,
  id: string,
): Promise<OnboardingStatus | undefined> {
  const arn = executionArn(stateMachineArn, id);
  const execution = await sfn.send(new DescribeExecutionCommand({ executionArn: arn })).catch((error) => {
    if (isAwsError(error, "ExecutionDoesNotExist")) return undefined;
    throw error;
  });
  if (!execution?.status || !execution.startDate) return undefined;
  const status: OnboardingStatus = {
    id,
    status: execution.status,
    startedAt: execution.startDate.toISOString(),
  };
  // A closed run is summed up by its status and error; only a running one has a step worth naming.
  if (execution.status === "RUNNING") {
    const step = await lastEnteredState(sfn, arn);
    if (step) status.currentStep = step;
  }
  if (execution.stopDate) status.stoppedAt = execution.stopDate.toISOString();
  const output = OutputSchema.safeParse(execution.output);
  if (output.success) status.cloudAccountId = output.data.cloudAccountId;
  const plan = PlanOutputSchema.safeParse(execution.output);
  if (plan.success) status.plan = plan.data.plan;
  if (execution.error) status.error = errorOf(execution.error, execution.cause);
  return status;
}

/** Newest events first and without their data: the state names are all that is read. */
async function lastEnteredState(sfn: SFNClient, arn: string): Promise<string | undefined> {
  const history = await sfn.send(
    new GetExecutionHistoryCommand({
      executionArn: arn,
      reverseOrder: true,
      includeExecutionData: false,
      maxResults: 100,
    }),
  );
  return history.events?.find((event) => event.stateEnteredEventDetails?.name)?.stateEnteredEventDetails
    ?.name;
}

/**
 * Of a failed Lambda step's cause only the message is kept (the steps' messages name the step,
 * call and resource, never a secret). Other causes (States.Timeout, an abort) are short text and
 * kept as they are.
 */
function errorOf(name: string, cause: string | undefined): { name: string; cause?: string } {
  const lambda = LambdaCauseSchema.safeParse(cause);
  const message = lambda.success ? lambda.data.errorMessage : cause;
  if (!message) return { name };
  return { name, cause: message.length > MAX_CAUSE ? `${message.slice(0, MAX_CAUSE)}…` : message };
}
