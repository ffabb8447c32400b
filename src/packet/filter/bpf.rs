//! Classic BPF: the instruction format shared with the kernel (`struct sock_filter`), a checker
//! that accepts exactly what the kernel's `bpf_check_classic` accepts, an interpreter with the
//! kernel's (and libpcap's) semantics for reading capture files, and a `tcpdump -d` style
//! listing.
//!
//! Semantics of [`Program::run`]: a load outside the captured bytes ends the program with 0
//! (reject), as does a division or modulo by zero; `ld len`/`ldx len` give the length on the
//! wire; shifts by 32 or more give 0 (libpcap's rule). The kernel's ancillary loads (offsets at
//! or above `SKF_AD_OFF`, and the negative `SKF_NET_OFF`/`SKF_LL_OFF` ranges) are not
//! interpreted: the checker refuses them in absolute loads, and an indexed load there is out
//! of bounds.

use std::fmt::Write as _;

use super::FilterError;

/// Instruction class: load into A.
pub const BPF_LD: u16 = 0x00;
/// Instruction class: load into X.
pub const BPF_LDX: u16 = 0x01;
/// Instruction class: store A into scratch memory.
pub const BPF_ST: u16 = 0x02;
/// Instruction class: store X into scratch memory.
pub const BPF_STX: u16 = 0x03;
/// Instruction class: arithmetic on A.
pub const BPF_ALU: u16 = 0x04;
/// Instruction class: jumps.
pub const BPF_JMP: u16 = 0x05;
/// Instruction class: return.
pub const BPF_RET: u16 = 0x06;
/// Instruction class: register transfers (tax, txa).
pub const BPF_MISC: u16 = 0x07;

/// Load size: 32-bit word.
pub const BPF_W: u16 = 0x00;
/// Load size: 16-bit half word.
pub const BPF_H: u16 = 0x08;
/// Load size: byte.
pub const BPF_B: u16 = 0x10;

/// Load mode: immediate (k).
pub const BPF_IMM: u16 = 0x00;
/// Load mode: packet at offset k.
pub const BPF_ABS: u16 = 0x20;
/// Load mode: packet at offset X + k.
pub const BPF_IND: u16 = 0x40;
/// Load mode: scratch memory `M[k]`.
pub const BPF_MEM: u16 = 0x60;
/// Load mode: the packet's length on the wire.
pub const BPF_LEN: u16 = 0x80;
/// Load mode (ldx only): `X = 4 * (packet[k] & 0xf)`, the IPv4 header length.
pub const BPF_MSH: u16 = 0xa0;

/// ALU operation: A + operand.
pub const BPF_ADD: u16 = 0x00;
/// ALU operation: A - operand.
pub const BPF_SUB: u16 = 0x10;
/// ALU operation: A * operand.
pub const BPF_MUL: u16 = 0x20;
/// ALU operation: A / operand.
pub const BPF_DIV: u16 = 0x30;
/// ALU operation: A | operand.
pub const BPF_OR: u16 = 0x40;
/// ALU operation: A & operand.
pub const BPF_AND: u16 = 0x50;
/// ALU operation: A << operand.
pub const BPF_LSH: u16 = 0x60;
/// ALU operation: A >> operand.
pub const BPF_RSH: u16 = 0x70;
/// ALU operation: -A.
pub const BPF_NEG: u16 = 0x80;
/// ALU operation: A % operand.
pub const BPF_MOD: u16 = 0x90;
/// ALU operation: A ^ operand.
pub const BPF_XOR: u16 = 0xa0;

/// Jump: always, by k.
pub const BPF_JA: u16 = 0x00;
/// Jump if A == operand.
pub const BPF_JEQ: u16 = 0x10;
/// Jump if A > operand.
pub const BPF_JGT: u16 = 0x20;
/// Jump if A >= operand.
pub const BPF_JGE: u16 = 0x30;
/// Jump if A & operand != 0.
pub const BPF_JSET: u16 = 0x40;

/// Operand source: the constant k.
pub const BPF_K: u16 = 0x00;
/// Operand source: the X register.
pub const BPF_X: u16 = 0x08;
/// Return source: the A register.
pub const BPF_A: u16 = 0x10;

/// Misc: X = A.
pub const BPF_TAX: u16 = 0x00;
/// Misc: A = X.
pub const BPF_TXA: u16 = 0x80;

/// Words of scratch memory (`M[0]` to `M[15]`).
pub const BPF_MEMWORDS: usize = 16;

/// The kernel's limit on the length of a classic BPF program (BPF_MAXINSNS).
pub const MAX_INSNS: usize = 4096;

/// What a compiled filter returns for an accepted packet (libpcap's default snapshot length).
pub const SNAP_LEN: u32 = 262_144;

/// The kernel's `SKF_LL_OFF`: absolute offsets from here up select the kernel's special loads.
const SKF_SPECIAL: u32 = 0xffe0_0000;

/// One classic BPF instruction, laid out like the kernel's `struct sock_filter` (and libpcap's
/// `struct bpf_insn`), so a slice of them can be handed to `SO_ATTACH_FILTER` as is.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Insn {
    /// The opcode: class | size/op | mode/source.
    pub code: u16,
    /// Conditional jumps: instructions to skip when the condition holds.
    pub jt: u8,
    /// Conditional jumps: instructions to skip when it does not.
    pub jf: u8,
    /// The constant operand.
    pub k: u32,
}

const _: () = assert!(std::mem::size_of::<Insn>() == 8 && std::mem::align_of::<Insn>() == 4);

impl Insn {
    /// A non-jump instruction.
    pub const fn stmt(code: u16, k: u32) -> Insn {
        Insn {
            code,
            jt: 0,
            jf: 0,
            k,
        }
    }

    /// A jump instruction.
    pub const fn jump(code: u16, k: u32, jt: u8, jf: u8) -> Insn {
        Insn { code, jt, jf, k }
    }
}

/// A checked classic BPF program: non-empty, at most [`MAX_INSNS`] long, only forward jumps
/// that land inside it, scratch memory written before it is read, ending with a return — what
/// the kernel's checker accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    insns: Vec<Insn>,
}

impl Program {
    /// The program that accepts every packet (`ret #262144`), for an empty expression.
    pub fn accept_all() -> Program {
        Program {
            insns: vec![Insn::stmt(BPF_RET | BPF_K, SNAP_LEN)],
        }
    }

    /// Checks a program as the kernel's `bpf_check_classic` does and wraps it.
    pub fn from_insns(insns: Vec<Insn>) -> Result<Program, FilterError> {
        check(&insns)?;
        Ok(Program { insns })
    }

    /// The instructions, ready for a `sock_fprog` (`insns().as_ptr()`, `insns().len()`).
    pub fn insns(&self) -> &[Insn] {
        &self.insns
    }

    /// The number of instructions.
    pub fn len(&self) -> usize {
        self.insns.len()
    }

    /// Always false: a checked program has at least one instruction.
    pub fn is_empty(&self) -> bool {
        self.insns.is_empty()
    }

    /// Runs the program over a packet whose captured bytes are `pkt` and whose length on the
    /// wire is `wire_len`; returns how many bytes to keep (0: reject).
    pub fn run(&self, pkt: &[u8], wire_len: u32) -> u32 {
        let mut a: u32 = 0;
        let mut x: u32 = 0;
        let mut mem = [0u32; BPF_MEMWORDS];
        let mut pc: usize = 0;
        while let Some(ins) = self.insns.get(pc) {
            pc += 1;
            let k = ins.k;
            match ins.code {
                c if c == BPF_RET | BPF_K => return k,
                c if c == BPF_RET | BPF_A => return a,

                c if c == BPF_LD | BPF_W | BPF_ABS => match load(pkt, Some(k), 4) {
                    Some(v) => a = v,
                    None => return 0,
                },
                c if c == BPF_LD | BPF_H | BPF_ABS => match load(pkt, Some(k), 2) {
                    Some(v) => a = v,
                    None => return 0,
                },
                c if c == BPF_LD | BPF_B | BPF_ABS => match load(pkt, Some(k), 1) {
                    Some(v) => a = v,
                    None => return 0,
                },
                c if c == BPF_LD | BPF_W | BPF_IND => match load(pkt, x.checked_add(k), 4) {
                    Some(v) => a = v,
                    None => return 0,
                },
                c if c == BPF_LD | BPF_H | BPF_IND => match load(pkt, x.checked_add(k), 2) {
                    Some(v) => a = v,
                    None => return 0,
                },
                c if c == BPF_LD | BPF_B | BPF_IND => match load(pkt, x.checked_add(k), 1) {
                    Some(v) => a = v,
                    None => return 0,
                },
                c if c == BPF_LD | BPF_W | BPF_LEN => a = wire_len,
                c if c == BPF_LD | BPF_W | BPF_IMM => a = k,
                c if c == BPF_LD | BPF_W | BPF_MEM => match mem_slot(k).and_then(|i| mem.get(i)) {
                    Some(&v) => a = v,
                    None => return 0,
                },

                c if c == BPF_LDX | BPF_W | BPF_IMM => x = k,
                c if c == BPF_LDX | BPF_W | BPF_LEN => x = wire_len,
                c if c == BPF_LDX | BPF_W | BPF_MEM => match mem_slot(k).and_then(|i| mem.get(i)) {
                    Some(&v) => x = v,
                    None => return 0,
                },
                c if c == BPF_LDX | BPF_B | BPF_MSH => match load(pkt, Some(k), 1) {
                    Some(v) => x = (v & 0xf) << 2,
                    None => return 0,
                },

                c if c == BPF_ST => match mem_slot(k).and_then(|i| mem.get_mut(i)) {
                    Some(slot) => *slot = a,
                    None => return 0,
                },
                c if c == BPF_STX => match mem_slot(k).and_then(|i| mem.get_mut(i)) {
                    Some(slot) => *slot = x,
                    None => return 0,
                },

                c if c & 0x07 == BPF_ALU => {
                    let operand = if c & BPF_X != 0 { x } else { k };
                    match alu(c & 0xf0, a, operand) {
                        Some(v) => a = v,
                        None => return 0,
                    }
                }

                c if c == BPF_JMP | BPF_JA => {
                    match usize::try_from(k).ok().and_then(|k| pc.checked_add(k)) {
                        Some(next) => pc = next,
                        None => return 0,
                    }
                }
                c if c & 0x07 == BPF_JMP => {
                    let operand = if c & BPF_X != 0 { x } else { k };
                    let taken = match c & 0xf0 {
                        BPF_JEQ => a == operand,
                        BPF_JGT => a > operand,
                        BPF_JGE => a >= operand,
                        BPF_JSET => a & operand != 0,
                        _ => return 0,
                    };
                    pc += usize::from(if taken { ins.jt } else { ins.jf });
                }

                c if c == BPF_MISC | BPF_TAX => x = a,
                c if c == BPF_MISC | BPF_TXA => a = x,

                _ => return 0,
            }
        }
        0
    }

    /// Whether the program accepts the packet.
    pub fn matches(&self, pkt: &[u8], wire_len: u32) -> bool {
        self.run(pkt, wire_len) != 0
    }

    /// A listing in the style of `tcpdump -d`, one instruction a line.
    pub fn dump(&self) -> String {
        let mut out = String::new();
        for (n, ins) in self.insns.iter().enumerate() {
            let _ = writeln!(out, "{}", image(ins, n));
        }
        out
    }
}

/// The scratch memory slot k names, if valid.
fn mem_slot(k: u32) -> Option<usize> {
    usize::try_from(k).ok().filter(|&i| i < BPF_MEMWORDS)
}

/// Reads `size` bytes big-endian at `offset`, or None when they are not all captured.
fn load(pkt: &[u8], offset: Option<u32>, size: usize) -> Option<u32> {
    let start = usize::try_from(offset?).ok()?;
    let bytes = pkt.get(start..start.checked_add(size)?)?;
    Some(bytes.iter().fold(0u32, |v, &b| (v << 8) | u32::from(b)))
}

/// One ALU operation; None ends the program with 0 (division by zero, unknown operation).
fn alu(op: u16, a: u32, operand: u32) -> Option<u32> {
    Some(match op {
        BPF_ADD => a.wrapping_add(operand),
        BPF_SUB => a.wrapping_sub(operand),
        BPF_MUL => a.wrapping_mul(operand),
        BPF_DIV => a.checked_div(operand)?,
        BPF_MOD => a.checked_rem(operand)?,
        BPF_OR => a | operand,
        BPF_AND => a & operand,
        BPF_XOR => a ^ operand,
        BPF_LSH => a.checked_shl(operand).unwrap_or(0),
        BPF_RSH => a.checked_shr(operand).unwrap_or(0),
        BPF_NEG => a.wrapping_neg(),
        _ => return None,
    })
}

/// Whether `code` is an opcode the kernel's classic checker knows.
fn known(code: u16) -> bool {
    const LD: [u16; 9] = [
        BPF_LD | BPF_W | BPF_ABS,
        BPF_LD | BPF_H | BPF_ABS,
        BPF_LD | BPF_B | BPF_ABS,
        BPF_LD | BPF_W | BPF_IND,
        BPF_LD | BPF_H | BPF_IND,
        BPF_LD | BPF_B | BPF_IND,
        BPF_LD | BPF_W | BPF_LEN,
        BPF_LD | BPF_W | BPF_IMM,
        BPF_LD | BPF_W | BPF_MEM,
    ];
    const OTHER: [u16; 11] = [
        BPF_LDX | BPF_W | BPF_IMM,
        BPF_LDX | BPF_W | BPF_LEN,
        BPF_LDX | BPF_W | BPF_MEM,
        BPF_LDX | BPF_B | BPF_MSH,
        BPF_ST,
        BPF_STX,
        BPF_RET | BPF_K,
        BPF_RET | BPF_A,
        BPF_MISC | BPF_TAX,
        BPF_MISC | BPF_TXA,
        BPF_JMP | BPF_JA,
    ];
    if LD.contains(&code) || OTHER.contains(&code) {
        return true;
    }
    let (class, op, src) = (code & 0x07, code & 0xf0, code & 0x08);
    if code & !0xff != 0 {
        return false;
    }
    match class {
        BPF_ALU if op == BPF_NEG => code == BPF_ALU | BPF_NEG,
        BPF_ALU => op <= BPF_XOR && code == BPF_ALU | op | src,
        BPF_JMP => {
            matches!(op, BPF_JEQ | BPF_JGT | BPF_JGE | BPF_JSET) && code == BPF_JMP | op | src
        }
        _ => false,
    }
}

/// The kernel's `bpf_check_classic`, plus a refusal of the special kernel offsets the
/// interpreter does not implement.
fn check(insns: &[Insn]) -> Result<(), FilterError> {
    let bad = |pc: usize, why: &str| FilterError::InvalidProgram(format!("({pc:03}) {why}"));
    let len = insns.len();
    if len == 0 {
        return Err(FilterError::InvalidProgram("the program is empty".into()));
    }
    if len > MAX_INSNS {
        return Err(FilterError::InvalidProgram(format!(
            "{len} instructions, more than the kernel's limit of {MAX_INSNS}"
        )));
    }
    for (pc, ins) in insns.iter().enumerate() {
        let code = ins.code;
        if !known(code) {
            return Err(bad(pc, &format!("unknown opcode {code:#x}")));
        }
        let class = code & 0x07;
        let k = ins.k;
        if class == BPF_ALU && code & BPF_X == 0 {
            match code & 0xf0 {
                BPF_DIV | BPF_MOD if k == 0 => return Err(bad(pc, "division by the constant 0")),
                BPF_LSH | BPF_RSH if k >= 32 => {
                    return Err(bad(pc, "shift by 32 or more"));
                }
                _ => {}
            }
        }
        let mem_access = matches!(class, BPF_ST | BPF_STX)
            || (matches!(class, BPF_LD | BPF_LDX) && code & 0xe0 == BPF_MEM);
        if mem_access && k as usize >= BPF_MEMWORDS {
            return Err(bad(pc, &format!("scratch memory M[{k}] does not exist")));
        }
        if class == BPF_LD && code & 0xe0 == BPF_ABS && k >= SKF_SPECIAL {
            return Err(bad(
                pc,
                "kernel special (ancillary) loads are not supported",
            ));
        }
        if class == BPF_JMP {
            // pc + 1 + offset must land inside the program.
            let room = (len - pc - 1) as u64;
            if code == BPF_JMP | BPF_JA {
                if u64::from(k) >= room {
                    return Err(bad(pc, "jump past the end of the program"));
                }
            } else if u64::from(ins.jt) >= room || u64::from(ins.jf) >= room {
                return Err(bad(pc, "jump past the end of the program"));
            }
        }
    }
    if !matches!(insns.last().map(|i| i.code), Some(c) if c == BPF_RET | BPF_K || c == BPF_RET | BPF_A)
    {
        return Err(FilterError::InvalidProgram(
            "the last instruction is not a return".into(),
        ));
    }
    check_memory(insns)
}

/// The kernel's `check_load_and_stores`: every path writes a scratch word before reading it.
fn check_memory(insns: &[Insn]) -> Result<(), FilterError> {
    let mut masks = vec![u16::MAX; insns.len()];
    let mut valid: u16 = 0;
    for (pc, ins) in insns.iter().enumerate() {
        valid &= masks.get(pc).copied().unwrap_or(0);
        let class = ins.code & 0x07;
        let bit = 1u16.checked_shl(ins.k).unwrap_or(0);
        if matches!(class, BPF_ST | BPF_STX) {
            valid |= bit;
        } else if matches!(class, BPF_LD | BPF_LDX) && ins.code & 0xe0 == BPF_MEM {
            if valid & bit == 0 {
                return Err(FilterError::InvalidProgram(format!(
                    "({pc:03}) reads M[{}] before every path has written it",
                    ins.k
                )));
            }
        } else if class == BPF_JMP {
            let targets: [Option<usize>; 2] = if ins.code == BPF_JMP | BPF_JA {
                [usize::try_from(ins.k).ok().map(|k| pc + 1 + k), None]
            } else {
                [
                    Some(pc + 1 + usize::from(ins.jt)),
                    Some(pc + 1 + usize::from(ins.jf)),
                ]
            };
            for target in targets.into_iter().flatten() {
                if let Some(m) = masks.get_mut(target) {
                    *m &= valid;
                }
            }
            valid = u16::MAX;
        }
    }
    Ok(())
}

/// One line of the listing, as libpcap's `bpf_image` writes it.
fn image(ins: &Insn, n: usize) -> String {
    let k = ins.k;
    let code = ins.code;
    let (op, operand): (&str, String) = match code {
        c if c == BPF_RET | BPF_K => ("ret", format!("#{k}")),
        c if c == BPF_RET | BPF_A => ("ret", "a".into()),
        c if c == BPF_LD | BPF_W | BPF_ABS => ("ld", format!("[{k}]")),
        c if c == BPF_LD | BPF_H | BPF_ABS => ("ldh", format!("[{k}]")),
        c if c == BPF_LD | BPF_B | BPF_ABS => ("ldb", format!("[{k}]")),
        c if c == BPF_LD | BPF_W | BPF_LEN => ("ld", "#pktlen".into()),
        c if c == BPF_LD | BPF_W | BPF_IND => ("ld", format!("[x + {k}]")),
        c if c == BPF_LD | BPF_H | BPF_IND => ("ldh", format!("[x + {k}]")),
        c if c == BPF_LD | BPF_B | BPF_IND => ("ldb", format!("[x + {k}]")),
        c if c == BPF_LD | BPF_W | BPF_IMM => ("ld", format!("#{k:#x}")),
        c if c == BPF_LDX | BPF_W | BPF_IMM => ("ldx", format!("#{k:#x}")),
        c if c == BPF_LDX | BPF_W | BPF_LEN => ("ldx", "#pktlen".into()),
        c if c == BPF_LDX | BPF_B | BPF_MSH => ("ldxb", format!("4*([{k}]&0xf)")),
        c if c == BPF_LD | BPF_W | BPF_MEM => ("ld", format!("M[{k}]")),
        c if c == BPF_LDX | BPF_W | BPF_MEM => ("ldx", format!("M[{k}]")),
        c if c == BPF_ST => ("st", format!("M[{k}]")),
        c if c == BPF_STX => ("stx", format!("M[{k}]")),
        c if c == BPF_JMP | BPF_JA => ("ja", format!("{}", n as u64 + 1 + u64::from(k))),
        c if c == BPF_MISC | BPF_TAX => ("tax", String::new()),
        c if c == BPF_MISC | BPF_TXA => ("txa", String::new()),
        c if c & 0x07 == BPF_JMP => {
            let op = match c & 0xf0 {
                BPF_JEQ => "jeq",
                BPF_JGT => "jgt",
                BPF_JGE => "jge",
                BPF_JSET => "jset",
                _ => "unimp",
            };
            let operand = if c & BPF_X != 0 {
                "x".to_string()
            } else {
                format!("#{k:#x}")
            };
            return format!(
                "({n:03}) {op:<8} {operand:<16} jt {}\tjf {}",
                n + 1 + usize::from(ins.jt),
                n + 1 + usize::from(ins.jf)
            );
        }
        c if c & 0x07 == BPF_ALU => {
            let op = match c & 0xf0 {
                BPF_ADD => "add",
                BPF_SUB => "sub",
                BPF_MUL => "mul",
                BPF_DIV => "div",
                BPF_MOD => "mod",
                BPF_OR => "or",
                BPF_AND => "and",
                BPF_XOR => "xor",
                BPF_LSH => "lsh",
                BPF_RSH => "rsh",
                BPF_NEG => "neg",
                _ => "unimp",
            };
            let operand = if c & 0xf0 == BPF_NEG {
                String::new()
            } else if c & BPF_X != 0 {
                "x".to_string()
            } else if matches!(c & 0xf0, BPF_OR | BPF_AND | BPF_XOR) {
                format!("#{k:#x}")
            } else {
                format!("#{k}")
            };
            (op, operand)
        }
        _ => ("unimp", format!("{code:#x}")),
    };
    format!("({n:03}) {op:<8} {operand}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prog(insns: &[Insn]) -> Program {
        match Program::from_insns(insns.to_vec()) {
            Ok(p) => p,
            Err(e) => panic!("{e}"),
        }
    }

    fn ret_a() -> Insn {
        Insn::stmt(BPF_RET | BPF_A, 0)
    }

    const PKT: [u8; 8] = [0x45, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde];

    #[test]
    fn layout_matches_the_kernel_sock_filter() {
        assert_eq!(
            std::mem::size_of::<Insn>(),
            std::mem::size_of::<libc::sock_filter>()
        );
        assert_eq!(
            std::mem::align_of::<Insn>(),
            std::mem::align_of::<libc::sock_filter>()
        );
        assert_eq!(
            std::mem::offset_of!(Insn, k),
            std::mem::offset_of!(libc::sock_filter, k)
        );
        assert_eq!(
            std::mem::offset_of!(Insn, jt),
            std::mem::offset_of!(libc::sock_filter, jt)
        );
    }

    #[test]
    fn loads_absolute_and_out_of_bounds() {
        let w = prog(&[Insn::stmt(BPF_LD | BPF_W | BPF_ABS, 1), ret_a()]);
        assert_eq!(w.run(&PKT, 100), 0x1234_5678);
        let h = prog(&[Insn::stmt(BPF_LD | BPF_H | BPF_ABS, 6), ret_a()]);
        assert_eq!(h.run(&PKT, 100), 0xbcde);
        let b = prog(&[Insn::stmt(BPF_LD | BPF_B | BPF_ABS, 7), ret_a()]);
        assert_eq!(b.run(&PKT, 100), 0xde);
        // One byte past the captured data: rejected, whatever the wire length says.
        let past = prog(&[
            Insn::stmt(BPF_LD | BPF_W | BPF_ABS, 5),
            Insn::stmt(BPF_RET | BPF_K, 9),
        ]);
        assert_eq!(past.run(&PKT, 1000), 0);
        let huge = prog(&[Insn::stmt(BPF_LD | BPF_B | BPF_ABS, 0xffdf_ffff), ret_a()]);
        assert_eq!(huge.run(&PKT, 100), 0);
    }

    #[test]
    fn loads_indirect_and_msh() {
        let p = prog(&[
            Insn::stmt(BPF_LDX | BPF_B | BPF_MSH, 0), // X = 4 * (0x45 & 0xf) = 20
            Insn::stmt(BPF_MISC | BPF_TXA, 0),
            ret_a(),
        ]);
        assert_eq!(p.run(&PKT, 8), 20);
        let ind = prog(&[
            Insn::stmt(BPF_LDX | BPF_W | BPF_IMM, 2),
            Insn::stmt(BPF_LD | BPF_H | BPF_IND, 3),
            ret_a(),
        ]);
        assert_eq!(ind.run(&PKT, 8), 0x9abc);
        let ind_b = prog(&[
            Insn::stmt(BPF_LDX | BPF_W | BPF_IMM, 1),
            Insn::stmt(BPF_LD | BPF_B | BPF_IND, 0),
            ret_a(),
        ]);
        assert_eq!(ind_b.run(&PKT, 8), 0x12);
        let ind_w = prog(&[
            Insn::stmt(BPF_LDX | BPF_W | BPF_IMM, 4),
            Insn::stmt(BPF_LD | BPF_W | BPF_IND, 0),
            ret_a(),
        ]);
        assert_eq!(ind_w.run(&PKT, 8), 0x789a_bcde);
        let ind_past = prog(&[
            Insn::stmt(BPF_LDX | BPF_W | BPF_IMM, 5),
            Insn::stmt(BPF_LD | BPF_W | BPF_IND, 0),
            Insn::stmt(BPF_RET | BPF_K, 1),
        ]);
        assert_eq!(ind_past.run(&PKT, 8), 0);
        // X + k overflowing 32 bits is out of bounds, not a wrap to the start.
        let wrap = prog(&[
            Insn::stmt(BPF_LDX | BPF_W | BPF_IMM, u32::MAX),
            Insn::stmt(BPF_LD | BPF_B | BPF_IND, 2),
            Insn::stmt(BPF_RET | BPF_K, 1),
        ]);
        assert_eq!(wrap.run(&PKT, 8), 0);
        let msh_past = prog(&[
            Insn::stmt(BPF_LDX | BPF_B | BPF_MSH, 8),
            Insn::stmt(BPF_RET | BPF_K, 1),
        ]);
        assert_eq!(msh_past.run(&PKT, 8), 0);
    }

    #[test]
    fn lengths_immediates_and_registers() {
        let len = prog(&[Insn::stmt(BPF_LD | BPF_W | BPF_LEN, 0), ret_a()]);
        assert_eq!(len.run(&PKT, 1514), 1514);
        let ldx_len = prog(&[
            Insn::stmt(BPF_LDX | BPF_W | BPF_LEN, 0),
            Insn::stmt(BPF_MISC | BPF_TXA, 0),
            ret_a(),
        ]);
        assert_eq!(ldx_len.run(&PKT, 77), 77);
        let tax = prog(&[
            Insn::stmt(BPF_LD | BPF_W | BPF_IMM, 7),
            Insn::stmt(BPF_MISC | BPF_TAX, 0),
            Insn::stmt(BPF_LD | BPF_W | BPF_IMM, 1),
            Insn::stmt(BPF_ALU | BPF_ADD | BPF_X, 0),
            ret_a(),
        ]);
        assert_eq!(tax.run(&[], 0), 8);
    }

    #[test]
    fn scratch_memory() {
        let p = prog(&[
            Insn::stmt(BPF_LD | BPF_W | BPF_IMM, 11),
            Insn::stmt(BPF_ST, 15),
            Insn::stmt(BPF_LDX | BPF_W | BPF_IMM, 5),
            Insn::stmt(BPF_STX, 0),
            Insn::stmt(BPF_LD | BPF_W | BPF_MEM, 0),
            Insn::stmt(BPF_LDX | BPF_W | BPF_MEM, 15),
            Insn::stmt(BPF_ALU | BPF_MUL | BPF_X, 0),
            ret_a(),
        ]);
        assert_eq!(p.run(&[], 0), 55);
        // Reading a word no path wrote is refused, as the kernel refuses it.
        let e = Program::from_insns(vec![Insn::stmt(BPF_LD | BPF_W | BPF_MEM, 3), ret_a()]);
        assert!(matches!(e, Err(FilterError::InvalidProgram(m)) if m.contains("M[3]")));
        // Written on one branch only: refused too.
        let e = Program::from_insns(vec![
            Insn::stmt(BPF_LD | BPF_W | BPF_LEN, 0),
            Insn::jump(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 1),
            Insn::stmt(BPF_ST, 2),
            Insn::stmt(BPF_LD | BPF_W | BPF_MEM, 2),
            ret_a(),
        ]);
        assert!(e.is_err());
        let e = Program::from_insns(vec![Insn::stmt(BPF_ST, 16), ret_a()]);
        assert!(e.is_err());
    }

    #[test]
    fn alu_operations() {
        let cases: [(u16, u32, u32, u32); 11] = [
            (BPF_ADD, 0xffff_ffff, 2, 1),
            (BPF_SUB, 1, 2, 0xffff_ffff),
            (BPF_MUL, 0x1000_0000, 16, 0),
            (BPF_DIV, 100, 7, 14),
            (BPF_MOD, 100, 7, 2),
            (BPF_OR, 0xf0, 0x0f, 0xff),
            (BPF_AND, 0xf0, 0x3c, 0x30),
            (BPF_XOR, 0xff, 0x0f, 0xf0),
            (BPF_LSH, 1, 31, 0x8000_0000),
            (BPF_RSH, 0x8000_0000, 31, 1),
            (BPF_NEG, 1, 0, 0xffff_ffff),
        ];
        for (op, a, operand, want) in cases {
            let with_k = prog(&[
                Insn::stmt(BPF_LD | BPF_W | BPF_IMM, a),
                Insn::stmt(BPF_ALU | op | BPF_K, operand),
                ret_a(),
            ]);
            assert_eq!(with_k.run(&[], 0), want, "op {op:#x} K");
            if op == BPF_NEG {
                continue;
            }
            let with_x = prog(&[
                Insn::stmt(BPF_LDX | BPF_W | BPF_IMM, operand),
                Insn::stmt(BPF_LD | BPF_W | BPF_IMM, a),
                Insn::stmt(BPF_ALU | op | BPF_X, 0),
                ret_a(),
            ]);
            assert_eq!(with_x.run(&[], 0), want, "op {op:#x} X");
        }
    }

    #[test]
    fn division_by_zero_and_wide_shifts() {
        for op in [BPF_DIV, BPF_MOD] {
            let p = prog(&[
                Insn::stmt(BPF_LDX | BPF_W | BPF_IMM, 0),
                Insn::stmt(BPF_LD | BPF_W | BPF_IMM, 5),
                Insn::stmt(BPF_ALU | op | BPF_X, 0),
                Insn::stmt(BPF_RET | BPF_K, 99),
            ]);
            assert_eq!(p.run(&[], 0), 0, "op {op:#x}");
            let k0 = Program::from_insns(vec![Insn::stmt(BPF_ALU | op | BPF_K, 0), ret_a()]);
            assert!(k0.is_err(), "constant division by zero must be refused");
        }
        let shift = prog(&[
            Insn::stmt(BPF_LDX | BPF_W | BPF_IMM, 32),
            Insn::stmt(BPF_LD | BPF_W | BPF_IMM, 5),
            Insn::stmt(BPF_ALU | BPF_LSH | BPF_X, 0),
            ret_a(),
        ]);
        assert_eq!(shift.run(&[], 0), 0);
        assert!(
            Program::from_insns(vec![Insn::stmt(BPF_ALU | BPF_RSH | BPF_K, 32), ret_a()]).is_err()
        );
    }

    #[test]
    fn jumps() {
        // A = packet[0] (0x45); each comparison picks a distinct return value.
        let cmp = |code: u16, k: u32| {
            prog(&[
                Insn::stmt(BPF_LD | BPF_B | BPF_ABS, 0),
                Insn::jump(BPF_JMP | code | BPF_K, k, 0, 1),
                Insn::stmt(BPF_RET | BPF_K, 1),
                Insn::stmt(BPF_RET | BPF_K, 2),
            ])
            .run(&PKT, 8)
        };
        assert_eq!(cmp(BPF_JEQ, 0x45), 1);
        assert_eq!(cmp(BPF_JEQ, 0x44), 2);
        assert_eq!(cmp(BPF_JGT, 0x44), 1);
        assert_eq!(cmp(BPF_JGT, 0x45), 2);
        assert_eq!(cmp(BPF_JGE, 0x45), 1);
        assert_eq!(cmp(BPF_JGE, 0x46), 2);
        assert_eq!(cmp(BPF_JSET, 0x04), 1);
        assert_eq!(cmp(BPF_JSET, 0x0a), 2);
        let with_x = prog(&[
            Insn::stmt(BPF_LDX | BPF_W | BPF_IMM, 0x45),
            Insn::stmt(BPF_LD | BPF_B | BPF_ABS, 0),
            Insn::jump(BPF_JMP | BPF_JEQ | BPF_X, 0, 1, 0),
            Insn::stmt(BPF_RET | BPF_K, 1),
            Insn::stmt(BPF_RET | BPF_K, 2),
        ]);
        assert_eq!(with_x.run(&PKT, 8), 2);
        let ja = prog(&[
            Insn::stmt(BPF_JMP | BPF_JA, 2),
            Insn::stmt(BPF_RET | BPF_K, 1),
            Insn::stmt(BPF_RET | BPF_K, 2),
            Insn::stmt(BPF_RET | BPF_K, 3),
        ]);
        assert_eq!(ja.run(&[], 0), 3);
    }

    #[test]
    fn checker_refuses_what_the_kernel_refuses() {
        let refused = [
            vec![],
            vec![Insn::stmt(BPF_LD | BPF_W | BPF_IMM, 0)],
            vec![
                Insn::stmt(BPF_JMP | BPF_JA, 1),
                Insn::stmt(BPF_RET | BPF_K, 0),
            ],
            vec![
                Insn::jump(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 1),
                Insn::stmt(BPF_RET | BPF_K, 0),
            ],
            vec![Insn::stmt(0xff, 0), Insn::stmt(BPF_RET | BPF_K, 0)],
            vec![
                Insn::stmt(BPF_LD | BPF_B | BPF_IMM, 0),
                Insn::stmt(BPF_RET | BPF_K, 0),
            ],
            vec![Insn::stmt(BPF_RET | BPF_X, 0)],
            vec![Insn::stmt(BPF_LD | BPF_W | BPF_ABS, 0xffff_f000), ret_a()],
            vec![Insn::stmt(BPF_RET | BPF_K, 0); MAX_INSNS + 1],
        ];
        for insns in refused {
            assert!(Program::from_insns(insns.clone()).is_err(), "{insns:?}");
        }
        assert!(Program::from_insns(vec![Insn::stmt(BPF_RET | BPF_K, 0); MAX_INSNS]).is_ok());
    }

    #[test]
    fn unchecked_programs_cannot_misbehave() {
        // Programs built here are always checked, but the interpreter itself must still stop
        // on anything: running off the end or into an unknown opcode rejects.
        let odd = Program {
            insns: vec![
                Insn::stmt(BPF_LD | BPF_W | BPF_IMM, 1),
                Insn::stmt(0xffff, 0),
            ],
        };
        assert_eq!(odd.run(&PKT, 8), 0);
        let off_end = Program {
            insns: vec![Insn::jump(BPF_JMP | BPF_JEQ | BPF_K, 0, 200, 200)],
        };
        assert_eq!(off_end.run(&PKT, 8), 0);
        let far = Program {
            insns: vec![Insn::stmt(BPF_JMP | BPF_JA, u32::MAX)],
        };
        assert_eq!(far.run(&PKT, 8), 0);
    }

    #[test]
    fn dump_looks_like_tcpdump() {
        let p = prog(&[
            Insn::stmt(BPF_LD | BPF_H | BPF_ABS, 12),
            Insn::jump(BPF_JMP | BPF_JEQ | BPF_K, 0x800, 0, 3),
            Insn::stmt(BPF_LDX | BPF_B | BPF_MSH, 14),
            Insn::stmt(BPF_LD | BPF_H | BPF_IND, 16),
            Insn::stmt(BPF_ALU | BPF_AND | BPF_K, 0xff),
            Insn::stmt(BPF_RET | BPF_K, SNAP_LEN),
        ]);
        assert_eq!(
            p.dump(),
            "(000) ldh      [12]\n\
             (001) jeq      #0x800           jt 2\tjf 5\n\
             (002) ldxb     4*([14]&0xf)\n\
             (003) ldh      [x + 16]\n\
             (004) and      #0xff\n\
             (005) ret      #262144\n"
        );
    }
}
