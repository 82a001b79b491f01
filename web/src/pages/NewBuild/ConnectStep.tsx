/** Step 1: a wallet on this API's network; under `daas dev`, development SUI on request (never automatically). */
import { useState } from "react";

import type { ApiConfig } from "../../api/config";
import { requestDevSui } from "../../api/dev";
import { ErrorBanner } from "../../components/ErrorBanner";
import { Spinner } from "../../components/Spinner";
import { formatSui } from "../../format";
import { useConnectDialog, type WalletStatus } from "../../wallet";

type FaucetState =
  | { status: "idle" }
  | { status: "busy" }
  | { status: "done"; amount: number; balance: number; digest: string }
  | { status: "error"; error: unknown };

export function ConnectStep({
  config,
  wallet,
  onFunded,
}: {
  config: ApiConfig;
  wallet: WalletStatus;
  onFunded: () => void;
}) {
  const { openConnect, devWallet } = useConnectDialog();
  const [faucet, setFaucet] = useState<FaucetState>({ status: "idle" });
  const account = wallet.account;

  const fund = () => {
    if (!account) return;
    setFaucet({ status: "busy" });
    requestDevSui(account.address).then(
      (result) => {
        setFaucet({ status: "done", amount: result.amount_mist, balance: result.balance_mist, digest: result.digest });
        onFunded();
      },
      (error: unknown) => setFaucet({ status: "error", error }),
    );
  };

  return (
    <section className="card step-card" aria-labelledby="step-connect">
      <h2 id="step-connect">
        <span className="step-number" aria-hidden="true">
          1
        </span>
        Connect a wallet
      </h2>
      {wallet.connection !== "connected" || !account ? (
        <>
          <p>
            Connect a Sui wallet on <strong>{config.network}</strong>. It signs the build request and pays the fee.
            {devWallet && (
              <>
                {" "}
                This is a development stack: the <strong>DaaS Dev Wallet</strong> lives in this browser and is offered
                in the list.
              </>
            )}
          </p>
          <button type="button" className="primary" onClick={openConnect} disabled={wallet.connection === "connecting"}>
            {wallet.connection === "connecting" ? "Connecting…" : "Connect wallet"}
          </button>
        </>
      ) : (
        <>
          <p>
            Connected with {wallet.walletName}: <code className="break">{account.address}</code>
          </p>
          {!wallet.onNetwork && (
            <div className="error-banner" role="alert">
              <strong>Wrong network</strong>
              <p>
                This account is not on <code>{wallet.chain}</code>
                {account.chains.length > 0 && (
                  <>
                    {" "}
                    (it lists <code>{account.chains.join(", ")}</code>)
                  </>
                )}
                . Switch your wallet to {config.network}, or connect another wallet.
              </p>
            </div>
          )}
          {devWallet && wallet.isDevWallet && (
            <div className="faucet">
              <button type="button" onClick={fund} disabled={faucet.status === "busy"}>
                Get dev SUI
              </button>
              <span role="status" className="faucet-status">
                {faucet.status === "busy" && <Spinner label="Asking the development faucet…" />}
                {faucet.status === "done" && (
                  <>
                    Received {formatSui(faucet.amount)}; the balance is now {formatSui(faucet.balance)}.
                  </>
                )}
              </span>
              {faucet.status === "error" && <ErrorBanner error={faucet.error} title="The faucet failed" />}
            </div>
          )}
        </>
      )}
    </section>
  );
}
