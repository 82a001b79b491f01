/**
 * `/builds`: every build, newest first, filtered by status and requester ("my builds" is the connected
 * wallet's address), both kept in the query string (`?status=failed&requester=0x…`) so a filtered list can
 * be linked and survives a reload. Keyset pages from the API's `next` links, one "Load more" at a time.
 */
import { BUILD_STATUSES, type BuildStatus, type BuildSummary, useBuildList } from "../../api/builds";
import { ErrorBanner } from "../../components/ErrorBanner";
import { Link, navigate, useLocation } from "../../router";
import "./builds.css";
import { formatRelative, formatTime, shortId } from "../../format";
import { StatusBadge } from "./StatusBadge";
import { useWalletAddress } from "./useWalletAddress";

const PAGE_SIZE = 20;
const ADDRESS = /^0[xX][0-9a-fA-F]{1,64}$/;

interface Filters {
  status?: BuildStatus;
  requester?: string;
  /** page size, 1..200 (`?limit=`); PAGE_SIZE when absent */
  limit?: number;
}

export function parseFilters(search: URLSearchParams): Filters {
  const status = search.get("status")?.toLowerCase();
  const requester = search.get("requester")?.trim();
  const limit = Number(search.get("limit"));
  return {
    ...(status && (BUILD_STATUSES as readonly string[]).includes(status) ? { status: status as BuildStatus } : {}),
    ...(requester && ADDRESS.test(requester) ? { requester: requester.toLowerCase() } : {}),
    ...(Number.isInteger(limit) && limit >= 1 && limit <= 200 ? { limit } : {}),
  };
}

function sameAddress(a: string | undefined | null, b: string | undefined | null): boolean {
  if (!a || !b) return false;
  const norm = (x: string) => x.toLowerCase().replace(/^0x/, "").padStart(64, "0");
  return norm(a) === norm(b);
}

function setFilters(next: { status?: string | undefined; requester?: string | undefined }) {
  const query = new URLSearchParams();
  if (next.status) query.set("status", next.status);
  if (next.requester) query.set("requester", next.requester);
  const limit = parseFilters(new URLSearchParams(window.location.search)).limit;
  if (limit) query.set("limit", String(limit));
  const text = query.toString();
  navigate(text ? `/builds?${text}` : "/builds", { replace: true });
}

export default function BuildsPage() {
  const { search } = useLocation();
  const filters = parseFilters(search);
  const wallet = useWalletAddress();
  const mine = sameAddress(filters.requester, wallet);
  const list = useBuildList({ ...filters, limit: filters.limit ?? PAGE_SIZE });
  const items = list.data?.pages.flatMap((p) => p.items) ?? [];
  const filtered = filters.status !== undefined || filters.requester !== undefined;

  return (
    <section className="builds" aria-labelledby="builds-title">
      <div className="builds-head">
        <h1 id="builds-title">Builds</h1>
        <button type="button" onClick={() => void list.refetch()} disabled={list.isFetching}>
          {list.isFetching && !list.isFetchingNextPage ? "Refreshing…" : "Refresh"}
        </button>
      </div>

      <form className="filters" aria-label="Filter builds" onSubmit={(e) => e.preventDefault()}>
        <label className="filter">
          <span>Status</span>
          <select
            value={filters.status ?? ""}
            onChange={(e) => setFilters({ status: e.target.value || undefined, requester: filters.requester })}
          >
            <option value="">Any status</option>
            {BUILD_STATUSES.map((s) => (
              <option key={s} value={s}>
                {s[0]!.toUpperCase() + s.slice(1)}
              </option>
            ))}
          </select>
        </label>
        <label className="filter filter-check">
          <input
            type="checkbox"
            checked={mine}
            disabled={wallet === null && !mine}
            onChange={(e) =>
              setFilters({ status: filters.status, requester: e.target.checked ? (wallet ?? undefined) : undefined })
            }
            aria-describedby="mine-hint"
          />
          <span>Only my builds</span>
        </label>
        <span id="mine-hint" className="muted filter-hint">
          {wallet === null ? "Connect a wallet to see your builds." : `Your wallet: ${shortId(wallet)}`}
        </span>
      </form>

      {filters.requester && !mine && (
        <p className="requester-filter">
          Requested by <span className="long-id">{filters.requester}</span>{" "}
          <button type="button" className="small" onClick={() => setFilters({ status: filters.status })}>
            Show everyone's
          </button>
        </p>
      )}

      {list.error && !list.data ? (
        <ErrorBanner error={list.error} title="The builds could not be loaded" onRetry={() => void list.refetch()} />
      ) : list.isPending ? (
        <p className="muted" aria-busy="true">
          Loading builds…
        </p>
      ) : items.length === 0 ? (
        <div className="empty">
          {filtered ? (
            <p>
              No builds match these filters. <Link href="/builds">Show all builds</Link>.
            </p>
          ) : (
            <p>
              No builds yet. <Link href="/">Request the first one</Link>.
            </p>
          )}
        </div>
      ) : (
        <>
          <p className="muted list-count" aria-live="polite">
            {items.length} {items.length === 1 ? "build" : "builds"}
            {list.hasNextPage ? " shown, more below" : ""}
          </p>
          <ul className="build-list">
            {items.map((b) => (
              <BuildRow key={b.request_id} build={b} mine={sameAddress(b.requester, wallet)} />
            ))}
          </ul>
          {list.error && (
            <ErrorBanner error={list.error} title="More builds could not be loaded" onRetry={() => void list.fetchNextPage()} />
          )}
          {list.hasNextPage && (
            <button
              type="button"
              className="load-more"
              onClick={() => void list.fetchNextPage()}
              disabled={list.isFetchingNextPage}
            >
              {list.isFetchingNextPage ? "Loading…" : "Load more"}
            </button>
          )}
        </>
      )}
    </section>
  );
}

function BuildRow({ build, mine }: { build: BuildSummary; mine: boolean }) {
  return (
    <li className="build-row" data-status={build.status} data-id={build.request_id}>
      <Link href={`/builds/${build.request_id}`} className="build-link" title={build.request_id}>
        <span className="visually-hidden">Build </span>
        <span className="truncate build-row-id">{build.request_id}</span>
      </Link>
      <StatusBadge status={build.status} step={build.step} />
      <span className="build-row-time" title={formatTime(build.created_at_ms)}>
        {formatRelative(build.created_at_ms)}
      </span>
      <span className="build-row-requester muted truncate" title={build.requester}>
        by {mine ? "you" : shortId(build.requester)}
      </span>
      <span className="build-row-platform muted">{build.platform}</span>
    </li>
  );
}
