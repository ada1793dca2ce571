import { IAMClient, ServiceFailureException } from "@aws-sdk/client-iam";
import { describe, expect, it, vi } from "vitest";
import { type ClientFactory, sdkClients } from "../../../functions/lib/aws.ts";
import { loadConfig } from "../../../functions/lib/config.ts";
import { WorkflowError } from "../../../functions/lib/errors.ts";
import { createRuntime, iamStep, lambdaHandler, parseStepInput } from "../../../functions/lib/handler.ts";
import { EXECUTION, HOME, lambdaContext, rejectionOf, stepInput } from "../../support/aws.ts";

function refusal(event: unknown): Error {
  try {
    parseStepInput(event);
  } catch (error) {
    if (error instanceof Error) return error;
  }
  throw new Error("the input was accepted");
}

describe("parseStepInput", () => {
  it("answers the target and the execution", () => {
    // Assess
    expect(parseStepInput(stepInput())).toEqual(stepInput());
  });

  it("defaults a missing account name to empty", () => {
    // Act
    const input = parseStepInput({
      target: { accountId: "222222222222", roleName: "R" },
      execution: EXECUTION,
    });

    // Assess
    expect(input.target.accountName).toBe("");
  });

  it.each([
    ["no event", undefined],
    ["null", null],
    ["no target", { execution: EXECUTION }],
    ["a target without accountId", { target: { roleName: "R" }, execution: EXECUTION }],
    ["a target without roleName", { target: { accountId: "222222222222" }, execution: EXECUTION }],
    ["a numeric accountId", { target: { accountId: 222222222222, roleName: "R" }, execution: EXECUTION }],
  ])("refuses %s as a bad target", (_case, event) => {
    // Act
    const error = refusal(event);

    // Assess
    expect(error).toBeInstanceOf(WorkflowError);
    expect(error.name).toBe("InvalidInput");
    expect(error.message).toMatch(/^target: /);
  });

  it.each([
    ["no execution", { target: stepInput().target }],
    ["an empty execution", { target: stepInput().target, execution: "" }],
    ["a numeric execution", { target: stepInput().target, execution: 7 }],
  ])("refuses %s", (_case, event) => {
    // Act
    const error = refusal(event);

    // Assess
    expect(error.name).toBe("InvalidInput");
    expect(error.message).toMatch(/^execution: /);
  });
});

describe("iamStep", () => {
  it("hands the core the target account's IAM client and the home account", async () => {
    // Prepare
    const iam = new IAMClient({});
    const factory: ClientFactory = { ...sdkClients(), iam: vi.fn(() => iam) };
    const runtime = createRuntime({ ...HOME, accountId: "222222222222" }, factory, loadConfig({}));
    const core = vi.fn(async () => "done");

    // Act
    const result = await iamStep("EnsureThing", core)(stepInput(), runtime);

    // Assess
    expect(result).toBe("done");
    expect(core).toHaveBeenCalledWith(stepInput(), { iam, home: runtime }, runtime);
  });
});

describe("lambdaHandler", () => {
  it("reads the home account from the function's ARN", async () => {
    // Prepare
    const run = vi.fn(async (_event: unknown, runtime: { accountId: string; region: string }) => runtime);
    const handler = lambdaHandler("EnsureThing", run);

    // Act
    const runtime = await handler({}, lambdaContext("555555555555"));

    // Assess
    expect(runtime).toMatchObject({ accountId: "555555555555", region: HOME.region, partition: "aws" });
  });

  it("turns any failure into a WorkflowError named for the state machine", async () => {
    // Prepare
    const handler = lambdaHandler("EnsureThing", async () => {
      throw new ServiceFailureException({ message: "Internal failure", $metadata: {} });
    });

    // Act
    const error = await rejectionOf(handler({}, lambdaContext("555555555555")));

    // Assess
    expect(error).toBeInstanceOf(WorkflowError);
    expect(error.name).toBe("ServiceFailure");
    expect(error.message).toContain("EnsureThing");
  });
});
