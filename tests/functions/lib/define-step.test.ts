import { IAMClient, ServiceFailureException } from "@aws-sdk/client-iam";
import { afterEach, describe, expect, it, vi } from "vitest";
import * as z from "zod";
import { type ClientFactory, sdkClients } from "../../../functions/lib/aws.ts";
import { loadConfig } from "../../../functions/lib/config.ts";
import { createRuntime, defineStep } from "../../../functions/lib/define-step.ts";
import { WorkflowError } from "../../../functions/lib/errors.ts";
import { logger, metrics } from "../../../functions/lib/powertools.ts";
import { Registry } from "../../../functions/lib/registry.ts";
import { StepInputSchema } from "../../../functions/lib/step.ts";
import { targetStep } from "../../../functions/lib/target-step.ts";
import { EXECUTION, HOME, lambdaContext, rejectionOf, stepInput } from "../../support/aws.ts";

const echo = defineStep({
  name: "EchoStep",
  input: StepInputSchema,
  deps: ({ runtime }) => ({ home: runtime.accountId }),
  run: async (input, deps) => ({ accountId: input.target.accountId, home: deps.home }),
});

function refusal(event: unknown): Error {
  try {
    echo.parse(event);
  } catch (error) {
    if (error instanceof Error) return error;
  }
  throw new Error("the input was accepted");
}

afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
});

describe("a step's input", () => {
  it("answers the target and the execution", () => {
    // Assess
    expect(echo.parse(stepInput())).toEqual(stepInput());
  });

  it("keeps the fields of earlier steps that the state passes along", () => {
    // Act
    const input = echo.parse({ ...stepInput(), credentialsSecretArn: "arn" }) as Record<string, unknown>;

    // Assess
    expect(input.credentialsSecretArn).toBe("arn");
  });

  it("defaults a missing account name to empty", () => {
    // Act
    const input = echo.parse({ target: { accountId: "222222222222", roleName: "R" }, execution: EXECUTION });

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
  ])("refuses %s as a bad target, naming the step and the field", (_case, event) => {
    // Act
    const error = refusal(event);

    // Assess
    expect(error).toBeInstanceOf(WorkflowError);
    expect(error.name).toBe("InvalidInput");
    expect(error.message).toMatch(/^EchoStep: (target|input)(\.\w+)?: /);
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
    expect(error.message).toMatch(/^EchoStep: execution: /);
  });

  it("never repeats the value it refuses", () => {
    // Act
    const error = refusal({
      target: { accountId: "wJalrXUtnFEMI/K7MDENG", roleName: "R" },
      execution: EXECUTION,
    });

    // Assess
    expect(error.message).toContain("target.accountId");
    expect(error.message).not.toContain("wJalrXUtnFEMI");
  });
});

describe("the run the local runner calls", () => {
  it("hands the core the target account's IAM client and the home account", async () => {
    // Prepare
    const iam = new IAMClient({});
    const factory: ClientFactory = { ...sdkClients(), iam: vi.fn(() => iam) };
    const config = { ...loadConfig({}), registryTableName: "registry" };
    const runtime = createRuntime({ ...HOME, accountId: "222222222222" }, factory, config);
    const core = vi.fn(async () => "done");
    const step = defineStep({ ...targetStep, name: "EnsureThing", run: core });

    // Act
    const result = await step.run(stepInput(), runtime);

    // Assess
    expect(result).toBe("done");
    expect(core).toHaveBeenCalledWith(stepInput(), {
      iam,
      home: { partition: HOME.partition, region: HOME.region, accountId: "222222222222" },
      registry: expect.any(Registry),
    });
  });

  it("turns an SDK failure into a named WorkflowError that keeps the SDK error as its cause", async () => {
    // Prepare
    const sdkError = new ServiceFailureException({
      message: "Internal failure",
      $metadata: { requestId: "r-1" },
    });
    const step = defineStep({
      name: "EnsureThing",
      input: z.unknown(),
      deps: () => ({}),
      run: async () => {
        throw sdkError;
      },
    });

    // Act
    const error = await rejectionOf(step.run({}, createRuntime(HOME, sdkClients(), loadConfig({}))));

    // Assess
    expect(error).toBeInstanceOf(WorkflowError);
    expect(error.name).toBe("ServiceFailure");
    expect(error.message).toContain("EnsureThing");
    expect(error.cause).toBe(sdkError);
  });
});

describe("the Lambda handler", () => {
  it("reads the home account from the function's ARN", async () => {
    // Act
    const result = await echo.handler(stepInput(), lambdaContext("555555555555"));

    // Assess
    expect(result).toEqual({ accountId: stepInput().target.accountId, home: "555555555555" });
  });

  it("appends the account and the execution to every log line of the invocation", async () => {
    // Prepare
    const append = vi.spyOn(logger, "appendKeys");

    // Act
    await echo.handler(stepInput(), lambdaContext("555555555555"));

    // Assess
    expect(append).toHaveBeenCalledWith({ accountId: stepInput().target.accountId, execution: EXECUTION });
  });

  it("counts one success metric, by step", async () => {
    // Prepare
    const added = vi.spyOn(metrics, "addMetric");
    const dimensions = vi.spyOn(metrics, "addDimension");

    // Act
    await echo.handler(stepInput(), lambdaContext("555555555555"));

    // Assess
    expect(added.mock.calls.map(([name]) => name)).toEqual(["StepSucceeded"]);
    expect(dimensions).toHaveBeenCalledWith("step", "EchoStep");
  });

  it("counts one failure metric and logs the cause's request id and HTTP status", async () => {
    // Prepare
    const added = vi.spyOn(metrics, "addMetric");
    const logged = vi.spyOn(logger, "error");
    const step = defineStep({
      name: "FailStep",
      input: z.unknown(),
      deps: () => ({}),
      run: async () => {
        throw new ServiceFailureException({
          message: "Internal failure",
          $metadata: { requestId: "req-42", httpStatusCode: 500 },
        });
      },
    });

    // Act
    const error = await rejectionOf(step.handler({}, lambdaContext("555555555555")));

    // Assess
    expect(error.name).toBe("ServiceFailure");
    expect(added.mock.calls.map(([name]) => name)).toEqual(["StepFailed"]);
    expect(logged).toHaveBeenCalledWith(
      "step failed",
      expect.objectContaining({ errorName: "ServiceFailure", awsRequestId: "req-42", httpStatusCode: 500 }),
    );
  });

  it("fails at cold start, naming the setting, when the log level is not one Powertools knows", async () => {
    // Prepare
    vi.stubEnv("POWERTOOLS_LOG_LEVEL", "LOUD");
    const step = defineStep({
      name: "AnyStep",
      input: z.unknown(),
      deps: () => ({}),
      run: async () => "ran",
    });

    // Act
    const error = await rejectionOf(step.handler({}, lambdaContext("555555555555")));

    // Assess
    expect(error.name).toBe("ConfigurationError");
    expect(error.message).toContain("POWERTOOLS_LOG_LEVEL");
  });

  it("reads its settings once: a fixed environment is not read again", async () => {
    // Prepare
    vi.stubEnv("SECRET_NAME_PREFIX", "first/");
    const seen: string[] = [];
    const step = defineStep({
      name: "SettingsStep",
      input: z.unknown(),
      settings: ["secretNamePrefix"],
      deps: ({ runtime }) => runtime.config.secretNamePrefix,
      run: async (_input, prefix) => {
        seen.push(prefix);
        return prefix;
      },
    });

    // Act
    await step.handler({}, lambdaContext("555555555555"));
    vi.stubEnv("SECRET_NAME_PREFIX", "second/");
    await step.handler({}, lambdaContext("555555555555"));

    // Assess
    expect(seen).toEqual(["first/", "first/"]);
  });

  it("bundles no SDK client it did not declare: asking for one fails by name", async () => {
    // Prepare
    const step = defineStep({
      name: "NoClients",
      input: z.unknown(),
      deps: ({ runtime }) => runtime.clients.iam(),
      run: async () => "unreachable",
    });

    // Act
    const error = await rejectionOf(step.handler({}, lambdaContext("555555555555")));

    // Assess
    expect(error.message).toContain("declares no SDK clients");
  });
});
