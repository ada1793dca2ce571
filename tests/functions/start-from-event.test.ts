import {
  type ExecutionStatus,
  ListExecutionsCommand,
  SFNClient,
  SFNServiceException,
  StartExecutionCommand,
} from "@aws-sdk/client-sfn";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { executionArn } from "../../functions/lib/execution-names.ts";
import { logger, metrics } from "../../functions/lib/powertools.ts";
import { MAX_ATTEMPTS } from "../../functions/lib/start-execution.ts";
import { createHandler, handler, starterDeps } from "../../functions/start-from-event.ts";
import ctCreate from "../fixtures/events/controltower-create-managed-account.json" with { type: "json" };
import ctCreateFailed from "../fixtures/events/controltower-create-managed-account-failed.json" with {
  type: "json",
};
import ouRegistered from "../fixtures/events/controltower-register-organizational-unit.json" with {
  type: "json",
};
import ctUpdate from "../fixtures/events/controltower-update-managed-account.json" with { type: "json" };
import ctUpdateFailed from "../fixtures/events/controltower-update-managed-account-failed.json" with {
  type: "json",
};
import orgCreate from "../fixtures/events/organizations-create-account-result.json" with { type: "json" };
import orgCreateFailed from "../fixtures/events/organizations-create-account-result-failed.json" with {
  type: "json",
};
import { lambdaContext, STATE_MACHINE_ARN } from "../support/aws.ts";
import { matchesPattern } from "../support/event-pattern.ts";
import { failedFamily, holdNames, runningListing } from "../support/sfn.ts";
import { packagedTemplate, resourcesOfType } from "../support/template.ts";

const MACHINE = STATE_MACHINE_ARN;

const sfnMock = mockClient(SFNClient);
const context = lambdaContext("111111111111", "redis-cloud-byoc-test-startFromEvent");

const SUCCEEDED = { ctCreate, ctUpdate, orgCreate };
const STARTS_NOTHING = { ctCreateFailed, ctUpdateFailed, orgCreateFailed, ouRegistered };

/** A starter of its own container, with these settings besides the state machine's ARN. */
const starterWith = (env: Record<string, string>) =>
  createHandler(() => starterDeps({ STATE_MACHINE_ARN: MACHINE, ...env }));

beforeEach(() => {
  sfnMock.reset();
  sfnMock.on(ListExecutionsCommand).resolves({ executions: [] });
  sfnMock.on(StartExecutionCommand).callsFake((input: { name: string }) => ({
    executionArn: executionArn(MACHINE, input.name),
    startDate: new Date(),
  }));
});

const takenBy = (held: Record<string, ExecutionStatus>) => holdNames(sfnMock, MACHINE, held);

/** The input and name the starter gave Step Functions, in call order. */
const starts = () =>
  sfnMock.commandCalls(StartExecutionCommand).map((call) => ({
    name: call.args[0].input.name,
    input: JSON.parse(call.args[0].input.input ?? "null") as unknown,
    rawInput: call.args[0].input.input,
  }));

describe("the vending rules, as packaged", () => {
  const rules = resourcesOfType(packagedTemplate(), "AWS::Events::Rule")
    // --- Offboarding --- its rules are tested with its starter (offboard-from-event.test.ts).
    .filter(([, rule]) => !String(rule.Properties.Name).includes("-offboard-"))
    .map(([id, rule]) => ({
      id,
      pattern: rule.Properties.EventPattern,
    }));
  const matching = (event: unknown) => rules.filter((rule) => matchesPattern(event, rule.pattern));

  it("are three: Control Tower create and update, Organizations create", () => {
    expect(rules).toHaveLength(3);
  });

  it.each(Object.entries(SUCCEEDED))(
    "let the SUCCEEDED event %s through exactly one rule",
    (_name, event) => {
      expect(matching(event)).toHaveLength(1);
    },
  );

  it("send each SUCCEEDED event through a different rule", () => {
    const ids = Object.values(SUCCEEDED).map((event) => matching(event)[0]?.id);
    expect(new Set(ids).size).toBe(3);
  });

  it.each(Object.entries(STARTS_NOTHING))("let %s through no rule", (_name, event) => {
    expect(matching(event)).toEqual([]);
  });

  it("match on the event's source, not only on its details", () => {
    // Arrange: the same details, from another source.
    const impostor = { ...ctCreate, source: "custom.vending" };

    // Act / Assess
    expect(matching(impostor)).toEqual([]);
  });
});

describe("the starter", () => {
  it("onboards the account Control Tower created, not the management account the event comes from", async () => {
    // Act
    const result = await handler(ctCreate, context);

    // Assess
    expect(starts()).toEqual([
      {
        name: "222222222222-vending-controltower",
        input: { accountId: "222222222222", roleName: "AWSControlTowerExecution", accountName: "LifeCycle1" },
        rawInput: expect.any(String),
      },
    ]);
    expect(result).toEqual({
      outcome: "started",
      accountId: "222222222222",
      executionArn: executionArn(MACHINE, "222222222222-vending-controltower"),
    });
  });

  it("onboards an account made with Organizations through OrganizationAccountAccessRole, under its default name", async () => {
    // Act
    await handler(orgCreate, context);

    // Assess
    expect(starts()).toEqual([
      {
        name: "444455556666-vending-organizations",
        input: { accountId: "444455556666", roleName: "OrganizationAccountAccessRole" },
        rawInput: expect.any(String),
      },
    ]);
  });

  it("leaves out an account name the input schema refuses, and onboards under the default name", async () => {
    // Arrange
    const oddName = structuredClone(ctCreate);
    oddName.detail.serviceEventDetails.createManagedAccountStatus.account.accountName = "Zebra\u0007Qx";

    // Act
    await handler(oddName, context);

    // Assess
    expect(starts()[0]?.input).toEqual({ accountId: "222222222222", roleName: "AWSControlTowerExecution" });
  });

  it.each(Object.entries(STARTS_NOTHING))("calls no Step Functions API for %s", async (_name, event) => {
    // Act
    const result = await handler(event, context);

    // Assess
    expect(result).toMatchObject({ outcome: "ignored" });
    expect(sfnMock.calls()).toHaveLength(0);
  });

  it("gives a Create and the Update that follows it the same name and the same input", async () => {
    // Act
    await handler(ctCreate, context);
    await handler(ctUpdate, context);

    // Assess
    const [create, update] = starts();
    expect(update?.name).toBe(create?.name);
    expect(update?.rawInput).toBe(create?.rawInput);
  });

  it("treats ExecutionAlreadyExists for a run that has succeeded as already handled, not as a failure", async () => {
    // Arrange
    takenBy({ "222222222222-vending-controltower": "SUCCEEDED" });

    // Act
    const result = await handler(ctUpdate, context);

    // Assess
    expect(result).toEqual({
      outcome: "already handled",
      accountId: "222222222222",
      executionArn: executionArn(MACHINE, "222222222222-vending-controltower"),
    });
    expect(starts().map((start) => start.name)).toEqual(["222222222222-vending-controltower"]);
  });

  it.each(["FAILED", "TIMED_OUT", "ABORTED"] as const)(
    "re-drives an account whose onboarding %s: the next event starts it again under the next name",
    async (status) => {
      // Arrange
      takenBy({ "222222222222-vending-controltower": status });

      // Act
      const result = await handler(ctUpdate, context);

      // Assess
      expect(result).toEqual({
        outcome: "started",
        accountId: "222222222222",
        executionArn: executionArn(MACHINE, "222222222222-vending-controltower-2"),
      });
      const [first, redrive] = starts();
      expect(redrive?.name).toBe("222222222222-vending-controltower-2");
      // The same input as the first run: a duplicate of this re-drive collapses into it.
      expect(redrive?.rawInput).toBe(first?.rawInput);
    },
  );

  it("re-drives past earlier re-drives that failed too", async () => {
    // Arrange
    takenBy({
      "444455556666-vending-organizations": "FAILED",
      "444455556666-vending-organizations-2": "TIMED_OUT",
      "444455556666-vending-organizations-3": "FAILED",
    });

    // Act
    const result = await handler(orgCreate, context);

    // Assess
    expect(result).toMatchObject({
      outcome: "started",
      executionArn: executionArn(MACHINE, "444455556666-vending-organizations-4"),
    });
  });

  it("answers a re-drive that is running, and starts nothing more", async () => {
    // Arrange: the list has not shown it yet; its name has.
    takenBy({
      "222222222222-vending-controltower": "FAILED",
      "222222222222-vending-controltower-2": "RUNNING",
    });

    // Act
    const result = await handler(ctCreate, context);

    // Assess
    expect(result).toEqual({
      outcome: "already running",
      accountId: "222222222222",
      executionArn: executionArn(MACHINE, "222222222222-vending-controltower-2"),
    });
  });

  it(`fails the invocation once ${MAX_ATTEMPTS} runs of the account and source have failed, so that the event is dead-lettered`, async () => {
    // Arrange
    takenBy(failedFamily("222222222222-vending-controltower", MAX_ATTEMPTS));

    // Act / Assess
    await expect(handler(ctCreate, context)).rejects.toMatchObject({
      name: "RedrivesExhausted",
      message: expect.stringContaining("222222222222-vending-controltower"),
    });
    expect(starts()).toHaveLength(MAX_ATTEMPTS);
  });

  it("collapses a duplicate delivery into the running onboarding of the account", async () => {
    // Arrange: the first delivery's run is listed by the time the second arrives.
    sfnMock.on(ListExecutionsCommand).resolves(runningListing(MACHINE, "222222222222-vending-controltower"));

    // Act
    const result = await handler(ctCreate, context);

    // Assess
    expect(result).toMatchObject({ outcome: "already running", accountId: "222222222222" });
    expect(sfnMock).not.toHaveReceivedCommand(StartExecutionCommand);
  });

  it("fails the invocation on a Step Functions error, so that Lambda retries it and then dead-letters it", async () => {
    // Arrange
    sfnMock.on(StartExecutionCommand).rejects(
      new SFNServiceException({
        name: "ThrottlingException",
        $fault: "client",
        message: "Rate exceeded",
        $metadata: {},
      }),
    );

    // Act / Assess
    await expect(handler(ctCreate, context)).rejects.toMatchObject({ name: "ThrottlingException" });
  });

  it("fails the invocation on a SUCCEEDED event without an account id", async () => {
    // Arrange
    const broken = structuredClone(orgCreate);
    broken.detail.serviceEventDetails.createAccountStatus.accountId = "";

    // Act / Assess
    await expect(handler(broken, context)).rejects.toMatchObject({ name: "InvalidInput" });
    expect(sfnMock.calls()).toHaveLength(0);
  });

  describe("with an OU allow-list", () => {
    it("starts nothing for a Control Tower account of another OU", async () => {
      // Act
      const result = await starterWith({ ALLOWED_OU_IDS: "ou-abcd-99999999" })(ctCreate, context);

      // Assess
      expect(result).toEqual({ outcome: "ignored", reason: "OU ou-abcd-l3zc8b3h is not in ALLOWED_OU_IDS" });
      expect(sfnMock.calls()).toHaveLength(0);
    });

    it("starts the onboarding of a Control Tower account of a listed OU", async () => {
      // Act
      const result = await starterWith({ ALLOWED_OU_IDS: "ou-abcd-99999999,ou-abcd-l3zc8b3h" })(
        ctCreate,
        context,
      );

      // Assess
      expect(result).toMatchObject({ outcome: "started", accountId: "222222222222" });
    });
  });
});

describe("the starter's metrics", () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  /** The metrics one invocation added, by name, each with the origin it was counted under. */
  async function metricsOf(event: unknown) {
    const added = vi.spyOn(metrics, "addMetric");
    const dimensions = vi.spyOn(metrics, "addDimension");
    await handler(event, context).catch(() => undefined);
    return { names: added.mock.calls.map(([name]) => name), dimensions: dimensions.mock.calls };
  }

  const sfnError = (name: string) =>
    new SFNServiceException({ name, $fault: "client", message: "QxValue", $metadata: {} });

  it.each([
    ["a start", ctCreate, () => {}, "OnboardingsStarted"],
    ["an ignored event", ctCreateFailed, () => {}, "OnboardingStartsIgnored"],
    [
      "a start collapsed into the running one",
      ctCreate,
      () =>
        sfnMock
          .on(ListExecutionsCommand)
          .resolves(runningListing(MACHINE, "222222222222-vending-controltower")),
      "OnboardingsAlreadyRunning",
    ],
    [
      "a start handled before",
      ctUpdate,
      () => takenBy({ "222222222222-vending-controltower": "SUCCEEDED" }),
      "OnboardingsAlreadyHandled",
    ],
    [
      "a re-drive of a failed onboarding",
      ctUpdate,
      () => takenBy({ "222222222222-vending-controltower": "FAILED" }),
      "OnboardingsStarted",
    ],
    [
      "a Step Functions failure",
      ctCreate,
      () => sfnMock.on(StartExecutionCommand).rejects(sfnError("ThrottlingException")),
      "OnboardingStartsFailed",
    ],
  ])("counts %s once, as a vending start", async (_case, event, arrange, metric) => {
    // Arrange
    arrange();

    // Act
    const { names, dimensions } = await metricsOf(event);

    // Assess
    expect(names).toEqual([metric]);
    expect(dimensions).toEqual([["origin", "vending"]]);
  });

  it("counts a SUCCEEDED event without an account id as refused", async () => {
    // Arrange
    const broken = structuredClone(orgCreate);
    broken.detail.serviceEventDetails.createAccountStatus.accountId = "";

    // Act
    const { names } = await metricsOf(broken);

    // Assess
    expect(names).toEqual(["OnboardingStartsRefused"]);
  });

  it("logs a failure with its AWS request id and HTTP status", async () => {
    // Arrange
    const logged = vi.spyOn(logger, "error");
    sfnMock.on(StartExecutionCommand).rejects(
      new SFNServiceException({
        name: "ThrottlingException",
        $fault: "client",
        message: "Rate exceeded",
        $metadata: { httpStatusCode: 400, requestId: "req-0001" },
      }),
    );

    // Act
    await expect(handler(ctCreate, context)).rejects.toThrow();

    // Assess
    expect(logged).toHaveBeenCalledWith(
      expect.stringContaining("dead-letter queue"),
      expect.objectContaining({
        errorName: "ThrottlingException",
        awsRequestId: "req-0001",
        httpStatusCode: 400,
      }),
    );
  });
});

describe("the starter's settings", () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("stop every invocation on a bad VENDING_SOURCES, by name, before any Step Functions call", async () => {
    // Arrange
    const starter = starterWith({ VENDING_SOURCES: "foo" });
    const added = vi.spyOn(metrics, "addMetric");
    const logged = vi.spyOn(logger, "error");
    const refusal = {
      name: "ConfigurationError",
      message: expect.stringMatching(/^setting VENDING_SOURCES: /),
    };

    // Act / Assess: read again on the next invocation, it fails again.
    await expect(starter(ctCreate, context)).rejects.toMatchObject(refusal);
    await expect(starter(ctCreate, context)).rejects.toMatchObject(refusal);
    expect(sfnMock.calls()).toHaveLength(0);
    expect(added.mock.calls.map(([name]) => name)).toEqual([
      "OnboardingStartsFailed",
      "OnboardingStartsFailed",
    ]);
    expect(logged).toHaveBeenCalledWith(
      expect.any(String),
      expect.objectContaining({
        errorName: "ConfigurationError",
        errorMessage: expect.stringContaining("VENDING_SOURCES"),
      }),
    );
  });

  it("take an empty ALLOWED_OU_IDS as every OU", async () => {
    // Act
    const result = await starterWith({ ALLOWED_OU_IDS: "" })(ctCreate, context);

    // Assess
    expect(result).toMatchObject({ outcome: "started", accountId: "222222222222" });
  });
});
