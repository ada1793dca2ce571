import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { availableParallelism, cpus, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type BundleFigures, measureBundle, packageService } from "./bundles.ts";

/*
 * `npm run bench`: measures the packaged functions and the local workflow, writes
 * bench/results.json and prints the figures. Not part of the test suite: timings vary by machine.
 */

const INIT_RUNS = 5;
const BURST_ACCOUNTS = 1000;
const ROOT = fileURLToPath(new URL("..", import.meta.url));
const RESULTS = fileURLToPath(new URL("results.json", import.meta.url));

type Figure = { value: number; unit: string };
const figure = (value: number, unit: string, digits = 0): Figure => ({
  value: Number(value.toFixed(digits)),
  unit,
});

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const upper = sorted[mid] ?? Number.NaN;
  return sorted.length % 2 === 1 ? upper : ((sorted[mid - 1] ?? Number.NaN) + upper) / 2;
}

async function measureBundles(): Promise<Record<string, BundleFigures & { module: string }>> {
  const dir = await mkdtemp(join(tmpdir(), "byoc-bench-package-"));
  try {
    const functions = await packageService(ROOT, dir);
    const figures: Record<string, BundleFigures & { module: string }> = {};
    for (const fn of functions)
      figures[fn.name] = { module: fn.module, ...(await measureBundle(fn, INIT_RUNS)) };
    return figures;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Columns padded to their widest cell; numbers right-aligned. */
function table(rows: (string | number)[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((row) => String(row[i] ?? "").length))) ?? [];
  return rows
    .map((row) =>
      row
        .map((cell, i) => {
          const width = widths[i] ?? 0;
          return typeof cell === "number" ? String(cell).padStart(width) : cell.padEnd(width);
        })
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

/** The workflow's size as written: the file serverless deploys, anchors and all. */
const DEFINITION = "statemachine/onboarding.asl.yml";
const definitionLines = (await readFile(join(ROOT, DEFINITION), "utf8")).trimEnd().split("\n").length;

const benchStart = performance.now();
const bundles = await measureBundles();

// The steps log every result at INFO; thousands of lines would swamp the table and time the
// terminal rather than the workflow. The loggers read the level when their module loads, hence
// the import after it is set.
process.env.POWERTOOLS_LOG_LEVEL = "SILENT";
const { measureBurst, measureOnboarding } = await import("./onboarding.ts");
const onboarding = await measureOnboarding();
const burst = await measureBurst(BURST_ACCOUNTS);
const benchMs = performance.now() - benchStart;

const runFigures = (run: (typeof onboarding)["fresh"]) => ({
  status: run.status,
  iamWrites: figure(run.iamWrites, "calls"),
  iamWriteCommands: run.iamWriteCommands,
  stateTransitions: figure(run.stateTransitions, "transitions"),
  lambdaInvocations: figure(run.lambdaInvocations, "invocations"),
  retries: figure(run.retries, "retries"),
});

const results = {
  date: new Date().toISOString(),
  node: process.version,
  machine: {
    cores: availableParallelism(),
    cpu: cpus()[0]?.model ?? "unknown",
    platform: process.platform,
    arch: process.arch,
    memory: figure(totalmem(), "bytes"),
  },
  functions: Object.fromEntries(
    Object.entries(bundles).map(([name, b]) => [
      name,
      {
        module: b.module,
        mjs: figure(b.mjsBytes, "bytes"),
        mjsDeflated: figure(b.mjsDeflatedBytes, "bytes"),
        zip: figure(b.zipBytes, "bytes"),
        zipEntries: b.zipEntries,
        init: {
          ...figure(median(b.initRunsMs), "ms", 1),
          statistic: `median of ${INIT_RUNS} fresh processes`,
        },
        initRuns: b.initRunsMs.map((ms) => figure(ms, "ms", 1)),
      },
    ]),
  ),
  definition: { file: DEFINITION, lines: figure(definitionLines, "lines") },
  onboarding: {
    settings: { keyPropagationMs: 0, pauseMs: 0 },
    fresh: runFigures(onboarding.fresh),
    rerun: runFigures(onboarding.rerun),
  },
  burst: {
    settings: {
      accounts: burst.accounts,
      keyPropagationMs: 0,
      pauseMs: 0,
      redisRateLimit: "none: lifted for the burst (why: bench/onboarding.ts)",
      logLevel: "SILENT",
    },
    wallTime: figure(burst.wallMs, "ms"),
    throughput: figure(burst.accounts / (burst.wallMs / 1000), "runs/s", 1),
    outcomes: burst.outcomes,
    redisRequests: figure(burst.redisRequests, "requests"),
    redisStatuses: burst.redisStatuses,
    stateTransitions: figure(burst.stateTransitions, "transitions"),
    lambdaInvocations: figure(burst.lambdaInvocations, "invocations"),
  },
  benchWallTime: figure(benchMs / 1000, "s", 1),
};
await writeFile(RESULTS, `${JSON.stringify(results, null, 2)}\n`);

const totals = Object.values(bundles);
console.log(
  table([
    ["function", "mjs bytes", "zip bytes", `init ms (median of ${INIT_RUNS})`],
    ...Object.entries(bundles).map(([name, b]) => [
      name,
      b.mjsBytes,
      b.zipBytes,
      median(b.initRunsMs).toFixed(1),
    ]),
    [
      "total",
      totals.reduce((sum, b) => sum + b.mjsBytes, 0),
      totals.reduce((sum, b) => sum + b.zipBytes, 0),
      "",
    ],
  ]),
);
console.log();
const { fresh, rerun } = onboarding;
console.log(
  table([
    [`one onboarding (local; ${DEFINITION}: ${definitionLines} lines)`, "fresh", "re-run"],
    ["status", fresh.status, rerun.status],
    ["IAM writes, target account (floor 12 / 0)", fresh.iamWrites, rerun.iamWrites],
    ["state transitions (StateEntered)", fresh.stateTransitions, rerun.stateTransitions],
    ["Lambda invocations", fresh.lambdaInvocations, rerun.lambdaInvocations],
    ["retries", fresh.retries, rerun.retries],
  ]),
);
console.log();
console.log(
  table([
    [`burst of ${burst.accounts} fresh accounts (local)`, ""],
    ["wall time (s)", (burst.wallMs / 1000).toFixed(1)],
    ["runs/s", results.burst.throughput.value.toFixed(1)],
    ["Redis API requests", burst.redisRequests],
    [
      "outcomes",
      Object.entries(burst.outcomes)
        .map(([k, n]) => `${k} ${n}`)
        .join(", "),
    ],
  ]),
);
console.log();
console.log(
  `node ${results.node}, ${results.machine.cores} cores (${results.machine.cpu}); bench ${results.benchWallTime.value} s; written to bench/results.json`,
);
