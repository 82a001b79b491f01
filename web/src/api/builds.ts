/**
 * `/v1/builds`: the list (filters, keyset pages), one build, its log, its Kubernetes manifest and the
 * server-side verification. Types mirror api/models.py (`BuildSummary`, `BuildDetail`, `BuildPage`, ...).
 */
import { keepPreviousData, useInfiniteQuery, useQuery } from "@tanstack/react-query";

import { ApiError, getJson, getText } from "./http";

export type BuildStatus = "pending" | "succeeded" | "failed" | "cancelled";
export type BuildStep = "queued" | "fetching" | "building" | "exporting" | "attesting" | "submitting" | "done";

export const BUILD_STATUSES: readonly BuildStatus[] = ["pending", "succeeded", "failed", "cancelled"];

export interface BuildLinks {
  self: string;
  events: string;
  logs: string;
  kubernetes: string | null;
  explorer: string;
}

export interface BuildSummary {
  request_id: string;
  requester: string;
  status: BuildStatus;
  step: BuildStep | null;
  platform: string;
  /** MIST */
  fee: number;
  created_at_ms: number;
  deadline_ms: number;
  updated_at_ms: number;
  links: BuildLinks;
}

export interface BuildSpec {
  source_blob_id: string;
  source_sha256: string;
  dockerfile_path: string;
  platform: string;
  spec_digest: string;
  source_url: string;
}

export interface StepTiming {
  step: BuildStep;
  attempt: number | null;
  started_at_ms: number;
  ended_at_ms: number | null;
  duration_ms: number | null;
  ok: boolean | null;
  error: string | null;
}

export interface BuildResult {
  succeeded: boolean;
  enclave_id: string | null;
  image_digest: string | null;
  image_index_blob_id: string | null;
  image_reference: string | null;
  log_digest: string | null;
  log_blob_id: string | null;
  error_code: number | null;
  error_message: string | null;
  timestamp_ms: number | null;
  tx_digest: string | null;
  checkpoint: number | null;
  explorer_tx_url: string | null;
  explorer_enclave_url: string | null;
  image_index_url: string | null;
  log_url: string | null;
}

export interface BuildDetail extends BuildSummary {
  spec: BuildSpec;
  attempts: number;
  request_tx_digest: string | null;
  request_checkpoint: number | null;
  explorer_request_tx_url: string | null;
  steps: StepTiming[];
  result: BuildResult | null;
}

export interface BuildPage {
  items: BuildSummary[];
  /** path + query of the next page (same filters); null on the last page */
  next: string | null;
}

export interface VerificationCheck {
  name: string;
  ok: boolean;
  detail: string;
  /** passed, but with something the user should know */
  warning: boolean;
}

export interface Verification {
  request_id: string;
  ok: boolean;
  checks: VerificationCheck[];
  /** the on-chain status the checks read */
  status?: string | null;
  result_tx_digest?: string | null;
  warnings?: string[];
}

export interface BuildFilters {
  status?: BuildStatus | undefined;
  requester?: string | undefined;
  limit?: number | undefined;
}

export function buildsPath(filters: BuildFilters): string {
  const query = new URLSearchParams();
  if (filters.status) query.set("status", filters.status);
  if (filters.requester) query.set("requester", filters.requester);
  if (filters.limit) query.set("limit", String(filters.limit));
  const text = query.toString();
  return text ? `/v1/builds?${text}` : "/v1/builds";
}

export function buildPath(id: string): string {
  return `/v1/builds/${encodeURIComponent(id)}`;
}

export function isFinal(status: BuildStatus): boolean {
  return status !== "pending";
}

/** One page after another: the first from the filters, the rest from each page's `next` link. */
export function useBuildList(filters: BuildFilters, refetchInterval: number | false = false) {
  return useInfiniteQuery({
    refetchInterval,
    refetchIntervalInBackground: false,
    queryKey: ["builds", filters.status ?? null, filters.requester ?? null, filters.limit ?? null],
    queryFn: ({ pageParam, signal }) => getJson<BuildPage>(pageParam, signal),
    initialPageParam: buildsPath(filters),
    getNextPageParam: (last) => last.next ?? undefined,
    placeholderData: keepPreviousData,
  });
}

export function isNotFound(error: unknown): boolean {
  return error instanceof ApiError && error.status === 404;
}

/**
 * One build. A 404 is asked again every 2 s for a while: a request just signed in the browser reaches the
 * API only once the indexer has seen its checkpoint.
 */
export function useBuild(id: string, waitForIndexerMs = 60_000) {
  return useQuery({
    queryKey: ["build", id],
    queryFn: ({ signal }) => getJson<BuildDetail>(buildPath(id), signal),
    retry: (count, error) => !isNotFound(error) && count < 2,
    refetchInterval: (query) =>
      isNotFound(query.state.error) && query.state.errorUpdateCount * 2000 < waitForIndexerMs ? 2000 : false,
  });
}

/** The Deployment (and Service) YAML for a succeeded build's image. */
export function useKubernetesManifest(path: string | null) {
  return useQuery({
    queryKey: ["kubernetes", path],
    queryFn: ({ signal }) => getText(path as string, signal),
    enabled: path !== null,
    staleTime: Infinity,
  });
}

/** `daas verify`'s checks, run by the API; takes a few seconds, so only when asked for (or once settled). */
export function useVerification(id: string, enabled: boolean) {
  return useQuery({
    queryKey: ["verification", id],
    queryFn: ({ signal }) => getJson<Verification>(`${buildPath(id)}/verification`, signal),
    enabled,
    staleTime: Infinity,
    retry: false,
  });
}
