"""gRPC faults → `daas.errors`, in one place for every module that talks to a node.

Kept free of pysui so the indexer's raw-bytes checkpoint source (which avoids pysui on its hot path and at
start-up) shares the mapping with `SuiClient` instead of carrying a copy.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Callable, Iterator

from grpclib.const import Status
from grpclib.exceptions import GRPCError, ProtocolError, StreamTerminatedError

from daas.errors import ChainError, ChainUnavailable, DaasError

TRANSIENT_STATUSES = frozenset(
    {Status.UNAVAILABLE, Status.DEADLINE_EXCEEDED, Status.RESOURCE_EXHAUSTED, Status.ABORTED}
)
REJECTED_STATUSES = frozenset({Status.INVALID_ARGUMENT, Status.FAILED_PRECONDITION})


@contextlib.contextmanager
def map_grpc_errors(
    what: str,
    *,
    where: str | None = None,
    not_found: Callable[[str], ChainError] | None = None,
    rejected: Callable[[str], ChainError] | None = None,
    transient: frozenset[Status] = TRANSIENT_STATUSES,
) -> Iterator[None]:
    """Turn grpclib/transport exceptions raised inside into `daas.errors` (chained with `from`).

    `what` names the call, `where` the node (for messages); `not_found` and `rejected` build the error for
    NOT_FOUND and for INVALID_ARGUMENT/FAILED_PRECONDITION; `transient` lists statuses worth a retry.
    """
    node = f" {where}" if where else " the node"
    try:
        yield
    except DaasError:
        raise
    except GRPCError as exc:
        raise status_error(
            exc.status, exc.message, what, not_found, rejected, transient, node
        ) from exc
    except (StreamTerminatedError, ProtocolError) as exc:
        raise ChainUnavailable(f"{what}: connection to{node} broke ({exc})") from exc
    except ssl.SSLError as exc:
        raise ChainUnavailable(
            f"{what}: TLS handshake failed with{node} ({exc.reason}); is this an https endpoint?"
        ) from exc
    except (OSError, TimeoutError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise ChainUnavailable(f"{what}:{node} unreachable ({reason})") from exc


def status_error(
    status: Status,
    message: str | None,
    what: str,
    not_found: Callable[[str], ChainError] | None = None,
    rejected: Callable[[str], ChainError] | None = None,
    transient: frozenset[Status] = TRANSIENT_STATUSES,
    node: str = " the node",
) -> ChainError:
    text = f"{what}: {status.name}: {message or 'no message'}"
    if status in transient:
        return ChainUnavailable(text)
    if status is Status.NOT_FOUND and not_found is not None:
        return not_found(text)
    if status in REJECTED_STATUSES and rejected is not None:
        return rejected(text)
    if status in (Status.UNAUTHENTICATED, Status.PERMISSION_DENIED):
        return ChainError(f"{text} (check chain.api_token for this provider)")
    if status is Status.UNIMPLEMENTED:
        return ChainError(f"{what}:{node} does not serve this call ({message})")
    return ChainError(text)
