import { defineConfig } from "vitest/config";

/**
 * The conformance suite: the workflows against moto_server, an AWS emulator speaking the wire
 * protocols, and the same scenarios against the in-memory AWS. Separate from `npm test` so that
 * stays fast; `npm run test:conformance` runs it.
 */
export default defineConfig({
  test: {
    include: ["tests/conformance/**/*.test.ts"],
    globalSetup: ["tests/conformance/global-setup.ts"],
    // One moto_server, reset between scenarios: its files must not run at the same time.
    fileParallelism: false,
    env: {
      POWERTOOLS_DEV: "false",
      POWERTOOLS_LOG_LEVEL: "SILENT",
      // The scenarios prove AWS behaviour; metrics (EMF lines on stdout) are proven by npm test.
      POWERTOOLS_METRICS_DISABLED: "true",
      AWS_REGION: "us-east-1",
      // moto accepts any signature; fixed fake keys keep the default chain off the machine's own.
      AWS_ACCESS_KEY_ID: "AKIAIOSFODNN7EXAMPLE",
      AWS_SECRET_ACCESS_KEY: "conformance-not-a-secret",
      AWS_SESSION_TOKEN: "",
      AWS_PROFILE: "",
    },
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
