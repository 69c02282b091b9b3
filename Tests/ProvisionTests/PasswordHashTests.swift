import Foundation
@testable import Provision
import Testing
import TestSupport

@Suite struct PasswordHashTests {
    /// VirtualBox's testcase vector (UnattendedScript.cpp, salt testcase123).
    @Test func virtualBoxTestVector() throws {
        let h = try PasswordHash.sha512(password: "changeme", salt: "testcase123")
        #expect(h.value == "$6$testcase123$AtdiLq2Dp.l/NRkh9/9Ai6Eapd6d0bGxCOmqErpuGa4unRjiohzK5YERWtLHKvAYx26X0YhIrgSFRimkaLToI1")
    }

    @Test(arguments: [("changeme", "testcase123"), ("pä ss'\"$word\\", "S"), ("x", "./0123456789ABCD"),
                      (String(repeating: "long", count: 64), "abcdefghijklmnop")])
    func equalsOpenSSL(password: String, salt: String) throws {
        let openssl = try #require(which("openssl"))
        let r = try run(openssl, ["passwd", "-6", "-salt", salt, "-stdin"], stdin: password + "\n")
        #expect(r.status == 0, "\(r.output)")
        let ours = try PasswordHash.sha512(password: password, salt: salt)
        #expect(ours.value == r.stdout.trimmingCharacters(in: .newlines))
    }

    /// `openssl passwd` reads at most 256 bytes of a password; libcrypt hashes all of it, so a longer password
    /// does not collapse onto its first 256 bytes.
    @Test func longPasswordsAreHashedWhole() throws {
        let long = String(repeating: "long", count: 100)
        let whole = try PasswordHash.sha512(password: long, salt: "abcdefghijklmnop")
        let cut = try PasswordHash.sha512(password: String(long.prefix(256)), salt: "abcdefghijklmnop")
        #expect(whole != cut)
    }

    @Test func randomSaltsDifferAndVerifyWithOpenSSL() throws {
        let a = try PasswordHash.sha512(password: "secret")
        let b = try PasswordHash.sha512(password: "secret")
        #expect(a != b, "fresh salt every time")
        for h in [a, b] {
            let parts = h.value.split(separator: "$")
            #expect(parts.count == 3 && parts[0] == "6" && parts[1].count == 16 && parts[2].count == 86)
            // Rehashing with the same salt through openssl gives the same string: a real $6$ hash.
            let r = try run(try #require(which("openssl")), ["passwd", "-6", "-salt", String(parts[1]), "-stdin"], stdin: "secret\n")
            #expect(r.stdout.trimmingCharacters(in: .newlines) == h.value)
            #expect(try PasswordHash(crypt: h.value) == h)
        }
    }

    @Test func badInputsAreRefused() {
        #expect(throws: UnattendedError.self) { try PasswordHash.sha512(password: "", salt: "abc") }
        #expect(throws: UnattendedError.self) { try PasswordHash.sha512(password: "a\nb", salt: "abc") }
        #expect(throws: UnattendedError.self) { try PasswordHash.sha512(password: "a\u{0}b", salt: "abc") }
        #expect(throws: UnattendedError.self) { try PasswordHash.sha512(password: "p", salt: "bad salt") }
        #expect(throws: UnattendedError.self) { try PasswordHash.sha512(password: "p", salt: "abcdefghijklmnopq") }
        #expect(throws: UnattendedError.self) { try PasswordHash(crypt: "$1$abc$def") }
        #expect(throws: UnattendedError.self) { try PasswordHash(crypt: "plain") }
    }

    @Test func secretInputReadsOneLineFromAPipe() throws {
        func feed(_ text: String) throws -> (String?, Error?, String) {
            var fds: [Int32] = [0, 0]
            #expect(pipe(&fds) == 0)
            _ = text.withCString { write(fds[1], $0, strlen($0)) }
            close(fds[1])
            defer { close(fds[0]) }
            do {
                let line = try SecretInput.readLine(fd: fds[0])
                var rest = [UInt8](repeating: 0, count: 64)
                let n = read(fds[0], &rest, 64)
                return (line, nil, String(decoding: rest.prefix(max(n, 0)), as: UTF8.self))
            } catch { return (nil, error, "") }
        }
        let (a, _, rest) = try feed("s3cret pass\nnext line\n")
        #expect(a == "s3cret pass")
        #expect(rest == "next line\n", "nothing after the first line is consumed")
        #expect(try feed("crlf\r\n").0 == "crlf")
        #expect(try feed("no newline").0 == "no newline")
        #expect(try feed("\nsecond").1 != nil, "an empty first line is refused")
        #expect(try feed("").1 != nil)
        #expect(try feed(String(repeating: "x", count: 5000)).1 != nil)
    }
}
