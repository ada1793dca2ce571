import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import type { TestProject } from "vitest/node";

declare module "vitest" {
  export interface ProvidedContext {
    packageDir: string;
  }
}

/**
 * Packages the service once for the whole run, offline and without AWS credentials, exactly as
 * `serverless deploy` would before uploading; template tests read what it wrote.
 */
export async function setup(project: TestProject) {
  const dir = await mkdtemp(join(tmpdir(), "byoc-package-"));
  const env = { ...process.env, AWS_ACCESS_KEY_ID: "", AWS_SECRET_ACCESS_KEY: "", AWS_PROFILE: "" };
  await promisify(execFile)(
    process.execPath,
    [
      "node_modules/osls/bin/serverless.js",
      "package",
      "--stage",
      "test",
      "--region",
      "us-east-1",
      "--package",
      dir,
    ],
    { env, timeout: 120_000 },
  );
  project.provide("packageDir", dir);
  return () => rm(dir, { recursive: true, force: true });
}
