/**
 * Live events of one build, by Server-Sent Events (`GET /v1/builds/{id}/events`).
 *
 * Each event has `id:` (the global, increasing event id), `event:` (`status`, `step`, `log`, `result`) and a
 * JSON `data:` (api/models.py `EventData`). On a dropped connection EventSource reconnects by itself and sends
 * `Last-Event-ID`, so the server resumes after the last event we got. When EventSource gives up (it closes
 * on an HTTP error, or the browser stops retrying while offline) we open a new one with `?after=<last id>`.
 * The final event (`final: true`: the result is on chain) is not the last one: the runner may still be writing
 * its closing log lines, and the server ends the stream once it has released the build. We read on until the
 * server closes the stream, then one request (answered 204: nothing more will come) ends it for good.
 */

export type EventKind = "status" | "step" | "log" | "result";

export interface BuildEvent {
  id: number;
  build_id: string;
  kind: EventKind;
  created_at_ms: number;
  final: boolean;
  payload: Record<string, unknown>;
}

export interface LogLinePayload {
  line: number;
  stream: string;
  text: string;
}

export type StreamState = "connecting" | "open" | "reconnecting" | "ended";

export interface BuildEventsOptions {
  /** resume after this event id (nothing at or below it is sent) */
  after?: number | null;
  onEvents: (events: BuildEvent[]) => void;
  onState: (state: StreamState) => void;
  /** batching window: events arriving within it reach `onEvents` together (one render, not one per event) */
  batchMs?: number;
}

const KINDS: readonly EventKind[] = ["status", "step", "log", "result"];
const MAX_BACKOFF_MS = 30_000;

export function eventsUrl(buildId: string, after: number | null): string {
  const base = `/v1/builds/${encodeURIComponent(buildId)}/events`;
  return after !== null && after > 0 ? `${base}?after=${after}` : base;
}

export function parseEvent(data: string): BuildEvent | null {
  try {
    const value = JSON.parse(data) as BuildEvent;
    if (typeof value?.id !== "number" || typeof value.kind !== "string" || typeof value.payload !== "object") {
      return null;
    }
    return value;
  } catch {
    return null;
  }
}

/** Follow a build's events until the server says there are no more; returns `close`. */
export function followBuildEvents(buildId: string, options: BuildEventsOptions): () => void {
  const batchMs = options.batchMs ?? 50;
  let lastId = options.after ?? 0;
  let source: EventSource | null = null;
  let closed = false;
  let reopenTimer: ReturnType<typeof setTimeout> | undefined;
  let flushTimer: ReturnType<typeof setTimeout> | undefined;
  let backoffMs = 1000;
  let pending: BuildEvent[] = [];
  let state: StreamState | null = null;
  let sawFinal = false;

  const setState = (next: StreamState) => {
    if (next !== state) {
      state = next;
      options.onState(next);
    }
  };

  const flush = () => {
    flushTimer = undefined;
    if (pending.length === 0) return;
    const batch = pending;
    pending = [];
    options.onEvents(batch);
  };

  const finish = () => {
    flush();
    stop();
    setState("ended");
  };

  const stop = () => {
    closed = true;
    clearTimeout(reopenTimer);
    clearTimeout(flushTimer);
    window.removeEventListener("online", onOnline);
    source?.close();
    source = null;
  };

  const onMessage = (message: MessageEvent<string>) => {
    const event = parseEvent(message.data);
    if (event === null || event.id <= lastId) return; // a repeat (or garbage): never shown twice
    lastId = event.id;
    backoffMs = 1000;
    pending.push(event);
    if (event.final) {
      sawFinal = true;
      flush(); // show the settled build at once; the runner's last lines may follow
      return;
    }
    flushTimer ??= setTimeout(flush, batchMs);
  };

  const open = () => {
    if (closed) return;
    clearTimeout(reopenTimer);
    setState(state === null ? "connecting" : "reconnecting");
    const es = new EventSource(eventsUrl(buildId, lastId));
    source = es;
    es.onopen = () => setState("open");
    es.onerror = () => {
      if (closed || source !== es) return;
      if (es.readyState === EventSource.CONNECTING && !sawFinal) {
        setState("reconnecting"); // the browser retries by itself, with Last-Event-ID
        return;
      }
      // CLOSED: a 204 (the build is settled and we hold its every event), an HTTP error, or the browser gave
      // up retrying; or the server ended the stream after the final event. Ask once what it was, then either
      // stop or open a new stream with `after`.
      es.close();
      source = null;
      setState("reconnecting");
      void probe();
    };
    for (const kind of KINDS) es.addEventListener(kind, onMessage as EventListener);
  };

  const retryLater = () => {
    if (closed) return;
    reopenTimer = setTimeout(open, backoffMs);
    backoffMs = Math.min(backoffMs * 2, MAX_BACKOFF_MS);
  };

  const probe = async () => {
    const controller = new AbortController();
    try {
      const response = await fetch(eventsUrl(buildId, lastId), {
        headers: { Accept: "text/event-stream" },
        signal: controller.signal,
      });
      controller.abort(); // only the status matters: the EventSource reads the stream
      if (closed) return;
      if (response.status === 204) finish();
      else if (response.ok) open();
      else retryLater();
    } catch {
      retryLater(); // unreachable: the `online` event or the timer reopens
    }
  };

  const onOnline = () => {
    if (!closed && source === null) open();
  };

  window.addEventListener("online", onOnline);
  open();
  return () => {
    flush();
    stop();
  };
}
