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
/** Fleets on the virtual clock: [accounts, seconds per Redis task]. */
const FLEETS = [
  [1, 30],
  [100, 30],
  [100, 120],
  [1000, 30],
  [1000, 120],
] as const;
/** Accounts of the burst whose Redis requests fault now and then (503, reset, answer lost). */
const FAULTY_FLEET = 100;
const ROOT = fileURLToPath(new URL("..", import.meta.url));
const RESULTS = fileURLToPath(new URL("results.json", import.meta.url));

// --- Bulk onboarding: `npm run bench -- --only bulk` measures the backfill alone (bench/bulk.ts) ---
const only = process.argv.indexOf("--only");
if (only !== -1) {
  if (process.argv[only + 1] !== "bulk") throw new Error("--only takes: bulk");
  process.env.POWERTOOLS_LOG_LEVEL = "SILENT";
  await (await import("./bulk.ts")).benchBulk(RESULTS);
  process.exit(0);
}

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
const { measureOnboarding } = await import("./onboarding.ts");
const { measureFleet } = await import("./fleet.ts");
const onboarding = await measureOnboarding();
const fleets = [];
for (const [accounts, taskSeconds] of FLEETS) {
  const started = performance.now();
  fleets.push({
    ...(await measureFleet(accounts, taskSeconds)),
    realSeconds: (performance.now() - started) / 1000,
  });
}
// Every 17th request answered 503, every 23rd reset, every 29th carried out with its answer lost.
let faultCount = 0;
const faulty = await measureFleet(FAULTY_FLEET, 30, {
  fault: () => {
    faultCount += 1;
    if (faultCount % 17 === 0) return { status: 503 };
    if (faultCount % 23 === 0) return "reset";
    return faultCount % 29 === 0 ? "lost" : undefined;
  },
});
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
  fleet: {
    settings: {
      clock: "virtual: the real definition and step code, every wait and pause as written",
      redis: "400 requests per sliding minute, one task at a time, 404 for 3 s after its POST",
      keyPropagationMs: 10_000,
      registrarBudgetPerMinute: 360,
      registrarMaxInFlight: 2,
      logLevel: "SILENT",
    },
    runs: fleets.map((f) => ({ ...f, realSeconds: Number(f.realSeconds.toFixed(1)) })),
    withFaults: { ...faulty, faults: "every 17th request 503, every 23rd reset, every 29th answer lost" },
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
    [
      "fleet (virtual clock)",
      "accounts",
      "task s",
      "succeeded",
      "total s",
      "× N×task",
      "req/onb",
      "429s",
      "max/60s",
      "states/onb",
    ],
    ...[...fleets, { ...faulty, realSeconds: 0 }].map((f, i) => [
      i === fleets.length ? "with faults" : "burst",
      f.accounts,
      f.taskSeconds,
      f.succeeded,
      f.totalSeconds,
      f.ofSerialFloor,
      f.requestsPerOnboarding,
      f.responses429,
      f.busiestMinute,
      f.stateTransitionsPerOnboarding,
    ]),
  ]),
);
console.log();
console.log(
  `node ${results.node}, ${results.machine.cores} cores (${results.machine.cpu}); bench ${results.benchWallTime.value} s; written to bench/results.json`,
);
// --- Bulk onboarding: the backfill through the bulk workflow, merged into results.json ---
await (await import("./bulk.ts")).benchBulk(RESULTS);
