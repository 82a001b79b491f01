/** Step 3: what the wallet will sign (the API's summary of the prepared transaction), then sign and submit. */
import { useLayoutEffect, useRef } from "react";

import type { ApiConfig } from "../../api/config";
import { ApiError } from "../../api/http";
import { type PreparedTransaction, problemKind, requestProblem } from "../../api/requests";
import { Spinner } from "../../components/Spinner";
import { formatMist, formatSui } from "../../format";
import type { WalletStatus } from "../../wallet";

export type SignState =
  | { status: "idle" }
  | { status: "signing" }
  | { status: "submitting" }
  | { status: "submitted"; requestId: string; digest: string }
  | { status: "rejected"; message: string }
  | { status: "error"; message: string; digest?: string; canPrepareAgain?: boolean };

export function ReviewStep({
  config,
  wallet,
  ready,
  uploaded,
  preparing,
  prepared,
  prepareError,
  onPrepareAgain,
  sign,
  onSign,
}: {
  config: ApiConfig;
  wallet: WalletStatus;
  ready: boolean;
  uploaded: boolean;
  preparing: boolean;
  prepared: PreparedTransaction | null;
  prepareError: unknown;
  onPrepareAgain: () => void;
  sign: SignState;
  onSign: () => void;
}) {
  const busy = sign.status === "signing" || sign.status === "submitting" || sign.status === "submitted";
  const signButton = useRef<HTMLButtonElement>(null);
  // After a rejection or failure the wallet's dialog is gone and the button was disabled: put the keyboard
  // back where the next action is.
  useLayoutEffect(() => {
    if (sign.status === "rejected" || sign.status === "error") signButton.current?.focus();
  }, [sign.status]);
  return (
    <section className="card step-card" aria-labelledby="step-review">
      <h2 id="step-review">
        <span className="step-number" aria-hidden="true">
          3
        </span>
        Review and sign
      </h2>
      {!uploaded && <p className="muted">Store the bundle on Walrus first; the transaction to sign appears here.</p>}
      {uploaded && !ready && (
        <p className="muted">Connect a wallet on {config.network} to prepare the build request.</p>
      )}
      <div aria-live="polite" className="live">
        {ready && uploaded && preparing && <Spinner label="Preparing the transaction…" />}
      </div>
      {ready && uploaded && prepareError !== null && (
        <PrepareProblem error={prepareError} devWallet={config.dev_wallet && wallet.isDevWallet} onRetry={onPrepareAgain} />
      )}
      {ready && prepared && (
        <>
          <p>
            {wallet.walletName ?? "Your wallet"} will sign this transaction for{" "}
            <code className="break">{prepared.sender}</code>:
          </p>
          <Summary prepared={prepared} />
          <div className="actions">
            <button type="button" className="primary" onClick={onSign} disabled={busy} ref={signButton}>
              {sign.status === "rejected" || sign.status === "error" ? "Sign again" : "Sign and submit"}
            </button>
            {sign.status === "error" && sign.canPrepareAgain && (
              <button type="button" onClick={onPrepareAgain}>
                Prepare again
              </button>
            )}
          </div>
        </>
      )}
      <div aria-live="polite" className="live" data-testid="sign-status">
        {sign.status === "signing" && <Spinner label={`Waiting for ${wallet.walletName ?? "your wallet"} to sign…`} />}
        {sign.status === "submitting" && <Spinner label="Submitting the signed request to the chain…" />}
        {sign.status === "submitted" && (
          <p className="success">
            Submitted: build request <code className="break">{sign.requestId}</code>. Opening it…
          </p>
        )}
      </div>
      {(sign.status === "rejected" || sign.status === "error") && (
        <div className={sign.status === "rejected" ? "notice-banner" : "error-banner"} role="alert">
          <strong>{sign.status === "rejected" ? "Signature rejected" : "Not submitted"}</strong>
          <p>{sign.message}</p>
        </div>
      )}
    </section>
  );
}

function Summary({ prepared }: { prepared: PreparedTransaction }) {
  const { summary } = prepared;
  return (
    <dl className="facts" data-testid="tx-summary">
      <dt>Function</dt>
      <dd>
        <code>{summary.function}</code>
      </dd>
      <dt>Fee</dt>
      <dd>
        {formatSui(summary.fee)} <span className="muted">({formatMist(summary.fee)}, held in escrow until the build ends)</span>
      </dd>
      <dt>Gas budget</dt>
      <dd>
        at most {formatSui(summary.gas_budget)}{" "}
        <span className="muted">at {formatMist(summary.gas_price)} per unit</span>
      </dd>
      <dt>Bundle</dt>
      <dd>
        <code className="break">{summary.bundle.blob_id}</code>
      </dd>
      <dt>Bundle sha256</dt>
      <dd>
        <code className="break">{summary.bundle.sha256}</code>
      </dd>
      <dt>Dockerfile</dt>
      <dd>
        <code>{summary.bundle.dockerfile}</code> for <code>{summary.bundle.platform}</code>
      </dd>
      <dt>Registry</dt>
      <dd>
        <code className="break">{summary.registry_id}</code>
      </dd>
      <dt>Transaction</dt>
      <dd>
        <code className="break">{prepared.digest}</code>
      </dd>
    </dl>
  );
}

function PrepareProblem({ error, devWallet, onRetry }: { error: unknown; devWallet: boolean; onRetry: () => void }) {
  const kind = problemKind(error);
  const problem = requestProblem(error);
  let title = "The transaction could not be prepared";
  let message = error instanceof Error ? error.message : String(error);
  if (kind === "insufficient-balance") {
    title = "Not enough SUI";
    message =
      problem?.needed !== undefined && problem.available !== undefined
        ? `This address holds ${formatSui(problem.available)}, but the fee and the gas budget need ${formatSui(problem.needed)}. ${problem.detail}`
        : (problem?.detail ?? message);
    if (devWallet) message += " Use “Get dev SUI” above to fund the dev wallet.";
  } else if (error instanceof ApiError && error.kind === "unreachable") {
    title = "The DaaS API cannot be reached";
  } else if (kind === "registry-paused") {
    title = "Builds are paused";
  }
  return (
    <div className="error-banner" role="alert" data-problem={kind ?? undefined}>
      <strong>{title}</strong>
      <p>{message}</p>
      <button type="button" onClick={onRetry}>
        Prepare again
      </button>
    </div>
  );
}
