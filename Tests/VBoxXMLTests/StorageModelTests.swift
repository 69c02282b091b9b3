import Foundation
import Testing
import TestSupport
import VBoxXML

@Suite("Storage model: port allocator, media list, identity source")
struct StorageModelTests {
    @Test func ideGivesFourSlotsThenRefusesNamingTheController() throws {
        var a = PortAllocator(controller: .ide())
        var got: [StorageSlot] = []
        for _ in 0..<4 { got.append(try a.next()) }
        #expect(got == [StorageSlot(port: 0, device: 0), StorageSlot(port: 0, device: 1),
                        StorageSlot(port: 1, device: 0), StorageSlot(port: 1, device: 1)])
        do {
            _ = try a.next()
            Issue.record("a full IDE controller gave a fifth slot")
        } catch {
            #expect(error.controller == "IDE")
            #expect(error.description == "storage controller \"IDE\": all 2 port(s) × 2 device(s) are taken (occupied: "
                + "port 0 device 0, port 0 device 1, port 1 device 0, port 1 device 1); use another controller or "
                + "detach a drive first.")
        }
    }

    @Test func sataUsesItsPortCountOneDeviceEach() throws {
        var a = PortAllocator(controller: .sata(portCount: 3))
        #expect(try a.next() == StorageSlot(port: 0, device: 0))
        #expect(try a.next() == StorageSlot(port: 1, device: 0))
        #expect(try a.next() == StorageSlot(port: 2, device: 0))
        #expect(throws: StorageAllocationError.self) { try a.next() }
        var nvme = PortAllocator(controller: .nvme(portCount: 1))
        #expect(try nvme.next() == StorageSlot(port: 0, device: 0))
        #expect(throws: StorageAllocationError.self) { try nvme.next() }
    }

    @Test func aReleasedSlotIsHandedOutAgain() throws {
        var a = PortAllocator(controller: .sata(portCount: 3))
        for _ in 0..<3 { _ = try a.next() }
        a.release(StorageSlot(port: 1, device: 0))
        #expect(try a.next() == StorageSlot(port: 1, device: 0))
        #expect(throws: StorageAllocationError.self) { try a.next() }
    }

    @Test func claimsRefuseTakenAndOutOfRangeSlots() throws {
        var a = PortAllocator(controller: .ide())
        try a.claim(StorageSlot(port: 1, device: 0))
        #expect(try a.next() == StorageSlot(port: 0, device: 0))
        do {
            try a.claim(StorageSlot(port: 1, device: 0))
            Issue.record("a taken slot was claimed twice")
        } catch {
            #expect(error.description.contains("\"IDE\": port 1 device 0 is taken already (occupied: port 0 device 0, "
                + "port 1 device 0)"))
        }
        #expect(throws: StorageAllocationError.self) { try a.claim(StorageSlot(port: 2, device: 0)) }
        #expect(throws: StorageAllocationError.self) { try a.claim(StorageSlot(port: 0, device: 2)) }
        var sata = PortAllocator(controller: .sata(portCount: 3))
        #expect(throws: StorageAllocationError.self) { try sata.claim(StorageSlot(port: 0, device: 1)) }
    }

    @Test func builderRefusesMediaThatDoNotFit() throws {
        var spec = Specs.linux(bus: .sata)
        spec.media.append(MediumAttachment(kind: .viso, role: .seed, location: "seed.viso",
                                           uuid: VBoxUUID("11111111-2222-4333-8444-555555555555")))
        do {
            _ = try MachineBuilder.document(spec, Specs.machine)
            Issue.record("four drives fit a three-port SATA controller")
        } catch {
            #expect(error.description.contains("\"SATA\": all 3 port(s)"))
        }
        spec.controller.portCount = 4
        let text = try MachineBuilder.document(spec, Specs.machine)
        #expect(text.contains("<Image uuid=\"{11111111-2222-4333-8444-555555555555}\" location=\"seed.viso\" "
            + "format=\"VBoxIsoMaker\"/>"))
        #expect(text.contains("port=\"3\" device=\"0\">"))
    }

    /// The builder's factories, the reader rules and add-disk read one table of bus limits (reference §2.3).
    @Test func oneTableOfBusLimits() throws {
        let table: [(String, ClosedRange<Int>, Int)] = [
            ("AHCI", 1...30, 1), ("PIIX3", 2...2, 2), ("PIIX4", 2...2, 2), ("ICH6", 2...2, 2), ("LsiLogic", 16...16, 1),
            ("BusLogic", 16...16, 1), ("LsiLogicSas", 1...255, 1), ("NVMe", 1...255, 1), ("VirtioSCSI", 1...256, 1),
            ("USB", 8...8, 1), ("I82078", 1...1, 2),
        ]
        for (type, ports, devices) in table {
            let limits = try #require(StorageBusLimits(type: type), "\(type)")
            #expect(limits.portCount == ports && limits.devicesPerPort == devices, "\(type)")
        }
        #expect(StorageBusLimits(type: "SATA") == nil)
        #expect(StorageControllerSpec.ide().devicesPerPort == 2 && StorageControllerSpec.sata(portCount: 3).devicesPerPort == 1)
        #expect(StorageControllerSpec(name: "F", type: "I82078", portCount: 1)?.devicesPerPort == 2)
        #expect(StorageControllerSpec(name: "X", type: "Bogus", portCount: 1) == nil)
    }

    /// add-disk's slot comes from the port allocator: the first free port, PortCount raised up to the bus limit, and
    /// a port outside 0..<limit (also a negative one, which the old search wrote as port="-1") refused.
    @Test func freeDiskSlotUsesTheAllocator() throws {
        let text = try MachineBuilder.document(Specs.linux(bus: .sata), Specs.machine)
        let doc = try VBoxSettings(bytes: Array(text.utf8), path: "m.vbox")
        let first = try doc.freeDiskSlot()
        #expect(first.controller == "SATA" && first.port == 3 && first.portCount == 4)
        let far = try doc.freeDiskSlot(controller: "SATA", port: 29)
        #expect(far.port == 29 && far.device == 0 && far.portCount == 30)
        for bad in [30, -1] {
            do {
                _ = try doc.freeDiskSlot(controller: "SATA", port: bad)
                Issue.record("port \(bad) was accepted")
            } catch {
                #expect("\(error)".contains("port \(bad) is out of range for AHCI controller \"SATA\" (ports 0-29)"))
            }
        }
        do {
            _ = try doc.freeDiskSlot(controller: "SATA", port: 0)
            Issue.record("a used port was accepted")
        } catch {
            #expect("\(error)".contains("port 0 of \"SATA\" is in use. ports in use: 0, 1, 2."))
        }
    }

    @Test func identitySourceYieldsOneUUIDPerMachineAndMedium() throws {
        var withGA = FixedIdentity(uuids: [], macAddress: "080027C0FFEE", time: 0)
        _ = MachineIdentity(drawingFrom: &withGA)
        let media = StorageBus.sata.standardMedia(disk: "d.vdi", installer: "i.iso", guestAdditions: "ga.iso", ids: &withGA)
        #expect(withGA.used == 4)
        #expect(Set(media.compactMap(\.uuid)).count == 3)
        var noGA = FixedIdentity(uuids: [], macAddress: "080027C0FFEE", time: 0)
        _ = MachineIdentity(drawingFrom: &noGA)
        _ = StorageBus.ide.standardMedia(disk: "d.vdi", installer: nil, guestAdditions: nil, ids: &noGA)
        #expect(noGA.used == 2)
        // Past the given list, fixed identities stay distinct and repeatable.
        var fixed = FixedIdentity(uuids: [Specs.machine.machine], macAddress: "080027C0FFEE", time: 0)
        let drawn = (0..<5).map { _ in fixed.nextUUID() }
        #expect(drawn[0] == Specs.machine.machine && Set(drawn).count == 5)
        #expect(drawn[1].description == "00000000-0000-4000-8000-000000000001")
        var random = RandomIdentity()
        #expect(random.nextUUID() != random.nextUUID())
        #expect(random.macAddress.hasPrefix("080027") && random.macAddress.count == 12)
    }

    /// A file with more shared folders than the service maps: the refusal gives the count and the limit (it used to
    /// call 20000 "the most VirtualBox's shared-folder service maps").
    @Test func tooManySharedFoldersNamesTheLimit() throws {
        let folders = (0..<70).map { "      <SharedFolder name=\"s\($0)\" hostPath=\"/tmp\" writable=\"true\" autoMount=\"false\"/>" }
        let text = """
        <?xml version="1.0"?>
        <VirtualBox xmlns="http://www.virtualbox.org/" version="1.19-linux">
          <Machine uuid="{3b9f5a10-7c2d-4e8a-b1f4-0a1b2c3d4e5f}" name="m" OSType="Ubuntu_64">
            <Hardware>
              <SharedFolders>
        \(folders.joined(separator: "\n"))
              </SharedFolders>
            </Hardware>
          </Machine>
        </VirtualBox>

        """
        let doc = try VBoxSettings(bytes: Array(text.utf8), path: "/vms/m/m.vbox")
        #expect {
            try doc.addingSharedFolder(SharedFolderInfo(name: "new", hostPath: "/tmp", writable: true, autoMount: false,
                                                        autoMountPoint: ""))
        } throws: { "\($0)".contains("has 70 shared folders; VirtualBox's shared-folder service maps at most 64") }
    }
}
