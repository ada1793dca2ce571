import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";

/* The scripts the npm entry points run before, or instead of, the tools themselves. */

const node = (args: string[], execPath = process.execPath) => spawnSync(execPath, args, { encoding: "utf8" });

describe("scripts/preflight.cjs", () => {
  it("says nothing and lets the script go on under Node 22 or newer", () => {
    const run = node(["scripts/preflight.cjs"]);

    expect(run.status).toBe(0);
    expect(run.stderr).toBe("");
  });

  it("stops an older Node with one line saying what is needed and how to get it", () => {
    // The check reads process.versions; pretend to be Node 20 by patching it before the script runs.
    const run = node([
      "-e",
      "Object.defineProperty(process.versions, 'node', { value: '20.20.2' }); require('./scripts/preflight.cjs')",
    ]);

    expect(run.status).toBe(1);
    expect(run.stderr.trim().split("\n")).toHaveLength(1);
    expect(run.stderr).toMatch(/Node\.js 22 or newer is needed .*nvm install 22/);
  });
});

describe("scripts/serverless.mjs (npm run deploy)", () => {
  it("refuses an empty value of a parameter whose default is not empty, in one line", () => {
    const run = node(["scripts/serverless.mjs", "package", "--param", "secretNamePrefix="]);

    expect(run.status).toBe(2);
    expect(run.stderr.trim()).toBe(
      "--param secretNamePrefix= has no value: give one, or leave the option out to keep its default",
    );
  });

  it("drops an empty allowedOuIds, whose default is empty, instead of letting osls refuse it", () => {
    const run = node(["scripts/serverless.mjs", "--version", "--param=allowedOuIds="]);

    expect(run.status).toBe(0);
    expect(`${run.stdout}${run.stderr}`).not.toContain('invalid "--param"');
  });
});
