"""The Python model stays in step with `move/`: constants, signatures, functions, and the Move tests' bytes.

These tests read the Move sources (and the Move tests' pinned vectors) as text; the model itself parses
nothing from Move. When one fails, change the model and the Move code together.
"""

from __future__ import annotations

import dataclasses
import re
import struct
import typing
from pathlib import Path

import pytest

from daas.chain import bcs
from daas.chain import codecs as c
from emulator.sui import model
from emulator.sui.model import (
    ENTRY_FUNCTIONS,
    BuildsAbort,
    BuildsModule,
    DaasModel,
    EnclaveAbort,
    EnclaveModule,
)
from emulator.sui.model_objects import OBJECT_TYPES, AdminCapObject, Clock, derive_id
from emulator.sui.types import (
    CLOCK_ID,
    CoinValue,
    IdValue,
    MoveValue,
    NitroDocument,
    ObjectArg,
    PureArg,
    TxContext,
)

MOVE = Path(__file__).resolve().parents[2] / "move"
SOURCES = {"builds": MOVE / "sources" / "builds.move", "enclave": MOVE / "sources" / "enclave.move"}
ABORTS: dict[str, type[BuildsAbort] | type[EnclaveAbort]] = {
    "builds": BuildsAbort,
    "enclave": EnclaveAbort,
}
MODULE_CLASSES: dict[str, type[BuildsModule] | type[EnclaveModule]] = {
    "builds": BuildsModule,
    "enclave": EnclaveModule,
}

_CONST = re.compile(r"^const\s+(\w+)\s*:\s*([\w<>]+)\s*=\s*(.+?);", re.S | re.M)
_FUN = re.compile(
    r"^(?P<vis>public(?:\(package\))?\s+)?(?:entry\s+)?fun\s+(?P<name>\w+)\s*(?:<[^>]*>)?\s*"
    r"\((?P<params>[^)]*)\)\s*(?::\s*(?P<ret>[^{]+?))?\s*\{",
    re.M,
)


def move_literal(literal: str) -> int | bytes | str:
    literal = re.sub(r"\s+", "", literal)
    if m := re.fullmatch(r'x"([0-9a-fA-F]*)"', literal):
        return bytes.fromhex(m.group(1))
    if m := re.fullmatch(r'b"([^"\\]*)"', literal):
        return m.group(1).encode()
    if m := re.fullmatch(r"@0x([0-9a-fA-F]+)", literal):
        return "0x" + m.group(1).lower().rjust(64, "0")
    if re.fullmatch(r"[0-9_]+", literal):
        return int(literal.replace("_", ""))
    raise ValueError(f"unparsed Move literal {literal}")


def move_constants(path: Path) -> dict[str, int | bytes | str]:
    return {m.group(1): move_literal(m.group(3)) for m in _CONST.finditer(path.read_text())}


@dataclasses.dataclass(frozen=True)
class MoveFunction:
    name: str
    visibility: str  # "public", "package" or "private"
    params: list[tuple[str, str]]  # without a trailing `ctx: &mut TxContext`
    takes_ctx: bool
    returns: str | None
    test_only: bool


def split_params(text: str) -> tuple[list[tuple[str, str]], bool]:
    """The (name, type) pairs, and whether the last one was the `&mut TxContext` (dropped)."""
    params: list[tuple[str, str]] = []
    depth, current = 0, ""
    for char in text + ",":
        if char == "," and depth == 0:
            if current.strip():
                name, move_type = current.split(":", 1)
                params.append((name.strip(), " ".join(move_type.split())))
            current = ""
            continue
        depth += {"<": 1, ">": -1}.get(char, 0)
        current += char
    if params and params[-1][1] == "&mut TxContext":
        params.pop()
        return params, True
    return params, False


def move_functions(path: Path) -> dict[str, MoveFunction]:
    text = path.read_text()
    functions = {}
    for m in _FUN.finditer(text):
        # Attributes sit between the end of the previous item and the `fun` line.
        preamble = text[text.rfind("\n}", 0, m.start()) : m.start()]
        vis = (m.group("vis") or "").strip()
        params, takes_ctx = split_params(m.group("params"))
        functions[m.group("name")] = MoveFunction(
            m.group("name"),
            {"public": "public", "public(package)": "package", "": "private"}[vis],
            params,
            takes_ctx,
            " ".join(m.group("ret").split()) if m.group("ret") else None,
            "#[test_only]" in preamble,
        )
    return functions


# --- constants -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("module", ["builds", "enclave"])
def test_abort_codes_equal_the_move_constants(module: str) -> None:
    constants = move_constants(SOURCES[module])
    move_codes = {
        name: value for name, value in constants.items() if re.fullmatch(r"E[A-Z]\w*", name)
    }
    python_codes = {code.name: int(code) for code in ABORTS[module]}
    assert move_codes, "no E* constants parsed"
    assert python_codes == move_codes


@pytest.mark.parametrize("module", ["builds", "enclave"])
def test_other_constants_equal_the_move_constants(module: str) -> None:
    constants = move_constants(SOURCES[module])
    others = {n: v for n, v in constants.items() if not re.fullmatch(r"E[A-Z]\w*", n)}
    assert others
    for name, value in others.items():
        python = getattr(model, name)
        if isinstance(value, bytes) and isinstance(python, str):
            python = python.encode()  # b"..." string constants, e.g. CONFIG_NAME
        assert python == value, name


def test_abort_codes_are_unique_across_modules() -> None:
    codes = [int(code) for abort in ABORTS.values() for code in abort]
    assert len(codes) == len(set(codes))


# --- functions -----------------------------------------------------------------------------------------------


def test_every_state_changing_public_function_is_callable() -> None:
    """A public function that takes `&mut`, an object by value or a TxContext must be in the model."""
    checked = 0
    for module, path in SOURCES.items():
        for function in move_functions(path).values():
            if function.visibility != "public" or function.test_only:
                continue
            types = [t for _, t in function.params]
            writes = any(t.startswith("&mut ") or t in OBJECT_TYPES for t in types)
            if writes or function.takes_ctx:
                checked += 1
                assert (module, function.name) in ENTRY_FUNCTIONS, function.name
    assert checked >= 15


@pytest.mark.parametrize(("module", "function"), sorted(ENTRY_FUNCTIONS))
def test_entry_signatures_equal_the_move_signatures(module: str, function: str) -> None:
    move = move_functions(SOURCES[module])[function]
    entry = ENTRY_FUNCTIONS[(module, function)]
    assert move.visibility == "public" and not move.test_only
    assert [(p.name, p.move_type) for p in entry.params] == move.params
    assert entry.returns == move.returns


PYTHON_TYPES: dict[str, object] = {
    "String": str,
    "vector<u8>": bytes,
    "u64": int,
    "u16": int,
    "bool": bool,
    "address": str,
    "ID": str,
    "Coin<SUI>": CoinValue,
    "&Clock": Clock,
    "NitroAttestationDocument": NitroDocument,
    "Registry": c.RegistryObject,
    "AdminCap": AdminCapObject,
    "BuildRequest": c.BuildRequestObject,
    "EnclaveConfig": c.EnclaveConfigObject,
    "Enclave": c.EnclaveObject,
}


@pytest.mark.parametrize(("module", "function"), sorted(ENTRY_FUNCTIONS))
def test_entry_methods_take_the_move_parameters(module: str, function: str) -> None:
    method = getattr(MODULE_CLASSES[module], function)
    hints = typing.get_type_hints(method)
    names = [n for n in method.__code__.co_varnames[1 : method.__code__.co_argcount]]
    params = ENTRY_FUNCTIONS[(module, function)].params
    assert names == [p.name for p in params]
    for param in params:
        base = param.move_type.removeprefix("&mut ").removeprefix("&")
        expected = PYTHON_TYPES.get(param.move_type, PYTHON_TYPES.get(base))
        assert hints[param.name] is expected, param
    assert hints["return"] is (str if ENTRY_FUNCTIONS[(module, function)].returns else type(None))


# Move functions the model does not mirror: getters and helpers that build values off chain.
NOT_MIRRORED = {
    "builds": {
        "new_spec",
        "succeeded_message",
        "failed_message",
        "registry_version",
        "payee",
        "min_fee",
        "build_timeout_ms",
        "is_paused",
        "enclave_config_id",
        "allow_debug",
        "request_status",
        "request_spec_digest",
        "request_requester",
        "request_deadline_ms",
        "request_result",
        "request_spec",
        "request_created_at_ms",
        "request_fee_amount",
        "request_escrow",
        "result_enclave_id",
        "result_succeeded",
        "result_image_digest",
        "result_image_index_blob_id",
        "result_log_digest",
        "result_log_blob_id",
        "result_error_code",
        "result_timestamp_ms",
        "result_signature",
    },
    "enclave": {
        "pk",
        "config_version",
        "enclave_config_id",
        "is_debug",
        "owner",
        "attestation",
        "attestation_timestamp_ms",
        "config_pcr0",
        "config_pcr1",
        "config_pcr2",
        "config_version_of",
        "config_name",
    },
}


@pytest.mark.parametrize("module", ["builds", "enclave"])
def test_one_python_method_per_move_function(module: str) -> None:
    functions = {name for name, f in move_functions(SOURCES[module]).items() if not f.test_only}
    methods = {
        name
        for name, value in vars(MODULE_CLASSES[module]).items()
        if callable(value) and not name.startswith("_")
    }
    assert NOT_MIRRORED[module] <= functions, "a listed function is gone from Move"
    assert methods == functions - NOT_MIRRORED[module]


def test_test_only_functions_are_recognised() -> None:
    builds = move_functions(SOURCES["builds"])
    assert builds["init_for_testing"].test_only and not builds["request_build"].test_only
    assert builds["init"].visibility == "private"
    assert move_functions(SOURCES["enclave"])["create_config"].visibility == "package"


# --- the Move tests' pinned bytes, reproduced by the model ------------------------------------------------------


class Pinned:
    """The constants of `move/tests/*_tests.move`, read with their Move types."""

    def __init__(self) -> None:
        self._values: dict[str, int | bytes | str] = {}
        for path in sorted((MOVE / "tests").glob("*_tests.move")):
            for name, value in move_constants(path).items():
                assert self._values.get(name, value) == value, f"{name} differs between files"
                self._values[name] = value

    def bytes(self, name: str) -> bytes:
        value = self._values[name]
        assert isinstance(value, bytes), name
        return value

    def int(self, name: str) -> int:
        value = self._values[name]
        assert isinstance(value, int), name
        return value

    def addr(self, name: str) -> str:
        value = self._values[name]
        assert isinstance(value, str), name
        return value


def _u64(value: int) -> PureArg:
    return PureArg(struct.pack("<Q", value))


def _bytes(value: bytes) -> PureArg:
    out = bytearray()
    bcs.Bytes.encode(value, out)
    return PureArg(bytes(out))


def _string(value: str) -> PureArg:
    out = bytearray()
    bcs.String.encode(value, out)
    return PureArg(bytes(out))


def _address(value: str) -> PureArg:
    return PureArg(bytes.fromhex(value[2:]))


class Scenario:
    """`sui::test_scenario` as the Move tests use it: transaction n has digest `bcs(n as u64)` + zeros."""

    def __init__(self, v: Pinned) -> None:
        self.v = v
        self.model = DaasModel("0x" + "0" * 62 + "da")
        self.n = 0
        self.now = v.int("T_CREATE")
        self.changes = self.model.publish(self.ctx(v.addr("ADMIN")))

    def ctx(self, sender: str, ids_created: int = 0) -> TxContext:
        ctx = TxContext(sender, struct.pack("<Q", self.n) + bytes(24), self.now, 0, ids_created)
        self.n += 1
        return ctx

    def run(
        self, sender: str, *calls: tuple[str, str, list[MoveValue]], ids_created: int = 0
    ) -> list[list[MoveValue]]:
        tx = self.model.begin(self.ctx(sender, ids_created))
        results = [tx.call(*call) for call in calls]
        self.changes = tx.commit()
        return results

    def contents(self, object_id: str) -> bytes:
        stored = self.model.get(object_id)
        assert stored is not None
        return stored.contents

    def event_bytes(self) -> list[bytes]:
        return [e.event.to_bcs() for e in self.changes.events]


def objects(v: Pinned) -> dict[str, ObjectArg]:
    return {
        "reg": ObjectArg(v.addr("REGISTRY_ID"), False),
        "reg_mut": ObjectArg(v.addr("REGISTRY_ID"), True),
        "cap": ObjectArg(derive_id(bytes(32), 2), False),
        "config": ObjectArg(v.addr("CONFIG_ID"), False),
        "config_mut": ObjectArg(v.addr("CONFIG_ID"), True),
        "enclave": ObjectArg(v.addr("ENCLAVE_ID"), False),
        "request": ObjectArg(v.addr("REQUEST_ID"), True),
        "clock": ObjectArg(CLOCK_ID, False),
    }


def setup_scenario(v: Pinned) -> Scenario:
    """`builds_tests::setup` then `request` (tx 2 mints the payment coin first: object 0)."""
    s = Scenario(v)
    o = objects(v)
    admin, user = v.addr("ADMIN"), v.addr("USER")
    assert s.model.registry_id == v.addr("REGISTRY_ID")
    assert s.model.enclave_config_id == v.addr("CONFIG_ID")
    assert s.contents(v.addr("CONFIG_ID")) == v.bytes("CONFIG_AT_INIT")
    assert s.event_bytes() == [v.bytes("REGISTRY_UPDATED_AT_INIT")]
    [_, _, [enclave]] = s.run(
        admin,
        ("builds", "set_payee", [o["reg_mut"], o["cap"], _address(v.addr("PAYEE"))]),
        ("builds", "set_allow_debug", [o["reg_mut"], o["cap"], PureArg(b"\x01")]),
        (
            "builds",
            "register_debug_enclave",
            [o["reg"], o["cap"], o["config"], _bytes(v.bytes("RFC_PK"))],
        ),
    )
    assert enclave == IdValue(v.addr("ENCLAVE_ID"))
    assert s.event_bytes()[-1] == v.bytes("DEBUG_ENCLAVE_REGISTERED")
    assert s.contents(v.addr("ENCLAVE_ID")) == v.bytes("DEBUG_ENCLAVE_OBJECT")
    assert s.contents(v.addr("REGISTRY_ID")) == v.bytes("REGISTRY_AFTER_SETUP")
    [[request]] = s.run(
        user,
        (
            "builds",
            "request_build",
            [
                o["reg"],
                _string("blob-abc"),
                _bytes(v.bytes("SOURCE_SHA256")),
                _string("Dockerfile"),
                _string("linux/amd64"),
                CoinValue(v.int("FEE")),
                o["clock"],
            ],
        ),
        ids_created=1,
    )
    assert request == IdValue(v.addr("REQUEST_ID"))
    assert s.event_bytes() == [v.bytes("BUILD_REQUESTED")]
    assert s.contents(v.addr("REQUEST_ID")) == v.bytes("REQUEST_PENDING")
    return s


def test_the_model_reproduces_the_move_tests_setup_and_request() -> None:
    setup_scenario(Pinned())


def test_the_model_reproduces_the_move_tests_success() -> None:
    v = Pinned()
    s = setup_scenario(v)
    o = objects(v)
    s.now = v.int("T_RESULT")
    s.run(
        v.addr("RELAYER"),
        (
            "builds",
            "complete",
            [
                o["reg"],
                o["request"],
                o["config"],
                o["enclave"],
                _bytes(v.bytes("IMAGE_DIGEST")),
                _string("index-blob"),
                _bytes(v.bytes("LOG_DIGEST")),
                _string("log-blob"),
                _u64(v.int("T_RESULT")),
                _bytes(v.bytes("SIG_SUCCEEDED")),
                o["clock"],
            ],
        ),
    )
    assert s.event_bytes() == [v.bytes("BUILD_SUCCEEDED")]
    assert s.contents(v.addr("REQUEST_ID")) == v.bytes("REQUEST_SUCCEEDED")


@pytest.mark.parametrize("code", [110, 201])
def test_the_model_reproduces_the_move_tests_failures(code: int) -> None:
    v = Pinned()
    s = setup_scenario(v)
    o = objects(v)
    s.now = v.int("T_RESULT")
    s.run(
        v.addr("RELAYER"),
        (
            "builds",
            "fail",
            [
                o["reg"],
                o["request"],
                o["config"],
                o["enclave"],
                PureArg(struct.pack("<H", code)),
                _bytes(v.bytes("LOG_DIGEST")),
                _string("log-blob"),
                _u64(v.int("T_RESULT")),
                _bytes(v.bytes(f"SIG_FAILED_{code}")),
                o["clock"],
            ],
        ),
    )
    assert s.event_bytes() == [v.bytes(f"BUILD_FAILED_{code}")]
    if code == 201:
        assert s.contents(v.addr("REQUEST_ID")) == v.bytes("REQUEST_FAILED_201")


def test_the_model_reproduces_the_move_tests_cancel() -> None:
    v = Pinned()
    s = setup_scenario(v)
    s.now = v.int("DEADLINE") + 1
    s.run(v.addr("USER"), ("builds", "cancel", [objects(v)["request"], objects(v)["clock"]]))
    assert s.event_bytes() == [v.bytes("BUILD_CANCELLED")]


def test_the_model_reproduces_the_move_tests_enclave_lifecycle() -> None:
    """PCR update, attested registration (tx 2 in enclave_tests), then the stale debug enclave's end."""
    v = Pinned()
    s = Scenario(v)
    o = objects(v)
    admin = v.addr("ADMIN")
    pcrs = [_bytes(v.bytes(f"PCR{i}")) for i in range(3)]
    s.run(admin, ("builds", "update_pcrs", [o["reg"], o["cap"], o["config_mut"], *pcrs]))
    assert s.event_bytes() == [v.bytes("PCRS_UPDATED")]
    document = NitroDocument(
        module_id="i-0",
        timestamp_ms=v.int("ATTESTATION_TS"),
        digest="SHA384",
        pcrs={i: v.bytes(f"PCR{i}") for i in range(3)},
        public_key=v.bytes("OPERATOR_PK"),
        user_data=None,
        nonce=None,
    )
    attestation = _bytes(v.bytes("ATTESTATION"))
    [[enclave]] = s.run(
        v.addr("OPERATOR"), ("enclave", "register_enclave", [o["config"], document, attestation])
    )
    assert enclave == IdValue(v.addr("ATTESTED_ENCLAVE_ID"))
    assert s.event_bytes() == [v.bytes("ATTESTED_ENCLAVE_REGISTERED")]
    assert s.contents(v.addr("ATTESTED_ENCLAVE_ID")) == v.bytes("ATTESTED_ENCLAVE_OBJECT")


def test_the_model_reproduces_the_move_tests_destroy_stale() -> None:
    v = Pinned()
    s = setup_scenario(v)
    o = objects(v)
    pcrs = [_bytes(v.bytes(f"PCR{i}")) for i in range(3)]
    s.run(v.addr("ADMIN"), ("builds", "update_pcrs", [o["reg"], o["cap"], o["config_mut"], *pcrs]))
    stale = ObjectArg(v.addr("ENCLAVE_ID"), True)
    s.run(v.addr("STRANGER"), ("enclave", "destroy_stale", [stale, o["config"]]))
    assert s.event_bytes() == [v.bytes("ENCLAVE_DESTROYED")]
    assert s.changes.deleted == [v.addr("ENCLAVE_ID")]
