#!/usr/bin/env python3
"""A faithful fake of VirtualBox's command-line tools, for vmprov's tests (never shipped).

Installed as symlinks named VBoxManage, VBoxHeadless, VBoxSVC and VBoxXPCOMIPCD; behaves by the name it is run
under. It prints what the real tools print (see shared/reference/vboxmanage-behaviour.md), keeps its state in
files under $FAKEVBOX_HOME, and has real timings: an ACPI shutdown takes FAKEVBOX_ACPI_DELAY seconds,
VBoxHeadless saves the state on TERM/INT/HUP, and VBoxSVC lingers FAKEVBOX_SVC_LINGER seconds after its last
client (started detached, so its parent is init or the nearest subreaper).

Knobs: FAKEVBOX_VERSION (7.1.4), FAKEVBOX_REVISION, FAKEVBOX_WARN (logname|vboxdrv), FAKEVBOX_ACPI_DELAY (2),
FAKEVBOX_IGNORE_ACPI (1 = the guest ignores ACPI), FAKEVBOX_SVC_LINGER (5), FAKEVBOX_START_DELAY (0.5),
FAKEVBOX_HEADLESS_FAIL (1 = power-up fails), FAKEVBOX_SAVESTATE_FAIL (1 = savestate fails),
FAKEVBOX_HANG (comma-separated VBoxManage subcommands or controlvm actions, e.g. "acpipowerbutton" or
"showvminfo": that call never returns, like one stuck on a hung VBoxSVC or guest; it writes its pid to
$FAKEVBOX_HOME/hung.pids first), FAKEVBOX_POWEROFF_EXIT (VBoxHeadless's exit status after a controlvm poweroff;
default 0, as the real one per the reference's section 7.6), FAKEVBOX_GUEST_POWEROFF_AFTER (seconds: the guest
powers itself off then, as an installer ending with poweroff does; VBoxHeadless exits 0), FAKEVBOX_SNAPSHOT_DELAY (seconds a
`snapshot take|delete` spends in its transient state; 0.3).
storageattach (--medium none), modifyvm (--boot1..4) and closemedium edit the machine's .vbox as VBoxSVC saves it
and print nothing on success, like the real ones; on a running machine they fail with the session-lock error.

`VBoxManage snapshot VM take|restore|delete` (VBoxManageSnapshot.cpp `handleSnapshot`; SnapshotImpl.cpp) edits the
machine's .vbox as VirtualBox's settings writer would in outline: a `Snapshot` with uuid, name, timeStamp,
stateFile (online) and a copy of `Hardware`, nested under the current snapshot, `currentSnapshot` moved. It does not
create differencing images or copy Hardware back on restore.
"""
import fcntl
import json
import os
import re
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

PROG = os.path.basename(sys.argv[0])
HOME = os.environ.get("FAKEVBOX_HOME") or os.path.join(os.path.expanduser("~"), ".fakevbox")
VERSION = os.environ.get("FAKEVBOX_VERSION", "7.1.4")
REVISION = os.environ.get("FAKEVBOX_REVISION", "165100")
MAJOR, MINOR = (int(x) for x in VERSION.split("_")[0].split(".")[:2])
SEVEN = MAJOR >= 7
os.makedirs(HOME, exist_ok=True)
REGISTRY = os.path.join(HOME, "registry.json")
LOCK = os.path.join(HOME, "lock")


def now_iso():
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%09d" % int((t % 1) * 1e9 // 1e6 * 1e6)


class Locked:
    def __enter__(self):
        self.f = open(LOCK, "a")
        fcntl.flock(self.f, fcntl.LOCK_EX)
        return self

    def __exit__(self, *a):
        fcntl.flock(self.f, fcntl.LOCK_UN)
        self.f.close()


def load():
    try:
        with open(REGISTRY) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {"machines": []}


def save(reg):
    tmp = REGISTRY + ".tmp"
    with open(tmp, "w") as f:
        json.dump(reg, f)
    os.replace(tmp, REGISTRY)


def alive(pid):
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def err(*lines):
    for line in lines:
        sys.stderr.write("%s: error: %s\n" % (PROG, line))
    sys.stderr.flush()


def com_error(message, code, component, iface, context, source):
    err(message,
        "Details: code %s, component %s, interface %s, callee nsISupports" % (code, component, iface),
        'Context: "%s" at line %d of file %s' % (context, 42, source))


def warnings():
    w = os.environ.get("FAKEVBOX_WARN", "")
    if "logname" in w:
        print("WARNING: Environment variable LOGNAME or USER does not correspond to effective user id.")
    if "vboxdrv" in w:
        print("WARNING: The vboxdrv kernel module is not loaded. Either there is no module\n"
              "         available for the current kernel (%s) or it failed to\n"
              "         load. Please recompile the kernel module and install it by\n\n"
              "           sudo /sbin/vboxconfig\n\n"
              "         You will not be able to start VMs until this problem is fixed." % os.uname().release)


def find(reg, arg):
    key = arg.strip("{}").lower()
    for m in reg["machines"]:
        if m["uuid"] == key or m["name"] == arg:
            return m
    return None


def effective_state(m):
    """VBoxSVC's client watcher: a VM whose process died while running is aborted."""
    if m["state"] in ("running", "starting", "paused", "saving", "restoring", "stopping") and not alive(m.get("pid")):
        m["state"] = "aborted-saved" if m["state"] == "restoring" and SEVEN else "aborted"
        m["changed"] = now_iso()
    return m["state"]


# ---------------------------------------------------------------- VBoxSVC and VBoxXPCOMIPCD

def touch_client():
    with open(os.path.join(HOME, "last-client"), "w") as f:
        f.write(str(time.time()))


def ensure_svc():
    touch_client()
    with Locked():
        try:
            pid = int(open(os.path.join(HOME, "svc.pid")).read())
        except (OSError, ValueError):
            pid = 0
        if alive(pid):
            return
        here = os.path.dirname(os.path.abspath(sys.argv[0]))
        # Detached like the real one: our child forks the service and exits, so the service is an orphan.
        starter = os.fork()
        if starter == 0:
            os.setsid()
            child = subprocess.Popen([os.path.join(here, "VBoxSVC"), "--auto-shutdown"], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, close_fds=True)
            with open(os.path.join(HOME, "svc.pid"), "w") as f:
                f.write(str(child.pid))
            if not SEVEN or MINOR == 0:
                subprocess.Popen([os.path.join(here, "VBoxXPCOMIPCD")], stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, close_fds=True)
            os._exit(0)
        os.waitpid(starter, 0)


def svc_main():
    linger = float(os.environ.get("FAKEVBOX_SVC_LINGER", "5"))
    while True:
        time.sleep(0.1)
        reg = load()
        busy = any(alive(m.get("pid")) for m in reg["machines"])
        try:
            last = float(open(os.path.join(HOME, "last-client")).read())
        except (OSError, ValueError):
            last = 0
        if not busy and time.time() - last > linger:
            return 0


def ipcd_main():
    # Exits when VBoxSVC (its last client) has gone.
    time.sleep(0.3)
    while True:
        try:
            pid = int(open(os.path.join(HOME, "svc.pid")).read())
        except (OSError, ValueError):
            pid = 0
        if not alive(pid):
            return 0
        time.sleep(0.1)


# ---------------------------------------------------------------- VBoxManage

def progress(stream=sys.stderr, start=0):
    for p in range(start, 100, 10):
        stream.write("%d%%..." % p)
        stream.flush()
        time.sleep(0.01)
    stream.write("100%\n")
    stream.flush()


def showvminfo(m):
    state = m["state"]
    lines = ['name="%s"' % m["name"].replace("\\", "\\\\").replace('"', '\\"')]
    if SEVEN and MINOR == 0:
        lines.append("Encryption:     disabled")
    elif SEVEN:
        lines.append('encryption="disabled"')
    lines.append('groups="/"')
    if SEVEN and MINOR >= 1:
        lines.append('platformArchitecture="x86"')
    cfg = m["cfg"].replace("\\", "\\\\").replace('"', '\\"')
    folder = os.path.dirname(m["cfg"])
    lines += ['ostype="%s"' % m.get("ostype", "Other_64"), 'UUID="%s"' % m["uuid"], 'CfgFile="%s"' % cfg,
              'SnapFldr="%s/Snapshots"' % folder, 'LogFldr="%s/Logs"' % folder, 'hardwareuuid="%s"' % m["uuid"],
              "memory=%d" % m.get("memory", 1024), 'pagefusion="off"', "vram=16", "cpuexecutioncap=100",
              'hpet="off"', 'cpu-profile="host"', 'chipset="piix3"', 'firmware="%s"' % m.get("firmware", "BIOS"),
              "cpus=1", 'pae="on"', 'longmode="on"', 'triplefaultreset="off"', 'apic="on"', 'x2apic="on"',
              'nested-hw-virt="off"', "cpuid-portability-level=0", 'bootmenu="messageandmenu"', 'boot1="disk"',
              'boot2="dvd"', 'boot3="none"', 'boot4="none"', 'acpi="on"', 'ioapic="on"', 'biosapic="apic"',
              "biossystemtimeoffset=0"]
    if m.get("firmware") == "EFI":
        key = "NvramFile" if SEVEN and MINOR >= 1 else "BIOS NVRAM File"
        lines.append('%s="%s/%s.nvram"' % (key, folder, m["name"]))
    lines += ['rtcuseutc="on"', 'hwvirtex="on"', 'nestedpaging="on"', 'largepages="on"', 'vtxvpid="on"',
              'vtxux="on"', 'paravirtprovider="default"', 'effparavirtprovider="kvm"',
              'VMState="%s"' % state, 'VMStateChangeTime="%s"' % m.get("changed", now_iso())]
    if state in ("saved", "aborted-saved"):
        lines.append('VMStateFile="%s/Snapshots/%s.sav"' % (folder, m.get("changed", "x").replace(":", "-")))
    lines += ['graphicscontroller="vmsvga"', "monitorcount=1", 'accelerate3d="off"']
    if alive(m.get("pid")):
        lines.append('SessionName="headless"')
    print("\n".join(lines))


def manage_main(args):
    if not args:
        warnings()
        print("Oracle %sVirtualBox Command Line Management Interface Version %s" % ("" if MINOR >= 1 and SEVEN else "VM ", VERSION))
        return 0
    if args[0] in ("-v", "-V", "--version", "-version", "-Version"):
        warnings()
        print("%sr%s" % (VERSION, REVISION))
        return 0
    warnings()
    ensure_svc()
    try:
        return manage_command(args)
    finally:
        touch_client()


def hang_if_asked(args):
    """Simulates a call stuck on a hung VBoxSVC or guest: never returns (until killed)."""
    wanted = [w for w in os.environ.get("FAKEVBOX_HANG", "").split(",") if w]
    if not wanted:
        return
    action = args[2] if args[0] == "controlvm" and len(args) > 2 else None
    if args[0] in wanted or (action is not None and action in wanted):
        with open(os.path.join(HOME, "hung.pids"), "a") as f:
            f.write("%d\n" % os.getpid())
        while True:
            time.sleep(3600)


def manage_command(args):
    hang_if_asked(args)
    cmd = args[0]
    if cmd == "list" and args[1:2] == ["vms"]:
        with Locked():
            reg = load()
        for m in reg["machines"]:
            print('"%s" {%s}' % (m["name"], m["uuid"]))
        return 0
    if cmd == "registervm":
        if len(args) != 2:
            err("Invalid parameter '%s'" % args[-1]) if len(args) > 2 else None
            return 2 if len(args) > 2 else 1
        path = os.path.abspath(args[1])
        if os.environ.get("FAKEVBOX_REGISTER_FAIL") == "1" or not os.path.isfile(path):
            err("Runtime error opening '%s' for reading VERR_FILE_NOT_FOUND (File not found.)." % path)
            err("/build/src/VBox/Main/src-server/MachineImpl.cpp[123] (HRESULT Machine::initFromSettings(VirtualBox*, const com::Utf8Str&, const com::Guid*, const com::Utf8Str&))")
            err("Details: code NS_ERROR_FAILURE (0x80004005), component MachineWrap, interface IMachine, callee nsISupports")
            err('Context: "OpenMachine(Bstr(a->argv[0]).raw(), Bstr(strPassword).raw(), machine.asOutParam()))" at line 168 of file VBoxManageMisc.cpp')
            return 1
        try:
            root = ET.parse(path).getroot()
        except ET.ParseError as e:
            err("%s." % e, "Location: '%s', line 1 (1), column 1." % path)
            return 1
        machine = next((c for c in root if c.tag.split("}")[-1] == "Machine"), None)
        if machine is None or "uuid" not in machine.attrib:
            err("Error in %s (line 1) -- Required Machine/@uuid or @name attributes is missing." % path)
            return 1
        uuid = machine.attrib["uuid"].strip("{}").lower()
        firmware = "BIOS"
        for el in machine.iter():
            if el.tag.split("}")[-1] == "Firmware":
                firmware = el.attrib.get("type", "BIOS")
        extra = {}
        for el in machine.iter():
            if el.tag.split("}")[-1] == "ExtraDataItem":
                extra[el.attrib.get("name")] = el.attrib.get("value")
        with Locked():
            reg = load()
            if find(reg, uuid):
                com_error("Trying to open a VM config '%s' which has the same UUID as an existing virtual machine" % path,
                          "NS_ERROR_FAILURE (0x80004005)", "MachineWrap", "IMachine",
                          "OpenMachine(Bstr(a->argv[0]).raw(), Bstr(strPassword).raw(), machine.asOutParam()))",
                          "VBoxManageMisc.cpp")
                return 1
            reg["machines"].append({"uuid": uuid, "name": machine.attrib.get("name", ""), "cfg": path,
                                    "ostype": machine.attrib.get("OSType", "Other_64"), "state": "poweroff",
                                    "changed": now_iso(), "pid": 0, "firmware": firmware, "extradata": extra})
            save(reg)
        return 0
    if cmd in ("storageattach", "modifyvm"):
        return edit_machine(cmd, args[1:])
    if cmd == "closemedium":
        return close_medium(args[1:])
    if cmd == "extpack" and args[1:2] == ["install"]:
        return extpack_install(args[2:])
    if cmd == "snapshot":
        return snapshot_command(args[1:])
    if cmd in ("showvminfo", "controlvm", "getextradata", "setextradata", "modifynvram"):
        if len(args) < 2:
            return 1
        with Locked():
            reg = load()
            m = find(reg, args[1])
            if m:
                effective_state(m)
                save(reg)
        if not m:
            if re.fullmatch(r"\{?[0-9a-fA-F-]{36}\}?", args[1]):
                msg = "Could not find a registered machine with UUID {%s}" % args[1].strip("{}").lower()
            else:
                msg = "Could not find a registered machine named '%s'" % args[1]
            com_error(msg, "VBOX_E_OBJECT_NOT_FOUND (0x80bb0001)", "VirtualBoxWrap", "IVirtualBox",
                      "FindMachine(Bstr(VMNameOrUuid).raw(), machine.asOutParam())", "VBoxManageInfo.cpp")
            return 1
        if cmd == "showvminfo":
            showvminfo(m)
            return 0
        if cmd == "getextradata":
            value = m.get("extradata", {}).get(args[2]) if len(args) > 2 else None
            print("Value: %s" % value if value else "No value set!")
            return 0
        if cmd == "setextradata":
            with Locked():
                reg = load()
                mm = find(reg, args[1])
                mm.setdefault("extradata", {})[args[2]] = args[3] if len(args) > 3 else None
                save(reg)
            return 0
        if cmd == "modifynvram":
            with open(os.path.join(HOME, "nvram.log"), "a") as f:
                f.write(" ".join(args[2:]) + "\n")
            return 0
        # controlvm
        action = args[2] if len(args) > 2 else ""
        if not alive(m.get("pid")):
            err("Machine '%s' is not currently running%s" % (args[1], "." if SEVEN else ""))
            return 1
        if action == "acpipowerbutton":
            if m["state"] not in ("running", "teleporting", "livesnapshotting"):
                api = {"paused": "Paused", "starting": "Starting", "saving": "Saving"}.get(m["state"], m["state"])
                com_error("Invalid machine state: %s" % api, "VBOX_E_INVALID_VM_STATE (0x80bb0002)", "ConsoleWrap",
                          "IConsole", "PowerButton()", "VBoxManageControlVM.cpp")
                return 1
            request(m, "acpi")
            return 0
        if action in ("poweroff", "savestate"):
            if action == "savestate" and os.environ.get("FAKEVBOX_SAVESTATE_FAIL") == "1":
                sys.stderr.write("0%...10%...20%...E_FAIL\n")
                err("Failed to save machine state.")
                com_error("Saving the state failed", "NS_ERROR_FAILURE (0x80004005)", "ConsoleWrap", "IConsole",
                          "HRESULT handleControlVM(HandlerArg*)", "VBoxManageControlVM.cpp")
                return 1
            request(m, action)
            target = "poweroff" if action == "poweroff" else "saved"
            deadline = time.time() + 15
            while time.time() < deadline:
                with Locked():
                    cur = find(load(), m["uuid"])
                if cur["state"] == target:
                    break
                time.sleep(0.05)
            progress()
            return 0
        err("Invalid parameter '%s'" % action)
        return 1
    err("Invalid command '%s'" % cmd)
    return 2


VBOX_NS = "http://www.virtualbox.org/"


def local(el):
    return el.tag.split("}")[-1]


def load_vbox(path):
    ET.register_namespace("", VBOX_NS)
    tree = ET.parse(path)
    return tree, next(c for c in tree.getroot() if local(c) == "Machine")


def save_vbox(tree, path):
    tmp = path + ".fake-tmp"
    tree.write(tmp, xml_declaration=True, encoding="UTF-8")
    os.replace(tmp, path)


def opt(args, name):
    return args[args.index(name) + 1] if name in args and args.index(name) + 1 < len(args) else None


def edit_machine(cmd, args):
    """storageattach VM --storagectl C --port P --device D [--type dvddrive] --medium none; modifyvm VM --bootN dev."""
    with Locked():
        reg = load()
        m = find(reg, args[0]) if args else None
        if m:
            effective_state(m)
    if not m:
        com_error("Could not find a registered machine named '%s'" % (args[0] if args else ""),
                  "VBOX_E_OBJECT_NOT_FOUND (0x80bb0001)", "VirtualBoxWrap", "IVirtualBox",
                  "FindMachine(Bstr(VMNameOrUuid).raw(), machine.asOutParam())", "VBoxManageInfo.cpp")
        return 1
    if alive(m.get("pid")):
        com_error("The machine '%s' is already locked for a session (or being unlocked)" % m["name"],
                  "VBOX_E_INVALID_OBJECT_STATE (0x80bb0007)", "MachineWrap", "IMachine",
                  "LockMachine(a->session, LockType_Write)", "VBoxManage%s.cpp" % ("StorageController" if cmd == "storageattach" else "ModifyVM"))
        return 1
    tree, machine = load_vbox(m["cfg"])
    if cmd == "storageattach":
        ctl, port, dev, medium = opt(args, "--storagectl"), opt(args, "--port"), opt(args, "--device"), opt(args, "--medium")
        if medium != "none":
            err("Invalid parameter '--medium %s' (the fake supports none only)" % medium)
            return 1
        found = False
        for c in machine.iter():
            if local(c) == "StorageController" and c.attrib.get("name") == ctl:
                for d in list(c):
                    if local(d) == "AttachedDevice" and d.attrib.get("port") == port and d.attrib.get("device", "0") == dev:
                        found = True
                        if d.attrib.get("type") == "DVD":
                            for img in [i for i in d if local(i) == "Image"]:
                                d.remove(img)  # a DVD drive stays, empty
                        else:
                            c.remove(d)
        if not found:
            err('No storage device attached to device slot %s on port %s of controller \'%s\'' % (dev, port, ctl))
            return 1
    else:
        boot = next((b for b in machine.iter() if local(b) == "Boot"), None)
        names = {"disk": "HardDisk", "dvd": "DVD", "floppy": "Floppy", "net": "Network", "none": "None"}
        for i in range(1, 5):
            v = opt(args, "--boot%d" % i)
            if v is None:
                continue
            if v not in names:
                err("Invalid boot device '%s'" % v)
                return 1
            for o in boot:
                if local(o) == "Order" and o.attrib.get("position") == str(i):
                    o.attrib["device"] = names[v]
    save_vbox(tree, m["cfg"])
    return 0


def close_medium(args):
    """closemedium [disk|dvd|floppy] <uuid|filename>: unregisters it from the machine's registry when unattached."""
    target = args[-1] if args else ""
    path = os.path.abspath(target)
    with Locked():
        reg = load()
    for m in reg["machines"]:
        tree, machine = load_vbox(m["cfg"])
        folder = os.path.dirname(m["cfg"])
        for parent in machine.iter():
            for img in list(parent):
                if local(img) not in ("Image", "HardDisk") or local(parent) not in ("DVDImages", "HardDisks", "FloppyImages"):
                    continue
                loc = img.attrib.get("location", "")
                if os.path.normpath(os.path.join(folder, loc)) != path and img.attrib.get("uuid", "").strip("{}") != target.strip("{}"):
                    continue
                uuid = img.attrib.get("uuid")
                attached = sum(1 for i in machine.iter() if local(i) == "Image" and i.attrib.get("uuid") == uuid
                               and i is not img)
                if attached:
                    com_error("Medium '%s' cannot be closed because it is still attached to %d virtual machines" % (path, attached),
                              "VBOX_E_OBJECT_IN_USE (0x80bb000c)", "MediumWrap", "IMedium", "Close()",
                              "VBoxManageDisk.cpp")
                    return 1
                parent.remove(img)
                save_vbox(tree, m["cfg"])
                return 0
    com_error("Could not find file for the medium '%s' (VERR_FILE_NOT_FOUND)" % path,
              "VBOX_E_FILE_ERROR (0x80bb0004)", "MediumWrap", "IMedium", "OpenMedium(Bstr(pszFilenameOrUuid).raw(), enmDevType, enmAccessMode, fForceNewUuidOnOpen, pMedium.asOutParam())",
              "VBoxManageDisk.cpp")
    return 1


def extpack_install(args):
    import hashlib
    import tarfile
    accepted = [a.split("=", 1)[1].lower() for a in args if a.startswith("--accept-license=")]
    files = [a for a in args if not a.startswith("--")]
    if len(files) != 1:
        err("Incorrect number of parameters")
        return 2
    path = os.path.abspath(files[0])
    if not os.path.isfile(path):
        com_error("'%s' file not found" % path, "NS_ERROR_FAILURE (0x80004005)", "ExtPackFileWrap", "IExtPackFile",
                  "Install(fReplace, NULL, ptrProgress.asOutParam())", "VBoxManageMisc.cpp")
        return 1
    with tarfile.open(path, "r:gz") as t:
        license = t.extractfile(t.getmember("./ExtPack-license.txt")).read()
        xml = t.extractfile(t.getmember("./ExtPack.xml")).read().decode()
    name = re.search(r"<Name>(.*?)</Name>", xml).group(1)
    digest = hashlib.sha256(license).hexdigest()
    with open(os.path.join(HOME, "extpack.log"), "a") as f:
        f.write("accept-license=%s file=%s\n" % (",".join(accepted), os.path.basename(path)))
    if digest not in accepted:
        sys.stdout.write(license.decode() + "\nDo you agree to these license terms and conditions (y/n)? \n")
        print('Installation of "%s" aborted.' % name)
        return 1
    print("License accepted.")
    progress()
    print('Successfully installed "%s".' % name)
    return 0


VBOX_NS = "http://www.virtualbox.org/"


def q(tag):
    return "{%s}%s" % (VBOX_NS, tag)


def snapshot_elements(machine):
    """(element, parent-of-element) for every Snapshot, depth first."""
    out = []

    def walk(el, parent):
        out.append((el, parent))
        kids = el.find(q("Snapshots"))
        if kids is not None:
            for c in kids.findall(q("Snapshot")):
                walk(c, kids)
    root = machine.find(q("Snapshot"))
    if root is not None:
        walk(root, machine)
    return out


def write_vbox(tree, path):
    ET.register_namespace("", VBOX_NS)
    tmp = path + ".fake-tmp"
    tree.write(tmp, xml_declaration=True, encoding="UTF-8")
    os.replace(tmp, path)


def snapshot_command(args):
    """VBoxManageSnapshot.cpp handleSnapshot: take, restore, delete."""
    if len(args) < 2:
        err("Not enough parameters")
        return 2
    with Locked():
        reg = load()
        m = find(reg, args[0])
        if m:
            effective_state(m)
            save(reg)
    if not m:
        com_error("Could not find a registered machine named '%s'" % args[0], "VBOX_E_OBJECT_NOT_FOUND (0x80bb0001)",
                  "VirtualBoxWrap", "IVirtualBox", "FindMachine(bstrMachine.raw(), pMachine.asOutParam())",
                  "VBoxManageSnapshot.cpp")
        return 1
    sub, rest = args[1], args[2:]
    running = alive(m.get("pid"))
    delay = float(os.environ.get("FAKEVBOX_SNAPSHOT_DELAY", "0.3"))
    path = m["cfg"]
    tree = ET.parse(path)
    machine = tree.getroot().find(q("Machine"))
    if sub == "take":
        if not rest:
            err("Missing snapshot name")
            return 1
        name, live, desc = rest[0], False, None
        i = 1
        while i < len(rest):
            if rest[i] in ("--live",):
                live = True
            elif rest[i] in ("--pause",):
                live = False
            elif rest[i] in ("--description", "-description", "-desc") and i + 1 < len(rest):
                desc = rest[i + 1]
                i += 1
            else:
                err("Unknown option: %s" % rest[i])
                return 1
            i += 1
        before = m["state"]
        if running:
            set_state(m["uuid"], "livesnapshotting" if live else "onlinesnapshotting")
        time.sleep(delay)
        progress()
        import uuid as uuidlib
        snap_uuid = str(uuidlib.uuid4())
        folder = os.path.dirname(path)
        attrs = {"uuid": "{%s}" % snap_uuid, "name": name,
                 "timeStamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        if running:
            attrs["stateFile"] = "Snapshots/%s.sav" % attrs["timeStamp"].replace(":", "-")
            os.makedirs(os.path.join(folder, "Snapshots"), exist_ok=True)
        snap = ET.Element(q("Snapshot"), attrs)
        if desc:
            ET.SubElement(snap, q("Description")).text = desc
        import copy
        hw = machine.find(q("Hardware"))
        if hw is not None:
            snap.append(copy.deepcopy(hw))
        current = machine.get("currentSnapshot")
        holder = None
        for el, _ in snapshot_elements(machine):
            if current and el.get("uuid", "").lower() == current.lower():
                holder = el
        if holder is None:
            index = list(machine).index(hw) if hw is not None else len(machine)
            machine.insert(index, snap)
        else:
            kids = holder.find(q("Snapshots"))
            if kids is None:
                kids = ET.SubElement(holder, q("Snapshots"))
            kids.append(snap)
        machine.set("currentSnapshot", "{%s}" % snap_uuid)
        if not running:
            machine.set("currentStateModified", "false")
        elif "currentStateModified" in machine.attrib:
            del machine.attrib["currentStateModified"]
        write_vbox(tree, path)
        if running:
            set_state(m["uuid"], before if before in ("running", "paused") else "running")
        print("Snapshot taken. UUID: %s" % snap_uuid)
        return 0
    if sub in ("restore", "delete"):
        if len(rest) != 1:
            err("Expecting snapshot name only")
            return 1
        wanted = rest[0]
        found = None
        for el, parent in snapshot_elements(machine):
            if el.get("name") == wanted or el.get("uuid", "").strip("{}").lower() == wanted.strip("{}").lower():
                found = (el, parent)
                break
        if found is None:
            com_error("Could not find a snapshot named '%s'" % wanted, "VBOX_E_OBJECT_NOT_FOUND (0x80bb0001)",
                      "SessionMachine", "IMachine", "FindSnapshot(Bstr(a->argv[2]).raw(), pSnapshot.asOutParam())",
                      "VBoxManageSnapshot.cpp")
            return 1
        el, parent = found
        snap_uuid = el.get("uuid").strip("{}").lower()
        print("%s snapshot '%s' (%s)" % ("Deleting" if sub == "delete" else "Restoring", el.get("name"), snap_uuid))
        sys.stdout.flush()
        if sub == "restore":
            if running:
                api = {"running": "Running", "paused": "Paused"}.get(m["state"], m["state"])
                com_error("Cannot delete the current state of the running machine (machine state: %s)" % api,
                          "VBOX_E_INVALID_VM_STATE (0x80bb0002)", "SessionMachine", "IMachine",
                          "RestoreSnapshot(pSnapshot, pProgress.asOutParam())", "VBoxManageSnapshot.cpp")
                return 1
            progress()
            machine.set("currentSnapshot", "{%s}" % snap_uuid)
            machine.set("currentStateModified", "false")
            write_vbox(tree, path)
            # An online snapshot brings its saved state back (SessionMachine::i_restoreSnapshotHandler).
            set_state(m["uuid"], "saved" if el.get("stateFile") else "poweroff")
            return 0
        kids = el.find(q("Snapshots"))
        children = kids.findall(q("Snapshot")) if kids is not None else []
        if len(children) > 1:
            com_error("Snapshot '%s' of the machine '%s' has more than one child snapshot (%d)"
                      % (el.get("name"), m["name"], len(children)), "VBOX_E_INVALID_OBJECT_STATE (0x80bb0007)",
                      "SessionMachine", "IMachine", "DeleteSnapshot(bstrSnapGuid.raw(), pProgress.asOutParam())",
                      "VBoxManageSnapshot.cpp")
            return 1
        before = m["state"]
        if running:
            set_state(m["uuid"], "deletingsnapshotlive")
        time.sleep(delay)
        progress()
        owner = None  # the parent snapshot, whose Snapshots element holds this one
        for holder, _ in snapshot_elements(machine):
            if holder.find(q("Snapshots")) is parent:
                owner = holder
        index = list(parent).index(el)
        parent.remove(el)
        for c in children:
            parent.insert(index, c)
        if owner is not None and len(parent) == 0:
            owner.remove(parent)
        if (machine.get("currentSnapshot") or "").strip("{}").lower() == snap_uuid:
            heir = owner if owner is not None else (children[0] if children else None)
            if heir is not None:
                machine.set("currentSnapshot", heir.get("uuid"))
            else:
                del machine.attrib["currentSnapshot"]
            machine.attrib.pop("currentStateModified", None)
        write_vbox(tree, path)
        if running:
            set_state(m["uuid"], before if before in ("running", "paused") else "running")
        return 0
    err("Invalid parameter '%s'" % sub)
    return 1


def request(m, what):
    with open(os.path.join(HOME, "request-%s" % m["uuid"]), "w") as f:
        f.write(what)


def set_state(uuid, state, pid=None):
    with Locked():
        reg = load()
        m = find(reg, uuid)
        m["state"] = state
        m["changed"] = now_iso()
        if pid is not None:
            m["pid"] = pid
        save(reg)


# ---------------------------------------------------------------- VBoxHeadless

def banner():
    if SEVEN:
        print("Oracle %sVirtualBox Headless Interface %s" % ("VM " if MINOR == 0 else "", VERSION))
        print("Copyright (C) 2008-2024 Oracle and/or its affiliates")
        print("")
    else:
        print("Oracle VM VirtualBox Headless Interface %s" % VERSION)
        print("(C) 2008-2022 Oracle Corporation")
        print("All rights reserved.")
        print("")
    sys.stdout.flush()


def headless_main(args):
    banner()
    vm = None
    for i, a in enumerate(args):
        if a in ("-s", "-startvm", "--startvm") and i + 1 < len(args):
            vm = args[i + 1]
    if vm is None:
        print("Usage: ...")
        return 1
    ensure_svc()
    with Locked():
        reg = load()
        m = find(reg, vm)
        if m:
            effective_state(m)
            save(reg)
    if not m:
        print("Invalid machine name or UUID!\n")
        return 1
    if alive(m.get("pid")):
        err("The machine '%s' is already locked for a session (or being unlocked)" % m["name"],
            "Details: code VBOX_E_INVALID_OBJECT_STATE (0x80bb0007), component MachineWrap, interface IMachine, callee nsISupports",
            'Context: "LockMachine(session, LockType_VM)" at line 1000 of file VBoxHeadless.cpp')
        return 1
    uuid = m["uuid"]
    try:
        os.unlink(os.path.join(HOME, "request-%s" % uuid))
    except OSError:
        pass
    got = []

    def on_signal(sig, frame):
        got.append(sig)

    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1):
        signal.signal(s, on_signal)
    restoring = m["state"] in ("saved", "aborted-saved")
    set_state(uuid, "restoring" if restoring else "starting", os.getpid())
    sys.stderr.write("%s virtual machine: " % ("Restoring" if restoring else "Starting"))
    sys.stderr.flush()
    delay = float(os.environ.get("FAKEVBOX_START_DELAY", "0.5"))
    for p in range(10, 100, 10):
        time.sleep(delay / 10)
        sys.stderr.write("%d%%..." % p)
        sys.stderr.flush()
    if os.environ.get("FAKEVBOX_HEADLESS_FAIL") == "1":
        sys.stderr.write("Operation failed: NS_ERROR_FAILURE\n")
        print("Error: failed to start machine. Error message: Failed to open/create the internal network 'HostInterfaceNetworking-eth9' (VERR_INTNET_FLT_IF_NOT_FOUND).")
        set_state(uuid, "poweroff", 0)
        return 1
    sys.stderr.write("100%\n")
    sys.stderr.flush()
    set_state(uuid, "running")
    acpi_at = None
    acpi_delay = float(os.environ.get("FAKEVBOX_ACPI_DELAY", "2"))
    guest_off = os.environ.get("FAKEVBOX_GUEST_POWEROFF_AFTER")
    guest_off_at = time.time() + float(guest_off) if guest_off else None
    with open(os.path.join(HOME, "starts.log"), "a") as f:
        f.write("%s\n" % uuid)
    while True:
        time.sleep(0.05)
        if got:
            sig = got[0]
            if SEVEN:
                sys.stderr.write("VBoxHeadless: signal %s(on thread main)\n" % signal.strsignal(sig))
                sys.stderr.flush()
            set_state(uuid, "saving")
            sys.stderr.write("Saving the execution state of the virtual machine: ")
            for p in range(10, 100, 10):
                time.sleep(0.02)
                sys.stderr.write("%d%%..." % p)
            sys.stderr.write("100%\n")
            sys.stderr.flush()
            set_state(uuid, "saved", 0)
            return 0
        path = os.path.join(HOME, "request-%s" % uuid)
        try:
            req = open(path).read()
            os.unlink(path)
        except OSError:
            req = ""
        if req == "acpi" and os.environ.get("FAKEVBOX_IGNORE_ACPI") != "1" and acpi_at is None:
            acpi_at = time.time() + acpi_delay
        if req == "poweroff":
            set_state(uuid, "poweroff", 0)
            return int(os.environ.get("FAKEVBOX_POWEROFF_EXIT", "0"))
        if guest_off_at is not None and time.time() >= guest_off_at:
            set_state(uuid, "poweroff", 0)
            return 0
        if acpi_at is not None and time.time() >= acpi_at:
            set_state(uuid, "poweroff", 0)
            return 0
        if req == "savestate":
            set_state(uuid, "saving")
            time.sleep(0.2)
            set_state(uuid, "saved", 0)
            return 0


def set_process_name(name):
    """Run through env, the kernel names us python3; the real tools' command names are what /proc shows."""
    try:
        import ctypes
        ctypes.CDLL(None).prctl(15, name.encode()[:15], 0, 0, 0)  # PR_SET_NAME
    except Exception:
        pass


if __name__ == "__main__":
    set_process_name(PROG)
    if PROG == "VBoxSVC":
        sys.exit(svc_main())
    if PROG == "VBoxXPCOMIPCD":
        sys.exit(ipcd_main())
    if PROG == "VBoxHeadless":
        sys.exit(headless_main(sys.argv[1:]))
    sys.exit(manage_main(sys.argv[1:]))
