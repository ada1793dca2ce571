import { emitFleetMetric, type FleetMetric } from "./fleet-metrics.ts";

/*
 * What one registrar tick tells the fleet's dashboard: the requests it sent to Redis Cloud's API
 * (each HTTP attempt, retries of a 429 included), the 429s it met, and the requests left waiting
 * in its queue when it ends.
 */

export type Emit = (metric: FleetMetric, value: number) => void;

export class TickMeter {
  requests = 0;
  throttled = 0;

  constructor(private readonly emit: Emit = emitFleetMetric) {}

  /** The fetch below the tick's budget: it sees every request that leaves, and every answer. */
  count(fetchImpl: typeof fetch): typeof fetch {
    return async (input, init) => {
      this.requests += 1;
      const response = await fetchImpl(input, init);
      if (response.status === 429) this.throttled += 1;
      return response;
    };
  }

  /** Once per tick that ran (a loop that found the lease held reports nothing: the holder does). */
  report(queueDepth: number): void {
    this.emit("registrarQueueDepth", queueDepth);
    this.emit("redisRequests", this.requests);
    this.emit("redisThrottled", this.throttled);
  }
}
