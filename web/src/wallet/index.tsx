export function WalletArea() {
  return null;
}
