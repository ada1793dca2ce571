import type { EventLog } from "../workflow.ts";

/** One state's attempt, as the progress shows it. */
export interface StateLine {
  state: string;
  result: "ok" | "retried" | "caught" | "failed";
  /** The error's name, for anything but ok. */
  error?: string;
  ms: number;
}

type StateEvent = Extract<EventLog, { state: unknown }>;
const isStateEvent = (event: EventLog): event is StateEvent => "state" in event;

/**
 * Turns the execution's events into one line per state attempt. The event log says a state
 * failed before it says what came of it (StateFailed, then StateRetried after the pause, or
 * StateCaught), so a failure is held until the next event tells whether it was retried, caught
 * or final.
 */
export class Progress {
  readonly lines: StateLine[] = [];
  private started = 0;
  private failure: { state: string; error: string; at: number } | undefined;
  private caught: string | undefined;

  constructor(private readonly print: (line: StateLine) => void) {}

  handle(event: EventLog): void {
    const failure = this.failure;
    this.failure = undefined;
    if (failure && event.type === "StateRetried") {
      this.emit({
        state: failure.state,
        result: "retried",
        error: failure.error,
        ms: failure.at - this.started,
      });
      this.started = event.timestamp; // the next attempt starts after the pause
      return;
    }
    if (failure && event.type === "StateCaught") {
      this.emit({
        state: failure.state,
        result: "caught",
        error: failure.error,
        ms: failure.at - this.started,
      });
      this.caught = failure.state;
      return;
    }
    if (failure) {
      this.emit({
        state: failure.state,
        result: "failed",
        error: failure.error,
        ms: failure.at - this.started,
      });
    }
    if (!isStateEvent(event)) return;
    const state = event.state.name;
    if (event.type === "StateEntered") {
      this.started = event.timestamp;
      this.caught = undefined;
    } else if (event.type === "StateFailed") {
      this.failure = { state, error: event.Error, at: event.timestamp };
    } else if (event.type === "StateExited" && this.caught !== state) {
      this.emit({ state, result: "ok", ms: event.timestamp - this.started });
    }
  }

  private emit(line: StateLine): void {
    this.lines.push(line);
    this.print(line);
  }
}

export function formatLine(line: StateLine): string {
  const result = line.error ? `${line.result} (${line.error})` : line.result;
  return `  ${line.state.padEnd(25)} ${result.padEnd(28)} ${String(line.ms).padStart(5)} ms`;
}
