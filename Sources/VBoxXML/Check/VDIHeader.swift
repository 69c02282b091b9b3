#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Basics

/// What the reader rules need from a VDI image: the identity in its header (VDICore.h VDIHEADER1PLUS.uuidCreate),
/// which VirtualBox compares with the media registry. The writer is `DiskImages.VDIWriter`.
public enum VDIHeader {
    /// Reads uuidCreate from a VDI header, or nil when the file cannot be read or is not a VDI (no signature
    /// 0xBEDA107F at offset 0x40).
    public static func creationUUID(path: String) -> VBoxUUID? {
        guard let fd = OwnedFD.openOrNil(path, O_RDONLY) else { return nil }
        var h = [UInt8](repeating: 0, count: 512)
        let n = Syscall.retrying {
            h.withUnsafeMutableBytes { raw -> Int in
                guard let base = raw.baseAddress else { return 0 }
                return pread(fd.raw, base, 512, 0)
            }
        }
        guard n == 512, h[0x40] == 0x7F, h[0x41] == 0x10, h[0x42] == 0xDA, h[0x43] == 0xBE else { return nil }
        return VBoxUUID(iprtBytes: Array(h[0x188..<0x198]))
    }
}
