// Memory a setting needs, estimated before anything is allocated, against the memory this machine has
// available. Every large buffer align plans (weights, optimizer moments, trainer and decoder arenas) has a
// `…Floats` function computing its size from the config in Double (so absurd settings cannot overflow an
// Int); a stage adds up what it will hold at once and refuses, with the estimate, a setting that cannot fit,
// instead of dying in the allocator ("failed to allocate") or being killed by the kernel.
import Foundation

/// The bytes a setting needs, by part.
public struct MemoryEstimate: Sendable {
    public private(set) var parts: [(label: String, bytes: Double)] = []
    public init() {}

    /// Adds `floats` 32-bit values under `label`.
    public mutating func add(_ label: String, floats: Double) { parts.append((label, 4 * floats)) }
    /// Adds `bytes` under `label`.
    public mutating func add(_ label: String, bytes: Double) { parts.append((label, bytes)) }

    public var bytes: Double { parts.reduce(0) { $0 + $1.bytes } }

    /// "about 928 GB of memory (trainer activations: 920 GB; weights: 1.2 MB)", parts of 1 MB or more, largest first.
    public var summary: String {
        let shown = parts.filter { $0.bytes >= 1e6 || parts.count == 1 }.sorted { $0.bytes > $1.bytes }
        let list = shown.map { "\($0.label): \(MemoryBudget.format($0.bytes))" }.joined(separator: "; ")
        return "about \(MemoryBudget.format(bytes)) of memory" + (list.isEmpty ? "" : " (\(list))")
    }

    /// Throws when the estimate exceeds `available` bytes (default: what this machine has available now).
    /// `setting` names what asked for it, e.g. "optim.batch_size 1000000 × 58-token samples"; `file` the config
    /// it came from (nil: the command line).
    public func check(_ setting: String, file: String? = nil, available: Double = MemoryBudget.availableBytes()) throws {
        guard bytes.isFinite, bytes <= available else {
            let message = "\(setting) needs \(summary); this machine has \(MemoryBudget.format(available)) available"
            if let file { throw AlignError.format(path: file, line: nil, message: message) }
            throw AlignError.invalidArgument(message)
        }
    }
}

/// The memory this process may still use.
public enum MemoryBudget {
    /// Available memory in bytes: /proc/meminfo's MemAvailable, lowered to the cgroup's remaining limit when
    /// there is one; the physical memory where neither can be read.
    public static func availableBytes() -> Double {
        var avail = Double(ProcessInfo.processInfo.physicalMemory)
        if let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8) {
            for line in text.split(separator: "\n") where line.hasPrefix("MemAvailable:") {
                let kb = line.split(separator: " ").dropFirst().first.flatMap { Double($0) }
                if let kb { avail = kb * 1024 }
            }
        }
        if let limit = cgroupValue("memory.max") {
            avail = min(avail, max(0, limit - (cgroupValue("memory.current") ?? 0)))
        }
        return avail
    }

    static func cgroupValue(_ name: String) -> Double? {
        guard let s = try? String(contentsOfFile: "/sys/fs/cgroup/\(name)", encoding: .utf8) else { return nil }
        return Double(s.trimmingCharacters(in: .whitespacesAndNewlines))   // "max" → nil
    }

    /// "928 GB", "20.7 GB", "512 MB", "3.1 kB" (decimal units, three significant digits).
    public static func format(_ bytes: Double) -> String {
        guard bytes.isFinite else { return "an unbounded amount" }
        let units: [(Double, String)] = [(1e15, "PB"), (1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "kB")]
        for (scale, unit) in units where bytes >= scale {
            let v = bytes / scale
            return (v >= 100 ? String(format: "%.0f", v) : v >= 10 ? String(format: "%.1f", v) : String(format: "%.2f", v)) + " " + unit
        }
        return "\(Int(bytes)) B"
    }
}
