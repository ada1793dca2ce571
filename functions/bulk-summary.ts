import * as z from "zod";
import { MAX_BULK_ACCOUNTS, SKIP_REASONS } from "./lib/bulk-input.ts";
import { defineStep } from "./lib/define-step.ts";
import { invalidInput } from "./lib/errors.ts";

const STEP = "SummarizeBulk";

/** Failed accounts named in the summary (all are counted): the event stays far under 256 KB. */
export const NAMED_FAILURES = 100;

/** An item's result when its onboarding succeeded (the Map's Onboarded state). */
export const OK = "ok";

const ERROR_NAME = z.string().regex(/^[\w.-]{1,128}$/, "must be an error name");

/**
 * What the Map leaves for each account, in the order of `accounts`: "ok" for an onboarding that
 * succeeded, else the name of the error it failed with. Five characters a success, a short name a
 * failure: 10,000 results fit the state's 256 KB beside the account ids.
 */
const SummarizeBulkEvent = z.object({
  execution: z.string().min(1),
  accounts: z.array(z.string().regex(/^\d{12}$/)).max(MAX_BULK_ACCOUNTS),
  results: z.array(z.union([z.literal(OK), ERROR_NAME])).max(MAX_BULK_ACCOUNTS),
  skipped: z.record(z.enum(SKIP_REASONS), z.number().int().nonnegative()),
  skippedAccounts: z.partialRecord(z.enum(SKIP_REASONS), z.array(z.string())),
});
type SummarizeBulkInput = z.output<typeof SummarizeBulkEvent>;

export interface BulkSummary {
  execution: string;
  /** Onboardings started: one per account to onboard. */
  started: number;
  onboarded: number;
  failed: number;
  /** Failed onboardings by error name. */
  failures: Record<string, number>;
  failedAccounts: { accountId: string; error: string }[];
  skipped: SummarizeBulkInput["skipped"];
  skippedAccounts: SummarizeBulkInput["skippedAccounts"];
}

/** Counts the Map's results: onboarded, failed by error name (the first failures named), skipped. */
export async function summarizeBulk(input: SummarizeBulkInput): Promise<BulkSummary> {
  if (input.results.length !== input.accounts.length) {
    throw invalidInput("results", "must have one result per account");
  }
  const failures: Record<string, number> = {};
  const failedAccounts: BulkSummary["failedAccounts"] = [];
  let onboarded = 0;
  input.results.forEach((result, i) => {
    if (result === OK) {
      onboarded += 1;
      return;
    }
    failures[result] = (failures[result] ?? 0) + 1;
    if (failedAccounts.length < NAMED_FAILURES)
      failedAccounts.push({ accountId: input.accounts[i] as string, error: result });
  });
  return {
    execution: input.execution,
    started: input.accounts.length,
    onboarded,
    failed: input.accounts.length - onboarded,
    failures,
    failedAccounts,
    skipped: input.skipped,
    skippedAccounts: input.skippedAccounts,
  };
}

export const { run, handler } = defineStep({
  name: STEP,
  input: SummarizeBulkEvent,
  deps: () => undefined,
  run: (input) => summarizeBulk(input),
});
