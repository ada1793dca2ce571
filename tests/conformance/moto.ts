import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createServer } from "node:net";

/*
 * moto_server: AWS's wire protocols (IAM, STS, Secrets Manager, EventBridge, …) over real HTTP on
 * loopback, an AWS the project did not write. Started on a free port for one run, stopped by its pid.
 */

export const MOTO_MISSING =
  'moto_server is not installed: the conformance suite is skipped. Get it with `pip install "moto[server]"` (moto 5.2 or newer).';

export interface Moto {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

export function motoInstalled(): boolean {
  return spawnSync("moto_server", ["--help"], { stdio: "ignore" }).status === 0;
}

/** A port nothing listens on now: the OS picks it, then it is released for moto. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function ready(url: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`moto_server exited with ${child.exitCode}`);
    const answered = await fetch(`${url}/moto-api/`).then(
      (response) => response.ok,
      () => false,
    );
    if (answered) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`moto_server did not answer at ${url} within ${timeoutMs} ms`);
}

export async function startMoto(timeoutMs = 30_000): Promise<Moto> {
  const port = await freePort();
  const child = spawn("moto_server", ["-H", "127.0.0.1", "-p", String(port)], { stdio: "ignore" });
  const pid = child.pid;
  if (pid === undefined) throw new Error("moto_server could not be started");
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async () => {
    if (child.exitCode === null) process.kill(pid, "SIGTERM");
    await exited;
  };
  const url = `http://127.0.0.1:${port}`;
  try {
    await ready(url, child, timeoutMs);
  } catch (error) {
    await stop();
    throw error;
  }
  return { url, pid, stop };
}

/** Forgets every resource of every account: each scenario starts from an empty AWS. */
export async function resetMoto(url: string): Promise<void> {
  const response = await fetch(`${url}/moto-api/reset`, { method: "POST" });
  if (!response.ok) throw new Error(`moto reset answered ${response.status}`);
}
