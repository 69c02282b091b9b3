import DiskImages

/// Edits installer boot menus (GRUB `grub.cfg`, isolinux/syslinux `*.cfg`) for a hands-free install: appends
/// kernel parameters to every kernel command line, removes unwanted words (`rd.live.check`), and shortens the
/// menu timeout. Everything else stays byte-identical (line endings included). Follows what VirtualBox's
/// `editIsoLinuxCfg`/`editGrubCfg` (UnattendedInstaller.cpp) do, but keeps the stock parameters
/// (`vga=788`, `inst.stage2=…`) and puts the new ones before a `---` separator when there is one, since words after
/// it are copied into the installed system's boot loader.
public enum BootMenu {
    /// The syntax of a menu file.
    public enum Syntax: Sendable, Equatable {
        /// GRUB 2: `linux`/`linuxefi` lines, `set timeout=<seconds>`.
        case grub
        /// isolinux/syslinux: `append` lines, `timeout <tenths of a second>`.
        case isolinux
    }

    /// The result of an edit.
    public struct Edit: Sendable, Equatable {
        /// The new text.
        public var text: String
        /// How many kernel command lines carry the parameters now.
        public var kernelLines: Int
        /// True when the text differs from the input.
        public var changed: Bool
    }

    /// The syntax for a path inside an installer ISO, or nil for a file that is not a boot menu vmprov edits.
    public static func syntax(forPath path: String) -> Syntax? {
        let p = path.lowercased()
        guard p.hasSuffix(".cfg") else { return nil }
        if p.hasSuffix("/grub.cfg") && (p.hasPrefix("boot/grub/") || p.hasPrefix("boot/grub2/") || p.hasPrefix("efi/boot/")) {
            return .grub
        }
        if p.hasPrefix("isolinux/") || p.hasPrefix("syslinux/") { return .isolinux }
        return nil
    }

    /// Checks that a parameter needs no quoting in GRUB or isolinux: `A-Za-z0-9` and `. _ / = : , + -`.
    /// - Throws: `UnattendedError.invalid` naming it.
    public static func checkParameter(_ p: String) throws(UnattendedError) {
        guard !p.isEmpty, p.utf8.allSatisfy({ isLower($0) || isUpper($0) || isDigit($0) || Array("._/=:,+-".utf8).contains($0) }) else {
            throw .invalid(field: "kernel parameter \"\(p)\"", message: "use only letters, digits and . _ / = : , + - "
                + "(GRUB treats ; $ quotes and spaces specially)")
        }
    }

    /// Edits `text`.
    /// - Parameters:
    ///   - append: words added to every kernel line (skipped where the line has them already).
    ///   - remove: words removed from every kernel line.
    ///   - timeoutSeconds: the new menu timeout (GRUB seconds; isolinux gets tenths). Every timeout line is
    ///     rewritten; a GRUB file without one gets `set timeout=N` appended (GRUB reads the whole file before
    ///     showing the menu); an isolinux file without one is left so (its timeout lives in `isolinux.cfg`).
    /// - Throws: `UnattendedError.invalid` for a parameter that would need quoting.
    public static func edit(_ text: String, syntax: Syntax, append: [String], remove: [String] = [],
                            timeoutSeconds: Int = 1) throws(UnattendedError) -> Edit {
        for p in append + remove { try checkParameter(p) }
        // Split on LF bytes: a CR before it stays part of the line ("\r\n" is one Character, so a Character
        // split would not see the line ends of a CRLF file).
        var lines = Array(text.utf8).split(separator: 0x0A, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        var kernelLines = 0
        var sawTimeout = false
        for i in lines.indices {
            let line = lines[i]
            let words = Self.words(line)
            guard let first = words.first else { continue }
            let keyword = String(line[first]).lowercased()
            switch syntax {
            case .grub where keyword == "linux" || keyword == "linuxefi":
                lines[i] = editKernelLine(line, words: words, append: append, remove: remove)
                kernelLines += 1
            case .isolinux where keyword == "append":
                lines[i] = editKernelLine(line, words: words, append: append, remove: remove)
                kernelLines += 1
            case .grub where keyword == "set" && words.count >= 2 && line[words[1]].hasPrefix("timeout="):
                lines[i] = String(line[..<words[1].lowerBound]) + "timeout=\(timeoutSeconds)"
                    + String(line[words[1].upperBound...])
                sawTimeout = true
            case .isolinux where keyword == "timeout" && words.count >= 2:
                lines[i] = String(line[..<words[1].lowerBound]) + String(timeoutSeconds * 10)
                    + String(line[words[1].upperBound...])
                sawTimeout = true
            default:
                continue
            }
        }
        if syntax == .grub && !sawTimeout {
            if lines.last == "" { lines.insert("set timeout=\(timeoutSeconds)", at: lines.count - 1) } else { lines.append("set timeout=\(timeoutSeconds)") }
        }
        let out = lines.joined(separator: "\n")
        return Edit(text: out, kernelLines: kernelLines, changed: out != text)
    }

    /// Ranges of the blank-separated words of a line (blanks: space, tab, CR).
    static func words(_ line: String) -> [Range<String.Index>] {
        var out: [Range<String.Index>] = []
        var i = line.startIndex
        let blank: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" }
        while i < line.endIndex {
            while i < line.endIndex, blank(line[i]) { i = line.index(after: i) }
            guard i < line.endIndex else { break }
            let start = i
            while i < line.endIndex, !blank(line[i]) { i = line.index(after: i) }
            out.append(start..<i)
        }
        return out
    }

    /// Removes `remove` words (with the blank before each) and inserts the missing `append` words before the
    /// first `---` word after the kernel path, or at the end of the line (before a trailing CR).
    static func editKernelLine(_ line: String, words: [Range<String.Index>], append: [String], remove: [String]) -> String {
        let removeSet = Set(remove)
        let present = Set(words.map { String(line[$0]) })
        var out = ""
        var cursor = line.startIndex
        var insertAt: String.Index?
        for (n, w) in words.enumerated() {
            let word = String(line[w])
            if n >= 1, removeSet.contains(word) {
                // Drop the blank run before the word together with the word.
                var blankStart = w.lowerBound
                while blankStart > cursor, line[line.index(before: blankStart)] == " " || line[line.index(before: blankStart)] == "\t" {
                    blankStart = line.index(before: blankStart)
                }
                out += line[cursor..<blankStart]
                cursor = w.upperBound
                continue
            }
            if n >= 2, word == "---", insertAt == nil {
                out += line[cursor..<w.lowerBound]
                cursor = w.lowerBound
                insertAt = w.lowerBound
                let missing = append.filter { !present.contains($0) }
                if !missing.isEmpty { out += missing.joined(separator: " ") + " " }
            }
        }
        if insertAt == nil {
            var end = line.endIndex
            if line.hasSuffix("\r") { end = line.index(before: end) }
            out += line[cursor..<end]
            let missing = append.filter { !present.contains($0) }
            if !missing.isEmpty { out += " " + missing.joined(separator: " ") }
            out += line[end...]
        } else {
            out += line[cursor...]
        }
        return out
    }

    /// Reads every boot menu of the installer ISO at `isoPath` with libarchive and edits it.
    /// - Returns: the edited files (path in the ISO → new bytes), only those that changed.
    /// - Throws: `UnattendedError.invalid` when no kernel line was found in any menu (nothing would pass the
    ///   parameters), or when reading the ISO fails (the message names the ISO).
    public static func editMenus(isoPath: String, append: [String], remove: [String] = [],
                                 timeoutSeconds: Int = 1) throws(UnattendedError) -> [String: [UInt8]] {
        let files: [String: [UInt8]]
        do {
            let menus = try ISOReader.list(isoPath).filter { !$0.isDirectory && syntax(forPath: $0.path) != nil }.map(\.path)
            files = try ISOReader.read(isoPath, members: menus)
        } catch {
            throw .invalid(field: "installer ISO", message: error.description)
        }
        var out: [String: [UInt8]] = [:]
        var kernelLines = 0
        for (path, bytes) in files {
            guard let syntax = syntax(forPath: path), let text = String(validating: bytes, as: UTF8.self) else { continue }
            let e = try edit(text, syntax: syntax, append: append, remove: remove, timeoutSeconds: timeoutSeconds)
            kernelLines += e.kernelLines
            if e.changed { out[path] = Array(e.text.utf8) }
        }
        guard kernelLines > 0 else {
            throw .invalid(field: isoPath, message: "no boot menu with a kernel line (linux/append) was found in "
                + "boot/grub, boot/grub2, EFI/BOOT or isolinux; this installer's menus are not supported")
        }
        return out
    }
}
