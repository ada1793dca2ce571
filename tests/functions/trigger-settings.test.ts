import { describe, expect, it } from "vitest";
import { getRequestDeps } from "../../functions/http-get-onboarding.ts";
import { startHandlerDeps } from "../../functions/http-start-onboarding.ts";
import { executionArn } from "../../functions/lib/execution-names.ts";
import { sfnClient } from "../../functions/lib/trigger-runtime.ts";
import { starterDeps } from "../../functions/start-from-event.ts";
import { STATE_MACHINE_ARN } from "../support/aws.ts";

/*
 * Each trigger reads its environment by one schema, once per container: a missing or bad setting
 * stops it with ConfigurationError naming the variable, never a value.
 */

const MACHINE = STATE_MACHINE_ARN;
type Env = Record<string, string | undefined>;

const TRIGGERS: [string, (env: Env) => { stateMachineArn: string }][] = [
  ["startFromEvent", starterDeps],
  ["httpStartOnboarding", startHandlerDeps],
  ["httpGetOnboarding", getRequestDeps],
];

/** What loading `env` throws: its name and message. */
const refusalOf = (load: (env: Env) => unknown, env: Env) => {
  try {
    load(env);
  } catch (error) {
    return { name: (error as Error).name, message: (error as Error).message };
  }
  throw new Error("the settings were accepted");
};

describe.each(TRIGGERS)("%s", (_fn, load) => {
  it("takes a state machine ARN", () => {
    expect(load({ STATE_MACHINE_ARN: MACHINE }).stateMachineArn).toBe(MACHINE);
  });

  it("stops, by setting name, when the state machine ARN is missing", () => {
    expect(refusalOf(load, {})).toEqual({
      name: "ConfigurationError",
      message: "setting STATE_MACHINE_ARN: is required",
    });
  });

  it.each([
    ["an execution ARN", executionArn(MACHINE, "x")],
    ["a Ref that was never resolved", "OnboardingStateMachine"],
  ])("stops, by setting name, when the state machine ARN is %s", (_case, value) => {
    expect(refusalOf(load, { STATE_MACHINE_ARN: value })).toEqual({
      name: "ConfigurationError",
      message: "setting STATE_MACHINE_ARN: must be a state machine ARN",
    });
  });

  it("stops, by setting name, on a log level Powertools would silently replace", () => {
    expect(refusalOf(load, { STATE_MACHINE_ARN: MACHINE, POWERTOOLS_LOG_LEVEL: "VERBOSE" })).toMatchObject({
      name: "ConfigurationError",
      message: expect.stringMatching(/^setting POWERTOOLS_LOG_LEVEL: /),
    });
  });
});

describe("the starter's vending settings", () => {
  const base = { STATE_MACHINE_ARN: MACHINE };

  it("default to both sources, each with its own role, and every OU", () => {
    expect(starterDeps(base).settings).toMatchObject({
      vendingSources: ["controltower", "organizations"],
      controlTowerRoleName: "AWSControlTowerExecution",
      organizationsRoleName: "OrganizationAccountAccessRole",
      allowedOuIds: [],
    });
  });

  it.each([
    ["CONTROL_TOWER_ROLE_NAME", { CONTROL_TOWER_ROLE_NAME: "ZebraRole" }, "must be one of TARGET_ROLE_NAMES"],
    ["ORGANIZATIONS_ROLE_NAME", { ORGANIZATIONS_ROLE_NAME: "ZebraRole" }, "must be one of TARGET_ROLE_NAMES"],
    ["ALLOWED_OU_IDS", { ALLOWED_OU_IDS: "ou-abcd-l3zc8b3h,Custom" }, ""],
    ["VENDING_SOURCES", { VENDING_SOURCES: "foo" }, ""],
    ["VENDING_SOURCES", { VENDING_SOURCES: "controltower,servicecatalog" }, ""],
    ["VENDING_SOURCES", { VENDING_SOURCES: "," }, "must be a comma-separated list"],
  ])("stop the cold start on a bad %s, by name", (setting, env, problem) => {
    expect(refusalOf(starterDeps, { ...base, ...env })).toEqual({
      name: "ConfigurationError",
      message: expect.stringContaining(`setting ${setting}: ${problem}`),
    });
  });

  it("take an empty ALLOWED_OU_IDS as every OU", () => {
    expect(starterDeps({ ...base, ALLOWED_OU_IDS: "" }).settings.allowedOuIds).toEqual([]);
  });

  it("take a blank VENDING_SOURCES as unset, like every setting: the deployment's default", () => {
    expect(starterDeps({ ...base, VENDING_SOURCES: " " }).settings.vendingSources).toEqual([
      "controltower",
      "organizations",
    ]);
  });

  it("do not require the role of a source that is not enabled", () => {
    // Act
    const { settings } = starterDeps({
      ...base,
      VENDING_SOURCES: "controltower",
      ORGANIZATIONS_ROLE_NAME: "ZebraRole",
    });

    // Assess
    expect(settings.vendingSources).toEqual(["controltower"]);
  });
});

describe("POST /onboardings' settings", () => {
  it("allow the roles of TARGET_ROLE_NAMES", () => {
    expect(
      startHandlerDeps({ STATE_MACHINE_ARN: MACHINE, TARGET_ROLE_NAMES: "Onboarder" }).allowedRoleNames,
    ).toEqual(["Onboarder"]);
  });

  it("stop on a bad TARGET_ROLE_NAMES, by name", () => {
    expect(
      refusalOf(startHandlerDeps, { STATE_MACHINE_ARN: MACHINE, TARGET_ROLE_NAMES: ", ," }),
    ).toMatchObject({
      name: "ConfigurationError",
      message: expect.stringMatching(/^setting TARGET_ROLE_NAMES: /),
    });
  });
});

describe("the triggers' Step Functions client", () => {
  it("is made once per container", () => {
    expect(sfnClient()).toBe(sfnClient());
    expect(starterDeps({ STATE_MACHINE_ARN: MACHINE }).sfn).toBe(
      getRequestDeps({ STATE_MACHINE_ARN: MACHINE }).sfn,
    );
  });
});
