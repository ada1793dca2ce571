import { vi } from "vitest";

/*
 * Metrics as CloudWatch receives them: the EMF documents Powertools writes on stdout. The suite
 * turns emission off (vitest.config.ts); these helpers turn it on for one act and read what it wrote.
 */

export interface EmfDocument {
  _aws: { CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string }[] }[] };
  [key: string]: unknown;
}

/** The EMF documents written while `act` runs, emission on. */
export async function emittedDuring(act: () => unknown): Promise<EmfDocument[]> {
  const before = process.env.POWERTOOLS_METRICS_DISABLED;
  process.env.POWERTOOLS_METRICS_DISABLED = "false";
  const lines: string[] = [];
  const capture = (chunk: unknown) => {
    lines.push(String(chunk));
    return true;
  };
  const out = vi.spyOn(process.stdout, "write").mockImplementation(capture);
  const log = vi.spyOn(console, "log").mockImplementation((line: unknown) => void capture(line));
  try {
    await act();
  } finally {
    out.mockRestore();
    log.mockRestore();
    process.env.POWERTOOLS_METRICS_DISABLED = before;
  }
  return lines
    .flatMap((text) => text.split("\n"))
    .filter((line) => line.includes('"_aws"'))
    .map((line) => JSON.parse(line) as EmfDocument);
}

/** Each metric of the documents: its name, value, namespace and dimension names. */
export function metricsOf(documents: EmfDocument[]) {
  return documents.flatMap((doc) =>
    doc._aws.CloudWatchMetrics.flatMap((directive) =>
      directive.Metrics.map((metric) => ({
        name: metric.Name,
        value: doc[metric.Name],
        namespace: directive.Namespace,
        dimensions: directive.Dimensions,
        service: doc.service,
      })),
    ),
  );
}
