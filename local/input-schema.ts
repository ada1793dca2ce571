import { writeFile } from "node:fs/promises";
import * as z from "zod";
import { OnboardingInputSchema } from "../functions/lib/onboarding-input.ts";

/*
 * statemachine/onboarding-input.schema.json is what the console, users and their tools read; the
 * zod schema in functions/lib/onboarding-input.ts is its source. `npm run schema` writes the file;
 * a test fails while the two differ.
 */

export const SCHEMA_FILE = new URL("../statemachine/onboarding-input.schema.json", import.meta.url);
const SCHEMA_ID = "https://github.com/redis-cloud-byoc-onboarding/statemachine/onboarding-input.schema.json";

/** The published schema, as text: draft-07 (what editors and ajv read by default), with its id. */
export function onboardingInputSchemaText(): string {
  const { $schema, ...rest } = z.toJSONSchema(OnboardingInputSchema, { target: "draft-7" });
  return `${JSON.stringify({ $schema, $id: SCHEMA_ID, ...rest }, null, 2)}\n`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await writeFile(SCHEMA_FILE, onboardingInputSchemaText());
  console.log("wrote statemachine/onboarding-input.schema.json");
}
