import { describe, expect, it } from "vitest";
import {
  inputProblem,
  validateOnboardingInput,
  validateStartInput,
} from "../../../functions/lib/onboarding-input.ts";

/** The first problem the validator reports for `value`. */
function problemOf(validate: typeof validateOnboardingInput, value: unknown) {
  expect(validate(value)).toBe(false);
  return inputProblem(validate.errors?.[0]);
}

describe("the onboarding input schema", () => {
  it("accepts {} from the console but not from a starter, which must name the account", () => {
    expect(validateOnboardingInput({})).toBe(true);
    expect(problemOf(validateStartInput, {})).toMatchObject({ kind: "missing", field: "accountId" });
  });

  it("names a bad value's field and what the field is for, never the value", () => {
    const problem = problemOf(validateOnboardingInput, { accountId: "12ab-secretish" });
    expect(problem).toMatchObject({ kind: "bad-value", field: "accountId" });
    expect(JSON.stringify(problem)).toContain("12-digit");
    expect(JSON.stringify(problem)).not.toContain("12ab-secretish");
  });

  it("names an unknown field only when it is plainly a name", () => {
    expect(problemOf(validateOnboardingInput, { region: "x" })).toEqual({
      kind: "unknown-field",
      field: "region",
    });
    expect(problemOf(validateOnboardingInput, { AKIAIOSFODNN7EXAMPLE: "x" })).toEqual({
      kind: "unknown-field",
    });
  });

  it("refuses anything but an object", () => {
    for (const value of [null, [], "accountId", 42]) {
      expect(problemOf(validateOnboardingInput, value)).toEqual({ kind: "not-an-object" });
    }
  });
});
