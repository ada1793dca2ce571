import type { APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import { expect, type MockInstance } from "vitest";

/** An HTTP answer that tells the caller nothing but that the service failed. */
export function expectInternalError(response: APIGatewayProxyStructuredResultV2): void {
  expect(response.statusCode).toBe(500);
  expect(response.body).toBe(JSON.stringify({ message: "internal error" }));
}

/** Every answer an internal error, and the bad setting named in the logs only. */
export function expectSettingFailure(
  responses: APIGatewayProxyStructuredResultV2[],
  logged: MockInstance,
  errorMessage: string,
): void {
  for (const response of responses) expectInternalError(response);
  expect(logged).toHaveBeenCalledWith(
    "request failed",
    expect.objectContaining({ errorName: "ConfigurationError", errorMessage }),
  );
}
