import Foundation
import Testing
import VBoxXML
import Basics

@Suite("Document layer")
struct DocumentTests {
    @Test func readsMachineHardwareNotSnapshotHardware() throws {
        let doc = try Fixture.parse(Fixture.basic)
        #expect(doc.version.major == 1 && doc.version.minor == 19)
        #expect(doc.location(of: doc.hardwareIndex).hasPrefix("VirtualBox/Machine/Hardware"))
        #expect(doc.summary.memoryMB == 2048)
        #expect(doc.summary.cpus == 2)
        #expect(doc.adapters.map(\.mode) == ["NAT", "BridgedInterface", "NAT"])
        #expect(doc.adapters[2].forwards.map(\.name) == ["b", "m"])
        #expect(doc.warnings.isEmpty)
    }

    @Test func innotekNamespaceIsAccepted() throws {
        let text = Fixture.basic.replacingOccurrences(of: "http://www.virtualbox.org/",
                                                      with: "http://www.innotek.de/VirtualBox-settings")
        let doc = try Fixture.parse(text)
        #expect(doc.warnings.isEmpty)
        #expect(doc.summary.name == "demo")
    }

    @Test func newerVersionWarnsAndGoesOn() throws {
        let doc = try Fixture.parse(Fixture.basic.replacingOccurrences(of: "1.19-linux", with: "1.22-linux"))
        #expect(doc.warnings.contains { $0.contains("newer than the newest vmprov knows") })
    }

    @Test func olderThan112IsReadButNotEditedAndOlderThan13IsRefused() throws {
        // VirtualBox 7.x reads 1.3 and later (ConfigFileBase::parseVersion) and converts old files on save.
        let old = try Fixture.parse(Fixture.basic.replacingOccurrences(of: "1.19-linux", with: "1.11-linux"))
        #expect(throws: VBoxXMLError.self) { try old.disablingRDP() }
        #expect(throws: VBoxXMLError.self) { try old.removingForward(named: "b", adapter: 3) }
        #expect(throws: VBoxXMLError.self) {
            try Fixture.parse(Fixture.basic.replacingOccurrences(of: "1.19-linux", with: "1.2-linux"))
        }
    }

    @Test(arguments: [
        ("", "empty"),
        ("this is not xml", "not a well-formed"),
        (String(Fixture.basic.prefix(300)), "not a well-formed"),
        ("<?xml version=\"1.0\"?>\n<Settings version=\"1.19\"/>\n", "root element is <Settings>"),
        ("<VirtualBox xmlns=\"http://www.virtualbox.org/\" version=\"1.19-linux\"/>", "no <Machine>"),
        ("<VirtualBox xmlns=\"http://www.virtualbox.org/\" version=\"1.19-linux\"><Machine uuid=\"{x}\" name=\"a\"/></VirtualBox>",
         "no <Hardware>"),
        ("<VirtualBox version=\"1.19-linux\"><Machine/></VirtualBox><VirtualBox/>", "not a well-formed"),
        ("<VirtualBox xmlns=\"http://www.virtualbox.org/\"><Machine><Hardware/></Machine></VirtualBox>", "no version"),
        ("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><VirtualBox version=\"1.19\"/>", "UTF-8"),
    ])
    func badInputIsRefusedWithAMessage(input: String, expected: String) {
        do {
            _ = try Fixture.parse(input, path: "bad.vbox")
            Issue.record("accepted bad input: \(input.prefix(40))")
        } catch {
            let text = "\(error)"
            #expect(text.hasPrefix("bad.vbox"), "message names the file: \(text)")
            #expect(text.contains(expected), "\(text)")
        }
    }

    @Test func malformedErrorsCarryLineAndColumn() {
        let text = "<?xml version=\"1.0\"?>\n<VirtualBox version=\"1.19\">\n  <Machine>\n</VirtualBox>\n"
        do {
            _ = try Fixture.parse(text, path: "t.vbox")
            Issue.record("accepted")
        } catch let VBoxXMLError.malformed(path, line, column, message) {
            #expect(path == "t.vbox")
            #expect(line >= 4)
            #expect(column > 0)
            #expect(!message.isEmpty)
        } catch {
            Issue.record("wrong error \(error)")
        }
    }

    @Test func entityBombIsRefusedBeforeParsing() {
        var bomb = "<?xml version=\"1.0\"?>\n<!DOCTYPE VirtualBox [\n <!ENTITY a \"aaaaaaaaaa\">\n"
        var previous = "a"
        for i in 1...10 {
            let name = "e\(i)"
            bomb += " <!ENTITY \(name) \"" + String(repeating: "&\(previous);", count: 10) + "\">\n"
            previous = name
        }
        bomb += "]>\n<VirtualBox version=\"1.19-linux\" x=\"&\(previous);\"><Machine><Hardware/></Machine></VirtualBox>\n"
        #expect(throws: VBoxXMLError.self) { try Fixture.parse(bomb) }
        do { _ = try Fixture.parse(bomb) } catch { #expect("\(error)".contains("DOCTYPE")) }
    }

    @Test func invalidUTF8IsRefused() {
        var bytes = Array(Fixture.basic.utf8)
        let at = bytes.firstIndex(of: UInt8(ascii: "d"))!  // inside name="demo"
        bytes[at] = 0xC3
        bytes.insert(0x28, at: at + 1)
        #expect(throws: VBoxXMLError.self) { try VBoxSettings(bytes: bytes, path: "u.vbox") }
    }

    @Test func valueReadingFollowsIPRT() {
        #expect(VBoxValue.bool("true") == true)
        #expect(VBoxValue.bool("True") == nil)
        #expect(VBoxValue.bool("yes") == true)
        #expect(VBoxValue.uint("022") == 18)
        #expect(VBoxValue.uint("0x10") == 16)
        #expect(VBoxValue.uint("12 ") == nil)
        #expect(VBoxValue.uint("-1") == nil)
    }

    @Test func portSpecs() {
        for good in ["3389", "5000-5010", "3389,5000-5050", "1", "65535", "7-7"] {
            #expect((try? ValueCheck.vrdePorts(good).get()) != nil, "\(good)")
        }
        for bad in ["", "0", "65536", "10-5", "1,,2", "3389, 3390", "a", "1-2-3", "-5", "5-", " 3389", "033890"] {
            #expect((try? ValueCheck.vrdePorts(bad).get()) == nil, "\(bad)")
        }
    }
}
