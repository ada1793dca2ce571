// `npm run deploy -- [options]`: `serverless deploy`, with empty --param values made to work.
// osls parses --param with /key=(.+)/, so `--param="allowedOuIds="` is refused, and since every
// ${param:…} in serverless.yml re-reads that parse, the one mistake is reported once per reference
// (25 lines). Here an empty value means the parameter's empty default, or fails in one line.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";

/** The parameters whose default in serverless.yml is empty: `    name: ""` under params.default. */
function emptyDefaults() {
  const yml = readFileSync(new URL("../serverless.yml", import.meta.url), "utf8");
  return new Set([...yml.matchAll(/^ {4}([A-Za-z]\w*): ""\s*$/gm)].map((match) => match[1]));
}

/** The arguments for osls, without the empty --param values it would refuse. */
export function withoutEmptyParams(args, empty = emptyDefaults()) {
  const kept = [];
  for (let i = 0; i < args.length; i += 1) {
    const inline = args[i].startsWith("--param=");
    const value = inline ? args[i].slice("--param=".length) : args[i] === "--param" ? args[i + 1] : undefined;
    if (value === undefined || !/^[^=]+=\s*$/.test(value)) {
      kept.push(args[i]);
      continue;
    }
    if (!inline) i += 1;
    const name = value.slice(0, value.indexOf("="));
    if (!empty.has(name)) {
      throw new Error(`--param ${name}= has no value: give one, or leave the option out to keep its default`);
    }
  }
  return kept;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  let args;
  try {
    args = withoutEmptyParams(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${error.message}\n`);
    process.exit(2);
  }
  const osls = new URL("../node_modules/osls/bin/serverless.js", import.meta.url).pathname;
  const run = spawnSync(process.execPath, [osls, ...args], { stdio: "inherit" });
  process.exit(run.status ?? 1);
}
