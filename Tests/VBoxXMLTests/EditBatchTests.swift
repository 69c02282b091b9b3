import Foundation
import Testing
@testable import VBoxXML
import Basics

@Suite("Edit batch")
struct EditBatchTests {
    /// Runs `body` with a parse counter for this task and returns its result and the number of parses.
    private func counted<R>(_ body: () throws -> R) rethrows -> (R, Int) {
        let counter = ParseCounter()
        let result = try ParseCounter.$current.withValue(counter) { try body() }
        return (result, counter.count)
    }

    private func offset(of needle: String, in settings: VBoxSettings) throws -> Int {
        let text = Fixture.text(settings)
        let range = try #require(text.range(of: needle))
        return text.utf8.distance(from: text.utf8.startIndex, to: range.lowerBound)
    }

    /// Every ordering of `items`.
    private func permutations<T>(_ items: [T]) -> [[T]] {
        guard items.count > 1 else { return [items] }
        var out: [[T]] = []
        for (i, item) in items.enumerated() {
            var rest = items
            rest.remove(at: i)
            for tail in permutations(rest) { out.append([item] + tail) }
        }
        return out
    }

    @Test func sameSplicesInAnyOrderGiveTheSameBytes() throws {
        let doc = try Fixture.parse(Fixture.basic)
        let display = try offset(of: "<Display controller=\"VMSVGA\" VRAMSize=\"16\"/>", in: doc)
        let vram = try offset(of: "VRAMSize=\"16\"", in: doc) + "VRAMSize=\"".utf8.count
        let endOfDisplay = display + "<Display controller=\"VMSVGA\" VRAMSize=\"16\"/>".utf8.count
        // An insertion before the element, a value replaced, an insertion touching the value's end, one after.
        let splices: [(Range<Int>, String)] = [
            (display..<display, "<!-- a -->"),
            (vram..<(vram + 2), "32"),
            ((vram + 2)..<(vram + 2), "8"),
            (endOfDisplay..<endOfDisplay, "<!-- b -->"),
        ]
        var results: Set<[UInt8]> = []
        for order in permutations(splices) {
            var batch = EditBatch(doc)
            for (range, text) in order { try batch.replace(range, with: text) }
            #expect(batch.splices.map(\.range) == splices.map(\.0))
            results.insert(batch.bytes)
        }
        #expect(results.count == 1)
        let expected = Fixture.basic.replacingOccurrences(
            of: "<Display controller=\"VMSVGA\" VRAMSize=\"16\"/>",
            with: "<!-- a --><Display controller=\"VMSVGA\" VRAMSize=\"328\"/><!-- b -->")
        #expect(results.first == Array(expected.utf8))
        var batch = EditBatch(doc)
        for (range, text) in splices.reversed() { try batch.replace(range, with: text) }
        let parsed = try batch.commit()
        #expect(Fixture.text(parsed) == expected)
    }

    @Test func overlappingSplicesAreRefused() throws {
        let doc = try Fixture.parse(Fixture.basic)
        var batch = EditBatch(doc)
        try batch.replace(100..<110, with: "x")
        try batch.insert("y", at: 50)
        let before = batch.splices
        let refused: [(Range<Int>, Range<Int>)] = [
            (105..<120, 100..<110),   // shares bytes at the end
            (90..<101, 100..<110),    // shares the first byte
            (102..<104, 100..<110),   // inside
            (90..<120, 100..<110),    // around
            (105..<105, 100..<110),   // an insertion strictly inside
            (50..<50, 50..<50),       // a second insertion at one offset: the order would be a guess
            (49..<51, 50..<50),       // a replacement around an insertion
        ]
        for (range, existing) in refused {
            #expect(throws: EditBatchError.overlap(existing: existing, refused: range)) {
                try batch.replace(range, with: "z")
            }
        }
        #expect(throws: EditBatchError.outOfBounds(0..<(doc.bytes.count + 1), count: doc.bytes.count)) {
            try batch.replace(0..<(doc.bytes.count + 1), with: "")
        }
        #expect(batch.splices == before)
        #expect(EditBatchError.overlap(existing: 100..<110, refused: 105..<120).description.contains("overlapping"))
    }

    @Test func overlapInsideAnEditIsAnInternalError() throws {
        let doc = try Fixture.parse(Fixture.basic)
        var batch = EditBatch(doc)
        try batch.splice(10..<20, with: "")
        do {
            try batch.splice(15..<16, with: "")
            Issue.record("an overlapping splice was accepted")
        } catch {
            guard case .invalid(_, let message) = error else {
                Issue.record("\(error)")
                return
            }
            #expect(message.contains("internal error: overlapping edits"))
        }
    }

    @Test func adjacentSplicesAreFine() throws {
        let doc = try Fixture.parse(Fixture.basic)
        let text = Array(Fixture.basic.utf8)
        var batch = EditBatch(doc)
        try batch.replace(20..<30, with: "B")
        try batch.replace(10..<20, with: "A")
        try batch.insert("<", at: 10)
        try batch.insert(">", at: 30)
        try batch.insert("|", at: 20)
        #expect(throws: EditBatchError.self) { try batch.insert("again", at: 20) }
        let expected = Array(text[0..<10]) + Array("<A|B>".utf8) + Array(text[30...])
        #expect(batch.bytes == expected)
        // Insertions at both ends of the file.
        var ends = EditBatch(doc)
        try ends.insert("", at: text.count)
        try ends.insert(" ", at: 0)
        #expect(ends.bytes == [0x20] + text)
    }

    @Test func commitParsesOnceAndAnEmptyBatchNotAtAll() throws {
        let doc = try Fixture.parse(Fixture.basic)
        let display = try offset(of: "<Display controller", in: doc)
        var batch = EditBatch(doc)
        try batch.insert("<!-- 1 -->", at: display)
        try batch.insert("<!-- 2 -->", at: doc.bytes.count)
        try batch.replace(display..<(display + 1), with: "<")
        let (result, parses) = try counted { try batch.commit() }
        #expect(parses == 1)
        #expect(result.bytes == batch.bytes)
        let (same, none) = try counted { try EditBatch(doc).commit() }
        #expect(none == 0)
        #expect(same.bytes == doc.bytes)
    }

    @Test func bytesThatDoNotParseAreRefused() throws {
        let doc = try Fixture.parse(Fixture.basic)
        var batch = EditBatch(doc)
        let display = try offset(of: "<Display controller", in: doc)
        try batch.insert("<", at: display)
        #expect(throws: VBoxXMLError.self) { try batch.commit() }
    }

    /// enable-rdp with every option on a file whose RemoteDisplay is self-closing with no VRDEProperties: seven
    /// splices' worth of changes before, one parse now, the same bytes as the former one-splice-at-a-time code.
    @Test func enableRDPIsOneParseAndMatchesSplicingOneAtATime() throws {
        let variants = [
            Fixture.basic,
            Fixture.basic.replacingOccurrences(of: "<Display controller=\"VMSVGA\" VRAMSize=\"16\"/>",
                                               with: "<Display controller=\"VMSVGA\" VRAMSize=\"16\"/><RemoteDisplay enabled=\"false\" />"),
            Fixture.basic.replacingOccurrences(of: "<Display controller=\"VMSVGA\" VRAMSize=\"16\"/>", with: """
            <Display controller="VMSVGA" VRAMSize="16"/>
                <RemoteDisplay enabled='false'>
                  <VRDEProperties>
                    <Property name="TCP/Address" value="0.0.0.0"/>
                  </VRDEProperties>
                </RemoteDisplay>
            """).replacingOccurrences(of: "  </Hardware>\n  </Machine>", with: "  </Hardware>\n"
                + "    <ExtraData>\n      <ExtraDataItem name=\"VBoxAuthSimple/users/alice\" value=\"00\"/>\n"
                + "    </ExtraData>\n  </Machine>"),
        ]
        let hash = String(repeating: "ab", count: 32)
        for text in variants {
            let doc = try Fixture.parse(text)
            let request = RDPRequest(ports: "5000", auth: .external, multiConnection: true, user: ("alice", hash))
            let (result, parses) = try counted { try doc.enablingRDP(request) }
            #expect(parses == 1)
            #expect(Fixture.text(result.settings) == Fixture.text(try oneAtATime(doc, ports: "5000", hash: hash)))
            #expect(result.settings.remoteDisplay.users == ["alice"])
        }
    }

    /// The former implementation of `enablingRDP`'s edits (one splice and one parse per step), for comparison.
    private func oneAtATime(_ original: VBoxSettings, ports: String, hash: String) throws -> VBoxSettings {
        var doc = original
        if let rd = doc.remoteDisplayElement {
            doc = try doc.settingAttribute("enabled", to: "true", on: rd)
        } else {
            doc = try doc.insertingChild(XMLMarkup("RemoteDisplay", [("enabled", "true")]), into: doc.hardwareIndex,
                                         after: doc.child(of: doc.hardwareIndex, named: "Display"))
        }
        for (name, value) in [("authType", "External"), ("authLibrary", "VBoxAuthSimple"), ("allowMultiConnection", "true")] {
            doc = try doc.settingAttribute(name, to: value, on: try #require(doc.remoteDisplayElement))
        }
        let address = original.remoteDisplay.address
        for (name, value) in [("TCP/Ports", ports)] + (address.isEmpty ? [] : [("TCP/Address", address)]) {
            let rd = try #require(doc.remoteDisplayElement)
            if let property = doc.vrdeProperty(name) {
                doc = try doc.settingAttribute("value", to: value, on: property)
            } else if let props = doc.child(of: rd, named: "VRDEProperties") {
                doc = try doc.insertingChild(XMLMarkup("Property", [("name", name), ("value", value)]), into: props)
            } else {
                doc = try doc.insertingChild(XMLMarkup("VRDEProperties", children: [
                    XMLMarkup("Property", [("name", name), ("value", value)])]), into: rd)
            }
        }
        let name = "VBoxAuthSimple/users/alice"
        if let item = doc.extraDataItems.first(where: { $0.name == name }) {
            doc = try doc.settingAttribute("value", to: hash, on: item.index)
        } else if let extra = doc.child(of: doc.machineIndex, named: "ExtraData") {
            doc = try doc.insertingChild(XMLMarkup("ExtraDataItem", [("name", name), ("value", hash)]), into: extra)
        } else {
            doc = try doc.insertingChild(XMLMarkup("ExtraData", children: [
                XMLMarkup("ExtraDataItem", [("name", name), ("value", hash)])]), into: doc.machineIndex,
                after: doc.child(of: doc.machineIndex, named: "MediaRegistry"))
        }
        return doc
    }

    @Test func removingTheLastForwardClosesNATInOneParse() throws {
        // Adapter 2's NAT with one rule only (its DNS child and rule "m" taken out).
        let text = Fixture.basic.components(separatedBy: "\n")
            .filter { !$0.contains("name=\"m\"") && !$0.contains("use-host-resolver") }.joined(separator: "\n")
        let doc = try Fixture.parse(text)
        let (removed, parses) = try counted { try doc.removingForward(named: "b", adapter: 3) }
        #expect(parses == 1)
        var lines = text.components(separatedBy: "\n")
        let rule = try #require(lines.firstIndex { $0.contains("name=\"b\"") })
        #expect(lines[rule - 1].hasSuffix("<NAT>") && lines[rule + 1].hasSuffix("</NAT>"))
        lines[rule - 1] = lines[rule - 1].replacingOccurrences(of: "<NAT>", with: "<NAT/>")
        lines.removeSubrange(rule...(rule + 1))
        #expect(Fixture.text(removed.settings) == lines.joined(separator: "\n"))
    }
}
