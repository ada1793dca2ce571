import { describe, expect, it } from "vitest";
import {
  LOCK_MARGIN_SECONDS,
  LOCK_TTL_SECONDS,
  lockExpiry,
  STATE_MACHINE_TIMEOUT_SECONDS,
} from "../../../functions/lib/lock.ts";
import { loadDefinition } from "../../../local/workflow.ts";

describe("lockExpiry", () => {
  it("is the execution's start plus the state machine's timeout and a margin: five days and a half hour", () => {
    expect(lockExpiry("2025-01-15T12:00:00.000Z")).toEqual({
      expiresAt: Date.UTC(2025, 0, 20, 12, 30) / 1000,
      expiresAtIso: "2025-01-20T12:30:00.000Z",
    });
    expect(LOCK_TTL_SECONDS).toBe(STATE_MACHINE_TIMEOUT_SECONDS + LOCK_MARGIN_SECONDS);
  });

  it("outlasts the state machine's own timeout, so that no live run loses its lock", () => {
    expect(loadDefinition().TimeoutSeconds).toBe(STATE_MACHINE_TIMEOUT_SECONDS);
    expect(LOCK_MARGIN_SECONDS).toBeGreaterThan(0);
  });

  it("rounds the TTL attribute up, so that DynamoDB never cleans up a lock still held", () => {
    const { expiresAt, expiresAtIso } = lockExpiry("2025-01-15T12:00:00.400Z");

    expect(expiresAtIso).toBe("2025-01-20T12:30:00.400Z");
    expect(expiresAt * 1000).toBeGreaterThanOrEqual(Date.parse(expiresAtIso));
  });

  it.each([[undefined], [""], ["yesterday"], [1736942400]])("refuses %j as a start time", (start) => {
    expect(() => lockExpiry(start)).toThrow(expect.objectContaining({ name: "InvalidInput" }));
  });
});

describe("the ISO-8601 form the lock compares as strings", () => {
  // `expiresAtIso < :now` compares strings: right only if the string order is the time order. Both
  // sides are `YYYY-MM-DDTHH:mm:ss.sssZ` (toISOString and Step Functions' EnteredTime): fixed width.
  it("orders as time does, across digits, days, months and years", () => {
    const times = [
      0,
      1,
      999,
      1000,
      59_999,
      3_599_999,
      86_399_999,
      86_400_000,
      Date.UTC(1999, 11, 31, 23, 59, 59, 999),
      Date.UTC(2000, 0, 1),
      Date.UTC(2025, 8, 30, 9, 5, 7, 3),
      Date.UTC(2025, 9, 1),
      Date.UTC(9999, 11, 31),
      ...Array.from({ length: 500 }, () => Math.floor(Math.random() * Date.UTC(9999, 0, 1))),
    ];
    const isos = times.map((ms) => new Date(ms).toISOString());
    for (const iso of isos) expect(iso).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    const byTime = [...times].sort((a, b) => a - b).map((ms) => new Date(ms).toISOString());
    expect([...isos].sort()).toEqual(byTime);
  });

  it("is the form the workflow reads EnteredTime in, and the one it writes", () => {
    expect(lockExpiry(new Date().toISOString()).expiresAtIso).toMatch(
      /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/,
    );
  });
});
