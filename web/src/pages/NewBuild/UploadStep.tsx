/**
 * Step 2: choose the build context (a folder or an archive: dropped, or picked with the keyboard), pack it into
 * the canonical bundle, refuse it if it is over the service's limit, and store it on Walrus with real progress.
 */
import { type DragEvent, useEffect, useId, useRef, useState } from "react";

import type { ApiConfig } from "../../api/config";
import { CopyButton } from "../../components/CopyButton";
import { ErrorBanner } from "../../components/ErrorBanner";
import { ProgressBar } from "../../components/ProgressBar";
import { formatBytes, percent } from "../../format";
import {
  isBundleError,
  type PackedBundle,
  type PackProgress,
  packSource,
  type Source,
  sourceFromArchiveInput,
  sourceFromDrop,
  sourceFromFolderInput,
} from "./pack";
import { storeBlob, type UploadHandle } from "./walrus";

export type PackState =
  | { status: "idle" }
  | { status: "packing"; progress: PackProgress | null }
  | { status: "done"; bundle: PackedBundle; tooLarge: boolean }
  | { status: "error"; error: unknown };

export type UploadState =
  | { status: "idle" }
  | { status: "uploading"; sent: number; total: number }
  | { status: "done"; blobId: string; reused: boolean }
  | { status: "error"; error: unknown };

const ARCHIVE_ACCEPT = ".tar,.tar.gz,.tgz,application/x-tar,application/gzip";

export function UploadStep({
  config,
  pack,
  setPack,
  upload,
  setUpload,
  onNewBundle,
}: {
  config: ApiConfig;
  pack: PackState;
  setPack: (state: PackState) => void;
  upload: UploadState;
  setUpload: (state: UploadState) => void;
  onNewBundle: () => void;
}) {
  const ids = { dockerfile: useId(), executable: useId(), hint: useId(), executableHint: useId() };
  const [source, setSource] = useState<Source | null>(null);
  const [dockerfile, setDockerfile] = useState("Dockerfile");
  const [executable, setExecutable] = useState("");
  const [dragging, setDragging] = useState(false);
  const folderInput = useRef<HTMLInputElement>(null);
  const archiveInput = useRef<HTMLInputElement>(null);
  const uploadHandle = useRef<UploadHandle | null>(null);
  const generation = useRef(0);

  // Pack whenever the source or the options change (options after a short pause in typing).
  useEffect(() => {
    if (!source) return;
    const run = ++generation.current;
    const timer = window.setTimeout(() => {
      uploadHandle.current?.abort();
      onNewBundle();
      setPack({ status: "packing", progress: null });
      packSource(source, {
        dockerfile: dockerfile.trim(),
        executable: executable.split(/[\s,]+/).filter(Boolean),
        onProgress: (progress) => run === generation.current && setPack({ status: "packing", progress }),
      }).then(
        (bundle) =>
          run === generation.current &&
          setPack({ status: "done", bundle, tooLarge: bundle.size > config.max_bundle_bytes }),
        (error: unknown) => run === generation.current && setPack({ status: "error", error }),
      );
    }, 250);
    return () => window.clearTimeout(timer);
    // eslint-disable-next-line react-hooks/exhaustive-deps -- repack on these only
  }, [source, dockerfile, executable, config.max_bundle_bytes]);

  useEffect(() => () => uploadHandle.current?.abort(), []);

  const choose = (next: Source | null) => {
    if (next) setSource(next);
  };

  const onDrop = (event: DragEvent<HTMLDivElement>) => {
    event.preventDefault();
    setDragging(false);
    sourceFromDrop(event.dataTransfer).then(choose, (error: unknown) => setPack({ status: "error", error }));
  };

  const store = () => {
    if (pack.status !== "done" || pack.tooLarge || !config.walrus_publisher_url) return;
    const body = new Blob([pack.bundle.bytes as Uint8Array<ArrayBuffer>], { type: "application/gzip" });
    setUpload({ status: "uploading", sent: 0, total: body.size });
    const handle = storeBlob(config.walrus_publisher_url, config.walrus_epochs, body, (sent, total) =>
      setUpload({ status: "uploading", sent, total }),
    );
    uploadHandle.current = handle;
    handle.promise.then(
      (stored) => uploadHandle.current === handle && setUpload({ status: "done", ...stored }),
      (error: unknown) => uploadHandle.current === handle && setUpload({ status: "error", error }),
    );
  };

  const busy = pack.status === "packing" || upload.status === "uploading";

  return (
    <section className="card step-card" aria-labelledby="step-upload">
      <h2 id="step-upload">
        <span className="step-number" aria-hidden="true">
          2
        </span>
        Upload the source
      </h2>

      <div className="field-row">
        <div className="field">
          <label htmlFor={ids.dockerfile}>Dockerfile path</label>
          <input
            id={ids.dockerfile}
            type="text"
            value={dockerfile}
            onChange={(event) => setDockerfile(event.target.value)}
            aria-describedby={ids.hint}
            spellCheck={false}
            autoComplete="off"
          />
          <p id={ids.hint} className="hint">
            Inside the build context; default <code>Dockerfile</code>.
          </p>
        </div>
        <div className="field">
          <label htmlFor={ids.executable}>Executable files (optional)</label>
          <input
            id={ids.executable}
            type="text"
            value={executable}
            onChange={(event) => setExecutable(event.target.value)}
            aria-describedby={ids.executableHint}
            placeholder="e.g. hello.sh bin/run"
            spellCheck={false}
            autoComplete="off"
          />
          <p id={ids.executableHint} className="hint">
            Browsers cannot see execute bits: name the files that must be executable (a folder only).
          </p>
        </div>
      </div>

      <div
        className={`drop-zone${dragging ? " dragging" : ""}`}
        onDragEnter={(event) => {
          event.preventDefault();
          setDragging(true);
        }}
        onDragOver={(event) => {
          event.preventDefault();
          event.dataTransfer.dropEffect = "copy";
        }}
        onDragLeave={(event) => {
          if (!event.currentTarget.contains(event.relatedTarget as Node | null)) setDragging(false);
        }}
        onDrop={onDrop}
        data-testid="drop-zone"
      >
        <p className="drop-title">Drop a folder or a .tar / .tar.gz archive here</p>
        <p className="muted">or</p>
        <div className="drop-actions">
          <button type="button" onClick={() => folderInput.current?.click()} disabled={busy}>
            Choose a folder…
          </button>
          <button type="button" onClick={() => archiveInput.current?.click()} disabled={busy}>
            Choose an archive…
          </button>
        </div>
        <input
          ref={folderInput}
          type="file"
          hidden
          multiple
          data-testid="folder-input"
          {...({ webkitdirectory: "" } as object)}
          onChange={(event) => {
            choose(sourceFromFolderInput(event.currentTarget.files ?? new DataTransfer().files));
            event.currentTarget.value = "";
          }}
        />
        <input
          ref={archiveInput}
          type="file"
          hidden
          accept={ARCHIVE_ACCEPT}
          data-testid="archive-input"
          onChange={(event) => {
            choose(sourceFromArchiveInput(event.currentTarget.files ?? new DataTransfer().files));
            event.currentTarget.value = "";
          }}
        />
        {source && (
          <p className="source-name">
            Source: <strong>{source.name}</strong>{" "}
            <span className="muted">
              ({source.kind === "folder" ? `${source.files.length} files chosen` : formatBytes(source.file.size)})
            </span>
          </p>
        )}
      </div>

      <div aria-live="polite" className="live">
        {pack.status === "packing" && <PackProgressBar progress={pack.progress} />}
      </div>

      {pack.status === "error" && (
        <ErrorBanner
          error={pack.error}
          title={isBundleError(pack.error) ? "This source cannot be packed" : "Packing failed"}
        />
      )}

      {pack.status === "done" && <BundleFacts bundle={pack.bundle} />}

      {pack.status === "done" && pack.tooLarge && (
        <div className="error-banner" role="alert">
          <strong>The bundle is too large</strong>
          <p>
            It is {formatBytes(pack.bundle.size)}; this service accepts bundles up to{" "}
            {formatBytes(config.max_bundle_bytes)}. Leave out what the build does not need with a{" "}
            <code>.dockerignore</code>, then choose the source again.
          </p>
        </div>
      )}

      {pack.status === "done" && !pack.tooLarge && (
        <div className="upload">
          {!config.walrus_publisher_url ? (
            <div className="error-banner" role="alert">
              <strong>No Walrus publisher</strong>
              <p>This service names no Walrus publisher, so the browser cannot store the bundle.</p>
            </div>
          ) : upload.status === "done" ? null : (
            <button type="button" className="primary" onClick={store} disabled={upload.status === "uploading"}>
              {upload.status === "error" ? "Try the upload again" : `Store on Walrus (${config.walrus_epochs} epochs)`}
            </button>
          )}
          <div aria-live="polite" className="live">
            {upload.status === "uploading" && (
              <ProgressBar
                label="Storing the bundle on Walrus"
                value={upload.sent}
                max={upload.total}
                text={`${formatBytes(upload.sent)} of ${formatBytes(upload.total)} (${percent(upload.sent, upload.total)})`}
              />
            )}
            {upload.status === "done" && (
              <p className="success">
                Stored on Walrus{upload.reused ? " (these bytes were already stored)" : ""}: blob{" "}
                <code className="break" data-testid="blob-id">
                  {upload.blobId}
                </code>{" "}
                <CopyButton value={upload.blobId} label="blob id" />
              </p>
            )}
          </div>
          {upload.status === "error" && <ErrorBanner error={upload.error} title="The bundle was not stored on Walrus" />}
        </div>
      )}
    </section>
  );
}

function PackProgressBar({ progress }: { progress: PackProgress | null }) {
  if (!progress) return <ProgressBar label="Packing the bundle" />;
  const label = progress.phase === "reading" ? "Reading the archive" : "Packing the bundle";
  return (
    <ProgressBar
      label={label}
      value={progress.bytesDone}
      max={Math.max(progress.bytesTotal, 1)}
      text={
        progress.filesTotal
          ? `${progress.filesDone} of ${progress.filesTotal} files, ${formatBytes(progress.bytesDone)}`
          : formatBytes(progress.bytesDone)
      }
    />
  );
}

function BundleFacts({ bundle }: { bundle: PackedBundle }) {
  return (
    <dl className="facts bundle-facts" data-testid="bundle-facts">
      <dt>Entries</dt>
      <dd>
        {bundle.entries} <span className="muted">({bundle.files} files, {formatBytes(bundle.unpackedBytes)} unpacked)</span>
      </dd>
      <dt>Size</dt>
      <dd>{formatBytes(bundle.size)}</dd>
      <dt>sha256</dt>
      <dd>
        <code className="break" data-testid="bundle-sha256">
          {bundle.sha256}
        </code>{" "}
        <CopyButton value={bundle.sha256} label="sha256" />
      </dd>
      <dt>Dockerfile</dt>
      <dd>
        <code>{bundle.dockerfile}</code>
      </dd>
    </dl>
  );
}
