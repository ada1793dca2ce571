import { describe, expect, it } from "vitest";
import { type LocalEnvironment, registryItemOf, startLocalEnvironment } from "../../local/environment.ts";
import { FLEET_BUDGET_PER_MINUTE } from "../../local/fleet.ts";
import { type Io, main } from "../../local/start.ts";
import { runOnVirtualClock } from "../../local/virtual-clock.ts";

/*
 * `npm start -- --org` through the command itself, on an in-memory organization of 200 accounts in
 * three OUs with exclude lists, run twice in one process. On the virtual clock, with the registrar's
 * deployed budget and Redis's limits: on the wall clock 150 onboardings would meet Redis's 429s and
 * its minute-long waits.
 */

const ROOT = "r-cd34";
const OUS = ["ou-cd34-11111111", "ou-cd34-22222222", "ou-cd34-33333333"] as const;
/** 200 accounts: 50 in the first OU, 50 in the second (excluded), 100 in the third. */
const SIZES = [50, 50, 100];
const accountsOf = (ou: number) =>
  Array.from({ length: SIZES[ou] as number }, (_, i) => String(510_000_000_000 + ou * 1000 + i));
const ALL = [0, 1, 2].flatMap(accountsOf);
const EXCLUDED_OU = OUS[1];
const EXCLUDED_ACCOUNTS = [accountsOf(0)[0], accountsOf(2)[0]] as string[];
const expected = ALL.filter((id) => !accountsOf(1).includes(id) && !EXCLUDED_ACCOUNTS.includes(id));

function capture(): { io: Io; out: () => string } {
  const chunks: string[] = [];
  return {
    io: { stdout: (text) => void chunks.push(text), stderr: () => undefined, env: {}, isTTY: false },
    out: () => chunks.join(""),
  };
}

describe("npm start -- --org on an organization of 200 accounts", () => {
  it("onboards exactly the accounts left by the exclude lists, says why it skipped the rest, and a second run starts nothing", async () => {
    const argv = ["--org", "--exclude-ou", EXCLUDED_OU, "--exclude-account", EXCLUDED_ACCOUNTS.join(",")];
    const { result } = await runOnVirtualClock(
      async () => {
        // One environment for both runs, as one process keeps its in-memory world.
        const env = await startLocalEnvironment({
          targets: ALL,
          aws: { keyPropagationMs: 10_000 },
          redis: { inProcess: true, taskSeconds: 30, freshSeconds: 3 },
          registrar: { timed: true, perMinute: FLEET_BUDGET_PER_MINUTE },
        });
        for (const [i, ou] of OUS.entries()) {
          env.aws.addOrganizationalUnit(ou, ROOT);
          for (const id of accountsOf(i)) env.aws.addOrganizationAccount(id, ou, "ACTIVE");
        }
        const startLocal = async () => env;
        const first = capture();
        const firstCode = await main(argv, first.io, { startLocal });
        const posts = env.redis.state.accounts.size;
        const second = capture();
        const secondCode = await main(argv, second.io, { startLocal });
        await env.registrar.settled();
        return { env, firstCode, first: first.out(), posts, secondCode, second: second.out() };
      },
      { maxElapsedMs: 10 * 24 * 3600_000 },
    );
    const env: LocalEnvironment = result.env;

    expect(result.firstCode).toBe(0);
    expect(result.first).toContain(`Onboarded ${expected.length} of ${expected.length} started; 0 failed.`);
    expect(result.first).toContain("excludedOu: 50");
    expect(result.first).toContain(`excludedAccount: 2 (${[...EXCLUDED_ACCOUNTS].sort().join(", ")})`);
    for (const id of ALL) {
      expect(registryItemOf(env.dynamodb, id)?.status, id).toBe(expected.includes(id) ? "active" : undefined);
    }
    expect(result.posts).toBe(expected.length);

    expect(result.secondCode).toBe(0);
    expect(result.second).toContain("Onboarded 0 of 0 started; 0 failed.");
    expect(result.second).toContain(`alreadyActive: ${expected.length}`);
    expect(env.redis.state.accounts.size).toBe(expected.length);
  }, 300_000);
});
