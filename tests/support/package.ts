import { execFile } from "node:child_process";
import { promisify } from "node:util";

/**
 * `serverless package` into `dir`, offline and without AWS credentials, exactly as
 * `serverless deploy` would before uploading.
 */
export async function packageService(dir: string): Promise<void> {
  const env = { ...process.env, AWS_ACCESS_KEY_ID: "", AWS_SECRET_ACCESS_KEY: "", AWS_PROFILE: "" };
  delete (env as Record<string, string | undefined>).AWS_ENDPOINT_URL;
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
    // About 50 functions bundled one by one: a minute on a quiet 2-core machine, several on a busy one.
    { env, timeout: 600_000 },
  );
}
