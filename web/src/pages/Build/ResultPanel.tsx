/** What a settled build left behind: chain transactions, Walrus blobs, the image to pull and run. */
import type { ReactNode } from "react";

import { type ApiConfig, explorerTxUrl, walrusBlobUrl } from "../../api/config";
import { type BuildDetail, useKubernetesManifest } from "../../api/builds";
import { ErrorBanner } from "../../components/ErrorBanner";
import { CopyButton } from "../../components/CopyButton";

function ExternalLink({ href, children }: { href: string | null | undefined; children: ReactNode }) {
  if (!href) return <span className="muted">not available</span>;
  return (
    <a href={href} target="_blank" rel="noreferrer noopener">
      {children}
      <span className="visually-hidden"> (opens in a new tab)</span>
    </a>
  );
}

function LinkRow({ label, href, value }: { label: string; href: string | null | undefined; value: string | null | undefined }) {
  return (
    <div className="link-row">
      <dt>{label}</dt>
      <dd>
        <ExternalLink href={href}>
          <span className="long-id">{value ?? href}</span>
        </ExternalLink>
      </dd>
    </div>
  );
}

export function ResultPanel({ build, config }: { build: BuildDetail; config: ApiConfig | undefined }) {
  const result = build.result;
  const txUrl = (url: string | null | undefined, digest: string | null | undefined) =>
    url ?? (digest && config ? explorerTxUrl(config, digest) : null);
  const blobUrl = (url: string | null | undefined, blobId: string | null | undefined) =>
    url ?? (blobId && config ? walrusBlobUrl(config, blobId) : null);
  const reference =
    result?.image_reference ??
    (result?.image_digest && config ? `${config.registry_host}/daas/${build.request_id}@${result.image_digest}` : null);
  const pull = reference ? `docker pull ${reference}` : null;
  const manifest = useKubernetesManifest(build.links.kubernetes);

  return (
    <section className="panel result" aria-labelledby="result-title">
      <h2 id="result-title">Result</h2>
      <h3>On chain</h3>
      <dl className="links">
        <LinkRow
          label="Request transaction"
          href={txUrl(build.explorer_request_tx_url, build.request_tx_digest)}
          value={build.request_tx_digest}
        />
        <LinkRow label="Result transaction" href={txUrl(result?.explorer_tx_url, result?.tx_digest)} value={result?.tx_digest} />
        <LinkRow label="BuildRequest object" href={build.links.explorer} value={build.request_id} />
        {result?.enclave_id && <LinkRow label="Signing enclave" href={result.explorer_enclave_url} value={result.enclave_id} />}
      </dl>
      <h3>On Walrus</h3>
      <dl className="links">
        <LinkRow label="Source bundle" href={build.spec.source_url} value={build.spec.source_blob_id} />
        {result?.succeeded && (
          <LinkRow
            label="Image index"
            href={blobUrl(result.image_index_url, result.image_index_blob_id)}
            value={result.image_index_blob_id}
          />
        )}
        <LinkRow label="Build log" href={blobUrl(result?.log_url, result?.log_blob_id)} value={result?.log_blob_id} />
      </dl>
      {result?.image_digest && (
        <p className="digest">
          Image digest <code className="long-id">{result.image_digest}</code>
        </p>
      )}
      {pull && (
        <>
          <h3 id="pull-title">Pull the image</h3>
          <div className="command">
            <code className="long-id" aria-labelledby="pull-title" data-testid="docker-pull">
              {pull}
            </code>
            <CopyButton value={pull} label="docker pull command" />
          </div>
        </>
      )}
      {build.links.kubernetes && (
        <>
          <div className="subhead">
            <h3 id="k8s-title">Kubernetes manifest</h3>
            {manifest.data && <CopyButton value={manifest.data} label="Kubernetes manifest" />}
          </div>
          {manifest.error ? (
            <ErrorBanner error={manifest.error} title="The manifest could not be loaded" onRetry={() => void manifest.refetch()} />
          ) : manifest.data ? (
            <pre className="manifest" tabIndex={0} aria-labelledby="k8s-title" data-testid="kubernetes-manifest">
              {manifest.data}
            </pre>
          ) : (
            <p className="muted">Loading the manifest…</p>
          )}
          <p className="muted">
            Apply it with <code>kubectl apply -f manifest.yaml</code>; the image is pulled by digest through this API's
            registry.
          </p>
        </>
      )}
    </section>
  );
}
