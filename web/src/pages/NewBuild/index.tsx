/**
 * New build: Connect → Upload → Review & sign → Submitted.
 *
 * The bundle is packed in the browser (web/src/bundle), stored on Walrus straight from the browser (the
 * publisher allows CORS), then the API prepares the `request_build` transaction for the connected address, the
 * wallet signs exactly those bytes, and the API executes them. The browser talks to the API and the Walrus
 * publisher only.
 */
import { useSignTransaction } from "@mysten/dapp-kit";
import { useCallback, useEffect, useRef, useState } from "react";

import { type ApiConfig, useConfig } from "../../api/config";
import { ApiError } from "../../api/http";
import { executeBuild, prepareBuild, waitUntilIndexed, type PreparedTransaction, problemKind, requestProblem } from "../../api/requests";
import { Spinner } from "../../components/Spinner";
import { type Step, Stepper } from "../../components/Stepper";
import { formatBytes } from "../../format";
import { navigate } from "../../router";
import { isUserRejection, useWalletStatus } from "../../wallet";
import { ConnectStep } from "./ConnectStep";
import "./NewBuild.css";
import { ReviewStep, type SignState } from "./ReviewStep";
import { type PackState, type UploadState, UploadStep } from "./UploadStep";

type PrepareState =
  | { status: "idle" }
  | { status: "preparing"; key: string }
  | { status: "done"; key: string; prepared: PreparedTransaction }
  | { status: "error"; key: string; error: unknown };

export default function NewBuildPage() {
  const config = useConfig();
  if (!config.data) {
    return (
      <section aria-labelledby="new-build-title">
        <h1 id="new-build-title">New build</h1>
        {config.isPending && <Spinner label="Loading this service's settings…" />}
      </section>
    );
  }
  return <NewBuild config={config.data} />;
}

function NewBuild({ config }: { config: ApiConfig }) {
  const wallet = useWalletStatus();
  const [pack, setPack] = useState<PackState>({ status: "idle" });
  const [upload, setUpload] = useState<UploadState>({ status: "idle" });
  const [prepare, setPrepare] = useState<PrepareState>({ status: "idle" });
  const [sign, setSign] = useState<SignState>({ status: "idle" });
  const signTransaction = useSignTransaction();
  const prepareAbort = useRef<AbortController | null>(null);

  const address = wallet.account?.address ?? null;
  const ready = wallet.connection === "connected" && wallet.onNetwork && address !== null;
  const stored = upload.status === "done" ? upload : null;
  const prepareKey = stored && address && pack.status === "done" ? `${stored.blobId}|${pack.bundle.sha256}|${address}` : null;

  const runPrepare = useCallback(() => {
    if (!prepareKey || !stored || !address || pack.status !== "done") return;
    prepareAbort.current?.abort();
    const controller = new AbortController();
    prepareAbort.current = controller;
    const key = prepareKey;
    setPrepare({ status: "preparing", key });
    setSign({ status: "idle" });
    prepareBuild(
      {
        sender: address,
        source_blob_id: stored.blobId,
        source_sha256: pack.bundle.sha256,
        dockerfile_path: pack.bundle.dockerfile,
      },
      controller.signal,
    ).then(
      (prepared) => !controller.signal.aborted && setPrepare({ status: "done", key, prepared }),
      (error: unknown) => !controller.signal.aborted && setPrepare({ status: "error", key, error }),
    );
  }, [prepareKey, stored, address, pack]);

  // Prepare as soon as the bundle is stored and a wallet on this network is connected; again when either changes.
  useEffect(() => {
    if (!ready || !prepareKey) return;
    if (prepare.status !== "idle" && prepare.key === prepareKey) return;
    runPrepare();
  }, [ready, prepareKey, prepare, runPrepare]);

  useEffect(() => () => prepareAbort.current?.abort(), []);

  // A new bundle starts the later steps over.
  const resetAfterPack = useCallback(() => {
    prepareAbort.current?.abort();
    setUpload({ status: "idle" });
    setPrepare({ status: "idle" });
    setSign({ status: "idle" });
  }, []);

  const prepared = prepare.status === "done" && prepare.key === prepareKey ? prepare.prepared : null;

  const signAndSubmit = async () => {
    if (!prepared || !wallet.chain) return;
    setSign({ status: "signing" });
    let signature: string;
    let txBytes: string;
    try {
      const signed = await signTransaction.mutateAsync({
        transaction: prepared.tx_bytes,
        chain: wallet.chain as `${string}:${string}`,
      });
      // Submit what the wallet signed: the same bytes as prepared, unless the wallet re-encoded them (the API
      // still executes only a request_build of this package, and the node checks the signature against them).
      signature = signed.signature;
      txBytes = signed.bytes;
    } catch (error) {
      setSign({
        status: isUserRejection(error) ? "rejected" : "error",
        message: isUserRejection(error)
          ? `You rejected the signature in ${wallet.walletName ?? "your wallet"}. Nothing was submitted; sign again when you are ready.`
          : `${wallet.walletName ?? "The wallet"} could not sign: ${error instanceof Error ? error.message : String(error)}`,
      });
      return;
    }
    setSign({ status: "submitting" });
    try {
      const executed = await executeBuild(txBytes, signature);
      setSign({ status: "submitted", requestId: executed.request_id, digest: executed.digest });
      // The build page reads the API's database: let the indexer catch up with the chain first.
      await waitUntilIndexed(prepared.sender, executed.request_id).catch(() => false);
      navigate(`/builds/${executed.request_id}`);
    } catch (error) {
      const kind = problemKind(error);
      const stale = kind === "transaction-rejected";
      setSign({
        status: "error",
        message:
          error instanceof ApiError
            ? `The build request was not executed: ${error.message}${stale ? " Prepare the transaction again and sign the new one." : ""}`
            : String(error),
        digest: requestProblem(error)?.digest,
        canPrepareAgain: stale,
      });
    }
  };

  const connectDone = ready;
  const uploadDone = upload.status === "done";
  const submitted = sign.status === "submitted";
  const steps: Step[] = [
    {
      label: "Connect",
      state: connectDone ? "done" : wallet.connection === "connected" && !wallet.onNetwork ? "error" : "current",
    },
    {
      label: "Upload",
      state: uploadDone
        ? "done"
        : pack.status === "error" || upload.status === "error" || (pack.status === "done" && pack.tooLarge)
          ? "error"
          : connectDone || pack.status !== "idle"
            ? "current"
            : "todo",
    },
    {
      label: "Review & sign",
      state: submitted
        ? "done"
        : prepare.status === "error" || sign.status === "error" || sign.status === "rejected"
          ? "error"
          : connectDone && uploadDone
            ? "current"
            : "todo",
    },
    { label: "Submitted", state: submitted ? "done" : sign.status === "submitting" ? "current" : "todo" },
  ];

  return (
    <section className="new-build" aria-labelledby="new-build-title">
      <h1 id="new-build-title">New build</h1>
      <p className="lead">
        Build a container image from your source, on chain: your wallet signs the request and pays the fee, a
        runner builds it and posts an attested result. Bundles up to {formatBytes(config.max_bundle_bytes)}.
      </p>
      <Stepper steps={steps} label="New build steps" />

      <ConnectStep config={config} wallet={wallet} onFunded={() => prepareKind(prepare) === "insufficient-balance" && runPrepare()} />

      <UploadStep
        config={config}
        pack={pack}
        setPack={setPack}
        upload={upload}
        setUpload={setUpload}
        onNewBundle={resetAfterPack}
      />

      <ReviewStep
        config={config}
        wallet={wallet}
        ready={ready}
        uploaded={uploadDone}
        preparing={prepare.status === "preparing" && prepare.key === prepareKey}
        prepared={prepared}
        prepareError={prepare.status === "error" && prepare.key === prepareKey ? prepare.error : null}
        onPrepareAgain={runPrepare}
        sign={sign}
        onSign={() => void signAndSubmit()}
      />
    </section>
  );
}

function prepareKind(prepare: PrepareState): string | null {
  return prepare.status === "error" ? problemKind(prepare.error) : null;
}
