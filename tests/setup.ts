// Adds toHaveReceivedCommand… matchers for aws-sdk-client-mock to vitest's expect.
import "aws-sdk-client-mock-vitest/extend";
