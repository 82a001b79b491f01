import { useQuery } from "@tanstack/react-query";

import { getJson } from "./http";

/** `GET /v1/config`: the network, our objects on it, explorer and Walrus URLs (api/models.py `ApiConfig`). */
export interface ApiConfig {
  network: string;
  chain_id: string | null;
  package_id: string | null;
  registry_id: string | null;
  enclave_config_id: string | null;
  /** template with `{id}` */
  explorer_object_url: string;
  /** template with `{digest}` */
  explorer_tx_url: string;
  walrus_aggregator_url: string;
  walrus_publisher_url: string | null;
  walrus_epochs: number;
  /** the largest bundle the publisher and the runners accept */
  max_bundle_bytes: number;
  /** `host[:port]` for `docker pull` */
  registry_host: string;
  public_url: string | null;
  /** true only under `daas dev`: the development wallet and its faucet are offered */
  dev_wallet: boolean;
}

export function useConfig() {
  return useQuery({
    queryKey: ["config"],
    queryFn: ({ signal }) => getJson<ApiConfig>("/v1/config", signal),
    staleTime: Infinity,
    retry: 1,
  });
}

export function explorerTxUrl(config: ApiConfig, digest: string): string {
  return config.explorer_tx_url.replace("{digest}", encodeURIComponent(digest));
}

export function explorerObjectUrl(config: ApiConfig, id: string): string {
  return config.explorer_object_url.replace("{id}", encodeURIComponent(id));
}

export function walrusBlobUrl(config: ApiConfig, blobId: string): string {
  return `${config.walrus_aggregator_url.replace(/\/+$/, "")}/v1/blobs/${encodeURIComponent(blobId)}`;
}
