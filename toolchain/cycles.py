"""Estimated cycles on an i486, a Pentium and a Pentium II, from callgrind.

Instructions per token say little about an x87 program on a Pentium II: an
``fmul`` can start only every second cycle, an ``fdiv`` takes 38, a
dependent ``fadd`` waits 3, and a 15M model's 60 MB of weights stream from
SDRAM on every token.  This module turns callgrind's per-instruction counts
(``--dump-instr=yes``) and its cache simulation (run with each CPU's L1/L2
geometry) into cycles by the model in ``toolchain/data/cpu_cycles.yaml``,
explained in ``docs/cost-model.md``:

* instructions executed the same number of times in one function form a
  block (a loop body, or straight code between branches);
* a block costs, per execution, the larger of its busiest resource (ports,
  the multiplier, the divider, decoders, retirement) and, when it is a loop,
  the latency of the chain one trip hands to the next;
* every cache miss adds the CPU's documented cost for the level that served it.

The same figures give ``estimate_tok_s`` for ``invoke inspect`` and
README.TXT, scaled by a model's size.
"""

from __future__ import annotations

import functools
import re
import struct
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from toolchain import costdata, paths, yamlfile
from toolchain.errors import BuildError, ConfigError

MODEL_FILE = paths.DATA_DIR / "cpu_cycles.yaml"
MEMORY_EVENTS = ("I1mr", "D1mr", "D1mw", "ILmr", "DLmr", "DLmw")


# --------------------------------------------------------------------------
# the model's data


@dataclass(frozen=True)
class Cost:
    """What one instruction of a class takes: uops, resource cycles, latency."""

    uops: float
    use: dict[str, float]
    latency: float


@dataclass(frozen=True)
class Cpu:
    """One CPU of the model: clock, caches, memory costs and per-class costs."""

    key: str
    name: str
    short: str
    clock_mhz: float
    mmx: bool
    cache: dict[str, tuple[int, int, int]]
    memory: dict[str, float]
    resources: tuple[str, ...]
    costs: dict[str, Cost]
    memory_forms: dict[str, Cost]

    def valgrind_args(self) -> list[str]:
        """callgrind's cache simulation configured with this CPU's geometry."""
        return ["--cache-sim=yes", *(f"--{lvl}={s},{a},{b}" for lvl, (s, a, b) in self.cache.items())]


@dataclass(frozen=True)
class Model:
    """The classes (in matching order), the CPUs and the measured reference point."""

    classes: tuple[tuple[str, str, frozenset[str]], ...]
    cpus: dict[str, Cpu]
    memory_form_classes: frozenset[str]
    measured: dict[str, Any]
    baselines: dict[str, str]
    stand_ins: dict[str, tuple[str, str]]  # baseline -> (CPU key that bounds it from above, what to say)


# The file's schema: every hand-edit mistake is one ``cpu_cycles.yaml:LINE:COL`` line.

Cycles = float | Literal["fdiv"]  # "fdiv": the CPU's FDIV time at its precision


class ClassEntry(yamlfile.Strict):
    name: str
    operand: Literal["mem", "reg", "any"]
    mnemonics: list[str] = Field(min_length=1)


class CostEntry(yamlfile.Strict):
    uops: float = Field(ge=0)
    use: dict[str, Cycles] | None = None
    latency: Cycles


class CpuEntry(yamlfile.Strict):
    name: str
    short: str
    clock_mhz: float = Field(gt=0)
    mmx: bool
    cache: dict[str, tuple[int, int, int]] = Field(description="level -> [bytes, ways, line bytes]")
    memory: dict[str, float]
    resources: list[str]
    fdiv_precision: int
    fdiv_cycles: dict[int, float]
    costs: dict[str, CostEntry]
    memory_forms: dict[str, CostEntry]


class Measured(yamlfile.Strict):
    cpu: str
    what: str
    tok_per_s: dict[str, float]


class StandIn(yamlfile.Strict):
    cpu: str
    says: str


class CyclesFile(yamlfile.Strict):
    classes: list[ClassEntry]
    cpus: dict[str, CpuEntry]
    memory_form_classes: list[str]
    measured: Measured
    baselines: dict[str, str] = Field(description="a target's platform.cpu -> a CPU key above")
    stand_ins: dict[str, StandIn] = Field({}, description="a baseline with no CPU of its own -> the one that bounds it")


def _cost(raw: CostEntry, fdiv: float) -> Cost:
    def num(v: Cycles) -> float:
        return fdiv if v == "fdiv" else float(v)
    return Cost(raw.uops, {k: num(v) for k, v in (raw.use or {}).items()}, num(raw.latency))


@functools.cache
def load_model(path: Path = MODEL_FILE) -> Model:
    """The parsed cost model (read once: every estimate asks for it); ConfigError
    naming the file and line when it is malformed."""
    data: CyclesFile = yamlfile.load_model(path, CyclesFile)
    classes = tuple((c.name, c.operand, frozenset(c.mnemonics)) for c in data.classes)
    cpus = {}
    for key, c in data.cpus.items():
        if c.fdiv_precision not in c.fdiv_cycles:
            raise ConfigError(f"{path}: cpus.{key}.fdiv_precision {c.fdiv_precision}: no such key in fdiv_cycles")
        fdiv = c.fdiv_cycles[c.fdiv_precision]
        cpus[key] = Cpu(
            key, c.name, c.short, c.clock_mhz, c.mmx, dict(c.cache), dict(c.memory), tuple(c.resources),
            {name: _cost(v, fdiv) for name, v in c.costs.items()},
            {name: _cost(v, fdiv) for name, v in c.memory_forms.items()},
        )
    model = Model(classes, cpus, frozenset(data.memory_form_classes), data.measured.model_dump(),
                  dict(data.baselines), {k: (v.cpu, v.says) for k, v in data.stand_ins.items()})
    class_names = {"alu_r", "load", "store", "alu_load", "alu_rmw"} | {c[0] for c in classes} - {"mov", "alu"}
    for cpu in cpus.values():
        missing = class_names - set(cpu.costs)
        if missing:
            raise ConfigError(f"{path}: cpu {cpu.key} has no cost for {', '.join(sorted(missing))}")
    return model


# --------------------------------------------------------------------------
# callgrind's output


@dataclass
class Profile:
    """Self cost per instruction address: events (Ir first) and the function it is in."""

    events: list[str]
    cost: dict[int, list[int]] = field(default_factory=dict)
    function: dict[int, str] = field(default_factory=dict)
    objects: dict[int, str] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # callee -> calls made

    def event(self, addr: int, name: str) -> int:
        """One event's count at an address (0 when callgrind left it out)."""
        row = self.cost[addr]
        i = self.events.index(name)
        return row[i] if i < len(row) else 0


_NAMED = re.compile(r"^\((\d+)\)(?: (.*))?$")


def _name(table: dict[str, str], value: str) -> str:
    """A callgrind name, resolving its "(id) name" compression."""
    m = _NAMED.match(value)
    if m is None:
        return value
    if m.group(2) is not None:
        table[m.group(1)] = m.group(2)
    return table.get(m.group(1), value)


def parse_callgrind(path: Path) -> Profile:
    """Self costs per instruction of a ``--dump-instr=yes --dump-line=no`` callgrind file."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        raise BuildError(f"{path}: cannot read callgrind's output: {exc}") from None
    prof = Profile(events=[])
    fn_names: dict[str, str] = {}
    ob_names: dict[str, str] = {}
    fn = ob = callee = "???"
    addr = 0
    skip_next = False
    for line in lines:
        if not line or line[0] == "#":
            continue
        if skip_next:  # the cost line after calls= is the callee's inclusive cost
            skip_next = False
            tok = line.split(None, 1)[0]
            addr = _position(tok, addr)
            continue
        c = line[0]
        if c in "0123456789+-*":
            parts = line.split()
            addr = _position(parts[0], addr)
            values = [int(v) for v in parts[1:]]
            row = prof.cost.get(addr)
            if row is None:
                prof.cost[addr] = values
                prof.function[addr] = fn
                prof.objects[addr] = ob
            else:
                for i, v in enumerate(values):
                    if i < len(row):
                        row[i] += v
                    else:
                        row.append(v)
            continue
        key, _, value = line.partition("=")
        if key == "fn":
            fn = _name(fn_names, value)
        elif key in ("cfn", "cfi", "cfl"):
            if key == "cfn":
                callee = _name(fn_names, value)
        elif key == "ob":
            ob = _name(ob_names, value)
        elif key == "cob":
            _name(ob_names, value)
        elif key == "calls":
            skip_next = True
            prof.calls[callee] += int(value.split()[0])
        elif line.startswith("events:"):
            prof.events = line.split()[1:]
        elif line.startswith("positions:") and line.split()[1:] != ["instr"]:
            raise BuildError(f"{path}: callgrind positions are not per instruction (need --dump-instr=yes "
                             "--dump-line=no)")
    if not prof.events or not prof.cost:
        raise BuildError(f"{path}: no per-instruction costs in callgrind's output")
    return prof


def _position(tok: str, previous: int) -> int:
    if tok == "*":
        return previous
    if tok[0] in "+-":
        return previous + int(tok, 0)
    return int(tok, 0)


# --------------------------------------------------------------------------
# the program's code


def elf_segments(path: Path) -> list[tuple[int, bytes]]:
    """(address, bytes) of each executable loadable segment of a 32-bit ELF."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BuildError(f"{path}: cannot read the program: {exc}") from None
    if data[:4] != b"\x7fELF" or data[4] != 1:
        raise BuildError(f"{path}: not a 32-bit ELF program")
    phoff, = struct.unpack_from("<I", data, 28)
    phentsize, phnum = struct.unpack_from("<HH", data, 42)
    segments = []
    for i in range(phnum):
        p_type, p_offset, p_vaddr, _pa, p_filesz, _memsz, p_flags, _al = struct.unpack_from(
            "<8I", data, phoff + i * phentsize)
        if p_type == 1 and p_flags & 1:  # PT_LOAD, executable
            segments.append((p_vaddr, data[p_offset:p_offset + p_filesz]))
    return segments


@dataclass(frozen=True)
class Insn:
    """One decoded instruction, with what the latency chain needs."""

    addr: int
    size: int
    mnemonic: str
    op_str: str
    mem_read: bool
    mem_write: bool
    mem_regs: tuple[str, ...]
    mem_text: str
    regs_read: tuple[str, ...]
    regs_write: tuple[str, ...]
    target: int | None  # a direct branch's destination


_GPR = {}
for _full, _parts in {"eax": "ax al ah", "ebx": "bx bl bh", "ecx": "cx cl ch", "edx": "dx dl dh",
                      "esi": "si sil", "edi": "di dil", "ebp": "bp bpl", "esp": "sp spl"}.items():
    _GPR[_full] = _full
    for _p in _parts.split():
        _GPR[_p] = _full


def _reg(name: str) -> str:
    return _GPR.get(name, name)


def decode(segments: list[tuple[int, bytes]], addrs: list[int]) -> dict[int, Insn]:
    """The instructions at the given addresses (those outside the segments are left out)."""
    import capstone
    from capstone import x86

    md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_32)
    md.detail = True
    out: dict[int, Insn] = {}
    for addr in addrs:
        for base, code in segments:
            if base <= addr < base + len(code):
                off = addr - base
                found = next(md.disasm(code[off:off + 16], addr, 1), None)
                if found is not None:
                    out[addr] = _insn(found, x86)
                break
    return out


def _insn(i: Any, x86: Any) -> Insn:
    read, write = i.regs_access()
    mem_read = mem_write = False
    mem_regs: tuple[str, ...] = ()
    mem_text = ""
    target = None
    for op in i.operands:
        if op.type == x86.X86_OP_MEM and i.mnemonic != "lea" and not i.mnemonic.startswith("nop"):
            mem_read = mem_read or bool(op.access & 1) or op.access == 0
            mem_write = mem_write or bool(op.access & 2)
            regs = [i.reg_name(r) for r in (op.mem.base, op.mem.index) if r]
            mem_regs = tuple(_reg(r) for r in regs)
            mem_text = f"{'+'.join(regs)}*{op.mem.scale}+{op.mem.disp}"
        elif op.type == x86.X86_OP_IMM and i.group(capstone_group_jump()):
            target = op.imm
    names_r = tuple(_reg(i.reg_name(r)) for r in read)
    names_w = tuple(_reg(i.reg_name(r)) for r in write)
    return Insn(i.address, i.size, i.mnemonic, i.op_str, mem_read, mem_write, mem_regs, mem_text,
                tuple(r for r in names_r if r not in ("eip",)), tuple(r for r in names_w if r not in ("eip",)),
                target)


def capstone_group_jump() -> int:
    """Capstone's group id of jumps (looked up lazily: capstone loads a C library)."""
    import capstone
    return int(capstone.CS_GRP_JUMP)


def classify(insn: Insn, model: Model) -> str:
    """The model's class of an instruction."""
    m = insn.mnemonic.split()[-1]  # "rep movsd" -> movsd
    has_mem = insn.mem_read or insn.mem_write
    for name, operand, mnemonics in model.classes:
        if m in mnemonics or "*" in mnemonics:
            if operand == "mem" and not has_mem or operand == "reg" and has_mem:
                continue
            if name == "mov":
                return "store" if insn.mem_write else "load" if insn.mem_read else "alu_r"
            if name == "alu":
                if insn.mem_write:
                    return "alu_rmw"
                return "alu_load" if insn.mem_read else "alu_r"
            return name
    return "alu_r"


# --------------------------------------------------------------------------
# the estimate


@dataclass
class Estimate:
    """Cycles of a whole run on one CPU, split into compute and memory, and by function."""

    cpu: Cpu
    compute: float = 0.0
    memory: float = 0.0
    by_function: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    unknown_ir: int = 0  # instructions outside the program's code (costed as simple ALU ops)

    @property
    def total(self) -> float:
        """Compute plus memory cycles."""
        return self.compute + self.memory


def _x87_effect(insn: Insn) -> tuple[str, list[int], int, int]:
    """(kind, stack inputs, stack slot written, pops) of an x87 instruction.

    kind: "push" (a new top), "write" (slot written), "store" (memory
    written from st0), "none".  Slots are positions before the pops."""
    m = insn.mnemonic
    regs = [int(r) for r in re.findall(r"st\((\d)\)", insn.op_str)]
    if m.startswith(("fld", "fild")) and m not in ("fldcw", "fldenv"):
        return "push", regs[:1], 0, 0
    if m in ("fst", "fstp", "fist", "fistp", "fisttp"):
        pops = 1 if m.endswith("p") else 0
        if regs:
            return "write", [0], regs[0], pops
        return "store", [0], 0, pops
    if m == "fxch":
        return "swap", [0, regs[0] if regs else 1], 0, 0
    if m in ("ffreep",):
        return "none", [], 0, 1
    base = m.lstrip("fi") if m.startswith("fi") else m[1:]
    arith = ("add", "sub", "subr", "mul", "div", "divr")
    if base in arith or (m.endswith("p") and m[1:-1] in arith):
        if m.endswith("p") and m[1:-1] in arith:
            dst = regs[0] if regs else 1
            return "write", [dst, 0], dst, 1
        if insn.mem_read:
            return "write", [0], 0, 0
        if len(regs) == 2:
            return "write", regs, regs[0], 0
        return "write", [0, regs[0] if regs else 1], 0, 0
    if m in ("fcompp", "fucompp"):
        return "flags", [0, 1], 0, 2
    if m.startswith(("fcom", "fucom", "ftst", "fxam", "ficom")):
        return "flags", [0, *(regs[-1:] or ([] if insn.mem_read or m in ("ftst", "fxam") else [1]))], 0, \
            1 if m.endswith("p") else 0
    if m.startswith("fcmov"):
        return "write", [0, regs[-1] if regs else 1], 0, 0
    if m in ("fchs", "fabs", "fsqrt", "frndint", "f2xm1", "fsin", "fcos"):
        return "write", [0], 0, 0
    if m in ("fscale", "fprem", "fprem1"):
        return "write", [0, 1], 0, 0
    if m in ("fyl2x", "fyl2xp1", "fpatan"):
        return "write", [0, 1], 1, 1
    return "none", [], 0, 0


def chain_cycles(block: list[Insn], costs: list[Cost]) -> float:
    """Cycles one trip of a loop body waits on the previous one: the growth of
    its critical path over three simulated trips with unlimited resources
    (registers, the x87 stack and memory by address expression carry values)."""
    ready: dict[str, float] = defaultdict(float)
    version: dict[str, int] = defaultdict(int)
    stack: list[float] = [0.0] * 8
    ends = []
    latest = 0.0
    for _trip in range(3):
        for insn, cost in zip(block, costs):
            key = None
            if insn.mem_text:
                key = "m:" + insn.mem_text + ":" + ",".join(f"{r}{version[r]}" for r in insn.mem_regs)
            start = max((ready[r] for r in insn.regs_read if not r.startswith("st")), default=0.0)
            if key and insn.mem_read:
                start = max(start, ready[key])
            x87 = insn.mnemonic.startswith("f") and not insn.mnemonic.startswith("fn") or \
                insn.mnemonic in ("fnstsw",)
            if x87:
                kind, inputs, slot, pops = _x87_effect(insn)
                start = max([start, *(stack[i] for i in inputs if i < 8)])
                done = start + cost.latency
                if kind == "push":
                    stack = [done, *stack[:7]]
                elif kind == "write":
                    stack[slot] = done
                elif kind == "swap":
                    j = inputs[1]
                    stack[0], stack[j] = stack[j], stack[0]
                elif kind == "store" and key:
                    ready[key] = done
                elif kind == "flags":
                    ready["fpsw"] = ready["eflags"] = done
                for _ in range(pops):
                    stack = [*stack[1:], 0.0]
                if insn.mnemonic == "fnstsw":
                    ready["eax"] = max(ready["fpsw"], start) + cost.latency
            else:
                done = start + cost.latency
                for r in insn.regs_write:
                    ready[r] = done
                    version[r] += 1
                if key and insn.mem_write:
                    ready[key] = done
            latest = max(latest, done)
        ends.append(max([latest, *stack, *ready.values()]))
    return max(0.0, ends[2] - ends[1])


def decode_cycles(uops: list[float]) -> float:
    """Cycles the P6's 4-1-1 decoders take for instructions of these uop counts, in order.

    Each cycle decoder 0 takes the next instruction (up to 4 uops; a longer
    one comes from the microcode sequencer, 4 uops a cycle), then decoders 1
    and 2 take the following ones while they are single-uop instructions."""
    cycles_ = 0.0
    i = 0
    while i < len(uops):
        first = uops[i]
        cycles_ += 1 if first <= 4 else -(-first // 4)
        i += 1
        for _ in range(2):
            if i < len(uops) and uops[i] <= 1:
                i += 1
            else:
                break
    return cycles_


def _block_cost(block: list[Insn], costs: list[Cost], cpu: Cpu) -> float:
    """Cycles of one execution of a block: its busiest resource or its loop-carried chain."""
    use: dict[str, float] = defaultdict(float)
    for cost in costs:
        for r, v in cost.use.items():
            use[r] += v
        if "retire" in cpu.resources:
            use["retire"] += cost.uops / 3
    if "decode" in cpu.resources:
        use["decode"] = decode_cycles([c.uops for c in costs])
    bounds = [use[r] for r in cpu.resources if r not in ("p01",)]
    if "p01" in cpu.resources:
        bounds.append((use["p0"] + use["p1"] + use["p01"]) / 2)
    bound = max(bounds, default=0.0)
    lo = block[0].addr
    heads = [i.target for i in block if i.target is not None and lo <= i.target <= i.addr]
    if heads:
        # simulate trips in execution order: from the loop's head (the
        # backward branch's target), the code before it last
        head = min(heads)
        order = sorted(range(len(block)), key=lambda k: (block[k].addr < head, block[k].addr))
        bound = max(bound, chain_cycles([block[k] for k in order], [costs[k] for k in order]))
    return bound


def _with_memory_form(cls: str, insn: Insn, cpu: Cpu, model: Model) -> Cost:
    cost = cpu.costs[cls]
    if cls not in model.memory_form_classes or not (insn.mem_read or insn.mem_write):
        return cost
    extra = cpu.memory_forms["store" if insn.mem_write and not insn.mem_read else "load"]
    use = dict(cost.use)
    for r, v in extra.use.items():
        use[r] = use.get(r, 0.0) + v
    return Cost(cost.uops + extra.uops, use, cost.latency + extra.latency)


def estimate(prof: Profile, insns: dict[int, Insn], model: Model, cpu: Cpu) -> Estimate:
    """The cycles of the profiled run on ``cpu`` (whose cache geometry callgrind must have simulated)."""
    est = Estimate(cpu)
    mem = cpu.memory
    groups: dict[tuple[str, int], list[int]] = defaultdict(list)
    for addr in prof.cost:
        ir = prof.event(addr, "Ir")
        if ir == 0:
            continue
        if addr not in insns:
            est.unknown_ir += ir
            est.compute += ir * max(cpu.costs["alu_r"].use.values(), default=1.0)
        else:
            groups[(prof.function[addr], ir)].append(addr)
        if "I1mr" in prof.events:
            i1, d1r, d1w, il, dlr, dlw = (prof.event(addr, e) for e in MEMORY_EVENTS)
            est.memory += (i1 - il + d1r - dlr) * mem["l2_hit"] + (il + dlr) * mem["memory_line"]
            est.memory += (d1w - dlw) * mem["l2_hit_write"] + dlw * mem["memory_line_write"]
    for (fn, count), addrs in groups.items():
        block = [insns[a] for a in sorted(addrs)]
        costs = [_with_memory_form(classify(i, model), i, cpu, model) for i in block]
        cycles = count * _block_cost(block, costs, cpu)
        est.compute += cycles
        est.by_function[fn] += cycles
    return est


def estimate_run(callgrind_out: Path, program: Path, cpu: Cpu, model: Model | None = None) -> Estimate:
    """Parse, decode and estimate one callgrind run of a static 32-bit program."""
    model = model or load_model()
    prof = parse_callgrind(callgrind_out)
    insns = decode(elf_segments(program), sorted(prof.cost))
    return estimate(prof, insns, model, cpu)


# --------------------------------------------------------------------------
# a model's speed without running it (invoke inspect, README.TXT)

def cpu_for(name: str, model: Model | None = None) -> Cpu:
    """A CPU of the model by its key (p6, p5, i486) or a target's baseline name (pentium2, ...)."""
    model = model or load_model()
    key = model.baselines.get(name, model.stand_ins.get(name, (name, ""))[0])
    if key not in model.cpus:
        raise ConfigError(f"{MODEL_FILE}: no CPU {name!r} in the cycle model "
                          f"(have: {', '.join([*model.cpus, *model.baselines, *model.stand_ins])})")
    return model.cpus[key]


def speed_for(baseline: str, config: Any, quant: str = "fp32", *, steps: int = 256,
              mmx: bool = True, group_size: int | None = None) -> tuple[float, str]:
    """A target's estimated tok/s and the words for the machine it is for,
    e.g. (11.2, "a Pentium II 350").  A baseline the model has no CPU for
    (the 386) is given its stand-in's figure, said to be an upper bound,
    rather than no figure at all."""
    model = load_model()
    cpu = cpu_for(baseline, model)
    where = f"a {cpu.name}"
    if baseline in model.stand_ins:
        where += f" ({model.stand_ins[baseline][1]})"
    return estimate_tok_s(baseline, config, quant, steps=steps, mmx=mmx, group_size=group_size), where


def macs_per_token(config: Any, steps: int) -> float:
    """Multiply-adds of one token averaged over a ``steps``-token run: the
    matrices of every layer, the classifier, and attention over (steps + 1) / 2
    positions (q . k and the weighted sum of the values)."""
    c = config
    q_dim = c.n_heads * c.head_size
    per_layer = c.dim * q_dim + 2 * c.dim * c.kv_dim + q_dim * c.dim + 3 * c.dim * c.hidden_dim
    attention = c.n_layers * q_dim * (min(steps, c.seq_len) + 1)
    return float(c.n_layers * per_layer + c.dim * c.vocab_size + attention)


def weight_bytes_per_token(config: Any, quant: str, group_size: int) -> float:
    """Bytes of weights one token reads: every matrix and the classifier (one
    row of the embedding table when the classifier is separate)."""
    c = config
    per_weight = 4.0 if quant == "fp32" else 1.0 + 4.0 / group_size
    table = c.vocab_size * c.dim
    matrices = c.n_params - table * (1 if c.shared_classifier else 2) - c.dim * (2 * c.n_layers + 1)
    classifier = table
    return per_weight * (matrices + classifier + c.dim) + 4.0 * c.dim * (2 * c.n_layers + 1)


def memory_cycles(cpu: Cpu, nbytes: float) -> float:
    """Cycles to stream ``nbytes`` of weights once per token through the CPU's caches."""
    line = cpu.cache["D1"][2]
    if nbytes > cpu.cache["LL"][0]:
        return nbytes / line * cpu.memory["memory_line"]
    if nbytes > cpu.cache["D1"][0]:
        return nbytes / line * cpu.memory["l2_hit"]
    return 0.0


@dataclass(frozen=True)
class _Point:
    config: Any
    steps: int
    compute: dict[str, float]  # CPU key -> compute cycles per token (MMX kernel where the CPU has it)
    compute_no_mmx: dict[str, float]  # the portable int8 kernel on CPUs that have MMX


def _speed_points() -> dict[str, list[_Point]]:
    """The engine's compute cycles per token recorded from `invoke bench`, by quantization."""
    spec = costdata.load().engine_cycles
    return {quant: [_Point(p.config.to_config(), p.steps, dict(p.compute), dict(p.compute_no_mmx)) for p in group]
            for quant, group in (("fp32", spec.fp32), ("int8", spec.int8))}


def estimate_tok_s(cpu: str, config: Any, quant: str = "fp32", *, steps: int = 256,
                   clock_mhz: float | None = None, mmx: bool = True, group_size: int | None = None) -> float:
    """Estimated tokens per second of RUN.EXE for a model shape on a CPU
    (key or baseline name) at its model clock or ``clock_mhz``.  ``mmx=False``:
    an exe built without the MMX int8 kernel (a Pentium Pro target) on a CPU
    that has MMX.  int8 weights have ``group_size`` (an int8 file's), by
    default the one `invoke quantize` picks for the shape.

    Compute cycles grow with the multiply-adds: a line through the engine's
    two recorded fp32 points (stories260K and the 15M shape), and for int8
    the recorded 15M int8 point over the same fixed cost.  Memory cycles are
    the weights and the attention's keys and values streamed through the
    CPU's caches once per token."""
    model = load_model()
    c = cpu_for(cpu, model)
    points = _speed_points()
    fp32 = sorted(points["fp32"], key=lambda p: macs_per_token(p.config, p.steps))
    small, big = fp32[0], fp32[-1]
    m1, m2 = macs_per_token(small.config, small.steps), macs_per_token(big.config, big.steps)
    rate = (big.compute[c.key] - small.compute[c.key]) / (m2 - m1)
    fixed = max(0.0, small.compute[c.key] - rate * m1)
    macs = macs_per_token(config, steps)
    if quant == "int8":
        q = points["int8"][0]
        table = q.compute if mmx or not c.mmx else q.compute_no_mmx
        if c.key not in table:
            raise ConfigError(f"{costdata.COST_FILE}: engine_cycles.int8 has no "
                              f"{'compute' if table is q.compute else 'compute_no_mmx'} figure for {c.key}")
        compute = table[c.key]
        rate = (compute - fixed) / macs_per_token(q.config, q.steps)
    # the keys and values attention reads (fp32 in the engine), averaged over the run
    kv = 2 * config.n_layers * config.kv_dim * 4.0 * (min(steps, config.seq_len) + 1) / 2
    if group_size is None and quant == "int8":
        from toolchain.llama2.quant import default_group_size

        group_size = default_group_size(config)
    group = group_size or 1  # fp32 weights have no scales
    cycles_ = fixed + rate * macs + memory_cycles(c, weight_bytes_per_token(config, quant, group) + kv)
    return (clock_mhz or c.clock_mhz) * 1e6 / cycles_
