import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { packageService } from "../support/package.ts";
import { MOTO_MISSING, motoInstalled, startMoto } from "./moto.ts";

declare module "vitest" {
  export interface ProvidedContext {
    /** moto_server's base URL; empty when moto is not installed (the suite then skips). */
    motoUrl: string;
    /** Where the suites write their tallies, printed once the run ends. */
    tallyFile: string;
    /** What `serverless package` wrote (the event rules are read from its template). */
    packageDir: string;
  }
}

/** One moto_server for the whole run, stopped by its pid however the run ends. */
export async function setup(project: TestProject) {
  const dir = await mkdtemp(join(tmpdir(), "byoc-conformance-"));
  const tallyFile = join(dir, "tally.txt");
  project.provide("tallyFile", tallyFile);
  project.provide("packageDir", join(dir, "package"));
  if (!motoInstalled()) {
    process.stdout.write(`${MOTO_MISSING}\n`);
    project.provide("motoUrl", "");
    return () => rm(dir, { recursive: true, force: true });
  }
  await packageService(join(dir, "package"));
  const moto = await startMoto();
  project.provide("motoUrl", moto.url);
  return async () => {
    await moto.stop();
    const tally = await readFile(tallyFile, "utf8").catch(() => "");
    if (tally) process.stdout.write(`\n${tally}\n`);
    await rm(dir, { recursive: true, force: true });
  };
}
