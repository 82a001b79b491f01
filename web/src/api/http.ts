/**
 * The one seam between the page and the DaaS API (same origin: the API serves this app at `/`).
 *
 * Every failure becomes an `ApiError`: `kind` says whether the API answered (`problem`, with the RFC 9457
 * problem details it sent), could not be reached (`unreachable`), or answered something that is not JSON
 * (`malformed`). Pages show `error.message`; it is written for a human.
 */

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance?: string;
  errors?: Array<Record<string, unknown>> | null;
}

export type ApiErrorKind = "problem" | "unreachable" | "malformed";

export class ApiError extends Error {
  readonly kind: ApiErrorKind;
  readonly status: number | null;
  readonly problem: Problem | null;

  constructor(kind: ApiErrorKind, message: string, status: number | null = null, problem: Problem | null = null) {
    super(message);
    this.name = "ApiError";
    this.kind = kind;
    this.status = status;
    this.problem = problem;
  }
}

async function request(path: string, init: RequestInit): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(path, init);
  } catch (cause) {
    if (init.signal?.aborted) throw cause;
    throw new ApiError("unreachable", "The DaaS API cannot be reached. Check your connection and that the API is running.");
  }
  if (!response.ok) {
    let problem: Problem | null = null;
    try {
      problem = (await response.json()) as Problem;
    } catch {
      // not problem+json (a proxy's error page, say): the status line is all there is
    }
    const detail = problem?.detail ?? problem?.title ?? response.statusText;
    throw new ApiError("problem", `${detail || "Request failed"} (HTTP ${response.status})`, response.status, problem);
  }
  return response;
}

async function json<T>(response: Response): Promise<T> {
  try {
    return (await response.json()) as T;
  } catch {
    throw new ApiError("malformed", `The API sent a response that is not JSON (${response.url})`, response.status);
  }
}

export async function getJson<T>(path: string, signal?: AbortSignal): Promise<T> {
  return json<T>(await request(path, { headers: { Accept: "application/json" }, signal }));
}

export async function getText(path: string, signal?: AbortSignal): Promise<string> {
  return (await request(path, { signal })).text();
}

export async function postJson<T>(path: string, body: unknown, signal?: AbortSignal): Promise<T> {
  return json<T>(
    await request(path, {
      method: "POST",
      headers: { Accept: "application/json", "Content-Type": "application/json" },
      body: JSON.stringify(body),
      signal,
    }),
  );
}
