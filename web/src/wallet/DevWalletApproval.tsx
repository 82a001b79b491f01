/** The dev wallet's approval dialog: what is about to be signed, and Approve / Reject (Escape rejects). */
import { useRef, useSyncExternalStore } from "react";

import { Dialog } from "../components/Dialog";
import { formatMist, formatSui } from "../format";
import { type ApprovalRequest, approvals, DEV_WALLET_NAME } from "./devWallet";

export function DevWalletApproval() {
  const request = useSyncExternalStore(approvals.subscribe, approvals.current);
  const reject = useRef<HTMLButtonElement>(null);
  const answer = (approved: boolean) => request && approvals.answer(request.id, approved);

  return (
    <Dialog
      open={request !== null}
      role="alertdialog"
      title={request?.kind === "personal-message" ? "Sign this message?" : "Sign this transaction?"}
      onCancel={() => answer(false)}
      initialFocus={reject}
      describedBy="dev-wallet-approval-intro"
      className="approval-dialog"
    >
      {request && (
        <>
          <p id="dev-wallet-approval-intro" className="muted">
            {DEV_WALLET_NAME} asks before it signs with <code className="break">{request.address}</code> on{" "}
            <code>{request.chain}</code>.
          </p>
          <ApprovalBody request={request} />
          <div className="dialog-actions">
            <button type="button" ref={reject} onClick={() => answer(false)}>
              Reject
            </button>
            <button type="button" className="primary" onClick={() => answer(true)}>
              Approve and sign
            </button>
          </div>
        </>
      )}
    </Dialog>
  );
}

function ApprovalBody({ request }: { request: ApprovalRequest }) {
  if (request.kind === "personal-message") {
    return <pre className="message-preview">{request.message}</pre>;
  }
  const { details } = request;
  return (
    <dl className="facts">
      <dt>Function</dt>
      <dd>
        {details.calls.length ? (
          details.calls.map((call) => (
            <code key={call} className="break">
              {call}
            </code>
          ))
        ) : (
          <span>no Move call</span>
        )}
      </dd>
      <dt>Fee</dt>
      <dd>
        {formatSui(details.paidFromGas)} <span className="muted">({formatMist(details.paidFromGas)})</span>
      </dd>
      <dt>Gas budget</dt>
      <dd>
        {details.gasBudget === null ? "—" : <>at most {formatSui(details.gasBudget)}</>}
        {details.gasPrice !== null && <span className="muted"> at {formatMist(details.gasPrice)} per unit</span>}
      </dd>
      {details.bundle && (
        <>
          <dt>Bundle</dt>
          <dd>
            <code className="break">{details.bundle.blobId}</code>
          </dd>
          <dt>Bundle sha256</dt>
          <dd>
            <code className="break">{details.bundle.sha256}</code>
          </dd>
          <dt>Dockerfile</dt>
          <dd>
            <code>{details.bundle.dockerfile}</code> for <code>{details.bundle.platform}</code>
          </dd>
        </>
      )}
      <dt>Transaction</dt>
      <dd>
        <code className="break">{details.digest}</code>
      </dd>
    </dl>
  );
}
