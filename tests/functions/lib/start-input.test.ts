import { describe, expect, it } from "vitest";
import { parseStartInput } from "../../../functions/lib/start-input.ts";

const ACCOUNT = "222222222222";

describe("parseStartInput", () => {
  it("rebuilds the input in a fixed field order, so that equal starts are equal JSON", () => {
    // Act
    const parsed = parseStartInput({ accountName: "payments", roleName: "R", accountId: ACCOUNT });

    // Assess
    expect(JSON.stringify(parsed)).toBe(
      JSON.stringify({ input: { accountId: ACCOUNT, roleName: "R", accountName: "payments" } }),
    );
  });

  it.each([
    ["a missing accountId", { roleName: "R" }, /^accountId: is required: the 12-digit id/],
    ["a wrong type", { accountId: 222222222222 }, /^accountId: must be string/],
    ["a bad pattern", { accountId: "2222-QxValue" }, /^accountId: must match pattern/],
    ["an unknown field", { accountId: ACCOUNT, zebra: "QxValue" }, /^body: unknown field "zebra"/],
    ["a non-object", ["QxValue"], /^body: must be a JSON object/],
  ])("names the problem of %s without echoing the value", (_case, body, problem) => {
    // Act
    const parsed = parseStartInput(body);

    // Assess
    expect(parsed).toEqual({ problem: expect.stringMatching(problem) });
    expect(JSON.stringify(parsed)).not.toContain("QxValue");
  });

  it("does not repeat an unknown field's name that is not plainly a name", () => {
    // Act
    const parsed = parseStartInput({ accountId: ACCOUNT, "<script>QxName": 1 });

    // Assess
    expect(parsed).toEqual({ problem: expect.stringMatching(/^body: unknown field \(/) });
    expect(JSON.stringify(parsed)).not.toContain("QxName");
  });
});
