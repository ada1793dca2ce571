import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { PERMANENT_ERRORS, TRANSIENT_ERRORS } from "../functions/lib/errors.ts";

/* The README's reference tables, held to what the code and serverless.yml define. */

const readme = readFileSync("README.md", "utf8");
const serverlessYml = readFileSync("serverless.yml", "utf8");

/** The first column of every row of the table whose header starts with `| header |`. */
function firstColumn(header: string): string[] {
  const start = readme.indexOf(`| ${header} |`);
  // A table ends at the first line that is not a row: a blank line splits it (the rest renders as text).
  const lines = readme.slice(start).split("\n");
  const rows = lines.slice(
    2,
    lines.findIndex((line) => !line.startsWith("|")),
  );
  return rows.map((row) => row.split("|")[1]?.trim().replace(/`/g, "") ?? "");
}

describe("README", () => {
  it("explains every error name a step can throw, and those a wait on the registrar ends with", () => {
    const documented = firstColumn("error").flatMap((cell) => cell.split(/,\s*/));
    const waits = ["States.Timeout", "States.HeartbeatTimeout"];

    expect(new Set(documented)).toEqual(new Set([...TRANSIENT_ERRORS, ...PERMANENT_ERRORS, ...waits]));
  });

  it("lists every deployment parameter in one unbroken table", () => {
    const defaults = serverlessYml.slice(
      serverlessYml.indexOf("params:"),
      serverlessYml.indexOf("\nprovider:"),
    );
    const names = [...defaults.matchAll(/^ {4}([A-Za-z]\w*):/gm)].map((match) => match[1]);

    expect(names.length).toBeGreaterThan(10);
    expect(firstColumn("parameter")).toEqual(names);
  });
});
