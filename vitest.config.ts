import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["tests/**/*.test.ts"],
    // The conformance suite needs moto_server: `npm run test:conformance` (vitest.conformance.config.ts).
    exclude: ["tests/conformance/**", "**/node_modules/**"],
    setupFiles: ["tests/setup.ts"],
    globalSetup: ["tests/global-setup.ts"],
    // Handlers read their settings at import; tests get the deployment's defaults.
    env: {
      POWERTOOLS_DEV: "false",
      POWERTOOLS_LOG_LEVEL: "SILENT",
      // EMF lines would fill the test output; tests that count metrics spy on the registry.
      POWERTOOLS_METRICS_DISABLED: "true",
      AWS_REGION: "us-east-1",
      // The trigger handlers read it at import; tests/support/aws.ts exports the same value.
      STATE_MACHINE_ARN:
        "arn:aws:states:us-east-1:111111111111:stateMachine:redis-cloud-byoc-test-onboarding",
      // The steps that record in the account registry; tests/support/aws.ts exports the same value.
      REGISTRY_TABLE_NAME: "redis-cloud-byoc-test-account-registry",
    },
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
