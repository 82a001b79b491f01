/**
 * `POST /v1/requests/prepare` and `/execute` (api/routes/requests.py): the API builds the unsigned
 * `request_build` transaction (gas coins, object versions, gas price), the wallet signs it, the API executes it.
 * The browser needs no Sui RPC of its own.
 */
import { ApiError, getJson, type Problem, postJson } from "./http";

/** api/models.py `PrepareBuildRequest` */
export interface PrepareBuildRequest {
  sender: string;
  source_blob_id: string;
  /** hex */
  source_sha256: string;
  dockerfile_path?: string;
  platform?: string;
  /** MIST; default the registry's minimum fee */
  fee?: number;
}

export interface BundleSummary {
  blob_id: string;
  sha256: string;
  dockerfile: string;
  platform: string;
}

/** What the wallet asks the user to sign, in words. */
export interface TransactionSummary {
  function: string;
  fee: number;
  gas_budget: number;
  gas_price: number;
  gas_coins: string[];
  bundle: BundleSummary;
  registry_id: string;
  package_id: string;
}

export interface PreparedTransaction {
  /** base64 of `bcs(TransactionData)`: sign exactly these bytes */
  tx_bytes: string;
  digest: string;
  sender: string;
  summary: TransactionSummary;
}

export interface ExecutedRequest {
  digest: string;
  request_id: string;
  status: string;
  checkpoint: number | null;
  explorer_tx_url: string;
  explorer_request_url: string;
}

/** api/models.py `RequestProblem`: problem details with the facts that apply. */
export interface RequestProblem extends Problem {
  needed?: number;
  available?: number;
  min_fee?: number;
  setting?: string;
  module?: string;
  function?: string;
  abort_code?: number;
  abort_name?: string;
  digest?: string;
}

export function prepareBuild(body: PrepareBuildRequest, signal?: AbortSignal): Promise<PreparedTransaction> {
  return postJson<PreparedTransaction>("/v1/requests/prepare", body, signal);
}

export function executeBuild(txBytes: string, signature: string, signal?: AbortSignal): Promise<ExecutedRequest> {
  return postJson<ExecutedRequest>("/v1/requests/execute", { tx_bytes: txBytes, signature }, signal);
}

/** The request-flow problem behind an error, if the API sent one. */
export function requestProblem(error: unknown): RequestProblem | null {
  return error instanceof ApiError && error.kind === "problem" ? (error.problem as RequestProblem | null) : null;
}

/** The problem's kind: the last segment of its `type` URI (`insufficient-balance`, `registry-paused`, ...). */
export function problemKind(error: unknown): string | null {
  const type = requestProblem(error)?.type;
  return type ? (type.split("/").pop() ?? null) : null;
}

/**
 * Waits until the API's indexer has seen a new request (it follows the chain's checkpoints, a moment behind
 * execution), polling the requester's builds so nothing answers 404 meanwhile. True once it is listed; false
 * when `timeoutMs` passed first (the request is on chain all the same).
 */
export async function waitUntilIndexed(
  requester: string,
  requestId: string,
  { timeoutMs = 15_000, intervalMs = 400, signal }: { timeoutMs?: number; intervalMs?: number; signal?: AbortSignal } = {},
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  const path = `/v1/builds?requester=${encodeURIComponent(requester)}&limit=20`;
  for (;;) {
    try {
      const page = await getJson<{ items: Array<{ request_id: string }> }>(path, signal);
      if (page.items.some((item) => item.request_id === requestId)) return true;
    } catch (error) {
      if (signal?.aborted) throw error;
      // the API hiccuped: try again until the deadline
    }
    if (Date.now() + intervalMs > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
