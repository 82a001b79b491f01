/**
 * Storing the bundle on Walrus: `PUT {publisher}/v1/blobs?epochs=N` through XMLHttpRequest, whose
 * `upload.onprogress` reports real bytes sent (fetch cannot). The publisher allows CORS.
 */

export interface StoredBlob {
  blobId: string;
  /** `alreadyCertified`: the same bytes were stored before (nothing new was paid for) */
  reused: boolean;
}

export class WalrusError extends Error {
  readonly status: number | null;
  constructor(message: string, status: number | null = null) {
    super(message);
    this.name = "WalrusError";
    this.status = status;
  }
}

export interface UploadHandle {
  promise: Promise<StoredBlob>;
  abort: () => void;
}

export function storeBlob(
  publisherUrl: string,
  epochs: number,
  body: Blob,
  onProgress: (sent: number, total: number) => void,
): UploadHandle {
  const xhr = new XMLHttpRequest();
  const url = `${publisherUrl.replace(/\/+$/, "")}/v1/blobs?epochs=${encodeURIComponent(String(epochs))}`;
  const promise = new Promise<StoredBlob>((resolve, reject) => {
    xhr.open("PUT", url);
    xhr.responseType = "text";
    xhr.upload.onprogress = (event) => onProgress(event.loaded, event.lengthComputable ? event.total : body.size);
    xhr.onerror = () =>
      reject(
        new WalrusError(
          `The Walrus publisher at ${publisherUrl} cannot be reached (network error, or it refused this origin).`,
        ),
      );
    xhr.onabort = () => reject(new WalrusError("The upload was cancelled."));
    xhr.ontimeout = () => reject(new WalrusError("The Walrus publisher did not answer in time."));
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        try {
          resolve(parseStored(xhr.responseText));
        } catch (error) {
          reject(error);
        }
        return;
      }
      reject(new WalrusError(describeFailure(xhr.status, xhr.statusText, xhr.responseText), xhr.status));
    };
    xhr.send(body);
  });
  return { promise, abort: () => xhr.abort() };
}

function parseStored(text: string): StoredBlob {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new WalrusError("The Walrus publisher answered something that is not JSON.");
  }
  const body = json as {
    newlyCreated?: { blobObject?: { blobId?: unknown } };
    alreadyCertified?: { blobId?: unknown };
  };
  const created = body.newlyCreated?.blobObject?.blobId;
  if (typeof created === "string") return { blobId: created, reused: false };
  const certified = body.alreadyCertified?.blobId;
  if (typeof certified === "string") return { blobId: certified, reused: true };
  throw new WalrusError("The Walrus publisher's answer names no blob id.");
}

function describeFailure(status: number, statusText: string, text: string): string {
  if (status === 413) {
    return "The Walrus publisher refused the bundle as too large (HTTP 413). Make the build context smaller (a .dockerignore helps).";
  }
  let detail = "";
  try {
    const json = JSON.parse(text) as { error?: { message?: unknown } | string; message?: unknown };
    if (typeof json.error === "object" && typeof json.error?.message === "string") detail = json.error.message;
    else if (typeof json.error === "string") detail = json.error;
    else if (typeof json.message === "string") detail = json.message;
  } catch {
    detail = text.trim().slice(0, 500);
  }
  return `The Walrus publisher refused the upload: ${detail || statusText || "no reason given"} (HTTP ${status}).`;
}
