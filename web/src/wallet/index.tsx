/**
 * Wallets: dapp-kit's providers (with a client that never calls a node), the `daas dev` development wallet,
 * the wallet picker, and the header widget. Nothing here resolves SuiNS names or reads the chain: the account
 * is shown as its address, and the DaaS API does every chain read.
 *
 *   <WalletProviders>     inside the QueryClientProvider; needs `GET /v1/config` for the network
 *   <WalletArea />        the header: connect, the account, wrong-network warning, disconnect
 *   useWalletStatus()     the connected account and whether it is on this API's network
 *   useConnectDialog()    open the wallet picker from anywhere
 */
import {
  SuiClientProvider,
  useAccounts,
  useCurrentAccount,
  useCurrentWallet,
  useDisconnectWallet,
  useSwitchAccount,
  WalletProvider,
} from "@mysten/dapp-kit";
import type { WalletAccount } from "@mysten/wallet-standard";
import { createContext, type ReactNode, useContext, useEffect, useMemo, useState } from "react";

import { useConfig } from "../api/config";
import { CopyButton } from "../components/CopyButton";
import { shortId } from "../format";
import { inertClient } from "./client";
import { ConnectDialog } from "./ConnectDialog";
import { DevWalletApproval } from "./DevWalletApproval";
import { DEV_WALLET_NAME, registerDevWallet } from "./devWallet";

export { DEV_WALLET_NAME, isUserRejection } from "./devWallet";

const PREFERRED_WALLETS = [DEV_WALLET_NAME, "Slush", "Sui Wallet"];

interface WalletUi {
  openConnect: () => void;
  /** the dev wallet is offered (daas dev, localnet) */
  devWallet: boolean;
}

const WalletUiContext = createContext<WalletUi>({ openConnect: () => {}, devWallet: false });

export function WalletProviders({ children }: { children: ReactNode }) {
  const config = useConfig();
  const network = config.data?.network ?? "unknown";
  const networks = useMemo(() => ({ [network]: inertClient(network) }), [network]);
  const devWallet = config.data?.dev_wallet === true && network === "localnet";

  useEffect(() => {
    if (!devWallet) return;
    return registerDevWallet();
  }, [devWallet]);

  return (
    <SuiClientProvider networks={networks} network={network}>
      <WalletProvider autoConnect preferredWallets={PREFERRED_WALLETS} theme={null} storageKey="daas:wallet">
        <WalletUiProvider devWallet={devWallet}>{children}</WalletUiProvider>
      </WalletProvider>
    </SuiClientProvider>
  );
}

function WalletUiProvider({ devWallet, children }: { devWallet: boolean; children: ReactNode }) {
  const [open, setOpen] = useState(false);
  const ui = useMemo(() => ({ openConnect: () => setOpen(true), devWallet }), [devWallet]);
  return (
    <WalletUiContext.Provider value={ui}>
      {children}
      <ConnectDialog open={open} onClose={() => setOpen(false)} />
      {devWallet && <DevWalletApproval />}
    </WalletUiContext.Provider>
  );
}

export function useConnectDialog(): WalletUi {
  return useContext(WalletUiContext);
}

export interface WalletStatus {
  connection: "disconnected" | "connecting" | "connected";
  account: WalletAccount | null;
  walletName: string | null;
  walletIcon: string | null;
  /** `sui:<network>` of this API */
  chain: string | null;
  /** the account lists this API's chain */
  onNetwork: boolean;
  isDevWallet: boolean;
}

export function useWalletStatus(): WalletStatus {
  const { currentWallet, connectionStatus } = useCurrentWallet();
  const account = useCurrentAccount();
  const config = useConfig();
  const chain = config.data ? `sui:${config.data.network}` : null;
  return {
    connection: connectionStatus,
    account,
    walletName: currentWallet?.name ?? null,
    walletIcon: currentWallet?.icon ?? null,
    chain,
    onNetwork: account !== null && chain !== null && account.chains.includes(chain as `${string}:${string}`),
    isDevWallet: currentWallet?.name === DEV_WALLET_NAME,
  };
}

/** The header's wallet widget: the account as its address (no SuiNS), its network, copy and disconnect. */
export function WalletArea() {
  const status = useWalletStatus();
  const { openConnect } = useConnectDialog();
  const disconnect = useDisconnectWallet();
  const accounts = useAccounts();
  const switchAccount = useSwitchAccount();

  if (status.connection !== "connected" || !status.account) {
    return (
      <div className="wallet-area">
        <button type="button" className="primary" onClick={openConnect} disabled={status.connection === "connecting"}>
          {status.connection === "connecting" ? "Connecting…" : "Connect wallet"}
        </button>
      </div>
    );
  }

  const { account } = status;
  return (
    <div className="wallet-area" aria-label="Wallet" role="group">
      {status.walletIcon && <img className="wallet-icon" src={status.walletIcon} alt="" width={24} height={24} />}
      <span className="visually-hidden">Connected with {status.walletName}, account</span>
      {accounts.length > 1 ? (
        <label className="account-select">
          <span className="visually-hidden">Account</span>
          <select
            value={account.address}
            onChange={(event) => {
              const next = accounts.find((a) => a.address === event.target.value);
              if (next) switchAccount.mutate({ account: next });
            }}
          >
            {accounts.map((a) => (
              <option key={a.address} value={a.address}>
                {a.label ? `${a.label} · ` : ""}
                {shortId(a.address)}
              </option>
            ))}
          </select>
        </label>
      ) : (
        <code className="account-address" title={account.address} data-testid="account-address">
          {shortId(account.address)}
        </code>
      )}
      <CopyButton value={account.address} label="address" quiet />
      {!status.onNetwork && status.chain && (
        <span className="badge badge-warn" title={`This account does not list ${status.chain}`}>
          Wrong network
        </span>
      )}
      <button type="button" className="small" onClick={() => disconnect.mutate()}>
        Disconnect
      </button>
    </div>
  );
}
