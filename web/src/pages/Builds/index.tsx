export default function BuildsPage() {
  return <h1>Builds</h1>;
}
