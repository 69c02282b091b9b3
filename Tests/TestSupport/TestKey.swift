import Foundation

/// An OpenPGP key made for a test run with real gpg, in its own GNUPGHOME.
public final class TestKey: @unchecked Sendable {
    public let home: TempDir
    public let fingerprint: String
    /// The armoured public key file.
    public let publicKey: URL
    private let gpg: String

    public init(name: String = "vmprov test signer") throws {
        home = TempDir("gnupg")
        chmod(home.path, 0o700)
        gpg = which("gpg") ?? "/usr/bin/gpg"
        let env = ["GNUPGHOME": home.path]
        let gen = try run(gpg, ["--batch", "--pinentry-mode", "loopback", "--passphrase", "",
                                "--quick-gen-key", "\(name) <test@example.invalid>", "ed25519", "sign", "never"],
                          environment: env)
        guard gen.status == 0 else { throw ServerError(message: "gpg --quick-gen-key failed: \(gen.stderr)") }
        let list = try run(gpg, ["--batch", "--with-colons", "--fingerprint", "test@example.invalid"], environment: env)
        guard let fpr = list.stdout.split(separator: "\n").first(where: { $0.hasPrefix("fpr:") })?
            .split(separator: ":", omittingEmptySubsequences: false).dropFirst(9).first else {
            throw ServerError(message: "no fingerprint in: \(list.stdout)")
        }
        fingerprint = String(fpr)
        publicKey = home.file("public.asc")
        let export = try run(gpg, ["--batch", "--armor", "--export", fingerprint], environment: env)
        try Data(export.stdout.utf8).write(to: publicKey)
    }

    public enum Kind { case detachedArmoured, detachedBinary, clearsigned }

    /// Signs a file; returns the signature (or the clearsigned text) as bytes.
    public func sign(_ file: URL, _ kind: Kind) throws -> Data {
        let out = home.file("sig-\(UUID().uuidString)")
        var args = ["--batch", "--yes", "--pinentry-mode", "loopback", "--passphrase", "", "--local-user", fingerprint,
                    "--output", out.path]
        switch kind {
        case .detachedArmoured: args += ["--armor", "--detach-sign"]
        case .detachedBinary: args += ["--detach-sign"]
        case .clearsigned: args += ["--clearsign"]
        }
        let r = try run(gpg, args + [file.path], environment: ["GNUPGHOME": home.path])
        guard r.status == 0 else { throw ServerError(message: "gpg sign failed: \(r.stderr)") }
        return try Data(contentsOf: out)
    }

    deinit {
        _ = try? run(which("gpgconf") ?? "/usr/bin/gpgconf", ["--kill", "all"], environment: ["GNUPGHOME": home.path])
    }
}
