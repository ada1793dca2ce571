import { describe, expect, it } from "vitest";
import { NAMED_FAILURES, run, summarizeBulk } from "../../functions/bulk-summary.ts";
import { createRuntime } from "../../functions/lib/define-step.ts";

const skipped = {
  alreadyActive: 2,
  excludedAccount: 0,
  excludedOu: 5,
  notAllowed: 0,
  notActive: 1,
  notInOrganization: 0,
};

describe("summarizeBulk", () => {
  it("counts the onboarded, the failed by error name with their accounts, and passes the skipped on", async () => {
    const summary = await summarizeBulk({
      execution: "bulk-1",
      accounts: ["100000000001", "100000000002", "100000000003", "100000000004"],
      results: ["ok", "TargetAccessDenied", "ok", "States.Timeout"],
      skipped,
      skippedAccounts: { notActive: ["100000000009"] },
    });

    expect(summary).toEqual({
      execution: "bulk-1",
      started: 4,
      onboarded: 2,
      failed: 2,
      failures: { TargetAccessDenied: 1, "States.Timeout": 1 },
      failedAccounts: [
        { accountId: "100000000002", error: "TargetAccessDenied" },
        { accountId: "100000000004", error: "States.Timeout" },
      ],
      skipped,
      skippedAccounts: { notActive: ["100000000009"] },
    });
  });

  it("names at most the first failures of 10,000, and counts them all", async () => {
    const accounts = Array.from({ length: 10_000 }, (_, i) => String(100_000_000_000 + i));
    const summary = await summarizeBulk({
      execution: "bulk-1",
      accounts,
      results: accounts.map(() => "CloudAccountError"),
      skipped,
      skippedAccounts: {},
    });

    expect(summary.failed).toBe(10_000);
    expect(summary.failures).toEqual({ CloudAccountError: 10_000 });
    expect(summary.failedAccounts).toHaveLength(NAMED_FAILURES);
    expect(JSON.stringify(summary).length).toBeLessThan(16 * 1024);
  });

  it("refuses results that do not match the accounts, naming the field", async () => {
    const runtime = createRuntime(
      { partition: "aws", region: "us-east-1", accountId: "111111111111" },
      {} as never,
      {} as never,
    );
    await expect(
      run(
        { execution: "bulk-1", accounts: ["100000000001"], results: [], skipped, skippedAccounts: {} },
        runtime,
      ),
    ).rejects.toMatchObject({
      name: "InvalidInput",
      message: "SummarizeBulk: results: must have one result per account",
    });
    await expect(
      run(
        {
          execution: "bulk-1",
          accounts: ["100000000001"],
          results: [{ secret: 1 }],
          skipped,
          skippedAccounts: {},
        },
        runtime,
      ),
    ).rejects.toMatchObject({ name: "InvalidInput", message: expect.stringContaining("results.0") });
  });
});
