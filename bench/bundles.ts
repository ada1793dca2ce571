import { execFile } from "node:child_process";
import { cp, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join, relative, sep } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { resolveIntrinsics, type Stack } from "../tests/support/cfn.ts";
import { readZip } from "./zip.ts";

const run = promisify(execFile);

/** A function as serverless packaged it: its zip and what Lambda would give it at cold start. */
export interface PackagedFunction {
  name: string;
  zipPath: string;
  /** The module inside the zip, e.g. `functions/validate-input.mjs`. */
  module: string;
  /** The handler's export name, e.g. `handler`. */
  exportName: string;
  environment: Record<string, string>;
  memorySize: number;
}

export interface BundleFigures {
  mjsBytes: number;
  zipBytes: number;
  /** Compressed bytes of the module's entry alone (the zip adds headers and any other entries). */
  mjsDeflatedBytes: number;
  zipEntries: number;
  /** Milliseconds of each fresh process's `import()` of the module. */
  initRunsMs: number[];
}

type CfnResource = {
  Type: string;
  Properties: {
    Handler: string;
    Code: { S3Key: string };
    MemorySize?: number;
    Environment?: { Variables?: Record<string, unknown> };
    StateMachineName?: string;
    TableName?: string;
  };
};
type Template = {
  Resources: Record<string, CfnResource>;
  Parameters?: Record<string, { Default?: string }>;
};

/** Top-level entries of the working tree that packaging does not read, or that are another run's. */
const NOT_COPIED = new Set([".git", ".tools", "node_modules", ".esbuild", ".serverless", "bench"]);

/**
 * Packages the service as `serverless deploy` would, offline and without AWS credentials (as
 * tests/global-setup.ts does); answers each function read from the template it wrote, so that the
 * environment measured is the deployed one, params resolved. It packages a copy of the working
 * tree in `scratch`: serverless-esbuild builds in the service's `.esbuild` dir and empties it when
 * done, so two runs in one dir (the bench and a test run's global setup) take each other's files.
 */
export async function packageService(root: string, scratch: string): Promise<PackagedFunction[]> {
  const service = join(scratch, "service");
  const dir = join(scratch, "package");
  await cp(root, service, {
    recursive: true,
    filter: (source) => !NOT_COPIED.has(relative(root, source).split(sep)[0] ?? ""),
  });
  await symlink(join(root, "node_modules"), join(service, "node_modules"), "dir");
  const env = { ...process.env, AWS_ACCESS_KEY_ID: "", AWS_SECRET_ACCESS_KEY: "", AWS_PROFILE: "" };
  await run(
    process.execPath,
    [
      "node_modules/osls/bin/serverless.js",
      "package",
      "--stage",
      "bench",
      "--region",
      "us-east-1",
      "--package",
      dir,
    ],
    { cwd: service, env, timeout: 180_000 },
  );
  const file = join(dir, "cloudformation-template-update-stack.json");
  const template = JSON.parse(await readFile(file, "utf8")) as Template;
  return Object.values(template.Resources)
    .filter((resource) => resource.Type === "AWS::Lambda::Function")
    .map(({ Properties: p }) => {
      const zip = basename(p.Code.S3Key);
      const dot = p.Handler.lastIndexOf(".");
      return {
        name: zip.replace(/\.zip$/, ""),
        zipPath: join(dir, zip),
        module: `${p.Handler.slice(0, dot)}.mjs`,
        exportName: p.Handler.slice(dot + 1),
        environment: coldStartEnvironment(template, p.Environment?.Variables ?? {}),
        memorySize: p.MemorySize ?? 1024,
      };
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * The template's variables, resolved as CloudFormation would in a made-up account: a state
 * machine's Ref to its ARN, a table's to its name, a role's or key's ARN, the stack parameters'
 * defaults. A handler must not call AWS at import, but it may check its settings' shapes there.
 */
function coldStartEnvironment(
  template: Template,
  variables: Record<string, unknown>,
): Record<string, string> {
  const account = "111111111111";
  const refs: Record<string, string> = {};
  const attributes: Record<string, string> = {};
  for (const [id, resource] of Object.entries(template.Resources)) {
    if (resource.Type === "AWS::StepFunctions::StateMachine") {
      refs[id] =
        `arn:aws:states:us-east-1:${account}:stateMachine:${resource.Properties.StateMachineName ?? id}`;
    } else if (resource.Type === "AWS::DynamoDB::Table") {
      refs[id] = resource.Properties.TableName ?? id;
    } else if (resource.Type === "AWS::IAM::Role") {
      attributes[`${id}.Arn`] = `arn:aws:iam::${account}:role/${id}`;
    } else if (resource.Type === "AWS::KMS::Key") {
      attributes[`${id}.Arn`] = `arn:aws:kms:us-east-1:${account}:key/00000000-0000-4000-8000-000000000000`;
    }
  }
  for (const [id, parameter] of Object.entries(template.Parameters ?? {})) refs[id] = parameter.Default ?? "";
  const stack: Stack = { partition: "aws", region: "us-east-1", accountId: account, refs, attributes };
  return Object.fromEntries(
    Object.entries(variables).map(([key, value]) => [key, String(resolveIntrinsics(value, stack))]),
  );
}

/**
 * Sizes of the function's package, then its import times: the module is extracted to a scratch
 * dir and imported by `runs` fresh `node` processes, one after the other so that they do not
 * compete for the CPU.
 */
export async function measureBundle(fn: PackagedFunction, runs: number): Promise<BundleFigures> {
  const zip = await readFile(fn.zipPath);
  const entries = readZip(zip);
  const entry = entries.find((e) => e.name === fn.module);
  if (!entry) throw new Error(`${fn.name}: ${fn.module} is not in its zip`);
  const scratch = await mkdtemp(join(tmpdir(), `byoc-bench-${fn.name}-`));
  try {
    const file = join(scratch, fn.module);
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, entry.read());
    const initRunsMs: number[] = [];
    for (let i = 0; i < runs; i += 1) initRunsMs.push(await importTime(fn, file));
    return {
      mjsBytes: entry.size,
      zipBytes: (await stat(fn.zipPath)).size,
      mjsDeflatedBytes: entry.compressedSize,
      zipEntries: entries.length,
      initRunsMs,
    };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/*
 * Run by each child: times only the import (module evaluation, the SDK clients and loggers made
 * at load), not Node's own start. It exits once it has reported, so that a handle left open at
 * load cannot stall the bench; it checks the handler is there, so a broken bundle cannot pass
 * for a fast one.
 */
const CHILD = `
const [url, exportName] = process.argv.slice(1);
const start = performance.now();
const loaded = await import(url);
const ms = performance.now() - start;
if (typeof loaded[exportName] !== "function") throw new Error("no handler " + exportName);
process.stdout.write("\\n" + JSON.stringify({ ms }) + "\\n");
process.exit(0);
`;

async function importTime(fn: PackagedFunction, file: string): Promise<number> {
  // Only what Lambda sets: no AWS credentials, profile or compile cache of this machine leaks in.
  const env = {
    PATH: process.env.PATH ?? "",
    AWS_REGION: "us-east-1",
    AWS_DEFAULT_REGION: "us-east-1",
    AWS_LAMBDA_FUNCTION_NAME: `redis-cloud-byoc-bench-${fn.name}`,
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(fn.memorySize),
    ...fn.environment,
  };
  const { stdout } = await run(
    process.execPath,
    ["--input-type=module", "-e", CHILD, pathToFileURL(file).href, fn.exportName],
    { env, timeout: 30_000 },
  );
  // The module may log while it loads: the report is the last line.
  const last = stdout.trim().split("\n").at(-1) ?? "";
  return (JSON.parse(last) as { ms: number }).ms;
}
