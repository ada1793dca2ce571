import { describe, expect, it } from "vitest";
import { PAGE_SIZE, PAGES_PER_EXECUTION } from "../../functions/list-reconcile-page.ts";
import { loadMachine, type State, worstSeconds as worst } from "../support/time-bounds.ts";

/*
 * The reconcile's time bounds: every Task bounded, and one execution's worst case (its pages, each
 * a look and waves of accounts, every account drifted, repaired to the repair's timeout, every
 * retry spent) under 90 % of its TimeoutSeconds. Its history stays within Step Functions' 25,000
 * events because an execution reads at most PAGES_PER_EXECUTION pages, then relays.
 */

const definition = loadMachine("reconcile");
const states = definition.States;
const items = (states.Accounts as State).ItemProcessor?.States ?? {};

describe("the reconcile's time bounds", () => {
  it("gives every Task, in the page loop and in the accounts' Map, a TimeoutSeconds", () => {
    const unbounded = Object.entries({ ...states, ...items })
      .filter(([, s]) => s.Type === "Task" && s.TimeoutSeconds === undefined)
      .map(([name]) => name);
    expect(unbounded).toEqual([]);
  });

  it("waits on the registrar's look with a heartbeat shorter than its timeout", () => {
    const look = states.Look as State;
    expect(look.HeartbeatSeconds).toBeLessThan(look.TimeoutSeconds ?? 0);
  });

  it("sums, in one execution's worst case, to less than 90 % of its TimeoutSeconds", () => {
    const account = ["ReconcileAccount", "PublishDrift", "Repair", "CheckRepair"].reduce(
      (sum, name) => sum + worst(items[name]),
      0,
    );
    const waves = Math.ceil(PAGE_SIZE / ((states.Accounts as State).MaxConcurrency ?? 1));
    const page = worst(states.Look) + waves * account + worst(states.NextPage);
    const execution = worst(states.Begin) + PAGES_PER_EXECUTION * page + worst(states.Relay);
    expect(Number.isFinite(execution)).toBe(true);
    expect(execution).toBeLessThan(0.9 * definition.TimeoutSeconds);
    // Repairs are most of it: each waits for its onboarding, at most 2 h.
    expect(PAGES_PER_EXECUTION * waves * worst(items.Repair)).toBeGreaterThan(0.5 * execution);
  });

  it("bounds the accounts reconciled at once, and a page's history, within an execution's 25,000 events", () => {
    const concurrency = (states.Accounts as State).MaxConcurrency ?? 0;
    expect(concurrency).toBeGreaterThan(0);
    expect(concurrency).toBeLessThanOrEqual(10);
    // At worst an account enters 7 states of about 5 events each, with its iteration's own 2.
    const perAccount = 7 * 5 + 2;
    expect(PAGES_PER_EXECUTION * (PAGE_SIZE * perAccount + 40)).toBeLessThan(25_000 * 0.9);
  });
});
