#!/usr/bin/env python3
"""Writes a gzip decompression bomb for vmprov's tests, streaming (a few MiB of RAM, about 4 MiB on disk).

usage: make_bomb.py OUT zeros|member|license [GIB]
  zeros    a valid gzip of GIB (default 4) GiB of zeros: as a tar, it ends at its first (zero) block
  member   a tar whose first member ./junk claims GIB GiB and holds zeros, then nothing
  license  a tar whose ./ExtPack-license.txt claims 100 MiB (the data is zeros)
Each 1 MiB of zeros is deflated once after a full flush, so the same bytes can be written again and again.
"""
import struct
import sys
import zlib


def ustar(name, size):
    h = bytearray(512)
    h[0:len(name)] = name.encode()
    h[100:108] = b"0000644\0"
    h[108:116] = b"0000000\0"
    h[116:124] = b"0000000\0"
    h[124:136] = ("%011o\0" % size).encode()
    h[136:148] = b"00000000000\0"
    h[156:157] = b"0"
    h[257:263] = b"ustar\0"
    h[263:265] = b"00"
    h[148:156] = b" " * 8
    h[148:156] = ("%06o\0 " % sum(h)).encode()
    return bytes(h)


def main():
    out, mode = sys.argv[1], sys.argv[2]
    gib = int(sys.argv[3]) if len(sys.argv) > 3 else 4
    zeros_mib = gib << 10 if mode != "license" else 100
    head = b""
    if mode == "member":
        head = ustar("./junk", gib << 30)
    elif mode == "license":
        head = ustar("./ExtPack-license.txt", 100 << 20)
    zero = bytes(1 << 20)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    crc = zlib.crc32(head)
    with open(out, "wb") as f:
        f.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff")
        f.write(c.compress(head) + c.flush(zlib.Z_FULL_FLUSH))
        block = c.compress(zero) + c.flush(zlib.Z_FULL_FLUSH)
        for i in range(zeros_mib):
            f.write(block)
            crc = zlib.crc32(zero, crc)
        f.write(c.flush(zlib.Z_FINISH))
        f.write(struct.pack("<II", crc, (len(head) + (zeros_mib << 20)) & 0xFFFFFFFF))


if __name__ == "__main__":
    main()
