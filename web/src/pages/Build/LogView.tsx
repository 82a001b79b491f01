/**
 * The build log: numbered lines, streamed. Lines live in chunks of `LOG_CHUNK`; each chunk is a memoised
 * component (a full chunk never re-renders) with `content-visibility: auto`, so thousands of lines cost
 * little: the browser lays out only the chunks on screen, and appending renders only the last one.
 *
 * The box follows new lines while it is scrolled to the bottom; scrolling up stops that (a button brings
 * it back).
 */
import { memo, useCallback, useLayoutEffect, useRef, useState } from "react";

import { LOG_CHUNK, type LogLine } from "./model";

const LINE_PX = 20;

const LogChunk = memo(function LogChunk({ lines }: { lines: readonly LogLine[] }) {
  const style =
    lines.length === LOG_CHUNK ? { containIntrinsicSize: `auto ${LOG_CHUNK * LINE_PX}px` } : { contentVisibility: "visible" as const };
  return (
    <div className="log-chunk" style={style}>
      {lines.map((l) => (
        <div key={l.line} className={`log-line log-${l.stream}`} data-no={l.line + 1}>
          {l.text}
        </div>
      ))}
    </div>
  );
});

export function LogView({
  chunks,
  lineCount,
  live,
  emptyText,
}: {
  chunks: readonly (readonly LogLine[])[];
  lineCount: number;
  live: boolean;
  emptyText: string;
}) {
  const box = useRef<HTMLDivElement>(null);
  const [follow, setFollow] = useState(true);
  const [seen, setSeen] = useState(0);

  const onScroll = useCallback(() => {
    const el = box.current;
    if (!el) return;
    const atBottom = el.scrollHeight - el.scrollTop - el.clientHeight < LINE_PX * 1.5;
    setFollow(atBottom);
  }, []);

  useLayoutEffect(() => {
    const el = box.current;
    if (el && follow) {
      el.scrollTop = el.scrollHeight;
      setSeen(lineCount);
    }
  }, [lineCount, follow]);

  const jump = () => {
    setFollow(true);
    const el = box.current;
    if (el) el.scrollTop = el.scrollHeight;
  };

  const unseen = follow ? 0 : lineCount - seen;
  return (
    <div className="log">
      <div
        ref={box}
        className="log-box"
        tabIndex={0}
        role="region"
        aria-label={`Build log, ${lineCount} ${lineCount === 1 ? "line" : "lines"}`}
        onScroll={onScroll}
        data-lines={lineCount}
      >
        {lineCount === 0 ? (
          <p className="log-empty">{emptyText}</p>
        ) : (
          chunks.map((chunk) => <LogChunk key={chunk[0]?.line ?? 0} lines={chunk} />)
        )}
      </div>
      {!follow && (
        <button type="button" className="log-follow" onClick={jump}>
          {live ? "Follow the log" : "Jump to the end"}
          {unseen > 0 ? ` (${unseen} new ${unseen === 1 ? "line" : "lines"})` : ""}
        </button>
      )}
    </div>
  );
}
