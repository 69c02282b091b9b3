import Foundation
import Testing
import TestSupport
import VBoxXML

struct StopHere: Error {}

@Suite("Atomic save")
struct SaveTests {
    @Test(arguments: SaveStep.allCases)
    func aFaultAfterAnyStepLeavesTheFileByteIdentical(step: SaveStep) throws {
        let dir = TempDir()
        let path = dir.write("m.vbox", Fixture.basic).path
        try FileManager.default.setAttributes([.posixPermissions: 0o640], ofItemAtPath: path)
        let before = bytes(URL(fileURLWithPath: path))
        let save = AtomicSave(faultHook: { current in if current == step { throw StopHere() } })
        #expect(throws: VBoxXMLError.self) { try save.write(Array("<changed/>".utf8), to: path) }
        #expect(bytes(URL(fileURLWithPath: path)) == before)
        #expect(!FileManager.default.fileExists(atPath: path + "-tmp"))
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o640)
    }

    @Test func aSaveKeepsModeWritesPrevAndGoesThroughSymlinks() throws {
        let dir = TempDir()
        let real = dir.write("real/m.vbox", Fixture.basic).path
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: real)
        let link = dir.file("m.vbox").path
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: real)
        try AtomicSave().write(Array("new".utf8), to: link)
        #expect(String(decoding: bytes(URL(fileURLWithPath: real)), as: UTF8.self) == "new")
        #expect(String(decoding: bytes(URL(fileURLWithPath: real + "-prev")), as: UTF8.self) == Fixture.basic)
        let attrs = try FileManager.default.attributesOfItem(atPath: link)
        #expect(attrs[.type] as? FileAttributeType == .typeSymbolicLink)
        #expect(try FileManager.default.attributesOfItem(atPath: real)[.posixPermissions] as? Int == 0o600)
        #expect(!FileManager.default.fileExists(atPath: real + "-tmp"))
    }

    @Test func aStaleTempFileFromACrashIsReplaced() throws {
        let dir = TempDir()
        let path = dir.write("m.vbox", Fixture.basic).path
        dir.write("m.vbox-tmp", "half")
        try AtomicSave().write(Array("new".utf8), to: path)
        #expect(String(decoding: bytes(URL(fileURLWithPath: path)), as: UTF8.self) == "new")
        #expect(!FileManager.default.fileExists(atPath: path + "-tmp"))
    }
}
