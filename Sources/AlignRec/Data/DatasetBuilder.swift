// The evaluation protocol of docs/protocol.md, from raw interactions to a `Dataset`: title filter, de-duplication
// of repeated (user, item) pairs (earliest kept; MovieLens has none), iterative k-core to a fixed point,
// dense 1-based item indices by ascending original id (numeric order when every id is an integer, else UTF-8
// byte order), users in the same order, per-user sequences sorted by (timestamp, item), leave-one-out splits
// and the chronological sample split.
import Foundation

/// Protocol parameters (recorded in dataset.json).
public struct ProtocolConfig: Codable, Sendable, Equatable {
    /// k of the iterative k-core (users and items with fewer interactions are removed until none are).
    public var minCount = 5
    /// Most recent history items a model sees under leave-one-out (files keep the full history).
    public var looMaxHistory = 20
    /// History length of chronological samples.
    public var chronoMaxHistory = 10
    /// Train / valid fractions of the chronological split, as tenths: train = [0, N*8/10), valid = [.., N*9/10).
    /// (The split is by integer division, as docs/protocol.md §4.)
    public var chronoTrainTenths = 8
    public var chronoValidTenths = 1

    /// The docs/protocol.md defaults: 5-core, loo history 20, chrono history 10, 80/10/10.
    public init(minCount: Int = 5, looMaxHistory: Int = 20, chronoMaxHistory: Int = 10) {
        self.minCount = minCount; self.looMaxHistory = looMaxHistory; self.chronoMaxHistory = chronoMaxHistory
    }
}

/// Builds a `Dataset` from raw interactions by the protocol.
public enum DatasetBuilder {
    /// Orders ids numerically when every one is an integer, else by UTF-8 bytes; returns the sorted ids.
    public static func sortIds(_ ids: [String]) -> (sorted: [String], numeric: Bool) {
        let nums = ids.map { Int64($0) }
        if !ids.isEmpty, nums.allSatisfy({ $0 != nil }) {
            let order = ids.indices.sorted { nums[$0]! != nums[$1]! ? nums[$0]! < nums[$1]! : Array(ids[$0].utf8).lexicographicallyPrecedes(Array(ids[$1].utf8)) }
            return (order.map { ids[$0] }, true)
        }
        return (ids.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }, false)
    }

    /// Runs the whole protocol.
    public static func build(_ raw: RawInteractions, config: ProtocolConfig) throws -> Dataset {
        guard config.minCount >= 1 else { throw AlignError.invalidArgument("--min-count must be at least 1, got \(config.minCount)") }
        guard config.looMaxHistory >= 1, config.chronoMaxHistory >= 1 else { throw AlignError.invalidArgument("history lengths must be at least 1") }
        let nU = raw.userIds.count, nI = raw.itemIds.count

        // 1. Title filter (protocol §1.2).
        let titled = raw.itemIds.map { raw.meta[$0]?.hasTitle ?? false }
        var rows: [Int] = []
        rows.reserveCapacity(raw.count)
        for r in 0..<raw.count where titled[Int(raw.items[r])] { rows.append(r) }
        let droppedNoTitle = raw.count - rows.count

        // 2. Repeated (user, item) pairs: keep the earliest interaction (ties: first in the file).
        var seen: [UInt64: Int] = [:]  // pair → index into kept
        var kept: [Int] = []
        kept.reserveCapacity(rows.count)
        for r in rows {
            let key = UInt64(UInt32(raw.users[r])) << 32 | UInt64(UInt32(raw.items[r]))
            if let k = seen[key] {
                if raw.timestamps[r] < raw.timestamps[kept[k]] { kept[k] = r }
            } else {
                seen[key] = kept.count
                kept.append(r)
            }
        }
        let duplicates = rows.count - kept.count

        // 3. Iterative k-core: both conditions on the same counts, until a pass removes nothing.
        var alive = kept
        var passes = 0
        while true {
            passes += 1
            var uc = [Int](repeating: 0, count: nU), ic = [Int](repeating: 0, count: nI)
            for r in alive { uc[Int(raw.users[r])] += 1; ic[Int(raw.items[r])] += 1 }
            let next = alive.filter { uc[Int(raw.users[$0])] >= config.minCount && ic[Int(raw.items[$0])] >= config.minCount }
            if next.count == alive.count { break }
            alive = next
        }
        guard !alive.isEmpty else {
            throw AlignError.invalidArgument("no interactions survive the title filter and the \(config.minCount)-core (read \(raw.count) interactions)")
        }

        // 4. Dense ids.
        var userUsed = [Bool](repeating: false, count: nU), itemUsed = [Bool](repeating: false, count: nI)
        for r in alive { userUsed[Int(raw.users[r])] = true; itemUsed[Int(raw.items[r])] = true }
        let (itemOrder, itemsNumeric) = sortIds((0..<nI).filter { itemUsed[$0] }.map { raw.itemIds[$0] })
        let (userOrder, usersNumeric) = sortIds((0..<nU).filter { userUsed[$0] }.map { raw.userIds[$0] })
        var itemIndex = [Int](repeating: 0, count: nI), userIndex = [Int](repeating: 0, count: nU)
        var itemKeyOf: [String: Int] = [:], userKeyOf: [String: Int] = [:]
        for k in 0..<nI where itemUsed[k] { itemKeyOf[raw.itemIds[k]] = k }
        for k in 0..<nU where userUsed[k] { userKeyOf[raw.userIds[k]] = k }
        for (i, id) in itemOrder.enumerated() { itemIndex[itemKeyOf[id]!] = i + 1 }
        for (i, id) in userOrder.enumerated() { userIndex[userKeyOf[id]!] = i + 1 }

        let items: [Item] = itemOrder.enumerated().map { i, id in
            let m = raw.meta[id]!
            return Item(item: i + 1, id: id, title: m.title, year: m.year, genres: m.genres, text: m.text)
        }

        // 5. Sequences sorted by (timestamp, item).
        var perUser = [[(ts: Int64, item: Int)]](repeating: [], count: userOrder.count)
        for r in alive { perUser[userIndex[Int(raw.users[r])] - 1].append((raw.timestamps[r], itemIndex[Int(raw.items[r])])) }
        var sequences: [UserSequence] = []
        sequences.reserveCapacity(userOrder.count)
        for (u, list) in perUser.enumerated() {
            let s = list.sorted { $0.ts != $1.ts ? $0.ts < $1.ts : $0.item < $1.item }
            sequences.append(UserSequence(user: u + 1, userId: userOrder[u], items: s.map(\.item), timestamps: s.map(\.ts)))
        }

        // 6. Leave-one-out (users with at least 3 interactions).
        var looTrain: [TrainSequence] = [], looValid: [Example] = [], looTest: [Example] = []
        for s in sequences where s.items.count >= 3 {
            let n = s.items.count
            looTrain.append(TrainSequence(user: s.user, userId: s.userId, items: Array(s.items[0..<(n - 2)])))
            looValid.append(Example(user: s.user, userId: s.userId, pos: n - 2, timestamp: s.timestamps[n - 2], history: Array(s.items[0..<(n - 2)]), target: s.items[n - 2]))
            looTest.append(Example(user: s.user, userId: s.userId, pos: n - 1, timestamp: s.timestamps[n - 1], history: Array(s.items[0..<(n - 1)]), target: s.items[n - 1]))
        }

        // 7. Chronological samples, sorted by (target timestamp, user, pos), split 80/10/10.
        var samples: [Example] = []
        for s in sequences where s.items.count >= 2 {
            for p in 1..<s.items.count {
                samples.append(Example(user: s.user, userId: s.userId, pos: p, timestamp: s.timestamps[p],
                                       history: Array(s.items[max(0, p - config.chronoMaxHistory)..<p]), target: s.items[p]))
            }
        }
        samples.sort { a, b in
            if a.timestamp != b.timestamp { return a.timestamp < b.timestamp }
            if a.user != b.user { return a.user < b.user }
            return a.pos < b.pos
        }
        let n = samples.count
        let cut1 = n * config.chronoTrainTenths / 10, cut2 = n * (config.chronoTrainTenths + config.chronoValidTenths) / 10

        let interactions = alive.count
        let lengths = sequences.map { $0.items.count }.sorted()
        let median = lengths.count % 2 == 1 ? Double(lengths[lengths.count / 2])
            : Double(lengths[lengths.count / 2 - 1] + lengths[lengths.count / 2]) / 2
        let counts = DatasetInfo.Counts(
            rawInteractions: raw.count, rawUsers: nU, rawItems: nI, skippedLines: raw.totalSkipped,
            droppedNoTitle: droppedNoTitle, duplicatesRemoved: duplicates, kcorePasses: passes,
            users: sequences.count, items: items.count, interactions: interactions,
            sparsity: 1 - Double(interactions) / (Double(sequences.count) * Double(items.count)),
            meanSequenceLength: Double(interactions) / Double(sequences.count), medianSequenceLength: median,
            minSequenceLength: lengths.first ?? 0, maxSequenceLength: lengths.last ?? 0,
            looTrainInteractions: looTrain.reduce(0) { $0 + $1.items.count }, looValid: looValid.count, looTest: looTest.count,
            chronoSamples: n, chronoTrain: cut1, chronoValid: cut2 - cut1, chronoTest: n - cut2)
        let info = DatasetInfo(
            source: .init(format: raw.format, files: raw.files, timestampUnit: raw.timestampUnit,
                          skippedLinesByFile: raw.skippedLines.isEmpty ? nil : raw.skippedLines),
            protocol: config, itemOrder: itemsNumeric ? "numeric" : "string", userOrder: usersNumeric ? "numeric" : "string",
            counts: counts)
        return Dataset(info: info, items: items, sequences: sequences, looTrain: looTrain, looValid: looValid, looTest: looTest,
                       chronoTrain: Array(samples[0..<cut1]), chronoValid: Array(samples[cut1..<cut2]), chronoTest: Array(samples[cut2..<n]))
    }
}
