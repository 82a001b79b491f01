/**
 * Operations endpoints: `GET /healthz` (api/models.py `Health`) and `GET /metrics` (Prometheus text).
 *
 * `/healthz` answers 503 with the same body when a check fails: that is data (the page shows which check
 * failed), not an error. Only an unreachable API or a body that is not a `Health` is an error.
 */
import { useQuery } from "@tanstack/react-query";

import { ApiError, getJson, getText } from "./http";

export interface HealthCheck {
  ok: boolean;
  detail: string;
  /** the measured value (seconds, for ages and lags) */
  value: number | null;
  threshold: number | null;
}

export interface Health {
  status: "ok" | "unhealthy";
  /** `database`, `indexer` (watermark lag), `runner` (heartbeat age), `events` (the live feed) */
  checks: Record<string, HealthCheck>;
}

function isHealth(value: unknown): value is Health {
  const v = value as Health;
  return typeof v === "object" && v !== null && typeof v.status === "string" && typeof v.checks === "object";
}

export async function fetchHealth(signal?: AbortSignal): Promise<Health> {
  try {
    return await getJson<Health>("/healthz", signal);
  } catch (error) {
    // 503 with a Health body: ApiError keeps the parsed body as `problem`.
    if (error instanceof ApiError && error.status === 503 && isHealth(error.problem)) return error.problem;
    throw error;
  }
}

export function fetchMetrics(signal?: AbortSignal): Promise<string> {
  return getText("/metrics", signal);
}

/** Refreshes every `intervalMs` while the tab is visible (react-query pauses intervals in hidden tabs). */
export function useHealth(intervalMs: number) {
  return useQuery({
    queryKey: ["healthz"],
    queryFn: ({ signal }) => fetchHealth(signal),
    refetchInterval: intervalMs,
    refetchIntervalInBackground: false,
    retry: false,
  });
}

export function useMetricsText(intervalMs: number) {
  return useQuery({
    queryKey: ["metrics"],
    queryFn: ({ signal }) => fetchMetrics(signal),
    refetchInterval: intervalMs,
    refetchIntervalInBackground: false,
    retry: false,
  });
}
