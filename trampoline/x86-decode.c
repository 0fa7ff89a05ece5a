/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * x86-64 instruction length decoder (see x86-decode.h).  It follows the
 * encoding tables of the Intel SDM volume 2 (appendix A) for 64-bit mode:
 * prefixes, then the opcode map, which says whether a ModRM byte and which
 * immediate follow.  It measures and does not validate operands: an
 * instruction with a reserved ModRM form still gets its length.
 *
 * Signal-safety contract: pure functions over the bytes they are given; no
 * state, no syscalls.  Callable from the SIGSYS handler and the fast entry.
 */
#include "x86-decode.h"

enum imm {
    IMM_NONE,
    IMM_8,
    IMM_16,
    IMM_Z,  /* 16 with a 66 prefix, else 32 (REX.W keeps 32) */
    IMM_V,  /* like IMM_Z, but 64 with REX.W (mov r, imm) */
    IMM_24, /* enter: imm16 + imm8 */
    IMM_32,
    IMM_MOFFS, /* 64-bit address, 32 with a 67 prefix */
    IMM_BAD,   /* invalid opcode */
};

struct insn {
    int opsize16; /* 66 prefix */
    int lock;     /* f0 prefix */
    int addr32;   /* 67 prefix */
    int rex_w;
    int has_66_f2; /* for 0F 78 (extrq/insertq) */
};

/* The opcode tables keep several case labels a line. */
/* clang-format off */
/* Invalid one-byte opcodes in 64-bit mode, one bit each. */
static int one_byte_invalid(uint8_t op)
{
    switch (op) {
    case 0x06: case 0x07: case 0x0e: case 0x16: case 0x17: case 0x1e: case 0x1f:
    case 0x27: case 0x2f: case 0x37: case 0x3f: case 0x60: case 0x61: case 0x82:
    case 0x9a: case 0xce: case 0xd4: case 0xd5: case 0xd6: case 0xea:
        return 1;
    default:
        return 0;
    }
}

static int one_byte_modrm(uint8_t op)
{
    if (op < 0x40)
        return (op & 7) < 4;
    switch (op) {
    case 0x62: case 0x63: case 0x69: case 0x6b: case 0xc0: case 0xc1: case 0xc6: case 0xc7:
    case 0xf6: case 0xf7: case 0xfe: case 0xff:
        return 1;
    default:
        return (op >= 0x80 && op <= 0x8f) || (op >= 0xd0 && op <= 0xd3) ||
               (op >= 0xd8 && op <= 0xdf);
    }
}

/* Immediate of a one-byte opcode; f6/f7 are decided by the caller. */
static enum imm one_byte_imm(uint8_t op)
{
    if (op < 0x40) {
        if ((op & 7) == 4)
            return IMM_8;
        return (op & 7) == 5 ? IMM_Z : IMM_NONE;
    }
    if ((op >= 0x70 && op <= 0x7f) || (op >= 0xb0 && op <= 0xb7) || (op >= 0xe0 && op <= 0xe7))
        return IMM_8;
    if (op >= 0xb8 && op <= 0xbf)
        return IMM_V;
    if (op >= 0xa0 && op <= 0xa3)
        return IMM_MOFFS;
    switch (op) {
    case 0x6a: case 0x6b: case 0x80: case 0x83: case 0xa8: case 0xc0: case 0xc1: case 0xc6:
    case 0xcd: case 0xeb:
        return IMM_8;
    case 0x68: case 0x69: case 0x81: case 0xa9: case 0xc7:
        return IMM_Z;
    case 0xc2: case 0xca:
        return IMM_16;
    case 0xc8:
        return IMM_24;
    /* Near call/jmp keep rel32 under 66 in 64-bit mode (Intel behaviour). */
    case 0xe8: case 0xe9:
        return IMM_32;
    default:
        return IMM_NONE;
    }
}

static int map0f_invalid(uint8_t op)
{
    switch (op) {
    case 0x04: case 0x0a: case 0x0c: case 0x24: case 0x25: case 0x26: case 0x27: case 0x36:
    case 0x39: case 0x3b: case 0x3c: case 0x3d: case 0x3e: case 0x3f: case 0x7a: case 0x7b:
        return 1;
    default:
        return 0;
    }
}

static int map0f_modrm(uint8_t op)
{
    if ((op >= 0x30 && op <= 0x37) || (op >= 0x80 && op <= 0x8f) || (op >= 0xc8 && op <= 0xcf))
        return 0;
    switch (op) {
    case 0x05: case 0x06: case 0x07: case 0x08: case 0x09: case 0x0b: case 0x0e: case 0x77:
    case 0xa0: case 0xa1: case 0xa2: case 0xa8: case 0xa9: case 0xaa:
        return 0;
    default:
        return 1;
    }
}

/* Immediates of map 0F, shared by legacy, VEX and EVEX encodings. */
static enum imm map0f_imm(uint8_t op)
{
    if (op >= 0x70 && op <= 0x73)
        return IMM_8;
    switch (op) {
    case 0xa4: case 0xac: case 0xba: case 0xc2: case 0xc4: case 0xc5: case 0xc6:
        return IMM_8;
    default:
        return IMM_NONE;
    }
}

/*
 * One-byte opcodes whose ModRM.reg (or mod) selects an invalid form.  Zydis
 * rejects these too; refusing them makes a sweep through data notice early.
 */
static int one_byte_modrm_invalid(uint8_t op, uint8_t m)
{
    unsigned mod = m >> 6, reg = (m >> 3) & 7;
    switch (op) {
    case 0x8c:
        return reg > 5;
    case 0x8e:
        return reg > 5 || reg == 1;
    case 0x8d:
        return mod == 3;
    case 0x8f:
        return reg != 0;
    case 0xc6:
    case 0xc7:
        return reg != 0 && !(reg == 7 && m == 0xf8);
    case 0xfe:
        return reg > 1;
    case 0xff:
        return reg == 7 || ((reg == 3 || reg == 5) && mod == 3);
    default:
        return 0;
    }
}

/* Whether a lock prefix is allowed: read-modify-write with a memory operand. */
static int lockable(int map0f, uint8_t op, uint8_t m)
{
    unsigned reg = (m >> 3) & 7;
    if ((m >> 6) == 3)
        return 0;
    if (!map0f) {
        if (op < 0x40)
            return (op & 7) < 2 && (op >> 3) != 7;
        switch (op) {
        case 0x80: case 0x81: case 0x83:
            return reg != 7;
        case 0x86: case 0x87:
            return 1;
        case 0xf6: case 0xf7:
            return reg == 2 || reg == 3;
        case 0xfe: case 0xff:
            return reg < 2;
        default:
            return 0;
        }
    }
    switch (op) {
    case 0xab: case 0xb0: case 0xb1: case 0xb3: case 0xbb: case 0xc0: case 0xc1:
        return 1;
    case 0xba:
        return reg >= 5;
    case 0xc7:
        return reg == 1;
    default:
        return 0;
    }
}
/* clang-format on */

/* Bytes of ModRM, SIB and displacement at p, or -1 past the end. */
static int modrm_len(const uint8_t *p, size_t avail)
{
    if (avail < 1)
        return -1;
    uint8_t m = p[0];
    unsigned mod = m >> 6, rm = m & 7;
    int n = 1;
    if (mod == 3)
        return 1;
    if (rm == 4) {
        if (avail < 2)
            return -1;
        n++;
        if (mod == 0 && (p[1] & 7) == 5)
            n += 4;
    } else if (mod == 0 && rm == 5) {
        n += 4; /* RIP-relative */
    }
    if (mod == 1)
        n += 1;
    else if (mod == 2)
        n += 4;
    return n;
}

static int imm_len(enum imm imm, const struct insn *in)
{
    switch (imm) {
    case IMM_NONE:
        return 0;
    case IMM_8:
        return 1;
    case IMM_16:
        return 2;
    case IMM_Z:
        return in->opsize16 && !in->rex_w ? 2 : 4;
    case IMM_V:
        return in->rex_w ? 8 : in->opsize16 ? 2 : 4;
    case IMM_24:
        return 3;
    case IMM_32:
        return 4;
    case IMM_MOFFS:
        return in->addr32 ? 4 : 8;
    default:
        return -1;
    }
}

/* The rest of an instruction after its opcode: ModRM (if any) and immediate. */
static int finish(const uint8_t *p, size_t avail, size_t pos, int modrm, enum imm imm,
                  const struct insn *in)
{
    if (modrm == 2) {
        /* mov to/from control and debug registers: always the register form. */
        pos++;
    } else if (modrm) {
        int m = modrm_len(p + pos, avail - pos);
        if (m < 0)
            return -1;
        pos += (size_t)m;
    }
    int i = imm_len(imm, in);
    if (i < 0)
        return -1;
    pos += (size_t)i;
    if (pos > SBX_X86_MAX_INSN || pos > avail)
        return -1;
    return (int)pos;
}

/*
 * VEX (c4/c5), EVEX (62) and XOP (8f) encodings, pos at the escape byte.
 * They allow no 66/f2/f3/lock/REX prefix in front (the prefix is encoded
 * inside); every opcode has a ModRM except VEX 0F 77 (vzeroupper/all).
 */
static int vex_like(const uint8_t *p, size_t avail, size_t pos, int bad_prefix,
                    const struct insn *in)
{
    uint8_t esc = p[pos];
    unsigned map;
    size_t payload;
    if (bad_prefix)
        return -1;
    if (esc == 0xc5) {
        map = 1;
        payload = 1;
    } else {
        payload = esc == 0x62 ? 3 : 2;
        if (pos + 1 >= avail)
            return -1;
        map = p[pos + 1] & (esc == 0x62 ? 0x0f : 0x1f);
    }
    if (esc == 0x62) {
        if (pos + 2 >= avail || !(p[pos + 2] & 0x04))
            return -1;
        /* EVEX.W also selects the element size, not the immediate size. */
    }
    pos += 1 + payload;
    if (pos >= avail)
        return -1;
    uint8_t op = p[pos++];
    enum imm imm = IMM_NONE;
    int modrm = 1;
    switch (esc == 0x8f ? map : map | 0x100) {
    case 0x101:
        /* No VEX/EVEX instruction lives at 0F 80..8F (Knights Corner's did). */
        if (op >= 0x80 && op <= 0x8f)
            return -1;
        imm = map0f_imm(op);
        modrm = !(esc != 0x62 && op == 0x77);
        break;
    case 0x102:
        break;
    case 0x103:
        imm = IMM_8;
        break;
    case 0x105:
    case 0x106:
        if (esc != 0x62)
            return -1;
        break;
    case 0x08:
        imm = IMM_8;
        break;
    case 0x09:
        break;
    case 0x0a:
        imm = IMM_32;
        break;
    default:
        return -1;
    }
    struct insn plain = *in;
    plain.opsize16 = 0;
    return finish(p, avail, pos, modrm, imm, &plain);
}

int sbx_x86_insn_len(const uint8_t *p, size_t avail)
{
    struct insn in = { 0 };
    size_t pos = 0;
    int rex = 0, mand = 0; /* mand: 66/f2/f3/lock seen (forbidden before VEX) */

    if (avail > SBX_X86_MAX_INSN)
        avail = SBX_X86_MAX_INSN;
    for (;; pos++) {
        if (pos >= avail)
            return -1;
        uint8_t b = p[pos];
        if ((b & 0xf0) == 0x40) {
            rex = b;
            continue;
        }
        switch (b) {
        case 0x66:
            in.opsize16 = 1;
            in.has_66_f2 = 1;
            break;
        case 0xf2:
            in.has_66_f2 = 1;
            break;
        case 0xf3:
            break;
        case 0xf0:
            in.lock = 1;
            break;
        case 0x67:
            in.addr32 = 1;
            rex = 0;
            continue;
        /* clang-format off */
        case 0x26: case 0x2e: case 0x36: case 0x3e: case 0x64: case 0x65:
            /* clang-format on */
            /* A REX followed by another prefix is ignored. */
            rex = 0;
            continue;
        default:
            goto opcode;
        }
        mand = 1;
        rex = 0;
    }
opcode:
    in.rex_w = (rex & 0x08) != 0;
    uint8_t op = p[pos];
    if (op == 0xc4 || op == 0xc5 || op == 0x62)
        return vex_like(p, avail, pos, mand || rex, &in);
    if (op == 0x8f && pos + 1 < avail && (p[pos + 1] & 0x1f) >= 8)
        return vex_like(p, avail, pos, mand || rex, &in);
    pos++;
    if (op != 0x0f) {
        if (one_byte_invalid(op))
            return -1;
        int modrm = one_byte_modrm(op);
        if (modrm || in.lock) {
            if (pos >= avail)
                return -1;
            if ((modrm && one_byte_modrm_invalid(op, p[pos])) ||
                (in.lock && !(modrm && lockable(0, op, p[pos]))))
                return -1;
        }
        enum imm imm = one_byte_imm(op);
        if ((op == 0xf6 || op == 0xf7) && ((p[pos] >> 3) & 7) < 2)
            imm = op == 0xf6 ? IMM_8 : IMM_Z;
        return finish(p, avail, pos, modrm, imm, &in);
    }

    if (pos >= avail)
        return -1;
    op = p[pos++];
    if (in.lock && (op == 0x38 || op == 0x3a))
        return -1;
    if (op == 0x38)
        return pos < avail ? finish(p, avail, pos + 1, 1, IMM_NONE, &in) : -1;
    if (op == 0x3a)
        return pos < avail ? finish(p, avail, pos + 1, 1, IMM_8, &in) : -1;
    /* 3DNow! (0F 0F) is refused: no x86-64 CPU of today implements it. */
    if (op == 0x0f || map0f_invalid(op))
        return -1;
    int modrm = map0f_modrm(op);
    if (op >= 0x20 && op <= 0x23)
        modrm = 2;
    if (in.lock && (pos >= avail || !(modrm == 1 && lockable(1, op, p[pos]))))
        return -1;
    enum imm imm = map0f_imm(op);
    if (op >= 0x80 && op <= 0x8f)
        imm = IMM_32; /* jcc rel32, 66 ignored as for e8/e9 */
    if (op == 0x78 && in.has_66_f2)
        imm = IMM_16; /* extrq/insertq: two imm8 */
    return finish(p, avail, pos, modrm, imm, &in);
}

static int64_t rel(const uint8_t *p, int n)
{
    if (n == 1)
        return (int8_t)p[0];
    return (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                     (uint32_t)p[3] << 24);
}

enum sbx_x86_flow sbx_x86_insn_flow(const uint8_t *p, int len, uint64_t at, uint64_t *target)
{
    int i = 0, opsize16 = 0, rep = 0, rex = 0;
    /* Legacy prefixes; a REX counts only right before the opcode. */
    for (; i < len; i++) {
        uint8_t b = p[i];
        if ((b & 0xf0) == 0x40) {
            rex = b;
            continue;
        }
        if (b != 0x66 && b != 0x67 && b != 0xf0 && b != 0xf2 && b != 0xf3 && b != 0x2e &&
            b != 0x36 && b != 0x3e && b != 0x26 && b != 0x64 && b != 0x65)
            break;
        opsize16 |= b == 0x66;
        rep |= b == 0xf3;
        rex = 0;
    }
    if (i >= len)
        return SBX_X86_NEXT;
    /* REX.W wins over 66 (`66 66 48 e8` is the TLS call to __tls_get_addr). */
    if (rex & 8)
        opsize16 = 0;
    const uint8_t *op = p + i;
    int rest = len - i;
    uint64_t end = at + (uint64_t)len;
    switch (op[0]) {
    case 0x90:
        /* 41 90 is xchg %eax,%r8d; f3 90 is pause */
        return (rex & 1) || rep ? SBX_X86_NEXT : SBX_X86_PAD;
    case 0xcc:
        return SBX_X86_PAD;
    case 0xc2:
    case 0xc3:
    case 0xf4:
        return SBX_X86_END;
    case 0xe8:
    case 0xe9:
    case 0xeb:
    case 0xe0:
    case 0xe1:
    case 0xe2:
    case 0xe3:
        break;
    case 0xc7:
        /* xbegin: falls through, aborts to a relative target */
        if (rest >= 2 && op[1] == 0xf8) {
            if (opsize16 || rest != 6)
                return SBX_X86_ODD;
            *target = end + (uint64_t)rel(op + 2, 4);
            return SBX_X86_JCC;
        }
        return SBX_X86_NEXT;
    case 0xff:
        if (rest >= 2 && (((op[1] >> 3) & 7) == 4 || ((op[1] >> 3) & 7) == 5))
            return SBX_X86_END;
        return SBX_X86_NEXT;
    case 0x0f:
        if (rest < 2)
            return SBX_X86_NEXT;
        if (op[1] == 0x0b)
            return SBX_X86_END;
        if (op[1] == 0x1f && rest >= 3 && ((op[2] >> 3) & 7) == 0)
            return SBX_X86_PAD;
        if (op[1] >= 0x80 && op[1] <= 0x8f) {
            if (opsize16 || rest != 6)
                return SBX_X86_ODD;
            *target = end + (uint64_t)rel(op + 2, 4);
            return SBX_X86_JCC;
        }
        return SBX_X86_NEXT;
    default:
        if (op[0] >= 0x70 && op[0] <= 0x7f)
            break;
        return SBX_X86_NEXT;
    }
    /* Relative branches: rel8 (70-7f, e0-e3, eb) or rel32 (e8, e9). */
    int n = (op[0] == 0xe8 || op[0] == 0xe9) ? 4 : 1;
    if (rest != 1 + n)
        return SBX_X86_ODD;
    if (opsize16)
        return SBX_X86_ODD;
    *target = end + (uint64_t)rel(op + 1, n);
    if (op[0] == 0xe8)
        return SBX_X86_CALL;
    return (op[0] == 0xe9 || op[0] == 0xeb) ? SBX_X86_JMP : SBX_X86_JCC;
}
