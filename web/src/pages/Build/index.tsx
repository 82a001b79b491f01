/**
 * `/builds/:id`: one build, live. The summary comes from `GET /v1/builds/{id}`; everything that moves (status,
 * steps, log lines) from the build's SSE stream, folded by `reduceEvents`. When the final event arrives the
 * summary is read again for the result (links, digests), and the verification runs.
 */
import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useMemo, useReducer, useRef, useState } from "react";

import { type BuildDetail, isFinal, isNotFound, useBuild } from "../../api/builds";
import { useConfig } from "../../api/config";
import { type BuildEvent, followBuildEvents, type StreamState } from "../../api/events";
import { ErrorBanner } from "../../components/ErrorBanner";
import { Link } from "../../router";
import { formatRelative, formatSui, formatTime } from "../../format";
import { StatusBadge } from "../Builds/StatusBadge";
import "./build.css";
import { LogView } from "./LogView";
import {
  describeErrorCode,
  FAILURE_CODES,
  initialLiveState,
  type LiveState,
  reduceEvents,
  stageViews,
  stepTimings,
} from "./model";
import { ResultPanel } from "./ResultPanel";
import { Steps } from "./Steps";
import { VerificationPanel } from "./VerificationPanel";

function reducer(state: LiveState, events: BuildEvent[]): LiveState {
  return reduceEvents(state, events);
}

export default function BuildPage({ id }: { id: string }) {
  // A new id is a new page: fresh state, fresh stream.
  return <BuildView key={id} id={id} />;
}

function BuildView({ id }: { id: string }) {
  const build = useBuild(id);
  const config = useConfig();
  const queryClient = useQueryClient();
  const [live, dispatch] = useReducer(reducer, initialLiveState);
  const [stream, setStream] = useState<StreamState>("connecting");
  const lastId = useRef(0);
  lastId.current = live.lastEventId;
  const exists = build.data !== undefined;

  useEffect(() => {
    if (!exists) return;
    return followBuildEvents(id, { after: lastId.current, onEvents: dispatch, onState: setStream });
  }, [id, exists]);

  // Settled: read the summary again for the result (and once more if the stream ended without a final event).
  const refetch = build.refetch;
  useEffect(() => {
    if (live.final || stream === "ended") void refetch();
  }, [live.final, stream, refetch]);

  const detailStatus = build.data?.status;
  useEffect(() => {
    if (detailStatus && isFinal(detailStatus)) void queryClient.invalidateQueries({ queryKey: ["builds"] });
  }, [detailStatus, queryClient]);

  if (build.data === undefined) {
    if (isNotFound(build.error)) {
      const waiting = build.fetchStatus === "fetching" || build.isRefetching || build.errorUpdateCount * 2000 < 60_000;
      return (
        <section>
          <h1>Build not found</h1>
          <p className="long-id">{id}</p>
          {waiting ? (
            <p role="status">
              No build with this id yet. A request that was just signed appears once the indexer has read its
              checkpoint: checking again every 2 seconds…
            </p>
          ) : (
            <p>
              No build has this id on this network. <Link href="/builds">See all builds</Link>.
            </p>
          )}
        </section>
      );
    }
    if (build.error) {
      return (
        <section>
          <h1>Build</h1>
          <ErrorBanner error={build.error} title="The build could not be loaded" onRetry={() => void build.refetch()} />
        </section>
      );
    }
    return (
      <section aria-busy="true">
        <h1>Build</h1>
        <p className="long-id">{id}</p>
        <p className="muted">Loading…</p>
      </section>
    );
  }
  return <BuildBody build={build.data} live={live} stream={stream} configData={config.data} />;
}

function BuildBody({
  build,
  live,
  stream,
  configData,
}: {
  build: BuildDetail;
  live: LiveState;
  stream: StreamState;
  configData: ReturnType<typeof useConfig>["data"];
}) {
  const detailFinal = isFinal(build.status);
  const status = detailFinal ? build.status : (live.status ?? build.status);
  const step = live.step ?? build.step;
  const settled = isFinal(status);
  const timings = useMemo(
    () => (detailFinal || live.stepEvents.length === 0 ? build.steps : stepTimings(live.stepEvents)),
    [detailFinal, live.stepEvents, build.steps],
  );
  const stages = useMemo(() => stageViews(timings, status), [timings, status]);
  const failedStage = stages.find((s) => s.state === "failed" && s.error);
  const errorCode = build.result?.error_code ?? (live.result?.error_code as number | undefined) ?? null;
  const errorMessage = build.result?.error_message ?? (live.result?.error_message as string | undefined) ?? null;

  const announce = announcement(status, step, stages);

  return (
    <article className="build" aria-labelledby="build-title" data-stream={stream}>
      <header className="build-head">
        <div className="build-title-row">
          <h1 id="build-title">Build</h1>
          <StatusBadge status={status} step={settled ? null : step} />
        </div>
        <p className="long-id build-id" data-testid="build-id">
          {build.request_id}
        </p>
        <dl className="build-facts">
          <div>
            <dt>Requested</dt>
            <dd title={formatTime(build.created_at_ms)}>{formatRelative(build.created_at_ms)}</dd>
          </div>
          <div>
            <dt>Requester</dt>
            <dd className="long-id">
              <Link href={`/builds?requester=${build.requester}`} title={`Builds of ${build.requester}`}>
                {build.requester}
              </Link>
            </dd>
          </div>
          <div>
            <dt>Platform</dt>
            <dd>{build.platform}</dd>
          </div>
          <div>
            <dt>Fee</dt>
            <dd>{formatSui(build.fee)}</dd>
          </div>
          {build.attempts > 1 && (
            <div>
              <dt>Attempts</dt>
              <dd>{build.attempts}</dd>
            </div>
          )}
        </dl>
        <p className="visually-hidden" role="status" aria-live="polite" data-testid="live-status">
          {announce}
        </p>
        {!settled && stream === "reconnecting" && (
          <p className="stream-note" role="status">
            Connection lost: reconnecting to the live events (nothing will be missed)…
          </p>
        )}
      </header>

      <section className="panel" aria-labelledby="progress-title">
        <h2 id="progress-title">Progress</h2>
        {status === "pending" && (step === null || step === "queued") && live.stepEvents.length === 0 && (
          <p className="muted">Requested on chain; waiting for a runner to pick it up.</p>
        )}
        <Steps stages={stages} settled={settled} />
      </section>

      {(status === "failed" || status === "cancelled") && (
        <section className="panel failure" aria-labelledby="failure-title">
          <h2 id="failure-title">{status === "failed" ? "Why it failed" : "Cancelled"}</h2>
          {status === "failed" ? (
            <>
              <p className="failure-code" data-testid="failure-code">
                {errorCode !== null ? (
                  <>
                    Error code <strong>{errorCode}</strong>
                    {FAILURE_CODES[errorCode] && <code> {FAILURE_CODES[errorCode]}</code>}
                    {errorMessage && <>: {errorMessage}</>}
                  </>
                ) : (
                  (errorMessage ?? "The runner posted a failure.")
                )}
              </p>
              {describeErrorCode(errorCode) && <p>This is {describeErrorCode(errorCode)}.</p>}
              {failedStage?.error && (
                <p className="failure-reason" data-testid="failure-reason">
                  <span className="muted">Reason: </span>
                  {failedStage.error}
                </p>
              )}
            </>
          ) : (
            <p>The requester cancelled this build after its deadline; the fee was refunded.</p>
          )}
        </section>
      )}

      {settled &&
        (build.result || build.status === "cancelled" ? (
          <ResultPanel build={build} config={configData} />
        ) : (
          <p className="muted">Reading the result…</p>
        ))}

      {detailFinal && build.status !== "cancelled" && <VerificationPanel id={build.request_id} />}

      <section className="panel" aria-labelledby="log-title">
        <div className="panel-head">
          <h2 id="log-title">Log</h2>
          <a href={build.links.logs} target="_blank" rel="noreferrer noopener">
            Plain text<span className="visually-hidden"> log (opens in a new tab)</span>
          </a>
        </div>
        <LogView
          chunks={live.chunks}
          lineCount={live.lineCount}
          live={!settled}
          emptyText={settled ? "This build wrote no log lines." : "No log lines yet: they appear here as the runner writes them."}
        />
      </section>

      <section className="panel" aria-labelledby="spec-title">
        <h2 id="spec-title">Specification</h2>
        <dl className="spec">
          <div>
            <dt>Dockerfile</dt>
            <dd>{build.spec.dockerfile_path}</dd>
          </div>
          <div>
            <dt>Source blob</dt>
            <dd className="long-id">{build.spec.source_blob_id}</dd>
          </div>
          <div>
            <dt>Source sha256</dt>
            <dd className="long-id">{build.spec.source_sha256}</dd>
          </div>
          <div>
            <dt>Spec digest</dt>
            <dd className="long-id">{build.spec.spec_digest}</dd>
          </div>
        </dl>
      </section>
    </article>
  );
}

/** One sentence for screen readers, changed only when the status or the stage changes (not per log line). */
function announcement(status: string, step: string | null, stages: ReturnType<typeof stageViews>): string {
  const running = stages.find((s) => s.state === "running" && s.stage !== "final");
  const failed = stages.find((s) => s.state === "failed" && s.stage !== "final");
  if (status === "succeeded") return "Build succeeded.";
  if (status === "failed") return `Build failed${failed ? ` while ${failed.stage}` : ""}.`;
  if (status === "cancelled") return "Build cancelled.";
  if (running) return `Build running: ${running.stage}.`;
  return step && step !== "queued" ? `Build ${step}.` : "Build requested, waiting for a runner.";
}
