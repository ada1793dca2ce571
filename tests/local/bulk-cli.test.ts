import { afterEach, describe, expect, it } from "vitest";
import { DEMO_ORGANIZATION } from "../../local/cli/bulk.ts";
import { type LocalEnvironment, registryItemOf, startLocalEnvironment } from "../../local/environment.ts";
import { type Io, main } from "../../local/start.ts";

let env: LocalEnvironment | undefined;
afterEach(async () => {
  await env?.close();
  env = undefined;
});

function io(isTTY: boolean) {
  const out: string[] = [];
  const err: string[] = [];
  const handle: Io = {
    stdout: (text) => void out.push(text),
    stderr: (text) => void err.push(text),
    env: {},
    isTTY,
  };
  return { handle, out: () => out.join(""), err: () => err.join("") };
}

/** The command's own environment, kept to read what it holds; keys propagate at once. */
const startLocal = async (options: Parameters<typeof startLocalEnvironment>[0]) => {
  env = await startLocalEnvironment({ ...options, aws: { ...options?.aws, keyPropagationMs: 0 } });
  return env;
};

const DEMO = Object.values(DEMO_ORGANIZATION.accounts).flat();

describe("npm start -- --org (bulk onboarding, locally)", () => {
  it("onboards the demo organization less the excluded OU, a plain line per account off a terminal, then the summary", async () => {
    const { handle, out } = io(false);
    const dev = "ou-demo-22222222";

    const code = await main(["--org", "--exclude-ou", dev], handle, { startLocal });

    expect(code).toBe(0);
    const expected = DEMO.filter(
      (id) => !DEMO_ORGANIZATION.accounts[dev]?.includes(id) && id !== DEMO_ORGANIZATION.suspended,
    );
    for (const id of expected) {
      expect(out()).toMatch(new RegExp(`^  ${id} onboarded \\(\\d/${expected.length}\\)$`, "m"));
      expect(registryItemOf((env as LocalEnvironment).dynamodb, id)?.status).toBe("active");
    }
    expect(out()).toContain(`Onboarded ${expected.length} of ${expected.length} started; 0 failed.`);
    expect(out()).toContain("excludedOu: 2 (420000000001, 420000000002)");
    expect(out()).toContain(`notActive: 1 (${DEMO_ORGANIZATION.suspended})`);
    expect(out()).not.toContain("\r");
  }, 120_000);

  it("keeps one progress line on a terminal: done / total, failed so far, waiting at Redis", async () => {
    const { handle, out } = io(true);

    const code = await main(["--accounts", "510000000001,510000000002"], handle, { startLocal });

    expect(code).toBe(0);
    const progress = out().split("Onboarded")[0] ?? "";
    // Rewritten in place: one line, ended once.
    expect(progress.split("\n").filter((line) => line.includes("done,"))).toHaveLength(1);
    // Each redraw goes back to the line's start and clears it (ESC [2K) before writing.
    const redraw = `\r${String.fromCharCode(27)}[2K  `;
    expect(progress).toContain(`${redraw}2/2 done, 0 failed, 0 waiting at Redis\n`);
    expect(progress).toMatch(
      new RegExp(`${redraw.replace("[", "\\[")}0/2 done, 0 failed, \\d waiting at Redis`),
    );
  }, 120_000);

  it("refuses a bad option by name before anything runs (exit 2)", async () => {
    const both = io(false);
    expect(await main(["--org", "--accounts", "510000000001"], both.handle, { startLocal })).toBe(2);
    expect(both.err()).toContain("option --org, --accounts or --ou: name exactly one of them");

    const bad = io(false);
    expect(await main(["--accounts", "51000"], bad.handle, { startLocal })).toBe(2);
    expect(bad.err()).toContain("option --accounts: must be a 12-digit account id");
    expect(env).toBeUndefined();
  });
});
