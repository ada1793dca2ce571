import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { packageService } from "./support/package.ts";

declare module "vitest" {
  export interface ProvidedContext {
    packageDir: string;
  }
}

/** Packages the service once for the whole run; template tests read what it wrote. */
export async function setup(project: TestProject) {
  const dir = await mkdtemp(join(tmpdir(), "byoc-package-"));
  await packageService(dir);
  project.provide("packageDir", dir);
  return () => rm(dir, { recursive: true, force: true });
}
