/**
 * What a transaction does, read from its bytes alone (no client): the wallet shows this before it signs, so
 * the user approves what is actually signed, not what the page claims.
 */
import { bcs } from "@mysten/sui/bcs";
import { TransactionDataBuilder } from "@mysten/sui/transactions";
import { fromBase64, toHex } from "@mysten/sui/utils";

export interface BundleDetails {
  blobId: string;
  sha256: string;
  dockerfile: string;
  platform: string;
}

export interface TransactionDetails {
  digest: string;
  sender: string | null;
  /** `package::module::function` of every Move call */
  calls: string[];
  /** MIST split off the gas coin (the build fee, for `request_build`) */
  paidFromGas: bigint;
  gasBudget: bigint | null;
  gasPrice: bigint | null;
  /** the `request_build` arguments, when the transaction is one */
  bundle: BundleDetails | null;
}

type Arg = { $kind: string; Input?: number };

export function describeTransaction(bytes: Uint8Array): TransactionDetails {
  const data = TransactionDataBuilder.fromBytes(bytes);
  const pure = (arg: Arg | undefined): Uint8Array | null => {
    if (!arg || arg.$kind !== "Input" || arg.Input === undefined) return null;
    const input = data.inputs[arg.Input];
    if (!input || input.$kind !== "Pure" || !input.Pure) return null;
    return typeof input.Pure.bytes === "string" ? fromBase64(input.Pure.bytes) : null;
  };

  const calls: string[] = [];
  let paidFromGas = 0n;
  let bundle: BundleDetails | null = null;
  for (const command of data.commands) {
    if (command.$kind === "MoveCall" && command.MoveCall) {
      const call = command.MoveCall;
      calls.push(`${call.package}::${call.module}::${call.function}`);
      if (call.module === "builds" && call.function === "request_build") {
        const args = call.arguments as Arg[];
        const [blob, sha, dockerfile, platform] = [1, 2, 3, 4].map((i) => pure(args[i]));
        if (blob && sha && dockerfile && platform) {
          bundle = {
            blobId: bcs.string().parse(blob),
            sha256: toHex(Uint8Array.from(bcs.vector(bcs.u8()).parse(sha))),
            dockerfile: bcs.string().parse(dockerfile),
            platform: bcs.string().parse(platform),
          };
        }
      }
    } else if (command.$kind === "SplitCoins" && command.SplitCoins) {
      const split = command.SplitCoins;
      if ((split.coin as Arg).$kind === "GasCoin") {
        for (const amount of split.amounts as Arg[]) {
          const raw = pure(amount);
          if (raw) paidFromGas += BigInt(bcs.u64().parse(raw));
        }
      }
    }
  }
  return {
    digest: TransactionDataBuilder.getDigestFromBytes(bytes),
    sender: data.sender,
    calls,
    paidFromGas,
    gasBudget: data.gasData.budget == null ? null : BigInt(data.gasData.budget),
    gasPrice: data.gasData.price == null ? null : BigInt(data.gasData.price),
    bundle,
  };
}
