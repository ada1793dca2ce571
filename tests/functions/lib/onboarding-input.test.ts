import { describe, expect, it } from "vitest";
import type * as z from "zod";
import {
  inputProblem,
  OnboardingInputSchema,
  StartInputSchema,
} from "../../../functions/lib/onboarding-input.ts";

/** The first problem the schema reports for `value`. */
function problemOf(schema: z.ZodType, value: unknown) {
  const parsed = schema.safeParse(value);
  expect(parsed.success).toBe(false);
  if (parsed.success) throw new Error("accepted");
  return inputProblem(parsed.error);
}

describe("the onboarding input schema", () => {
  it("accepts {} from the console but not from a starter, which must name the account", () => {
    expect(OnboardingInputSchema.safeParse({}).success).toBe(true);
    expect(problemOf(StartInputSchema, {})).toMatchObject({ kind: "missing", field: "accountId" });
  });

  it("names a bad value's field and what the field is for, never the value", () => {
    const problem = problemOf(OnboardingInputSchema, { accountId: "12ab-secretish" });
    expect(problem).toMatchObject({ kind: "bad-value", field: "accountId" });
    expect(JSON.stringify(problem)).toContain("12-digit");
    expect(JSON.stringify(problem)).not.toContain("12ab-secretish");
  });

  it("names an unknown field only when it is plainly a name", () => {
    expect(problemOf(OnboardingInputSchema, { region: "x" })).toEqual({
      kind: "unknown-field",
      field: "region",
    });
    expect(problemOf(OnboardingInputSchema, { AKIAIOSFODNN7EXAMPLE: "x" })).toEqual({
      kind: "unknown-field",
    });
  });

  it("refuses anything but an object", () => {
    for (const value of [null, [], "accountId", 42]) {
      expect(problemOf(OnboardingInputSchema, value)).toEqual({ kind: "not-an-object" });
    }
  });
});
