/** `daas verify`, run by the API: every claim re-derived from the chain and Walrus, as a checklist. */
import { useVerification } from "../../api/builds";
import { ErrorBanner } from "../../components/ErrorBanner";

export function VerificationPanel({ id }: { id: string }) {
  const verification = useVerification(id, true);
  const { data, error, isFetching } = verification;
  const failed = data?.checks.filter((c) => !c.ok) ?? [];
  const warned = data?.checks.filter((c) => c.ok && c.warning) ?? [];

  return (
    <section className="panel verification" aria-labelledby="verification-title" aria-busy={isFetching}>
      <div className="panel-head">
        <h2 id="verification-title">Verification</h2>
        <button type="button" onClick={() => void verification.refetch()} disabled={isFetching}>
          {isFetching ? "Verifying…" : "Verify again"}
        </button>
      </div>
      <p className="muted">
        The same checks as <code>daas verify {id.slice(0, 10)}…</code>: read from the chain and Walrus alone, not
        from our database.
      </p>
      <div role="status" aria-live="polite" className="verdict-live">
        {isFetching ? (
          <p className="verdict verdict-running">
            <span className="spinner" aria-hidden="true" /> Verifying: reading the chain and Walrus, this can take a
            few seconds…
          </p>
        ) : data ? (
          <p className={`verdict ${data.ok ? "verdict-ok" : "verdict-fail"}`} data-ok={data.ok}>
            {data.ok
              ? `Verified: all ${data.checks.length} checks passed${warned.length ? ` (${warned.length} with a warning)` : ""}.`
              : `Not verified: ${failed.length} of ${data.checks.length} checks failed.`}
          </p>
        ) : null}
      </div>
      {error && !isFetching && (
        <ErrorBanner error={error} title="Verification could not run" onRetry={() => void verification.refetch()} />
      )}
      {data && (
        <ul className={`checks ${isFetching ? "stale" : ""}`}>
          {data.checks.map((c) => {
            const kind = !c.ok ? "fail" : c.warning ? "warn" : "pass";
            return (
              <li key={c.name} className={`check check-${kind}`} data-check={c.name} data-result={kind}>
                <span className="check-mark" aria-hidden="true">
                  {kind === "pass" ? "✓" : kind === "warn" ? "!" : "✗"}
                </span>
                <span className="check-name">{c.name}</span>
                <span className="check-result">{kind === "pass" ? "passed" : kind === "warn" ? "warning" : "failed"}</span>
                <span className="check-detail">{c.detail}</span>
              </li>
            );
          })}
        </ul>
      )}
    </section>
  );
}
