export default function NewBuildPage() {
  return <h1>NewBuild</h1>;
}
