/** `daas dev` only: the development faucet (`POST /v1/dev/faucet`; 404 on real networks). */
import { postJson } from "./http";

export interface FaucetResult {
  address: string;
  /** what this call gave */
  amount_mist: number;
  coin_id: string;
  digest: string;
  /** the address's SUI balance afterwards */
  balance_mist: number;
}

export function requestDevSui(address: string, signal?: AbortSignal): Promise<FaucetResult> {
  return postJson<FaucetResult>("/v1/dev/faucet", { address }, signal);
}
