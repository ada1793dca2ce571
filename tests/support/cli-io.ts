import type { Io } from "../../local/start.ts";

/** The command's io, writing into strings the test reads: what `npm start` printed, and its errors. */
export function captureIo(env: Record<string, string | undefined> = {}): {
  io: Io;
  out: { stdout: string; stderr: string };
} {
  const out = { stdout: "", stderr: "" };
  const io: Io = {
    stdout: (text) => {
      out.stdout += text;
    },
    stderr: (text) => {
      out.stderr += text;
    },
    env,
  };
  return { io, out };
}
