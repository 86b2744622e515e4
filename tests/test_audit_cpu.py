"""The capstone gate on hand-assembled byte strings (no compiler needed)."""

from __future__ import annotations

import pytest

from toolchain.audit.cpu import Gate, scan_code
from toolchain.errors import ConfigError

CMOVE = bytes.fromhex("0f44c1")          # cmove eax, ecx
FCOMI = bytes.fromhex("dbf1")            # fcomi st(1)
FUCOMIP = bytes.fromhex("dfe9")          # fucomip st(1) -- capstone: fucompi
FCMOVB = bytes.fromhex("dac1")           # fcmovb st(0), st(1)
NOPL = bytes.fromhex("0f1f4000")         # nop dword ptr [eax+0] (multi-byte NOP)
NOPW = bytes.fromhex("660f1f440000")     # nop word ptr [eax+eax+0]
EMMS = bytes.fromhex("0f77")
PADDD_MM = bytes.fromhex("0ffec1")       # paddd mm0, mm1
MOVAPS = bytes.fromhex("0f28c1")         # movaps xmm0, xmm1
ADDSD = bytes.fromhex("f20f58c1")        # addsd xmm0, xmm1 (SSE2)
PAVGB_MM = bytes.fromhex("0fe0c1")       # pavgb mm0, mm1 (SSE integer on MMX regs)
CPUID = bytes.fromhex("0fa2")
RDTSC = bytes.fromhex("0f31")
PAUSE = bytes.fromhex("f390")
FEMMS = bytes.fromhex("0f0e")
MOVSD_STRING = bytes.fromhex("a5")       # movsd (string move, not SSE2)
LOCK_CMPXCHG = bytes.fromhex("f00fb10a")  # lock cmpxchg [edx], ecx
WRMSR = bytes.fromhex("0f30")
PLAIN = bytes.fromhex("5589e58b450801c05dc3")  # push ebp; mov ebp,esp; mov eax,[ebp+8]; add eax,eax; pop ebp; ret


def hits(code: bytes, cpu: str, os: str = "win98") -> list[tuple[str, str, str]]:
    """(mnemonic, set, severity) of every hit."""
    return [(h.mnemonic, h.set, h.severity) for h in scan_code(code, 0x401000, Gate(cpu, os))]


@pytest.mark.parametrize(
    ("code", "mnemonic"),
    [(CMOVE, "cmove"), (FCOMI, "fcomi"), (FUCOMIP, "fucompi"), (FCMOVB, "fcmovb"), (NOPL, "nop"), (NOPW, "nop")],
)
def test_p6_instructions_fail_on_pentium_and_pass_on_pentium2(code: bytes, mnemonic: str) -> None:
    assert hits(code, "pentium") == [(mnemonic, "p6", "fail")]
    assert hits(code, "pentium2") == []


@pytest.mark.parametrize("code", [EMMS, PADDD_MM])
def test_mmx_fails_on_pentium_and_pentiumpro_passes_on_pentium_mmx(code: bytes) -> None:
    assert hits(code, "pentium")[0][1:] == ("mmx", "fail")
    assert hits(code, "pentiumpro")[0][1:] == ("mmx", "fail")
    assert hits(code, "pentium-mmx") == []


def test_sse_integer_op_on_mmx_registers_is_sse_not_mmx() -> None:
    assert hits(PAVGB_MM, "pentium-mmx") == [("pavgb", "sse", "fail")]
    assert hits(PAVGB_MM, "pentium3") == []


def test_movaps_is_sse_rejected_on_pentium2_and_on_win95_whatever_the_cpu() -> None:
    assert hits(MOVAPS, "pentium2") == [("movaps", "sse", "fail")]
    assert hits(MOVAPS, "pentium3", "win98") == []
    assert hits(MOVAPS, "pentium3", "win95") == [("movaps", "sse", "fail")]
    assert hits(MOVAPS, "pentium3", "nt4") == [("movaps", "sse", "warn")]


def test_sse2_rejected_on_pentium3_but_string_movsd_is_fine() -> None:
    assert hits(ADDSD, "pentium3") == [("addsd", "sse2", "fail")]
    assert hits(MOVSD_STRING, "i386") == []


def test_cpuid_warns_on_i486_fails_on_i386_passes_on_pentium() -> None:
    assert hits(CPUID, "i486") == [("cpuid", "p5", "warn")]
    assert hits(CPUID, "i386") == [("cpuid", "p5", "fail")]
    assert hits(CPUID, "pentium") == []


def test_rdtsc_fails_on_i486() -> None:
    assert hits(RDTSC, "i486") == [("rdtsc", "p5", "fail")]
    assert hits(RDTSC, "pentium") == []


def test_pause_is_never_rejected() -> None:
    for cpu in ("i386", "i486", "pentium", "pentium3"):
        assert hits(PAUSE, cpu, "win95") == []


def test_3dnow_only_on_k6_2() -> None:
    assert hits(FEMMS, "k6") == [("femms", "3dnow", "fail")]
    assert hits(FEMMS, "pentium3") == [("femms", "3dnow", "fail")]
    assert hits(FEMMS, "k6-2") == []


def test_lock_prefix_is_seen_through_for_486_instructions() -> None:
    assert hits(LOCK_CMPXCHG, "i386") == [("lock cmpxchg", "i486", "fail")]
    assert hits(LOCK_CMPXCHG, "i486") == []


def test_privileged_instructions_fail_everywhere() -> None:
    assert hits(WRMSR, "pentium3") == [("wrmsr", "privileged", "fail")]


def test_plain_386_code_and_undecodable_bytes_pass() -> None:
    assert hits(PLAIN + b"\xff\xff" + PLAIN, "i386") == []


def test_hits_carry_addresses() -> None:
    found = scan_code(PLAIN + CMOVE, 0x401000, Gate("pentium", "win98"))
    assert [h.address for h in found] == [0x401000 + len(PLAIN)]
    assert found[0].hex == "0f 44 c1"


def test_unknown_cpu_or_os_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown CPU baseline 'pentium4'"):
        Gate("pentium4", "win98")
    with pytest.raises(ConfigError, match="unknown target OS 'winxp'"):
        Gate("pentium", "winxp")


def test_a_thousand_hits_become_one_row_per_place() -> None:
    from toolchain.audit.cpu import cpu_findings, name_hits
    from toolchain.audit.symbols import Symbolizer

    gate = Gate("pentium", "win98")
    code = CMOVE * 1000 + PLAIN * 100 + FCOMI
    found = scan_code(code, 0x401000, gate)
    assert len(found) == 1001
    rows = cpu_findings(found, gate)
    assert [r.message for r in rows] == [
        "1000 instructions beyond pentium/win98: P6: cmove×1000",
        "1 instruction beyond pentium/win98: P6: fcomi",
    ]
    named = name_hits(found, Symbolizer.from_pairs([(0x401000, "_matmul"), (0x401000 + 3000, "_softmax")], "t"))
    assert [r.where for r in cpu_findings(named, gate)] == ["_matmul @ 0x401000", "_softmax @ 0x401fa0"]


def test_names_match_the_target_schema() -> None:
    from typing import get_args

    from toolchain.audit import cpu_names, os_names
    from toolchain.targets import CpuName, OsName

    assert cpu_names() == get_args(CpuName)
    assert os_names() == get_args(OsName)


def _switch(table_ref: bool) -> bytes:
    """A Watcom-style switch at 0x401000: an indexed jump, two cases, then the
    table of case addresses (0x0040F4xx style: every entry holds an F4 byte)."""
    jump = bytes.fromhex("ff248510104000") if table_ref else bytes.fromhex("90" * 7)  # jmp [eax*4+0x401010]
    body = jump + bytes.fromhex("c3") + bytes.fromhex("c3") + bytes.fromhex("90" * 7)  # cases, pad to 0x401010
    table = (0x4010F4).to_bytes(4, "little") * 2 + (0x401007).to_bytes(4, "little")
    return body + table + PLAIN + bytes(0xF4 - len(PLAIN) - 0x1C + 0x10) + bytes.fromhex("c3")


def test_switch_table_named_by_an_indexed_jump_is_data_not_code() -> None:
    assert hits(_switch(table_ref=True), "pentium", "win95") == []


def test_the_same_bytes_without_the_jump_are_still_swept_as_code() -> None:
    # Nothing proves them data, so the sweep keeps them: the check is not weakened.
    assert ("hlt", "privileged", "fail") in hits(_switch(table_ref=False), "pentium", "win95")


def test_a_real_privileged_instruction_after_a_table_is_still_found() -> None:
    code = _switch(table_ref=True) + bytes.fromhex("f4")  # hlt, referenced by nobody as data
    assert ("hlt", "privileged", "fail") in hits(code, "pentium", "win95")


def test_table_read_by_an_indexed_mov_is_data_too() -> None:
    """Watcom's math library keeps a table of message pointers in the code
    section and reads it with mov eax, [eax*4 + table]."""
    code = _switch(table_ref=True)
    mov = bytes.fromhex("8b048510104000")  # mov eax, [eax*4+0x401010]
    assert hits(mov + code[7:], "pentium", "win95") == []
