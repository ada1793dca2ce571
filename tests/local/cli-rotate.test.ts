import { describe, expect, it } from "vitest";
import { type LocalEnvironment, startLocalEnvironment } from "../../local/environment.ts";
import { main } from "../../local/start.ts";
import { captureIo } from "../support/cli-io.ts";

/** `npm start -- --rotate`, through the command's own entry point, against the local environment. */

describe("--rotate, locally", () => {
  it("onboards the local target, then rotates it in the same process, with progress and a summary", async () => {
    const { io, out } = captureIo();
    let env: LocalEnvironment | undefined;
    const code = await main(["--rotate"], io, {
      startLocal: async (options) => {
        env = await startLocalEnvironment(options);
        return env;
      },
    });
    expect(code).toBe(0);
    expect(out.stdout).toContain("onboarded first, then rotated");
    expect(out.stdout).toMatch(/EnsureUser\s+ok/);
    expect(out.stdout).toMatch(/SwitchRedisToPendingKey\s+ok/);
    expect(out.stdout).toMatch(/DeleteOldKey\s+ok/);
    expect(out.stdout).toMatch(/access key: AKIA\w+ -> AKIA\w+ \(Redis uses the new one\)/);
    const keys = env?.aws.account("222222222222").users.get("redislabs-user")?.keys ?? [];
    expect(keys).toHaveLength(1);
    // No secret of the new credentials in what the command printed.
    expect(out.stdout).not.toContain(keys[0]?.SecretAccessKey ?? "(none)");
  });

  it("--json prints the rotation's summary as one document", async () => {
    const { io, out } = captureIo();
    expect(await main(["--rotate", "--json"], io)).toBe(0);
    const summary = JSON.parse(out.stdout) as {
      status: string;
      accessKeyId: string;
      previousAccessKeyId: string;
    };
    expect(summary.status).toBe("SUCCEEDED");
    expect(summary.accessKeyId).not.toBe(summary.previousAccessKeyId);
  });

  it("refuses options a rotation has no use for", async () => {
    const { io, out } = captureIo();
    expect(await main(["--rotate", "--plan"], io)).toBe(2);
    expect(out.stderr).toContain("--rotate");
  });
});
