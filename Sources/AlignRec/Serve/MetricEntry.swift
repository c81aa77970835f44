// metrics.jsonl read back typed, for `align report`: each line becomes the record of its kind (by "stage" and
// "event", see Run/MetricRecord.swift); lines of no kind align writes are listed, not fatal, so a report of an
// older or hand-edited run still renders.
import Foundation

/// A line of any kind, as read back.
public enum MetricEntry: Sendable, Equatable {
    case sftTrain(SFTTrainRecord), sftValid(SFTValidRecord), sftDiverged(SFTDivergedRecord)
    case alignStart(AlignStartRecord), alignValid(AlignValidRecord), alignFinal(AlignFinalRecord)
    case alignDiverged(AlignDivergedRecord), dpoPairs(DPOPairsRecord), dpoTrain(DPOTrainRecord), grpoTrain(GRPOTrainRecord)

    /// The training step the line belongs to (nil for one-off lines: pairs, final).
    public var step: Int? {
        switch self {
        case .sftTrain(let r): return r.step
        case .sftValid(let r): return r.step
        case .sftDiverged(let r): return r.step
        case .alignStart(let r): return r.step
        case .alignValid(let r): return r.step
        case .alignDiverged(let r): return r.step
        case .dpoTrain(let r): return r.step
        case .grpoTrain(let r): return r.step
        case .alignFinal, .dpoPairs: return nil
        }
    }

    /// Decodes a line of the kind its stage and event name.
    static func decode(stage: String, event: String?, line: Data, with d: JSONDecoder) throws -> MetricEntry? {
        func r<R: MetricRecord>(_ t: R.Type) throws -> R { try d.decode(t, from: line) }
        switch (stage, event) {
        case (SFTTrainRecord.stage, nil): return .sftTrain(try r(SFTTrainRecord.self))
        case (SFTValidRecord.stage, nil): return .sftValid(try r(SFTValidRecord.self))
        case (SFTDivergedRecord.stage, nil): return .sftDiverged(try r(SFTDivergedRecord.self))
        case (_, AlignStartRecord.event): return .alignStart(try r(AlignStartRecord.self))
        case (_, AlignValidRecord.event): return .alignValid(try r(AlignValidRecord.self))
        case (_, AlignFinalRecord.event): return .alignFinal(try r(AlignFinalRecord.self))
        case (_, AlignDivergedRecord.event): return .alignDiverged(try r(AlignDivergedRecord.self))
        case ("dpo", DPOPairsRecord.event): return .dpoPairs(try r(DPOPairsRecord.self))
        case ("dpo", DPOTrainRecord.event): return .dpoTrain(try r(DPOTrainRecord.self))
        case ("grpo", GRPOTrainRecord.event): return .grpoTrain(try r(GRPOTrainRecord.self))
        default: return nil
        }
    }
}

/// One line of metrics.jsonl: where and when it was logged and what it holds.
public struct MetricLine: Sendable, Equatable {
    public var stage: String
    /// Unix seconds.
    public var time: Double?
    public var entry: MetricEntry
    public init(stage: String, time: Double?, entry: MetricEntry) { self.stage = stage; self.time = time; self.entry = entry }
}

/// The typed lines of a metrics log and the lines of no known kind ("line 3: stage 'x'…"), for the report to note.
public struct MetricLines: Sendable {
    public var lines: [MetricLine] = []
    public var unread: [String] = []
    public init(lines: [MetricLine] = [], unread: [String] = []) { self.lines = lines; self.unread = unread }
}

extension MetricsLog {
    /// The fields MetricsLog adds to every line.
    struct Head: Decodable { var stage: String; var event: String?; var time: Double? }

    /// Reads a metrics log as typed lines. A line that is not JSON is an error naming file:line (as `read`); a JSON
    /// line of no known kind, or of a known kind with fields missing or of the wrong type, is listed in `unread`.
    public static func records(_ url: URL) throws -> MetricLines {
        let d = JSONDecoder()
        d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        var out = MetricLines()
        for (n, line) in try lines(url) {
            guard (try? JSONSerialization.jsonObject(with: line)) is [String: Any] else {
                throw AlignError.format(path: url.path, line: n, message: "not a JSON object")
            }
            do {
                let head = try d.decode(Head.self, from: line)
                guard let entry = try MetricEntry.decode(stage: head.stage, event: head.event, line: line, with: d) else {
                    out.unread.append("line \(n): stage '\(head.stage)'\(head.event.map { ", event '\($0)'" } ?? "") is no kind align writes")
                    continue
                }
                out.lines.append(MetricLine(stage: head.stage, time: head.time, entry: entry))
            } catch let e as DecodingError {
                out.unread.append("line \(n): \(DecodingErrorText.describe(e))")
            }
        }
        return out
    }
}
