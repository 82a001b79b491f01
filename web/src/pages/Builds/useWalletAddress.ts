import { useCurrentAccount } from "@mysten/dapp-kit";

/**
 * The connected wallet's address, or null: none connected, or no wallet provider above us (the provider is
 * there for the whole life of the app or never, so the hooks inside are called in the same order each time).
 */
export function useWalletAddress(): string | null {
  try {
    return useCurrentAccount()?.address ?? null;
  } catch {
    return null;
  }
}
