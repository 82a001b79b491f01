/** The wallet picker: every Wallet Standard wallet that can sign Sui transactions, connected on click. */
import { useConnectWallet, useWallets } from "@mysten/dapp-kit";
import type { WalletWithRequiredFeatures } from "@mysten/wallet-standard";
import { useState } from "react";

import { Dialog } from "../components/Dialog";
import { isUserRejection } from "./devWallet";

export function ConnectDialog({ open, onClose }: { open: boolean; onClose: () => void }) {
  const wallets = useWallets();
  const connect = useConnectWallet();
  const [error, setError] = useState<string | null>(null);
  const [pending, setPending] = useState<string | null>(null);

  const close = () => {
    setError(null);
    onClose();
  };

  const choose = (wallet: WalletWithRequiredFeatures) => {
    setError(null);
    setPending(wallet.name);
    connect.mutate(
      { wallet },
      {
        onSuccess: () => close(),
        onError: (err) =>
          setError(
            isUserRejection(err)
              ? `You declined the connection in ${wallet.name}.`
              : `${wallet.name} did not connect: ${err.message}`,
          ),
        onSettled: () => setPending(null),
      },
    );
  };

  return (
    <Dialog open={open} title="Connect a wallet" onCancel={close} className="connect-dialog">
      {wallets.length === 0 ? (
        <p>
          No Sui wallet was found in this browser. Install a wallet that supports the Wallet Standard (such as
          Slush), then reload this page.
        </p>
      ) : (
        <>
          <p className="muted">Your wallet signs the build request and pays its fee. DaaS never holds your keys.</p>
          <ul className="wallet-list">
            {wallets.map((wallet) => (
              <li key={wallet.id ?? wallet.name}>
                <button
                  type="button"
                  className="wallet-choice"
                  onClick={() => choose(wallet)}
                  disabled={pending !== null}
                  aria-busy={pending === wallet.name}
                >
                  <img src={wallet.icon} alt="" width={28} height={28} />
                  <span>{wallet.name}</span>
                  {pending === wallet.name && <span className="muted">Connecting…</span>}
                </button>
              </li>
            ))}
          </ul>
        </>
      )}
      <div role="alert">{error && <p className="form-error">{error}</p>}</div>
      <div className="dialog-actions">
        <button type="button" onClick={close}>
          Cancel
        </button>
      </div>
    </Dialog>
  );
}
