#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Basics
import VBoxXML

/// A VirtualBox VISO (`.viso`, medium format `VBoxIsoMaker`): a text recipe from which VirtualBox builds an ISO
/// on the fly (IPRT `RTFsIsoMakerCmd`, isomakercmd.cpp; layout as VirtualBox's unattended installer writes it,
/// UnattendedInstaller.cpp `prepareAuxIsoImage`). vmprov writes: import the verified installer ISO unchanged,
/// remove each boot-menu file and put the edited copy in its place, add the answer files. The installer ISO itself
/// is never written.
///
/// Sources are host paths: absolute, or relative to the folder holding the `.viso`.
public struct VISORecipe: Sendable, Equatable {
    /// A file put on the image: `isoPath` (with a leading `/`) from host file `source`.
    public struct FileSpec: Sendable, Equatable {
        /// Path on the image (`/boot/grub/grub.cfg`).
        public var isoPath: String
        /// Host file (absolute, or relative to the `.viso`'s folder).
        public var source: String

        /// `isoPath` from `source`.
        public init(isoPath: String, source: String) {
            self.isoPath = isoPath
            self.source = source
        }
    }

    /// The image UUID written after the marker (use the same UUID for the `.vbox` `Image uuid`).
    public var uuid: String
    /// The installer ISO imported whole (El Torito boot records and system area included).
    public var importISO: String?
    /// Files that exist in the imported ISO and are replaced (`path=:must-remove:` then `path=source`).
    public var replacements: [FileSpec]
    /// Files added (`path=source`).
    public var additions: [FileSpec]

    /// A recipe; `validate()` checks it.
    public init(uuid: String, importISO: String?, replacements: [FileSpec] = [], additions: [FileSpec] = []) {
        self.uuid = uuid
        self.importISO = importISO
        self.replacements = replacements
        self.additions = additions
    }

    /// The arguments in order (before quoting).
    public var arguments: [String] {
        var a = ["--iprt-iso-maker-file-marker-bourne-sh", uuid, "--file-mode=0444", "--dir-mode=0555"]
        if let importISO {
            a += ["--no-file-mode", "--no-dir-mode", "--import-iso=\(importISO)", "--file-mode=0444", "--dir-mode=0555"]
        }
        for r in replacements { a += ["\(r.isoPath)=:must-remove:", "\(r.isoPath)=\(r.source)"] }
        for f in additions { a.append("\(f.isoPath)=\(f.source)") }
        return a
    }

    /// Checks the UUID and every path.
    /// - Throws: `DiskImageError.invalid` naming the value.
    public func validate() throws(DiskImageError) {
        let hex = uuid.utf8.filter { $0 != UInt8(ascii: "-") }
        guard uuid.utf8.count == 36, hex.count == 32, hex.allSatisfy({ isAlnum($0) && !(($0 >= 0x47 && $0 <= 0x5A) || ($0 >= 0x67 && $0 <= 0x7A)) }),
              [8, 13, 18, 23].allSatisfy({ Array(uuid.utf8)[$0] == UInt8(ascii: "-") }) else {
            throw .invalid(field: "VISO UUID \"\(uuid)\"", message: "give a UUID such as 0d1f3c9e-5b7a-4c2e-9f10-2a3b4c5d6e7f")
        }
        if let importISO { try Self.checkHostPath(importISO, what: "imported ISO") }
        var seen = Set<String>()
        for spec in replacements + additions {
            guard spec.isoPath.hasPrefix("/"), spec.isoPath.count > 1, !spec.isoPath.contains("="),
                  !spec.isoPath.hasSuffix("/"), !spec.isoPath.contains("//"),
                  !spec.isoPath.split(separator: "/").contains(where: { $0 == "." || $0 == ".." }) else {
                throw .invalid(field: "VISO path \"\(spec.isoPath)\"", message: "an image path starts with /, has no = "
                    + "and no . or .. components")
            }
            try Self.checkHostPath(spec.isoPath, what: "VISO path")
            try Self.checkHostPath(spec.source, what: "source of \(spec.isoPath)")
            guard seen.insert(spec.isoPath).inserted else {
                throw .invalid(field: "VISO path \"\(spec.isoPath)\"", message: "is given twice")
            }
        }
        if importISO == nil, !replacements.isEmpty {
            throw .invalid(field: "VISO recipe", message: "replacing files needs an imported ISO")
        }
    }

    /// Paths must be non-empty, without `'`, control characters, and not start with `:` or `-` (special sources
    /// and options in IPRT's parser).
    static func checkHostPath(_ p: String, what: String) throws(DiskImageError) {
        guard !p.isEmpty, !p.hasPrefix(":"), !p.hasPrefix("-"), !p.hasPrefix("@"), !p.contains("'"),
              !p.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
            throw .invalid(field: "\(what) \"\(p)\"", message: "a VISO path must not be empty, start with : - or @, or "
                + "contain ' or control characters; move or rename the file")
        }
    }

    /// Bourne-shell quoting as IPRT's `RTGetOptArgvFromString` (bourne style) reads it: bare when only
    /// `A-Za-z0-9` and `_ . / : = @ % + , -`, else single-quoted (`'` is refused by `validate()`).
    static func quote(_ s: String) -> String {
        let bare = s.utf8.allSatisfy { isAlnum($0) || Array("_./:=@%+,-".utf8).contains($0) }
        return bare ? s : "'" + s + "'"
    }

    /// The recipe text: one argument per line (newlines are plain whitespace to the parser), UTF-8, no BOM.
    /// - Throws: `DiskImageError.invalid` from `validate()`.
    public func render() throws(DiskImageError) -> String {
        try validate()
        return arguments.map(Self.quote).joined(separator: "\n") + "\n"
    }

    /// Writes the recipe to `path` atomically (temporary file `O_EXCL|O_NOFOLLOW`, fsync, rename, folder fsync).
    /// - Throws: `DiskImageError.invalid`, `.exists` when `path` exists and `replace` is false, `.io`.
    public func write(to path: String, replace: Bool = false) throws(DiskImageError) {
        let bytes = Array(try render().utf8)
        try AtomicFile.write(to: path, replace: replace) { fd throws(DiskImageError) in
            if let e = FileIO.writeAll(fd: fd, bytes) {
                throw .io(path: path, operation: "write it", reason: FileIO.describe(e))
            }
        }
    }
}

/// Atomic creation of small files: temporary file beside the target (`O_EXCL|O_NOFOLLOW`, mode 0600), fsync,
/// rename, fsync of the folder.
enum AtomicFile {
    /// Creates the temporary file, lets `fill` write it through the descriptor, then makes it `path`. On any error
    /// the temporary file is removed and `path` is untouched.
    static func write(to path: String, replace: Bool, fill: (Int32) throws(DiskImageError) -> Void) throws(DiskImageError) {
        var st = stat()
        if !replace, lstat(path, &st) == 0 { throw .exists(path: path) }
        let folder = FileIO.directory(of: path)
        var rng = SystemRandomNumberGenerator()
        let temp = folder + "/." + FileIO.basename(path) + ".tmp-" + String(rng.next() & 0xFFFF_FFFF, radix: 16)
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw .io(path: path, operation: "create the temporary file \(temp)", reason: FileIO.describe(errno))
        }
        var done = false
        defer { if !done { unlink(temp) } }
        do {
            try fill(fd)
        } catch {
            close(fd)
            throw error
        }
        if fsync(fd) != 0 {
            let e = errno
            close(fd)
            throw .io(path: temp, operation: "flush it to disk", reason: FileIO.describe(e))
        }
        close(fd)
        if !replace, lstat(path, &st) == 0 { throw .exists(path: path) }
        guard rename(temp, path) == 0 else {
            throw .io(path: path, operation: "rename \(temp) into place", reason: FileIO.describe(errno))
        }
        done = true
        if let e = FileIO.syncDirectory(folder) {
            throw .io(path: folder, operation: "flush the folder after renaming \(path) into it", reason: FileIO.describe(e))
        }
    }
}
