/**
 * The client handed to dapp-kit's `SuiClientProvider`. The browser has no Sui RPC of its own: the DaaS API
 * reads the chain, prepares transactions and executes them, and wallets only sign. dapp-kit still wants a
 * client in its context, so it gets one whose transport refuses every call: nothing can reach a node, and
 * anything that tried would fail loudly instead of silently talking to a public endpoint.
 */
import { SuiJsonRpcClient } from "@mysten/sui/jsonRpc";

export class NoRpcError extends Error {
  constructor(method: string) {
    super(`The dashboard makes no Sui RPC calls (asked for ${method}); the DaaS API talks to the chain.`);
    this.name = "NoRpcError";
  }
}

export function inertClient(network: string): SuiJsonRpcClient {
  return new SuiJsonRpcClient({
    network,
    transport: {
      request: ({ method }) => Promise.reject(new NoRpcError(method)),
    },
  });
}
