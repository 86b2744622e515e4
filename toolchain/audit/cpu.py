"""CPU gate: disassemble every code section and reject instructions the target
CPU (or OS) cannot execute.

A Pentium meeting a CMOV stops with "illegal instruction" somewhere in the
middle of a run; Debian's MinGW runtime is full of them even with
``-march=pentium`` (docs/platform.md §3).  capstone's instruction groups are
not CPU generations, so the decision comes from explicit mnemonic tables in
``toolchain/data/cpu_baselines.yaml``; the groups are only a second net.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

import capstone
import pefile

from toolchain.audit.findings import Finding, Severity
from toolchain.audit.platforms import Baseline, Rule, baselines, check_cpu, check_os
from toolchain.audit.symbols import Symbolizer, is_code_section

_PREFIXES = ("lock ", "rep ", "repe ", "repne ", "repz ", "repnz ", "bnd ", "notrack ")
# Hits closer than this without symbols are reported as one group.
_CLUSTER_BYTES = 256


@dataclass(frozen=True)
class CpuHit:
    """One instruction beyond the baseline."""

    address: int
    mnemonic: str
    operands: str
    hex: str
    set: str
    severity: Severity
    function: str | None = None

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["address"] = f"{self.address:#010x}"
        return d


@dataclass(frozen=True)
class _Rule:
    mnemonics: frozenset[str] | None
    prefixes: tuple[str, ...] | None
    suffixes: tuple[str, ...] | None
    operands: str | None
    opcode: tuple[int, ...] | None

    def matches(self, mnemonic: str, regex_hits: dict[str, bool], opcode: tuple[int, ...]) -> bool:
        if self.mnemonics is not None and mnemonic not in self.mnemonics:
            return False
        if self.prefixes is not None and not mnemonic.startswith(self.prefixes):
            return False
        if self.suffixes is not None and not mnemonic.endswith(self.suffixes):
            return False
        if self.operands is not None and not regex_hits[self.operands]:
            return False
        if self.opcode is not None and opcode[: len(self.opcode)] != self.opcode:
            return False
        return True


class Gate:
    """The compiled tables for one (cpu, os): which set each instruction falls in
    and whether that is a failure or a warning here.
    """

    def __init__(self, cpu: str, os: str) -> None:
        doc = baselines()
        check_cpu(cpu)
        check_os(os)
        self.cpu, self.os = cpu, os
        base = doc.baselines[cpu]
        os_rules = doc.os.get(os, Baseline())
        self.rejected = set(base.reject) | set(os_rules.reject) | {"privileged"}
        self.warn_sets = set(os_rules.warn) - self.rejected
        self.warn_mnemonics = frozenset(base.warn)
        self.titles = {name: s.title for name, s in doc.sets.items()}
        self.order = [s for s in doc.order if s in self.rejected | self.warn_sets]
        self.rules = {name: [self._rule(r) for r in doc.sets[name].rules] for name in self.order}
        self.regexes = {r.operands: re.compile(r.operands) for rs in self.rules.values() for r in rs if r.operands}
        self.groups = {g: s for g, s in doc.groups.items() if s in self.order}
        self.never = frozenset(doc.never_reject)
        self._cache: dict[tuple[Any, ...], tuple[str, Severity] | None] = {}

    @staticmethod
    def _rule(r: Rule) -> _Rule:
        return _Rule(
            frozenset(r.mnemonics) if r.mnemonics is not None else None,
            tuple(r.prefixes) if r.prefixes is not None else None,
            tuple(r.suffixes) if r.suffixes is not None else None,
            r.operands,
            tuple(bytes.fromhex(r.opcode)) if r.opcode is not None else None,
        )

    def classify(self, insn: capstone.CsInsn) -> tuple[str, Severity] | None:
        """(set, severity) when ``insn`` is beyond the target, else None."""
        mnemonic = insn.mnemonic
        for p in _PREFIXES:
            if mnemonic.startswith(p):
                mnemonic = mnemonic[len(p):]
        hits = {src: bool(rx.search(insn.op_str)) for src, rx in self.regexes.items()}
        opcode = tuple(b for b in insn.opcode if b)[:2] or (0,)
        key = (insn.id, mnemonic, tuple(hits.values()), opcode)
        if key in self._cache:
            return self._cache[key]
        result = self._decide(insn, mnemonic, hits, opcode)
        self._cache[key] = result
        return result

    def _decide(self, insn: capstone.CsInsn, mnemonic: str, hits: dict[str, bool],
                opcode: tuple[int, ...]) -> tuple[str, Severity] | None:
        if mnemonic in self.never:
            return None
        found = next((s for s in self.order if any(r.matches(mnemonic, hits, opcode) for r in self.rules[s])), None)
        if found is None:
            names = [insn.group_name(g) for g in insn.groups]
            found = next((self.groups[g] for g in names if g in self.groups), None)
        if found is None:
            return None
        if found in self.warn_sets or (mnemonic in self.warn_mnemonics and found != "privileged"):
            return found, "warn"
        return found, "fail"


def _disassembler() -> capstone.Cs:
    md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_32)
    md.detail = True
    md.skipdata = True
    return md


def _address_tables(code: bytes, address: int) -> list[tuple[int, int]]:
    """(start, end) of the tables of addresses that live inside this block of code.

    Open Watcom places such tables in the code section: a ``switch``'s case
    addresses right after its function, and its math library's table of
    pointers to error messages (which are in the code section too).  A linear
    sweep decodes the addresses as instructions (0xF4, the low byte of
    0x0040FFF4, reads as ``hlt``).  A range is data only when the code itself
    proves it: an instruction indexes it as an array of 4-byte entries
    (``jmp [reg*4 + table]``, ``mov eax, [reg*4 + table]``), and the table runs
    on for as long as each entry is an address inside this block.  Bytes
    nothing points at are still swept as code, so the check stays as strict
    as before.
    """
    end = address + len(code)
    starts: set[int] = set()
    for insn in _disassembler().disasm(code, address):
        if insn.id == 0:
            continue
        for op in insn.operands:
            if (op.type == capstone.x86.X86_OP_MEM and op.mem.scale == 4 and op.mem.base == 0
                    and op.mem.index != 0):
                disp = op.mem.disp & 0xFFFFFFFF
                if address <= disp < end:
                    starts.add(disp)
    tables: list[tuple[int, int]] = []
    for start in sorted(starts):
        pos = start
        while pos + 4 <= end:
            entry = int.from_bytes(code[pos - address:pos - address + 4], "little")
            if not address <= entry < end:
                break
            pos += 4
        if pos > start:
            tables.append((start, pos))
    return tables


def _code_ranges(code: bytes, address: int) -> list[tuple[int, int]]:
    """The block minus its address tables (merged, in address order)."""
    ranges: list[tuple[int, int]] = []
    pos = address
    for start, stop in _address_tables(code, address):
        if stop <= pos:
            continue
        if start > pos:
            ranges.append((pos, start))
        pos = max(pos, stop)
    if pos < address + len(code):
        ranges.append((pos, address + len(code)))
    return ranges


def scan_code(code: bytes, address: int, gate: Gate) -> list[CpuHit]:
    """Linear sweep of one block of code, stepping over its address tables;
    undecodable bytes are skipped."""
    out: list[CpuHit] = []
    for lo, hi in _code_ranges(code, address):
        for insn in _disassembler().disasm(code[lo - address:hi - address], lo):
            if insn.id == 0:  # skipdata pseudo-instruction: its groups raise CsError
                continue
            verdict = gate.classify(insn)
            if verdict:
                out.append(CpuHit(insn.address, insn.mnemonic, insn.op_str, bytes(insn.bytes).hex(" "), *verdict))
    return out


def scan_pe(pe: pefile.PE, gate: Gate) -> tuple[list[CpuHit], int]:
    """Hits in every code section of ``pe`` and the number of code bytes swept."""
    hits: list[CpuHit] = []
    swept = 0
    for s in pe.sections:
        if not is_code_section(s):
            continue
        size = s.Misc_VirtualSize or s.SizeOfRawData
        data = s.get_data()[:size]
        swept += len(data)
        hits += scan_code(data, pe.OPTIONAL_HEADER.ImageBase + s.VirtualAddress, gate)
    return hits, swept


def name_hits(hits: list[CpuHit], symbols: Symbolizer | None) -> list[CpuHit]:
    """Attach the enclosing function to every hit (None without symbols)."""
    if not symbols:
        return hits
    return [CpuHit(**{**asdict(h), "function": symbols.name_of(h.address)}) for h in hits]


def _groups(hits: list[CpuHit]) -> list[tuple[str, list[CpuHit]]]:
    """Hits grouped per function, or per address cluster when there are no names."""
    groups: dict[str, list[CpuHit]] = {}
    cluster: str | None = None
    last = -_CLUSTER_BYTES
    for h in sorted(hits, key=lambda h: h.address):
        if h.function is not None:
            key = h.function
        else:
            if cluster is None or h.address - last > _CLUSTER_BYTES:
                cluster = f"? @ {h.address:#x}"
            key = cluster
            last = h.address
        groups.setdefault(key, []).append(h)
    return list(groups.items())


def cpu_findings(hits: list[CpuHit], gate: Gate) -> list[Finding]:
    """One finding per function and severity: 1000 hits stay a readable table."""
    out: list[Finding] = []
    for name, group in _groups(hits):
        for severity in ("fail", "warn"):
            mine = [h for h in group if h.severity == severity]
            if not mine:
                continue
            parts = []
            for set_name in gate.order:
                in_set = [h.mnemonic for h in mine if h.set == set_name]
                if in_set:
                    counts = ", ".join(f"{m}×{n}" if n > 1 else m for m, n in Counter(in_set).most_common())
                    parts.append(f"{gate.titles[set_name]}: {counts}")
            noun = "instruction" if len(mine) == 1 else "instructions"
            verb = "beyond" if severity == "fail" else "questionable on"
            where = name if name.startswith("?") else f"{name} @ {mine[0].address:#x}"
            out.append(Finding(severity, "cpu", f"{len(mine)} {noun} {verb} {gate.cpu}/{gate.os}: "
                               + "; ".join(parts), where))
    return out
