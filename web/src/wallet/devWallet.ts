/**
 * "DaaS Dev Wallet": an in-page Wallet Standard wallet for `daas dev` (network `localnet`) only. Its Ed25519
 * key is generated once and kept in this browser's localStorage; it signs for `sui:localnet` and nothing else.
 *
 * It never signs silently: every request waits in `approvals` until the page's approval dialog
 * (DevWalletApproval.tsx) says yes or no. "No" throws the Wallet Standard user-rejection error, as real
 * wallets do. Transactions are signed exactly as given (the bytes the API prepared): no client, no RPC.
 */
import { Ed25519Keypair } from "@mysten/sui/keypairs/ed25519";
import { Transaction } from "@mysten/sui/transactions";
import { fromBase64, toBase64 } from "@mysten/sui/utils";
import {
  type StandardConnectFeature,
  type StandardDisconnectFeature,
  type StandardEventsFeature,
  type StandardEventsListeners,
  type SuiSignPersonalMessageFeature,
  type SuiSignTransactionFeature,
  type Wallet,
  getWallets,
  ReadonlyWalletAccount,
  WALLET_STANDARD_ERROR__USER__REQUEST_REJECTED,
  WalletStandardError,
} from "@mysten/wallet-standard";

import { describeTransaction, type TransactionDetails } from "./decode";

export const DEV_WALLET_NAME = "DaaS Dev Wallet";
export const DEV_WALLET_CHAIN = "sui:localnet";
const STORAGE_KEY = "daas:dev-wallet:secret-key";

// A key on a purple tile: a data: URL, as the Wallet Standard requires (no request to any host).
const ICON =
  "data:image/svg+xml;base64," +
  btoa(
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="7" fill="#5b3cc4"/>' +
      '<circle cx="12" cy="16" r="5" fill="none" stroke="#fff" stroke-width="2.5"/>' +
      '<path d="M17 16h10m-3 0v4m-3-4v3" stroke="#fff" stroke-width="2.5" fill="none" stroke-linecap="round"/></svg>',
  );

// --- approvals: the queue the page's dialog serves ----------------------------------------------------------

export type ApprovalRequest =
  | { id: number; kind: "transaction"; chain: string; address: string; details: TransactionDetails }
  | { id: number; kind: "personal-message"; chain: string; address: string; message: string };

type NewApproval = ApprovalRequest extends infer R ? (R extends ApprovalRequest ? Omit<R, "id"> : never) : never;

type Pending = { request: ApprovalRequest; settle: (approved: boolean) => void };

let nextId = 1;
const queue: Pending[] = [];
const approvalListeners = new Set<() => void>();

function notifyApprovals(): void {
  approvalListeners.forEach((listener) => listener());
}

export const approvals = {
  subscribe(listener: () => void): () => void {
    approvalListeners.add(listener);
    return () => approvalListeners.delete(listener);
  },
  /** The request the dialog shows now (the oldest), or null. */
  current(): ApprovalRequest | null {
    return queue[0]?.request ?? null;
  },
  answer(id: number, approved: boolean): void {
    const index = queue.findIndex((item) => item.request.id === id);
    if (index < 0) return;
    const [item] = queue.splice(index, 1);
    notifyApprovals();
    item?.settle(approved);
  },
};

function askUser(request: NewApproval, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const id = nextId++;
    const onAbort = () => approvals.answer(id, false);
    queue.push({
      request: { ...request, id } as ApprovalRequest,
      settle: (approved) => {
        signal?.removeEventListener("abort", onAbort);
        if (approved) resolve();
        else reject(new WalletStandardError(WALLET_STANDARD_ERROR__USER__REQUEST_REJECTED));
      },
    });
    signal?.addEventListener("abort", onAbort, { once: true });
    notifyApprovals();
  });
}

// --- the key ------------------------------------------------------------------------------------------------

function loadKeypair(): Ed25519Keypair {
  const stored = window.localStorage.getItem(STORAGE_KEY);
  if (stored) {
    try {
      return Ed25519Keypair.fromSecretKey(stored);
    } catch {
      // unreadable (edited by hand?): make a new one below
    }
  }
  const keypair = Ed25519Keypair.generate();
  window.localStorage.setItem(STORAGE_KEY, keypair.getSecretKey());
  return keypair;
}

// --- the wallet ---------------------------------------------------------------------------------------------

type DevWalletFeatures = StandardConnectFeature &
  StandardDisconnectFeature &
  StandardEventsFeature &
  SuiSignTransactionFeature &
  SuiSignPersonalMessageFeature;

class DevWallet implements Wallet {
  readonly version = "1.0.0" as const;
  readonly name = DEV_WALLET_NAME;
  readonly icon = ICON as `data:image/svg+xml;base64,${string}`;
  readonly chains = [DEV_WALLET_CHAIN] as const;

  #keypair: Ed25519Keypair;
  #account: ReadonlyWalletAccount;
  #connected = false;
  #listeners = new Set<StandardEventsListeners["change"]>();

  constructor(keypair: Ed25519Keypair) {
    this.#keypair = keypair;
    this.#account = new ReadonlyWalletAccount({
      address: keypair.getPublicKey().toSuiAddress(),
      publicKey: keypair.getPublicKey().toSuiBytes(),
      chains: [DEV_WALLET_CHAIN],
      features: ["sui:signTransaction", "sui:signPersonalMessage"],
      label: "Dev account",
    });
  }

  get accounts() {
    return this.#connected ? [this.#account] : [];
  }

  get features(): DevWalletFeatures {
    return {
      "standard:connect": { version: "1.0.0", connect: this.#connect },
      "standard:disconnect": { version: "1.0.0", disconnect: this.#disconnect },
      "standard:events": { version: "1.0.0", on: this.#on },
      "sui:signTransaction": { version: "2.0.0", signTransaction: this.#signTransaction },
      "sui:signPersonalMessage": { version: "1.1.0", signPersonalMessage: this.#signPersonalMessage },
    };
  }

  #emit(): void {
    this.#listeners.forEach((listener) => listener({ accounts: this.accounts }));
  }

  #on: StandardEventsFeature["standard:events"]["on"] = (event, listener) => {
    if (event !== "change") return () => {};
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  };

  #connect: StandardConnectFeature["standard:connect"]["connect"] = async () => {
    if (!this.#connected) {
      this.#connected = true;
      this.#emit();
    }
    return { accounts: this.accounts };
  };

  #disconnect: StandardDisconnectFeature["standard:disconnect"]["disconnect"] = async () => {
    if (this.#connected) {
      this.#connected = false;
      this.#emit();
    }
  };

  #check(address: string, chain: string): void {
    if (!this.#connected || address !== this.#account.address) {
      throw new Error(`${DEV_WALLET_NAME} holds no connected account ${address}`);
    }
    if (chain !== DEV_WALLET_CHAIN) {
      throw new Error(`${DEV_WALLET_NAME} signs for ${DEV_WALLET_CHAIN} only, not ${chain}`);
    }
  }

  #signTransaction: SuiSignTransactionFeature["sui:signTransaction"]["signTransaction"] = async (input) => {
    this.#check(input.account.address, input.chain);
    const serialized = await input.transaction.toJSON();
    // The DaaS page hands over the API's bytes (base64); a JSON transaction must be complete already,
    // since this wallet has no client to resolve anything with.
    const bytes = serialized.trimStart().startsWith("{")
      ? await Transaction.from(serialized).build()
      : fromBase64(serialized);
    const details = describeTransaction(bytes);
    if (details.sender !== null && details.sender !== this.#account.address) {
      throw new Error(`the transaction's sender is ${details.sender}, not this wallet's ${this.#account.address}`);
    }
    input.signal?.throwIfAborted();
    await askUser({ kind: "transaction", chain: input.chain, address: this.#account.address, details }, input.signal);
    const { signature } = await this.#keypair.signTransaction(bytes);
    return { bytes: toBase64(bytes), signature };
  };

  #signPersonalMessage: SuiSignPersonalMessageFeature["sui:signPersonalMessage"]["signPersonalMessage"] = async (
    input,
  ) => {
    this.#check(input.account.address, input.chain ?? DEV_WALLET_CHAIN);
    const message = new TextDecoder("utf-8", { fatal: false }).decode(input.message);
    await askUser({
      kind: "personal-message",
      chain: input.chain ?? DEV_WALLET_CHAIN,
      address: this.#account.address,
      message,
    });
    return this.#keypair.signPersonalMessage(input.message);
  };
}

let wallet: DevWallet | null = null;

/** Registers the dev wallet (one instance per page); returns the unregister function. */
export function registerDevWallet(): () => void {
  wallet ??= new DevWallet(loadKeypair());
  return getWallets().register(wallet);
}

/** Whether a rejection by the user (any wallet: the standard error, or the words wallets use). */
export function isUserRejection(error: unknown): boolean {
  if (error instanceof WalletStandardError && error.context.__code === WALLET_STANDARD_ERROR__USER__REQUEST_REJECTED) {
    return true;
  }
  const message = error instanceof Error ? error.message : String(error);
  return /reject|denied|declined|cancel+ed by (the )?user|user (cancel|abort)/i.test(message);
}
