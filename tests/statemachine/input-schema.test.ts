import { readFileSync } from "node:fs";
import { Ajv } from "ajv";
import { describe, expect, it } from "vitest";
import { OnboardingInputSchema } from "../../functions/lib/onboarding-input.ts";
import { onboardingInputSchemaText, SCHEMA_FILE } from "../../local/input-schema.ts";

/*
 * The published JSON Schema is generated from the zod schema the functions use. These tests fail
 * when someone edits one without the other (`npm run schema` rewrites the file).
 */

const published = JSON.parse(readFileSync(SCHEMA_FILE, "utf8")) as object;
const validate = new Ajv({ strict: true }).compile(published);

/** The corpus of refused inputs, less the one refused by the deployment's settings, not by shape. */
const BY_SETTINGS = new Set(["roleName the deployment may not assume"]);
const corpus = (
  JSON.parse(readFileSync(new URL("../fixtures/bad-inputs/console.json", import.meta.url), "utf8")) as {
    cases: { case: string; input: unknown }[];
  }
).cases.filter((c) => !BY_SETTINGS.has(c.case));

const good: [string, unknown][] = [
  ["the home account", {}],
  ["an account", { accountId: "222222222222" }],
  [
    "every field",
    { accountId: "222222222222", roleName: "AWSControlTowerExecution", accountName: "payments prod" },
  ],
  ["a name of 100 characters", { accountName: "n".repeat(100) }],
];

describe("statemachine/onboarding-input.schema.json", () => {
  it("is exactly what the zod schema generates (run `npm run schema` after changing it)", () => {
    // Assess
    expect(readFileSync(SCHEMA_FILE, "utf8")).toBe(onboardingInputSchemaText());
  });

  it.each(good)("and the zod schema both accept %s", (_case, input) => {
    // Assess
    expect(validate(input)).toBe(true);
    expect(OnboardingInputSchema.safeParse(input).success).toBe(true);
  });

  it.each(corpus.map((c) => [c.case, c.input] as const))(
    "and the zod schema both refuse %s",
    (_case, input) => {
      // Assess
      expect(validate(input)).toBe(false);
      expect(OnboardingInputSchema.safeParse(input).success).toBe(false);
    },
  );
});
