import * as z from "zod";
import { invalidInput, isPrintableFieldName, type WorkflowError } from "./errors.ts";

/*
 * Every input the product parses (a step's, the console's, an HTTP body, an event) goes through
 * a zod schema, and every refusal is said the same way: the field, what is wrong with it, and
 * never the value that is wrong, which could be a pasted secret.
 */

export interface InputIssue {
  /** The field's path (`target.accountId`), or `input` for the whole input. */
  field: string;
  problem: string;
}

/** The first problem of a failed parse, in words that repeat no value. */
export function describeIssue(issue: z.core.$ZodIssue | undefined): InputIssue {
  if (issue === undefined) return { field: "input", problem: "is not valid" };
  const path = issue.path.filter((part) => typeof part !== "symbol").map(String);
  if (issue.code === "unrecognized_keys") {
    const name = issue.keys.find(isPrintableFieldName);
    const parent = path.join(".");
    if (name === undefined) return { field: parent || "input", problem: "has an unknown field" };
    return { field: parent ? `${parent}.${name}` : name, problem: "unknown field" };
  }
  const field = path.join(".") || "input";
  // A schema's own words win; zod's defaults ("Invalid input: …") are replaced by plain ones.
  if (issue.code === "invalid_type" && issue.message.startsWith("Invalid input")) {
    if (issue.input === undefined) return { field, problem: "is required" };
    return { field, problem: `must be ${issue.expected}` };
  }
  return { field, problem: issue.message };
}

/** Parses `value`, or throws InvalidInput naming the field (and the step, when given). */
export function parseOrRefuse<S extends z.ZodType>(schema: S, value: unknown, step?: string): z.output<S> {
  // The input is reported only to tell a missing field from a wrong one; it is never printed.
  const parsed = schema.safeParse(value, { reportInput: true });
  if (parsed.success) return parsed.data;
  throw refusal(parsed.error, step);
}

export function refusal(error: z.ZodError, step?: string): WorkflowError {
  const { field, problem } = describeIssue(error.issues[0]);
  const refused = invalidInput(field, problem);
  if (step !== undefined) refused.message = `${step}: ${refused.message}`;
  return refused;
}

const JsonObject = z.record(z.string(), z.unknown());

/**
 * The JSON object `text` holds (a secret's value), or undefined for anything else. JSON.parse's
 * own message quotes the text: it never leaves this function.
 */
export function parseJsonObject(text: string | undefined): Record<string, unknown> | undefined {
  if (text === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  const parsed = JsonObject.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}
