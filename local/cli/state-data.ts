import type { EventLog, WorkflowResult } from "../workflow.ts";

/*
 * Reading a finished run's state data for the CLI's summaries. The workflow never carries a
 * secret in its states, so whatever is read here may be printed; it is read loosely, as plain
 * JSON whose shape the summaries check field by field.
 */

export type Data = Record<string, unknown>;

/** A JSON object (not an array, not null). */
export const isData = (value: unknown): value is Data =>
  value !== null && typeof value === "object" && !Array.isArray(value);

/** The latest object at `key` in any state's output: the state data as the run left it. */
export function latest(events: EventLog[], key: string): Data | undefined {
  let found: Data | undefined;
  for (const event of events) {
    if (event.type !== "StateExited") continue;
    const value = isData(event.state.output) ? event.state.output[key] : undefined;
    if (isData(value)) found = value;
  }
  return found;
}

export const textOrNull = (value: unknown): string | null => (typeof value === "string" ? value : null);
export const numberOrNull = (value: unknown): number | null => (typeof value === "number" ? value : null);
export const strings = (value: unknown): string[] => (Array.isArray(value) ? value.map(String) : []);

/** The run's error, its message read from a Lambda error's Cause (`{"errorType", "errorMessage"}`) or plain text. */
export function errorOf(result: WorkflowResult): { name: string; message: string } | null {
  if (!result.error) return null;
  try {
    const cause: unknown = JSON.parse(result.error.Cause);
    if (isData(cause) && typeof cause.errorMessage === "string") {
      return { name: result.error.Error, message: cause.errorMessage };
    }
  } catch {
    // Not JSON: the cause is the message itself.
  }
  return { name: result.error.Error, message: result.error.Cause };
}
