import { Metrics } from "@aws-lambda-powertools/metrics";
import { describe, expect, it, vi } from "vitest";
import { emitFleetMetric, FLEET_METRICS } from "../../../functions/lib/fleet-metrics.ts";
import { METRICS_NAMESPACE, SERVICE_NAME } from "../../../functions/lib/powertools.ts";

/** Emission on while `act` runs (the suite turns it off for every other test). */
function metricsOn<T>(act: () => T): T {
  const before = process.env.POWERTOOLS_METRICS_DISABLED;
  process.env.POWERTOOLS_METRICS_DISABLED = "false";
  try {
    return act();
  } finally {
    process.env.POWERTOOLS_METRICS_DISABLED = before;
  }
}

/** The EMF documents written while `act` runs. */
function emitted(act: () => void): Record<string, unknown>[] {
  const lines: string[] = [];
  const capture = (chunk: unknown) => {
    lines.push(String(chunk));
    return true;
  };
  const out = vi.spyOn(process.stdout, "write").mockImplementation(capture);
  const log = vi.spyOn(console, "log").mockImplementation((line: unknown) => void capture(line));
  try {
    act();
  } finally {
    out.mockRestore();
    log.mockRestore();
  }
  return lines
    .flatMap((text) => text.split("\n"))
    .filter((line) => line.includes("_aws"))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe("fleet metrics", () => {
  it("are emitted at once with the service dimension only, whatever the step added", () => {
    const [doc] = metricsOn(() => {
      // A registry like the functions' one, to which the step has added its own dimension.
      const registry = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: SERVICE_NAME });
      registry.addDimension("step", "recordSuccess");
      return emitted(() => emitFleetMetric("onboardingDuration", 42, registry));
    });
    const aws = doc?._aws as { CloudWatchMetrics: { Namespace: string; Dimensions: string[][] }[] };
    expect(aws.CloudWatchMetrics[0]?.Namespace).toBe(METRICS_NAMESPACE);
    expect(aws.CloudWatchMetrics[0]?.Dimensions).toEqual([["service"]]);
    expect(doc?.service).toBe(SERVICE_NAME);
    expect(doc?.[FLEET_METRICS.onboardingDuration.name]).toBe(42);
  });

  it("have distinct names", () => {
    const names = Object.values(FLEET_METRICS).map((m) => m.name);
    expect(new Set(names).size).toBe(names.length);
  });
});
