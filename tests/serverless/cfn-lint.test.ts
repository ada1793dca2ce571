import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, inject, it } from "vitest";

/*
 * cfn-lint (AWS's CloudFormation linter) on the template `serverless package` wrote in the global
 * setup: no error, and no warning that .cfnlintrc does not ignore with its reason.
 */

const installed = spawnSync("cfn-lint", ["--version"], { stdio: "ignore" }).status === 0;
const WHY_SKIPPED = "cfn-lint is not installed (pip install cfn-lint): the packaged template is not linted";

describe.skipIf(!installed)(
  `the packaged template under cfn-lint${installed ? "" : ` (${WHY_SKIPPED})`}`,
  () => {
    it("has no error and no warning left unexplained", () => {
      const template = join(inject("packageDir"), "cloudformation-template-update-stack.json");

      // Run from the repository root, where cfn-lint reads .cfnlintrc.
      const lint = spawnSync("cfn-lint", ["--format", "parseable", template], { encoding: "utf8" });

      expect(lint.error).toBeUndefined();
      expect(lint.stdout.trim().split("\n").filter(Boolean)).toEqual([]);
      expect(lint.status).toBe(0);
    }, 120_000);
  },
);
