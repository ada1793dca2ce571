import { Metrics } from "@aws-lambda-powertools/metrics";
import { describe, expect, it } from "vitest";
import { emitFleetMetric, FLEET_METRICS } from "../../../functions/lib/fleet-metrics.ts";
import { METRICS_NAMESPACE, SERVICE_NAME } from "../../../functions/lib/powertools.ts";
import { emittedDuring } from "../../support/emf.ts";

describe("fleet metrics", () => {
  it("are emitted at once with the service dimension only, whatever the step added", async () => {
    const [doc] = await emittedDuring(() => {
      // A registry like the functions' one, to which the step has added its own dimension.
      const registry = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: SERVICE_NAME });
      registry.addDimension("step", "recordSuccess");
      emitFleetMetric("onboardingDuration", 42, registry);
    });
    const aws = doc?._aws;
    expect(aws?.CloudWatchMetrics[0]?.Namespace).toBe(METRICS_NAMESPACE);
    expect(aws?.CloudWatchMetrics[0]?.Dimensions).toEqual([["service"]]);
    expect(doc?.service).toBe(SERVICE_NAME);
    expect(doc?.[FLEET_METRICS.onboardingDuration.name]).toBe(42);
  });

  it("have distinct names", () => {
    const names = Object.values(FLEET_METRICS).map((m) => m.name);
    expect(new Set(names).size).toBe(names.length);
  });
});
