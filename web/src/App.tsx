import { useEffect } from "react";

import { useConfig } from "./api/config";
import { ErrorBanner } from "./components/ErrorBanner";
import BuildPage from "./pages/Build";
import BuildsPage from "./pages/Builds";
import NewBuildPage from "./pages/NewBuild";
import StatusPage from "./pages/Status";
import { Link, type Route, useRoute } from "./router";
import { WalletArea } from "./wallet";

const NAV: Array<{ href: string; label: string; active: (route: Route) => boolean }> = [
  { href: "/", label: "New build", active: (r) => r.name === "new" },
  { href: "/builds", label: "Builds", active: (r) => r.name === "builds" || r.name === "build" },
  { href: "/status", label: "Status", active: (r) => r.name === "status" },
];

const TITLES: Record<Route["name"], string> = {
  new: "New build",
  builds: "Builds",
  build: "Build",
  status: "Status",
  "not-found": "Not found",
};

export default function App() {
  const route = useRoute();
  const config = useConfig();

  useEffect(() => {
    document.title = `${TITLES[route.name]} · DaaS`;
  }, [route.name]);

  return (
    <div className="app">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="app-header">
        <Link href="/" className="brand" aria-label="DaaS home">
          DaaS
        </Link>
        <nav aria-label="Main">
          <ul className="nav">
            {NAV.map((item) => (
              <li key={item.href}>
                <Link href={item.href} aria-current={item.active(route) ? "page" : undefined}>
                  {item.label}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        {config.data && <span className="network-badge">{config.data.network}</span>}
        <WalletArea />
      </header>
      <main id="main" tabIndex={-1}>
        {config.error && <ErrorBanner error={config.error} title="The DaaS API is unavailable" />}
        {route.name === "new" && <NewBuildPage />}
        {route.name === "builds" && <BuildsPage />}
        {route.name === "build" && <BuildPage id={route.id} />}
        {route.name === "status" && <StatusPage />}
        {route.name === "not-found" && (
          <section>
            <h1>Page not found</h1>
            <p>
              Nothing lives at <code>{route.path}</code>. <Link href="/builds">See all builds</Link>.
            </p>
          </section>
        )}
      </main>
    </div>
  );
}
